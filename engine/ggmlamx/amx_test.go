package ggmlamx

import (
	"testing"

	// ggml itself, which the kernels call into.
	_ "github.com/ollama/ollama/ml/backend/ggml/ggml/src"
)

// ggml type ids (ggml.h).
var types = []struct {
	name string
	id   int
	tol  float64 // F16 products round activations to half precision
}{
	{"f16", 1, 1e-3}, {"q4_0", 2, 1e-5}, {"q4_1", 3, 1e-5}, {"q8_0", 8, 1e-5},
	{"q4_k", 12, 1e-5}, {"q5_k", 13, 1e-5}, {"q6_k", 14, 1e-5}, {"iq4_xs", 23, 1e-5},
}

var layouts = []struct {
	id   int
	name string
}{{Flat, "flat"}, {Batched, "batched"}, {Transposed, "transposed"}}

// TestCheckShapes: every weight type and width the AMX buffer type takes
// gives the generic kernels' products, for one row (generation) and for
// the tile path's row counts (prompts), with the activations flat, in a
// batch of slices or strided; Q8_0 is taken at the widths of small models,
// which are not multiples of 2048.
func TestCheckShapes(t *testing.T) {
	if !Available() {
		t.Skip("did not run: no AMX in this build or CPU")
	}
	for _, k := range []int{1024, 1056, 1536} {
		if !Takes(8, k) {
			t.Errorf("Q8_0 rows of %d are not taken", k)
		}
	}
	taken := 0
	for _, ty := range types {
		for _, k := range []int{1024, 1056, 2048, 2560} {
			if !Takes(ty.id, k) {
				continue
			}
			taken++
			for _, m := range []int{1, 7, 16, 40, 100} {
				for _, l := range layouts {
					r, err := Check(ty.id, k, 96, m, 2, l.id)
					if err != nil {
						t.Fatal(err)
					}
					if r > ty.tol {
						t.Errorf("%s K=%d M=%d %s: off by %.2g of the largest value", ty.name, k, m, l.name, r)
					}
				}
			}
		}
	}
	if taken < 10 {
		t.Errorf("only %d type/width pairs taken", taken)
	}
}
