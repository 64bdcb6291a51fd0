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

// natter_clip_set_flash_attn sets whether the encoder's attention uses
// flash attention (CLIP_FLASH_ATTN_TYPE_*). The bundled mtmd_init_from_file
// passes "auto" to the encoders whatever its parameters say, and auto turns
// it on at the first encode; set before that encode, this choice holds.
extern "C" void natter_clip_set_flash_attn(struct clip_ctx * c, int type) {
    if (c != nullptr) {
        c->flash_attn_type = (clip_flash_attn_type) type;
    }
}
