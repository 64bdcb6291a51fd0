package goengine_test

import (
	"context"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"natter/engine/ggmlamx"
	"natter/engine/gguf/synth"
	"natter/engine/goengine"
)

// TestAMXWeights: after the load, the Go engine's Linear weights run on the
// AMX kernels, for each architecture it runs, and generation goes on
// without the scheduler refusing a product. The products agree with the
// generic kernels to float rounding (ggmlamx.TestCheckShapes); through
// these random-weight models that rounding grows as flash attention's
// does, so the logits may move by no more than twice what turning flash
// attention off moves them by (plus 1% of their range).
func TestAMXWeights(t *testing.T) {
	if !ggmlamx.Available() {
		t.Skip("did not run: this build or CPU has no AMX")
	}
	dir := t.TempDir()
	llama := synth.Spec{NLayer: 2, NEmbd: 1024, NFF: 1536, NHead: 8, NHeadKV: 4, NCtxTrain: 512,
		Type: synth.Q8_0, Seed: 12, Name: "synth-amx-llama"}
	q35, q35moe, g4 := synth.Qwen35Tiny(), synth.Qwen35MoETiny(), synth.Gemma4Tiny()
	q35.Type, q35moe.Type, g4.Type = synth.Q8_0, synth.Q8_0, synth.Q8_0
	for _, c := range []struct {
		name  string
		write func(string) error
		min   int // weights that must move
	}{
		{"llama", func(p string) error { return synth.Write(p, llama) }, 7 * llama.NLayer},
		{"qwen35", q35.Write, 1},
		{"qwen35moe", q35moe.Write, 1},
		{"gemma4", g4.Write, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name+".gguf")
			if err := c.write(path); err != nil {
				t.Fatal(err)
			}
			amx, moved := runLogits(t, path, true, false)
			if moved < c.min {
				t.Fatalf("%d weights on the AMX kernels, want at least %d", moved, c.min)
			}
			ref, _ := runLogits(t, path, true, true)
			noFA, _ := runLogits(t, path, false, true)
			d, scale := maxDiff(amx, ref)
			yard, _ := maxDiff(noFA, ref)
			t.Logf("%d weights moved; AMX moves the logits by %.3g, flash attention off by %.3g (largest |logit| %.3g)", moved, d, yard, scale)
			if d > 2*yard+0.01*scale {
				t.Errorf("AMX moves the logits by %g, more than twice flash attention's %g", d, yard)
			}
		})
	}
}

// runLogits is stepLogits on a fresh engine, and how many weights run on
// AMX.
func runLogits(t *testing.T, path string, fa, generic bool) ([]float32, int) {
	t.Helper()
	e, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 256, Threads: 2, FlashAttention: fa, GenericKernels: generic})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return stepLogits(t, e), e.AMXWeights()
}

// stepLogits prefills 40 tokens and feeds 8 fixed ones, returning all the
// logits one after another.
func stepLogits(t *testing.T, e *goengine.Engine) []float32 {
	t.Helper()
	prompt := make([]int32, 40)
	for i := range prompt {
		prompt[i] = int32(3 + i*7%90)
	}
	logits, _, err := e.Prefill(context.Background(), prompt)
	if err != nil {
		t.Fatal(err)
	}
	out := slices.Clone(logits)
	for i := range 8 {
		if logits, err = e.Decode(int32(10 + i*11)); err != nil {
			t.Fatal(err)
		}
		out = append(out, logits...)
	}
	for _, l := range out {
		if math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) {
			t.Fatalf("logit %v", l)
		}
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
