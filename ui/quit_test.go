package ui

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"natter/engine/api"
)

// endlessGen streams text until its context is cancelled, like a model
// that never reaches end-of-generation.
type endlessGen struct{ *fakeGen }

func (g endlessGen) Generate(ctx context.Context, req api.Request) (<-chan api.Event, error) {
	ch := make(chan api.Event)
	go func() {
		defer close(ch)
		for i := 0; ; i++ {
			select {
			case ch <- api.Event{Kind: api.EventText, Text: "word "}:
				time.Sleep(time.Millisecond)
			case <-ctx.Done():
				ch <- api.Event{Kind: api.EventDone, Stats: &api.Stats{GeneratedTokens: i, StopReason: api.StopCancelled}}
				return
			}
		}
	}()
	return ch, nil
}

// Every way of quitting while a reply streams ends the program, and the
// partial reply reaches the recorder.
func TestQuitWhileStreaming(t *testing.T) {
	for _, tc := range []struct {
		name, keys string
		fullscreen bool
	}{
		{"ctrl+d", "\x04", false},
		{"ctrl+d fullscreen", "\x04", true},
		{"/quit", "/quit\r", false},
		{"/quit fullscreen", "/quit\r", true},
		// The first press stops the reply, the second quits.
		{"ctrl+c twice", "\x03\x03", false},
		{"ctrl+c twice fullscreen", "\x03\x03", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			inR, inW := io.Pipe()
			defer inW.Close()
			out := &syncBuffer{}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done := make(chan error, 1)
			cfg := Config{Gen: endlessGen{newFakeGen()}, Theme: "dark", Recorder: rec, Fullscreen: tc.fullscreen}
			go func() { done <- run(ctx, cfg, inR, out, tea.WithWindowSize(80, 24)) }()
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
			io.WriteString(inW, "tell me\r")
			waitOut("word word word")
			time.Sleep(200 * time.Millisecond) // several frames into the reply
			io.WriteString(inW, tc.keys)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the program did not end after quitting during a reply")
			}
			rec.mu.Lock()
			calls := strings.Join(rec.calls, "|")
			rec.mu.Unlock()
			if !strings.Contains(calls, "finish word word") || !strings.Contains(calls, " cancelled ") {
				t.Fatalf("partial reply not saved as stopped: %s", calls)
			}
		})
	}
}

// silentGen sends nothing until its context is cancelled: a long prefill.
type silentGen struct{ *fakeGen }

func (g silentGen) Generate(ctx context.Context, req api.Request) (<-chan api.Event, error) {
	ch := make(chan api.Event)
	go func() {
		defer close(ch)
		<-ctx.Done()
		ch <- api.Event{Kind: api.EventDone, Stats: &api.Stats{StopReason: api.StopCancelled}}
	}()
	return ch, nil
}

// Quitting before the first token keeps the message that was sent: Esc
// there takes it back into the input, but on quit the input goes away with
// the program, so it stays in the saved chat with the reply marked stopped.
func TestQuitBeforeFirstTokenKeepsTheMessage(t *testing.T) {
	rec := &recorder{}
	inR, inW := io.Pipe()
	defer inW.Close()
	out := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	cfg := Config{Gen: silentGen{newFakeGen()}, Theme: "dark", Recorder: rec}
	go func() { done <- run(ctx, cfg, inR, out, tea.WithWindowSize(80, 24)) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(ansi.Strip(out.String()), "Message natter") {
		if time.Now().After(deadline) {
			t.Fatalf("no input box:\n%s", ansi.Strip(out.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	io.WriteString(inW, "tell me\r")
	time.Sleep(200 * time.Millisecond) // the reply has started, no token yet
	io.WriteString(inW, "\x04")
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the program did not end")
	}
	rec.mu.Lock()
	calls := strings.Join(rec.calls, "|")
	rec.mu.Unlock()
	if !strings.Contains(calls, "append user tell me") || strings.Contains(calls, "rewrite") || !strings.Contains(calls, " cancelled ") {
		t.Fatalf("the sent message was not kept with a stopped reply: %s", calls)
	}
}
