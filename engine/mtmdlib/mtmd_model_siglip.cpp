#include "models/siglip.cpp"
