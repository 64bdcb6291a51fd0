package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/prompts"
)

// /think and --think set the real template's enable_thinking: Qwen3's
// template then closes an empty thought block itself.
func TestThinkingSwitchesTheTemplate(t *testing.T) {
	tmpl := filepath.Join("..", "..", "shared", "templates", "Qwen-Qwen3-0.6B.jinja")
	if _, err := os.Stat(tmpl); err != nil {
		t.Skipf("DID NOT RUN: %s is absent", tmpl)
	}
	chatModel := filepath.Join(t.TempDir(), "synth-chat.gguf")
	spec := synth.Tiny()
	spec.Name, spec.ChatTemplate = "synth-chat", synth.ChatML
	if err := synth.Write(chatModel, spec); err != nil {
		t.Fatal(err)
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
