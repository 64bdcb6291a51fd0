#include "models/llama4.cpp"
