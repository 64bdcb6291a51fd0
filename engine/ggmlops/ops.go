// Package ggmlops builds ggml operations that Ollama's ml API does not
// offer, on the contexts and tensors of its ggml backend (their C pointers),
// and stops that backend's graphs on cancel (cancel.go).
// The include path to ggml.h comes from CGO_CPPFLAGS, which the Makefile
// sets.
package ggmlops

// #include "ggml.h"
import "C"

import "unsafe"

// WKV7 is ggml_rwkv_wkv7 in context ctx: RWKV-7's generalised delta rule,
// per head of size S and token t,
//
//	S' = S·diag(w) + v·kᵀ + (S·a)·bᵀ,  out = S'·r
//
// with state rows indexed by v and columns by k. r, w, k, v, a and b are
// [S, H, T]; state is [S·S·H, sequences]. The result holds out ([S·H, T])
// followed by the new state. All inputs must be contiguous F32; it returns
// nil otherwise (ggml would abort).
func WKV7(ctx, r, w, k, v, a, b, state unsafe.Pointer) unsafe.Pointer {
	for _, t := range []unsafe.Pointer{r, w, k, v, a, b, state} {
		ct := (*C.struct_ggml_tensor)(t)
		if ct == nil || !bool(C.ggml_is_contiguous(ct)) || ct._type != C.GGML_TYPE_F32 {
			return nil
		}
	}
	rt, kt := (*C.struct_ggml_tensor)(r), (*C.struct_ggml_tensor)(k)
	for _, t := range []unsafe.Pointer{r, w, v, a, b} {
		ct := (*C.struct_ggml_tensor)(t)
		if ct.ne != kt.ne {
			return nil
		}
	}
	st := (*C.struct_ggml_tensor)(state)
	if C.ggml_nelements(st) != kt.ne[0]*kt.ne[0]*kt.ne[1]*st.ne[1] || rt.ne[3] != 1 {
		return nil
	}
	return unsafe.Pointer(C.ggml_rwkv_wkv7((*C.struct_ggml_context)(ctx), rt,
		(*C.struct_ggml_tensor)(w), kt, (*C.struct_ggml_tensor)(v),
		(*C.struct_ggml_tensor)(a), (*C.struct_ggml_tensor)(b), st))
}
