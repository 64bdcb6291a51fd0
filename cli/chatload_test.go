package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

// A model loaded inside the chat (/model) keeps what the load noticed
// about the file, for the chat to show (start-up prints it on stderr).
func TestChatModelLoadKeepsWarnings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "badbos.gguf")
	spec := synth.Tiny()
	spec.KV = map[string]any{"tokenizer.ggml.bos_token_id": uint32(1_000_000_000)}
	if err := synth.Write(path, spec); err != nil {
		t.Fatal(err)
	}
	mf := modelFlags{ctx: 256, threads: 1, batch: 512, flashAttn: "auto", cacheType: "f16", backend: "auto"}
	sf := samplingFlags{think: "auto", reasoningBudget: -1}
	g, err := loadChatModel(&mf, &sf, path, "", true)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	w := g.LoadWarnings()
	if len(w) == 0 || !strings.Contains(strings.Join(w, "\n"), "tokenizer.ggml.bos_token_id is 1000000000") {
		t.Fatalf("warnings: %q", w)
	}
	if strings.HasPrefix(w[0], "warning: ") {
		t.Errorf("the chat adds its own mark: %q", w[0])
	}
}
