#include "mtmd.cpp"
