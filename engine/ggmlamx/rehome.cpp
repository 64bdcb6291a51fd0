// Moving loaded weights into the AMX buffer type, for the Go engine: Ollama's
// backend places every weight in the plain CPU buffer and has no hook for
// ggml's extra buffer types, so its products never reach these kernels.

#include "amx/amx.h"
#include "ggml-backend-impl.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

// natter_amx_rehome moves each of the n weights the AMX kernels take (2-D,
// contiguous, in a host buffer, of a taken type and width) into one new AMX
// buffer, repacking it, and gives the pages of its old copy back to the
// system. It returns the buffer (NULL when nothing moved) and sets *moved.
// The tensors must only ever be used as the weight of matrix products.
extern "C" int natter_amx_takes(int type, long k);

extern "C" ggml_backend_buffer_t natter_amx_rehome(struct ggml_tensor ** ts, int n, int * moved) {
    *moved = 0;
#if defined(__AMX_INT8__) && defined(__AVX512VNNI__)
    ggml_backend_buffer_type_t amx = ggml_backend_amx_buffer_type();
    if (amx == nullptr) {
        return nullptr;
    }
    const size_t align = ggml_backend_buft_get_alignment(amx);
    auto fits = [](const struct ggml_tensor * t) {
        return t->buffer != nullptr && t->view_src == nullptr && ggml_backend_buffer_is_host(t->buffer) && ggml_is_contiguous(t) &&
               t->ne[2] == 1 && t->ne[3] == 1 && t->ne[1] % 32 == 0 && natter_amx_takes(t->type, (long) t->ne[0]);
    };
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (fits(ts[i])) {
            total += GGML_PAD(ggml_backend_buft_get_alloc_size(amx, ts[i]), align);
        }
    }
    if (total == 0) {
        return nullptr;
    }
    ggml_backend_buffer_t buf = ggml_backend_buft_alloc_buffer(amx, total);
    if (buf == nullptr) {
        return nullptr; // not enough memory: the weights stay where they are
    }
    ggml_backend_buffer_set_usage(buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    char * base = (char *) ggml_backend_buffer_get_base(buf);
    const uintptr_t page = (uintptr_t) sysconf(_SC_PAGESIZE);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        struct ggml_tensor * t = ts[i];
        if (!fits(t)) {
            continue;
        }
        char * old = (char *) t->data;
        const size_t nbytes = ggml_nbytes(t);
        t->buffer = buf;
        t->data = base + off;
        ggml_backend_buffer_init_tensor(buf, t);
        ggml_backend_tensor_set(t, old, 0, nbytes);
        off += GGML_PAD(ggml_backend_buft_get_alloc_size(amx, t), align);
        // Nothing reads the old copy again; its whole pages go back, so the
        // model does not take its memory twice.
        uintptr_t lo = ((uintptr_t) old + page - 1) & ~(page - 1);
        uintptr_t hi = ((uintptr_t) old + nbytes) & ~(page - 1);
        if (hi > lo) {
            madvise((void *) lo, hi - lo, MADV_DONTNEED);
        }
        (*moved)++;
    }
    return buf;
#else
    (void) ts, (void) n;
    return nullptr;
#endif
}

extern "C" void natter_amx_buffer_free(ggml_backend_buffer_t buf) {
    if (buf != nullptr) {
        ggml_backend_buffer_free(buf);
    }
}
