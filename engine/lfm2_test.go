package engine

import (
	"path/filepath"
	"testing"

	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/prompts"
)

func writeLFM2(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lfm2.gguf")
	if err := synth.LFM2Tiny().Write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadLFM2(t *testing.T, path string) *Engine {
	t.Helper()
	return loadLFM2Opts(t, Options{ModelPath: path})
}

func loadLFM2Opts(t *testing.T, o Options) *Engine {
	t.Helper()
	o.ContextSize, o.Threads = 1024, 1
	e, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// The synthetic lfm2 file loads in llama.cpp as a hybrid model and
// generates greedily, the same text twice.
func TestLFM2LoadsAndGenerates(t *testing.T) {
	path := writeLFM2(t)
	e := loadLFM2(t, path)
	if a := e.Info().Arch; a != "lfm2" {
		t.Fatalf("arch %q", a)
	}
	req := api.Request{Messages: []prompts.Message{{Role: prompts.RoleUser, Content: "hello there"}}, Sampling: greedy(), MaxTokens: 12}
	a := collectGen(t, e, req)
	if a.stats.GeneratedTokens == 0 {
		t.Fatalf("nothing generated (stop %q)", a.stats.StopReason)
	}
	if err := e.Reset(); err != nil {
		t.Fatal(err)
	}
	b := collectGen(t, e, req)
	if a.text != b.text {
		t.Fatalf("greedy runs differ: %q vs %q", a.text, b.text)
	}
	t.Logf("%q (%d tokens, %s)", a.text, a.stats.GeneratedTokens, e.Info().Description)
}

// The vendored llama.cpp asks for lfm2's final norm as "output_norm", so a
// file named as the converter writes it (token_embd_norm.weight, as every
// LFM2 GGUF on Hugging Face) is refused with an error, not a crash. When
// this starts to load, the vendored copy was fixed: make
// synth.LFM2NormConverted the default of LFM2Tiny.
func TestLFM2ConvertedNormNameIsRefused(t *testing.T) {
	s := synth.LFM2Tiny()
	s.FinalNorm = synth.LFM2NormConverted
	path := filepath.Join(t.TempDir(), "lfm2-converted.gguf")
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	e, err := Load(Options{ModelPath: path, ContextSize: 256, Threads: 1})
	if err == nil {
		e.Close()
		t.Fatal("the vendored llama.cpp now loads converter-named lfm2 files; switch the synth default")
	}
}

// coldLFM2 runs req on a fresh llama.cpp engine: what any reuse must give.
func coldLFM2(t *testing.T, path string, req api.Request) result {
	t.Helper()
	e, err := Load(Options{ModelPath: path, ContextSize: 1024, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	return collectGen(t, e, req)
}

// On lfm2, whose short-convolution state llama.cpp cannot cut back, a
// follow-up turn, a regenerate, an undo and an edited turn each restore
// the checkpoint taken at the end of an earlier prompt: they read only
// what is new, and give what a cold engine gives.
func TestLFM2TurnsRestoreCheckpoints(t *testing.T) {
	path := writeLFM2(t)
	e := loadLFM2(t, path)
	req := func(msgs ...prompts.Message) api.Request {
		return api.Request{Messages: msgs, Sampling: greedy(), MaxTokens: 12}
	}
	u1 := prompts.Message{Role: prompts.RoleUser, Content: "hello there"}
	r1 := collectGen(t, e, req(u1))
	if r1.stats.CachedTokens != 0 {
		t.Fatalf("first turn reused %d tokens", r1.stats.CachedTokens)
	}
	p1 := r1.stats.PromptTokens

	// The follow-up renders the reply again, closed by <|im_end|>: the
	// cache (prompt and generated tokens) diverges inside the reply.
	u2 := prompts.Message{Role: prompts.RoleUser, Content: "and then what happened"}
	turn2 := req(u1, prompts.Message{Role: prompts.RoleAssistant, Content: r1.text}, u2)
	r2 := collectGen(t, e, turn2)
	if r2.stats.CachedTokens < p1 {
		t.Fatalf("follow-up reused %d tokens, want at least the first prompt's %d", r2.stats.CachedTokens, p1)
	}
	if c := coldLFM2(t, path, turn2); c.text != r2.text {
		t.Fatalf("follow-up differs from a cold run:\nreuse %q\ncold  %q", r2.text, c.text)
	}

	// Regenerate: the same prompt again, after its reply moved the state
	// on. The checkpoint is the whole prompt: nothing is read again.
	r2b := collectGen(t, e, turn2)
	if r2b.stats.CachedTokens != r2.stats.PromptTokens || r2b.text != r2.text {
		t.Fatalf("regenerate reused %d of %d tokens, text %q vs %q", r2b.stats.CachedTokens, r2.stats.PromptTokens, r2b.text, r2.text)
	}

	// Undo back to the first turn, then an edited second turn.
	r1b := collectGen(t, e, req(u1))
	if r1b.stats.CachedTokens != p1 || r1b.text != r1.text {
		t.Fatalf("undo reused %d of %d tokens, text %q vs %q", r1b.stats.CachedTokens, p1, r1b.text, r1.text)
	}
	edited := req(u1, prompts.Message{Role: prompts.RoleAssistant, Content: r1.text}, prompts.Message{Role: prompts.RoleUser, Content: "no, tell me more"})
	r3 := collectGen(t, e, edited)
	if r3.stats.CachedTokens < p1 {
		t.Fatalf("edited turn reused %d tokens, want at least %d", r3.stats.CachedTokens, p1)
	}
	if c := coldLFM2(t, path, edited); c.text != r3.text {
		t.Fatalf("edited turn differs from a cold run:\nreuse %q\ncold  %q", r3.text, c.text)
	}
}

// lfm2Chat runs an 8-turn chat and returns how many prompt tokens each
// turn read (not from the cache).
func lfm2Chat(t *testing.T, e *Engine) []int {
	var msgs []prompts.Message
	var fresh []int
	for range 8 {
		msgs = append(msgs, prompts.Message{Role: prompts.RoleUser, Content: "tell me one more thing"})
		r := collectGen(t, e, api.Request{Messages: msgs, Sampling: greedy(), MaxTokens: 10})
		fresh = append(fresh, r.stats.PromptTokens-r.stats.CachedTokens)
		msgs = append(msgs, prompts.Message{Role: prompts.RoleAssistant, Content: r.text})
	}
	return fresh
}

// A long chat keeps every follow-up's re-read to the new turn: the tokens
// read per turn do not grow with the chat.
func TestLFM2FollowUpCostStaysFlat(t *testing.T) {
	e := loadLFM2(t, writeLFM2(t))
	for turn, n := range lfm2Chat(t, e) {
		if turn > 0 && n > 40 {
			t.Fatalf("turn %d read %d prompt tokens again", turn+1, n)
		}
	}
}

// Without checkpoints the same chat reads the whole conversation every
// turn (llama.cpp cannot cut lfm2's state back): what the tests above
// guard against.
func TestLFM2WithoutCheckpointsRereads(t *testing.T) {
	e := loadLFM2Opts(t, Options{ModelPath: writeLFM2(t), NoSnapshots: true})
	fresh := lfm2Chat(t, e)
	if last := fresh[len(fresh)-1]; last <= 40 {
		t.Fatalf("turn 8 read only %d tokens without checkpoints (per turn: %v)", last, fresh)
	}
}
