// Builds ggml-cpu/amx/amx.cpp from the ollama module (see amx.go).
#include "amx/amx.cpp"
