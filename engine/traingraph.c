#include "traingraph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml-opt.h"
#include "gguf.h"

struct natter_gt {
	struct natter_hparams hp;
	int window;
	struct ggml_context *ctx_w; // the weights
	ggml_backend_buffer_t buf_w;
	ggml_backend_t cpu;
	ggml_backend_sched_t sched;
	ggml_opt_context_t opt;
	// Static graphs: built once for the window, inputs in a buffer of
	// their own. (Graphs rebuilt per step, as llama.cpp's training does,
	// keep adding each step's gradients to the last in this ggml.)
	struct ggml_context *ctx_in, *ctx_compute;
	ggml_backend_buffer_t buf_in;
	struct ggml_tensor *tok, *pos, *logits;
	struct ggml_tensor *tok_embd, *output_norm, *output, *rope_freqs;
	struct layer {
		struct ggml_tensor *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w_gate, *w_up, *w_down;
		struct ggml_tensor *bq, *bk, *bv, *q_norm, *k_norm; // NULL when the architecture has none
	} *layers;
	float *onehot; // labels buffer, n_vocab x window
};

struct lr_pair { float lr; float wd; };

static struct ggml_opt_optimizer_params gt_opt_pars(void *ud) {
	struct ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(NULL);
	const struct lr_pair *lr = (const struct lr_pair *)ud;
	p.adamw.alpha = lr->lr;
	p.adamw.wd = lr->wd;
	p.sgd.alpha = lr->lr;
	p.sgd.wd = lr->wd;
	return p;
}

static struct ggml_tensor *need(struct natter_gt *g, const char *name, char *err, int errlen) {
	struct ggml_tensor *t = ggml_get_tensor(g->ctx_w, name);
	if (!t) {
		snprintf(err, errlen, "the model has no tensor %s", name);
	}
	return t;
}

// load reads every tensor of the file into a CPU backend buffer.
static bool load(struct natter_gt *g, const char *path, char *err, int errlen) {
	struct gguf_init_params ip = {.no_alloc = true, .ctx = &g->ctx_w};
	struct gguf_context *gg = gguf_init_from_file(path, ip);
	if (!gg) {
		snprintf(err, errlen, "ggml could not read %s", path);
		return false;
	}
	g->buf_w = ggml_backend_alloc_ctx_tensors(g->ctx_w, g->cpu);
	if (!g->buf_w) {
		gguf_free(gg);
		snprintf(err, errlen, "out of memory for the weights");
		return false;
	}
	FILE *f = fopen(path, "rb");
	if (!f) {
		gguf_free(gg);
		snprintf(err, errlen, "cannot open %s", path);
		return false;
	}
	bool ok = true;
	const size_t base = gguf_get_data_offset(gg);
	for (int64_t i = 0; ok && i < gguf_get_n_tensors(gg); i++) {
		struct ggml_tensor *t = ggml_get_tensor(g->ctx_w, gguf_get_tensor_name(gg, i));
		const size_t n = ggml_nbytes(t);
		if (fseeko(f, (off_t)(base + gguf_get_tensor_offset(gg, i)), SEEK_SET) != 0 || fread(t->data, 1, n, f) != n) {
			snprintf(err, errlen, "reading %s from %s failed", t->name, path);
			ok = false;
		}
	}
	fclose(f);
	gguf_free(gg);
	return ok;
}

static struct ggml_tensor *build(struct natter_gt *g, struct ggml_context *ctx, struct ggml_tensor *tokens,
                                 struct ggml_tensor *pos);

struct natter_gt *natter_gt_new(const char *path, struct natter_hparams hp, const char **train, int n_train,
                                int n_threads, int window, int sgd, void *lr, char *err, int errlen) {
	struct natter_gt *g = calloc(1, sizeof *g);
	g->hp = hp;
	g->window = window;
	g->cpu = ggml_backend_cpu_init();
	if (!g->cpu) {
		snprintf(err, errlen, "ggml has no CPU backend");
		free(g);
		return NULL;
	}
	ggml_backend_cpu_set_n_threads(g->cpu, n_threads);
	if (!load(g, path, err, errlen)) {
		natter_gt_free(g);
		return NULL;
	}
	g->layers = calloc(hp.n_layer, sizeof *g->layers);
	char name[128];
#define NEED(dst, ...)                                         \
	do {                                                       \
		snprintf(name, sizeof name, __VA_ARGS__);              \
		if (!((dst) = need(g, name, err, errlen))) {           \
			natter_gt_free(g);                                 \
			return NULL;                                       \
		}                                                      \
	} while (0)
	NEED(g->tok_embd, "token_embd.weight");
	NEED(g->output_norm, "output_norm.weight");
	if (hp.has_output) {
		NEED(g->output, "output.weight");
	} else {
		g->output = g->tok_embd;
	}
	if (hp.has_rope_freqs) {
		NEED(g->rope_freqs, "rope_freqs.weight");
	}
	for (int il = 0; il < hp.n_layer; il++) {
		struct layer *l = &g->layers[il];
		NEED(l->attn_norm, "blk.%d.attn_norm.weight", il);
		NEED(l->wq, "blk.%d.attn_q.weight", il);
		NEED(l->wk, "blk.%d.attn_k.weight", il);
		NEED(l->wv, "blk.%d.attn_v.weight", il);
		NEED(l->wo, "blk.%d.attn_output.weight", il);
		NEED(l->ffn_norm, "blk.%d.ffn_norm.weight", il);
		if (hp.has_qkv_bias) {
			NEED(l->bq, "blk.%d.attn_q.bias", il);
			NEED(l->bk, "blk.%d.attn_k.bias", il);
			NEED(l->bv, "blk.%d.attn_v.bias", il);
		}
		if (hp.has_qk_norm) {
			NEED(l->q_norm, "blk.%d.attn_q_norm.weight", il);
			NEED(l->k_norm, "blk.%d.attn_k_norm.weight", il);
		}
		NEED(l->w_gate, "blk.%d.ffn_gate.weight", il);
		NEED(l->w_up, "blk.%d.ffn_up.weight", il);
		NEED(l->w_down, "blk.%d.ffn_down.weight", il);
	}
	for (int i = 0; i < n_train; i++) {
		struct ggml_tensor *t = ggml_get_tensor(g->ctx_w, train[i]);
		if (!t || t->type != GGML_TYPE_F32) {
			snprintf(err, errlen, "%s cannot train (missing or not F32)", train[i]);
			natter_gt_free(g);
			return NULL;
		}
		ggml_set_param(t);
	}
#undef NEED
	// The graph: forward, backward and the optimizer's nodes, per layer a
	// few dozen each.
	const size_t graph_size = 4096 + (size_t)hp.n_layer * 512;
	struct ggml_init_params pin = {.mem_size = 4 * ggml_tensor_overhead(), .mem_buffer = NULL, .no_alloc = true};
	g->ctx_in = ggml_init(pin);
	g->tok = ggml_new_tensor_1d(g->ctx_in, GGML_TYPE_I32, window);
	g->pos = ggml_new_tensor_1d(g->ctx_in, GGML_TYPE_I32, window);
	ggml_set_input(g->tok);
	ggml_set_input(g->pos);
	g->buf_in = ggml_backend_alloc_ctx_tensors(g->ctx_in, g->cpu);
	int32_t *p = malloc((size_t)window * sizeof(int32_t));
	for (int i = 0; i < window; i++) {
		p[i] = i;
	}
	ggml_backend_tensor_set(g->pos, p, 0, (size_t)window * sizeof(int32_t));
	free(p);
	struct ggml_init_params pc = {
		.mem_size = 4 * graph_size * ggml_tensor_overhead() + 4 * ggml_graph_overhead_custom(graph_size, true),
		.mem_buffer = NULL,
		.no_alloc = true,
	};
	g->ctx_compute = ggml_init(pc);
	g->logits = build(g, g->ctx_compute, g->tok, g->pos);
	g->sched = ggml_backend_sched_new(&g->cpu, NULL, 1, graph_size, false, false);
	struct ggml_opt_params op = ggml_opt_default_params(g->sched, GGML_OPT_LOSS_TYPE_CROSS_ENTROPY);
	op.ctx_compute = g->ctx_compute;
	op.inputs = g->tok;
	op.outputs = g->logits;
	op.opt_period = 1;
	op.get_opt_pars = gt_opt_pars;
	op.get_opt_pars_ud = lr;
	op.optimizer = sgd ? GGML_OPT_OPTIMIZER_TYPE_SGD : GGML_OPT_OPTIMIZER_TYPE_ADAMW;
	g->opt = ggml_opt_init(op);
	g->onehot = calloc((size_t)hp.n_vocab * window, sizeof(float));
	return g;
}

// rms_norm is ggml_rms_norm made of ops whose backward pass is right: this
// ggml's RMS_NORM_BACK gives wrong gradients (checked against finite
// differences in gradcheck_test.go).
static struct ggml_tensor *rms_norm(struct ggml_context *ctx, struct ggml_tensor *x, float eps) {
	struct ggml_tensor *ms = ggml_scale_bias(ctx, ggml_sum_rows(ctx, ggml_sqr(ctx, x)), 1.0f / (float)x->ne[0], eps);
	return ggml_div(ctx, x, ggml_repeat(ctx, ggml_sqrt(ctx, ms), x));
}

// build is llama.cpp's llama graph for one sequence, without a KV cache:
// causal attention over the window itself.
static struct ggml_tensor *build(struct natter_gt *g, struct ggml_context *ctx, struct ggml_tensor *tokens,
                                 struct ggml_tensor *pos) {
	const struct natter_hparams *hp = &g->hp;
	const int T = g->window, hd = hp->head_dim;
	const float kq_scale = 1.0f / sqrtf((float)hd);
	struct ggml_tensor *x = ggml_get_rows(ctx, g->tok_embd, tokens);
	for (int il = 0; il < hp->n_layer; il++) {
		const struct layer *l = &g->layers[il];
		struct ggml_tensor *h = ggml_mul(ctx, rms_norm(ctx, x, hp->eps), l->attn_norm);
		struct ggml_tensor *q = ggml_mul_mat(ctx, l->wq, h);
		struct ggml_tensor *k = ggml_mul_mat(ctx, l->wk, h);
		struct ggml_tensor *v = ggml_mul_mat(ctx, l->wv, h);
		if (l->bq) {
			q = ggml_add(ctx, q, l->bq);
			k = ggml_add(ctx, k, l->bk);
			v = ggml_add(ctx, v, l->bv);
		}
		q = ggml_reshape_3d(ctx, q, hd, hp->n_head, T);
		k = ggml_reshape_3d(ctx, k, hd, hp->n_head_kv, T);
		v = ggml_reshape_3d(ctx, v, hd, hp->n_head_kv, T);
		if (l->q_norm) {
			q = ggml_mul(ctx, rms_norm(ctx, q, hp->eps), l->q_norm);
			k = ggml_mul(ctx, rms_norm(ctx, k, hp->eps), l->k_norm);
		}
		q = ggml_rope_ext(ctx, q, pos, g->rope_freqs, hp->n_rot, hp->rope_mode, hp->n_ctx_orig, hp->rope_base, hp->rope_scale, 0.0f, 1.0f, 32.0f, 1.0f);
		k = ggml_rope_ext(ctx, k, pos, g->rope_freqs, hp->n_rot, hp->rope_mode, hp->n_ctx_orig, hp->rope_base, hp->rope_scale, 0.0f, 1.0f, 32.0f, 1.0f);
		q = ggml_permute(ctx, q, 0, 2, 1, 3);                       // [hd, T, n_head]
		k = ggml_permute(ctx, k, 0, 2, 1, 3);                       // [hd, T, n_head_kv]
		struct ggml_tensor *vt = ggml_cont(ctx, ggml_permute(ctx, v, 1, 2, 0, 3)); // [T, hd, n_head_kv]
		struct ggml_tensor *kq = ggml_mul_mat(ctx, k, q);           // [T_k, T_q, n_head]
		kq = ggml_soft_max(ctx, ggml_diag_mask_inf(ctx, ggml_scale(ctx, kq, kq_scale), 0));
		struct ggml_tensor *kqv = ggml_mul_mat(ctx, vt, kq);        // [hd, T_q, n_head]
		kqv = ggml_cont_2d(ctx, ggml_permute(ctx, kqv, 0, 2, 1, 3), hd * hp->n_head, T);
		x = ggml_add(ctx, x, ggml_mul_mat(ctx, l->wo, kqv));
		h = ggml_mul(ctx, rms_norm(ctx, x, hp->eps), l->ffn_norm);
		struct ggml_tensor *a = ggml_mul(ctx, ggml_silu(ctx, ggml_mul_mat(ctx, l->w_gate, h)), ggml_mul_mat(ctx, l->w_up, h));
		x = ggml_add(ctx, x, ggml_mul_mat(ctx, l->w_down, a));
	}
	x = ggml_mul(ctx, rms_norm(ctx, x, hp->eps), g->output_norm);
	return ggml_mul_mat(ctx, g->output, x); // [n_vocab, T]
}

double natter_gt_run(struct natter_gt *g, const int32_t *tokens, const int32_t *labels, int train) {
	const int T = g->window;
	ggml_opt_alloc(g->opt, train != 0);
	ggml_backend_tensor_set(g->tok, tokens, 0, (size_t)T * sizeof(int32_t));
	// One-hot labels; a left-out position gets a row of zeros, which adds
	// nothing to the cross-entropy or its gradient.
	const int nv = g->hp.n_vocab;
	memset(g->onehot, 0, (size_t)nv * T * sizeof(float));
	int labelled = 0;
	for (int i = 0; i < T; i++) {
		if (labels[i] >= 0 && labels[i] < nv) {
			g->onehot[(size_t)i * nv + labels[i]] = 1.0f;
			labelled++;
		}
	}
	ggml_backend_tensor_set(ggml_opt_labels(g->opt), g->onehot, 0, (size_t)nv * T * sizeof(float));
	ggml_opt_result_t res = ggml_opt_result_init();
	ggml_opt_eval(g->opt, res);
	double loss = 0, unc = 0;
	ggml_opt_result_loss(res, &loss, &unc);
	ggml_opt_result_free(res);
	// ggml averages over all T rows; report the mean over labelled ones.
	return labelled > 0 ? loss * (double)T / (double)labelled : 0.0;
}

int natter_gt_data(struct natter_gt *g, const char *name, void **data, size_t *nbytes) {
	struct ggml_tensor *t = ggml_get_tensor(g->ctx_w, name);
	if (!t) {
		return -1;
	}
	*data = t->data;
	*nbytes = ggml_nbytes(t);
	return 0;
}

void natter_gt_free(struct natter_gt *g) {
	if (!g) {
		return;
	}
	ggml_opt_free(g->opt);
	if (g->ctx_compute) {
		ggml_free(g->ctx_compute);
	}
	if (g->buf_in) {
		ggml_backend_buffer_free(g->buf_in);
	}
	if (g->ctx_in) {
		ggml_free(g->ctx_in);
	}
	if (g->sched) {
		ggml_backend_sched_free(g->sched);
	}
	if (g->buf_w) {
		ggml_backend_buffer_free(g->buf_w);
	}
	if (g->ctx_w) {
		ggml_free(g->ctx_w);
	}
	if (g->cpu) {
		ggml_backend_free(g->cpu);
	}
	free(g->layers);
	free(g->onehot);
	free(g);
}
