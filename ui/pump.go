package ui

import (
	"errors"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"natter/engine/api"
)

// frameInterval bounds how often streamed text reaches Update: pieces that
// arrive within one frame are delivered together, so a fast model costs one
// repaint per frame rather than one per token. About 30 a second: smooth
// to read, and little CPU taken from the model on a small machine.
const frameInterval = 33 * time.Millisecond

// pump drains a generation stream on its own goroutine so the engine never
// waits for the UI, and hands over whatever has accumulated once per frame.
type pump struct {
	id     int
	mu     sync.Mutex
	text   strings.Builder
	pieces int
	final  *api.Event // EventDone or EventError, once seen
	// prefill: the prompt figures, once the engine has processed it.
	prefill *api.Stats
	notice  string // the latest EventNotice not yet shown
	closed  bool
	notify  chan struct{} // capacity 1: "something new is pending"
}

// streamMsg carries the text gathered during one frame.
type streamMsg struct {
	id     int
	text   string
	pieces int        // number of text events (≈ tokens)
	final  *api.Event // set on the last delivery of a stream
	// prefill holds the prompt figures once the engine has processed it
	// (context use while the reply streams); nil before.
	prefill *api.Stats
	notice  string // a note from the generator (a retry countdown)
}

func startPump(id int, ch <-chan api.Event) *pump {
	p := &pump{id: id, notify: make(chan struct{}, 1)}
	go p.run(ch)
	return p
}

// batchPause lets a buffered stream fill a little between reads: a reader
// that waits on an empty channel is woken for every token, and each wake-up
// costs the engine's thread time on a small machine. A few milliseconds of
// tokens fit many times over in the engine's buffer, so it never waits.
const batchPause = 2 * time.Millisecond

func (p *pump) run(ch <-chan api.Event) {
	var woke time.Time
	for {
		ev, ok := <-ch
		if !ok {
			break
		}
		p.add(ev)
		// Take whatever else is waiting without blocking.
		open := true
	drain:
		for open {
			select {
			case ev, open = <-ch:
				if open {
					p.add(ev)
				}
			default:
				break drain
			}
		}
		if !open {
			break
		}
		if now := time.Now(); cap(ch) > 0 && now.Sub(woke) < batchPause {
			// Tokens are coming fast: let some gather before reading on.
			time.Sleep(batchPause)
		}
		woke = time.Now()
	}
	p.mu.Lock()
	if p.final == nil {
		p.final = &api.Event{Kind: api.EventError, Err: errors.New("the engine closed the stream without finishing")}
	}
	p.closed = true
	p.mu.Unlock()
	p.poke()
}

func (p *pump) add(ev api.Event) {
	p.mu.Lock()
	switch ev.Kind {
	case api.EventText:
		p.text.WriteString(ev.Text)
		p.pieces++
	case api.EventPrefill:
		p.prefill = ev.Stats
	case api.EventNotice:
		p.notice = ev.Text
	case api.EventDone, api.EventError:
		if p.final == nil {
			e := ev
			p.final = &e
		}
	}
	p.mu.Unlock()
	p.poke()
}

func (p *pump) poke() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// take removes and returns what is pending.
func (p *pump) take() streamMsg {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := streamMsg{id: p.id, text: p.text.String(), pieces: p.pieces, prefill: p.prefill, notice: p.notice}
	p.notice = ""
	p.text.Reset()
	p.pieces = 0
	if p.closed {
		m.final = p.final
	}
	return m
}

// next waits for pending output, lets one frame's worth accumulate, and
// delivers it as a single message.
func (p *pump) next() tea.Cmd {
	return func() tea.Msg {
		<-p.notify
		time.Sleep(frameInterval)
		return p.take()
	}
}
