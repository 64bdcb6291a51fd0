package gguf

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

func writeSynth(t *testing.T, kv map[string]any) string {
	t.Helper()
	s := synth.Tiny()
	s.KV = kv
	p := filepath.Join(t.TempDir(), "crafted.gguf")
	if err := synth.Write(p, s); err != nil {
		t.Fatal(err)
	}
	return p
}

// A metadata value of the wrong type for a key llama.cpp reads is refused
// here, naming the file and the key, instead of failing inside llama.cpp
// with only a log line (issue 19, item 5).
func TestWrongTypedLlamaKeysAreNamed(t *testing.T) {
	for key, v := range map[string]any{
		"llama.block_count":            "twelve",
		"llama.rope.freq_base":         uint32(10000),
		"tokenizer.ggml.bos_token_id":  float32(1),
		"tokenizer.ggml.add_bos_token": uint32(1),
		"general.architecture":         []string{"llama"},
		"tokenizer.chat_template":      uint32(7),
	} {
		p := writeSynth(t, map[string]any{key: v})
		_, err := Open(p)
		if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s = %T: got %v, want an error naming the file and the key", key, v, err)
		}
	}
	// The per-layer array form llama.cpp accepts still passes.
	if _, err := Open(writeSynth(t, map[string]any{"llama.attention.head_count_kv": []int32{2, 2}})); err != nil {
		t.Errorf("per-layer head_count_kv: %v", err)
	}
}

// A chat template over the size bound is refused at load, naming the file.
func TestHugeChatTemplateRefused(t *testing.T) {
	p := writeSynth(t, map[string]any{"tokenizer.chat_template": strings.Repeat("x", MaxChatTemplate+1)})
	_, err := Open(p)
	if err == nil || !strings.Contains(err.Error(), "tokenizer.chat_template") || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("got %v", err)
	}
	if _, err := Open(writeSynth(t, map[string]any{"tokenizer.chat_template": strings.Repeat("x", MaxChatTemplate)})); err != nil {
		t.Fatalf("a template at the bound: %v", err)
	}
}

// An out-of-range special-token id, which llama.cpp silently replaces,
// gives a warning naming the key.
func TestBadSpecialTokenIDWarns(t *testing.T) {
	f, err := Open(writeSynth(t, map[string]any{"tokenizer.ggml.bos_token_id": uint32(1_000_000_000)}))
	if err != nil {
		t.Fatal(err)
	}
	w := f.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "tokenizer.ggml.bos_token_id is 1000000000") {
		t.Fatalf("warnings %q", w)
	}
	f, _ = Open(writeSynth(t, nil))
	if w := f.Warnings(); len(w) != 0 {
		t.Fatalf("a sound file warns: %q", w)
	}
}
