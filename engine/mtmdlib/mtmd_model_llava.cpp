#include "models/llava.cpp"
