package ui

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"natter/engine/api"
	"natter/prompts"
)

func sendAndWait(h *harness, text string) {
	h.t.Helper()
	h.typeText(text)
	h.enter()
	h.waitFor("the reply to "+text, func(m Model) bool { return m.cur == nil })
	h.settle()
}

func TestReplyIsStreamedAndRecorded(t *testing.T) {
	g := newFakeGen(tokens("Hello **there**.\n\nSecond paragraph.", 2)...)
	h := newHarness(t, Config{Gen: g, System: "be brief"}, 80, 24)
	sendAndWait(h, "hi")
	reqs := g.requests()
	if len(reqs) != 1 {
		t.Fatalf("want 1 request, got %d", len(reqs))
	}
	want := []prompts.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}}
	if len(reqs[0].Messages) != 2 || !reqs[0].Messages[0].Equal(want[0]) || !reqs[0].Messages[1].Equal(want[1]) {
		t.Fatalf("request messages = %+v", reqs[0].Messages)
	}
	msgs := h.lastMsgs()
	if got := msgs[len(msgs)-1]; got.Role != "assistant" || got.Content != "Hello **there**.\n\nSecond paragraph." {
		t.Fatalf("assistant message = %+v", got)
	}
	scr := h.screen()
	for _, s := range []string{"› hi", "Hello there.", "Second paragraph.", "ctx ", "123.4 tok/s", "ttft 42ms", "cache "} {
		if !strings.Contains(scr, s) {
			t.Errorf("screen lacks %q:\n%s", s, scr)
		}
	}
	// Each finished block reaches the scrollback exactly once.
	if n := strings.Count(ansi.Strip(strings.Join(h.m.scrollback, "\n")), "Second paragraph."); n != 1 {
		t.Errorf("reply printed %d times", n)
	}
}

func TestEscStopsAtOnceAndKeepsPartial(t *testing.T) {
	g := newFakeGen(tokens("Partial answer that goes on and on", 4)...)
	g.gate, g.pauseAfter = make(chan struct{}), 3
	h := newHarness(t, Config{Gen: g}, 80, 24)
	h.typeText("go")
	h.enter()
	h.waitFor("three tokens", func(m Model) bool { return m.cur != nil && m.cur.tokens == 3 })
	h.key(tea.KeyEscape, 0)
	if h.m.cur != nil {
		t.Fatal("reply still streaming right after Esc")
	}
	last := h.m.msgs[len(h.m.msgs)-1]
	if last.Role != "assistant" || last.Content != "Partial answ" {
		t.Fatalf("partial reply not kept: %+v", last)
	}
	h.waitFor("final stats of the stopped reply", func(m Model) bool { return m.last != nil })
	g.mu.Lock()
	c := g.cancelled
	g.mu.Unlock()
	if c != 1 {
		t.Fatalf("engine context not cancelled (cancelled=%d)", c)
	}
	if m := h.m.last; m.StopReason != api.StopCancelled {
		t.Errorf("stop reason %q", m.StopReason)
	}
	if !strings.Contains(h.screen(), "■ stopped") {
		t.Errorf("no stopped mark:\n%s", h.screen())
	}
}

// Ctrl+C stops a reply, then clears the input, then quits: each press arms
// the next for 2 s, so an empty input quits on the second press, even when
// the first one stopped a reply.
func TestCtrlC(t *testing.T) {
	g := newFakeGen("a", "b", "c")
	g.gate, g.pauseAfter = make(chan struct{}), 1
	h := newHarness(t, Config{Gen: g}, 80, 24)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.m.now = func() time.Time { return clock }
	h.typeText("x")
	h.enter()
	h.waitFor("a token", func(m Model) bool { return m.cur != nil && m.cur.tokens == 1 })
	h.key('c', tea.ModCtrl)
	if h.m.cur != nil || h.quit {
		t.Fatal("ctrl+c while streaming must stop the reply, not quit")
	}
	h.settle()
	if !strings.Contains(h.screen(), "Press Ctrl+C again to quit") {
		t.Errorf("no hint after stopping:\n%s", h.screen())
	}
	clock = clock.Add(time.Second)
	h.key('c', tea.ModCtrl)
	h.settle()
	if !h.quit {
		t.Fatal("the second ctrl+c after stopping a reply did not quit")
	}
}

func TestCtrlCClearsTheInputFirst(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen("ok")}, 80, 24)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.m.now = func() time.Time { return clock }
	h.typeText("a draft")
	h.key('c', tea.ModCtrl)
	h.settle()
	if h.quit || h.m.input.Value() != "" {
		t.Fatalf("ctrl+c on a draft: quit=%v input %q", h.quit, h.m.input.Value())
	}
	if !strings.Contains(h.screen(), "Input cleared") {
		t.Errorf("no hint:\n%s", h.screen())
	}
	// The cleared text is not lost.
	h.key(tea.KeyUp, 0)
	if v := h.m.input.Value(); v != "a draft" {
		t.Fatalf("up after clearing gave %q", v)
	}
	// Typing disarms: the next press clears again, it does not quit.
	h.key('c', tea.ModCtrl)
	if h.quit || h.m.input.Value() != "" {
		t.Fatalf("ctrl+c on a recalled draft: quit=%v input %q", h.quit, h.m.input.Value())
	}
	clock = clock.Add(2500 * time.Millisecond)
	h.key('c', tea.ModCtrl)
	h.settle()
	if h.quit {
		t.Fatal("ctrl+c 2.5 s after the last press quit")
	}
	if !strings.Contains(h.screen(), "Ctrl+C again") {
		t.Errorf("no hint:\n%s", h.screen())
	}
	clock = clock.Add(time.Second)
	h.key('c', tea.ModCtrl)
	h.settle()
	if !h.quit {
		t.Fatal("second ctrl+c within 2 s on an empty input did not quit")
	}
}

func TestCtrlUAndEscClearTheInput(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen("ok")}, 80, 24)
	h.typeText("one")
	h.key(tea.KeyEnter, tea.ModShift)
	h.typeText("two")
	h.key('u', tea.ModCtrl)
	if v := h.m.input.Value(); v != "" {
		t.Fatalf("ctrl+u left %q", v)
	}
	h.key(tea.KeyUp, 0)
	if v := h.m.input.Value(); v != "one\ntwo" {
		t.Fatalf("up after ctrl+u gave %q", v)
	}
	// Esc first dismisses an error line, then clears.
	h.m.errLine = "some error"
	h.key(tea.KeyEscape, 0)
	if h.m.errLine != "" || h.m.input.Value() != "one\ntwo" {
		t.Fatalf("first esc: error %q input %q", h.m.errLine, h.m.input.Value())
	}
	h.key(tea.KeyEscape, 0)
	if v := h.m.input.Value(); v != "" {
		t.Fatalf("esc left %q", v)
	}
	if h.quit {
		t.Fatal("clearing quit")
	}
}

func TestCtrlDQuitsOnlyOnEmptyInput(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen()}, 80, 24)
	h.typeText("draft")
	h.key('d', tea.ModCtrl)
	h.settle()
	if h.quit {
		t.Fatal("ctrl+d with text in the input quit")
	}
	h.m.input.Reset()
	h.key('d', tea.ModCtrl)
	h.settle()
	if !h.quit {
		t.Fatal("ctrl+d on an empty prompt did not quit")
	}
}

func TestNewlineKeysAndHistory(t *testing.T) {
	g := newFakeGen("ok")
	h := newHarness(t, Config{Gen: g}, 80, 24)
	h.typeText("one")
	h.key(tea.KeyEnter, tea.ModShift)
	h.typeText("two")
	h.key(tea.KeyEnter, tea.ModAlt)
	h.typeText("three")
	h.key('j', tea.ModCtrl)
	h.typeText("four")
	h.enter()
	h.waitFor("reply", func(m Model) bool { return m.cur == nil })
	reqs := g.requests()
	if got := reqs[0].Messages[0].Content; got != "one\ntwo\nthree\nfour" {
		t.Fatalf("sent %q", got)
	}
	sendAndWait(h, "second")
	h.key(tea.KeyUp, 0)
	if v := h.m.input.Value(); v != "second" {
		t.Fatalf("up recalled %q", v)
	}
	// The recalled text has one line, so up goes further back.
	h.key(tea.KeyUp, 0)
	if v := h.m.input.Value(); v != "one\ntwo\nthree\nfour" {
		t.Fatalf("second up recalled %q", v)
	}
	// The cursor is on the last of four lines: up moves inside the text.
	h.key(tea.KeyUp, 0)
	if v := h.m.input.Value(); v != "one\ntwo\nthree\nfour" || h.m.input.Line() != 2 {
		t.Fatalf("up inside a multi-line input changed it: %q line %d", v, h.m.input.Line())
	}
	h.key(tea.KeyDown, 0)
	h.key(tea.KeyDown, 0)
	if v := h.m.input.Value(); v != "second" {
		t.Fatalf("down went to %q", v)
	}
	h.key(tea.KeyDown, 0)
	if v := h.m.input.Value(); v != "" {
		t.Fatalf("down past the newest gave %q, want the empty draft", v)
	}
}

func TestLargePasteIsKeptWhole(t *testing.T) {
	g := newFakeGen("ok")
	h := newHarness(t, Config{Gen: g}, 80, 24)
	var b strings.Builder
	for b.Len() < 100<<10 {
		b.WriteString("line of pasted text with some words in it\r\n")
	}
	paste := b.String()
	h.typeText("summarise: ")
	h.send(tea.PasteMsg{Content: paste})
	if v := h.m.input.Value(); len(v) > 200 || !strings.Contains(v, "[paste #1:") {
		t.Fatalf("input holds %d bytes: %.80q", len(v), v)
	}
	h.enter()
	h.waitFor("reply", func(m Model) bool { return m.cur == nil })
	want := "summarise: " + strings.ReplaceAll(paste, "\r\n", "\n")
	if got := g.requests()[0].Messages[0].Content; got != want {
		t.Fatalf("sent %d bytes, want %d", len(got), len(want))
	}
}

func TestCommandsChangeTheConversation(t *testing.T) {
	g := newFakeGen(tokens("Here:\n\n```sh\necho hi\n```\n\nand\n\n```py\nprint(1)\n```\n", 5)...)
	h := newHarness(t, Config{Gen: g}, 100, 30)
	sendAndWait(h, "first")
	sendAndWait(h, "second")

	h.typeText("/set temp 0")
	h.enter()
	h.typeText("/set max-tokens 64")
	h.enter()
	h.typeText("/retry")
	h.enter()
	h.waitFor("retry", func(m Model) bool { return m.cur == nil })
	reqs := g.requests()
	r := reqs[len(reqs)-1]
	if r.Sampling.Temperature != 0 || r.MaxTokens != 64 {
		t.Fatalf("settings not applied: %+v max %d", r.Sampling, r.MaxTokens)
	}
	if n := len(r.Messages); n != 3 || r.Messages[2].Content != "second" {
		t.Fatalf("retry request = %+v", r.Messages)
	}
	if n := len(h.m.msgs); n != 4 {
		t.Fatalf("after retry %d messages, want 4", n)
	}

	h.typeText("/copy code")
	h.enter()
	if h.m.clipboard != "print(1)" {
		t.Errorf("/copy code copied %q", h.m.clipboard)
	}
	h.typeText("/copy code 1")
	h.enter()
	if h.m.clipboard != "echo hi" {
		t.Errorf("/copy code 1 copied %q", h.m.clipboard)
	}
	h.typeText("/copy 2")
	h.enter()
	if h.m.clipboard != h.m.msgs[1].Content {
		t.Errorf("/copy 2 copied %q", h.m.clipboard)
	}

	h.typeText("/undo")
	h.enter()
	if n := len(h.m.msgs); n != 2 {
		t.Fatalf("after /undo %d messages, want 2", n)
	}
	h.typeText("/edit")
	h.enter()
	if v := h.m.input.Value(); v != "first" || len(h.m.msgs) != 0 {
		t.Fatalf("/edit: input %q, %d messages", v, len(h.m.msgs))
	}
	h.m.input.SetValue("first, edited")
	h.enter()
	h.waitFor("edited reply", func(m Model) bool { return m.cur == nil })
	reqs = g.requests()
	if r := reqs[len(reqs)-1]; len(r.Messages) != 1 || r.Messages[0].Content != "first, edited" {
		t.Fatalf("edited request = %+v", r.Messages)
	}

	h.typeText("/new")
	h.enter()
	if len(h.m.msgs) != 0 {
		t.Fatal("/new kept messages")
	}
}

// A command the user must fix stays in the input; one that failed on the
// state of the chat (nothing to copy, nothing to undo) is cleared, so the
// next thing typed is not appended to it.
func TestBadCommandsKeepInput(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen()}, 80, 24)
	before := h.m.sampling
	for _, c := range []string{"/set temp hot", "/set top-p 2", "/set nope 1", "/set seed -5", "/wat", "/copy code x", "/copy 1 2"} {
		h.typeText(c)
		h.enter()
		if h.m.errLine == "" {
			t.Errorf("%s: no error", c)
		}
		if strings.Contains(h.m.errLine, "\n") {
			t.Errorf("%s: error is not one line: %q", c, h.m.errLine)
		}
		if v := h.m.input.Value(); v != c {
			t.Errorf("%s: input became %q", c, v)
		}
		h.m.input.Reset()
	}
	if h.m.sampling != before {
		t.Errorf("bad values changed settings: %+v", h.m.sampling)
	}
}

func TestFailedCommandsClearInput(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen("no code here")}, 80, 24)
	for _, c := range []string{"/copy", "/undo", "/retry", "/edit"} {
		h.typeText(c)
		h.enter()
		if h.m.errLine == "" {
			t.Errorf("%s: no error", c)
		}
		if v := h.m.input.Value(); v != "" {
			t.Errorf("%s: input kept %q", c, v)
		}
	}
	sendAndWait(h, "hi")
	for _, c := range []string{"/copy code", "/copy 3"} {
		h.typeText(c)
		h.enter()
		if h.m.errLine == "" {
			t.Errorf("%s: no error", c)
		}
		if v := h.m.input.Value(); v != "" {
			t.Errorf("%s: input kept %q", c, v)
		}
	}
	// The repro: the next command typed runs on its own.
	h.typeText("/set")
	h.enter()
	if h.m.errLine != "" || !strings.Contains(h.screen(), "temp ") {
		t.Fatalf("/set after a failed /copy: error %q\n%s", h.m.errLine, h.screen())
	}
}

func TestSystemPromptReportsInvalidatedTokens(t *testing.T) {
	g := newFakeGen("ok")
	h := newHarness(t, Config{Gen: g, System: "old system prompt"}, 100, 30)
	sendAndWait(h, "hello")
	cached := h.m.last.ContextUsed
	h.typeText("/system new system prompt")
	h.enter()
	h.settle()
	// The prompts differ right after "<|im_start|>system\n" (20 bytes → 5 tokens).
	want := "This invalidates " + commas(cached-5) + " of " + commas(cached) + " cached tokens."
	if !strings.Contains(h.screen(), want) {
		t.Fatalf("want %q in:\n%s", want, h.screen())
	}
	sendAndWait(h, "again")
	reqs := g.requests()
	if got := reqs[len(reqs)-1].Messages[0].Content; got != "new system prompt" {
		t.Fatalf("system prompt sent = %q", got)
	}
}

func TestPromptShowsSpecialTokens(t *testing.T) {
	g := newFakeGen("ok")
	h := newHarness(t, Config{Gen: g}, 100, 30)
	h.typeText("/prompt")
	h.enter()
	h.settle()
	out := strings.Join(h.m.scrollback, "\n")
	if !strings.Contains(out, h.m.st.special.Render("<|im_start|>")) {
		t.Fatalf("special token not highlighted:\n%q", out)
	}
	if !strings.Contains(ansi.Strip(out), "next prompt (‹your message› stands for what you send) · 17 tokens · template fake:chatml") {
		t.Fatalf("no token count:\n%s", ansi.Strip(out))
	}
}

func TestSaveWritesMarkdown(t *testing.T) {
	g := newFakeGen("The **answer**.")
	h := newHarness(t, Config{Gen: g}, 80, 24)
	sendAndWait(h, "question")
	path := filepath.Join(t.TempDir(), "chat.md")
	h.typeText("/save " + path)
	h.enter()
	h.settle()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, "## You\n\nquestion") || !strings.Contains(s, "## Assistant\n\nThe **answer**.") {
		t.Fatalf("saved:\n%s", s)
	}
	h.typeText("/save " + filepath.Join(t.TempDir(), "missing", "dir", "x.md"))
	h.enter()
	h.settle()
	if !strings.Contains(h.m.errLine, "/save") {
		t.Fatalf("no error for an unwritable path: %q", h.m.errLine)
	}
}

func TestFirstRunWithoutModel(t *testing.T) {
	help := "No model found. Looked in ~/.natter/models. Pass -m PATH or set NATTER_MODEL."
	loaded := newFakeGen("loaded!")
	cfg := Config{NoModelHelp: help, LoadModel: func(p string) (api.Generator, error) {
		if p != "/m/x.gguf" {
			return nil, errors.New("no such file")
		}
		return loaded, nil
	}}
	h := newHarness(t, cfg, 80, 24)
	if !strings.Contains(h.screen(), "Pass -m PATH or set NATTER_MODEL.") || !strings.Contains(h.screen(), "no model") {
		t.Fatalf("first-run screen:\n%s", h.screen())
	}
	h.typeText("hello")
	h.enter()
	if h.m.errLine == "" || h.m.input.Value() != "hello" {
		t.Fatalf("sending without a model: err %q, input %q", h.m.errLine, h.m.input.Value())
	}
	h.m.input.Reset()
	h.typeText("/model /m/missing.gguf")
	h.enter()
	h.waitFor("load failure", func(m Model) bool { return m.busy == "" })
	h.settle()
	if !strings.Contains(h.m.errLine, "no such file") {
		t.Fatalf("err %q", h.m.errLine)
	}
	h.m.input.Reset()
	h.typeText("/model /m/x.gguf")
	h.enter()
	h.waitFor("model", func(m Model) bool { return m.gen != nil })
	sendAndWait(h, "hello")
	if !strings.Contains(h.screen(), "loaded!") {
		t.Fatalf("no reply from the loaded model:\n%s", h.screen())
	}
}

func TestGenerateErrorGivesMessageBack(t *testing.T) {
	g := newFakeGen()
	g.failWith = errors.New("kv cache exploded\nwith details")
	h := newHarness(t, Config{Gen: g}, 80, 24)
	h.typeText("precious words")
	h.enter()
	h.settle()
	if h.m.cur != nil || len(h.m.msgs) != 0 {
		t.Fatalf("cur %v, msgs %+v", h.m.cur, h.m.msgs)
	}
	if h.m.input.Value() != "precious words" {
		t.Fatalf("input lost: %q", h.m.input.Value())
	}
	if h.m.errLine != "kv cache exploded …" {
		t.Fatalf("error line %q", h.m.errLine)
	}
}

func TestReasoningCollapsedAndToggled(t *testing.T) {
	g := newFakeGen(tokens("<think>secret plan</think>Visible answer.", 3)...)
	h := newHarness(t, Config{Gen: g, Fullscreen: true}, 80, 24)
	sendAndWait(h, "q")
	scr := h.screen()
	if strings.Contains(scr, "secret plan") || !strings.Contains(scr, "▸ thought") || !strings.Contains(scr, "Visible answer.") {
		t.Fatalf("collapsed:\n%s", scr)
	}
	h.key('t', tea.ModCtrl)
	if scr := h.screen(); !strings.Contains(scr, "secret plan") {
		t.Fatalf("expanded:\n%s", scr)
	}
	last := h.m.msgs[len(h.m.msgs)-1]
	if last.Content != "Visible answer." || last.Reasoning != "secret plan" {
		t.Fatalf("stored %+v", last)
	}
}

// A template that opens the reasoning block itself: the reply starts inside it.
type thinkGen struct{ *fakeGen }

func (g thinkGen) RenderPrompt(req api.Request) (string, string, error) {
	s, t, err := g.fakeGen.RenderPrompt(req)
	return s + "<think>\n", t, err
}

func TestReasoningOpenedByThePrompt(t *testing.T) {
	g := thinkGen{newFakeGen(tokens("hmm, let me see</think>\n\nDone.", 4)...)}
	h := newHarness(t, Config{Gen: g}, 80, 24)
	sendAndWait(h, "q")
	last := h.m.msgs[len(h.m.msgs)-1]
	if strings.TrimSpace(last.Content) != "Done." || !strings.Contains(last.Reasoning, "let me see") {
		t.Fatalf("stored %+v", last)
	}
}

func TestStatusLineContextColours(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen(), Theme: "dark"}, 100, 24)
	for _, c := range []struct {
		used  int
		style func(...string) string
	}{{1000, h.m.st.status.Render}, {6600, h.m.st.warn.Render}, {7800, h.m.st.bad.Render}} {
		h.m.last = &api.Stats{ContextUsed: c.used, ContextSize: 8192}
		want := c.style("ctx " + commas(c.used) + "/8,192")
		if s := h.m.statusLine(); !strings.Contains(s, want) {
			t.Errorf("used %d: status %q lacks %q", c.used, s, want)
		}
	}
}

func TestNoColor(t *testing.T) {
	g := newFakeGen(tokens(replyMarkdown, 5)...)
	h := newHarness(t, Config{Gen: g, NoColor: true}, 80, 24)
	sendAndWait(h, "code please")
	all := strings.Join(h.m.scrollback, "\n") + h.m.View().Content
	if strings.Contains(all, "38;5;") || strings.Contains(all, "38;2;") {
		t.Fatalf("colour escapes with NO_COLOR:\n%q", all)
	}
}

func TestResizeMidStreamReflows(t *testing.T) {
	g := newFakeGen(tokens(strings.Repeat("A fairly long sentence that must wrap at the width. ", 12)+"\n\n"+replyMarkdown, 4)...)
	g.gate, g.pauseAfter = make(chan struct{}), 120
	h := newHarness(t, Config{Gen: g, Fullscreen: true}, 100, 30)
	h.typeText("long")
	h.enter()
	h.waitFor("streaming", func(m Model) bool { return m.cur != nil && m.cur.tokens == 120 })
	h.send(tea.WindowSizeMsg{Width: 44, Height: 20})
	close(g.gate)
	h.waitFor("end", func(m Model) bool { return m.cur == nil })
	scr := h.m.View().Content
	lines := strings.Split(scr, "\n")
	if len(lines) != 20 {
		t.Errorf("view has %d lines, want 20", len(lines))
	}
	for _, l := range lines {
		if w := ansi.StringWidth(l); w > 44 {
			t.Errorf("line wider than 44 (%d): %q", w, ansi.Strip(l))
		}
	}
	// And the whole transcript, not just the visible part.
	for _, l := range h.m.transcript().window(0, 1000) {
		if w := ansi.StringWidth(l); w > 44 {
			t.Errorf("transcript line wider than 44 (%d): %q", w, ansi.Strip(l))
		}
	}
}

func TestFullscreenScrollStopsFollowing(t *testing.T) {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "Paragraph %d.\n\n", i)
	}
	g := newFakeGen(tokens(b.String(), 6)...)
	h := newHarness(t, Config{Gen: g, Fullscreen: true}, 80, 20)
	sendAndWait(h, "long")
	bottom := h.m.View().Content
	h.key(tea.KeyPgUp, 0)
	if h.m.follow || h.m.View().Content == bottom {
		t.Fatal("pgup did not scroll")
	}
	up := h.m.View().Content
	g.mu.Lock()
	g.pieces = tokens("More text arriving.", 3)
	g.mu.Unlock()
	sendAndWait(h, "more")
	top10 := func(s string) string { return strings.Join(strings.Split(s, "\n")[:10], "\n") }
	if top10(h.m.View().Content) != top10(up) || h.m.follow {
		t.Fatal("new reply yanked a scrolled-up reader to the bottom")
	}
	h.send(tea.MouseWheelMsg{Button: tea.MouseWheelDown})
	h.key(tea.KeyEnd, 0)
	if !h.m.follow || !strings.Contains(ansi.Strip(h.m.View().Content), "More text arriving.") {
		t.Fatalf("end did not return to the tail:\n%s", ansi.Strip(h.m.View().Content))
	}
}

// recorder logs calls; the real one is SQLite in package history.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) log(s string) error {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
	return nil
}
func (r *recorder) NewChat(model, system string) error { return r.log("new " + model + " " + system) }
func (r *recorder) Append(m prompts.Message) error {
	return r.log("append " + m.Role + " " + m.Content)
}
func (r *recorder) Checkpoint(m prompts.Message) error { return r.log("checkpoint") }
func (r *recorder) SetSystem(system, persona string) error {
	return r.log("system " + persona + " " + system)
}
func (r *recorder) Finish(m prompts.Message, st *api.Stats, reason string) error {
	return r.log(fmt.Sprintf("finish %s %s stats=%v", m.Content, reason, st != nil))
}
func (r *recorder) Rewrite(msgs []prompts.Message) error {
	var parts []string
	for _, m := range msgs {
		parts = append(parts, m.Role+":"+m.Content)
	}
	return r.log("rewrite " + strings.Join(parts, ","))
}

func TestRecorderSeesTheConversation(t *testing.T) {
	g := newFakeGen("fine")
	rec := &recorder{}
	h := newHarness(t, Config{Gen: g, System: "sys", Recorder: rec}, 80, 24)
	sendAndWait(h, "how are you")
	h.typeText("/retry")
	h.enter()
	h.waitFor("retry", func(m Model) bool { return m.cur == nil })
	h.m.rec.wait()
	want := []string{"new tiny-llama sys", "append user how are you", "finish fine eog stats=true", "rewrite user:how are you", "finish fine eog stats=true"}
	rec.mu.Lock()
	got := append([]string(nil), rec.calls...)
	rec.mu.Unlock()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("calls:\n%q\nwant\n%q", got, want)
	}
}

func TestCompletion(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen()}, 80, 24)
	h.typeText("/re")
	if v := ansi.Strip(h.m.View().Content); !strings.Contains(v, "/retry") || !strings.Contains(v, "/resume") {
		t.Fatalf("no completion list:\n%s", v)
	}
	h.typeText("t")
	if v := h.m.View().Content; !strings.Contains(ansi.Strip(v), "/retry") {
		t.Fatalf("no completion list:\n%s", ansi.Strip(v))
	}
	h.key(tea.KeyTab, 0)
	if v := h.m.input.Value(); v != "/retry " {
		t.Fatalf("tab gave %q", v)
	}
	h.m.input.SetValue("/s")
	h.key(tea.KeyTab, 0)
	if v := h.m.input.Value(); v != "/s" {
		t.Fatalf("ambiguous /s completed to %q", v)
	}
}

func TestRecorderCheckpointsALongReply(t *testing.T) {
	g := newFakeGen(tokens("a long reply that keeps going for a while", 2)...)
	g.gate, g.pauseAfter = make(chan struct{}), 6
	rec := &recorder{}
	h := newHarness(t, Config{Gen: g, Recorder: rec}, 80, 24)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.m.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	h.typeText("go")
	h.enter()
	h.waitFor("six tokens", func(m Model) bool { return m.cur != nil && m.cur.tokens == 6 })
	close(g.gate)
	h.waitFor("end", func(m Model) bool { return m.cur == nil })
	h.m.rec.wait()
	rec.mu.Lock()
	calls := strings.Join(rec.calls, "|")
	rec.mu.Unlock()
	if !strings.Contains(calls, "checkpoint|") || strings.Index(calls, "checkpoint") > strings.Index(calls, "finish") {
		t.Fatalf("no checkpoint before finish: %s", calls)
	}
}

func TestQuitFlushesScrollbackFirst(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen()}, 80, 24)
	h.m.printing = true // a print is still in flight
	h.m.enqueuePrint("last words")
	h.typeText("/quit")
	h.enter()
	if h.quit {
		t.Fatal("quit before the pending print")
	}
	h.send(printedMsg{})
	h.settle()
	if !h.quit {
		t.Fatal("did not quit after the scrollback was flushed")
	}
	if h.m.View().Content != "" {
		t.Fatal("the live region is not cleared on quit")
	}
}

func TestEditorRoundTrip(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen()}, 80, 24)
	h.typeText("draft text")
	// The editor itself needs a terminal; its two file steps do not.
	msg := openEditor(h.m.expandPastes(h.m.input.Value()))().(editorReadyMsg)
	if msg.err != nil {
		t.Fatal(msg.err)
	}
	b, err := os.ReadFile(msg.path)
	if err != nil || string(b) != "draft text" {
		t.Fatalf("temp file holds %q (%v)", b, err)
	}
	if err := os.WriteFile(msg.path, []byte("edited\nin the editor\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.send(readEditorFile(editorDoneMsg{path: msg.path})())
	if v := h.m.input.Value(); v != "edited\nin the editor" {
		t.Fatalf("input after editing: %q", v)
	}
	if _, err := os.Stat(msg.path); !os.IsNotExist(err) {
		t.Fatal("temp file left behind")
	}
	// A failed editor keeps the input as it was.
	h.send(editorTextMsg{err: errors.New("exit status 1")})
	if v := h.m.input.Value(); v != "edited\nin the editor" || !strings.Contains(h.m.errLine, "editor") {
		t.Fatalf("after a failed editor: input %q, err %q", v, h.m.errLine)
	}
}

// Whatever is on screen, the live region never outgrows the window.
func TestViewFitsTheWindow(t *testing.T) {
	for _, full := range []bool{false, true} {
		for _, sz := range [][2]int{{80, 24}, {40, 12}, {120, 40}} {
			g := newFakeGen(tokens(strings.Repeat("word ", 400)+"\n\n```\n"+strings.Repeat("code line\n", 60), 5)...)
			g.gate, g.pauseAfter = make(chan struct{}), 300
			h := newHarness(t, Config{Gen: g, Fullscreen: full}, sz[0], sz[1])
			check := func(what string) {
				t.Helper()
				v := h.m.View().Content
				lines := strings.Split(v, "\n")
				if len(lines) > sz[1] {
					t.Errorf("full=%v %dx%d %s: %d lines", full, sz[0], sz[1], what, len(lines))
				}
				if full && len(lines) != sz[1] {
					t.Errorf("full=%v %dx%d %s: fullscreen view has %d lines", full, sz[0], sz[1], what, len(lines))
				}
				for _, l := range lines {
					if w := ansi.StringWidth(l); w > sz[0] {
						t.Errorf("full=%v %dx%d %s: line of width %d: %q", full, sz[0], sz[1], what, w, ansi.Strip(l))
						break
					}
				}
			}
			check("empty")
			h.typeText("?")
			check("help")
			h.key(tea.KeyEscape, 0)
			for range 12 {
				h.typeText("a long line of input text ")
				h.key(tea.KeyEnter, tea.ModShift)
			}
			check("tall input")
			h.enter()
			h.waitFor("streaming", func(m Model) bool { return m.cur != nil && m.cur.tokens == 300 })
			check("streaming")
			close(g.gate)
			h.waitFor("done", func(m Model) bool { return m.cur == nil })
			check("done")
		}
	}
}

func TestStopBeforeFirstTokenGivesMessageBack(t *testing.T) {
	g := newFakeGen("never", "shown")
	g.gate, g.pauseAfter = make(chan struct{}), 0
	h := newHarness(t, Config{Gen: g}, 80, 24)
	h.typeText("slow question")
	h.enter()
	h.key(tea.KeyEscape, 0)
	h.settle()
	if h.m.cur != nil || len(h.m.msgs) != 0 || h.m.input.Value() != "slow question" {
		t.Fatalf("cur %v msgs %+v input %q", h.m.cur, h.m.msgs, h.m.input.Value())
	}
}

func TestFootersForMaxTokensAndErrors(t *testing.T) {
	g := newFakeGen("cut", " short")
	g.stopReason = api.StopMaxTokens
	h := newHarness(t, Config{Gen: g, MaxTokens: 2}, 80, 24)
	sendAndWait(h, "q")
	if !strings.Contains(h.screen(), "■ stopped at max tokens (2; /set max-tokens N)") {
		t.Fatalf("no max-tokens footer:\n%s", h.screen())
	}
	g.mu.Lock()
	g.stopReason, g.streamErr = "", errors.New("decode failed")
	g.mu.Unlock()
	sendAndWait(h, "again")
	if !strings.Contains(h.screen(), "✗ error: decode failed") {
		t.Fatalf("no error footer:\n%s", h.screen())
	}
	// The partial text of a failed reply is kept, like a stopped one.
	if last := h.m.msgs[len(h.m.msgs)-1]; last.Content != "cut short" {
		t.Fatalf("last message %+v", last)
	}
}

func TestResumeConversation(t *testing.T) {
	g := newFakeGen("welcome back")
	msgs := []prompts.Message{
		{Role: "system", Content: "stored system"},
		{Role: "user", Content: "earlier question"},
		{Role: "assistant", Content: "earlier **answer**", Reasoning: "old thoughts"},
	}
	rec := &recorder{}
	h := newHarness(t, Config{Gen: g, Messages: msgs, Recorder: rec}, 80, 24)
	scr := h.screen()
	if !strings.Contains(scr, "› earlier question") || !strings.Contains(scr, "earlier answer") {
		t.Fatalf("resumed transcript:\n%s", scr)
	}
	sendAndWait(h, "next")
	r := g.requests()[0]
	if len(r.Messages) != 4 || r.Messages[0].Content != "stored system" || r.Messages[2].Reasoning != "old thoughts" {
		t.Fatalf("request %+v", r.Messages)
	}
	h.m.rec.wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.calls) == 0 || strings.HasPrefix(rec.calls[0], "new ") {
		t.Fatalf("a resumed chat must not start a new one: %q", rec.calls)
	}
}

func TestStatsAndSettingsListing(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen("x")}, 100, 30)
	h.typeText("/stats")
	h.enter()
	if !strings.Contains(h.screen(), "No reply has finished yet.") {
		t.Fatalf("stats before a reply:\n%s", h.screen())
	}
	sendAndWait(h, "q")
	h.typeText("/stats")
	h.enter()
	h.typeText("/set seed 42")
	h.enter()
	h.typeText("/set")
	h.enter()
	scr := h.screen()
	for _, s := range []string{"generated 1 tokens", "decode", "123.40 tok/s", "stop: eog", "template: fake:chatml", "seed 42", "temp 0.8", "max-tokens unlimited"} {
		if !strings.Contains(scr, s) {
			t.Errorf("lacks %q:\n%s", s, scr)
		}
	}
	if h.m.sampling.Seed != 42 {
		t.Fatalf("seed %d", h.m.sampling.Seed)
	}
}

func TestStatusLineNarrowKeepsTheEssentials(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen()}, 44, 24)
	h.m.last = &api.Stats{ContextUsed: 1532, ContextSize: 8192, DecodeTPS: 51.25, TTFT: 120 * time.Millisecond, CachedTokens: 1480, PromptTokens: 1532}
	s := ansi.Strip(h.m.statusLine())
	if !strings.Contains(s, "ctx 1,532/8,192") || !strings.Contains(s, "51.2 tok/s") || strings.Contains(s, "…") {
		t.Fatalf("narrow status %q", s)
	}
	h.send(tea.WindowSizeMsg{Width: 120, Height: 24})
	s = ansi.Strip(h.m.statusLine())
	if want := "tiny-llama Q8_0 · ctx 1,532/8,192 · 51.2 tok/s · ttft 120ms · cache 1,480/1,532"; s != want {
		t.Fatalf("status %q, want %q", s, want)
	}
}

// Model output cannot drive the terminal: escape sequences are drawn as
// U+FFFD, while the conversation keeps the exact text.
func TestEscapeSequencesFromTheModelAreNeutralised(t *testing.T) {
	evil := "hi \x1b]52;c;ZXZpbA==\x07 and \x1b[2J\x1b[31mred\r\n<think>\x1b]0;title\x07</think>done"
	g := newFakeGen(tokens(evil, 3)...)
	for _, full := range []bool{false, true} {
		h := newHarness(t, Config{Gen: g, Fullscreen: full}, 80, 24)
		h.send(tea.PasteMsg{Content: strings.Repeat("pasted \x1b[5m line\n", 300)})
		h.enter()
		h.waitFor("reply", func(m Model) bool { return m.cur == nil })
		h.settle()
		h.key('t', tea.ModCtrl)
		out := strings.Join(h.m.scrollback, "\n") + h.m.View().Content
		for _, e := range h.m.entries {
			out += strings.Join(h.m.entryLines(e), "\n")
		}
		for _, bad := range []string{"\x1b]52", "\x1b]0;", "\x1b[2J", "\x1b[5m", "\x07", "\r"} {
			if strings.Contains(out, bad) {
				t.Fatalf("full=%v: %q reached the terminal", full, bad)
			}
		}
		last := h.m.msgs[len(h.m.msgs)-1]
		if last.Content != "hi \x1b]52;c;ZXZpbA==\x07 and \x1b[2J\x1b[31mred\r\ndone" || last.Reasoning != "\x1b]0;title\x07" {
			t.Fatalf("stored %q / %q", last.Content, last.Reasoning)
		}
	}
}

func TestDoubleSlashSendsALiteralSlash(t *testing.T) {
	g := newFakeGen("ok")
	h := newHarness(t, Config{Gen: g}, 80, 24)
	sendAndWait(h, "//usr/bin is a directory")
	if got := g.requests()[0].Messages[0].Content; got != "/usr/bin is a directory" {
		t.Fatalf("sent %q", got)
	}
}

// While a reply streams the status line counts the context as it fills:
// the prompt as the engine reported it plus the tokens so far, and this
// turn's cache reuse.
func TestStatusLineContextMovesWhileStreaming(t *testing.T) {
	g := newFakeGen(tokens(strings.Repeat("word ", 40), 5)...)
	g.gate, g.pauseAfter = make(chan struct{}), 10
	h := newHarness(t, Config{Gen: g}, 120, 30)
	// An earlier turn's figures must not stand in for this one's.
	h.m.last = &api.Stats{ContextUsed: 5, ContextSize: 8192, PromptTokens: 3, CachedTokens: 1}
	h.typeText("count with me")
	h.enter()
	h.waitFor("10 tokens", func(m Model) bool { return m.cur != nil && m.cur.tokens == 10 })
	prompt, _, _ := g.RenderPrompt(lastRequest(t, g))
	p, _ := g.CountTokens(prompt, true)
	st := ansi.Strip(h.m.statusLine())
	if want := fmt.Sprintf("ctx %s/8,192", commas(p+10)); !strings.Contains(st, want) {
		t.Fatalf("status %q lacks %q", st, want)
	}
	if want := fmt.Sprintf("cache %s/%s", commas(p*9/10), commas(p)); !strings.Contains(st, want) {
		t.Fatalf("status %q lacks this turn's %q", st, want)
	}
	close(g.gate)
	h.waitFor("the end", func(m Model) bool { return m.cur == nil })
	if want := fmt.Sprintf("ctx %s/8,192", commas(p+40)); !strings.Contains(ansi.Strip(h.m.statusLine()), want) {
		t.Fatalf("final status %q lacks %q", ansi.Strip(h.m.statusLine()), want)
	}
}

// Walking the input history and back down returns to what was being typed,
// and an entry edited on the way keeps its edit until something is sent.
func TestDownReturnsToTheDraft(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen("ok")}, 80, 24)
	sendAndWait(h, "first")
	sendAndWait(h, "second")
	h.typeText("draft text")
	for i, step := range []struct {
		key  rune
		want string
	}{
		{tea.KeyUp, "second"}, {tea.KeyUp, "first"}, {tea.KeyDown, "second"}, {tea.KeyDown, "draft text"},
		{tea.KeyDown, "draft text"}, {tea.KeyUp, "second"},
	} {
		h.key(step.key, 0)
		if v := h.m.input.Value(); v != step.want {
			t.Fatalf("step %d: input %q, want %q", i, v, step.want)
		}
	}
	h.typeText(" edited")
	h.key(tea.KeyDown, 0)
	if v := h.m.input.Value(); v != "draft text" {
		t.Fatalf("down from an edited entry gave %q", v)
	}
	h.key(tea.KeyUp, 0)
	if v := h.m.input.Value(); v != "second edited" {
		t.Fatalf("the edit of a recalled entry was lost: %q", v)
	}
	h.enter()
	h.waitFor("reply", func(m Model) bool { return m.cur == nil })
	h.key(tea.KeyUp, 0)
	h.key(tea.KeyUp, 0)
	if v := h.m.input.Value(); v != "second" {
		t.Fatalf("after sending, history entry is %q, want the original", v)
	}
}

// pastedLines is n bytes or so of text lines with no trailing newline.
func pastedLines(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "line %d of text pasted as keystrokes\twith a tab", i)
	}
	return b.String()
}

// A paste from a terminal without bracketed paste arrives as keystrokes:
// it must cost work linear in its size (counted as bytes allocated while
// the keys go through Update and a frame is drawn after each, as the
// program does), end up whole in one message, and keep its newlines.
func TestKeystrokePasteIsLinear(t *testing.T) {
	work := func(n int) (uint64, string) {
		g := newFakeGen("ok")
		h := newHarness(t, Config{Gen: g}, 80, 24)
		h.onFrame = func(string) {}
		text := pastedLines(n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		h.typeBurst(text)
		h.pause()
		runtime.ReadMemStats(&after)
		if v := h.m.input.Value(); len(v) > 100 || !strings.HasPrefix(v, "[paste #1: ") {
			t.Fatalf("%d bytes typed: the input holds %d bytes: %.80q", n, len(v), v)
		}
		if len(g.requests()) != 0 {
			t.Fatalf("a newline inside the paste sent a message")
		}
		h.enter()
		h.waitFor("reply", func(m Model) bool { return m.cur == nil })
		if got := g.requests()[0].Messages[0].Content; got != text {
			t.Fatalf("sent %d bytes, want the %d typed", len(got), len(text))
		}
		return after.TotalAlloc - before.TotalAlloc, h.m.input.Value()
	}
	small, _ := work(64 << 10)
	big, _ := work(256 << 10)
	ratio := float64(big) / float64(small)
	t.Logf("work: 64 KB %d bytes allocated, 256 KB %d (ratio %.1f; linear is 4)", small, big, ratio)
	if ratio > 8 {
		t.Fatalf("4x the keystrokes cost %.1fx the work: not linear", ratio)
	}
}

// While a keystroke burst gathers, nothing on screen changes, so each frame
// the program asks for after a key is the last one again, not laid out anew
// (a 1 MB paste as keystrokes took 14 s when every other frame was redrawn:
// the memo of the last frame was only valid for one update). Counted as
// allocations per key, Update and frame together.
func TestKeystrokeBurstReusesTheFrame(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen("ok")}, 100, 30)
	h.onFrame = func(string) {}
	text := pastedLines(64 << 10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h.typeBurst(text)
	runtime.ReadMemStats(&after)
	perKey := float64(after.Mallocs-before.Mallocs) / float64(len(text))
	t.Logf("%.1f allocations a key", perKey)
	if perKey > 10 {
		t.Fatalf("%.1f allocations a key while a burst gathers: frames are drawn again", perKey)
	}
	h.pause()
	if v := h.m.input.Value(); !strings.HasPrefix(v, "[paste #1: ") {
		t.Fatalf("input %.60q", v)
	}
}

// Text typed or pasted (as keystrokes) while a reply streams stays in the
// input as the next message, newlines and all; nothing is refused or lost.
func TestKeysTypedWhileStreamingAreKept(t *testing.T) {
	g := newFakeGen("a", "b", "c")
	g.gate, g.pauseAfter = make(chan struct{}), 1
	h := newHarness(t, Config{Gen: g}, 80, 24)
	h.typeText("first")
	h.enter()
	h.waitFor("a token", func(m Model) bool { return m.cur != nil && m.cur.tokens == 1 })
	h.typeBurst("line one\nline two\n\nline four")
	h.pause()
	if v := h.m.input.Value(); v != "line one\nline two\n\nline four" {
		t.Fatalf("input %q", v)
	}
	if h.m.errLine != "" || h.m.cur == nil {
		t.Fatalf("error %q, streaming %v", h.m.errLine, h.m.cur != nil)
	}
	// Enter typed on its own while the reply streams keeps the text too.
	h.enter()
	if v := h.m.input.Value(); v != "line one\nline two\n\nline four" || !strings.Contains(h.m.errLine, "still streaming") {
		t.Fatalf("enter during a reply: input %q, error %q", v, h.m.errLine)
	}
	close(g.gate)
	h.waitFor("the reply", func(m Model) bool { return m.cur == nil })
	h.enter()
	h.waitFor("the second reply", func(m Model) bool { return len(g.requests()) == 2 && m.cur == nil })
	if got := lastRequest(t, g).Messages[2].Content; got != "line one\nline two\n\nline four" {
		t.Fatalf("sent %q", got)
	}
	// Text and Enter written at once (a fast typist, a pasted line) send.
	h.typeBurst("third\n")
	h.pause()
	h.waitFor("the third reply", func(m Model) bool { return len(g.requests()) == 3 && m.cur == nil })
	if got := lastRequest(t, g).Messages[4].Content; got != "third" {
		t.Fatalf("sent %q", got)
	}
}

// A paste that arrives as keystrokes while a reply streams may pause for
// longer than a burst tick (a busy machine); where it pauses right after a
// newline, that Enter ends a burst but cannot send, so it stays in the
// draft as the newline it is: the lines on either side do not run
// together. A command typed at once with its Enter still runs.
func TestKeystrokePastePausingOnANewlineKeepsIt(t *testing.T) {
	g := newFakeGen("a", "b", "c")
	g.gate, g.pauseAfter = make(chan struct{}), 1
	h := newHarness(t, Config{Gen: g}, 80, 24)
	h.typeText("first")
	h.enter()
	h.waitFor("a token", func(m Model) bool { return m.cur != nil && m.cur.tokens == 1 })
	h.typeBurst("line one\nline two\n")
	h.pause() // the paste stalls here
	h.typeBurst("line three\nline four")
	h.pause()
	if v := h.m.input.Value(); v != "line one\nline two\nline three\nline four" {
		t.Fatalf("input %q", v)
	}
	big := pastedLines(8 << 10)
	h.m.input.Reset()
	h.typeBurst(big + "\n")
	h.pause()
	h.typeBurst("the last line")
	h.pause()
	if got := h.m.expandPastes(h.m.input.Value()); got != big+"\nthe last line" {
		t.Fatalf("a folded paste lost the newline it paused on: %d bytes, want %d", len(got), len(big)+14)
	}
	h.m.input.Reset()
	h.typeBurst("/stats\n")
	h.pause()
	if v := h.m.input.Value(); v != "" || !strings.Contains(h.screen(), "follow when it ends") {
		t.Fatalf("/stats typed at once during a reply: input %q\n%s", v, h.screen())
	}
	close(g.gate)
	h.waitFor("the reply", func(m Model) bool { return m.cur == nil })
}

// A paste too large for the context is refused with the engine's error and
// comes back folded, as it was typed; /edit of a large message folds it too;
// and text in the input never takes more than the editor's height, scrolled
// to the cursor.
func TestLargePasteStaysFoldedAndTheEditorIsCapped(t *testing.T) {
	g := newFakeGen()
	g.failWith = errors.New("the conversation needs 8711 tokens but the context holds 2048")
	h := newHarness(t, Config{Gen: g}, 80, 24)
	var b strings.Builder
	for i := range 362 {
		fmt.Fprintf(&b, "pasted line %d with some words\n", i)
	}
	h.send(tea.PasteMsg{Content: b.String()})
	folded := h.m.input.Value()
	if !strings.HasPrefix(folded, "[paste #1: 363 lines") {
		t.Fatalf("input %q", folded)
	}
	h.enter()
	h.waitFor("the refusal", func(m Model) bool { return m.cur == nil && m.errLine != "" })
	if v := h.m.input.Value(); v != folded {
		t.Fatalf("after the refusal the input holds %d bytes: %.60q", len(v), v)
	}
	if !strings.Contains(h.screen(), "needs 8711 tokens") {
		t.Errorf("no error:\n%s", h.screen())
	}

	g.failWith = nil
	g.pieces = []string{"ok"}
	h.enter()
	h.waitFor("the reply", func(m Model) bool { return m.cur == nil && len(m.msgs) == 2 })
	h.typeText("/edit")
	h.enter()
	if v := h.m.input.Value(); !strings.HasPrefix(v, "[paste #2: 363 lines") {
		t.Fatalf("/edit of a large message: input %.60q", v)
	}
	h.m.input.Reset()

	// 30 lines go in as they are, 8 rows are shown, the cursor's among them.
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf("row %d", i))
	}
	h.send(tea.PasteMsg{Content: strings.Join(lines, "\n")})
	box := h.m.inputLines()
	if len(box) > 8 {
		t.Fatalf("the input takes %d rows", len(box))
	}
	if !strings.Contains(ansi.Strip(strings.Join(box, "\n")), "row 29") {
		t.Fatalf("the input does not show the cursor's line:\n%s", ansi.Strip(strings.Join(box, "\n")))
	}
}

// Widening the window while a long paragraph streams lays out again what
// was already committed in pieces at the old width (fullscreen), and the
// view keeps following the stream at the new size.
func TestResizeWiderMidStreamReflowsCommittedPieces(t *testing.T) {
	m := New(Config{Gen: newFakeGen(), Fullscreen: true, Theme: "dark"})
	nm, _ := m.Update(tea.WindowSizeMsg{Width: 31, Height: 15})
	m = nm.(Model)
	m.startGen()
	defer m.cur.cancel()
	// One piece per message, as a slow model streams: the paragraph is
	// committed in many pieces.
	m = feed(m, tokens(strings.Repeat("A fairly long sentence that must wrap at the width. ", 40), 4))
	if n := len(m.cur.doc.blocks); n < 5 {
		t.Fatalf("only %d pieces committed", n)
	}
	nm, _ = m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	m = nm.(Model)
	tr := m.transcript().window(0, 1000)
	short := 0
	for _, l := range tr[:len(tr)-2] {
		if s := strings.TrimSpace(ansi.Strip(l)); strings.Contains(s, "sentence") && ansi.StringWidth(s) < 90 {
			short++
		}
	}
	if short > 1 { // the last committed line, before the open tail
		t.Errorf("%d lines of the streaming paragraph kept the old width:\n%s", short, ansi.Strip(strings.Join(tr, "\n")))
	}
	view := strings.Split(m.View().Content, "\n")
	rule := view[len(view)-3]
	if len(view) != 30 || strings.Trim(ansi.Strip(rule), "─") != "" || ansi.StringWidth(rule) != 100 {
		t.Errorf("view %d lines, rule %q", len(view), ansi.Strip(rule))
	}
	body := strings.TrimRight(ansi.Strip(strings.Join(view[:len(view)-3], "\n")), "\n ")
	if want := strings.TrimSpace(ansi.Strip(tr[len(tr)-1])); !strings.HasSuffix(body, want) {
		t.Errorf("the view does not follow the stream:\n%s", body)
	}
}

// After /undo the status line shows what the shorter conversation takes,
// not the figure of the dropped reply.
func TestUndoUpdatesTheContextFigure(t *testing.T) {
	g := newFakeGen(tokens(strings.Repeat("a long answer ", 40), 4)...)
	h := newHarness(t, Config{Gen: g}, 100, 30)
	sendAndWait(h, "first")
	sendAndWait(h, "second")
	after2 := h.m.last.ContextUsed
	h.typeText("/undo")
	h.enter()
	h.settle()
	// The conversation as it now stands, counted as the engine counts.
	text, _, _ := g.RenderPrompt(h.m.request())
	want, _ := g.CountTokens(text, true)
	status := ansi.Strip(h.m.statusLine())
	if !strings.Contains(status, "ctx "+commas(want)+"/") || want >= after2 {
		t.Fatalf("status %q after /undo, want ctx %d (it was %d)", status, want, after2)
	}
	sendAndWait(h, "again")
	if status := ansi.Strip(h.m.statusLine()); !strings.Contains(status, "ctx "+commas(h.m.last.ContextUsed)+"/") {
		t.Fatalf("status %q after a new reply, want ctx %d", status, h.m.last.ContextUsed)
	}
}

// Ctrl+T always says what it did, and says so when there is no reasoning
// to show.
func TestCtrlTGivesFeedback(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen("plain answer")}, 100, 30)
	sendAndWait(h, "hi")
	h.key('t', tea.ModCtrl)
	if scr := h.screen(); !strings.Contains(scr, "Reasoning shown") || !strings.Contains(scr, "only thinking models") {
		t.Fatalf("no feedback:\n%s", scr)
	}
	h.key('t', tea.ModCtrl)
	if scr := h.screen(); !strings.Contains(scr, "Reasoning hidden") {
		t.Fatalf("no feedback:\n%s", scr)
	}
}

// /stats typed while a reply streams is not answered with "no reply has
// finished yet": it shows that reply's figures once it ends, stopped or not.
func TestStatsDuringAReply(t *testing.T) {
	for _, stop := range []bool{false, true} {
		g := newFakeGen("a", "b", "c")
		g.gate, g.pauseAfter = make(chan struct{}), 1
		h := newHarness(t, Config{Gen: g}, 100, 30)
		h.typeText("go")
		h.enter()
		h.waitFor("a token", func(m Model) bool { return m.cur != nil && m.cur.tokens == 1 })
		h.typeText("/stats")
		h.enter()
		if scr := h.screen(); strings.Contains(scr, "No reply has finished") || !strings.Contains(scr, "follow when it ends") {
			t.Fatalf("/stats during a reply:\n%s", scr)
		}
		if stop {
			h.key(tea.KeyEscape, 0)
		} else {
			close(g.gate)
		}
		h.waitFor("the figures", func(m Model) bool {
			return m.cur == nil && strings.Contains(h.screen(), "generated ")
		})
		want := "generated 3 tokens"
		if stop {
			want = "stop: cancelled"
		}
		if !strings.Contains(h.screen(), want) {
			t.Fatalf("stop=%v: want %q in\n%s", stop, want, h.screen())
		}
	}
}

// Deleting a character made of several code points deletes all of them.
func TestBackspaceDeletesAWholeGrapheme(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen()}, 80, 24)
	for _, c := range []string{"👩‍💻", "🇫🇷", "e\u0301", "👍🏽"} {
		h.typeText("ab" + c)
		h.key(tea.KeyBackspace, 0)
		if v := h.m.input.Value(); v != "ab" {
			t.Errorf("%q: backspace left %q", c, v)
		}
		h.key(tea.KeyBackspace, 0)
		if v := h.m.input.Value(); v != "a" {
			t.Errorf("%q: second backspace left %q", c, v)
		}
		h.m.input.Reset()
	}
}

func TestAliasesAndPlurals(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen("one reply")}, 100, 30)
	sendAndWait(h, "hi")
	h.typeText("/copy 2")
	h.enter()
	if h.m.errLine != "There is only 1 reply." {
		t.Errorf("error %q", h.m.errLine)
	}
	h.typeText("/clear")
	h.enter()
	if len(h.m.msgs) != 0 || h.m.errLine != "" {
		t.Fatalf("/clear: %d messages, error %q", len(h.m.msgs), h.m.errLine)
	}
	for _, q := range []string{"/exit", "/bye"} {
		h := newHarness(t, Config{Gen: newFakeGen()}, 80, 24)
		h.typeText(q)
		h.enter()
		h.settle()
		if !h.quit {
			t.Errorf("%s did not quit", q)
		}
	}
	if s := plural(1, "turn", "turns"); s != "1 turn" {
		t.Errorf("plural: %q", s)
	}
}

// Errors wrap instead of being cut at the terminal width (the cause is at
// the end), and a failed download names its cause first.
func TestErrorsWrapAndDownloadCauseFirst(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen()}, 60, 15)
	long := downloadError("qwen3-0.6b", errors.New(`Get "https://huggingface.co/Qwen/Qwen3-0.6B-GGUF/resolve/main/Qwen3-0.6B-Q8_0.gguf": dial tcp: lookup huggingface.co on 127.0.0.53:53: no such host`))
	if !strings.HasPrefix(long, "no network: ") {
		t.Errorf("cause not first: %q", long)
	}
	h.m.errLine = long
	scr := h.screen()
	if !strings.Contains(strings.Join(strings.Fields(scr), " "), "no such host") {
		t.Fatalf("the end of the error is cut:\n%s", scr)
	}
	for _, l := range strings.Split(scr, "\n") {
		if ansi.StringWidth(l) > 60 {
			t.Fatalf("line wider than the screen: %q", l)
		}
	}
	if n := strings.Count(h.m.View().Content, "\n") + 1; n >= 15 {
		t.Fatalf("frame of %d rows", n)
	}
}
