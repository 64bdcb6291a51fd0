#include "models/qwen2vl.cpp"
