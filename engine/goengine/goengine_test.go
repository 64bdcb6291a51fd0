package goengine_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"natter/engine"
	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/engine/goengine"
)

const stories = "../../../shared/models/stories260K.gguf"

func needStories(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(stories); err != nil {
		t.Skipf("DID NOT RUN: %s is absent (%v)", stories, err)
	}
	return stories
}

// greedy generates n tokens after prompt with the Go engine.
func greedy(t *testing.T, e *goengine.Engine, prompt []int32, n int) []int32 {
	t.Helper()
	logits, _, err := e.Prefill(context.Background(), prompt)
	if err != nil {
		t.Fatal(err)
	}
	s := goengine.NewSampler(0, 0, 0, 0, 1)
	var out []int32
	for range n {
		tok := s.Sample(logits)
		out = append(out, tok)
		if logits, err = e.Decode(tok); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// The Go engine's greedy continuation equals llama.cpp's for the same prompt
// token ids, on a generated model that states every hyperparameter.
// (stories260K has no rope.freq_base: llama.cpp defaults it to 10000,
// Ollama's llama code to 100000, so the two continuations part after ~16
// tokens; llama-architecture files run on llama.cpp for that reason.)
func TestGreedyMatchesLlamaCpp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	spec := synth.Tiny()
	spec.NLayer = 4
	if err := synth.Write(path, spec); err != nil {
		t.Fatal(err)
	}
	ref, err := engine.Load(engine.Options{ModelPath: path, ContextSize: 256, Threads: 1, FlashAttn: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	prompt, err := ref.Tokenize("the cat sat on the mat and then", false)
	if err != nil {
		t.Fatal(err)
	}
	prompt = append([]engine.Token{1}, prompt...) // BOS, as llama.cpp adds it for raw prompts
	ch, err := ref.Generate(context.Background(), api.Request{Raw: true, Tokens: prompt, MaxTokens: 40, IgnoreEOS: true, Sampling: api.Sampling{RepeatPenalty: 1, TopK: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for ev := range ch {
		if ev.Kind == api.EventError {
			t.Fatal(ev.Err)
		}
	}
	// The cache holds the prompt and every generated token but the last.
	var want []int32
	for _, tok := range ref.CachedTokens()[len(prompt):] {
		want = append(want, int32(tok))
	}

	e, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 256, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ids := make([]int32, len(prompt))
	for i, tok := range prompt {
		ids[i] = int32(tok)
	}
	got := greedy(t, e, ids, 40)
	if len(want) != 39 || !slices.Equal(got[:39], want) {
		t.Fatalf("Go engine greedy tokens differ from llama.cpp's:\n go:    %v\n llama: %v", got, want)
	}
}

// Reusing the cached prefix gives the same tokens as a cold run.
func TestPrefixReuseEqualsCold(t *testing.T) {
	path := needStories(t)
	e, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 256, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	prompt := []int32{1, 403, 407, 261, 378}
	first := greedy(t, e, prompt, 10)
	follow := append(append(slices.Clone(prompt), first...), 1, 403)
	_, reused, err := e.Prefill(context.Background(), follow)
	if err != nil {
		t.Fatal(err)
	}
	if reused < len(prompt) {
		t.Fatalf("reused %d tokens, want at least the %d of the first prompt", reused, len(prompt))
	}
	warm := greedy(t, e, follow, 10)

	cold, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 256, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer cold.Close()
	if want := greedy(t, cold, follow, 10); !slices.Equal(warm, want) {
		t.Fatalf("with prefix reuse %v, cold %v", warm, want)
	}
}

// A truncated file is a clear error from the validator, never a crash.
func TestTruncatedFileIsAnError(t *testing.T) {
	path := needStories(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "cut.gguf")
	if err := os.WriteFile(bad, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := goengine.Load(goengine.Options{ModelPath: bad}); err == nil {
		t.Fatal("a truncated file loaded")
	} else {
		t.Log(err)
	}
}

func TestSamplerGreedyAndSeeded(t *testing.T) {
	logits := []float32{0.1, 2, 1.9, -3}
	if got := goengine.NewSampler(0, 0, 0, 0, 1).Sample(logits); got != 1 {
		t.Fatalf("greedy picked %d", got)
	}
	a, b := goengine.NewSampler(1, 40, 0.95, 0.05, 7), goengine.NewSampler(1, 40, 0.95, 0.05, 7)
	for range 50 {
		if x, y := a.Sample(logits), b.Sample(logits); x != y {
			t.Fatal("the same seed drew different tokens")
		}
	}
	// top-k 1 is greedy whatever the temperature.
	if got := goengine.NewSampler(5, 1, 1, 0, 3).Sample(logits); got != 1 {
		t.Fatalf("top-k 1 picked %d", got)
	}
	// min-p 0.9 keeps only tokens within 90% of the best: ids 1 and 2.
	s := goengine.NewSampler(1, 0, 1, 0.9, 9)
	for range 100 {
		if got := s.Sample(logits); got != 1 && got != 2 {
			t.Fatalf("min-p let token %d through", got)
		}
	}
}
