package ui

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"natter/engine/api"
	"natter/prompts"
)

// fakeGen is a scripted engine: the thing under test is the UI, so the
// generator just replays pieces and reports figures like the real one.
type fakeGen struct {
	mu         sync.Mutex
	info       api.ModelInfo
	pieces     []string
	pauseAfter int           // with gate: wait after this many pieces
	gate       chan struct{} // nil: never pause
	holdPrompt chan struct{} // non-nil: the prompt (prefill) waits for it, as an image encode does
	failWith   error         // Generate fails up front
	streamErr  error         // the stream ends with this error after the pieces
	stopReason string
	dropped    int    // turns the "engine" left out of the prompt, reported in the final figures
	notice     string // sent as an EventNotice before piece noticeAt ("": none)
	noticeAt   int
	reqs       []api.Request
	cancelled  int
}

func newFakeGen(pieces ...string) *fakeGen {
	return &fakeGen{
		info:   api.ModelInfo{Name: "tiny-llama", Path: "/models/tiny-llama.gguf", Quantization: "Q8_0", ContextSize: 8192, BOS: "<s>", EOS: "</s>", ChatTemplate: "(chatml)"},
		pieces: pieces,
	}
}

func (g *fakeGen) Info() api.ModelInfo { return g.info }

func (g *fakeGen) CountTokens(text string, special bool) (int, error) {
	return (len(text) + 3) / 4, nil
}

func (g *fakeGen) RenderPrompt(req api.Request) (string, string, error) {
	var b strings.Builder
	for _, m := range req.Messages {
		fmt.Fprintf(&b, "<|im_start|>%s\n%s<|im_end|>\n", m.Role, m.Content)
	}
	b.WriteString("<|im_start|>assistant\n")
	return b.String(), "fake:chatml", nil
}

func (g *fakeGen) requests() []api.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]api.Request(nil), g.reqs...)
}

func (g *fakeGen) Generate(ctx context.Context, req api.Request) (<-chan api.Event, error) {
	g.mu.Lock()
	g.reqs = append(g.reqs, req)
	pieces, gate, pause, serr, reason, dropped := g.pieces, g.gate, g.pauseAfter, g.streamErr, g.stopReason, g.dropped
	g.mu.Unlock()
	if g.failWith != nil {
		return nil, g.failWith
	}
	prompt, _, _ := g.RenderPrompt(req)
	promptTok, _ := g.CountTokens(prompt, true)
	ch := make(chan api.Event) // unbuffered, like an engine that waits for its reader
	go func() {
		defer close(ch)
		done := func(reason string, n int) {
			ch <- api.Event{Kind: api.EventDone, Stats: &api.Stats{
				PromptTokens: promptTok, CachedTokens: promptTok * 9 / 10, GeneratedTokens: n,
				DecodeTPS: 123.4, TTFT: 42 * time.Millisecond, StopReason: reason,
				ContextUsed: promptTok + n, ContextSize: 8192, Template: "fake:chatml",
				DroppedTurns: dropped,
			}}
		}
		if hold := g.holdPrompt; hold != nil {
			select {
			case <-hold:
			case <-ctx.Done():
				done(api.StopCancelled, 0)
				return
			}
		}
		// Like the engine: the prompt figures before the first token.
		select {
		case ch <- api.Event{Kind: api.EventPrefill, Stats: &api.Stats{
			PromptTokens: promptTok, CachedTokens: promptTok * 9 / 10,
			ContextUsed: promptTok, ContextSize: 8192, Template: "fake:chatml",
		}}:
		case <-ctx.Done():
			done(api.StopCancelled, 0)
			return
		}
		for i, p := range pieces {
			if g.notice != "" && i == g.noticeAt {
				ch <- api.Event{Kind: api.EventNotice, Text: g.notice}
			}
			if gate != nil && i == pause {
				select {
				case <-gate:
				case <-ctx.Done():
					g.mu.Lock()
					g.cancelled++
					g.mu.Unlock()
					done(api.StopCancelled, i)
					return
				}
			}
			select {
			case ch <- api.Event{Kind: api.EventText, Text: p}:
			case <-ctx.Done():
				done(api.StopCancelled, i)
				return
			}
		}
		if serr != nil {
			ch <- api.Event{Kind: api.EventError, Err: serr}
			return
		}
		if reason == "" {
			reason = api.StopEOG
		}
		done(reason, len(pieces))
	}()
	return ch, nil
}

// harness drives the model the way a Program does: commands run on their
// own goroutines and their messages come back through one queue.
type harness struct {
	t    testing.TB
	m    Model
	msgs chan tea.Msg
	quit bool
	// onPrint sees each tea.Println as the program would carry it out, and
	// onFrame each frame (the program draws after every update); nil: none.
	onPrint func(text string)
	onFrame func(view string)
}

func newHarness(t testing.TB, cfg Config, w, h int) *harness {
	t.Helper()
	hs := &harness{t: t, m: New(cfg), msgs: make(chan tea.Msg, 4096)}
	hs.m.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	hs.m.baseCtx = t.Context() // ends watchers and downloads with the test
	hs.dispatch(hs.m.Init())
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	hs.settle()
	return hs
}

var cmdSliceType = reflect.TypeOf([]tea.Cmd{})

func (h *harness) dispatch(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() { h.deliver(cmd()) }()
}

func (h *harness) deliver(msg tea.Msg) {
	if msg == nil {
		return
	}
	if b, ok := msg.(tea.BatchMsg); ok {
		for _, c := range b {
			h.dispatch(c)
		}
		return
	}
	// tea.Sequence's message type is unexported; it is a []tea.Cmd.
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().ConvertibleTo(cmdSliceType) {
		for _, c := range v.Convert(cmdSliceType).Interface().([]tea.Cmd) {
			if c != nil {
				h.deliver(c())
			}
		}
		return
	}
	h.msgs <- msg
}

func (h *harness) send(msg tea.Msg) {
	if _, ok := msg.(tea.QuitMsg); ok {
		h.quit = true
		return
	}
	if h.onPrint != nil {
		// Bubble Tea's print message type is unexported: its only field is the text.
		if v := reflect.ValueOf(msg); v.Kind() == reflect.Struct && v.Type().String() == "tea.printLineMessage" {
			h.onPrint(v.Field(0).String())
		}
	}
	nm, cmd := h.m.Update(msg)
	h.m = nm.(Model)
	h.dispatch(cmd)
	if h.onFrame != nil {
		h.onFrame(h.m.View().Content)
	}
}

// waitFor processes messages until cond holds.
func (h *harness) waitFor(what string, cond func(m Model) bool) {
	h.t.Helper()
	deadline := time.After(5 * time.Second)
	for !cond(h.m) {
		select {
		case msg := <-h.msgs:
			h.send(msg)
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s; screen:\n%s", what, h.screen())
		}
	}
}

// settle processes messages until none arrive for a while.
func (h *harness) settle() {
	for {
		select {
		case msg := <-h.msgs:
			h.send(msg)
		case <-time.After(150 * time.Millisecond):
			return
		}
	}
}

// typeText types s as a person does: the keys, then a pause.
func (h *harness) typeText(s string) {
	h.typeBurst(s)
	h.pause()
}

// typeBurst sends s as keystrokes with no pause, as a terminal without
// bracketed paste sends a paste ("\n" as Enter).
func (h *harness) typeBurst(s string) {
	for _, r := range s {
		switch r {
		case '\n':
			h.send(tea.KeyPressMsg{Code: tea.KeyEnter})
		case '\t':
			h.send(tea.KeyPressMsg{Code: tea.KeyTab})
		default:
			h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
		}
	}
}

// pause lets the burst timer fire with no new keys: typed text reaches the
// input.
func (h *harness) pause() {
	for i := 0; i < 2 && h.m.bursting(); i++ {
		h.send(burstTickMsg{seq: h.m.burstSeq})
	}
}

func (h *harness) key(code rune, mod tea.KeyMod) {
	h.send(tea.KeyPressMsg{Code: code, Mod: mod})
}

func (h *harness) enter() { h.key(tea.KeyEnter, 0) }

func (h *harness) idle() bool { return h.m.cur == nil && h.m.busy == "" }

// screen is what the terminal shows: in inline mode the scrollback above
// the live region, cut to the window height.
func (h *harness) screen() string {
	view := h.m.View().Content
	var lines []string
	if !h.m.fullscreen {
		for _, s := range h.m.scrollback {
			lines = append(lines, strings.Split(s, "\n")...)
		}
	}
	lines = append(lines, strings.Split(view, "\n")...)
	if len(lines) > h.m.height {
		lines = lines[len(lines)-h.m.height:]
	}
	for i, l := range lines {
		lines[i] = strings.TrimRight(ansi.Strip(l), " ")
	}
	return strings.Join(lines, "\n")
}

func (h *harness) lastMsgs() []prompts.Message { return h.m.msgs }
