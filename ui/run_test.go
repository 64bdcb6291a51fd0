package ui

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Run drives a real tea.Program: keys come in as bytes, the screen goes out
// as escape sequences.
func TestRunProgram(t *testing.T) {
	g := newFakeGen(tokens("Streamed **reply** from the fake engine.", 3)...)
	inR, inW := io.Pipe()
	out := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, Config{Gen: g, Theme: "dark"}, inR, out, tea.WithWindowSize(80, 24)) }()
	waitOut := func(s string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(ansi.Strip(out.String()), s) {
			if time.Now().After(deadline) {
				t.Fatalf("output never showed %q:\n%s", s, ansi.Strip(out.String()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitOut("Message natter")
	io.WriteString(inW, "hello")
	time.Sleep(100 * time.Millisecond)
	io.WriteString(inW, "\r")
	waitOut("fake engine.")
	waitOut("123.4 tok/s")
	// alt+enter (ESC CR) and ctrl+j (LF) insert newlines; CR sends.
	io.WriteString(inW, "one\x1b\rtwo\nthree")
	time.Sleep(100 * time.Millisecond)
	io.WriteString(inW, "\r")
	waitFor := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(g.requests()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("request %d never came:\n%s", n, ansi.Strip(out.String()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(2)
	if got := g.requests()[1].Messages[2].Content; got != "one\ntwo\nthree" {
		t.Fatalf("multi-line input sent as %q", got)
	}
	// A 100 KB bracketed paste arrives whole.
	paste := strings.Repeat("pasted line\n", 100<<10/12)
	time.Sleep(300 * time.Millisecond)
	io.WriteString(inW, "\x1b[200~"+paste+"\x1b[201~")
	time.Sleep(200 * time.Millisecond)
	io.WriteString(inW, "\r")
	waitFor(3)
	if got := g.requests()[2].Messages[4].Content; got != paste {
		t.Fatalf("paste sent as %d bytes, want %d", len(got), len(paste))
	}
	time.Sleep(300 * time.Millisecond)
	io.WriteString(inW, "\x04") // ctrl+d on the empty prompt
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctrl+d")
	}
	inW.Close()
	if n := strings.Count(ansi.Strip(out.String()), "? or /help for keys"); n != 1 {
		t.Errorf("banner printed %d times:\n%s", n, ansi.Strip(out.String()))
	}
	if n := len(g.requests()); n != 3 || g.requests()[0].Messages[0].Content != "hello" {
		t.Fatalf("requests: %+v", g.requests())
	}
}
