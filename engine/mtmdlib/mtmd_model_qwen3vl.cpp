#include "models/qwen3vl.cpp"
