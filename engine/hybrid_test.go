package engine

import (
	"path/filepath"
	"testing"

	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/prompts"
)

func loadQwen35(t *testing.T) (*GoEngine, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qwen35.gguf")
	// Heads of 64, so single-token steps take the fused delta rule as
	// Qwen3.5's heads of 128 do (goengine/deltanet.go).
	s := synth.Qwen35Tiny()
	s.LinHeadDim = 64
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	g, err := LoadGo(Options{ModelPath: path, ContextSize: 1024, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g, path
}

// cold runs req on a fresh engine: what any reuse must reproduce.
func cold(t *testing.T, path string, req api.Request) result {
	t.Helper()
	g, err := LoadGo(Options{ModelPath: path, ContextSize: 1024, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	return collectGen(t, g, req)
}

// On a hybrid (Gated DeltaNet + attention) model, whose recurrent state
// cannot be rolled back, a follow-up turn, a regenerate and an undo each
// restore the snapshot taken at the end of an earlier prompt: they read
// only what is new, and give what a cold engine gives.
func TestHybridTurnsRestoreSnapshots(t *testing.T) {
	g, path := loadQwen35(t)
	req := func(msgs ...prompts.Message) api.Request {
		return api.Request{Messages: msgs, Sampling: greedy(), MaxTokens: 12}
	}
	u1 := prompts.Message{Role: prompts.RoleUser, Content: "hello there"}
	r1 := collectGen(t, g, req(u1))
	if r1.stats.CachedTokens != 0 {
		t.Fatalf("first turn reused %d tokens", r1.stats.CachedTokens)
	}
	p1 := r1.stats.PromptTokens

	// The follow-up renders the reply again: its tokens need not be the
	// generated ones, so the cache usually diverges inside the reply.
	u2 := prompts.Message{Role: prompts.RoleUser, Content: "and then what happened"}
	turn2 := req(u1, prompts.Message{Role: prompts.RoleAssistant, Content: r1.text}, u2)
	r2 := collectGen(t, g, turn2)
	if r2.stats.CachedTokens < p1 {
		t.Fatalf("follow-up reused %d tokens, want at least the first prompt's %d", r2.stats.CachedTokens, p1)
	}
	if c := cold(t, path, turn2); c.text != r2.text {
		t.Fatalf("follow-up differs from a cold run:\nreuse %q\ncold  %q", r2.text, c.text)
	}

	// Regenerate: the same prompt again, after its reply moved the state on.
	r2b := collectGen(t, g, turn2)
	if r2b.stats.CachedTokens != r2.stats.PromptTokens || r2b.text != r2.text {
		t.Fatalf("regenerate reused %d of %d tokens, text %q vs %q", r2b.stats.CachedTokens, r2.stats.PromptTokens, r2b.text, r2.text)
	}

	// Undo back to the first turn, then an edited second turn.
	r1b := collectGen(t, g, req(u1))
	if r1b.stats.CachedTokens != p1 || r1b.text != r1.text {
		t.Fatalf("undo reused %d of %d tokens, text %q vs %q", r1b.stats.CachedTokens, p1, r1b.text, r1.text)
	}
	edited := req(u1, prompts.Message{Role: prompts.RoleAssistant, Content: r1.text}, prompts.Message{Role: prompts.RoleUser, Content: "no, tell me more"})
	r3 := collectGen(t, g, edited)
	if r3.stats.CachedTokens < p1 {
		t.Fatalf("edited turn reused %d tokens, want at least %d", r3.stats.CachedTokens, p1)
	}
	if c := cold(t, path, edited); c.text != r3.text {
		t.Fatalf("edited turn differs from a cold run:\nreuse %q\ncold  %q", r3.text, c.text)
	}
}

// A long chat keeps every follow-up's re-read to the new turn: the tokens
// processed per turn do not grow with the chat.
func TestHybridFollowUpCostStaysFlat(t *testing.T) {
	g, _ := loadQwen35(t)
	var msgs []prompts.Message
	for turn := 1; turn <= 8; turn++ {
		msgs = append(msgs, prompts.Message{Role: prompts.RoleUser, Content: "tell me one more thing"})
		r := collectGen(t, g, api.Request{Messages: msgs, Sampling: greedy(), MaxTokens: 10})
		fresh := r.stats.PromptTokens - r.stats.CachedTokens
		if turn > 1 && fresh > 40 {
			t.Fatalf("turn %d read %d of %d prompt tokens again", turn, fresh, r.stats.PromptTokens)
		}
		msgs = append(msgs, prompts.Message{Role: prompts.RoleAssistant, Content: r.text})
	}
}
