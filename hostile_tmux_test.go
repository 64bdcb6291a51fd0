package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

// hostileModel is a model whose every word carries an OSC 2 (window
// title) and a clear-screen sequence, as the <0x1B> byte tokens of real
// vocabularies let any model print.
func hostileModel(t *testing.T) string {
	t.Helper()
	s := synth.Tiny()
	s.Name = "hostile"
	s.PieceSuffix = "\x1b]2;PWNED\x07\x1b[2J"
	p := filepath.Join(t.TempDir(), "hostile.gguf")
	if err := synth.Write(p, s); err != nil {
		t.Fatal(err)
	}
	return p
}

// runInPane runs a shell command line in the pane after a marker line and
// waits for its exit status.
func runInPane(t *testing.T, p *pane, cmd string) string {
	t.Helper()
	paneRuns++
	end := fmt.Sprintf("run-%d-exit=", paneRuns)
	p.line("clear; echo BEFORE-MARK; " + cmd + "; echo " + end + "$?")
	return p.waitFor("the command to end", func(s string) bool { return strings.Contains(s, end+"0") || strings.Contains(s, end+"1") })
}

var paneRuns int

// natter ask and history export to a terminal must not let the model's
// output drive the terminal (issue 19, 1b); --raw-bytes and pipes get the
// bytes unchanged.
func TestTmuxAskDefusesEscapeSequences(t *testing.T) {
	model := hostileModel(t)
	p := newPane(t, "NATTER_NO_HISTORY=")
	ask := natterBin + " ask -t 1 -m " + model + " --raw -n 12 'Once upon'"
	s := runInPane(t, p, ask)
	if title := p.format("#{pane_title}"); title == "PWNED" {
		t.Fatalf("the model set the window title; screen:\n%s", s)
	}
	if !strings.Contains(s, "BEFORE-MARK") {
		t.Fatalf("the model cleared the screen:\n%s", s)
	}
	if !strings.Contains(s, "\uFFFD]2;PWNED\uFFFD") {
		t.Fatalf("the defused sequence is not shown as text:\n%s", s)
	}
	if !strings.Contains(s, "-exit=0") {
		t.Fatalf("ask failed:\n%s", s)
	}

	// The saved chat, exported as Markdown to the terminal: defused too.
	s = runInPane(t, p, natterBin+" history export 1 --format md")
	if title := p.format("#{pane_title}"); title == "PWNED" || !strings.Contains(s, "BEFORE-MARK") {
		t.Fatalf("history export drove the terminal (title %q):\n%s", p.format("#{pane_title}"), s)
	}
	// To a file (or pipe) the export is exact.
	out := filepath.Join(p.home, "chat.md")
	runInPane(t, p, natterBin+" history export 1 --format md > "+out)
	if b, err := os.ReadFile(out); err != nil || !strings.Contains(string(b), "\x1b]2;PWNED\x07") {
		t.Fatalf("export to a file lost the exact text (%v): %q", err, b)
	}

	// --raw-bytes opts out: the same answer now sets the title (which shows
	// the checks above can fail).
	s = runInPane(t, p, ask+" --raw-bytes --no-save")
	if title := p.format("#{pane_title}"); title != "PWNED" {
		t.Fatalf("with --raw-bytes the title is %q, want the model's PWNED; screen:\n%s", title, s)
	}
}
