#include "models/minicpmv.cpp"
