package tune

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"natter/engine"
	"natter/engine/api"
	"natter/engine/gguf/synth"
)

const stories = "../../shared/models/stories260K.gguf"

// storyText is a story the 260K model has not seen in this exact form.
const storyText = "Once upon a time, a purple fox named Zed lived under a tall bridge. Every night Zed counted the stars and sang to the river."

// synthText uses only words of the synthetic vocabulary.
const synthText = "once upon a time there was a little girl named lily. she saw a big dog in the house and they played all day"

func needStories(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(stories); err != nil {
		t.Skipf("did not run: %s is absent (%v)", stories, err)
	}
}

func writeTest(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func textLine(s string) string { return `{"text": "` + s + `"}` + "\n" }

// synthBase writes an F32 synthetic model with an output layer of its own
// (not tied to the embeddings), so the head can train.
func synthBase(t *testing.T, dir string, typ synth.TensorType) string {
	t.Helper()
	s := synth.Tiny()
	s.Type = typ
	s.Name = "synth-tune-" + typ.String()
	p := filepath.Join(dir, s.Name+".gguf")
	if err := synth.Write(p, s); err != nil {
		t.Fatal(err)
	}
	return p
}

func greedy(t *testing.T, model, prompt string, n int) string {
	t.Helper()
	e, err := engine.Load(engine.Options{ModelPath: model, ContextSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ch, err := e.Generate(context.Background(), api.Request{Raw: true, Prompt: prompt, MaxTokens: n, Sampling: api.Sampling{Temperature: 0}})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for ev := range ch {
		switch ev.Kind {
		case api.EventText:
			b.WriteString(ev.Text)
		case api.EventError:
			t.Fatal(ev.Err)
		}
	}
	return b.String()
}

func quiet(t *testing.T) func(string) { return func(s string) { t.Log(s) } }

func TestTuneSynthReproducesTrainedText(t *testing.T) {
	dir := t.TempDir()
	base := synthBase(t, dir, synth.F32)
	data := writeTest(t, dir, "train.jsonl", textLine(synthText))
	out := filepath.Join(dir, "tuned.gguf")
	prefix := "once upon a time there"
	before := greedy(t, base, prefix, 20)
	res, err := Run(context.Background(), Config{Base: base, Data: data, Out: out, Epochs: 60, LR: 3e-3, Seed: 1}, nil, quiet(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loss %.3f -> %.3f over %d steps (%d tensors, %d values)", res.FirstLoss, res.LastLoss, res.Steps, res.Tensors, res.Params)
	if !(res.LastLoss < res.FirstLoss/4) {
		t.Errorf("training loss %.3f -> %.3f: want it cut to a quarter", res.FirstLoss, res.LastLoss)
	}
	got := greedy(t, out, prefix, 20)
	t.Logf("base continues %q with %q; tuned with %q", prefix, before, got)
	want := strings.TrimPrefix(synthText, prefix)
	if !strings.HasPrefix(got, want[:60]) {
		t.Fatalf("tuned model continues %q with %q; want the trained text %q", prefix, got, want)
	}
	if strings.HasPrefix(before, want[:30]) {
		t.Fatalf("the base model already continues with the trained text %q: the test proves nothing", before)
	}
}

func TestTuneStoriesLowersLossAndKeepsMetadata(t *testing.T) {
	needStories(t)
	dir := t.TempDir()
	data := writeTest(t, dir, "train.jsonl", textLine(storyText))
	val := writeTest(t, dir, "val.jsonl", textLine(storyText))
	out := filepath.Join(dir, "tuned.gguf")
	var seen []Progress
	res, err := Run(context.Background(), Config{Base: stories, Data: data, Eval: val, Out: out, Epochs: 40, LR: 1e-3, Seed: 1}, func(p Progress) { seen = append(seen, p) }, quiet(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stories260K: train loss %.3f -> %.3f, validation %.3f -> %.3f, %d steps in %s", res.FirstLoss, res.LastLoss, res.FirstVal, res.ValLoss, res.Steps, res.Elapsed)
	if !(res.LastLoss < res.FirstLoss/10) {
		t.Errorf("train loss %.3f -> %.3f: want it cut tenfold", res.FirstLoss, res.LastLoss)
	}
	if !(res.ValLoss < res.FirstVal) {
		t.Errorf("validation loss %.3f -> %.3f: want it lower", res.FirstVal, res.ValLoss)
	}
	if len(seen) == 0 || seen[len(seen)-1].Done != res.Steps || math.IsNaN(seen[len(seen)-1].ValLoss) {
		t.Errorf("progress reports end with %+v; want the last step and a validation loss", seen[len(seen)-1])
	}
	b, err := engine.Validate(stories)
	if err != nil {
		t.Fatal(err)
	}
	a, err := engine.Validate(out)
	if err != nil {
		t.Fatalf("the tuned model does not validate: %v", err)
	}
	if len(a.KV) != len(b.KV) || a.FileSize != b.FileSize || a.Name() != b.Name() || a.ContextLength() != b.ContextLength() {
		t.Errorf("the tuned file lost metadata: %d keys, %d bytes, name %q, ctx %d; the base has %d, %d, %q, %d",
			len(a.KV), a.FileSize, a.Name(), a.ContextLength(), len(b.KV), b.FileSize, b.Name(), b.ContextLength())
	}
	// The tuned model tells the trained story; the base tells another.
	prefix := "Once upon a time, a purple fox"
	got, base := greedy(t, out, prefix, 24), greedy(t, stories, prefix, 24)
	t.Logf("base: %q; tuned: %q", base, got)
	if want := storyText[len(prefix):]; !strings.HasPrefix(want, strings.TrimSpace(got)[:40]) && !strings.HasPrefix(got, want[:40]) {
		t.Errorf("the tuned model continues %q with %q; want the trained story %q", prefix, got, want)
	}
	if strings.HasPrefix(base, storyText[len(prefix):][:20]) {
		t.Errorf("the base already tells the trained story: %q", base)
	}
	if _, err := os.Stat(out + ".checkpoint.json"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a finished run left its checkpoint: %v", err)
	}
}

func TestTuneStopSavesCheckpointAndResumeContinues(t *testing.T) {
	dir := t.TempDir()
	base := synthBase(t, dir, synth.F32)
	// Long enough for several sequences per epoch.
	data := writeTest(t, dir, "train.jsonl", strings.Repeat(textLine(synthText), 12))
	out := filepath.Join(dir, "tuned.gguf")
	cfg := Config{Base: base, Data: data, Out: out, Epochs: 8, LR: 1e-2, Layers: "output", Seed: 7}
	ctx, cancel := context.WithCancel(context.Background())
	var before []float64
	_, err := Run(ctx, cfg, func(p Progress) {
		if p.Done > 0 && !p.Evaluating {
			before = append(before, p.Loss)
		}
		if p.Done == 6 {
			cancel()
		}
	}, quiet(t))
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("a cancelled run returned %v; want ErrStopped", err)
	}
	if !strings.Contains(err.Error(), "--resume") {
		t.Errorf("the stop message does not say how to go on: %v", err)
	}
	ckW, ckM := CheckpointPaths(out)
	for _, p := range []string{ckW, ckM} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("no checkpoint: %v", err)
		}
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a stopped run wrote the output: %v", err)
	}
	if _, err := engine.Validate(ckW); err != nil {
		t.Fatalf("the checkpoint's weights do not validate: %v", err)
	}
	cfg.Resume = true
	var after []float64
	res, err := Run(context.Background(), cfg, func(p Progress) {
		if !p.Evaluating {
			after = append(after, p.Loss)
		}
	}, quiet(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedFrom != 6 || res.Steps != len(res.Losses) || len(before)+len(after) != res.Steps {
		t.Fatalf("resumed from %d, %d steps, %d losses; %d before the stop and %d after", res.ResumedFrom, res.Steps, len(res.Losses), len(before), len(after))
	}
	for i, l := range before {
		if res.Losses[i] != l {
			t.Fatalf("the loss curve was not kept: step %d %.4f, now %.4f", i+1, l, res.Losses[i])
		}
	}
	// The curve goes on where it stopped: the first resumed step is well
	// below where training began (a restart from the base would not be).
	t.Logf("losses before the stop %.3v, after %.3v", before, after[:min(3, len(after))])
	if !(after[0] < before[0]*0.9) {
		t.Fatalf("the first resumed loss %.3f is not below the first loss %.3f: the checkpoint's weights were not used", after[0], before[0])
	}
	for _, p := range []string{ckW, ckM} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("checkpoint %s left after the run finished", p)
		}
	}
	if _, err := engine.Validate(out); err != nil {
		t.Fatal(err)
	}
	// Another resume finds nothing to go on from.
	if _, err := Run(context.Background(), cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "no checkpoint") {
		t.Fatalf("resume without a checkpoint: %v", err)
	}
}

func TestTuneRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	base := synthBase(t, dir, synth.F32)
	good := writeTest(t, dir, "train.jsonl", textLine(synthText))
	out := filepath.Join(dir, "tuned.gguf")
	q8 := synthBase(t, dir, synth.Q8_0)
	lfm2 := filepath.Join(dir, "lfm2.gguf")
	if err := synth.LFM2Tiny().Write(lfm2); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"invalid JSONL", Config{Data: writeTest(t, dir, "bad.jsonl", textLine("fine")+"\n{\"text\": oops}\n")}, "bad.jsonl:3: not a JSON object"},
		{"empty data", Config{Data: writeTest(t, dir, "empty.jsonl", "\n\n")}, "no examples"},
		{"chat without a reply", Config{Data: writeTest(t, dir, "chat.jsonl", `{"messages":[{"role":"user","content":"hi"}]}`+"\n")}, "chat.jsonl:1: the last message is the user's"},
		{"quantized base", Config{Base: q8}, "natter quantize"},
		{"missing folder", Config{Out: filepath.Join(dir, "nope", "t.gguf")}, "does not exist"},
		// Nobody, root included, can make files in /proc/self.
		{"unwritable folder", Config{Out: "/proc/self/t.gguf"}, "cannot write in /proc/self"},
		{"output is the base", Config{Out: base}, "is the base model"},
		{"memory", Config{Available: func() (int64, bool) { return 1 << 20, true }}, "needs about"},
		{"other architecture", Config{Base: lfm2}, "natter tune trains llama"},
		{"blocks out of range", Config{Layers: "blocks:0-9"}, "blocks:A-B"},
		{"window beyond the model's context", Config{Window: 4096}, "trained on sequences of 512 tokens"},
		{"unknown layer spec", Config{Layers: "wings"}, "unknown"},
		{"no lr", Config{LR: -1}, "--lr"},
	}
	if os.Geteuid() != 0 {
		cases = append(cases, struct {
			name string
			cfg  Config
			want string
		}{"read-only folder", Config{Out: filepath.Join(ro, "t.gguf")}, "cannot write"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Base: base, Data: good, Out: out, Epochs: 1, LR: 1e-3}
			if c.cfg.Base != "" {
				cfg.Base = c.cfg.Base
			}
			if c.cfg.Data != "" {
				cfg.Data = c.cfg.Data
			}
			if c.cfg.Out != "" {
				cfg.Out = c.cfg.Out
			}
			if c.cfg.LR != 0 {
				cfg.LR = c.cfg.LR
			}
			cfg.Available, cfg.Layers, cfg.Window = c.cfg.Available, c.cfg.Layers, c.cfg.Window
			_, err := Run(context.Background(), cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v; want an error containing %q", err, c.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused run left %s", out)
			}
		})
	}
}

func TestCheckDiskRefusesWhatCannotFit(t *testing.T) {
	dir := t.TempDir()
	err := checkDisk(filepath.Join(dir, "x.gguf"), 1<<62)
	if err == nil || !strings.Contains(err.Error(), "is free there") {
		t.Fatalf("a 4 EiB model on %s: %v", dir, err)
	}
	if err := checkDisk(filepath.Join(dir, "x.gguf"), 1); err != nil {
		t.Fatal(err)
	}
}
