#include "mtmd-audio.cpp"
