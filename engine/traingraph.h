// A trainer for llama-architecture models built directly on ggml's
// training API (ggml_opt): the bundled llama.cpp's own training path cannot
// take gradients through its KV cache writes, so this builds the llama
// forward graph without a cache, which ggml can differentiate end to end.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct natter_hparams {
	int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_rot, n_ctx_orig;
	float eps, rope_base, rope_scale;
	bool has_output;     // output.weight exists (else token_embd is tied)
	bool has_rope_freqs; // rope_freqs.weight (Llama 3 frequency factors)
	int rope_mode;       // ggml rope mode: 0 (llama), 2 (NeoX: Qwen)
	bool has_qkv_bias;   // attn_{q,k,v}.bias (Qwen2)
	bool has_qk_norm;    // attn_{q,k}_norm.weight per head (Qwen3)
};

struct natter_gt;

// natter_gt_new loads path's tensors and marks the named ones trainable.
// lr points at {float lr; float wd;}, read before each optimizer step. On
// failure it returns NULL with a message in err.
struct natter_gt *natter_gt_new(const char *path, struct natter_hparams hp, const char **train, int n_train,
                                int n_threads, int window, int sgd, void *lr, char *err, int errlen);

// natter_gt_run evaluates one window of tokens: labels[i] is the token
// that should follow tokens[i], or -1 to leave position i out of the loss.
// With train set it also takes one optimizer step. It returns the mean
// cross-entropy over the labelled positions.
double natter_gt_run(struct natter_gt *g, const int32_t *tokens, const int32_t *labels, int train);

// natter_gt_data points at a tensor's (host) data for saving.
int natter_gt_data(struct natter_gt *g, const char *name, void **data, size_t *nbytes);

void natter_gt_free(struct natter_gt *g);

#ifdef __cplusplus
}
#endif
