package main

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"natter/engine/gguf/synth"
)

var (
	qwen35Once  sync.Once
	qwen35Path  string
	qwen35Error error
)

// qwen35Model is a generated hybrid model in upstream llama.cpp's layout:
// the vendored llama.cpp does not know the architecture, so it runs on the
// Go engine.
func qwen35Model(t *testing.T) string {
	t.Helper()
	qwen35Once.Do(func() {
		qwen35Path = filepath.Join(filepath.Dir(natterBin), "qwen35.gguf")
		qwen35Error = synth.Qwen35Tiny().Write(qwen35Path)
	})
	if qwen35Error != nil {
		t.Fatal(qwen35Error)
	}
	return qwen35Path
}

// A Qwen3.5-architecture file chats on the Go engine (picked
// automatically, named in the status line); resuming the chat says that
// the Go engine re-reads it, and the chat goes on.
func TestTmuxQwen35ChatsOnTheGoEngine(t *testing.T) {
	model := qwen35Model(t)
	p := newPane(t, "NATTER_NO_HISTORY=")
	p.natter(chatArgs(model, "-n", "12", "--temp", "0")...)
	if st := statusOf(p.screen()); !strings.Contains(st, "Go engine") {
		t.Fatalf("status line %q does not name the Go engine", st)
	}
	p.line("hello there")
	p.waitFor("the reply to finish", finished)
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
	p.natter(chatArgs(model, "-n", "12", "--temp", "0", "-c")...)
	if s := p.screen(); !strings.Contains(strings.Join(strings.Fields(s), " "), "cannot save its state") {
		t.Fatalf("no note about re-reading the chat:\n%s", s)
	}
	p.line("and then")
	p.waitFor("the follow-up to finish", func(s string) bool { return finished(s) && strings.Count(s, "›") >= 2 })
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
}

// llama.cpp refuses what it does not know with a pointer to the fix.
func TestAskQwen35OnLlamaCppSaysUseGo(t *testing.T) {
	model := qwen35Model(t)
	_, errOut, st := natter(t, "", "ask", "-m", model, "--backend", "llama.cpp", "--no-save", "hi")
	if st != 1 || !strings.Contains(errOut, "qwen35") || !strings.Contains(errOut, "--backend go") {
		t.Fatalf("exit %d, stderr:\n%s", st, errOut)
	}
	out, errOut, st := natter(t, "", "ask", "-m", model, "--temp", "0", "-n", "8", "--no-save", "hi")
	if st != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("auto backend: exit %d, stderr:\n%s", st, errOut)
	}
}
