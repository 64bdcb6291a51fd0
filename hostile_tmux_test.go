package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"natter/engine/gguf/synth"
	"natter/history"
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
	ask := natterBin + " ask --save -t 1 -m " + model + " --raw -n 12 'Once upon'"
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

// paneSeq tells apart the panes of one test.
var paneSeq atomic.Int64

// Two chats and asks write the same history at once, each from its own
// natter process: every message is kept (issue 19, item 11).
func TestTmuxTwoChatsAndAskShareHistory(t *testing.T) {
	shared := t.TempDir()
	env := []string{
		"NATTER_NO_HISTORY=",
		"XDG_DATA_HOME=" + filepath.Join(shared, "data"),
		"XDG_STATE_HOME=" + filepath.Join(shared, "state"),
	}
	panes := []*pane{newPane(t, env...), newPane(t, env...)}
	for _, p := range panes {
		p.natter(chatArgs(chatModel, "--temp", "0", "-n", "6")...)
	}
	const turns, asks = 3, 4
	askErr := make(chan error, 1)
	go func() {
		for i := 0; i < asks; i++ {
			// Greedy: a sampled reply may end at once, and an empty reply is
			// not what this test is about.
			cmd := exec.Command(natterBin, "ask", "--save", "-t", "1", "-m", chatModel, "--temp", "0", "-n", "6", fmt.Sprintf("ask question %d", i))
			cmd.Env = append(os.Environ(), "HOME="+shared, "XDG_CONFIG_HOME="+filepath.Join(shared, "config"), "NATTER_MODEL=")
			cmd.Env = append(cmd.Env, env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				askErr <- fmt.Errorf("ask %d: %v: %s", i, err, out)
				return
			}
		}
		askErr <- nil
	}()
	// The two chats take turns typing, so their writes interleave with
	// each other's and with the asks'.
	for i := 0; i < turns; i++ {
		for j, p := range panes {
			p.line(fmt.Sprintf("chat %d question %d", j, i))
		}
		for j, p := range panes {
			// Sent (the input is empty again) and answered: the status line
			// alone still shows the last reply's figures until this one starts.
			q := fmt.Sprintf("› chat %d question %d", j, i)
			p.waitFor(fmt.Sprintf("chat %d reply %d", j, i), func(s string) bool {
				return finished(s) && strings.Contains(s, "Message natter") && replyAfter(s, q) != ""
			})
		}
	}
	if err := <-askErr; err != nil {
		t.Fatal(err)
	}
	for _, p := range panes {
		p.keys("C-d")
		if st := p.exited(); st != 0 {
			t.Fatalf("chat exit status %d", st)
		}
	}

	st, err := history.Open(filepath.Join(shared, "data", "natter", "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if w := st.TakeWarning(); w != "" {
		t.Fatalf("history warning: %s", w)
	}
	list, err := st.List(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := 0; i < turns; i++ {
		want[fmt.Sprintf("chat 0 question %d", i)] = true
		want[fmt.Sprintf("chat 1 question %d", i)] = true
	}
	for i := 0; i < asks; i++ {
		want[fmt.Sprintf("ask question %d", i)] = true
	}
	replies := 0
	for _, sum := range list {
		c, err := st.Get(context.Background(), sum.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range c.Messages {
			switch m.Role {
			case "user":
				if !want[m.Content] {
					t.Errorf("unexpected or repeated user message %q", m.Content)
				}
				delete(want, m.Content)
			case "assistant":
				if m.Status != history.StatusComplete || m.Content == "" {
					t.Errorf("reply in chat %d: status %s, %q", c.ID, m.Status, m.Content)
				}
				replies++
			}
		}
	}
	if len(list) != 2+asks || len(want) != 0 || replies != 2*turns+asks {
		t.Fatalf("%d chats, %d replies; missing user messages: %v", len(list), replies, want)
	}
}
