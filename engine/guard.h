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
// natter_text_guard_init makes a sampler for grammar mode that keeps the
// reply what the grammar sees: it masks control tokens (the grammar reads
// their text, the reply shows none) and tokens whose bytes would break UTF-8
// (the grammar decodes bytes without checking continuations), and the end
// of generation inside a character. It reads the token table of
// natter_token_table_new, which must outlive it. NULL on failure.
struct natter_token_table;
struct natter_token_table *natter_token_table_new(const struct llama_vocab *vocab);
void natter_token_table_free(struct natter_token_table *t);
struct llama_sampler *natter_text_guard_init(const struct natter_token_table *t);
#ifdef __cplusplus
}
#endif
