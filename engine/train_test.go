package engine

import (
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"natter/engine/gguf/synth"
)

// llamaNLL is llama.cpp's mean negative log-likelihood of toks[1:] given
// the tokens before each, from an empty cache.
func llamaNLL(t *testing.T, path string, toks []Token) float64 {
	t.Helper()
	e, err := Load(Options{ModelPath: path, ContextSize: len(toks) + 16, GenericKernels: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var sum float64
	n := 0
	var serr error
	if err := e.do(func() {
		e.lc.clear()
		serr = e.lc.scoreFrom(toks, 0, e.model.nVocab(), func(nll float64) { sum += nll; n++ })
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return sum / float64(n)
}

// TestGraphTrainerLossMatchesLlamaCpp checks natter's own training graph
// against llama.cpp's inference on the same tokens: a trained model
// (stories260K, GQA 8/4) and a synthetic one (GQA 4/2, its own output).
func TestGraphTrainerLossMatchesLlamaCpp(t *testing.T) {
	models := map[string]string{"synth": synthModel(t, loraBase())}
	for name, w := range map[string]interface{ Write(string) error }{"qwen2-tied": synth.Qwen2Tiny(), "qwen3": synth.Qwen3Tiny()} {
		p := filepath.Join(t.TempDir(), name+".gguf")
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		models[name] = p
	}
	if p := "../../shared/models/stories260K.gguf"; fileExists(p) {
		models["stories260K"] = p
	} else {
		t.Logf("stories260K: did not run, %s is absent", p)
	}
	for name, path := range models {
		t.Run(name, func(t *testing.T) {
			f, err := Validate(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckTrainArch(f); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, ti := range TrainableTensors(f, nil) {
				names = append(names, ti.Name)
			}
			tr, err := NewTrainer(TrainOptions{ModelPath: path, Window: 48, Train: names})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			toks, err := tr.TextTokens("Once upon a time there was a little girl named Lily. She loved to play in the park with her big dog, and one day they found a shiny red ball under a tree.")
			if err != nil {
				t.Fatal(err)
			}
			for len(toks) < tr.Window()+1 {
				toks = append(toks, toks[1:]...)
			}
			seq := toks[:tr.Window()+1]
			got, err := tr.Loss(seq, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := llamaNLL(t, path, seq)
			t.Logf("%s: natter's graph %.5f, llama.cpp %.5f", name, got, want)
			if math.Abs(got-want) > 1e-3*max(1, want) {
				t.Fatalf("loss %.5f; llama.cpp's %.5f", got, want)
			}
			// Leaving positions out: the loss over the second half only.
			targets := make([]bool, len(seq))
			for i := len(seq) / 2; i < len(seq); i++ {
				targets[i] = true
			}
			half, err := tr.Loss(seq, targets)
			if err != nil {
				t.Fatal(err)
			}
			if half == got {
				t.Fatalf("the loss over half the targets equals the whole's (%.5f)", got)
			}
		})
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// BenchmarkTrainStep measures one AdamW step on a 256-token window of a
// ~20M-parameter synthetic model, every tensor training (tokens/s), and
// logs the memory estimate beside the process's peak RSS.
func BenchmarkTrainStep(b *testing.B) {
	s := synth.Spec{NLayer: 4, NEmbd: 512, NFF: 1536, NHead: 8, NHeadKV: 4, NCtxTrain: 1024, Type: synth.F32, Seed: 5, Name: "synth-train-bench"}
	path := synthModel(b, s)
	f, err := Validate(path)
	if err != nil {
		b.Fatal(err)
	}
	ts := TrainableTensors(f, nil)
	var names []string
	for _, ti := range ts {
		names = append(names, ti.Name)
	}
	tr, err := NewTrainer(TrainOptions{ModelPath: path, Window: 256, Train: names})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	tr.SetLR(1e-4, 0)
	toks, _ := tr.TextTokens(longPrompt(2000))
	seq := toks[:257]
	b.ResetTimer()
	for range b.N {
		if _, err := tr.Step(seq, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*256)/b.Elapsed().Seconds(), "tokens/s")
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.Logf("memory estimate: %s; the process's peak RSS %s", EstimateTrainMemory(f, ts, 256, false), HumanBytes(ru.Maxrss<<10))
}
