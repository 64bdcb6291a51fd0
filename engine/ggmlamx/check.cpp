// One matrix product two ways, for the tests: weights in the AMX buffer
// type against the same weights in a plain CPU buffer (generic kernels).

#include "amx/amx.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

#include <cmath>
#include <random>
#include <vector>

// natter_amx_check returns max|amx - generic| / max|generic| for a product
// of an N×K weight of the given ggml type with M rows of K activations, or
// -1 when the AMX buffer type is absent and -2 when setting up failed.
// layout 0 gives the activations as one flat matrix, 1 as a batch of three
// (ne[2] = 3), 2 as a transposed view (rows strided).
extern "C" double natter_amx_check(int type, int K, int N, int M, int threads, int layout) {
#if defined(__AMX_INT8__) && defined(__AVX512VNNI__)
    ggml_backend_buffer_type_t amx = ggml_backend_amx_buffer_type();
    if (amx == nullptr) {
        return -1;
    }
    const ggml_type t = (ggml_type) type;
    ggml_init_params ip = {ggml_tensor_overhead() * 8 + ggml_graph_overhead(), nullptr, true};
    ggml_context * cw = ggml_init(ip);
    ggml_context * ca = ggml_init(ip);
    ggml_tensor * w = ggml_new_tensor_2d(cw, t, K, N);
    ggml_tensor * x = layout == 1 ? ggml_new_tensor_3d(cw, GGML_TYPE_F32, K, M, 3)
                    : layout == 2 ? ggml_new_tensor_2d(cw, GGML_TYPE_F32, M, K)
                                  : ggml_new_tensor_2d(cw, GGML_TYPE_F32, K, M);
    ggml_tensor * in = layout == 2 ? ggml_transpose(cw, x) : x;
    ggml_tensor * wa = ggml_new_tensor_2d(ca, t, K, N);
    // The generic kernels' own paths do not all take strided activations.
    ggml_tensor * ref = ggml_mul_mat(cw, w, layout == 2 ? ggml_cont(cw, in) : in);
    ggml_tensor * got = ggml_mul_mat(cw, wa, in);
    // Right after got in the buffer: a kernel writing past its output
    // changes it.
    ggml_tensor * guard = ggml_new_tensor_1d(cw, GGML_TYPE_F32, 4096);
    ggml_backend_buffer_t bw = ggml_backend_alloc_ctx_tensors_from_buft(ca, amx);
    ggml_backend_buffer_t bc = ggml_backend_alloc_ctx_tensors_from_buft(cw, ggml_backend_cpu_buffer_type());
    ggml_backend_t cpu = ggml_backend_cpu_init();
    double result = -2;
    if (bw != nullptr && bc != nullptr && cpu != nullptr) {
        std::mt19937 rng(42);
        std::normal_distribution<float> nd(0, 1);
        std::vector<float> wf((size_t) K * N), xf(ggml_nelements(x));
        for (auto & v : wf) v = nd(rng);
        for (auto & v : xf) v = nd(rng);
        std::vector<char> wq(ggml_row_size(t, K) * N);
        ggml_quantize_chunk(t, wf.data(), wq.data(), 0, N, K, nullptr);
        ggml_backend_tensor_set(w, wq.data(), 0, wq.size());
        ggml_backend_tensor_set(wa, wq.data(), 0, wq.size());
        ggml_backend_tensor_set(x, xf.data(), 0, xf.size() * sizeof(float));
        std::vector<float> gf(4096, 12345.0f);
        ggml_backend_tensor_set(guard, gf.data(), 0, gf.size() * sizeof(float));
        ggml_cgraph * g = ggml_new_graph(cw);
        ggml_build_forward_expand(g, ref);
        ggml_build_forward_expand(g, got);
        ggml_backend_cpu_set_n_threads(cpu, threads);
        if (ggml_backend_graph_compute(cpu, g) == GGML_STATUS_SUCCESS) {
            std::vector<float> r(ggml_nelements(ref)), a(ggml_nelements(ref));
            ggml_backend_tensor_get(ref, r.data(), 0, r.size() * sizeof(float));
            ggml_backend_tensor_get(got, a.data(), 0, a.size() * sizeof(float));
            double d = 0, scale = 0;
            for (size_t i = 0; i < r.size(); i++) {
                d = std::fmax(d, std::fabs((double) a[i] - r[i]));
                scale = std::fmax(scale, std::fabs((double) r[i]));
            }
            result = scale > 0 ? d / scale : d;
            std::vector<float> g2(4096);
            ggml_backend_tensor_get(guard, g2.data(), 0, g2.size() * sizeof(float));
            if (g2 != gf) {
                result = 1e9; // wrote past its output
            }
        }
    }
    if (cpu) ggml_backend_free(cpu);
    if (bw) ggml_backend_buffer_free(bw);
    if (bc) ggml_backend_buffer_free(bc);
    ggml_free(ca);
    ggml_free(cw);
    return result;
#else
    (void) type, (void) K, (void) N, (void) M, (void) threads, (void) layout;
    return -1;
#endif
}
