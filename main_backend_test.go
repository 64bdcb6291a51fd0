package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/api"
	"natter/prompts"
)

// The Go engine runs llama-architecture files too; on the same file and
// prompt its greedy answer must be llama.cpp's, through the whole ask path
// (template, tokenization, streaming, stats).
func TestAskGoBackendMatchesLlamaCpp(t *testing.T) {
	args := []string{"ask", "-m", chatModel, "--temp", "0", "-n", "16", "--no-save", "--stats", "Tell me a story"}
	outL, errL, st := natter(t, "", append(args, "--backend", "llama.cpp")...)
	if st != 0 {
		t.Fatalf("llama.cpp: exit %d\n%s", st, errL)
	}
	outG, errG, st := natter(t, "", append(args, "--backend", "go")...)
	if st != 0 {
		t.Fatalf("go: exit %d\n%s", st, errG)
	}
	if outL == "" || outL != outG {
		t.Fatalf("answers differ:\nllama.cpp: %q\ngo:        %q", outL, outG)
	}
	if promptTokens(t, errL) != promptTokens(t, errG) {
		t.Fatalf("prompt token counts differ:\n%s\n%s", errL, errG)
	}
	// Ollama's engine logs through slog: that goes to the log file.
	if strings.Contains(errG, "level=") || strings.Contains(errG, "offloading") {
		t.Fatalf("Go engine logs leaked to stderr:\n%s", errG)
	}
}

func TestBackendFlagErrors(t *testing.T) {
	_, errOut, st := natter(t, "", "ask", "-m", chatModel, "--backend", "vulkan", "hi")
	if st != 2 || !strings.Contains(errOut, `--backend "vulkan"`) {
		t.Fatalf("exit %d, stderr:\n%s", st, errOut)
	}
	// The Go engine refuses what it cannot do instead of ignoring it.
	_, errOut, st = natter(t, "", "ask", "-m", chatModel, "--backend", "go", "--cache-type", "q8_0", "--no-save", "hi")
	if st != 1 || !strings.Contains(errOut, "f16") {
		t.Fatalf("exit %d, stderr:\n%s", st, errOut)
	}
}

func TestVersionNamesBackends(t *testing.T) {
	out, _, st := natter(t, "", "version")
	for _, want := range []string{"llama.cpp", "Go engine", "qwen35", "gemma4", "github.com/ollama/ollama v"} {
		if st != 0 || !strings.Contains(out, want) {
			t.Fatalf("version output lacks %q:\n%s", want, out)
		}
	}
}

// /think and --think set the real template's enable_thinking: Qwen3's
// template then closes an empty thought block itself.
func TestThinkingSwitchesTheTemplate(t *testing.T) {
	tmpl := filepath.Join("..", "shared", "templates", "Qwen-Qwen3-0.6B.jinja")
	if _, err := os.Stat(tmpl); err != nil {
		t.Skipf("DID NOT RUN: %s is absent", tmpl)
	}
	mf := modelFlags{ctx: 512, threads: 1, batch: 512, flashAttn: "auto", cacheType: "f16", backend: "auto"}
	sf := samplingFlags{think: "off", reasoningBudget: -1}
	g, err := loadChatModel(&mf, &sf, chatModel, tmpl, true)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	req := api.Request{Messages: []prompts.Message{{Role: prompts.RoleUser, Content: "hi"}}}
	off, _, err := g.RenderPrompt(req)
	if err != nil || !strings.HasSuffix(off, "<think>\n\n</think>\n\n") || g.Thinking() != "off" {
		t.Fatalf("--think off: %q, %v (state %s)", off, err, g.Thinking())
	}
	if err := g.SetThinking(true); err != nil {
		t.Fatal(err)
	}
	on, _, _ := g.RenderPrompt(req)
	if strings.Contains(on, "</think>") || g.Thinking() != "on" {
		t.Fatalf("/think on still closes the block: %q", on)
	}
	// --reasoning-budget reaches every request of the chat.
	sf = samplingFlags{think: "auto", reasoningBudget: 64}
	g2, err := loadChatModel(&mf, &sf, chatModel, tmpl, true)
	if err != nil {
		t.Fatal(err)
	}
	defer g2.Close()
	if r := g2.withTemplate(req); r.ReasoningBudget != 64 || g2.Thinking() != "auto" {
		t.Fatalf("budget %d, state %s", r.ReasoningBudget, g2.Thinking())
	}
}

func TestThinkFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{{"--think", "maybe"}, {"--reasoning-budget", "-2"}} {
		_, errOut, st := natter(t, "", append([]string{"ask", "-m", chatModel, "--no-save"}, append(args, "hi")...)...)
		if st != 2 || !strings.Contains(errOut, args[0]) {
			t.Fatalf("%v: exit %d, stderr:\n%s", args, st, errOut)
		}
	}
}
