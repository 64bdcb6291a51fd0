#include "models/cogvlm.cpp"
