// Package ggmlamx compiles ggml's AMX matrix kernels, which the ollama module
// carries but does not build through cgo, and natter's own AMX buffer type
// in front of them (amx.cpp says why). ggml's CPU backend references them
// whenever it is compiled for a CPU with AMX (-march=native on Sapphire
// Rapids and later); there they speed up quantized prompt processing and,
// through their AVX512-VNNI path, generation. On other CPUs the sources
// compile to nothing.
//
// The include paths to the module's ggml sources come from CGO_CPPFLAGS,
// which the Makefile sets.
package ggmlamx

// #cgo CXXFLAGS: -std=c++17
// #cgo CPPFLAGS: -DNDEBUG -DGGML_USE_LLAMAFILE
// #cgo linux CPPFLAGS: -D_GNU_SOURCE
// long natter_amx_repacked(void);
// int natter_amx_available(void);
// int natter_amx_takes(int type, long k);
// #include <stdlib.h>
// void *natter_amx_rehome(void **ts, int n, int *moved);
// void natter_amx_buffer_free(void *buf);
// double natter_amx_check(int type, int K, int N, int M, int threads, int layout);
import "C"

import (
	"errors"
	"unsafe"
)

// Available reports whether this build and CPU run ggml's AMX kernels.
func Available() bool { return C.natter_amx_available() != 0 }

// Repacked is how many weights have been repacked for the AMX kernels in
// this process.
func Repacked() int { return int(C.natter_amx_repacked()) }

// Takes reports whether natter's AMX buffer type takes weights of ggml type
// typ with rows of k values.
func Takes(typ, k int) bool { return C.natter_amx_takes(C.int(typ), C.long(k)) != 0 }

// Layouts of the activations for Check.
const (
	Flat       = 0 // one M×K matrix
	Batched    = 1 // three of them (ne[2] = 3)
	Transposed = 2 // a transposed view: rows strided
)

// Check multiplies M rows of K random activations, laid out as layout says,
// by a random N×K weight of ggml type typ twice, with the weight in the AMX
// buffer type and in a plain CPU buffer, and returns the largest difference
// relative to the largest value (1e9 when the AMX product wrote past its
// output).
func Check(typ, k, n, m, threads, layout int) (float64, error) {
	switch r := float64(C.natter_amx_check(C.int(typ), C.int(k), C.int(n), C.int(m), C.int(threads), C.int(layout))); r {
	case -1:
		return 0, errors.New("no AMX in this build or CPU")
	case -2:
		return 0, errors.New("could not set up the product")
	default:
		return r, nil
	}
}

// Moved is weights moved into an AMX buffer by Rehome.
type Moved struct {
	buf unsafe.Pointer
	n   int
}

// Count is how many weights moved.
func (m *Moved) Count() int {
	if m == nil {
		return 0
	}
	return m.n
}

// Rehome moves those of the given loaded weights (C ggml_tensor pointers)
// that the AMX kernels take into one new AMX buffer, repacked, and returns
// them. The weights must only ever be used as the weight of matrix
// products. Free the result after the weights' last use.
func Rehome(ts []unsafe.Pointer) *Moved {
	if len(ts) == 0 {
		return &Moved{}
	}
	// The list goes to C in C memory (it holds C pointers only).
	arr := unsafe.Slice((*unsafe.Pointer)(C.malloc(C.size_t(len(ts))*C.size_t(unsafe.Sizeof(uintptr(0))))), len(ts))
	defer C.free(unsafe.Pointer(&arr[0]))
	copy(arr, ts)
	var n C.int
	buf := C.natter_amx_rehome(&arr[0], C.int(len(ts)), &n)
	return &Moved{buf: buf, n: int(n)}
}

// Free releases the buffer; it is safe to call more than once.
func (m *Moved) Free() {
	if m != nil && m.buf != nil {
		C.natter_amx_buffer_free(m.buf)
		m.buf = nil
	}
}
