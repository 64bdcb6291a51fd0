package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

// The chat runs against natter serve as a remote model: it streams, shows
// where the model runs, stops on Esc, retries, and the history names the
// server; a thinking model's reasoning becomes the collapsed thinking line.
func TestTmuxChatWithRemoteModel(t *testing.T) {
	_, env := isolatedEnv(t)
	s := startServe(t, env, "-m", chatModel, "--temp", "0")
	host := strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/v1")
	model := "openai://" + host + "/synth-chat"

	p := newPane(t, "NATTER_NO_HISTORY=")
	p.natter("-m", model, "--temp", "0", "-n", "400")
	if st := statusOf(p.screen()); !strings.Contains(st, model) || !strings.Contains(st, "remote "+host) {
		t.Fatalf("the status line does not say where the model runs: %q", st)
	}
	p.line("Tell me a long story")
	p.waitFor("the reply to stream", func(s string) bool { return liveTokens(s) > 5 || finished(s) })
	p.keys("Escape")
	p.waitFor("the reply to end", func(s string) bool { return !streaming(s) })
	if reply := replyAfter(p.all(), "› Tell me a long story"); reply == "" {
		t.Fatalf("no reply text kept:\n%s", p.all())
	}
	// /retry asks the server again; greedy, so twice the same.
	p.line("/set max-tokens 12")
	p.waitFor("the /set acknowledgement", func(s string) bool { return strings.Contains(s, "max-tokens set") })
	const note = "↻ retrying the last reply"
	retry := func() string {
		t.Helper()
		before := strings.Count(p.all(), note)
		p.line("/retry")
		p.waitFor("the retried reply", func(s string) bool {
			all := p.all()
			i := strings.LastIndex(all, note)
			return strings.Count(all, note) == before+1 && strings.Contains(all[i:], "■ stopped at max tokens") && finished(s)
		})
		return replyAfter(p.all(), note)
	}
	if a, b := retry(), retry(); a == "" || a != b {
		t.Fatalf("greedy /retry against the server: %q then %q", a, b)
	}
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
	out, _, _ := runEnv(t, append(env, "HOME="+p.home, "XDG_DATA_HOME="+filepath.Join(p.home, "data"), "NATTER_NO_HISTORY="), "history", "list")
	if !strings.Contains(out, model) {
		t.Errorf("history list does not name the server's model:\n%s", out)
	}

	// A model whose template opens a thought block: the server sends
	// reasoning_content, which the chat folds into its thinking line.
	think := filepath.Join(t.TempDir(), "think.gguf")
	spec := synth.Tiny()
	spec.Name, spec.ChatTemplate = "synth-think", synth.ChatML+"{% if add_generation_prompt %}{{ '<think>\\n' }}{% endif %}"
	if err := synth.Write(think, spec); err != nil {
		t.Fatal(err)
	}
	s2 := startServe(t, env, "-m", think, "--temp", "0")
	host2 := strings.TrimSuffix(strings.TrimPrefix(s2.url, "http://"), "/v1")
	p2 := newPane(t)
	// Greedy here too: the client's temperature is what the server uses,
	// and a sampled first token was once the end of turn (an empty reply).
	p2.natter("-m", "openai://"+host2+"/think", "--temp", "0", "-n", "24")
	p2.line("hi")
	// The finished reply and its thinking line together: a capture may
	// catch the footer printed before the live area is redrawn.
	thought := regexp.MustCompile(`▸ thought · \d+ tokens`)
	p2.waitFor("the thinking line of a finished reply", func(s string) bool {
		return finished(s) && thought.MatchString(p2.all())
	})
	p2.keys("C-d")
	p2.exited()
}

// A config endpoint's models are listed by /model beside the local files,
// and /model NAME:MODEL switches the chat to the server.
func TestTmuxModelSwitchToEndpoint(t *testing.T) {
	_, env := isolatedEnv(t)
	s := startServe(t, env, "-m", chatModel, "--temp", "0")
	p := newPane(t)
	cfgDir := filepath.Join(p.home, "config", "natter")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := "[endpoints.box]\nurl = \"" + s.url + "\"\nmodel = \"synth-chat\"\n"
	if err := os.WriteFile(filepath.Join(cfgDir, "config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p.natter("-m", tinyModel, "-n", "8")
	p.line("/model")
	p.waitFor("the model list", func(s string) bool {
		return strings.Contains(s, "box:synth-chat") && strings.Contains(s, "endpoint box")
	})
	p.line("/model box:synth-chat")
	host := strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/v1")
	p.waitFor("the switch to the server", func(s string) bool { return strings.Contains(statusOf(s), "remote "+host) })
	p.line("Once upon a time")
	p.waitFor("a reply from the server", finished)
	if !strings.Contains(s.stderr(), "POST /v1/chat/completions model=synth-chat") {
		t.Fatalf("the server saw no chat request:\n%s", s.stderr())
	}
	p.keys("C-d")
	p.exited()
}
