// C++ exceptions thrown inside llama.cpp's sampler code (its grammar throws
// when no token can continue) must not unwind through cgo, which aborts the
// process: these wrappers catch them and report failure instead.
#pragma once
#include "llama.h"

#ifdef __cplusplus
extern "C" {
#endif
// natter_grammar_init is llama_sampler_init_grammar; NULL on any failure.
struct llama_sampler *natter_grammar_init(const struct llama_vocab *vocab, const char *grammar);
// natter_sample is llama_sampler_sample; -1 when the sampler threw.
llama_token natter_sample(struct llama_sampler *smpl, struct llama_context *ctx);
// natter_sample_logits samples (and accepts) from logits kept from an
// earlier decode instead of the context's current ones; -1 on failure.
llama_token natter_sample_logits(struct llama_sampler *smpl, const float *logits, int n);
#ifdef __cplusplus
}
#endif
