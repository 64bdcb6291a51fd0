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
// double natter_amx_check(int type, int K, int N, int M, int threads, int layout);
import "C"

import "errors"

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
// relative to the largest value.
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
