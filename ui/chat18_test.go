package ui

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"natter/engine/api"
	"natter/history"
	"natter/prompts"
)

// A GGUF's general.name is often only the architecture ("llama"): the chat
// names the model by its file (or what Config.ModelName says) everywhere.
func TestModelNamedByItsFile(t *testing.T) {
	g := newFakeGen("Once upon a time.")
	g.info = api.ModelInfo{Name: "llama", Path: "/models/stories260K.gguf", Quantization: "F32", ContextSize: 512}
	rec := &recorder{}
	h := newHarness(t, Config{Gen: g, Recorder: rec}, 100, 24)
	sendAndWait(h, "Tell me a story\nabout a cat")
	scr := h.screen()
	if !strings.Contains(scr, "natter · stories260K F32 ·") {
		t.Fatalf("header does not name the file:\n%s", scr)
	}
	if st := h.m.statusLine(); !strings.HasPrefix(ansi.Strip(st), "stories260K F32 · ctx") {
		t.Fatalf("status line: %q", ansi.Strip(st))
	}
	h.m.rec.wait()
	rec.mu.Lock()
	first := rec.calls[0]
	rec.mu.Unlock()
	if first != "new stories260K " {
		t.Fatalf("the history records the model as %q", first)
	}

	// /save alone names the file after the chat's title, in the current
	// folder, and never over an existing file.
	dir := t.TempDir()
	t.Chdir(dir)
	for _, want := range []string{"Tell-me-a-story.md", "Tell-me-a-story-2.md"} {
		h.typeText("/save")
		h.enter()
		h.settle()
		b, err := os.ReadFile(filepath.Join(dir, want))
		if err != nil {
			t.Fatalf("%s: %v (error line %q)", want, err, h.m.errLine)
		}
		s := string(b)
		if !strings.HasPrefix(s, "# Tell me a story\n\nModel: stories260K F32\n") {
			t.Fatalf("export:\n%s", s)
		}
		if !strings.Contains(h.screen(), "Saved the chat to "+want) {
			t.Fatalf("no note for %s:\n%s", want, h.screen())
		}
	}

	// A catalog name given by the command wins; the quantization is not
	// said twice when the name has it.
	g2 := newFakeGen("ok")
	g2.info = api.ModelInfo{Name: "qwen2", Path: "/m/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", Quantization: "Q4_K_M", ContextSize: 512}
	h2 := newHarness(t, Config{Gen: g2, ModelName: func(api.ModelInfo) string { return "qwen2.5-0.5b" }}, 100, 24)
	if !strings.Contains(h2.screen(), "natter · qwen2.5-0.5b Q4_K_M ·") {
		t.Fatalf("catalog name not used:\n%s", h2.screen())
	}
	g3 := newFakeGen("ok")
	g3.info = g2.info
	h3 := newHarness(t, Config{Gen: g3}, 100, 24)
	if !strings.Contains(h3.screen(), "natter · Qwen2.5-0.5B-Instruct-Q4_K_M ·") {
		t.Fatalf("file name with its quantization:\n%s", h3.screen())
	}
}

// /compact asks the model for a summary of the turns before the latest,
// and the prompts after it carry that summary in their place; the
// transcript, the saved chat and /undo past it are unaffected.
func TestCompactPutsASummaryInThePrompt(t *testing.T) {
	g := newFakeGen("fine")
	rec := &recorder{}
	h := newHarness(t, Config{Gen: g, System: "be kind", Recorder: rec}, 100, 30)
	h.typeText("/compact")
	h.enter()
	if !strings.Contains(h.m.errLine, "Nothing to compact") {
		t.Fatalf("/compact on an empty chat: %q", h.m.errLine)
	}
	h.m.input.Reset()
	sendAndWait(h, "my cat is Tom")
	sendAndWait(h, "he is grey")
	sendAndWait(h, "what colour?")

	g.mu.Lock()
	g.pieces = []string{"The user's cat Tom ", "is grey."}
	g.mu.Unlock()
	h.typeText("/compact")
	h.enter()
	h.waitFor("the summary", func(m Model) bool { return m.cur == nil })
	h.settle()
	req := lastRequest(t, g)
	var roles []string
	for _, x := range req.Messages {
		roles = append(roles, x.Role+":"+x.Content)
	}
	want := "system:be kind|user:my cat is Tom|assistant:fine|user:he is grey|assistant:fine|user:" + compactInstruction
	if got := strings.Join(roles, "|"); got != want {
		t.Fatalf("summary request:\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(h.screen(), "summary of 4 messages") {
		t.Fatalf("no summary footer:\n%s", h.screen())
	}
	if len(h.m.msgs) != 6 {
		t.Fatalf("the conversation lost messages: %d", len(h.m.msgs))
	}

	g.mu.Lock()
	g.pieces = []string{"grey"}
	g.mu.Unlock()
	sendAndWait(h, "and his name?")
	roles = nil
	for _, x := range lastRequest(t, g).Messages {
		roles = append(roles, x.Role+":"+x.Content)
	}
	want = "system:be kind|user:" + compactInstruction + "|assistant:The user's cat Tom is grey.|user:what colour?|assistant:fine|user:and his name?"
	if got := strings.Join(roles, "|"); got != want {
		t.Fatalf("prompt after /compact:\n%s\nwant\n%s", got, want)
	}
	h.m.rec.wait()
	rec.mu.Lock()
	calls := strings.Join(rec.calls, "|")
	rec.mu.Unlock()
	if strings.Contains(calls, "Tom is grey") || strings.Contains(calls, "rewrite") {
		t.Fatalf("the summary went into the saved chat: %s", calls)
	}

	// /undo twice cuts into the summarized turns: the summary goes too.
	for range 3 {
		h.typeText("/undo")
		h.enter()
	}
	h.settle()
	sendAndWait(h, "again")
	roles = nil
	for _, x := range lastRequest(t, g).Messages {
		roles = append(roles, x.Role+":"+x.Content)
	}
	if got := strings.Join(roles, "|"); got != "system:be kind|user:my cat is Tom|assistant:fine|user:again" {
		t.Fatalf("prompt after /undo past the summary: %s", got)
	}
}

// A reply keeps the model's line breaks while it streams and after it is
// rendered as Markdown: the finished render must not join the lines into
// one paragraph (issue 18, item 2). Long lines wrap the same way in both.
func TestFinishedReplyKeepsStreamedLineBreaks(t *testing.T) {
	para := "Once upon a time there was a cat.\nShe liked milk\nand naps in the sun.\n" +
		"This line is long enough to wrap at sixty columns, so both renders must wrap it alike."
	for _, full := range []bool{false, true} {
		pieces := append(tokens(para, 3), "\n\nThe end.")
		g := newFakeGen(pieces...)
		g.gate, g.pauseAfter = make(chan struct{}), len(pieces)-1
		h := newHarness(t, Config{Gen: g, Fullscreen: full}, 60, 30)
		h.typeText("story")
		h.enter()
		h.waitFor("the paragraph", func(m Model) bool { return m.cur != nil && m.cur.tokens == len(pieces)-1 })
		h.settle()
		streamed := replyLines(h.screen(), "Once upon", "naps")
		close(g.gate)
		h.waitFor("the end", func(m Model) bool { return m.cur == nil })
		h.settle()
		final := replyLines(h.screen(), "Once upon", "naps")
		if len(streamed) < 4 || strings.Join(streamed, "\n") != strings.Join(final, "\n") {
			t.Fatalf("fullscreen=%v: streamed\n%s\n--- finished\n%s", full, strings.Join(streamed, "\n"), strings.Join(final, "\n"))
		}
	}
}

// replyLines is the screen's lines from the one containing first through
// the end of that paragraph (up to a blank line).
func replyLines(screen, first, must string) []string {
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		if strings.Contains(l, first) {
			var out []string
			for _, x := range lines[i:] {
				if strings.TrimSpace(x) == "" {
					break
				}
				out = append(out, x)
			}
			if !strings.Contains(strings.Join(out, "\n"), must) {
				return nil
			}
			return out
		}
	}
	return nil
}

// noSystemGen renders like a template that ignores the system role.
type noSystemGen struct{ *fakeGen }

func (g noSystemGen) RenderPrompt(req api.Request) (string, string, error) {
	var kept []prompts.Message
	for _, x := range req.Messages {
		if x.Role != prompts.RoleSystem {
			kept = append(kept, x)
		}
	}
	req.Messages = kept
	text, _, err := g.fakeGen.RenderPrompt(req)
	return text, "file:/t/phi3.jinja", err
}

func TestTemplateWarnings(t *testing.T) {
	// No chat template in the model: say which format is used, suggest --raw.
	g := newFakeGen("ok")
	g.info.ChatTemplate = ""
	h := newHarness(t, Config{Gen: g}, 120, 30)
	h.settle()
	if s := h.screen(); !strings.Contains(s, "tiny-llama has no chat template, so chats are formatted with fake:chatml") ||
		!strings.Contains(s, "natter ask --raw") {
		t.Fatalf("no warning for a model without a chat template:\n%s", s)
	}
	h2 := newHarness(t, Config{Gen: newFakeGen("ok")}, 120, 30)
	h2.settle()
	if strings.Contains(h2.screen(), "⚠") {
		t.Fatalf("a warning for a model with a template:\n%s", h2.screen())
	}

	// A template that drops the system prompt: the persona would do nothing.
	ng := noSystemGen{newFakeGen("ok")}
	h3 := newHarness(t, Config{Gen: ng, System: "You write code.", Persona: "coder"}, 120, 30)
	h3.settle()
	if s := h3.screen(); !strings.Contains(s, "The chat template file:phi3.jinja leaves the system prompt out, so persona coder has no effect") ||
		!strings.Contains(s, "--chat-template") {
		t.Fatalf("no warning for a dropped persona:\n%s", s)
	}
	n := strings.Count(h3.screen(), "leaves the system prompt out")
	h3.typeText("/system Be brief.")
	h3.enter()
	h3.settle()
	if s := h3.screen(); strings.Count(s, "leaves the system prompt out") != n+1 || !strings.Contains(s, "so the system prompt has no effect") {
		t.Fatalf("no warning after /system:\n%s", s)
	}
}

// /prompt shows the last prompt sent, labelled so; before the first
// message, the next prompt with a placeholder for the message.
func TestPromptLabelledLastOrNext(t *testing.T) {
	g := newFakeGen("ok")
	h := newHarness(t, Config{Gen: g, System: "sys"}, 100, 30)
	h.typeText("/prompt")
	h.enter()
	h.settle()
	out := ansi.Strip(strings.Join(h.m.scrollback, "\n"))
	if !strings.Contains(out, "next prompt (‹your message› stands for what you send)") ||
		!strings.Contains(out, "<|im_start|>user\n  ‹your message›<|im_end|>\n  <|im_start|>assistant") {
		t.Fatalf("next prompt:\n%s", out)
	}
	sendAndWait(h, "hello there")
	h.typeText("/prompt")
	h.enter()
	h.settle()
	out = ansi.Strip(strings.Join(h.m.scrollback, "\n"))
	i := strings.LastIndex(out, "last prompt sent ·")
	if i < 0 {
		t.Fatalf("no last prompt:\n%s", out)
	}
	want, _, _ := g.RenderPrompt(lastRequest(t, g))
	want = strings.ReplaceAll(strings.TrimSpace(want), "\n", "\n  ")
	if got := out[i:]; !strings.Contains(got, want) || strings.Contains(got, "‹your message›") {
		t.Fatalf("last prompt shown:\n%s\nwant\n%s", got, want)
	}
}

// /set is saved with the chat (real SQLite) and /resume brings the chat's
// own settings back, saying so, and says when another model is loaded.
func TestResumeRestoresSettings(t *testing.T) {
	st, err := history.Open(filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := st.NewRecorder(history.ChatMeta{})
	g := newFakeGen("ok")
	h := newHarness(t, Config{Gen: g, Recorder: rec, History: testHistory{st: st, rec: rec}}, 120, 30)
	h.typeText("/set temp 0")
	h.enter()
	h.typeText("/set seed 7")
	h.enter()
	sendAndWait(h, "hello")
	h.m.rec.wait()
	id := rec.ChatID()
	h.typeText("/new")
	h.enter()
	h.typeText("/set temp 1.5")
	h.enter()
	if h.m.sampling.Temperature != 1.5 {
		t.Fatalf("temp %v", h.m.sampling.Temperature)
	}
	g.mu.Lock()
	g.info.Path = "/models/other.gguf"
	g.mu.Unlock()
	h.m.info = g.info
	h.typeText(fmt.Sprintf("/resume %d", id))
	h.enter()
	h.waitFor("the resumed chat", func(m Model) bool { return m.busy == "" && len(m.msgs) == 2 })
	h.settle()
	if s := h.m.sampling; s.Temperature != 0 || s.Seed != 7 {
		t.Fatalf("resumed sampling %+v", s)
	}
	scr := h.screen()
	if !strings.Contains(scr, "Its settings are back: temp 0 ·") || !strings.Contains(scr, "This chat was saved with tiny-llama; it goes on with other") {
		t.Fatalf("no notes:\n%s", scr)
	}
}

// A model that ends its turn with its first token gets a visible footer,
// not a blank turn that looks like a hang; the turn still counts.
func TestEmptyReplySaysSo(t *testing.T) {
	g := newFakeGen() // no pieces: end of turn at once
	h := newHarness(t, Config{Gen: g}, 100, 24)
	sendAndWait(h, "Hello")
	if !strings.Contains(h.screen(), "empty reply: the model ended its turn at once") {
		t.Fatalf("no empty-reply footer:\n%s", h.screen())
	}
	if msgs := h.lastMsgs(); len(msgs) != 2 || msgs[1].Role != prompts.RoleAssistant {
		t.Fatalf("conversation after an empty reply: %+v", msgs)
	}
}

// /show, as in ollama: the model's figures, its license, its template.
func TestShowCommand(t *testing.T) {
	g := newFakeGen("ok")
	g.info.Arch, g.info.Params, g.info.SizeBytes, g.info.TrainCtx, g.info.Backend = "llama", 1_230_000_000, 1_300_000_000, 131072, "llama.cpp"
	g.info.License, g.info.LicenseLink = "apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0"
	h := newHarness(t, Config{Gen: g}, 120, 40)
	h.settle()
	typeLine(h, "/show")
	scr := h.screen()
	for _, s := range []string{"model      tiny-llama", "file       /models/tiny-llama.gguf", "1.2B parameters · Q8_0 · 1.3 GB",
		"context    8,192 tokens (trained for 131,072)", "engine     llama.cpp", "BOS <s> · EOS </s>", "license    apache-2.0"} {
		if !strings.Contains(scr, s) {
			t.Fatalf("/show lacks %q:\n%s", s, scr)
		}
	}
	info := scr
	typeLine(h, "/show info")
	if scr = h.screen(); strings.Count(scr, "file       /models/tiny-llama.gguf") != strings.Count(info, "file       /models/tiny-llama.gguf")+1 {
		t.Fatalf("/show info is not /show:\n%s", scr)
	}
	typeLine(h, "/show license")
	if scr = h.screen(); !strings.Contains(scr, "License of tiny-llama: apache-2.0") || !strings.Contains(scr, "https://www.apache.org/licenses/LICENSE-2.0") {
		t.Fatalf("/show license:\n%s", scr)
	}
	typeLine(h, "/show template")
	if h.m.overlay != "pager" && !strings.Contains(h.screen(), "no source to show") {
		t.Fatalf("/show template shows neither the template nor why not:\n%s", h.screen())
	}
	h.key(tea.KeyEscape, 0)
	h.settle()
	typeLine(h, "/show nonsense")
	if !strings.Contains(h.m.errLine, "say info, template or license") || h.m.input.Value() != "/show nonsense" {
		t.Fatalf("bad /show argument: err %q, input %q", h.m.errLine, h.m.input.Value())
	}

	// A file without a license says so, and where to look.
	g2 := newFakeGen("ok")
	h2 := newHarness(t, Config{Gen: g2}, 120, 30)
	h2.settle()
	typeLine(h2, "/show license")
	if !strings.Contains(h2.screen(), "names no license") {
		t.Fatalf("no-license note:\n%s", h2.screen())
	}
}

// When the prompt leaves out old turns, the chat says which, once, when
// that changes (issue 18, item 3, and "1 oldest turns"); the same for a
// resumed chat.
func TestDroppedTurnsNotedOnceWhenTheyChange(t *testing.T) {
	const note = "no longer fit"
	g := newFakeGen("ok")
	h := newHarness(t, Config{Gen: g}, 200, 40)
	sendAndWait(h, "first question")
	sendAndWait(h, "second question")
	if s := h.screen(); strings.Contains(s, note) {
		t.Fatalf("a note before anything was left out:\n%s", s)
	}
	setDropped := func(n int) {
		g.mu.Lock()
		g.dropped = n
		g.mu.Unlock()
	}
	notes := func() []string {
		var out []string
		for _, l := range strings.Split(ansi.Strip(strings.Join(h.m.scrollback, "\n")), "\n") {
			if strings.Contains(l, note) {
				out = append(out, strings.TrimSpace(l))
			}
		}
		return out
	}
	setDropped(1)
	sendAndWait(h, "third question")
	want1 := "The oldest turn (“first question”) no longer fits the context window and was left out of the prompt; the system prompt and the latest turns are kept"
	if n := notes(); len(n) != 1 || !strings.Contains(n[0], want1) {
		t.Fatalf("after the first turn was left out: %q", n)
	}
	sendAndWait(h, "fourth question") // still one turn out: no new note
	if n := notes(); len(n) != 1 {
		t.Fatalf("the note was repeated: %q", n)
	}
	setDropped(2)
	sendAndWait(h, "fifth question")
	want2 := "The oldest 2 turns (“first question” … “second question”) no longer fit the context window and were left out"
	if n := notes(); len(n) != 2 || !strings.Contains(n[1], want2) {
		t.Fatalf("after a second turn was left out: %q", n)
	}

	// A resumed chat: the same policy and note.
	g2 := newFakeGen("ok")
	g2.dropped = 1
	msgs := []prompts.Message{
		{Role: prompts.RoleUser, Content: "an old question"}, {Role: prompts.RoleAssistant, Content: "an old answer"},
	}
	h2 := newHarness(t, Config{Gen: g2, Messages: msgs}, 200, 40)
	sendAndWait(h2, "a new question")
	if s := strings.Join(strings.Fields(h2.screen()), " "); !strings.Contains(s, "The oldest turn (“an old question”) no longer fits") {
		t.Fatalf("resumed chat, no note:\n%s", h2.screen())
	}
	if got := lastRequest(t, g2).Messages; len(got) != 3 || got[0].Content != "an old question" {
		t.Fatalf("the resumed request does not carry the whole chat for the engine to cut: %+v", got)
	}
}

// The repro of item 6 on the first-run screen itself: at 60x15 a
// download that fails for want of a network says so first, and its cause
// ("no such host") is on screen, wrapped, not cut at the width.
func TestFirstRunDownloadErrorWrapsWithTheCauseFirst(t *testing.T) {
	p := &fakePuller{dir: t.TempDir(), err: errors.New(`Get "https://huggingface.co/Qwen/Qwen3-0.6B-GGUF/resolve/main/Qwen3-0.6B-Q8_0.gguf": dial tcp: lookup huggingface.co on 127.0.0.53:53: no such host`)}
	h := newHarness(t, Config{NoModelHelp: "No model found.", Catalog: testCatalog, Pull: p.pull,
		LoadModel: func(string) (api.Generator, error) { return nil, errors.New("must not load") }}, 60, 15)
	h.enter()
	h.waitFor("the error", func(m Model) bool { return m.pull == nil && m.errLine != "" })
	h.settle()
	scr := h.screen()
	flat := strings.Join(strings.Fields(scr), " ")
	if !strings.Contains(flat, "no network: download small-one failed") || !strings.Contains(flat, "no such host") {
		t.Fatalf("the cause is not first, or cut:\n%s", scr)
	}
	for _, l := range strings.Split(scr, "\n") {
		if ansi.StringWidth(l) > 60 {
			t.Fatalf("line wider than the screen: %q", l)
		}
	}
	if n := strings.Count(h.m.View().Content, "\n") + 1; n >= 15 {
		t.Fatalf("the frame takes %d of 15 rows:\n%s", n, scr)
	}
	if !strings.Contains(scr, "small-one") {
		t.Fatalf("the picker is gone after the error:\n%s", scr)
	}
}

// CJK titles (two cells a character) line up in the history list that
// /history and natter --resume open: every row of the box has the same
// width, the right border in the same column, and a long title is cut to
// its cells, not its bytes or runes.
func TestHistoryListAlignsCJKTitles(t *testing.T) {
	st, err := history.Open(filepath.Join(t.TempDir(), "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, title := range []string{"hello world", "你好世界，今天天气很好，我们去公园散步吧，然后一起吃晚饭好不好", "日本語のタイトル", "한국어 제목입니다"} {
		saveChat(t, st, "", title, "ok")
	}
	rec := st.NewRecorder(history.ChatMeta{})
	defer rec.Close()
	for _, w := range []int{60, 100} {
		h := newHarness(t, Config{Gen: newFakeGen("ok"), Recorder: rec, History: testHistory{st, rec}}, w, 30)
		typeLine(h, "/history")
		h.waitFor("the list", func(m Model) bool { return m.picker != nil && !m.picker.loading && len(m.picker.items) == 4 })
		var rows []string
		for _, l := range strings.Split(ansi.Strip(h.m.View().Content), "\n") {
			if strings.Contains(l, "#") && strings.Contains(l, "msgs") {
				rows = append(rows, l)
			}
		}
		if len(rows) != 4 {
			t.Fatalf("width %d: %d chat rows:\n%s", w, len(rows), ansi.Strip(h.m.View().Content))
		}
		for _, r := range rows {
			if ansi.StringWidth(r) != ansi.StringWidth(rows[0]) || ansi.StringWidth(r) > w || !strings.HasSuffix(strings.TrimRight(r, " "), "│") {
				t.Fatalf("width %d: rows do not line up:\n%s", w, strings.Join(rows, "\n"))
			}
		}
	}
}

// A server's model shows where it runs and says its context size is
// unknown when the server does not report one.
func TestRemoteModelStatusLine(t *testing.T) {
	g := newFakeGen("Hello.")
	g.info = api.ModelInfo{Name: "gpu:qwen3.5-27b", Path: "https://gpu.example:8000/v1", Arch: "remote", Backend: "remote gpu.example:8000"}
	h := newHarness(t, Config{Gen: g, ModelName: func(i api.ModelInfo) string { return i.Name }}, 120, 24)
	st := ansi.Strip(h.m.statusLine())
	if !strings.Contains(st, "gpu:qwen3.5-27b") || !strings.Contains(st, "remote gpu.example:8000") || !strings.Contains(st, "ctx unknown") {
		t.Fatalf("status line: %q", st)
	}
	// Once the server reports a size, the meter shows it.
	g.info.ContextSize = 32768
	h2 := newHarness(t, Config{Gen: g, ModelName: func(i api.ModelInfo) string { return i.Name }}, 120, 24)
	if st := ansi.Strip(h2.m.statusLine()); strings.Contains(st, "ctx unknown") || !strings.Contains(st, "/32,768") {
		t.Fatalf("status line with a size: %q", st)
	}
}

// A generator's notice (a remote server's retry countdown) shows while the
// reply waits, and is not part of the reply.
func TestGeneratorNoticeShows(t *testing.T) {
	g := newFakeGen("Hello", " there.")
	g.notice, g.noticeAt = "gpu.example:8000 is rate-limited (HTTP 429): retry 1 of 3 in 2s", 0
	g.gate, g.pauseAfter = make(chan struct{}), 0
	h := newHarness(t, Config{Gen: g}, 100, 24)
	h.typeText("hi")
	h.enter()
	h.waitFor("the notice", func(m Model) bool { return strings.Contains(m.notice, "retry 1 of 3") })
	if scr := h.screen(); !strings.Contains(scr, "rate-limited (HTTP 429): retry 1 of 3 in 2s") {
		t.Fatalf("the notice is not on the screen:\n%s", scr)
	}
	close(g.gate)
	h.waitFor("the reply", func(m Model) bool { return m.cur == nil })
	if last := h.m.entries[len(h.m.entries)-1]; strings.Contains(last.text, "retry") {
		t.Fatalf("the notice went into the reply: %q", last.text)
	}
}

// warnGen is a generator with load warnings (ui.LoadWarner).
type warnGen struct {
	*fakeGen
	warnings []string
}

func (w *warnGen) LoadWarnings() []string { return w.warnings }

// /model says what the load noticed about the new file, as start-up does.
func TestModelSwitchShowsLoadWarnings(t *testing.T) {
	next := &warnGen{newFakeGen("hi"), []string{"tokenizer.ggml.bos_token_id is 1000000000, past the vocabulary; llama.cpp will use its default"}}
	next.info.Path = "/models/other.gguf"
	h := newHarness(t, Config{Gen: newFakeGen("hello"), LoadModel: func(string) (api.Generator, error) { return next, nil }}, 120, 30)
	h.typeText("/model /models/other.gguf")
	h.enter()
	h.waitFor("the switch", func(m Model) bool { return m.info.Path == "/models/other.gguf" })
	h.settle()
	if all := ansi.Strip(strings.Join(h.m.scrollback, "\n")); !strings.Contains(all, "⚠ tokenizer.ggml.bos_token_id is 1000000000") {
		t.Fatalf("no load warning after /model:\n%s", all)
	}
}
