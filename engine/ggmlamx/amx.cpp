// natter's AMX buffer type. ggml's CPU backend asks for it through
// ggml_backend_amx_buffer_type() when built for a CPU with AMX; the matrix
// kernels themselves are ggml's (mmq.cpp, built from the ollama module).
//
// The module's own buffer type (amx/amx.cpp there) only takes weights whose
// rows are a multiple of 2048 values, so the 1024-, 1536- and 2560-wide
// layers of the small models natter runs never reach the kernels, and
// generation runs on the slower generic dot products. Here Q8_0 weights
// are taken whenever their rows are whole blocks of 32 and K-quants whenever
// they are whole blocks of 256 (what llama.cpp release v0.5.0 accepts).
// TestCheckShapes checks every type taken against the generic kernels.

#include "amx/amx.h"
#include "amx/common.h"
#include "amx/mmq.h"
#include "ggml-backend-impl.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml-impl.h"
#include "traits.h"
#include "ggml-cpu-impl.h"

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__AMX_INT8__) && defined(__AVX512VNNI__)

namespace natter_amx {

// Weights repacked so far: tests check that the kernels were reached.
static std::atomic<long> repacked{0};

static bool flat2d(const struct ggml_tensor * t) {
    return ggml_is_contiguous(t) && t->ne[2] == 1 && t->ne[3] == 1;
}

// rows_flat: the activations' rows lie back to back within each 2-D slice.
static bool rows_flat(const struct ggml_tensor * x) {
    return x->nb[0] == sizeof(float) && x->nb[1] == x->ne[0] * (int64_t) sizeof(float);
}

// The kernels take one 2-D product with activation rows back to back. A
// product over a batch of slices (ne[2], ne[3] > 1), or with strided
// activations, runs slice by slice, strided rows copied to the scratch
// after the kernels' own work area. Weights only reach this buffer type
// for matrix products, and every product of theirs is taken here, so the
// scheduler never meets a weight it cannot run (which would abort).
class traits : public ggml::cpu::tensor_traits {
    static size_t pack_offset(const struct ggml_tensor * op) {
        return GGML_PAD(ggml_backend_amx_desired_wsize(op), 64);
    }
    bool work_size(int, const struct ggml_tensor * op, size_t & size) override {
        size = ggml_backend_amx_desired_wsize(op);
        if (!rows_flat(op->src[1])) {
            size = pack_offset(op) + op->src[1]->ne[0] * op->src[1]->ne[1] * sizeof(float);
        }
        return true;
    }
    bool compute_forward(struct ggml_compute_params * params, struct ggml_tensor * op) override {
        if (op->op != GGML_OP_MUL_MAT) {
            return false;
        }
        const struct ggml_tensor * x = op->src[1];
        if (flat2d(x)) {
            ggml_backend_amx_mul_mat(params, op);
            return true;
        }
        const bool pack = !rows_flat(x);
        float * scratch = (float *) ((char *) params->wdata + pack_offset(op));
        for (int64_t i3 = 0; i3 < op->ne[3]; i3++) {
            for (int64_t i2 = 0; i2 < op->ne[2]; i2++) {
                struct ggml_tensor xs = *x;
                xs.ne[2] = xs.ne[3] = 1;
                xs.data = (char *) x->data + i2 * x->nb[2] + i3 * x->nb[3];
                if (pack) {
                    if (params->ith == 0) {
                        for (int64_t m = 0; m < x->ne[1]; m++) {
                            for (int64_t k = 0; k < x->ne[0]; k++) {
                                scratch[m * x->ne[0] + k] = *(const float *) ((const char *) xs.data + m * x->nb[1] + k * x->nb[0]);
                            }
                        }
                    }
                    ggml_barrier(params->threadpool);
                    xs.data = scratch;
                    xs.nb[0] = sizeof(float);
                    xs.nb[1] = x->ne[0] * sizeof(float);
                }
                xs.nb[2] = xs.nb[3] = xs.nb[1] * x->ne[1];
                struct ggml_tensor d = *op;
                d.ne[2] = d.ne[3] = 1;
                d.nb[2] = d.nb[3] = d.nb[1] * d.ne[1];
                d.data = (char *) op->data + i2 * op->nb[2] + i3 * op->nb[3];
                d.src[1] = &xs;
                ggml_backend_amx_mul_mat(params, &d);
                // The next slice overwrites the quantized activations.
                ggml_barrier(params->threadpool);
            }
        }
        return true;
    }
};

static traits the_traits;

// row_alignment is how many values a weight row must be a multiple of for
// the kernels to take it; 0 means they do not take the type. In the
// module's ggml, Q4_0 and Q4_1 products of more than 16 rows (prompt
// processing) come out wrong (TestCheckShapes: 20-30% off), so those
// stay on the generic and repacked kernels; the types here match the
// generic kernels to float rounding at every width tested.
static int64_t row_alignment(enum ggml_type type) {
    switch (type) {
        case GGML_TYPE_Q8_0:
            return 32;
        case GGML_TYPE_Q4_K:
        case GGML_TYPE_Q5_K:
        case GGML_TYPE_Q6_K:
        case GGML_TYPE_IQ4_XS:
            return 256;
        case GGML_TYPE_F16:
            return TILE_K * 2 * 32; // the module's rule, unchanged
        default:
            return 0;
    }
}

class extra : public ggml::cpu::extra_buffer_type {
  public:
    bool supports_op(ggml_backend_dev_t, const struct ggml_tensor * op) override {
        if (op->op != GGML_OP_MUL_MAT) {
            return false;
        }
        const struct ggml_tensor * w = op->src[0];
        const struct ggml_tensor * x = op->src[1];
        if (!w->buffer || w->buffer->buft != ggml_backend_amx_buffer_type()) {
            return false;
        }
        if (!flat2d(w) || x->type != GGML_TYPE_F32) {
            return false;
        }
        if (x->buffer && !ggml_backend_buft_is_host(x->buffer->buft)) {
            return false;
        }
        const int64_t align = row_alignment(w->type);
        return align > 0 && w->ne[0] % align == 0 && op->ne[0] % (TILE_N * 2) == 0;
    }
    ggml::cpu::tensor_traits * get_tensor_traits(const struct ggml_tensor * op) override {
        if (op->op == GGML_OP_MUL_MAT && op->src[0]->buffer &&
            op->src[0]->buffer->buft == ggml_backend_amx_buffer_type()) {
            return (ggml::cpu::tensor_traits *) op->src[0]->extra;
        }
        return nullptr;
    }
};

// Buffer: plain aligned host memory; weights of the kernels' types are
// stored repacked, everything else as is.

static void buf_free(ggml_backend_buffer_t b) { ggml_aligned_free(b->context, b->size); }

static void * buf_base(ggml_backend_buffer_t b) { return b->context; }

static enum ggml_status buf_init_tensor(ggml_backend_buffer_t, struct ggml_tensor * t) {
    t->extra = &the_traits;
    return GGML_STATUS_SUCCESS;
}

static void buf_memset(ggml_backend_buffer_t, struct ggml_tensor * t, uint8_t v, size_t off, size_t n) {
    memset((char *) t->data + off, v, n);
}

static void buf_set(ggml_backend_buffer_t, struct ggml_tensor * t, const void * data, size_t off, size_t n) {
    if (qtype_has_amx_kernels(t->type)) {
        // Repacking needs the whole tensor at once; llama.cpp writes weights
        // whole into this buffer type.
        GGML_ASSERT(off == 0 && n == ggml_nbytes(t));
        ggml_backend_amx_convert_weight(t, data, off, n);
        repacked++;
        return;
    }
    memcpy((char *) t->data + off, data, n);
}

static void buf_get(ggml_backend_buffer_t, const struct ggml_tensor * t, void * data, size_t off, size_t n) {
    // A repacked weight cannot be read back in ggml's layout; nothing reads
    // weights back, so this only serves the unpacked types.
    GGML_ASSERT(!qtype_has_amx_kernels(t->type));
    memcpy(data, (const char *) t->data + off, n);
}

static void buf_clear(ggml_backend_buffer_t b, uint8_t v) { memset(b->context, v, b->size); }

static ggml_backend_buffer_i buffer_iface = {
    /* .free_buffer   = */ buf_free,
    /* .get_base      = */ buf_base,
    /* .init_tensor   = */ buf_init_tensor,
    /* .memset_tensor = */ buf_memset,
    /* .set_tensor    = */ buf_set,
    /* .get_tensor    = */ buf_get,
    /* .cpy_tensor    = */ nullptr,
    /* .clear         = */ buf_clear,
    /* .reset         = */ nullptr,
};

static const char * type_name(ggml_backend_buffer_type_t) { return "AMX"; }

static ggml_backend_buffer_t type_alloc(ggml_backend_buffer_type_t buft, size_t size) {
    void * mem = ggml_aligned_malloc(size);
    if (mem == nullptr) {
        return nullptr;
    }
    return ggml_backend_buffer_init(buft, buffer_iface, mem, size);
}

static size_t type_alignment(ggml_backend_buffer_type_t) { return TENSOR_ALIGNMENT; }

static size_t type_alloc_size(ggml_backend_buffer_type_t, const ggml_tensor * t) {
    return ggml_backend_amx_get_alloc_size(t);
}

// The kernel must ask Linux for the AMX tile state before any tile use.
static bool request_tiles() {
#if defined(__linux__)
    const long req_xcomp_perm = 0x1023, xtiledata = 18;
    return syscall(SYS_arch_prctl, req_xcomp_perm, xtiledata) == 0;
#else
    return false;
#endif
}

}  // namespace natter_amx

extern "C" long natter_amx_repacked() { return natter_amx::repacked.load(); }
extern "C" int natter_amx_takes(int type, long k) {
    const int64_t a = natter_amx::row_alignment((enum ggml_type) type);
    return a > 0 && k % a == 0;
}
extern "C" int natter_amx_available() { return ggml_backend_amx_buffer_type() != nullptr; }

ggml_backend_buffer_type_t ggml_backend_amx_buffer_type() {
    static struct ggml_backend_buffer_type buft = {
        /* .iface = */ {
            /* .get_name       = */ natter_amx::type_name,
            /* .alloc_buffer   = */ natter_amx::type_alloc,
            /* .get_alignment  = */ natter_amx::type_alignment,
            /* .get_max_size   = */ nullptr,
            /* .get_alloc_size = */ natter_amx::type_alloc_size,
            /* .is_host        = */ nullptr,
        },
        /* .device  = */ ggml_backend_reg_dev_get(ggml_backend_cpu_reg(), 0),
        /* .context = */ new natter_amx::extra(),
    };
    static const bool ok = natter_amx::request_tiles();
    return ok ? &buft : nullptr;
}

#else

extern "C" long natter_amx_repacked() { return 0; }
extern "C" int natter_amx_takes(int, long) { return 0; }
extern "C" int natter_amx_available() { return 0; }

#endif
