// Package ggmlamx compiles ggml's AMX matrix kernels, which the ollama module
// carries but does not build through cgo. ggml's CPU backend references them
// whenever it is compiled for a CPU with AMX (-march=native on Sapphire
// Rapids and later), and they speed up quantized prompt processing there.
// On other CPUs the sources compile to nothing.
//
// The include paths to the module's ggml sources come from CGO_CPPFLAGS,
// which the Makefile sets.
package ggmlamx

// #cgo CXXFLAGS: -std=c++17
// #cgo CPPFLAGS: -DNDEBUG -DGGML_USE_LLAMAFILE
// #cgo linux CPPFLAGS: -D_GNU_SOURCE
import "C"
