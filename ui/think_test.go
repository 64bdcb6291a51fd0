package ui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// thinkerGen records /think switches (main's chatGen re-renders the real
// template with enable_thinking; its test checks the prompts).
type thinkerGen struct {
	*fakeGen
	state string
	calls []bool
}

func (g *thinkerGen) SetThinking(on bool) error {
	g.calls = append(g.calls, on)
	g.state = map[bool]string{true: "on", false: "off"}[on]
	return nil
}

func (g *thinkerGen) Thinking() string { return g.state }

func TestThinkCommand(t *testing.T) {
	g := &thinkerGen{fakeGen: newFakeGen("ok"), state: "auto"}
	h := newHarness(t, Config{Gen: g}, 100, 30)
	h.typeText("/think")
	h.enter()
	if s := ansi.Strip(h.screen()); !strings.Contains(s, "Thinking: auto") {
		t.Fatalf("/think alone does not show the state:\n%s", s)
	}
	h.typeText("/think off")
	h.enter()
	h.typeText("/think on")
	h.enter()
	if len(g.calls) != 2 || g.calls[0] || !g.calls[1] {
		t.Fatalf("SetThinking calls %v", g.calls)
	}
	if s := ansi.Strip(h.screen()); !strings.Contains(s, "Thinking on") {
		t.Fatalf("no confirmation:\n%s", s)
	}
	h.typeText("/think maybe")
	h.enter()
	if !strings.Contains(h.m.errLine, "want on or off") || len(g.calls) != 2 {
		t.Fatalf("bad argument: %q, calls %v", h.m.errLine, g.calls)
	}

	plain := newHarness(t, Config{Gen: newFakeGen("ok")}, 100, 30)
	plain.typeText("/think on")
	plain.enter()
	if !strings.Contains(plain.m.errLine, "/think") {
		t.Fatalf("a generator without thinking gives no feedback: %q", plain.m.errLine)
	}
}
