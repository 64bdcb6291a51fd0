package tools

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noTemp fails if a temporary file was left next to the written one.
func noTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".natter-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteFileNew(t *testing.T) {
	s, root := newBox(t, Box{})
	c := prepare(t, s, "write_file", `{"path":"deep/er/new.txt","content":"one\ntwo\n"}`)
	if c.ReadOnly || !c.NeedsApproval(true) || len(c.Outside) != 0 {
		t.Errorf("call: %+v", c)
	}
	if c.Summary != "write_file deep/er/new.txt (new file, 8 bytes)" {
		t.Errorf("Summary = %q", c.Summary)
	}
	wantDiff := "--- /dev/null\n+++ deep/er/new.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n"
	if c.Preview != wantDiff {
		t.Errorf("Preview:\n%s\nwant:\n%s", c.Preview, wantDiff)
	}
	if _, err := os.Stat(filepath.Join(root, "deep")); !os.IsNotExist(err) {
		t.Fatal("Prepare changed the disk")
	}
	r := c.Run(context.Background())
	if r.IsError || r.Output != "created deep/er/new.txt (8 bytes)" {
		t.Fatalf("run: %+v", r)
	}
	if got := read(t, filepath.Join(root, "deep/er/new.txt")); got != "one\ntwo\n" {
		t.Errorf("content %q", got)
	}
	fi, _ := os.Stat(filepath.Join(root, "deep/er/new.txt"))
	if fi.Mode().Perm()&0o600 != 0o600 || fi.Mode().Perm()&0o022 != 0o022&^currentUmask(t) {
		t.Errorf("new file mode %v", fi.Mode())
	}
	noTemp(t, filepath.Join(root, "deep/er"))
}

func currentUmask(t *testing.T) os.FileMode {
	p := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(p, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	return 0o666 &^ fi.Mode().Perm()
}

func TestWriteFileReplaceKeepsMode(t *testing.T) {
	s, root := newBox(t, Box{})
	p := filepath.Join(root, "run.sh")
	write(t, p, "#!/bin/sh\necho old\n")
	if err := os.Chmod(p, 0o751); err != nil {
		t.Fatal(err)
	}
	c := prepare(t, s, "write_file", `{"path":"run.sh","content":"#!/bin/sh\necho new\n"}`)
	if !strings.Contains(c.Preview, "-echo old\n+echo new\n") || !strings.HasPrefix(c.Preview, "--- run.sh\n+++ run.sh\n") {
		t.Errorf("Preview:\n%s", c.Preview)
	}
	if c.Summary != "write_file run.sh (19 bytes, replacing 19)" {
		t.Errorf("Summary = %q", c.Summary)
	}
	before, _ := os.Stat(p)
	if r := c.Run(context.Background()); r.IsError || r.Output != "wrote run.sh (19 bytes)" {
		t.Fatalf("run: %+v", r)
	}
	after, _ := os.Stat(p)
	if after.Mode() != before.Mode() || read(t, p) != "#!/bin/sh\necho new\n" {
		t.Errorf("mode %v -> %v, content %q", before.Mode(), after.Mode(), read(t, p))
	}
	if os.SameFile(before, after) {
		t.Error("file was rewritten in place, not replaced by a rename")
	}
	noTemp(t, root)
}

func TestWriteFileRefusals(t *testing.T) {
	s, root := newBox(t, Box{})
	write(t, filepath.Join(root, "d", "x"), "")
	write(t, filepath.Join(root, "plain"), "")
	_, err := s.byName["write_file"].Prepare(`{"path":"d","content":"x"}`)
	if ae := wantArgError(t, err, "write_file", "path"); !strings.Contains(ae.Reason, "is a directory") {
		t.Errorf("dir: %v", ae)
	}
	_, err = s.byName["write_file"].Prepare(`{"path":"plain/sub.txt","content":"x"}`)
	if ae := wantArgError(t, err, "write_file", "path"); !strings.Contains(ae.Reason, "is not a directory") {
		t.Errorf("file as dir: %v", ae)
	}
	// Directories are made only inside the root.
	out := t.TempDir()
	_, err = s.byName["write_file"].Prepare(mustJSON(map[string]string{"path": filepath.Join(out, "new", "f.txt"), "content": "x"}))
	if ae := wantArgError(t, err, "write_file", "path"); !strings.Contains(ae.Reason, "created only inside the working directory") {
		t.Errorf("outside mkdir: %v", ae)
	}
	// A file that appeared after Prepare is not clobbered.
	c := prepare(t, s, "write_file", `{"path":"late.txt","content":"mine"}`)
	write(t, filepath.Join(root, "late.txt"), "theirs")
	if r := c.Run(context.Background()); !r.IsError || !strings.Contains(r.Output, "changed since") || read(t, filepath.Join(root, "late.txt")) != "theirs" {
		t.Errorf("late: %+v", r)
	}
}

func TestEditFile(t *testing.T) {
	s, root := newBox(t, Box{})
	p := filepath.Join(root, "main.go")
	src := "package main\n\nfunc main() {\n\tprintln(\"hi\")\n\tprintln(\"hi\")\n}\n"
	write(t, p, src)
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	edit := func(args string) (*Call, error) { return s.byName["edit_file"].Prepare(args) }

	_, err := edit(`{"path":"main.go","old_string":"println(\"bye\")","new_string":"x"}`)
	if ae := wantArgError(t, err, "edit_file", "old_string"); !strings.HasPrefix(ae.Reason, "not found in main.go") {
		t.Errorf("not found: %v", ae)
	}
	_, err = edit(`{"path":"main.go","old_string":"println(\"hi\")","new_string":"println(\"yo\")"}`)
	if ae := wantArgError(t, err, "edit_file", "old_string"); ae.Reason != "found 2 times in main.go; give more context or replace_all" {
		t.Errorf("twice: %v", ae)
	}

	c := prepare(t, s, "edit_file", `{"path":"main.go","old_string":"func main() {\n\tprintln(\"hi\")","new_string":"func main() {\n\tprintln(\"first\")"}`)
	if c.Summary != "edit_file main.go (1 replacement)" || c.ReadOnly || !c.NeedsApproval(true) {
		t.Errorf("call: %+v", c)
	}
	wantDiff := "--- main.go\n+++ main.go\n@@ -1,6 +1,6 @@\n package main\n \n func main() {\n-\tprintln(\"hi\")\n+\tprintln(\"first\")\n \tprintln(\"hi\")\n }\n"
	if c.Preview != wantDiff {
		t.Errorf("Preview:\n%s\nwant:\n%s", c.Preview, wantDiff)
	}
	if read(t, p) != src {
		t.Fatal("Prepare changed the file")
	}
	if r := c.Run(context.Background()); r.IsError || r.Output != "edited main.go: 1 replacement" {
		t.Fatalf("run: %+v", r)
	}
	if got := read(t, p); got != strings.Replace(src, "println(\"hi\")", "println(\"first\")", 1) {
		t.Errorf("content:\n%s", got)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}

	c = prepare(t, s, "edit_file", `{"path":"main.go","old_string":"println","new_string":"print","replace_all":true}`)
	if c.Summary != "edit_file main.go (2 replacements)" {
		t.Errorf("Summary = %q", c.Summary)
	}
	if r := c.Run(context.Background()); r.IsError || r.Output != "edited main.go: 2 replacements" || strings.Contains(read(t, p), "println") {
		t.Errorf("replace_all: %+v\n%s", r, read(t, p))
	}
	noTemp(t, root)
}

// The diff the user approved is the change made: if the file changed in
// between, Run refuses and leaves it alone.
func TestEditFileChangedSincePrepare(t *testing.T) {
	s, root := newBox(t, Box{})
	p := filepath.Join(root, "todo.md")
	write(t, p, "- milk\n- eggs\n")
	c := prepare(t, s, "edit_file", `{"path":"todo.md","old_string":"- eggs","new_string":"- bread"}`)
	write(t, p, "- milk\n- eggs\n- butter\n")
	r := c.Run(context.Background())
	if !r.IsError || !strings.Contains(r.Output, "changed since this edit was prepared") {
		t.Errorf("run: %+v", r)
	}
	if got := read(t, p); got != "- milk\n- eggs\n- butter\n" {
		t.Errorf("file touched: %q", got)
	}
	noTemp(t, root)
}

func TestEditFileCRLF(t *testing.T) {
	s, root := newBox(t, Box{})
	p := filepath.Join(root, "win.txt")
	write(t, p, "one\r\ntwo\r\nthree\r\n")
	// read_file shows these lines without CR; an edit written from them applies.
	c := prepare(t, s, "edit_file", `{"path":"win.txt","old_string":"one\ntwo","new_string":"one\n2"}`)
	if r := c.Run(context.Background()); r.IsError {
		t.Fatal(r.Output)
	}
	if got := read(t, p); got != "one\r\n2\r\nthree\r\n" {
		t.Errorf("content %q", got)
	}
}

func TestEditFileRefusesBinaryAndLarge(t *testing.T) {
	s, root := newBox(t, Box{MaxRead: 100})
	write(t, filepath.Join(root, "b.bin"), "a\x00b")
	write(t, filepath.Join(root, "big.txt"), strings.Repeat("x", 200))
	_, err := s.byName["edit_file"].Prepare(`{"path":"b.bin","old_string":"a","new_string":"b"}`)
	if ae := wantArgError(t, err, "edit_file", "path"); !strings.Contains(ae.Reason, "binary file") {
		t.Errorf("binary: %v", ae)
	}
	_, err = s.byName["edit_file"].Prepare(`{"path":"big.txt","old_string":"x","new_string":"y"}`)
	if ae := wantArgError(t, err, "edit_file", "path"); !strings.Contains(ae.Reason, "200 bytes, more than the 100") {
		t.Errorf("large: %v", ae)
	}
}

func TestWriteSanitizedPreview(t *testing.T) {
	s, _ := newBox(t, Box{})
	c := prepare(t, s, "write_file", mustJSON(map[string]string{"path": "evil\x1b[2J.txt", "content": "\x1b]0;pwn\x07\n"}))
	for _, text := range []string{c.Summary, c.Preview} {
		if strings.ContainsAny(text, "\x1b\x07") {
			t.Errorf("raw control byte in %q", text)
		}
	}
	if !strings.Contains(c.Preview, `+\x1b]0;pwn\x07`) {
		t.Errorf("Preview = %q", c.Preview)
	}
}
