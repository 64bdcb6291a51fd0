// Builds ggml-cpu/amx/mmq.cpp from the ollama module (see amx.go).
#include "amx/mmq.cpp"
