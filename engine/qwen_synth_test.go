package engine

import (
	"path/filepath"
	"testing"

	"natter/engine/api"
	"natter/engine/gguf/synth"
)

// qwenSpec is a synth.Qwen2Spec or synth.Qwen3Spec.
type qwenSpec interface{ Write(path string) error }

// qwenGreedy writes spec, loads it in llama.cpp and returns 16 greedy
// tokens after "Once upon a time", generated twice (after a Reset).
func qwenGreedy(t *testing.T, spec qwenSpec, arch string) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := spec.Write(p); err != nil {
		t.Fatal(err)
	}
	e, err := Load(Options{ModelPath: p, ContextSize: 256, Threads: 1})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer e.Close()
	if a := e.Info().Arch; a != arch {
		t.Fatalf("arch %q, want %q", a, arch)
	}
	req := api.Request{Raw: true, Prompt: "Once upon a time", Sampling: greedy(), MaxTokens: 16, IgnoreEOS: true}
	a := run(t, e, req)
	if err := e.Reset(); err != nil {
		t.Fatal(err)
	}
	b := run(t, e, req)
	if a.stats.GeneratedTokens != 16 || b.stats.GeneratedTokens != 16 {
		t.Fatalf("generated %d and %d tokens, want 16", a.stats.GeneratedTokens, b.stats.GeneratedTokens)
	}
	return a.text, b.text
}

// The synthetic qwen2 and qwen3 files load and run in llama.cpp, greedy
// output repeats, and their own tensors (biases, q/k norms) are used: a
// different value of one changes the text.
func TestQwenSynthGenerates(t *testing.T) {
	q2 := func(tied bool, reseed string) qwenSpec {
		s := synth.Qwen2Tiny()
		s.TiedOutput = tied
		if reseed != "" {
			s.Reseed = map[string]int64{reseed: 99}
		}
		return s
	}
	q3 := func(tied bool, reseed string) qwenSpec {
		s := synth.Qwen3Tiny()
		s.TiedOutput = tied
		if reseed != "" {
			s.Reseed = map[string]int64{reseed: 99}
		}
		return s
	}
	// Layer 0's tensors, whose change reaches every later one: in the last
	// layer a q/k norm or K bias moves the scores too little to flip a
	// greedy token for some seeds (a K bias adds the same q.b_k to every
	// score of a query but for RoPE's rotation, and softmax ignores a
	// constant).
	cases := []struct {
		arch   string
		spec   func(tied bool, reseed string) qwenSpec
		tensor []string // each reseeded alone must change the output
	}{
		{"qwen2", q2, []string{"blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.0.attn_v.bias", "blk.1.attn_v.bias"}},
		{"qwen3", q3, []string{"blk.0.attn_q_norm.weight", "blk.0.attn_k_norm.weight"}},
	}
	for _, c := range cases {
		for _, tied := range []bool{true, false} {
			name := c.arch + "/untied"
			if tied {
				name = c.arch + "/tied"
			}
			t.Run(name, func(t *testing.T) {
				a, b := qwenGreedy(t, c.spec(tied, ""), c.arch)
				if a != b {
					t.Fatalf("greedy runs differ:\n%q\n%q", a, b)
				}
				t.Logf("%q", a)
				for _, n := range c.tensor {
					if r, _ := qwenGreedy(t, c.spec(tied, n), c.arch); r == a {
						t.Errorf("reseeding %s leaves the output %q: llama.cpp does not use it", n, a)
					}
				}
			})
		}
	}
}
