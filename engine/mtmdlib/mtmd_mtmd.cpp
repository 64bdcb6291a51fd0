#include "mtmd.cpp"

// natter_mtmd_clip is c's vision encoder, or with audio its audio encoder
// (nullptr when it has none), for natter_clip_set_abort and
// natter_clip_set_flash_attn.
extern "C" struct clip_ctx * natter_mtmd_clip(mtmd_context * c, bool audio) {
    return c == nullptr ? nullptr : audio ? c->ctx_a : c->ctx_v;
}
