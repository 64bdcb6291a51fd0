#include "clip.cpp"
