#include <cstdlib>
#include <vector>

#include "guard.h"

extern "C" struct llama_sampler *natter_grammar_init(const struct llama_vocab *vocab, const char *grammar) {
	try {
		return llama_sampler_init_grammar(vocab, grammar, "root");
	} catch (...) {
		return nullptr;
	}
}

extern "C" llama_token natter_sample(struct llama_sampler *smpl, struct llama_context *ctx) {
	try {
		return llama_sampler_sample(smpl, ctx, -1);
	} catch (...) {
		return -1;
	}
}

extern "C" llama_token natter_sample_logits(struct llama_sampler *smpl, const float *logits, int n) {
	try {
		std::vector<llama_token_data> cur(n);
		for (int i = 0; i < n; i++) {
			cur[i] = llama_token_data{i, logits[i], 0.0f};
		}
		llama_token_data_array arr = {cur.data(), (size_t)n, -1, false};
		llama_sampler_apply(smpl, &arr);
		if (arr.selected < 0 || (size_t)arr.selected >= arr.size) {
			return -1;
		}
		llama_token tok = arr.data[arr.selected].id;
		llama_sampler_accept(smpl, tok);
		return tok;
	} catch (...) {
		return -1;
	}
}
