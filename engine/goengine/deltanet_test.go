package goengine_test

import (
	"path/filepath"
	"slices"
	"testing"

	"natter/engine/gguf/synth"
	"natter/engine/goengine"
)

// TestFusedDeltaNetMatchesOllama: with heads of 64 (Qwen3.5 has 128), every
// Gated DeltaNet layer of qwen35 and qwen35moe takes the fused single-token
// step, and a prompt plus eight steps give Ollama's own logits to float
// rounding, and its greedy tokens; with heads of 16 the fused step stays
// off (its kernel walks heads in steps of 64).
func TestFusedDeltaNetMatchesOllama(t *testing.T) {
	dir := t.TempDir()
	for _, s := range []synth.Qwen35Spec{synth.Qwen35Tiny(), synth.Qwen35MoETiny()} {
		t.Run(s.Arch(), func(t *testing.T) {
			s.LinHeadDim = 64 // the tiny specs have 2 key heads and 4 value heads: repeated per value head
			path := filepath.Join(dir, s.Arch()+".gguf")
			if err := s.Write(path); err != nil {
				t.Fatal(err)
			}
			recurrent := 0
			for il := range s.NLayer {
				if s.IsRecurrent(il) {
					recurrent++
				}
			}
			fused, n := deltaLogits(t, path, false)
			if n != recurrent {
				t.Fatalf("%d layers fused, want all %d Gated DeltaNet layers", n, recurrent)
			}
			ref, _ := deltaLogits(t, path, true)
			if d, scale := maxDiff(fused, ref); d > 1e-3*scale {
				t.Errorf("fused step moves the logits by %g (largest |logit| %g)", d, scale)
			}
			a, b := greedyFused(t, path, false), greedyFused(t, path, true)
			if !slices.Equal(a, b) {
				t.Errorf("greedy tokens\nfused  %v\nOllama %v", a, b)
			}
		})
	}
	path := filepath.Join(dir, "head16.gguf")
	if err := synth.Qwen35Tiny().Write(path); err != nil {
		t.Fatal(err)
	}
	if _, n := deltaLogits(t, path, false); n != 0 {
		t.Errorf("%d layers with heads of 16 fused", n)
	}
}

func loadDelta(t *testing.T, path string, ollama bool) *goengine.Engine {
	t.Helper()
	e, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 256, Threads: 2, FlashAttention: true, GenericKernels: true, OllamaDeltaNet: ollama})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func deltaLogits(t *testing.T, path string, ollama bool) ([]float32, int) {
	t.Helper()
	e := loadDelta(t, path, ollama)
	defer e.Close()
	out := stepLogits(t, e)
	return out, e.FusedDeltaNetLayers()
}

func greedyFused(t *testing.T, path string, ollama bool) []int32 {
	t.Helper()
	e := loadDelta(t, path, ollama)
	defer e.Close()
	return greedy(t, e, []int32{1, 2, 3, 4, 5}, 16)
}
