package engine

import (
	"path/filepath"
	"testing"

	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/prompts"
)

func writeLFM2(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lfm2.gguf")
	if err := synth.LFM2Tiny().Write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadLFM2(t *testing.T, path string) *Engine {
	t.Helper()
	e, err := Load(Options{ModelPath: path, ContextSize: 1024, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// The synthetic lfm2 file loads in llama.cpp as a hybrid model and
// generates greedily, the same text twice.
func TestLFM2LoadsAndGenerates(t *testing.T) {
	path := writeLFM2(t)
	e := loadLFM2(t, path)
	if a := e.Info().Arch; a != "lfm2" {
		t.Fatalf("arch %q", a)
	}
	req := api.Request{Messages: []prompts.Message{{Role: prompts.RoleUser, Content: "hello there"}}, Sampling: greedy(), MaxTokens: 12}
	a := collectGen(t, e, req)
	if a.stats.GeneratedTokens == 0 {
		t.Fatalf("nothing generated (stop %q)", a.stats.StopReason)
	}
	if err := e.Reset(); err != nil {
		t.Fatal(err)
	}
	b := collectGen(t, e, req)
	if a.text != b.text {
		t.Fatalf("greedy runs differ: %q vs %q", a.text, b.text)
	}
	t.Logf("%q (%d tokens, %s)", a.text, a.stats.GeneratedTokens, e.Info().Description)
}

// The vendored llama.cpp asks for lfm2's final norm as "output_norm", so a
// file named as the converter writes it (token_embd_norm.weight, as every
// LFM2 GGUF on Hugging Face) is refused with an error, not a crash. When
// this starts to load, the vendored copy was fixed: make
// synth.LFM2NormConverted the default of LFM2Tiny.
func TestLFM2ConvertedNormNameIsRefused(t *testing.T) {
	s := synth.LFM2Tiny()
	s.FinalNorm = synth.LFM2NormConverted
	path := filepath.Join(t.TempDir(), "lfm2-converted.gguf")
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	e, err := Load(Options{ModelPath: path, ContextSize: 256, Threads: 1})
	if err == nil {
		e.Close()
		t.Fatal("the vendored llama.cpp now loads converter-named lfm2 files; switch the synth default")
	}
}
