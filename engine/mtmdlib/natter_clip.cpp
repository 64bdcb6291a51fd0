// C entry points to the CLIP encoder (clip.h has C++ linkage) for the Go
// engine's Qwen3.5 images (engine/goclip.go).
#include "clip.h"

extern "C" {

// max_tokens bounds the embeddings per image (the preprocessor shrinks
// bigger images); -1 leaves the projector's own bound.
struct clip_ctx * natter_clip_open(const char * path, int max_tokens) {
    clip_context_params p{};
    p.use_gpu = false;
    // One graph of a few thousand patches: like mtmd's, it stays off the
    // bundled CPU flash-attention kernel.
    p.flash_attn_type = CLIP_FLASH_ATTN_TYPE_DISABLED;
    p.image_min_tokens = -1;
    p.image_max_tokens = max_tokens;
    p.warmup = false;
    clip_init_result r = clip_init(path, p);
    if (r.ctx_a) {
        clip_free(r.ctx_a);
    }
    return r.ctx_v;
}

void natter_clip_free(struct clip_ctx * c) { clip_free(c); }

int natter_clip_n_mmproj_embd(struct clip_ctx * c) { return clip_n_mmproj_embd(c); }

// natter_clip_prepare preprocesses an RGB image; on success *out holds one
// image and gx, gy its grid of output embeddings.
bool natter_clip_prepare(struct clip_ctx * c, const unsigned char * rgb, int w, int h,
                         struct clip_image_f32_batch ** out, int * gx, int * gy, int * n) {
    clip_image_u8 * u8 = clip_image_u8_init();
    clip_build_img_from_pixels(rgb, w, h, u8);
    clip_image_f32_batch * b = clip_image_f32_batch_init();
    bool ok = clip_image_preprocess(c, u8, b) && clip_image_f32_batch_n_images(b) == 1;
    clip_image_u8_free(u8);
    if (!ok) {
        clip_image_f32_batch_free(b);
        return false;
    }
    clip_image_f32 * f = clip_image_f32_get_img(b, 0);
    *gx = clip_n_output_tokens_x(c, f);
    *gy = clip_n_output_tokens_y(c, f);
    *n = clip_n_output_tokens(c, f);
    *out = b;
    return true;
}

void natter_clip_batch_free(struct clip_image_f32_batch * b) { clip_image_f32_batch_free(b); }

bool natter_clip_encode(struct clip_ctx * c, int threads, struct clip_image_f32_batch * b, float * out) {
    return clip_image_batch_encode(c, threads, b, out);
}

}
