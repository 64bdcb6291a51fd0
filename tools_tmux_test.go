package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// toolChat starts a chat whose every reply is forced (by a grammar) to be
// one read_file call in the Hermes/Qwen format, with Qwen2.5's real chat
// template, so the random-weight model drives the whole tool loop.
func toolChat(t *testing.T, extra ...string) *pane {
	t.Helper()
	tmpl, _ := filepath.Abs(filepath.Join("..", "shared", "templates", "Qwen-Qwen2.5-7B-Instruct.jinja"))
	if _, err := os.Stat(tmpl); err != nil {
		t.Skipf("DID NOT RUN: %s is absent", tmpl)
	}
	p := newPane(t)
	// The chat runs in the pane's home: the tools' working directory.
	if err := os.WriteFile(filepath.Join(p.home, "note.txt"), []byte("the secret word is pelican\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gbnf := filepath.Join(p.home, "call.gbnf")
	rule := `root ::= "<tool_call>\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"note.txt\"}}\n</tool_call>"` + "\n"
	if err := os.WriteFile(gbnf, []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--temp", "0", "-n", "200", "--ctx", "8192", "--tools", "--grammar", gbnf, "--chat-template", tmpl}, extra...)
	p.natter(chatArgs(chatModel, args...)...)
	p.waitFor("the tools note", func(s string) bool { return strings.Contains(s, "Tools on: read_file, list_dir") })
	return p
}

var askRE = regexp.MustCompile(`Run read_file\?\s+y yes · a always read_file this chat · n no · e edit`)

func TestTmuxToolCallApprovedRefusedAndStopped(t *testing.T) {
	p := toolChat(t)
	p.line("What does my note say?")
	s := p.waitFor("the approval question", func(s string) bool { return askRE.MatchString(s) })
	if !strings.Contains(s, "⚙ read_file note.txt") {
		t.Fatalf("the call is not shown with its arguments before it runs:\n%s", s)
	}
	if strings.Contains(p.all(), "<tool_call>") {
		t.Fatalf("the call's markup was shown as reply text:\n%s", p.all())
	}
	p.keys("y")
	// The result is shown, fed back, and the next (forced) reply asks again.
	s = p.waitFor("the result and the second call", func(s string) bool {
		return strings.Contains(p.all(), "the secret word is pelican") && askRE.MatchString(s) && strings.Count(p.all(), "⚙ read_file note.txt") == 2
	})
	p.keys("n")
	p.waitFor("the reason question", func(s string) bool { return strings.Contains(s, "Why not?") })
	p.line("enough reading")
	p.waitFor("the third call", func(s string) bool {
		return strings.Count(p.all(), "⚙ read_file note.txt") == 3 && askRE.MatchString(s)
	})
	p.keys("Escape")
	p.waitFor("the stop note", func(s string) bool { return strings.Contains(s, "Tool calls stopped (1 call not run)") })

	// The last prompt sent holds both results in the template's own
	// tool-response format: the file's text and the refusal.
	p.line("/prompt")
	all := p.waitFor("the prompt", func(s string) bool { return strings.Contains(p.all(), "the user refused this call: enough reading") })
	all = p.all()
	for _, want := range []string{
		"<tool_response>", "the secret word is pelican",
		"the user refused this call: enough reading",
		`{"name": "read_file", "arguments": {"path": "note.txt"}}`,
		"You are provided with function signatures", // the tool definitions, in the system prompt
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the /prompt view lacks %q", want)
		}
	}
	if t.Failed() {
		t.Fatalf("screen:\n%s", all)
	}
	// After a stop the chat takes messages again.
	p.line("/tools")
	p.waitFor("the tool list", func(s string) bool {
		return strings.Contains(s, "run_command") && strings.Contains(s, "asks every time") && strings.Contains(s, "read-only: asks")
	})
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
}

// "a" approves the tool for the rest of the chat; --max-steps ends the loop.
func TestTmuxToolAlwaysAndMaxSteps(t *testing.T) {
	p := toolChat(t, "--max-steps", "3")
	p.line("Read it")
	p.waitFor("the approval question", func(s string) bool { return askRE.MatchString(s) })
	p.keys("a")
	s := p.waitFor("the step limit", func(s string) bool { return strings.Contains(s, "Stopped after 3 tool steps") })
	if n := strings.Count(p.all(), "the secret word is pelican"); n < 3 {
		t.Fatalf("want 3 results shown after one \"a\", got %d:\n%s", n, p.all())
	}
	if askRE.MatchString(s) {
		t.Fatalf("asked again after \"a\":\n%s", s)
	}
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
}

// Bad tool flags are usage errors before any model loads.
func TestToolFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{{"--tools", "--tool-format", "nope"}, {"--tools", "--max-steps", "0"}} {
		_, errOut, st := natter(t, "", append([]string{"-m", chatModel}, args...)...)
		if st != 2 || !strings.Contains(errOut, args[1]) {
			t.Errorf("natter %v: status %d, stderr %q", args, st, errOut)
		}
	}
}
