#include <cmath>
#include <cstdlib>
#include <string>
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

// The token texts a text guard checks, built once per model: a pass over
// the whole vocabulary is too slow to repeat for every request.
struct natter_token_table {
	std::vector<std::string> pieces; // as the reply shows them (special = false)
	std::vector<bool> eog;
};

namespace {

struct text_guard {
	const natter_token_table *t;
	// UTF-8 state after the accepted tokens: continuation bytes still due
	// and the valid range of the next one.
	int need = 0;
	unsigned char lo = 0x80, hi = 0xBF;
};

// utf8_continue reports whether s keeps the text valid UTF-8 from the state
// (need, lo, hi), which it advances; s may end inside a character.
bool utf8_continue(const std::string &s, int &need, unsigned char &lo, unsigned char &hi) {
	for (unsigned char b : s) {
		if (need > 0) {
			if (b < lo || b > hi) {
				return false;
			}
			need--;
			lo = 0x80;
			hi = 0xBF;
			continue;
		}
		if (b < 0x80) {
			continue;
		}
		if (b >= 0xC2 && b <= 0xDF) {
			need = 1;
		} else if (b >= 0xE0 && b <= 0xEF) {
			need = 2;
			if (b == 0xE0) lo = 0xA0; // no overlong forms
			if (b == 0xED) hi = 0x9F; // no surrogates
		} else if (b >= 0xF0 && b <= 0xF4) {
			need = 3;
			if (b == 0xF0) lo = 0x90;
			if (b == 0xF4) hi = 0x8F; // nothing past U+10FFFF
		} else {
			return false;
		}
	}
	return true;
}

const char *guard_name(const struct llama_sampler *) { return "natter-text-guard"; }

void guard_accept(struct llama_sampler *smpl, llama_token tok) {
	auto *g = static_cast<text_guard *>(smpl->ctx);
	if (tok < 0 || (size_t)tok >= g->t->pieces.size() || g->t->eog[tok]) {
		return;
	}
	if (!utf8_continue(g->t->pieces[tok], g->need, g->lo, g->hi)) {
		g->need = 0; // cannot happen after apply; start clean rather than stick
		g->lo = 0x80;
		g->hi = 0xBF;
	}
}

void guard_apply(struct llama_sampler *smpl, llama_token_data_array *cur) {
	auto *g = static_cast<text_guard *>(smpl->ctx);
	for (size_t i = 0; i < cur->size; i++) {
		llama_token id = cur->data[i].id;
		bool ok;
		const natter_token_table *t = g->t;
		if (id < 0 || (size_t)id >= t->pieces.size()) {
			ok = false;
		} else if (t->eog[id]) {
			ok = g->need == 0;
		} else if (t->pieces[id].empty()) {
			ok = false; // a control token
		} else {
			int need = g->need;
			unsigned char lo = g->lo, hi = g->hi;
			ok = utf8_continue(t->pieces[id], need, lo, hi);
		}
		if (!ok) {
			cur->data[i].logit = -INFINITY;
		}
	}
}

void guard_reset(struct llama_sampler *smpl) {
	auto *g = static_cast<text_guard *>(smpl->ctx);
	g->need = 0;
	g->lo = 0x80;
	g->hi = 0xBF;
}

void guard_free(struct llama_sampler *smpl) { delete static_cast<text_guard *>(smpl->ctx); }

const struct llama_sampler_i guard_iface = {
	guard_name, guard_accept, guard_apply, guard_reset, nullptr, guard_free,
};

} // namespace

extern "C" struct natter_token_table *natter_token_table_new(const struct llama_vocab *vocab) {
	try {
		auto *t = new natter_token_table();
		int n = llama_vocab_n_tokens(vocab);
		t->pieces.resize(n);
		t->eog.resize(n);
		std::vector<char> buf(256);
		for (int id = 0; id < n; id++) {
			t->eog[id] = llama_vocab_is_eog(vocab, id);
			int k = llama_token_to_piece(vocab, id, buf.data(), (int)buf.size(), 0, false);
			if (k < 0) {
				buf.resize(-k);
				k = llama_token_to_piece(vocab, id, buf.data(), (int)buf.size(), 0, false);
			}
			if (k > 0) {
				t->pieces[id].assign(buf.data(), k);
			}
		}
		return t;
	} catch (...) {
		return nullptr;
	}
}

extern "C" void natter_token_table_free(struct natter_token_table *t) { delete t; }

extern "C" struct llama_sampler *natter_text_guard_init(const struct natter_token_table *t) {
	try {
		auto *g = new text_guard();
		g->t = t;
		return llama_sampler_init(&guard_iface, g);
	} catch (...) {
		return nullptr;
	}
}
