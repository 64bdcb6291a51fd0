#include "models/internvl.cpp"
