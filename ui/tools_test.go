package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"natter/prompts"
	"natter/tools"
)

// qwenTemplate is Qwen2.5's real chat template (Hermes-style tool calls).
func qwenTemplate(t *testing.T) prompts.ChatTemplate {
	t.Helper()
	b, err := os.ReadFile("../../shared/templates/Qwen-Qwen2.5-7B-Instruct.jinja")
	if err != nil {
		t.Skipf("DID NOT RUN: %v", err)
	}
	j, err := prompts.NewJinja("gguf:jinja", string(b), prompts.JinjaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return prompts.NewChain(j, prompts.ChatML())
}

func hermesCall(args string) string {
	return "Let me look.\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": " + args + "}\n</tool_call>"
}

// toolHarness is a chat with real built-in tools rooted in a temp folder
// holding a.txt, and a model that answers every turn with reply.
func toolHarness(t *testing.T, reply string, tc ToolsConfig) (*harness, *fakeGen, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("alpha\nbeta\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := tools.New(tools.Box{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	tc.Tools, tc.On = set.Builtin(), true
	g := newFakeGen(tokens(reply, 3)...)
	h := newHarness(t, Config{Gen: g, Template: qwenTemplate(t), Tools: &tc}, 100, 30)
	if !h.m.tools.on {
		t.Fatalf("tools did not turn on:\n%s", h.screen())
	}
	return h, g, dir
}

func (h *harness) waitAwait(state string) {
	h.t.Helper()
	h.waitFor("the tool call to wait for "+state, func(m Model) bool { return m.agent != nil && m.agent.await == state })
}

func (h *harness) press(s string) { h.send(tea.KeyPressMsg{Code: []rune(s)[0], Text: s}) }

func toolResults(msgs []prompts.Message) []prompts.Message {
	var out []prompts.Message
	for _, m := range msgs {
		if m.Role == prompts.RoleTool {
			out = append(out, m)
		}
	}
	return out
}

func TestToolCallApproveRefuseStop(t *testing.T) {
	h, g, _ := toolHarness(t, hermesCall(`{"path": "a.txt"}`), ToolsConfig{})
	h.typeText("what is in a.txt?")
	h.enter()
	h.waitAwait(awaitAnswer)
	s := h.screen()
	if !strings.Contains(s, "⚙ read_file a.txt") || !strings.Contains(s, "Run read_file?") || !strings.Contains(s, "Let me look.") {
		t.Fatalf("the call is not shown for approval:\n%s", s)
	}
	if strings.Contains(s, "<tool_call>") || strings.Contains(s, `"arguments"`) {
		t.Fatalf("call markup shown as reply text:\n%s", s)
	}
	// The reply is in the conversation as a call, not as text.
	if a := h.m.msgs[len(h.m.msgs)-1]; a.Role != prompts.RoleAssistant || len(a.ToolCalls) != 1 || a.Content != "Let me look." || a.ToolCalls[0].Name != "read_file" {
		t.Fatalf("assistant turn = %+v", a)
	}

	h.press("y")
	h.waitFor("the second call", func(m Model) bool {
		return len(toolResults(m.msgs)) == 1 && m.agent != nil && m.agent.await == awaitAnswer
	})
	res := toolResults(h.m.msgs)[0]
	if !strings.Contains(res.Content, "alpha") || res.Name != "read_file" || res.ToolCallID == "" || res.ToolCallID != h.m.msgs[1].ToolCalls[0].ID {
		t.Fatalf("result = %+v", res)
	}
	// The second request told the model of the tools and carried the result.
	reqs := g.requests()
	if len(reqs) != 2 || prompts.ToolsOf(reqs[1].Template) == nil {
		t.Fatalf("%d requests; the second has tools: %v", len(reqs), len(reqs) == 2 && prompts.ToolsOf(reqs[1].Template) != nil)
	}
	prompt, err := reqs[1].Template.Render(reqs[1].Messages, true)
	if err != nil || !strings.Contains(prompt, "<tool_response>\n") || !strings.Contains(prompt, "alpha") || !strings.Contains(prompt, `"name": "read_file"`) {
		t.Fatalf("second prompt (%v):\n%s", err, prompt)
	}

	h.press("n")
	h.waitAwait(awaitReason)
	h.typeText("not again")
	h.enter()
	h.waitFor("the third call", func(m Model) bool {
		return len(toolResults(m.msgs)) == 2 && m.agent != nil && m.agent.await == awaitAnswer
	})
	if got := toolResults(h.m.msgs)[1].Content; got != "the user refused this call: not again" {
		t.Fatalf("refusal = %q", got)
	}

	h.key(tea.KeyEscape, 0)
	h.settle()
	if h.m.agent != nil {
		t.Fatal("Esc did not end the tool steps")
	}
	// Every call has its answer, so the conversation stays well formed.
	calls, results := 0, len(toolResults(h.m.msgs))
	for _, m := range h.m.msgs {
		calls += len(m.ToolCalls)
	}
	if calls != 3 || results != 3 || !strings.HasPrefix(toolResults(h.m.msgs)[2].Content, "not run:") {
		t.Fatalf("%d calls, %d results: %+v", calls, results, h.m.msgs)
	}
	if !strings.Contains(h.screen(), "Tool calls stopped") {
		t.Fatalf("no stop note:\n%s", h.screen())
	}
	// The chat takes messages again.
	h.typeText("thanks")
	h.enter()
	h.waitAwait(awaitAnswer)
}

func TestToolCallYoloAlwaysAndMaxSteps(t *testing.T) {
	h, g, _ := toolHarness(t, hermesCall(`{"path": "a.txt"}`), ToolsConfig{Yolo: true, MaxSteps: 3})
	h.typeText("read it")
	h.enter()
	h.waitFor("the step limit", func(m Model) bool { return m.agent == nil && len(toolResults(m.msgs)) == 3 })
	if n := len(g.requests()); n != 3 {
		t.Fatalf("%d requests, want 3 (the limit)", n)
	}
	if !strings.Contains(h.screen(), "Stopped after 3 tool steps") {
		t.Fatalf("no limit note:\n%s", h.screen())
	}
}

func TestToolCallOutsideTheFolderAsksEvenUnderYolo(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(outside, []byte("s3cret"), 0o644)
	h, _, _ := toolHarness(t, hermesCall(`{"path": "`+outside+`"}`), ToolsConfig{Yolo: true})
	h.typeText("read it")
	h.enter()
	h.waitAwait(awaitAnswer)
	if s := h.screen(); !strings.Contains(s, "⚠ outside this folder") {
		t.Fatalf("no outside warning:\n%s", s)
	}
	// "a" does not cover paths outside the folder: the next one asks again.
	h.press("a")
	h.waitFor("the second call", func(m Model) bool {
		return len(toolResults(m.msgs)) == 1 && m.agent != nil && m.agent.await == awaitAnswer
	})
	if !strings.Contains(toolResults(h.m.msgs)[0].Content, "s3cret") {
		t.Fatalf("approved read = %q", toolResults(h.m.msgs)[0].Content)
	}
}

func TestToolCallEditArguments(t *testing.T) {
	h, _, dir := toolHarness(t, hermesCall(`{"path": "missing.txt"}`), ToolsConfig{})
	os.WriteFile(filepath.Join(dir, "b.txt"), []byte("bravo\n"), 0o644)
	h.typeText("read it")
	h.enter()
	h.waitAwait(awaitAnswer)
	h.press("e")
	if v := h.m.input.Value(); !strings.Contains(v, `"path": "missing.txt"`) {
		t.Fatalf("the input does not hold the arguments: %q", v)
	}
	h.m.input.SetValue(`{"path": "b.txt"}`)
	h.enter()
	h.waitAwait(awaitAnswer)
	h.press("y")
	h.waitFor("the result", func(m Model) bool { return len(toolResults(m.msgs)) == 1 })
	if got := toolResults(h.m.msgs)[0].Content; !strings.Contains(got, "bravo") {
		t.Fatalf("edited call read %q", got)
	}
	// The conversation holds the call as it ran.
	if c := h.m.msgs[1].ToolCalls[0]; !strings.Contains(c.Arguments, "b.txt") {
		t.Fatalf("call arguments = %s", c.Arguments)
	}
}

func TestToolCallUnknownAndUnreadable(t *testing.T) {
	h, _, _ := toolHarness(t, "<tool_call>\n{\"name\": \"launch_rocket\", \"arguments\": {}}\n</tool_call>", ToolsConfig{MaxSteps: 2})
	h.typeText("go")
	h.enter()
	h.waitFor("the step limit", func(m Model) bool { return m.agent == nil && len(toolResults(m.msgs)) == 2 })
	if got := toolResults(h.m.msgs)[0].Content; !strings.Contains(got, `no tool named "launch_rocket"`) || !strings.Contains(got, "read_file") {
		t.Fatalf("unknown tool result = %q", got)
	}

	h2, g2, _ := toolHarness(t, "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"a.txt\"\n</tool_call>", ToolsConfig{})
	h2.typeText("go")
	h2.enter()
	h2.waitFor("the turn to end", func(m Model) bool { return m.agent == nil && m.cur == nil && len(toolResults(m.msgs)) == maxBadCalls })
	h2.settle()
	if n := len(g2.requests()); n != maxBadCalls+1 {
		t.Fatalf("%d requests for unreadable calls, want %d", n, maxBadCalls+1)
	}
	if s := h2.screen(); !strings.Contains(s, "unreadable tool calls in a row") {
		t.Fatalf("no note:\n%s", s)
	}
	if got := toolResults(h2.m.msgs)[0].Content; !strings.Contains(got, "could not be read") {
		t.Fatalf("retry prompt = %q", got)
	}
}

func TestToolsOnRefusedWithoutToolTemplate(t *testing.T) {
	set, err := tools.New(tools.Box{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	g := newFakeGen("hi")
	h := newHarness(t, Config{Gen: g, Template: prompts.NewChain(prompts.ChatML()), Tools: &ToolsConfig{Tools: set.Builtin(), On: true}}, 100, 30)
	if h.m.tools.on || !strings.Contains(h.screen(), "Tools stay off") {
		t.Fatalf("tools on with a template that cannot describe them:\n%s", h.screen())
	}
	h.typeText("/tools on")
	h.enter()
	if h.m.tools.on || !strings.Contains(h.m.errLine, "does not describe tools") {
		t.Fatalf("/tools on: %q", h.m.errLine)
	}
}

// /retry and /undo treat a user message and all its tool steps as one
// exchange.
func TestToolTurnRetryAndUndo(t *testing.T) {
	h, g, _ := toolHarness(t, hermesCall(`{"path": "a.txt"}`), ToolsConfig{Yolo: true, MaxSteps: 1})
	h.typeText("read it")
	h.enter()
	h.waitFor("the step limit", func(m Model) bool { return m.agent == nil && len(toolResults(m.msgs)) == 1 })
	h.typeText("/retry")
	h.enter()
	h.waitFor("the retried turn", func(m Model) bool {
		return len(g.requests()) == 2 && m.agent == nil && len(toolResults(m.msgs)) == 1 && m.cur == nil
	})
	if got := g.requests()[1].Messages; len(got) != 1 || got[0].Role != prompts.RoleUser {
		t.Fatalf("/retry sent %+v, want the user message alone", got)
	}
	h.typeText("/undo")
	h.enter()
	if len(h.m.msgs) != 0 {
		t.Fatalf("/undo left %+v", h.m.msgs)
	}
}

// A resumed chat shows its tool calls and results and sends them again.
func TestResumedToolTurnsShowAndResend(t *testing.T) {
	msgs := []prompts.Message{
		{Role: prompts.RoleUser, Content: "read it"},
		{Role: prompts.RoleAssistant, Content: "Looking.", ToolCalls: []prompts.ToolCall{{ID: "call00001", Name: "read_file", Arguments: `{"path":"a.txt"}`}}},
		{Role: prompts.RoleTool, ToolCallID: "call00001", Name: "read_file", Content: "1\talpha\x1b[31m"},
		{Role: prompts.RoleAssistant, Content: "It says alpha."},
	}
	g := newFakeGen("ok")
	h := newHarness(t, Config{Gen: g, Template: qwenTemplate(t), Messages: msgs}, 100, 30)
	s := h.screen()
	for _, want := range []string{"⚙ read_file {\"path\":\"a.txt\"}", "alpha\\x1b[31m", "↳ read_file result", "It says alpha."} {
		if !strings.Contains(s, want) {
			t.Fatalf("resumed screen lacks %q:\n%s", want, s)
		}
	}
	h.typeText("and then?")
	h.enter()
	h.waitFor("the reply", func(m Model) bool { return m.cur == nil && len(g.requests()) == 1 })
	if got := g.requests()[0].Messages; len(got) != 5 || !got[1].Equal(msgs[1]) || !got[2].Equal(msgs[2]) {
		t.Fatalf("resent %+v", got)
	}
	if h.m.tools.ids != 1 {
		t.Fatalf("new call ids would not follow the resumed ones: %d", h.m.tools.ids)
	}
}

// An unreadable call next to a good one is not dropped: the model is told,
// and the good one still runs.
func TestToolCallBadBesideGood(t *testing.T) {
	reply := hermesCall(`{"path": "a.txt"}`) + "\n<tool_call>\n{\"name\": \"read_file\", \"arguments\": [1]}\n</tool_call>"
	h, _, _ := toolHarness(t, reply, ToolsConfig{Yolo: true, MaxSteps: 1})
	h.typeText("read")
	h.enter()
	h.waitFor("the turn to end", func(m Model) bool { return m.agent == nil && m.cur == nil && len(toolResults(m.msgs)) == 2 })
	res := toolResults(h.m.msgs)
	if !strings.Contains(res[0].Content, "could not be read") || !strings.Contains(res[1].Content, "alpha") {
		t.Fatalf("results %+v", res)
	}
}
