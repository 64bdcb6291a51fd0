package engine

import (
	"strings"
	"testing"

	"natter/engine/api"
	"natter/prompts"
)

// A template that opens the reasoning block itself, as Qwen3.5's does.
const thinkingChatML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"

// --reasoning-budget N: after N tokens inside the block the engine writes
// the closing marker and the model goes on answering, on both backends.
func TestReasoningBudgetClosesTheBlock(t *testing.T) {
	ref, g := loadBoth(t)
	tmpl, err := prompts.NewJinja("test", thinkingChatML, prompts.JinjaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []prompts.Message{{Role: prompts.RoleUser, Content: "why is the sky blue"}}
	for _, gen := range []interface {
		api.Generator
		Reset() error
	}{ref, g} {
		name := gen.Info().Backend
		base := api.Request{Messages: msgs, Template: tmpl, Sampling: greedy(), IgnoreEOS: true}
		five := base
		five.MaxTokens = 5
		thought := collectGen(t, gen, five).text
		gen.Reset()

		capped := base
		capped.MaxTokens, capped.ReasoningBudget = 12, 5
		r := collectGen(t, gen, capped)
		if !strings.HasPrefix(r.text, thought+"\n</think>\n\n") {
			t.Fatalf("%s: reply %q does not close the block after the 5 tokens %q", name, r.text, thought)
		}
		if len(r.text) <= len(thought+"\n</think>\n\n") || r.stats.GeneratedTokens != 12 {
			t.Fatalf("%s: no answer after the block: %q (%d tokens)", name, r.text, r.stats.GeneratedTokens)
		}
		gen.Reset()

		// No cap: the block stays open.
		open := base
		open.MaxTokens = 12
		if r := collectGen(t, gen, open); strings.Contains(r.text, "</think>") {
			t.Fatalf("%s: closed without a budget: %q", name, r.text)
		}
	}
}

func TestThinkBudgetFindsSplitMarkers(t *testing.T) {
	b := newThinkBudget(3, "")
	for _, p := range []string{"hi ", "<th", "ink>", "a", "b"} {
		if c := b.push([]byte(p)); c != "" {
			t.Fatalf("closed early at %q", p)
		}
	}
	if c := b.push([]byte("c")); c != "\n</think>\n\n" {
		t.Fatalf("third token inside: %q", c)
	}
	// Closed by the model itself: nothing to insert.
	b = newThinkBudget(3, "<|channel>thought\n")
	b.push([]byte("x"))
	b.push([]byte("<channel|>"))
	for range 5 {
		if c := b.push([]byte("y")); c != "" {
			t.Fatalf("inserted %q after the model closed the block", c)
		}
	}
}
