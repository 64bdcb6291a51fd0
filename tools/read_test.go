package tools

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFile(t *testing.T) {
	s, root := newBox(t, Box{})
	var b strings.Builder
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	write(t, filepath.Join(root, "notes", "long.txt"), b.String())
	write(t, filepath.Join(root, "short.txt"), "one\r\ntwo\r\nthree")
	write(t, filepath.Join(root, "empty.txt"), "")

	r := run(t, s, "read_file", `{"path":"short.txt"}`)
	if r.IsError || r.Output != "1\tone\n2\ttwo\n3\tthree" || r.Truncated {
		t.Errorf("short: %+v", r)
	}
	r = run(t, s, "read_file", `{"path":"notes/long.txt"}`)
	lines := strings.Split(r.Output, "\n")
	if len(lines) != 401 || lines[0] != "1\tline 1" || lines[399] != "400\tline 400" ||
		!strings.Contains(lines[400], "use offset=401 to read on") {
		t.Errorf("default limit: %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	c := prepare(t, s, "read_file", `{"path":"notes/long.txt","offset":998,"limit":10}`)
	if c.Summary != "read_file notes/long.txt (lines 998-1007)" {
		t.Errorf("Summary = %q", c.Summary)
	}
	if r = c.Run(context.Background()); r.Output != "998\tline 998\n999\tline 999\n1000\tline 1000" {
		t.Errorf("tail: %q", r.Output)
	}
	r = run(t, s, "read_file", `{"path":"notes/long.txt","offset":1001}`)
	if !r.IsError || !strings.Contains(r.Output, "past the end of the file (1000 lines)") {
		t.Errorf("past end: %+v", r)
	}
	if r = run(t, s, "read_file", `{"path":"empty.txt"}`); r.IsError || r.Output != "(empty file)" {
		t.Errorf("empty: %+v", r)
	}
	r = run(t, s, "read_file", `{"path":"missing.txt"}`)
	if !r.IsError || !strings.Contains(r.Output, "no such file") {
		t.Errorf("missing: %+v", r)
	}
	r = run(t, s, "read_file", `{"path":"notes"}`)
	if !r.IsError || !strings.Contains(r.Output, "is a directory; use list_dir") {
		t.Errorf("dir: %+v", r)
	}
}

func TestReadFileRefusesBinaryAndSpecial(t *testing.T) {
	s, root := newBox(t, Box{})
	write(t, filepath.Join(root, "img.bin"), "PNG\x00\x01\x02rest")
	r := run(t, s, "read_file", `{"path":"img.bin"}`)
	if !r.IsError || r.Output != "binary file, 10 bytes" {
		t.Errorf("binary: %+v", r)
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		r = run(t, s, "read_file", `{"path":"/dev/zero"}`)
		if !r.IsError || !strings.Contains(r.Output, "not a regular file") {
			t.Errorf("/dev/zero: %+v", r)
		}
	}
}

// A huge (sparse) file is read only up to MaxRead, and the model is told
// how to go on.
func TestReadFileHugeSparse(t *testing.T) {
	s, root := newBox(t, Box{MaxRead: 64 << 10, MaxOutput: 1 << 20})
	p := filepath.Join(root, "huge.log")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(f, "entry %05d\n", i) // 12 bytes a line
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()

	r := run(t, s, "read_file", `{"path":"huge.log","limit":100000}`)
	if r.IsError {
		t.Fatal(r.Output)
	}
	lines := strings.Split(r.Output, "\n")
	shown := len(lines) - 1
	if shown*12 > 64<<10 || shown < 5000 {
		t.Errorf("showed %d lines from a 64 KiB read", shown)
	}
	note := lines[len(lines)-1]
	want := fmt.Sprintf("(file is %d bytes; read the first %d; use offset=%d to read on)", 1<<30, 64<<10, shown+1)
	if note != want {
		t.Errorf("note = %q\nwant   %q", note, want)
	}
	// Reading on from there continues where it stopped.
	r = run(t, s, "read_file", fmt.Sprintf(`{"path":"huge.log","offset":%d,"limit":2}`, shown+1))
	if !strings.HasPrefix(r.Output, fmt.Sprintf("%d\tentry %05d\n", shown+1, shown+1)) {
		t.Errorf("read on: %q", r.Output)
	}
}

func TestReadFileOutputBounded(t *testing.T) {
	s, root := newBox(t, Box{MaxOutput: 1000})
	write(t, filepath.Join(root, "wide.txt"), strings.Repeat(strings.Repeat("x", 90)+"\n", 50))
	r := run(t, s, "read_file", `{"path":"wide.txt"}`)
	lines := strings.Split(r.Output, "\n")
	last := lines[len(lines)-1]
	if len(r.Output) > 1000 || !strings.HasPrefix(last, "(output limit reached; use offset=") {
		t.Errorf("output %d bytes, last line %q", len(r.Output), last)
	}
	write(t, filepath.Join(root, "one.txt"), strings.Repeat("y", 5000))
	r = run(t, s, "read_file", `{"path":"one.txt"}`)
	if !r.Truncated || !strings.Contains(r.Output, "output truncated") || len(r.Output) > 1100 {
		t.Errorf("one long line: truncated=%v %d bytes", r.Truncated, len(r.Output))
	}
}

func TestReadFileSanitizes(t *testing.T) {
	s, root := newBox(t, Box{})
	write(t, filepath.Join(root, "evil.txt"), "\x1b[2J\x1b]0;pwn\x07hi \xff\u202e\n")
	r := run(t, s, "read_file", `{"path":"evil.txt"}`)
	if strings.ContainsAny(r.Output, "\x1b\x07\u202e") || r.Output != "1\t\\x1b[2J\\x1b]0;pwn\\x07hi \ufffd\\u202e" {
		t.Errorf("Output = %q", r.Output)
	}
}

func TestListDir(t *testing.T) {
	s, root := newBox(t, Box{})
	write(t, filepath.Join(root, "b.txt"), "12345")
	write(t, filepath.Join(root, "a", "x"), "")
	if err := os.Symlink("b.txt", filepath.Join(root, "c-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, ".hidden"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := prepare(t, s, "list_dir", `{}`)
	if c.Summary != "list_dir ." || c.Args != `{"path":"."}` {
		t.Errorf("Summary %q Args %s", c.Summary, c.Args)
	}
	r := c.Run(context.Background())
	want := ".hidden/\na/\nb.txt\t5 bytes\nc-link -> b.txt"
	if r.IsError || r.Output != want {
		t.Errorf("list:\n%s\nwant:\n%s", r.Output, want)
	}
	if r = run(t, s, "list_dir", `{"path":"a/x"}`); !r.IsError || !strings.Contains(r.Output, "not a directory; use read_file") {
		t.Errorf("file: %+v", r)
	}
	if err := os.Mkdir(filepath.Join(root, "e"), 0o755); err != nil {
		t.Fatal(err)
	}
	if r = run(t, s, "list_dir", `{"path":"e"}`); r.Output != "(empty directory)" {
		t.Errorf("empty: %+v", r)
	}
}

func TestListDirCap(t *testing.T) {
	s, root := newBox(t, Box{MaxOutput: 1 << 20})
	for i := range 520 {
		write(t, filepath.Join(root, "many", fmt.Sprintf("f%04d", i)), "")
	}
	r := run(t, s, "list_dir", `{"path":"many"}`)
	lines := strings.Split(r.Output, "\n")
	if len(lines) != 501 || lines[499] != "f0499\t0 bytes" || !strings.HasPrefix(lines[500], "(20 more entries left out") {
		t.Errorf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestGrep(t *testing.T) {
	s, root := newBox(t, Box{})
	write(t, filepath.Join(root, "main.go"), "package main\n\nfunc main() {\n\t// TODO: greet\n}\n")
	write(t, filepath.Join(root, "pkg", "util.go"), "package pkg\n// todo later\nfunc Util() {}\n")
	write(t, filepath.Join(root, "README.md"), "TODO: write docs\r\n")
	write(t, filepath.Join(root, ".git", "config"), "TODO in git\n")
	write(t, filepath.Join(root, "node_modules", "x", "index.js"), "// TODO in deps\n")
	write(t, filepath.Join(root, ".github", "ci.yml"), "# TODO hidden but searched\n")
	write(t, filepath.Join(root, "blob.bin"), "TODO\x00binary")
	out := t.TempDir()
	write(t, filepath.Join(out, "leak.txt"), "TODO from outside\n")
	if err := os.Symlink(out, filepath.Join(root, "outdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(out, "leak.txt"), filepath.Join(root, "leak.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("main.go", filepath.Join(root, "alias.go")); err != nil {
		t.Fatal(err)
	}

	c := prepare(t, s, "grep", `{"pattern":"TODO"}`)
	if c.Summary != `grep "TODO" .` || !c.ReadOnly || c.NeedsApproval(true) {
		t.Errorf("Summary %q", c.Summary)
	}
	r := c.Run(context.Background())
	want := strings.Join([]string{
		".github/ci.yml:1: # TODO hidden but searched",
		"README.md:1: TODO: write docs",
		"alias.go:4: \t// TODO: greet",
		"main.go:4: \t// TODO: greet",
		"(skipped files: 1 binary, 1 leading out of the searched tree through a symlink)",
	}, "\n")
	if r.IsError || r.Output != want {
		t.Errorf("grep:\n%s\nwant:\n%s", r.Output, want)
	}

	r = run(t, s, "grep", `{"pattern":"(?i)todo","glob":"*.go"}`)
	want = "alias.go:4: \t// TODO: greet\nmain.go:4: \t// TODO: greet\npkg/util.go:2: // todo later"
	if r.Output != want {
		t.Errorf("glob:\n%s\nwant:\n%s", r.Output, want)
	}
	r = run(t, s, "grep", `{"pattern":"^func","path":"pkg/util.go"}`)
	if r.Output != "pkg/util.go:3: func Util() {}" {
		t.Errorf("one file: %q", r.Output)
	}
	r = run(t, s, "grep", `{"pattern":"nothing like this"}`)
	if r.IsError || !strings.HasPrefix(r.Output, "no matches (") {
		t.Errorf("no match: %+v", r)
	}
	// An explicitly given outside path is searched once approved.
	c = prepare(t, s, "grep", `{"pattern":"TODO","path":"outdir"}`)
	if len(c.Outside) != 1 || !c.NeedsApproval(true) {
		t.Errorf("outdir: Outside %v", c.Outside)
	}
	if r = c.Run(context.Background()); !strings.Contains(r.Output, "leak.txt:1: TODO from outside") {
		t.Errorf("outdir: %q", r.Output)
	}
}

func TestGrepCapAndLargeFiles(t *testing.T) {
	s, root := newBox(t, Box{MaxRead: 4096, MaxOutput: 1 << 20})
	write(t, filepath.Join(root, "many.txt"), strings.Repeat("hit\n", 250))
	write(t, filepath.Join(root, "abig.txt"), strings.Repeat("hit big\n", 1000))
	write(t, filepath.Join(root, "zz.txt"), "hit after the cap\n")
	r := run(t, s, "grep", `{"pattern":"hit"}`)
	lines := strings.Split(r.Output, "\n")
	if len(lines) != 202 || lines[199] != "many.txt:200: hit" ||
		lines[200] != "(stopped after 200 matches; narrow the pattern, path or glob to see the rest)" ||
		lines[201] != "(skipped files: 1 over 4096 bytes)" || strings.Contains(r.Output, "abig") {
		t.Errorf("%d lines; tail %q", len(lines), lines[len(lines)-3:])
	}
	// The walk stops at the cap instead of reading on.
	if strings.Contains(r.Output, "zz.txt") {
		t.Error("searched past the cap")
	}
}

func TestGrepCancelled(t *testing.T) {
	s, root := newBox(t, Box{})
	write(t, filepath.Join(root, "a.txt"), "x\n")
	c := prepare(t, s, "grep", `{"pattern":"x"}`)
	ctx, cancel := context.WithCancel(context.Background())
	inner := c.run
	c.run = func(c2 context.Context) outcome { cancel(); return inner(c2) }
	if r := c.Run(ctx); !r.IsError || r.Output != "stopped by the user" {
		t.Errorf("%+v", r)
	}
}

func TestGrepOutputLimit(t *testing.T) {
	s, root := newBox(t, Box{MaxOutput: 2000})
	write(t, filepath.Join(root, "wide.txt"), strings.Repeat("hit "+strings.Repeat("w", 100)+"\n", 150))
	r := run(t, s, "grep", `{"pattern":"hit"}`)
	if !strings.Contains(r.Output, "at the output limit; narrow the pattern") {
		t.Errorf("no limit note in %d bytes: %q", len(r.Output), r.Output[max(0, len(r.Output)-200):])
	}
}
