#include "models/glm4v.cpp"
