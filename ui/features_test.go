package ui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"natter/engine/api"
	"natter/history"
	"natter/prompts"
)

func typeLine(h *harness, s string) {
	h.m.input.Reset()
	h.typeText(s)
	h.enter()
}

func lastRequest(t *testing.T, g *fakeGen) api.Request {
	t.Helper()
	reqs := g.requests()
	if len(reqs) == 0 {
		t.Fatal("no request was sent")
	}
	return reqs[len(reqs)-1]
}

// A persona comes from real prompt files; edits on disk are picked up while
// the chat runs and a broken edit keeps the last good version.
func TestPersonaSwitchCompletionAndReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pirate.md")
	if err := os.WriteFile(file, []byte("You are a pirate talking to {{.User}} on {{.Model}}.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lib, err := prompts.LoadLibrary(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := newFakeGen("Arr.")
	rec := &recorder{}
	h := newHarness(t, Config{Gen: g, Recorder: rec, Personas: LibraryPersonas(lib, prompts.Vars{User: "ann", OS: "linux"}, 20*time.Millisecond, map[string]bool{"top-k": true})}, 100, 30)

	// A built-in persona with its own settings; top-k was set on the
	// command line, so it stays.
	h.m.sampling.TopK = 7
	typeLine(h, "/prompt translator")
	h.waitFor("translator", func(m Model) bool { return m.persona == "translator" })
	if h.m.sampling.Temperature != 0.3 || h.m.sampling.TopK != 7 {
		t.Fatalf("sampling %+v", h.m.sampling)
	}
	if !strings.Contains(h.screen(), "its settings: temp 0.3") {
		t.Fatalf("settings not reported:\n%s", h.screen())
	}

	h.typeText("/prompt pi")
	if v := ansi.Strip(h.m.View().Content); !strings.Contains(v, "pirate") {
		t.Fatalf("no persona completion:\n%s", v)
	}
	h.key(tea.KeyTab, 0)
	if v := h.m.input.Value(); v != "/prompt pirate" {
		t.Fatalf("tab gave %q", v)
	}
	h.enter()
	h.waitFor("persona", func(m Model) bool { return m.persona == "pirate" })
	want := "You are a pirate talking to ann on tiny-llama."
	if h.m.system != want {
		t.Fatalf("system %q", h.m.system)
	}
	if !strings.Contains(h.m.statusLine(), "persona pirate") {
		t.Fatalf("status line %q", ansi.Strip(h.m.statusLine()))
	}
	sendAndWait(h, "ahoy")
	if got := lastRequest(t, g).Messages[0]; got.Role != prompts.RoleSystem || got.Content != want {
		t.Fatalf("system message sent: %+v", got)
	}

	// An edit on disk re-renders the persona.
	if err := os.WriteFile(file, []byte("You are a polite pirate, {{.User}}. Say arr often.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitFor("reloaded persona", func(m Model) bool { return strings.Contains(m.system, "polite pirate, ann") })
	h.settle()
	if !strings.Contains(h.screen(), "Persona pirate changed on disk") {
		t.Fatalf("no reload note:\n%s", h.screen())
	}

	// A broken edit: one error line, the last good version stays.
	good := h.m.system
	if err := os.WriteFile(file, []byte("You are {{.User broken and longer than before\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitFor("error line", func(m Model) bool { return strings.Contains(m.errLine, "pirate.md") })
	h.settle()
	if h.m.system != good {
		t.Fatalf("broken edit changed the system prompt to %q", h.m.system)
	}
	if strings.Contains(h.m.errLine, "\n") {
		t.Fatalf("error is not one line: %q", h.m.errLine)
	}
	sendAndWait(h, "still there?")
	if got := lastRequest(t, g).Messages[0].Content; got != good {
		t.Fatalf("sent system %q", got)
	}

	// Unknown names are errors that list the choices; /system leaves the persona.
	typeLine(h, "/prompt nosuch")
	h.waitFor("error", func(m Model) bool { return strings.Contains(m.errLine, "nosuch") })
	if !strings.Contains(h.m.errLine, "pirate") || h.m.persona != "pirate" || h.m.input.Value() != "/prompt nosuch" {
		t.Fatalf("err %q persona %q", h.m.errLine, h.m.persona)
	}
	h.m.errLine = ""
	typeLine(h, "/system plain")
	h.settle()
	if h.m.persona != "" || strings.Contains(h.m.statusLine(), "persona") {
		t.Fatalf("persona %q after /system", h.m.persona)
	}
}

// --prompt NAME at start: the header names the persona.
func TestPersonaInHeader(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen(), System: "be brief", Persona: "concise"}, 80, 24)
	if !strings.Contains(h.screen(), "natter · tiny-llama Q8_0 · persona concise") {
		t.Fatalf("header:\n%s", h.screen())
	}
}

// templateGen formats with a real template chain, as main's chatGen does.
type templateGen struct {
	*fakeGen
	chain *prompts.Chain
}

func (g templateGen) ChatTemplate() prompts.ChatTemplate { return g.chain }

func TestTemplateOverlay(t *testing.T) {
	var src strings.Builder
	src.WriteString("{%- for message in messages %}\n")
	for i := range 60 {
		src.WriteString("{#- line " + string(rune('a'+i%26)) + " of a long template #}\n")
	}
	src.WriteString("{{ '<|' + message.role + '|>' + message.content }}\n{%- endfor %}\nEND-OF-TEMPLATE")
	chain, err := prompts.BuildChain(prompts.ChainConfig{ModelTemplate: src.String(), Builtin: nil})
	if err != nil {
		t.Fatal(err)
	}
	g := templateGen{newFakeGen("ok"), chain}
	h := newHarness(t, Config{Gen: g}, 100, 30)
	sendAndWait(h, "hi")
	if !strings.Contains(ansi.Strip(h.m.statusLine()), "template fake:chatml") {
		t.Fatalf("status line does not name the template: %q", ansi.Strip(h.m.statusLine()))
	}
	typeLine(h, "/template")
	scr := h.screen()
	for _, s := range []string{"Chat template · gguf:jinja", "the model file (GGUF tokenizer.chat_template)", "{%- for message in messages %}", "lines 1–"} {
		if !strings.Contains(scr, s) {
			t.Fatalf("overlay lacks %q:\n%s", s, scr)
		}
	}
	if strings.Contains(scr, "END-OF-TEMPLATE") {
		t.Fatalf("a long source should need scrolling:\n%s", scr)
	}
	if n := len(strings.Split(h.m.View().Content, "\n")); n > h.m.height {
		t.Fatalf("view is %d lines in a %d-line window", n, h.m.height)
	}
	h.key(tea.KeyEnd, 0)
	if !strings.Contains(h.screen(), "END-OF-TEMPLATE") {
		t.Fatalf("end does not reach the last line:\n%s", h.screen())
	}
	h.typeText("x") // other keys do not reach the input
	if h.m.input.Value() != "" {
		t.Fatalf("input %q", h.m.input.Value())
	}
	h.key(tea.KeyEscape, 0)
	if h.m.pager != nil || strings.Contains(h.screen(), "Chat template") {
		t.Fatalf("esc did not close:\n%s", h.screen())
	}

	// A model template that does not parse: the overlay says why it fell back.
	broken, err := prompts.BuildChain(prompts.ChainConfig{ModelTemplate: "{% for x in %}"})
	if err != nil {
		t.Fatal(err)
	}
	g2 := templateGen{newFakeGen("ok"), broken}
	h2 := newHarness(t, Config{Gen: g2, Fullscreen: true}, 100, 30)
	if _, err := broken.Render([]prompts.Message{{Role: "user", Content: "x"}}, true); err != nil {
		t.Fatal(err)
	}
	typeLine(h2, "/template")
	scr = h2.screen()
	for _, s := range []string{"chatml", "fell back", "gguf:jinja", "last prompt   chatml"} {
		if !strings.Contains(scr, s) {
			t.Fatalf("fallback overlay lacks %q:\n%s", s, scr)
		}
	}
}

// testHistory is main's adapter over the real SQLite store.
type testHistory struct {
	st  *history.Store
	rec *history.Recorder
}

func (h testHistory) FindChats(ctx context.Context, q string, limit int) ([]ChatSummary, error) {
	cs, err := h.st.FindChats(ctx, q, limit)
	var out []ChatSummary
	for _, c := range cs {
		out = append(out, ChatSummary{ID: c.ID, Title: c.Title, Model: c.Model, Persona: c.Persona, Updated: c.UpdatedAt, Messages: c.MessageCount})
	}
	return out, err
}

func (h testHistory) Resume(ctx context.Context, id int64) (*SavedChat, error) {
	c, err := h.rec.Resume(ctx, id)
	if err != nil {
		return nil, err
	}
	return &SavedChat{ID: c.ID, Title: c.Title, Persona: c.Persona, Messages: c.PromptMessages(), Model: c.Model, Sampling: c.Sampling}, nil
}

func (h testHistory) Rename(title string) error { return h.rec.Rename(title) }

func saveChat(t *testing.T, st *history.Store, system string, turns ...string) int64 {
	t.Helper()
	r := st.NewRecorder(history.ChatMeta{})
	if err := r.NewChat("old-model", system); err != nil {
		t.Fatal(err)
	}
	for i, s := range turns {
		if i%2 == 0 {
			if err := r.Append(prompts.Message{Role: prompts.RoleUser, Content: s}); err != nil {
				t.Fatal(err)
			}
		} else if err := r.Finish(prompts.Message{Role: prompts.RoleAssistant, Content: s}, &api.Stats{}, api.StopEOG); err != nil {
			t.Fatal(err)
		}
	}
	return r.ChatID()
}

func TestHistoryPickerResumeAndRename(t *testing.T) {
	st, err := history.Open(filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	penguins := saveChat(t, st, "You like birds.", "tell me about penguins", "Penguins are flightless birds.")
	saveChat(t, st, "", "what is a monad", "A monoid in the category of endofunctors.")

	g := newFakeGen("They swim well.")
	rec := st.NewRecorder(history.ChatMeta{})
	defer rec.Close()
	h := newHarness(t, Config{Gen: g, Recorder: rec, History: testHistory{st, rec}}, 100, 30)
	sendAndWait(h, "an unrelated start")

	typeLine(h, "/history")
	h.waitFor("chats", func(m Model) bool { return m.picker != nil && !m.picker.loading })
	scr := h.screen()
	for _, s := range []string{"History", "tell me about penguins", "what is a monad", "an unrelated start"} {
		if !strings.Contains(scr, s) {
			t.Fatalf("picker lacks %q:\n%s", s, scr)
		}
	}
	h.typeText("flightless") // matches a message, not the title
	h.waitFor("search", func(m Model) bool { return !m.picker.loading && m.picker.query == "flightless" })
	if len(h.m.picker.items) != 1 || h.m.picker.items[0].ID != penguins {
		t.Fatalf("search found %+v", h.m.picker.items)
	}
	h.key(tea.KeyBackspace, 0)
	h.typeText("zzz")
	h.waitFor("no match", func(m Model) bool { return !m.picker.loading && m.picker.query == "flightleszzz" })
	if !strings.Contains(h.screen(), "no saved chat matches") {
		t.Fatalf("empty result:\n%s", h.screen())
	}
	h.send(tea.KeyPressMsg{Code: 'u', Mod: tea.ModCtrl})
	h.typeText("penguins")
	h.waitFor("search", func(m Model) bool { return !m.picker.loading && len(m.picker.items) == 1 })
	h.enter()
	h.waitFor("resumed", func(m Model) bool { return m.picker == nil && m.busy == "" && len(m.msgs) == 2 })
	h.settle()
	if h.m.system != "You like birds." || h.m.msgs[0].Content != "tell me about penguins" {
		t.Fatalf("system %q msgs %+v", h.m.system, h.m.msgs)
	}
	if !strings.Contains(h.screen(), "resumed chat #") || !strings.Contains(h.screen(), "Penguins are flightless birds.") {
		t.Fatalf("resumed conversation not shown:\n%s", h.screen())
	}

	sendAndWait(h, "do they swim?")
	req := lastRequest(t, g)
	if len(req.Messages) != 4 || req.Messages[0].Content != "You like birds." || req.Messages[2].Content != "Penguins are flightless birds." {
		t.Fatalf("request after resume: %+v", req.Messages)
	}
	typeLine(h, "/rename Penguin facts")
	h.m.rec.wait()
	c, err := st.Get(context.Background(), penguins)
	if err != nil {
		t.Fatal(err)
	}
	if c.Title != "Penguin facts" || len(c.Messages) != 4 || c.Messages[3].Content != "They swim well." {
		t.Fatalf("saved chat: title %q, %d messages %+v", c.Title, len(c.Messages), c.Messages)
	}

	typeLine(h, "/resume 99999")
	h.waitFor("error", func(m Model) bool { return m.errLine != "" })
	if !strings.Contains(h.m.errLine, "99999") || len(h.m.msgs) != 4 {
		t.Fatalf("err %q, msgs %d", h.m.errLine, len(h.m.msgs))
	}
	h.m.errLine = ""
	typeLine(h, "/resume abc")
	if !strings.Contains(h.m.errLine, "not a chat number") {
		t.Fatalf("err %q", h.m.errLine)
	}
}

func TestHistoryOff(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen()}, 80, 24)
	for _, c := range []string{"/history", "/resume 3", "/rename x"} {
		h.m.errLine = ""
		typeLine(h, c)
		if !strings.Contains(h.m.errLine, "History is off") {
			t.Fatalf("%s: err %q", c, h.m.errLine)
		}
	}
}

// fakePuller stands in for models.Pull (tested in models): the UI
// is the thing under test here.
type fakePuller struct {
	mu     sync.Mutex
	names  []string
	dir    string
	step   chan struct{} // each receive lets one progress report through; nil: no waiting
	blocks bool          // wait for cancellation
	err    error
}

func (p *fakePuller) pull(ctx context.Context, name string, progress func(PullProgress)) (string, error) {
	p.mu.Lock()
	p.names = append(p.names, name)
	p.mu.Unlock()
	part := filepath.Join(p.dir, name+".gguf.part")
	if err := os.WriteFile(part, []byte("GGUF partial"), 0o600); err != nil {
		return "", err
	}
	progress(PullProgress{Phase: "connecting", Total: -1, ETA: -1})
	progress(PullProgress{Warning: "this model needs about 1 GB; 900 MB is free"})
	for i := 1; i <= 4; i++ {
		if p.step != nil {
			select {
			case <-p.step:
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		progress(PullProgress{Phase: "downloading", Done: int64(i) * 100_000_000, Total: 400_000_000, Speed: 10_000_000, ETA: time.Duration(4-i) * 10 * time.Second})
	}
	if p.blocks {
		<-ctx.Done()
		return "", ctx.Err()
	}
	if p.err != nil {
		return "", p.err
	}
	final := filepath.Join(p.dir, name+".gguf")
	return final, os.Rename(part, final)
}

func (p *fakePuller) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.names...)
}

func testCatalog() []CatalogItem {
	return []CatalogItem{
		{Name: "small-one", Description: "a small model", Size: 398_000_000, FitMark: "✓", Fit: "fits"},
		{Name: "mid-one", Description: "a middle model", Size: 986_000_000, FitMark: "~", Fit: "tight"},
		{Name: "big-one", Description: "a big model", Size: 2_400_000_000, FitMark: "✗", Fit: "too big"},
	}
}

func TestFirstRunPicksDownloadsAndLoads(t *testing.T) {
	dir := t.TempDir()
	p := &fakePuller{dir: dir, step: make(chan struct{})}
	loaded := newFakeGen("Hello from the new model.")
	var loadedPath string
	rec := &recorder{}
	cfg := Config{NoModelHelp: "No model found.", Catalog: testCatalog, Pull: p.pull, Recorder: rec,
		LoadModel: func(path string) (api.Generator, error) {
			loadedPath = path
			return loaded, nil
		}}
	h := newHarness(t, cfg, 100, 30)
	scr := h.screen()
	for _, s := range []string{"No model found.", "Pick a model to download", "› small-one", "398 MB", "✓ fits", "big-one"} {
		if !strings.Contains(scr, s) {
			t.Fatalf("first-run screen lacks %q:\n%s", s, scr)
		}
	}
	if len(p.calls()) != 0 {
		t.Fatal("something was downloaded before the user picked")
	}
	h.key(tea.KeyDown, 0)
	h.key(tea.KeyDown, 0)
	h.key(tea.KeyDown, 0) // stays on the last
	h.key(tea.KeyUp, 0)
	if !strings.Contains(h.screen(), "› mid-one") {
		t.Fatalf("selection:\n%s", h.screen())
	}
	h.enter()
	h.waitFor("connecting", func(m Model) bool { return m.pull != nil })
	h.waitFor("warning", func(m Model) bool { return strings.Contains(h.screen(), "900 MB is free") })
	p.step <- struct{}{}
	p.step <- struct{}{}
	h.waitFor("half", func(m Model) bool { return m.pull != nil && m.pull.last.Done == 200_000_000 })
	scr = h.screen()
	if !strings.Contains(scr, "↓ mid-one") || !strings.Contains(scr, " 50% ") || !strings.Contains(scr, "200 MB / 400 MB") || !strings.Contains(scr, "esc stops") {
		t.Fatalf("no progress bar:\n%s", scr)
	}
	p.step <- struct{}{}
	p.step <- struct{}{}
	h.waitFor("model", func(m Model) bool { return m.gen != nil && m.busy == "" })
	if want := filepath.Join(dir, "mid-one.gguf"); loadedPath != want {
		t.Fatalf("loaded %q, want %q", loadedPath, want)
	}
	if got := p.calls(); len(got) != 1 || got[0] != "mid-one" {
		t.Fatalf("pulled %v", got)
	}
	h.settle()
	if strings.Contains(h.screen(), "Pick a model") {
		t.Fatalf("catalog still shown:\n%s", h.screen())
	}
	sendAndWait(h, "hi")
	if !strings.Contains(h.screen(), "Hello from the new model.") {
		t.Fatalf("no reply:\n%s", h.screen())
	}
	h.m.rec.wait()
	rec.mu.Lock()
	calls := strings.Join(rec.calls, "|")
	rec.mu.Unlock()
	if !strings.Contains(calls, "new tiny-llama ") {
		t.Fatalf("the chat is not saved under the loaded model: %s", calls)
	}
}

// The picker starts on the model recommended for this machine and marks it,
// and an entry that could not be verified says so.
func TestFirstRunStartsOnTheRecommendation(t *testing.T) {
	cat := testCatalog()
	cat[1].Recommended = true
	cat[2].Unverified = true
	cat = append(cat, CatalogItem{Name: "a-much-longer-name", Description: "a long name", Size: 1_000_000_000, FitMark: "✓", Fit: "fits"})
	p := &fakePuller{dir: t.TempDir(), blocks: true}
	h := newHarness(t, Config{Catalog: func() []CatalogItem { return cat }, Pull: p.pull, LoadModel: func(string) (api.Generator, error) {
		return nil, errors.New("must not load")
	}}, 120, 30)
	scr := h.screen()
	for _, s := range []string{"› mid-one", "(recommended) a middle model", "(unverified) a big model"} {
		if !strings.Contains(scr, s) {
			t.Fatalf("first-run screen lacks %q:\n%s", s, scr)
		}
	}
	if strings.Count(scr, "(recommended)") != 1 {
		t.Fatalf("more than one recommendation:\n%s", scr)
	}
	// Names longer than the column still line up the sizes.
	col := -1
	for _, l := range strings.Split(scr, "\n") {
		for _, size := range []string{"398 MB", "986 MB", "2.4 GB", "1.0 GB"} {
			if i := strings.Index(l, size); i >= 0 {
				if w := ansi.StringWidth(l[:i+len(size)]); col >= 0 && w != col {
					t.Fatalf("sizes do not line up:\n%s", scr)
				} else {
					col = w
				}
			}
		}
	}
	if col < 0 {
		t.Fatalf("no sizes:\n%s", scr)
	}
	h.enter()
	h.waitFor("pull", func(m Model) bool { return m.pull != nil && len(p.calls()) > 0 })
	if got := p.calls(); len(got) != 1 || got[0] != "mid-one" {
		t.Fatalf("Enter pulled %v, want the recommendation", got)
	}
	h.key(tea.KeyEscape, 0)
	h.waitFor("stopped", func(m Model) bool { return m.pull == nil })
}

func TestFirstRunEscStopsTheDownload(t *testing.T) {
	dir := t.TempDir()
	p := &fakePuller{dir: dir, blocks: true}
	h := newHarness(t, Config{Catalog: testCatalog, Pull: p.pull, LoadModel: func(string) (api.Generator, error) {
		return nil, errors.New("must not load")
	}}, 100, 30)
	h.enter()
	h.waitFor("progress", func(m Model) bool { return m.pull != nil && m.pull.last.Done == 400_000_000 })
	h.key(tea.KeyEscape, 0)
	h.waitFor("stopped", func(m Model) bool { return m.pull == nil })
	h.settle()
	if !strings.Contains(h.screen(), "partial file is kept") {
		t.Fatalf("no note:\n%s", h.screen())
	}
	if _, err := os.Stat(filepath.Join(dir, "small-one.gguf.part")); err != nil {
		t.Fatalf("partial file: %v", err)
	}
	if h.m.gen != nil || !strings.Contains(h.screen(), "› small-one") {
		t.Fatalf("the picker is not back:\n%s", h.screen())
	}

	// A failed download says why and leaves the picker.
	p.blocks, p.err = false, errors.New("server said 404\nmore")
	h.enter()
	h.waitFor("error", func(m Model) bool { return m.pull == nil && m.errLine != "" })
	if h.m.errLine != "download small-one: server said 404 …" {
		t.Fatalf("err %q", h.m.errLine)
	}
}

func TestFirstRunOffline(t *testing.T) {
	p := &fakePuller{dir: t.TempDir()}
	cat := testCatalog()
	cat[2].Downloaded = "/models/big-one.gguf"
	var loadedPath string
	h := newHarness(t, Config{Catalog: func() []CatalogItem { return cat }, Pull: p.pull, Offline: true,
		LoadModel: func(path string) (api.Generator, error) { loadedPath = path; return newFakeGen(), nil }}, 100, 30)
	if !strings.Contains(h.screen(), "Downloads are off (NATTER_OFFLINE is set)") || !strings.Contains(h.screen(), "on disk") {
		t.Fatalf("offline screen:\n%s", h.screen())
	}
	h.enter()
	if !strings.Contains(h.m.errLine, "NATTER_OFFLINE") || h.m.pull != nil {
		t.Fatalf("err %q", h.m.errLine)
	}
	h.key(tea.KeyDown, 0)
	h.key(tea.KeyDown, 0)
	h.enter()
	h.waitFor("loaded", func(m Model) bool { return m.gen != nil })
	if loadedPath != "/models/big-one.gguf" || len(p.calls()) != 0 {
		t.Fatalf("loaded %q, pulls %v", loadedPath, p.calls())
	}
}

// The streaming reply is checkpointed at least every 500 ms of new text.
func TestCheckpointEvery500ms(t *testing.T) {
	g := newFakeGen(tokens("a reply that pauses", 2)...)
	g.gate, g.pauseAfter = make(chan struct{}), 3
	rec := &recorder{}
	h := newHarness(t, Config{Gen: g, Recorder: rec}, 80, 24)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.m.now = func() time.Time { return clock }
	count := func() int {
		h.m.rec.wait()
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return strings.Count(strings.Join(rec.calls, "|"), "checkpoint")
	}
	h.typeText("go")
	h.enter()
	h.waitFor("paused", func(m Model) bool { return m.cur != nil && m.cur.tokens == 3 })
	h.settle()
	base := count()
	id := h.m.cur.id
	for range 10 { // 1 s of text in 100 ms steps
		clock = clock.Add(100 * time.Millisecond)
		h.send(streamMsg{id: id, text: "y", pieces: 1})
	}
	if n := count() - base; n != 2 {
		t.Fatalf("%d checkpoints in 1 s of streaming, want 2", n)
	}
	clock = clock.Add(499 * time.Millisecond)
	h.send(streamMsg{id: id, text: "z", pieces: 1})
	if n := count() - base; n != 2 {
		t.Fatalf("checkpoint after 499 ms")
	}
	clock = clock.Add(time.Millisecond)
	h.send(streamMsg{id: id, text: "z", pieces: 1})
	if n := count() - base; n != 3 {
		t.Fatalf("no checkpoint after 500 ms")
	}
	// A finished line is saved at once, whatever the clock says.
	h.send(streamMsg{id: id, text: "end of a line\n", pieces: 1})
	if n := count() - base; n != 4 {
		t.Fatalf("a finished line was not saved at once (%d checkpoints)", n-3)
	}
	h.send(streamMsg{id: id, text: "no newline", pieces: 1})
	if n := count() - base; n != 4 {
		t.Fatalf("text without a newline was saved before 500 ms")
	}
	close(g.gate)
	h.waitFor("end", func(m Model) bool { return m.cur == nil })
}

func TestHelpScrollsWhenItDoesNotFit(t *testing.T) {
	h := newHarness(t, Config{Gen: newFakeGen()}, 80, 24)
	h.typeText("?")
	if strings.Contains(h.screen(), "/quit") || !strings.Contains(h.screen(), "↑↓ scroll") {
		t.Fatalf("help:\n%s", h.screen())
	}
	for range 30 {
		h.key(tea.KeyDown, 0)
	}
	scr := h.screen()
	if !strings.Contains(scr, "/quit") || !strings.Contains(scr, "of 32") {
		t.Fatalf("scrolled help:\n%s", scr)
	}
	if n := len(strings.Split(h.m.View().Content, "\n")); n > 24 {
		t.Fatalf("help is %d lines in 24", n)
	}
}

// builtinFormatter stands for llama.cpp's formatter: no Jinja source.
type builtinFormatter struct{}

func (builtinFormatter) Name() string { return "llama.cpp chatml (the model has no template)" }
func (builtinFormatter) Render(msgs []prompts.Message, gen bool) (string, error) {
	return "formatted", nil
}

func TestTemplateOverlayBuiltinFormatter(t *testing.T) {
	chain, err := prompts.BuildChain(prompts.ChainConfig{Builtin: builtinFormatter{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chain.Render([]prompts.Message{{Role: "user", Content: "x"}}, true); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Config{Gen: templateGen{newFakeGen(), chain}}, 120, 30)
	typeLine(h, "/template")
	scr := h.screen()
	for _, s := range []string{"in use: llama.cpp chatml", "the source of chatml (the template in use has no Jinja source)", "<|im_start|>"} {
		if !strings.Contains(scr, s) {
			t.Fatalf("overlay lacks %q:\n%s", s, scr)
		}
	}
}

func TestMessagesWaitWhileAModelLoads(t *testing.T) {
	release := make(chan struct{})
	next := newFakeGen("from the second model")
	h := newHarness(t, Config{Gen: newFakeGen("first"), LoadModel: func(string) (api.Generator, error) {
		<-release
		return next, nil
	}}, 80, 24)
	typeLine(h, "/model /m/second.gguf")
	h.typeText("hello")
	h.enter()
	if !strings.Contains(h.m.errLine, "loading second.gguf") || h.m.input.Value() != "hello" || len(h.m.msgs) != 0 {
		t.Fatalf("err %q input %q msgs %d", h.m.errLine, h.m.input.Value(), len(h.m.msgs))
	}
	close(release)
	h.waitFor("switch", func(m Model) bool { return m.gen == next && m.busy == "" })
	h.enter()
	h.waitFor("reply", func(m Model) bool { return len(m.msgs) == 2 && m.cur == nil })
	if len(next.requests()) != 1 {
		t.Fatal("the message did not go to the new model")
	}
}

func TestPasteIntoHistorySearch(t *testing.T) {
	st, err := history.Open(filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	saveChat(t, st, "", "how do penguins sleep", "Standing up.")
	saveChat(t, st, "", "what is rust", "A language.")
	rec := st.NewRecorder(history.ChatMeta{})
	defer rec.Close()
	h := newHarness(t, Config{Gen: newFakeGen(), Recorder: rec, History: testHistory{st, rec}}, 100, 30)
	typeLine(h, "/history")
	h.send(tea.PasteMsg{Content: "penguins\nsleep\x1b[31m"})
	h.waitFor("search", func(m Model) bool { return !m.picker.loading })
	if q := h.m.picker.query; q != "penguins sleep\uFFFD[31m" {
		t.Fatalf("query %q", q)
	}
	h.m.picker.query = ""
	h.send(tea.PasteMsg{Content: "penguins sleep"})
	h.waitFor("search", func(m Model) bool { return !m.picker.loading })
	if len(h.m.picker.items) != 1 || h.m.input.Value() != "" {
		t.Fatalf("items %+v, input %q", h.m.picker.items, h.m.input.Value())
	}
}

func TestShortTemplateName(t *testing.T) {
	for in, want := range map[string]string{
		"gguf:jinja": "gguf:jinja",
		"llama.cpp chatml (the model has no template)":               "llama.cpp chatml",
		"file:/work/shared/templates/Qwen-Qwen2.5-7B-Instruct.jinja": "file:Qwen-Qwen2.5-7B-Instruct.jinja",
		"user:mine": "user:mine",
	} {
		if got := shortTemplate(in); got != want {
			t.Errorf("shortTemplate(%q) = %q, want %q", in, got, want)
		}
	}
}

// Switching persona, a persona file edited on disk and /system mid-chat
// change the saved chat in place (real SQLite): one chat in the history,
// every turn in it, the latest system prompt and persona stored.
func TestPersonaSwitchKeepsOneSavedChat(t *testing.T) {
	st, err := history.Open(filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "pirate.md")
	if err := os.WriteFile(file, []byte("You are a pirate.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lib, err := prompts.LoadLibrary(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := st.NewRecorder(history.ChatMeta{})
	defer rec.Close()
	g := newFakeGen("Arr.")
	h := newHarness(t, Config{Gen: g, Recorder: rec, Personas: LibraryPersonas(lib, prompts.Vars{User: "ann"}, 20*time.Millisecond, nil)}, 100, 30)
	sendAndWait(h, "hello")
	typeLine(h, "/prompt pirate")
	h.waitFor("persona", func(m Model) bool { return m.persona == "pirate" })
	sendAndWait(h, "ahoy")
	if err := os.WriteFile(file, []byte("You are a polite pirate.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitFor("reloaded persona", func(m Model) bool { return strings.Contains(m.system, "polite pirate") })
	h.settle()
	sendAndWait(h, "and now?")
	h.m.rec.wait()

	chats, err := st.List(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(chats) != 1 {
		t.Fatalf("%d chats saved, want 1: %+v", len(chats), chats)
	}
	c, err := st.Get(context.Background(), chats[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Persona != "pirate" || c.SystemPrompt != "You are a polite pirate." {
		t.Fatalf("saved persona %q system %q", c.Persona, c.SystemPrompt)
	}
	var turns []string
	for _, m := range c.Messages {
		turns = append(turns, m.Content)
	}
	if got := strings.Join(turns, "|"); got != "hello|Arr.|ahoy|Arr.|and now?|Arr." {
		t.Fatalf("saved turns %q", got)
	}

	typeLine(h, "/system plain")
	h.settle()
	h.m.rec.wait()
	if chats, _ := st.List(context.Background(), 0); len(chats) != 1 {
		t.Fatalf("/system saved another chat: %+v", chats)
	}
	if c, _ := st.Get(context.Background(), chats[0].ID); c.SystemPrompt != "plain" || c.Persona != "" {
		t.Fatalf("after /system: persona %q system %q", c.Persona, c.SystemPrompt)
	}
}

// In a small inline window no frame may be as tall as the screen (it would
// scroll the screen and leave frames in the scrollback): with the help, the
// history picker and the template pager open.
func TestOverlaysLeaveRoomInline(t *testing.T) {
	for _, size := range [][2]int{{60, 15}, {80, 24}, {40, 10}} {
		st, err := history.Open(filepath.Join(t.TempDir(), "h.db"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 30 {
			saveChat(t, st, "", fmt.Sprintf("chat %d", i), "reply")
		}
		rec := st.NewRecorder(history.ChatMeta{})
		chain, _ := prompts.BuildChain(prompts.ChainConfig{ModelTemplate: strings.Repeat("{{ 'line' }}\n", 60)})
		g := templateGen{newFakeGen(), chain}
		h := newHarness(t, Config{Gen: g, History: testHistory{st, rec}, Recorder: rec}, size[0], size[1])
		check := func(what string) {
			t.Helper()
			if n := strings.Count(h.m.View().Content, "\n") + 1; n >= size[1] {
				t.Errorf("%dx%d %s: the frame takes %d rows of %d", size[0], size[1], what, n, size[1])
			}
		}
		h.typeText("?")
		check("help")
		for range 40 {
			h.key(tea.KeyDown, 0)
		}
		check("help scrolled")
		h.key(tea.KeyEscape, 0)
		h.typeText("/history")
		h.enter()
		h.settle()
		check("history")
		h.key(tea.KeyEscape, 0)
		h.typeText("/template")
		h.enter()
		h.settle()
		if h.m.pager == nil {
			t.Fatalf("no template pager:\n%s", h.screen())
		}
		check("template")
		rec.Close()
		st.Close()
	}
}

// natter --resume (no ID) opens the same searchable list as /history:
// Enter resumes the chosen chat; Esc leaves a fresh chat.
func TestOpenHistoryAtStart(t *testing.T) {
	st, err := history.Open(filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	penguins := saveChat(t, st, "", "tell me about penguins", "Penguins are flightless birds.")
	saveChat(t, st, "", "what is a monad", "A monoid in the category of endofunctors.")

	rec := st.NewRecorder(history.ChatMeta{})
	defer rec.Close()
	h := newHarness(t, Config{Gen: newFakeGen("ok"), Recorder: rec, History: testHistory{st, rec}, OpenHistory: true}, 100, 30)
	h.waitFor("the picker", func(m Model) bool { return m.picker != nil && !m.picker.loading && len(m.picker.items) == 2 })
	if scr := h.screen(); !strings.Contains(scr, "History") || !strings.Contains(scr, "what is a monad") {
		t.Fatalf("picker at start:\n%s", scr)
	}
	h.typeText("flightless")
	h.waitFor("search", func(m Model) bool { return !m.picker.loading && m.picker.query == "flightless" })
	if len(h.m.picker.items) != 1 || h.m.picker.items[0].ID != penguins {
		t.Fatalf("search found %+v", h.m.picker.items)
	}
	h.enter()
	h.waitFor("resumed", func(m Model) bool { return m.picker == nil && m.busy == "" && len(m.msgs) == 2 })
	if h.m.msgs[0].Content != "tell me about penguins" {
		t.Fatalf("msgs %+v", h.m.msgs)
	}

	// Esc: a new chat, nothing resumed.
	rec2 := st.NewRecorder(history.ChatMeta{})
	defer rec2.Close()
	h2 := newHarness(t, Config{Gen: newFakeGen("ok"), Recorder: rec2, History: testHistory{st, rec2}, OpenHistory: true}, 100, 30)
	h2.waitFor("the picker", func(m Model) bool { return m.picker != nil && !m.picker.loading })
	h2.key(tea.KeyEscape, 0)
	h2.settle()
	if h2.m.picker != nil || len(h2.m.msgs) != 0 {
		t.Fatalf("after Esc: picker %v, %d messages", h2.m.picker != nil, len(h2.m.msgs))
	}
	sendAndWait(h2, "a fresh start")
	if len(h2.m.msgs) != 2 {
		t.Fatalf("fresh chat: %+v", h2.m.msgs)
	}
}

// renderingGen formats each request with its chain, as the engines do, so
// the chain records which template produced the prompt.
type renderingGen struct{ templateGen }

func (g renderingGen) Generate(ctx context.Context, req api.Request) (<-chan api.Event, error) {
	if _, err := g.chain.Render(req.Messages, true); err != nil {
		return nil, err
	}
	return g.fakeGen.Generate(ctx, req)
}

// A model template that fails only on longer chats: the reply that fell
// back says so in the chat, once, with the reason.
func TestTemplateFallbackNotedInChat(t *testing.T) {
	chain, err := prompts.BuildChain(prompts.ChainConfig{ModelTemplate: "{% if messages|length > 2 %}{{ raise_exception('only one turn is supported') }}{% endif %}" +
		"{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"})
	if err != nil {
		t.Fatal(err)
	}
	g := renderingGen{templateGen{newFakeGen("fine."), chain}}
	h := newHarness(t, Config{Gen: g, Fullscreen: true}, 100, 30)
	sendAndWait(h, "first")
	if strings.Contains(h.screen(), "failed") {
		t.Fatalf("a note before any fallback:\n%s", h.screen())
	}
	sendAndWait(h, "second")
	sendAndWait(h, "third")
	scr := h.screen()
	for _, s := range []string{"The chat template gguf:jinja failed", "only one turn is supported", "formatted with chatml"} {
		if !strings.Contains(strings.Join(strings.Fields(scr), " "), s) {
			t.Fatalf("no fallback note with %q:\n%s", s, scr)
		}
	}
	notes := 0
	for _, e := range h.m.entries {
		if e.kind == entryNote && strings.HasPrefix(e.text, fallbackPrefix) {
			notes++
		}
	}
	if notes != 1 {
		t.Fatalf("%d fallback notes, want 1", notes)
	}
}
