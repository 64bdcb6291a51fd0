#include "models/pixtral.cpp"
