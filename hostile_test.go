package main

import (
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

func craftedModel(t *testing.T, edit func(s *synth.Spec)) string {
	t.Helper()
	s := synth.Tiny()
	s.Name = "crafted"
	edit(&s)
	p := filepath.Join(t.TempDir(), "crafted.gguf")
	if err := synth.Write(p, s); err != nil {
		t.Fatal(err)
	}
	return p
}

// Silent fallbacks are said (issue 19, item 5): a model template that fails
// to render, and a special-token id llama.cpp replaces.
func TestAskWarnsAboutFallbacks(t *testing.T) {
	m := craftedModel(t, func(s *synth.Spec) {
		s.ChatTemplate = "{% for i in range(100000000) %}{% endfor %}"
		s.KV = map[string]any{"tokenizer.ggml.bos_token_id": uint32(1_000_000_000)}
	})
	_, stderr, status := natter(t, "", "ask", "-m", m, "-n", "2", "--temp", "0", "hi")
	if status != 0 {
		t.Fatalf("ask failed (%d): %s", status, stderr)
	}
	if !strings.Contains(stderr, "warning: the chat template failed") || !strings.Contains(stderr, "instead") {
		t.Errorf("no fallback warning: %q", stderr)
	}
	if !strings.Contains(stderr, "tokenizer.ggml.bos_token_id is 1000000000") {
		t.Errorf("no bad-id warning: %q", stderr)
	}
	// A model whose template works gets neither.
	_, stderr, _ = natter(t, "", "ask", "-m", chatModel, "-n", "2", "--temp", "0", "hi")
	if strings.Contains(stderr, "warning") {
		t.Errorf("sound model warned: %q", stderr)
	}
}

// A wrongly typed key or a huge template is refused before llama.cpp sees
// the file, naming the file and the key.
func TestAskNamesTheBadKey(t *testing.T) {
	for key, v := range map[string]any{
		"llama.block_count":       "many",
		"tokenizer.chat_template": strings.Repeat("{{ 1 }}", 200000),
	} {
		m := craftedModel(t, func(s *synth.Spec) { s.KV = map[string]any{key: v} })
		_, stderr, status := natter(t, "", "ask", "-m", m, "-n", "1", "hi")
		if status == 0 || !strings.Contains(stderr, key) || !strings.Contains(stderr, m) || strings.Contains(stderr, "see the log") {
			t.Errorf("%s: status %d, stderr %q", key, status, stderr)
		}
	}
}

// A 5 MB prompt on stdin gets a clear error (the context bound), found
// before the whole text is tokenized.
func TestAskHugeStdinPrompt(t *testing.T) {
	big := strings.Repeat("lorem ipsum dolor sit amet ", 5<<20/27)
	_, stderr, status := natter(t, big, "ask", "-m", chatModel, "-n", "1", "-")
	if status == 0 || !strings.Contains(stderr, "more tokens than the context holds") {
		t.Fatalf("status %d, stderr %q", status, stderr)
	}
}
