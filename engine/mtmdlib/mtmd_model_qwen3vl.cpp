// natter's build of the Qwen3-VL vision graph (clip_graph_qwen3vl), in
// place of the bundled llama.cpp's models/qwen3vl.cpp. Two things differ
// from that copy, both as upstream llama.cpp v0.5.0 has them:
//   - projectors without deepstack layers (Qwen3.5's) are encoded; the
//     bundled graph concatenates a null tensor for them and crashes;
//   - the learned position table is resized with align-corners bilinear
//     interpolation (the bundled one interpolates without it), so images
//     whose patch grid differs from the table's get upstream's positions.
#include "models/models.h"

ggml_cgraph * clip_graph_qwen3vl::build() {
    GGML_ASSERT(model.patch_bias != nullptr);
    GGML_ASSERT(model.position_embeddings != nullptr);
    GGML_ASSERT(model.class_embedding == nullptr);
    GGML_ASSERT(img.nx % (patch_size * 2) == 0 && img.ny % (patch_size * 2) == 0);

    const int n_pos = n_patches;
    const int merge = hparams.n_merge > 0 ? hparams.n_merge * hparams.n_merge : 4;
    int sections[4] = {d_head / 4, d_head / 4, d_head / 4, d_head / 4};

    // Reorders [n_embd, patches x, patches y] so that each 2x2 block of
    // patches is contiguous, the order the merger reads them in.
    auto block_order = [&](ggml_tensor * t) {
        t = ggml_cont_4d(ctx0, t, n_embd * 2, n_patches_x / 2, n_patches_y, 1);
        t = ggml_reshape_4d(ctx0, t, n_embd * 2, n_patches_x / 2, 2, n_patches_y / 2);
        t = ggml_permute(ctx0, t, 0, 2, 1, 3);
        return ggml_cont_3d(ctx0, t, n_embd, n_patches_x * n_patches_y, 1);
    };

    // The patch embedding is a 3-D conv over two frames: for one image,
    // the sum of its two 2-D kernels over the same pixels.
    ggml_tensor * raw = build_inp_raw();
    ggml_tensor * x = ggml_conv_2d(ctx0, model.patch_embeddings_0, raw, patch_size, patch_size, 0, 0, 1, 1);
    if (model.patch_embeddings_1) {
        x = ggml_add(ctx0, x, ggml_conv_2d(ctx0, model.patch_embeddings_1, raw, patch_size, patch_size, 0, 0, 1, 1));
    }
    x = block_order(ggml_permute(ctx0, x, 1, 2, 0, 3)); // [w, h, c] -> [c, w, h] first
    x = ggml_add(ctx0, x, model.patch_bias);
    x = ggml_add(ctx0, x, block_order(resize_position_embeddings(GGML_SCALE_MODE_BILINEAR | GGML_SCALE_FLAG_ALIGN_CORNERS)));

    ggml_tensor * positions = ggml_new_tensor_1d(ctx0, GGML_TYPE_I32, n_pos * 4);
    ggml_set_name(positions, "positions");
    ggml_set_input(positions);

    if (model.pre_ln_w) {
        x = build_norm(x, model.pre_ln_w, model.pre_ln_b, NORM_TYPE_NORMAL, eps, -1);
    }
    ggml_tensor * deepstack = nullptr;
    for (int il = 0; il < n_layer; il++) {
        auto & layer = model.layers[il];
        ggml_tensor * residual = x;
        ggml_tensor * cur = build_norm(x, layer.ln_1_w, layer.ln_1_b, NORM_TYPE_NORMAL, eps, il);

        cur = ggml_add(ctx0, ggml_mul_mat(ctx0, layer.qkv_w, cur), layer.qkv_b);
        const size_t row = ggml_row_size(cur->type, d_head);
        ggml_tensor * q = ggml_view_3d(ctx0, cur, d_head, n_head, n_pos, row, cur->nb[1], 0);
        ggml_tensor * k = ggml_view_3d(ctx0, cur, d_head, n_head, n_pos, row, cur->nb[1], ggml_row_size(cur->type, n_embd));
        ggml_tensor * v = ggml_view_3d(ctx0, cur, d_head, n_head, n_pos, row, cur->nb[1], ggml_row_size(cur->type, 2 * n_embd));
        q = ggml_rope_multi(ctx0, q, positions, nullptr, d_head / 2, sections, GGML_ROPE_TYPE_VISION, 32768, 10000, 1, 0, 1, 32, 1);
        k = ggml_rope_multi(ctx0, k, positions, nullptr, d_head / 2, sections, GGML_ROPE_TYPE_VISION, 32768, 10000, 1, 0, 1, 32, 1);
        cur = build_attn(layer.o_w, layer.o_b, q, k, v, nullptr, kq_scale, il);
        x = ggml_add(ctx0, cur, residual);

        residual = x;
        cur = build_norm(x, layer.ln_2_w, layer.ln_2_b, NORM_TYPE_NORMAL, eps, il);
        cur = build_ffn(cur, layer.ff_up_w, layer.ff_up_b, layer.ff_gate_w, layer.ff_gate_b,
                        layer.ff_down_w, layer.ff_down_b, hparams.ffn_op, il);
        x = ggml_add(ctx0, residual, cur);

        if (layer.has_deepstack()) {
            ggml_tensor * f = ggml_reshape_3d(ctx0, x, n_embd * merge, n_pos / merge, 1);
            f = build_norm(f, layer.deepstack_norm_w, layer.deepstack_norm_b, NORM_TYPE_NORMAL, eps, il);
            f = build_ffn(f, layer.deepstack_fc1_w, layer.deepstack_fc1_b, nullptr, nullptr,
                          layer.deepstack_fc2_w, layer.deepstack_fc2_b, ffn_op_type::FFN_GELU, il);
            deepstack = deepstack ? ggml_concat(ctx0, deepstack, f, 0) : f;
        }
    }
    if (model.post_ln_w) {
        x = build_norm(x, model.post_ln_w, model.post_ln_b, NORM_TYPE_NORMAL, eps, n_layer);
    }
    // The merger: each 2x2 block of patches through a GELU MLP, then the
    // deepstack features, if any, beside it.
    x = ggml_reshape_3d(ctx0, x, n_embd * 4, n_pos / 4, 1);
    x = build_ffn(x, model.mm_0_w, model.mm_0_b, nullptr, nullptr, model.mm_1_w, model.mm_1_b, ffn_op_type::FFN_GELU, -1);
    if (deepstack) {
        x = ggml_concat(ctx0, x, deepstack, 0);
    }
    ggml_build_forward_expand(gf, x);
    return gf;
}
