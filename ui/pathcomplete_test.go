package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// Tab completes the path argument of /attach, /save and /model from the
// real directory, as a shell would.
func TestPathCompletion(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"scan.png", "scream.wav", "notes.txt", ".hidden.png", "model.gguf", "my memo.mp3"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "shots"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "shots"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Config{Gen: newFakeGen()}, 80, 24)
	tab := func(input string) {
		t.Helper()
		h.m.input.SetValue(input)
		h.key(tea.KeyTab, 0)
		h.settle()
	}
	for _, c := range []struct{ in, want string }{
		{"/attach " + dir + "/scr", "/attach " + dir + "/scream.wav"},
		{"/attach " + dir + "/sh", "/attach " + dir + "/shots/"},
		{"/attach " + dir + "/li", "/attach " + dir + "/link/"},       // a link to a directory
		{"/attach " + dir + "/sc", "/attach " + dir + "/sc"},          // scan.png and scream.wav
		{"/attach " + dir + "/n", "/attach " + dir + "/n"},            // notes.txt is not media
		{"/attach " + dir + "/my", "/attach " + dir + "/my memo.mp3"}, // a space needs no quoting
		{"/attach '" + dir + "/my", "/attach '" + dir + "/my memo.mp3'"},
		{"/attach " + dir + "/.h", "/attach " + dir + "/.hidden.png"},
		{"/save " + dir + "/no", "/save " + dir + "/notes.txt"},
		{"/model " + dir + "/m", "/model " + dir + "/model.gguf"}, // not "my memo.mp3"
		{"/model 2", "/model 2"},                                  // a number, not a path
		{"/attach " + dir + "/missing/x", "/attach " + dir + "/missing/x"},
	} {
		tab(c.in)
		if got := h.m.input.Value(); got != c.want {
			t.Errorf("tab on %q gave %q, want %q", c.in, got, c.want)
		}
	}

	// Ambiguous: the candidates are listed under the input, hidden files
	// and non-media left out, until the input changes.
	tab("/attach " + dir + "/")
	s := h.screen()
	for _, want := range []string{"scan.png", "scream.wav", "shots/", "link/", "my memo.mp3"} {
		if !strings.Contains(s, want) {
			t.Errorf("the candidates lack %q:\n%s", want, s)
		}
	}
	for _, not := range []string{"notes.txt", ".hidden.png", "model.gguf"} {
		if strings.Contains(s, not) {
			t.Errorf("the candidates hold %q:\n%s", not, s)
		}
	}
	h.typeText("s")
	if s := h.screen(); strings.Contains(s, "my memo.mp3") {
		t.Errorf("the candidates stayed after typing:\n%s", s)
	}
	tab("/attach " + dir + "/n")
	if !strings.Contains(h.screen(), "No matching file.") {
		t.Errorf("no word for a path with no match:\n%s", h.screen())
	}

	// An answer for an input since changed is dropped.
	cmd := pathCompleteCmd("/attach " + dir + "/scr")
	h.m.input.SetValue("/attach other")
	h.send(cmd())
	if got := h.m.input.Value(); got != "/attach other" {
		t.Errorf("a stale completion replaced the input: %q", got)
	}
}
