package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"natter/engine/api"
)

// A GGUF's general.name is often only the architecture ("llama"): the chat
// names the model by its file (or what Config.ModelName says) everywhere.
func TestModelNamedByItsFile(t *testing.T) {
	g := newFakeGen("Once upon a time.")
	g.info = api.ModelInfo{Name: "llama", Path: "/models/stories260K.gguf", Quantization: "F32", ContextSize: 512}
	rec := &recorder{}
	h := newHarness(t, Config{Gen: g, Recorder: rec}, 100, 24)
	sendAndWait(h, "Tell me a story\nabout a cat")
	scr := h.screen()
	if !strings.Contains(scr, "natter · stories260K F32 ·") {
		t.Fatalf("header does not name the file:\n%s", scr)
	}
	if st := h.m.statusLine(); !strings.HasPrefix(ansi.Strip(st), "stories260K F32 · ctx") {
		t.Fatalf("status line: %q", ansi.Strip(st))
	}
	h.m.rec.wait()
	rec.mu.Lock()
	first := rec.calls[0]
	rec.mu.Unlock()
	if first != "new stories260K " {
		t.Fatalf("the history records the model as %q", first)
	}

	// /save alone names the file after the chat's title, in the current
	// folder, and never over an existing file.
	dir := t.TempDir()
	t.Chdir(dir)
	for _, want := range []string{"Tell-me-a-story.md", "Tell-me-a-story-2.md"} {
		h.typeText("/save")
		h.enter()
		h.settle()
		b, err := os.ReadFile(filepath.Join(dir, want))
		if err != nil {
			t.Fatalf("%s: %v (error line %q)", want, err, h.m.errLine)
		}
		s := string(b)
		if !strings.HasPrefix(s, "# Tell me a story\n\nModel: stories260K F32\n") {
			t.Fatalf("export:\n%s", s)
		}
		if !strings.Contains(h.screen(), "Saved the chat to "+want) {
			t.Fatalf("no note for %s:\n%s", want, h.screen())
		}
	}

	// A catalog name given by the command wins; the quantization is not
	// said twice when the name has it.
	g2 := newFakeGen("ok")
	g2.info = api.ModelInfo{Name: "qwen2", Path: "/m/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", Quantization: "Q4_K_M", ContextSize: 512}
	h2 := newHarness(t, Config{Gen: g2, ModelName: func(api.ModelInfo) string { return "qwen2.5-0.5b" }}, 100, 24)
	if !strings.Contains(h2.screen(), "natter · qwen2.5-0.5b Q4_K_M ·") {
		t.Fatalf("catalog name not used:\n%s", h2.screen())
	}
	g3 := newFakeGen("ok")
	g3.info = g2.info
	h3 := newHarness(t, Config{Gen: g3}, 100, 24)
	if !strings.Contains(h3.screen(), "natter · Qwen2.5-0.5B-Instruct-Q4_K_M ·") {
		t.Fatalf("file name with its quantization:\n%s", h3.screen())
	}
}
