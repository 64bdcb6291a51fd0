package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 18, item 7: in a small window, overlays (help, the history list)
// and stale frames of the input box and status line never reach the
// terminal's scrollback; only finished messages do.
func TestTmuxOverlaysStayOutOfTheScrollback(t *testing.T) {
	p := newPane(t, "NATTER_NO_HISTORY=")
	p.tmux("resize-window", "-t", p.name, "-x", "60", "-y", "15")
	p.natter(chatArgs(chatModel, "--temp", "0", "-n", "8")...)
	p.line("hello there")
	p.waitFor("the reply", finished)
	p.line("/help")
	p.waitFor("the help box", func(s string) bool { return strings.Contains(s, "(esc closes)") })
	p.keys("Escape")
	p.waitFor("the help box to close", func(s string) bool {
		return !strings.Contains(s, "(esc closes)") && strings.Contains(s, "› Message natter")
	})
	p.line("/history")
	p.waitFor("the history list", func(s string) bool {
		return strings.Contains(s, "type to search") && strings.Contains(s, "hello there")
	})
	p.keys("Escape")
	p.waitFor("the history list to close", func(s string) bool {
		return !strings.Contains(s, "type to search") && strings.Contains(s, "› Message natter")
	})
	p.line("/quit")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
	all := p.all()
	for _, leak := range []string{"(esc closes)", "Commands", "type to search", "enter resumes", "› /help", "› /history", "› /quit"} {
		if strings.Contains(all, leak) {
			t.Errorf("%q reached the scrollback:\n%s", leak, all)
		}
	}
	// The input box and status line were live frames: none stays behind
	// (the last frame may remain on screen when natter exits, once).
	if n := strings.Count(all, "› Message natter"); n > 1 {
		t.Errorf("%d input boxes in the scrollback:\n%s", n, all)
	}
	if n := strings.Count(all, "ctx "); n > 1 {
		t.Errorf("%d status lines in the scrollback:\n%s", n, all)
	}
	if n := strings.Count(all, "› hello there"); n != 1 {
		t.Errorf("the message is in the scrollback %d times:\n%s", n, all)
	}
}

// Issue 18 ("Smaller"): one broken user persona does not fail `natter
// prompts`: the others are listed, exit 0, and the file is warned about once.
func TestPromptsListWithABrokenPersona(t *testing.T) {
	cfg := t.TempDir()
	dir := filepath.Join(cfg, "natter", "prompts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.md")
	for f, text := range map[string]string{
		bad:                           "---\nname: bad\ntemperature: hot\n---\nYou are {{.User\n",
		filepath.Join(dir, "good.md"): "---\nname: good\ndescription: a persona that loads\n---\nYou are good.\n",
	} {
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := natterCmd("prompts")
	cmd.Env = append(cmd.Env, "XDG_CONFIG_HOME="+cfg)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("natter prompts: %v\nstdout:\n%s\nstderr:\n%s", err, o.String(), e.String())
	}
	if !strings.Contains(o.String(), "good") || !strings.Contains(o.String(), "a persona that loads") || !strings.Contains(o.String(), "coder") {
		t.Fatalf("the other personas are not listed:\n%s", o.String())
	}
	if n := strings.Count(e.String(), bad); n != 1 || strings.Count(e.String(), "warning:") != 1 {
		t.Fatalf("want one warning naming %s, got:\n%s", bad, e.String())
	}
}

// Issue 18, item 0: every way of quitting while a reply streams ends natter
// (it used to hang with a blank screen), in inline and fullscreen mode,
// with the partial reply saved as stopped.
func TestTmuxQuitWhileStreamingSavesThePartialReply(t *testing.T) {
	quits := []struct {
		name string
		quit func(p *pane)
	}{
		{"ctrl+d", func(p *pane) { p.keys("C-d") }},
		{"/quit", func(p *pane) { p.line("/quit") }},
		{"/exit", func(p *pane) { p.line("/exit") }},
		{"ctrl+c twice", func(p *pane) { p.keys("C-c"); p.keys("C-c") }},
	}
	for _, mode := range []string{"inline", "fullscreen"} {
		for _, q := range quits {
			t.Run(mode+" "+q.name, func(t *testing.T) {
				p := newPane(t, "NATTER_NO_HISTORY=")
				args := chatArgs(chatModel, "--temp", "0", "--ctx", "8192", "-n", "8000")
				if mode == "fullscreen" {
					args = append(args, "--fullscreen")
				}
				p.natter(args...)
				p.line("Hello")
				p.waitFor("the reply to stream", func(s string) bool { return liveTokens(s) > 20 })
				q.quit(p)
				if st := p.exited(); st != 0 {
					t.Fatalf("exit status %d", st)
				}
				saneTerminal(t, p)
				cmd := exec.Command(natterBin, "history", "export", "1", "--format", "json")
				cmd.Env = append(os.Environ(), "HOME="+p.home, "XDG_DATA_HOME="+filepath.Join(p.home, "data"),
					"XDG_STATE_HOME="+filepath.Join(p.home, "state"), "XDG_CONFIG_HOME="+filepath.Join(p.home, "config"), "NATTER_NO_HISTORY=")
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("history export: %v\n%s", err, out)
				}
				var chat struct {
					Messages []struct {
						Role, Content, Status string
					}
				}
				if err := json.Unmarshal(out, &chat); err != nil {
					t.Fatalf("export: %v\n%s", err, out)
				}
				ms := chat.Messages
				if len(ms) != 2 || ms[0].Content != "Hello" || ms[1].Role != "assistant" || len(ms[1].Content) < 20 {
					t.Fatalf("the chat was not saved with the partial reply:\n%s", out)
				}
				if ms[1].Status != "interrupted" { // history's word for a reply cut short
					t.Fatalf("the partial reply is not marked stopped:\n%s", out)
				}
			})
		}
	}
}
