// natter's cancel callback for ggml's CPU backend (see cancel.go).

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "ggml-backend.h"
#include "ggml-cpu.h"

#include "cancel.h"

struct natter_cancel {
	atomic_int  set;    // the request's context has ended
	atomic_long checks; // callback calls while this flag was watched
	atomic_long stops;  // graphs the callback stopped
};

// The flag the calling thread's graph computes consult. ggml's CPU backend
// calls the abort callback from worker 0 only, which is the thread that
// called the compute, so a thread-local pointer ties each compute to the
// request running it even though every Ollama backend in the process shares
// one CPU backend.
static _Thread_local natter_cancel *natter_watched;

static bool natter_abort_cb(void *data) {
	(void)data;
	natter_cancel *c = natter_watched;
	if (c == NULL) {
		return false;
	}
	atomic_fetch_add_explicit(&c->checks, 1, memory_order_relaxed);
	if (atomic_load_explicit(&c->set, memory_order_relaxed) == 0) {
		return false;
	}
	atomic_fetch_add_explicit(&c->stops, 1, memory_order_relaxed);
	return true;
}

natter_cancel *natter_cancel_new(void) { return calloc(1, sizeof(natter_cancel)); }
void natter_cancel_free(natter_cancel *c) { free(c); }
void natter_cancel_set(natter_cancel *c, int v) { atomic_store_explicit(&c->set, v, memory_order_relaxed); }
long natter_cancel_checks(natter_cancel *c) { return atomic_load_explicit(&c->checks, memory_order_relaxed); }
long natter_cancel_stops(natter_cancel *c) { return atomic_load_explicit(&c->stops, memory_order_relaxed); }
void natter_cancel_watch(natter_cancel *c) { natter_watched = c; }

int natter_cancel_install(void *backend) {
	ggml_backend_t b = backend;
	if (b == NULL || !ggml_backend_is_cpu(b)) {
		return 0;
	}
	ggml_backend_cpu_set_abort_callback(b, natter_abort_cb, NULL);
	return 1;
}

void natter_sched_reset(void *sched) {
	ggml_backend_sched_t s = sched;
	ggml_backend_sched_synchronize(s);
	ggml_backend_sched_reset(s);
}
