#include "models/kimivl.cpp"
