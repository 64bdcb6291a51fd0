package ui

import (
	"strings"
	"testing"
	"time"

	"natter/engine/api"
)

// The engine is never held up by the UI: the pump drains the stream even
// while nothing asks for the next frame.
func TestPumpNeverBlocksTheEngine(t *testing.T) {
	ch := make(chan api.Event) // unbuffered: every send waits for a reader
	p := startPump(1, ch)
	sent := make(chan struct{})
	go func() {
		for range 10000 {
			ch <- api.Event{Kind: api.EventText, Text: "x"}
		}
		ch <- api.Event{Kind: api.EventDone, Stats: &api.Stats{GeneratedTokens: 10000}}
		close(ch)
		close(sent)
	}()
	select {
	case <-sent:
	case <-time.After(5 * time.Second):
		t.Fatal("the engine was blocked by a UI that did not read")
	}
	msg := p.next()().(streamMsg)
	if msg.pieces != 10000 || len(msg.text) != 10000 || msg.final == nil || msg.final.Stats.GeneratedTokens != 10000 {
		t.Fatalf("got %d pieces, %d bytes, final %v", msg.pieces, len(msg.text), msg.final)
	}
}

// Pieces that arrive within a frame reach Update as one message.
func TestPumpCoalescesAFrame(t *testing.T) {
	ch := make(chan api.Event)
	p := startPump(7, ch)
	go func() {
		for i := range 2000 {
			ch <- api.Event{Kind: api.EventText, Text: string(rune('a' + i%26))}
			if i%100 == 0 {
				time.Sleep(time.Millisecond) // about 100k tok/s, in bursts
			}
		}
		ch <- api.Event{Kind: api.EventDone, Stats: &api.Stats{}}
		close(ch)
	}()
	var b strings.Builder
	msgs, pieces := 0, 0
	for {
		m := p.next()().(streamMsg)
		if m.id != 7 {
			t.Fatalf("id %d", m.id)
		}
		msgs++
		pieces += m.pieces
		b.WriteString(m.text)
		if m.final != nil {
			break
		}
	}
	if pieces != 2000 || b.Len() != 2000 {
		t.Fatalf("%d pieces, %d bytes", pieces, b.Len())
	}
	if msgs > 100 {
		t.Fatalf("%d messages for 2000 pieces: not coalesced", msgs)
	}
}

func TestPumpReportsAStreamThatEndsEarly(t *testing.T) {
	ch := make(chan api.Event)
	p := startPump(1, ch)
	go func() {
		ch <- api.Event{Kind: api.EventText, Text: "half"}
		close(ch)
	}()
	var final *api.Event
	for final == nil {
		final = p.next()().(streamMsg).final
	}
	if final.Kind != api.EventError || final.Err == nil {
		t.Fatalf("final = %+v", final)
	}
}

// A buffered stream (the engine's) is read in batches; nothing is lost or
// reordered, and the end still arrives.
func TestPumpReadsABufferedStreamWhole(t *testing.T) {
	ch := make(chan api.Event, 256)
	p := startPump(3, ch)
	var want strings.Builder
	go func() {
		for i := range 20000 {
			s := string(rune('a' + i%26))
			want.WriteString(s)
			ch <- api.Event{Kind: api.EventText, Text: s}
		}
		ch <- api.Event{Kind: api.EventDone, Stats: &api.Stats{GeneratedTokens: 20000}}
		close(ch)
	}()
	var b strings.Builder
	pieces := 0
	for {
		m := p.next()().(streamMsg)
		pieces += m.pieces
		b.WriteString(m.text)
		if m.final != nil {
			if m.final.Kind != api.EventDone || m.final.Stats.GeneratedTokens != 20000 {
				t.Fatalf("final %+v", m.final)
			}
			break
		}
	}
	if pieces != 20000 || b.String() != want.String() {
		t.Fatalf("%d pieces, %d bytes, same text: %v", pieces, b.Len(), b.String() == want.String())
	}
}
