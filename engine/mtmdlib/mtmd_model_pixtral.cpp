// natter's build of the Pixtral vision graph (clip_graph_pixtral: Pixtral,
// Mistral Small 3.1, Ministral 3), in place of the bundled llama.cpp's
// models/pixtral.cpp. That copy makes the [IMG_BREAK] rows by scaling a
// fresh, never written tensor by 0 and adding the token's embedding: when
// the memory it is given holds NaN or infinity bits, 0 times them stays
// NaN, and the image's embeddings (then every logit) are NaN — in 3 of 30
// and 4 of 100 fresh loads in natter's tests. Here the rows are the
// token's embedding repeated, which reads nothing unwritten. The rest
// follows the model: a ViT with RMS norms and 2-D RoPE, the optional patch
// merger, then the GELU projector.
#include "models/models.h"

ggml_cgraph * clip_graph_pixtral::build() {
    const int n_merge = hparams.n_merge;

    // Each patch's row and column, for the 2-D RoPE.
    ggml_tensor * pos_h = ggml_new_tensor_1d(ctx0, GGML_TYPE_I32, n_patches);
    ggml_set_name(pos_h, "pos_h");
    ggml_set_input(pos_h);
    ggml_tensor * pos_w = ggml_new_tensor_1d(ctx0, GGML_TYPE_I32, n_patches);
    ggml_set_name(pos_w, "pos_w");
    ggml_set_input(pos_w);
    auto rope = [&](ggml_tensor * t, const clip_layer &) {
        return build_rope_2d(ctx0, t, pos_h, pos_w, hparams.rope_theta, true);
    };

    ggml_tensor * inp = build_inp();
    ggml_tensor * cur = build_vit(inp, n_patches, NORM_TYPE_RMS, hparams.ffn_op, nullptr, rope);

    if (model.mm_patch_merger_w) {
        // Mistral Small 3.1's merger: each n_merge×n_merge block of patches
        // (an unfold, which im2col with a kernel of that size is) becomes
        // one vector, projected back to n_embd.
        GGML_ASSERT(n_merge > 0);
        cur = ggml_mul(ctx0, ggml_rms_norm(ctx0, cur, eps), model.mm_input_norm_w);
        cur = ggml_reshape_3d(ctx0, cur, n_embd, n_patches_x, n_patches_y);
        cur = ggml_cont(ctx0, ggml_permute(ctx0, cur, 2, 0, 1, 3)); // [x, y, n_embd]
        // im2col reads only the kernel's shape.
        ggml_tensor * shape = ggml_view_3d(ctx0, cur, n_merge, n_merge, cur->ne[2], 0, 0, 0);
        cur = ggml_im2col(ctx0, shape, cur, n_merge, n_merge, 0, 0, 1, 1, true, inp->type);
        cur = ggml_reshape_2d(ctx0, cur, cur->ne[0], cur->ne[1] * cur->ne[2]);
        cur = ggml_mul_mat(ctx0, model.mm_patch_merger_w, cur);
    }

    cur = build_ffn(cur, model.mm_1_w, model.mm_1_b, nullptr, nullptr, model.mm_2_w, model.mm_2_b, FFN_GELU, -1);

    if (model.token_embd_img_break) {
        // [IMG_BREAK] after every row of the (merged) grid but the last:
        // view the rows as [n_embd, columns, rows], append one column of
        // the token's embedding, and drop the break after the last row.
        const int rows  = n_merge > 0 ? n_patches_y / n_merge : n_patches_y;
        const int cols  = n_merge > 0 ? n_patches_x / n_merge : n_patches_x;
        const int width = cur->ne[0];
        ggml_tensor * grid = ggml_reshape_3d(ctx0, cur, width, cols, rows);
        ggml_tensor * tok = model.token_embd_img_break;
        if (tok->type != GGML_TYPE_F32) {
            tok = ggml_cast(ctx0, tok, GGML_TYPE_F32); // concat needs one type
        }
        ggml_tensor * brk = ggml_repeat_4d(ctx0, tok, width, 1, rows, 1);
        grid = ggml_concat(ctx0, grid, brk, 1);
        cur = ggml_view_2d(ctx0, grid, width, cols * rows + rows - 1, ggml_row_size(grid->type, width), 0);
    }

    ggml_build_forward_expand(gf, cur);
    return gf;
}
