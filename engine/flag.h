// An abort flag in C memory: ggml's worker threads poll it during a graph
// compute without calling into Go. The text context (llama.go), the
// llama.cpp backend's encoders (mtmd.go) and Qwen3.5's encoder (goclip.go)
// stop on one.
#pragma once
#include <stdbool.h>

bool natter_flag_cb(void *flag); // an abort callback: is *flag set?
void natter_flag_set(int *flag, int v);
int natter_flag_get(int *flag);
