#include "clip.cpp"

#include "ggml-cpu.h"

// natter_clip_set_abort has the encoder's CPU graphs ask cb after each node
// and stop when it answers true, so a long image or audio encode ends when
// its request does (Esc, quit). clip.h offers no way to it.
extern "C" void natter_clip_set_abort(struct clip_ctx * c, ggml_abort_callback cb, void * data) {
    if (c != nullptr && c->backend_cpu != nullptr) {
        ggml_backend_cpu_set_abort_callback(c->backend_cpu, cb, data);
    }
}
