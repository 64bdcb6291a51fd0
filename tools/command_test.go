//go:build unix

package tools

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunCommand(t *testing.T) {
	s, root := newBox(t, Box{Env: []string{"GREETING=hello", "PATH=" + os.Getenv("PATH")}})
	write(t, filepath.Join(root, "f.txt"), "data\n")
	c := prepare(t, s, "run_command", `{"command":"echo $GREETING; pwd; cat f.txt; echo oops >&2; read x || echo no-input"}`)
	if c.ReadOnly || c.Summary != "run_command echo $GREETING; pwd; cat f.txt; echo oops >&2; read x || echo no-input" || c.Preview != "" {
		t.Errorf("call: %+v", c)
	}
	r := c.Run(context.Background())
	want := "hello\n" + root + "\ndata\noops\nno-input\nexit status 0"
	if r.IsError || r.Output != want {
		t.Errorf("Output = %q, want %q", r.Output, want)
	}
	// A failing command is a result, not a tool error.
	r = run(t, s, "run_command", `{"command":"echo failing; exit 3"}`)
	if r.IsError || r.Output != "failing\nexit status 3" {
		t.Errorf("exit 3: %+v", r)
	}
	r = run(t, s, "run_command", `{"command":"kill -TERM $$"}`)
	if r.IsError || r.Output != "killed by signal terminated" {
		t.Errorf("signal: %+v", r)
	}
	// A multi-line script is shown whole in the preview.
	c = prepare(t, s, "run_command", mustJSON(map[string]string{"command": "echo one\necho two\necho three"}))
	if c.Summary != "run_command echo one … (+2 lines)" || c.Preview != "echo one\necho two\necho three" {
		t.Errorf("multi-line: %q / %q", c.Summary, c.Preview)
	}
	if r = c.Run(context.Background()); r.Output != "one\ntwo\nthree\nexit status 0" {
		t.Errorf("multi-line: %q", r.Output)
	}
}

func TestRunCommandSanitized(t *testing.T) {
	s, _ := newBox(t, Box{})
	c := prepare(t, s, "run_command", `{"command":"printf '\\033[2J\\033]0;pwn\\007hi'"}`)
	r := c.Run(context.Background())
	for _, text := range []string{r.Output, c.Summary} {
		if strings.ContainsAny(text, "\x1b\x07") {
			t.Errorf("raw control byte in %q", text)
		}
	}
	if r.Output != `\x1b[2J\x1b]0;pwn\x07hi`+"\nexit status 0" {
		t.Errorf("Output = %q", r.Output)
	}
	c = prepare(t, s, "run_command", mustJSON(map[string]string{"command": "echo \x1b[31mred"}))
	if strings.ContainsRune(c.Summary, 0x1b) || c.Summary != `run_command echo \x1b[31mred` {
		t.Errorf("Summary = %q", c.Summary)
	}
}

// gone reports whether a process has exited (a zombie counts: it runs no
// more, and a container's init may be slow to reap it).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return os.IsNotExist(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// childPid reads the pid printed on the output's first line.
func childPid(t *testing.T, out string) int {
	t.Helper()
	first, _, _ := strings.Cut(out, "\n")
	pid, err := strconv.Atoi(first)
	if err != nil {
		t.Fatalf("no pid in %q", out)
	}
	return pid
}

func TestRunCommandTimeoutKillsGroup(t *testing.T) {
	s, _ := newBox(t, Box{Timeout: time.Second})
	start := time.Now()
	r := run(t, s, "run_command", `{"command":"sleep 1000"}`)
	if !r.IsError || r.Output != "timed out after 1s (killed)" || time.Since(start) > 10*time.Second {
		t.Errorf("sleep: %+v", r)
	}
	// The child of the shell is killed too, not only the shell.
	r = run(t, s, "run_command", `{"command":"sleep 1000 & echo $!; wait"}`)
	if !r.IsError || !strings.HasSuffix(r.Output, "\ntimed out after 1s (killed)") {
		t.Errorf("child: %+v", r)
	}
	waitGone(t, childPid(t, r.Output))
	// timeout_seconds may shorten the limit but not lengthen it.
	s2, _ := newBox(t, Box{Timeout: 2 * time.Second})
	r = run(t, s2, "run_command", `{"command":"sleep 1000","timeout_seconds":1}`)
	if r.Output != "timed out after 1s (killed)" {
		t.Errorf("timeout_seconds 1: %q", r.Output)
	}
	r = run(t, s2, "run_command", `{"command":"sleep 1000","timeout_seconds":500}`)
	if r.Output != "timed out after 2s (killed)" {
		t.Errorf("timeout_seconds 500: %q", r.Output)
	}
}

// Endless output keeps only its start and end in memory and in Output.
func TestRunCommandEndlessOutput(t *testing.T) {
	s, _ := newBox(t, Box{Timeout: time.Second, MaxOutput: 4096})
	r := run(t, s, "run_command", `{"command":"yes"}`)
	if !r.IsError || !r.Truncated || !strings.HasSuffix(r.Output, "\ntimed out after 1s (killed)") {
		t.Fatalf("yes: truncated=%v tail %q", r.Truncated, r.Output[max(0, len(r.Output)-80):])
	}
	if len(r.Output) > 4096+200 {
		t.Errorf("Output is %d bytes", len(r.Output))
	}
	if !strings.HasPrefix(r.Output, "y\ny\ny\n") || !strings.Contains(r.Output, " bytes of output left out) …\n") {
		t.Errorf("head: %q", r.Output[:60])
	}
	// Head and tail are kept when a command ends on its own.
	r = run(t, s, "run_command", `{"command":"echo START; seq 1 100000; echo END"}`)
	if r.IsError || !r.Truncated || !strings.HasPrefix(r.Output, "START\n1\n2\n") ||
		!strings.HasSuffix(r.Output, "100000\nEND\nexit status 0") {
		t.Errorf("seq: %q … %q", r.Output[:20], r.Output[len(r.Output)-40:])
	}
}

func TestRunCommandCancel(t *testing.T) {
	s, _ := newBox(t, Box{})
	ctx, cancel := context.WithCancel(context.Background())
	c := prepare(t, s, "run_command", `{"command":"sleep 1000 & echo $!; wait"}`)
	done := make(chan Result)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	var r Result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("cancel did not stop the command")
	}
	if !r.IsError || !strings.HasSuffix(r.Output, "\nstopped by the user") {
		t.Fatalf("cancel: %+v", r)
	}
	waitGone(t, childPid(t, r.Output))
}

// Background processes do not outlive the command, nor hold up its end.
func TestRunCommandBackgroundStopped(t *testing.T) {
	s, _ := newBox(t, Box{})
	start := time.Now()
	r := run(t, s, "run_command", `{"command":"sleep 1000 & echo $!"}`)
	if r.IsError || !strings.HasSuffix(r.Output, "\nexit status 0") || time.Since(start) > 10*time.Second {
		t.Fatalf("background: %+v", r)
	}
	waitGone(t, childPid(t, r.Output))
}

func TestCapture(t *testing.T) {
	for _, n := range []int{0, 1, 5, 10, 11, 37, 1000} {
		var all strings.Builder
		for i := range n {
			all.WriteByte(byte('a' + i%26))
		}
		s := all.String()
		c := newCapture(10)
		// Writes of varying sizes exercise the head, the ring and its wrap.
		for rest, k := s, 1; rest != ""; k = k%4 + 1 {
			k = min(k, len(rest))
			c.Write([]byte(rest[:k]))
			rest = rest[k:]
		}
		got, cut := c.text(10)
		if len(s) <= 10 {
			if got != s || cut {
				t.Errorf("n=%d: %q, want %q", n, got, s)
			}
			continue
		}
		want := s[:5] + leftOut(int64(len(s)-10)) + s[len(s)-5:]
		if got != want || !cut {
			t.Errorf("n=%d: %q, want %q", n, got, want)
		}
	}
	// A large write replaces the whole ring.
	c := newCapture(10)
	c.Write([]byte("0123456789abcdefghijklmnop"))
	if got, _ := c.text(10); got != "01234"+leftOut(16)+"lmnop" {
		t.Errorf("big write: %q", got)
	}
	// Multi-byte runes are not split at the cuts.
	c = newCapture(10)
	c.Write([]byte("abcd" + "é" + strings.Repeat("-", 20) + "é" + "wxyz"))
	got, _ := c.text(10)
	if !strings.HasPrefix(got, "abcd\n") || !strings.HasSuffix(got, "\nwxyz") || strings.ContainsRune(got, '\ufffd') {
		t.Errorf("runes: %q", got)
	}
}
