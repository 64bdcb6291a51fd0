package main

import (
	"os"
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
