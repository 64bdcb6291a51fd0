package engine

import (
	"math/rand/v2"
	"strings"
	"testing"

	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/prompts"
)

// The one-at-a-time reference the engine used to run: drop the first
// non-system message and the replies after it, while something other than
// system messages stands before the last user message.
func canDropTurnRef(msgs []prompts.Message) bool {
	last := lastUser(msgs)
	for i := 0; i < last; i++ {
		if msgs[i].Role != prompts.RoleSystem {
			return true
		}
	}
	return false
}

func dropOldestTurnRef(msgs []prompts.Message) []prompts.Message {
	out := make([]prompts.Message, 0, len(msgs))
	i := 0
	for i < len(msgs) && msgs[i].Role == prompts.RoleSystem {
		out = append(out, msgs[i])
		i++
	}
	i++
	for i < len(msgs) && msgs[i].Role != prompts.RoleUser && msgs[i].Role != prompts.RoleSystem {
		i++
	}
	return append(out, msgs[i:]...)
}

// dropTurns and droppableTurns give what the one-at-a-time reference
// gives, on chats with system messages anywhere, tool replies and runs of
// one role.
func TestDropTurnsMatchesOneAtATime(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 1))
	roles := []string{prompts.RoleSystem, prompts.RoleUser, prompts.RoleUser, prompts.RoleAssistant, prompts.RoleAssistant, "tool"}
	for n := 0; n < 2000; n++ {
		var msgs []prompts.Message
		for i := rng.IntN(12); i > 0; i-- {
			msgs = append(msgs, prompts.Message{Role: roles[rng.IntN(len(roles))], Content: string(rune('a' + len(msgs)))})
		}
		ref, want := msgs, 0
		for k := 0; ; k++ {
			if got := dropTurns(msgs, k); !equalMsgs(got, ref) {
				t.Fatalf("%v: dropTurns(%d) = %v, want %v", msgs, k, got, ref)
			}
			if !canDropTurnRef(ref) {
				break
			}
			ref = dropOldestTurnRef(ref)
			want++
		}
		if got := droppableTurns(msgs); got != want {
			t.Fatalf("%v: droppableTurns = %d, want %d", msgs, got, want)
		}
	}
}

func equalMsgs(a, b []prompts.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Role != b[i].Role || a[i].Content != b[i].Content {
			return false
		}
	}
	return true
}

// A long chat in a small context drops its oldest turns with a handful of
// renders and tokenizations, not one per turn left out, and drops as few
// as dropping them one by one would; a chat so long that the template's
// per-message text alone passes the context is not blamed on the template
// (it was: "the template is broken" for a 1,000-turn chat in 512 tokens).
func TestLongChatDropsTurnsInFewTries(t *testing.T) {
	e := load(t, tinyChatSpec(), 512)
	_, g := loadBoth(t)
	tmpl, err := prompts.NewJinja("gguf:jinja", synth.ChatML, prompts.JinjaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chat := func(turns int) []prompts.Message {
		msgs := []prompts.Message{{Role: prompts.RoleSystem, Content: "be brief"}}
		for i := 0; i < turns; i++ {
			msgs = append(msgs, prompts.Message{Role: prompts.RoleUser, Content: strings.Repeat("hello there ", 1+i%9)},
				prompts.Message{Role: prompts.RoleAssistant, Content: strings.Repeat("general kenobi ", 1+i%5)})
		}
		return append(msgs, prompts.Message{Role: prompts.RoleUser, Content: "last question"})
	}
	for name, env := range map[string]promptEnv{"llama.cpp": e.env(), "go": g.env()} {
		// The one-by-one answer for a chat of 60 turns.
		msgs := chat(60)
		want := 0
		for {
			m := msgs
			for range want {
				m = dropOldestTurnRef(m)
			}
			text, spans, _, err := renderPrompt(tmpl, m, env.specials)
			if err != nil {
				t.Fatal(err)
			}
			toks, err := env.chat(text, spans)
			if err != nil {
				t.Fatal(err)
			}
			if len(toks)+reserve(env.nCtx, api.Request{}) <= env.nCtx {
				break
			}
			want++
		}
		for _, turns := range []int{60, 1000, 4000} {
			calls := 0
			counted := env
			counted.chat = func(text string, spans []span) ([]Token, error) { calls++; return env.chat(text, spans) }
			p, err := buildPrompt(counted, api.Request{Template: tmpl, Messages: chat(turns)})
			if err != nil {
				t.Fatalf("%s, %d turns: %v", name, turns, err)
			}
			if len(p.tokens)+reserve(env.nCtx, api.Request{}) > env.nCtx || !strings.Contains(p.text, "last question") || !strings.Contains(p.text, "be brief") {
				t.Fatalf("%s, %d turns: %d tokens, text %q", name, turns, len(p.tokens), p.text)
			}
			if turns == 60 && p.dropped != want {
				t.Errorf("%s: %d turns dropped, one by one drops %d", name, p.dropped, want)
			}
			if calls > 30 {
				t.Errorf("%s, %d turns: %d tokenizations", name, turns, calls)
			}
		}
	}
}
