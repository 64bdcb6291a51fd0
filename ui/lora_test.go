package ui

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"natter/engine/api"
)

// loraGen is a model with LoRA adapters: it keeps their scales, records
// the calls, and reports the adapters that are on with each reply as the
// engine does (the thing under test is the UI).
type loraGen struct {
	*fakeGen
	mu       sync.Mutex
	adapters []api.Adapter
	calls    []loraCall
	listed   int
	setErr   error
}

type loraCall struct {
	i     int
	scale float32
}

func newLoraGen(pieces ...string) *loraGen {
	g := &loraGen{fakeGen: newFakeGen(pieces...), adapters: []api.Adapter{
		{Path: "/loras/tuned.gguf", Name: "tuned.gguf", SHA256: "1a2b3c4d5e6f7a8b9c0d1e2f", Scale: 0.5},
		{Path: "/loras/style.gguf", Name: "style.gguf", SHA256: "ffeeddccbbaa99887766", Scale: 0},
		{Path: "/loras/style-strong.gguf", Name: "style-strong.gguf", SHA256: "00112233445566778899", Scale: 0},
	}}
	g.info.Backend = "llama.cpp"
	g.info.Adapters = append([]api.Adapter(nil), g.adapters...)
	return g
}

func (g *loraGen) Adapters() []api.Adapter {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.listed++
	return append([]api.Adapter(nil), g.adapters...)
}

func (g *loraGen) SetAdapterScale(i int, scale float32) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, loraCall{i, scale})
	if g.setErr != nil {
		return g.setErr
	}
	g.adapters[i].Scale = scale
	return nil
}

func (g *loraGen) recorded() ([]loraCall, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]loraCall(nil), g.calls...), g.listed
}

// Generate puts the adapters that are on into the final figures.
func (g *loraGen) Generate(ctx context.Context, req api.Request) (<-chan api.Event, error) {
	in, err := g.fakeGen.Generate(ctx, req)
	if err != nil {
		return nil, err
	}
	var on []api.Adapter
	for _, a := range g.Adapters() {
		if a.Scale != 0 {
			on = append(on, a)
		}
	}
	out := make(chan api.Event)
	go func() {
		defer close(out)
		for ev := range in {
			if ev.Kind == api.EventDone && ev.Stats != nil {
				ev.Stats.Adapters = on
			}
			out <- ev
		}
	}()
	return out, nil
}

// runLora types a /lora command and waits until the model has answered.
func runLora(h *harness, line string) {
	h.t.Helper()
	h.typeText(line)
	h.enter()
	h.waitFor("/lora to finish", func(m Model) bool { return m.busy == "" })
	h.settle()
}

func screenHas(t *testing.T, h *harness, lines ...string) {
	t.Helper()
	scr := h.screen()
	have := map[string]bool{}
	for _, l := range strings.Split(scr, "\n") {
		have[strings.TrimSpace(l)] = true
	}
	for _, l := range lines {
		if !have[l] {
			t.Errorf("screen lacks the line %q:\n%s", l, scr)
		}
	}
}

func status(h *harness) string { return ansi.Strip(h.m.statusLine()) }

func TestLoraListing(t *testing.T) {
	g := newLoraGen()
	h := newHarness(t, Config{Gen: g}, 100, 30)
	runLora(h, "/lora")
	screenHas(t, h,
		"LoRA adapters · /lora N SCALE sets one (-4 to 4; off = 0, on = 1):",
		"1. tuned.gguf         scale 0.5    sha256 1a2b3c4d5e6f",
		"2. style.gguf         off          sha256 ffeeddccbbaa",
		"3. style-strong.gguf  off          sha256 001122334455",
	)
	if _, listed := g.recorded(); listed == 0 {
		t.Fatal("the listing did not ask the model for its adapters")
	}
	if s := status(h); !strings.Contains(s, "tiny-llama Q8_0 · +lora tuned.gguf×0.5 · llama.cpp · ctx") {
		t.Fatalf("status line %q does not show the one adapter that is on", s)
	}
}

func TestLoraSetScale(t *testing.T) {
	g := newLoraGen()
	h := newHarness(t, Config{Gen: g}, 120, 30)

	runLora(h, "/lora 1 0.25")
	screenHas(t, h, "LoRA tuned.gguf: scale 0.25 (the next reply is computed afresh)")
	if s := status(h); !strings.Contains(s, "+lora tuned.gguf×0.25") {
		t.Fatalf("status line %q", s)
	}

	// By name: a unique prefix, the name without .gguf, the whole name in
	// any case.
	runLora(h, "/lora style-s 0.8")
	runLora(h, "/lora style on")
	if s := status(h); !strings.Contains(s, "+3 lora") || strings.Contains(s, "tuned.gguf") {
		t.Fatalf("three adapters on: status line %q", s)
	}
	screenHas(t, h, "LoRA style.gguf: scale 1 (the next reply is computed afresh)")
	runLora(h, "/lora STYLE-STRONG.gguf off")
	runLora(h, "/lora #2 0")
	screenHas(t, h, "LoRA style-strong.gguf: off (the next reply is computed afresh)",
		"LoRA style.gguf: off (the next reply is computed afresh)")
	if s := status(h); !strings.Contains(s, "+lora tuned.gguf×0.25") {
		t.Fatalf("one adapter left on: status line %q", s)
	}
	runLora(h, "/lora tuned off")
	if s := status(h); strings.Contains(s, "lora") {
		t.Fatalf("all adapters off, yet the status line says %q", s)
	}
	runLora(h, "/lora 1 -1.5")

	want := []loraCall{{0, 0.25}, {2, 0.8}, {1, 1}, {2, 0}, {1, 0}, {0, 0}, {0, -1.5}}
	calls, _ := g.recorded()
	if len(calls) != len(want) {
		t.Fatalf("SetAdapterScale calls %v, want %v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Fatalf("SetAdapterScale calls %v, want %v", calls, want)
		}
	}

	// The scale it has already: nothing to do, the cache stays.
	runLora(h, "/lora 1 -1.5")
	screenHas(t, h, "LoRA tuned.gguf: scale -1.5 already.")
	if c, _ := g.recorded(); len(c) != len(want) {
		t.Fatalf("setting the same scale again called the model: %v", c)
	}

	// The next reply carries the adapters that were on, and /stats says so.
	sendAndWait(h, "hello")
	if h.m.last == nil || len(h.m.last.Adapters) != 1 || h.m.last.Adapters[0].Name != "tuned.gguf" {
		t.Fatalf("last figures %+v", h.m.last)
	}
	h.typeText("/stats")
	h.enter()
	h.settle()
	screenHas(t, h, "LoRA: tuned.gguf ×-1.5")
}

func TestLoraBadInput(t *testing.T) {
	g := newLoraGen()
	h := newHarness(t, Config{Gen: g}, 120, 30)
	for _, c := range []struct{ line, want string }{
		{"/lora 1 5", `/lora: scale "5" is not a number from -4 to 4 (or on, off).`},
		{"/lora 1 -4.01", `/lora: scale "-4.01" is not a number from -4 to 4 (or on, off).`},
		{"/lora 1 abc", `/lora: scale "abc" is not a number from -4 to 4 (or on, off).`},
		{"/lora 1 NaN", `/lora: scale "NaN" is not a number from -4 to 4 (or on, off).`},
		{"/lora 1 Inf", `/lora: scale "Inf" is not a number from -4 to 4 (or on, off).`},
		{"/lora 4 1", "/lora: there is no adapter 4; loaded: 1 tuned.gguf, 2 style.gguf, 3 style-strong.gguf."},
		{"/lora 0 1", "/lora: there is no adapter 0; loaded: 1 tuned.gguf, 2 style.gguf, 3 style-strong.gguf."},
		{"/lora funny 1", `/lora: no adapter is called "funny"; loaded: 1 tuned.gguf, 2 style.gguf, 3 style-strong.gguf.`},
		{"/lora sty 1", `/lora: "sty" could be style.gguf or style-strong.gguf: give more of the name, or the number.`},
		{"/lora 1", loraUsage},
		{"/lora 1 2 3", loraUsage},
	} {
		h.typeText(c.line)
		h.enter()
		h.settle()
		if h.m.errLine != c.want {
			t.Errorf("%s: error %q, want %q", c.line, h.m.errLine, c.want)
		}
		// The line stays to be fixed.
		if v := h.m.input.Value(); v != c.line {
			t.Errorf("%s: input %q after the error", c.line, v)
		}
		h.m.input.Reset()
	}
	if calls, _ := g.recorded(); len(calls) != 0 {
		t.Fatalf("bad input reached the model: %v", calls)
	}

	// A failure of the model is said, and the chat is not left busy.
	g.setErr = errors.New("adapter 1 is gone")
	runLora(h, "/lora 1 1")
	if h.m.errLine != "/lora: adapter 1 is gone" || h.m.busy != "" {
		t.Fatalf("error %q, busy %q", h.m.errLine, h.m.busy)
	}
}

func TestLoraRefusedWhileStreaming(t *testing.T) {
	g := newLoraGen(tokens(strings.Repeat("word ", 20), 5)...)
	g.gate, g.pauseAfter = make(chan struct{}), 3
	h := newHarness(t, Config{Gen: g}, 120, 30)
	h.typeText("go on")
	h.enter()
	h.waitFor("3 tokens", func(m Model) bool { return m.cur != nil && m.cur.tokens == 3 })
	h.typeText("/lora 1 off")
	h.enter()
	if !strings.Contains(h.m.errLine, "still streaming") || h.m.input.Value() != "/lora 1 off" {
		t.Fatalf("error %q, input %q", h.m.errLine, h.m.input.Value())
	}
	if calls, _ := g.recorded(); len(calls) != 0 {
		t.Fatalf("the scale changed under a streaming reply: %v", calls)
	}
	// The status line still names the adapter the reply is made with.
	if s := status(h); !strings.Contains(s, "+lora tuned.gguf×0.5") {
		t.Fatalf("status line while streaming %q", s)
	}
	close(g.gate)
	h.waitFor("the reply", func(m Model) bool { return m.cur == nil })
}

func TestLoraNotAvailable(t *testing.T) {
	for _, c := range []struct {
		name string
		gen  func() api.Generator
		want string
	}{
		{"no capability", func() api.Generator { return newFakeGen() },
			"/lora: LoRA adapters are not available for this model."},
		{"remote", func() api.Generator {
			g := newLoraGen()
			g.info.Arch, g.info.Backend = "remote", "remote example.com"
			return g
		}, "/lora: LoRA adapters are not available for a remote model: they need a local GGUF model run by llama.cpp."},
		{"go engine", func() api.Generator {
			g := newLoraGen()
			g.info.Backend = "go"
			return g
		}, "/lora: LoRA adapters are not available on the Go engine: they need llama.cpp (--backend llama.cpp)."},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, Config{Gen: c.gen()}, 120, 30)
			for _, line := range []string{"/lora", "/lora 1 0.5"} {
				h.typeText(line)
				h.enter()
				h.settle()
				if h.m.errLine != c.want {
					t.Fatalf("%s: error %q, want %q", line, h.m.errLine, c.want)
				}
			}
			if g, ok := h.m.gen.(*loraGen); ok {
				if calls, listed := g.recorded(); len(calls)+listed != 0 {
					t.Fatalf("the model was asked: %v, %d listings", calls, listed)
				}
			}
		})
	}

	h := newHarness(t, Config{}, 120, 30)
	h.typeText("/lora")
	h.enter()
	if h.m.errLine != "No model is loaded: use /model PATH." {
		t.Fatalf("no model: %q", h.m.errLine)
	}
}

func TestLoraNoneLoaded(t *testing.T) {
	g := newLoraGen()
	g.adapters, g.info.Adapters = nil, nil
	h := newHarness(t, Config{Gen: g}, 120, 30)
	runLora(h, "/lora")
	screenHas(t, h, noLoraLoaded)
	h.typeText("/lora 1 0.5")
	h.enter()
	if h.m.errLine != noLoraLoaded {
		t.Fatalf("setting with none loaded: %q", h.m.errLine)
	}
	if s := status(h); strings.Contains(s, "lora") {
		t.Fatalf("status line %q", s)
	}
}

// A model switch forgets the old model's adapters, and an answer about the
// old model that comes late is dropped.
func TestLoraAfterModelSwitch(t *testing.T) {
	first, next := newLoraGen(), newLoraGen()
	next.adapters[0].Scale, next.adapters[1].Scale = 0, 2
	next.info.Adapters = append([]api.Adapter(nil), next.adapters...)
	h := newHarness(t, Config{Gen: first, LoadModel: func(string) (api.Generator, error) { return next, nil }}, 120, 30)
	runLora(h, "/lora 1 1")
	stale := h.m.lora.seq
	h.typeText("/model /models/other.gguf")
	h.enter()
	h.waitFor("the switch", func(m Model) bool { return m.gen == api.Generator(next) })
	if s := status(h); !strings.Contains(s, "+lora style.gguf×2") {
		t.Fatalf("status line after the switch %q", s)
	}
	h.send(loraMsg{seq: stale, adapters: first.Adapters(), set: 0, scale: 1})
	if s := status(h); !strings.Contains(s, "+lora style.gguf×2") {
		t.Fatalf("a late answer about the old model changed the status line: %q", s)
	}
}

func TestLoraInHelpAndCompletion(t *testing.T) {
	if c := matchCommands("/lo"); len(c) != 1 || c[0].name != "lora" {
		t.Fatalf("completion of /lo: %+v", c)
	}
	h := newHarness(t, Config{Gen: newFakeGen()}, 120, 60)
	found := false
	for _, l := range h.m.helpLines(96) {
		if strings.HasPrefix(strings.TrimSpace(ansi.Strip(l)), "/lora [N SCALE]") {
			found = true
		}
	}
	if !found {
		t.Fatal("/help does not list /lora")
	}
}
