package engine

import (
	"math"
	"slices"
	"testing"

	"natter/engine/ggmlamx"
	"natter/engine/gguf/synth"
)

// TestAMXMatchesGeneric: a llama.cpp load of a Q8_0 model 1024 wide (not a
// multiple of 2048, which ggml's own AMX buffer type demands) puts its
// projections in natter's AMX buffer type, and its logits after a 40-token
// prefill (the tile path) and single-token decodes (the VNNI path) stay
// those of the generic kernels. A Q4_0 model's weights stay out (ggml's
// Q4_0 tile path is wrong, see ggmlamx.TestCheckShapes, which compares
// single products to float rounding).
func TestAMXMatchesGeneric(t *testing.T) {
	if !ggmlamx.Available() {
		t.Skip("did not run: this build or CPU has no AMX (the kernels are compiled only with -march=native on a CPU with AMX)")
	}
	spec := synth.Spec{NLayer: 2, NEmbd: 1024, NFF: 1536, NHead: 8, NHeadKV: 4, NCtxTrain: 512,
		Type: synth.Q8_0, Seed: 11, Name: "synth-amx-q8_0"}
	path := synthModel(t, spec)
	before := ggmlamx.Repacked()
	fast := amxLogits(t, Options{ModelPath: path, ContextSize: 256, Threads: 2})
	if got := ggmlamx.Repacked() - before; got < 7*spec.NLayer {
		t.Fatalf("%d weights repacked for AMX, want the 7 projections of each of %d layers", got, spec.NLayer)
	}
	before = ggmlamx.Repacked()
	ref := amxLogits(t, Options{ModelPath: path, ContextSize: 256, Threads: 2, GenericKernels: true})
	if got := ggmlamx.Repacked() - before; got != 0 {
		t.Fatalf("GenericKernels still repacked %d weights", got)
	}
	// The products agree to float rounding; through a random-weight model
	// that grows to about 1% of the logits.
	for step := range ref {
		if d, scale := maxDiff(fast[step], ref[step]); d > 0.05*scale {
			t.Errorf("step %d: logits differ by %g (largest |logit| %g)", step, d, scale)
		}
		if argmax(fast[step]) != argmax(ref[step]) {
			t.Errorf("step %d: greedy token %d with AMX, %d without", step, argmax(fast[step]), argmax(ref[step]))
		}
	}

	q4 := spec
	q4.Type, q4.Name = synth.Q4_0, "synth-amx-q4_0"
	before = ggmlamx.Repacked()
	amxLogits(t, Options{ModelPath: synthModel(t, q4), ContextSize: 256, Threads: 2})
	if got := ggmlamx.Repacked() - before; got != 0 {
		t.Errorf("%d Q4_0 weights went to the AMX kernels", got)
	}
}

// amxLogits loads the model, prefills 40 tokens and decodes 4 more (each
// the greedy pick), returning the logits after each step.
func amxLogits(t *testing.T, opts Options) [][]float32 {
	t.Helper()
	e, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var out [][]float32
	var ferr error
	if err := e.do(func() {
		n := e.model.nVocab()
		toks := make([]Token, 40)
		for i := range toks {
			toks[i] = Token(3 + (i*37)%(n-3))
		}
		if ferr = e.lc.decode(toks, 0, true); ferr != nil {
			return
		}
		out = append(out, e.lc.lastLogits(n))
		for i := range 4 {
			next := Token(argmax(out[len(out)-1]))
			if ferr = e.lc.decode([]Token{next}, len(toks)+i, true); ferr != nil {
				return
			}
			out = append(out, e.lc.lastLogits(n))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if ferr != nil {
		t.Fatal(ferr)
	}
	return out
}

func maxDiff(a, b []float32) (d, scale float64) {
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
		scale = max(scale, math.Abs(float64(b[i])))
	}
	return d, scale
}

// argmax is the greedy pick: the first largest logit.
func argmax(v []float32) int { return slices.Index(v, slices.Max(v)) }
