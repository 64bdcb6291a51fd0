package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

// adapterFor writes a LoRA adapter for models of spec (tinyModel and
// chatModel share its shapes).
func adapterFor(t *testing.T, name string, spec synth.Spec) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := (synth.LoraSpec{Base: spec, Rank: 4, Seed: 5}).Write(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAskLoraScales(t *testing.T) {
	ad := adapterFor(t, "style.gguf", synth.Tiny())
	args := func(extra ...string) []string {
		return append([]string{"ask", "-m", tinyModel, "--raw", "--temp", "0", "-n", "24", "--ignore-eos"}, append(extra, "Once upon a time")...)
	}
	base, errOut, code := natter(t, "", args()...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	off, errOut, code := natter(t, "", args("--lora", ad+":0")...)
	if code != 0 || off != base {
		t.Fatalf("--lora at 0 (exit %d, %s): %q; without: %q", code, errOut, off, base)
	}
	on, _, code := natter(t, "", args("--lora", ad)...)
	if code != 0 || on == base {
		t.Fatalf("--lora at 1 (exit %d) left the answer %q unchanged", code, on)
	}
	again, _, _ := natter(t, "", args("--lora", ad+":1")...)
	if again != on {
		t.Fatalf("two runs at scale 1 differ: %q and %q", on, again)
	}

	other := synth.Tiny()
	other.NEmbd, other.NFF = 32, 64
	bad := adapterFor(t, "other.gguf", other)
	_, errOut, code = natter(t, "", args("--lora", bad)...)
	if code != 1 || !strings.Contains(errOut, "other.gguf") || !strings.Contains(errOut, filepath.Base(tinyModel)) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
		t.Fatalf("a mismatched adapter: exit %d, stderr %q; want exit 1 and one line naming both files", code, errOut)
	}
	_, errOut, code = natter(t, "", args("--lora", ad+":9")...)
	if code != 2 || !strings.Contains(errOut, "scale 9") {
		t.Fatalf("--lora scale 9: exit %d, %q; want a usage error", code, errOut)
	}

	// bench and eval take adapters too; eval's cells name them.
	out, errOut, code := natter(t, "", "bench", "-m", tinyModel, "--lora", ad, "-p", "16", "-n", "8", "-r", "1")
	if code != 0 || !strings.Contains(out, "tg8") {
		t.Fatalf("bench --lora: exit %d\n%s\n%s", code, out, errOut)
	}
	suite := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(suite, []byte("cases:\n  - input: hello\n    contains: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = natter(t, "", "eval", suite, "-m", tinyModel, "--lora", ad+":0.5", "--no-save", "-n", "4")
	if code != 0 || !strings.Contains(out, "+lora style.gguf×0.5") {
		t.Fatalf("eval --lora: exit %d\n%s\n%s", code, out, errOut)
	}
}

func TestTmuxLoraCommand(t *testing.T) {
	spec := synth.Tiny()
	spec.Name, spec.ChatTemplate = "synth-chat", synth.ChatML
	ad := adapterFor(t, "style.gguf", spec)
	p := newPane(t)
	p.natter(chatArgs(chatModel, "--temp", "0", "-n", "12", "--lora", ad+":0.5")...)
	p.waitFor("the adapter in the status line", func(s string) bool { return strings.Contains(statusOf(s), "+lora style.gguf×0.5") })
	p.line("/lora")
	p.waitFor("the adapter list", func(s string) bool {
		return strings.Contains(s, "1. style.gguf") && strings.Contains(s, "scale 0.5")
	})
	p.line("/lora 1 off")
	p.waitFor("the adapter turned off", func(s string) bool {
		return strings.Contains(s, "LoRA style.gguf: off") && !strings.Contains(statusOf(s), "+lora")
	})
	p.line("hello")
	p.waitFor("a reply", func(s string) bool { return finished(s) && strings.Count(p.all(), "hello") >= 1 })

	// A model the adapter does not fit: the switch keeps the model, leaves
	// the adapter off and says why.
	other := synth.Tiny()
	other.Name, other.NEmbd, other.NFF, other.ChatTemplate = "synth-narrow", 32, 64, synth.ChatML
	narrow := filepath.Join(t.TempDir(), "narrow.gguf")
	if err := synth.Write(narrow, other); err != nil {
		t.Fatal(err)
	}
	p.line("/lora 1 1")
	p.waitFor("the adapter on again", func(s string) bool { return strings.Contains(statusOf(s), "+lora style.gguf×1") })
	p.line("/model " + narrow)
	p.waitFor("the switch with the adapter left off", func(s string) bool {
		return strings.Contains(p.all(), "LoRA adapters left off") && strings.HasPrefix(statusOf(s), "narrow F32") && !strings.Contains(statusOf(s), "+lora")
	})
}

// TestTmuxTuneStopAndResume stops a tune with Ctrl+C in a terminal and
// resumes it: the run goes on from the step it stopped at.
func TestTmuxTuneStopAndResume(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "train.jsonl")
	if err := os.WriteFile(data, []byte(strings.Repeat(tuneLine, 40)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tuned.gguf")
	args := []string{"tune", "-m", tinyModel, "--data", data, "-o", out, "--epochs", "5000", "--lr", "1e-2", "--train-layers", "output"}
	stop := func(p *pane) {
		t.Helper()
		p.keys("C-c")
		s := p.waitFor("the stop note", func(s string) bool { return strings.Contains(s, "--resume to go on") })
		if !strings.Contains(s, "checkpoint is saved") {
			t.Fatalf("the stop note:\n%s", s)
		}
		if code := p.exited(); code != 130 {
			t.Fatalf("tune stopped by Ctrl+C exited %d; want 130", code)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatal("a stopped tune wrote its output")
		}
	}
	p := newPane(t)
	p.launch(args...)
	p.waitFor("training progress", func(s string) bool { return strings.Contains(s, "epoch 4/5000") })
	stop(p)

	p = newPane(t)
	p.launch(append(args, "--resume")...)
	s := p.waitFor("resumed progress", func(s string) bool { return epochRE.MatchString(s) })
	if e := atoiCommas(epochRE.FindStringSubmatch(s)[1]); e < 4 {
		t.Fatalf("the resumed run is at epoch %d; the stopped one had reached 4:\n%s", e, s)
	}
	stop(p)
}

var epochRE = regexp.MustCompile(`epoch (\d+)/5000`)

const tuneLine = `{"text": "once upon a time there was a little girl named lily. she saw a big dog in the house and they played all day"}` + "\n"

// TestTuneQuantizeAsk runs the loop with the binary: tune a model, quantize
// the result and ask it.
func TestTuneQuantizeAsk(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "train.jsonl")
	if err := os.WriteFile(data, []byte(tuneLine), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tuned.gguf")
	stdout, stderr, code := natter(t, "", "tune", "-m", tinyModel, "--data", data, "-o", out, "--epochs", "60", "--lr", "3e-3")
	if code != 0 || !strings.Contains(stdout, "wrote "+out) || !strings.Contains(stderr, "tune: epoch 60/60") {
		t.Fatalf("tune: exit %d\n%s\n%s", code, stdout, stderr)
	}
	q := filepath.Join(dir, "tuned-q8.gguf")
	stdout, stderr, code = natter(t, "", "quantize", out, q, "Q8_0")
	if code != 0 || !strings.Contains(stdout, "Q8_0") {
		t.Fatalf("quantize: exit %d\n%s\n%s", code, stdout, stderr)
	}
	ans, stderr, code := natter(t, "", "ask", "-m", q, "--raw", "--temp", "0", "-n", "12", "once upon a time there")
	if code != 0 || !strings.HasPrefix(ans, " was a little girl named lily") {
		t.Fatalf("the tuned, quantized model answers %q (exit %d, %s); want the trained text", ans, code, stderr)
	}
}
