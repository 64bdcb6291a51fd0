package engine

import (
	"math"
	"path/filepath"
	"testing"

	"natter/engine/gguf/synth"
)

// TestGraphTrainerGradients compares the gradient one SGD step applies to
// each kind of tensor with central finite differences of the loss. (This
// is how the wrong RMS_NORM_BACK of the bundled ggml showed up: every
// tensor before the final norm got a wrong gradient.)
func TestGraphTrainerGradients(t *testing.T) {
	dir := t.TempDir()
	q2, q3 := filepath.Join(dir, "qwen2.gguf"), filepath.Join(dir, "qwen3.gguf")
	if err := synth.Qwen2Tiny().Write(q2); err != nil {
		t.Fatal(err)
	}
	if err := synth.Qwen3Tiny().Write(q3); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path  string
		names []string
	}{
		{q2, []string{"blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.1.attn_v.bias", "blk.0.attn_q.weight"}},
		{q3, []string{"blk.0.attn_q_norm.weight", "blk.0.attn_k_norm.weight", "blk.0.ffn_up.weight", "output.weight"}},
	}
	if stories := "../../shared/models/stories260K.gguf"; fileExists(stories) {
		cases = append(cases, struct {
			path  string
			names []string
		}{stories, []string{"output_norm.weight", "blk.4.ffn_down.weight", "blk.4.ffn_gate.weight", "blk.4.ffn_norm.weight",
			"blk.4.attn_q.weight", "blk.4.attn_k.weight", "blk.4.attn_v.weight", "blk.4.attn_output.weight",
			"blk.2.ffn_up.weight", "blk.0.attn_norm.weight", "token_embd.weight"}})
	} else {
		t.Log("stories260K: did not run, the file is absent")
	}
	for _, c := range cases {
		for _, name := range c.names {
			checkGradient(t, c.path, name)
		}
	}
}

func checkGradient(t *testing.T, path, name string) {
	t.Helper()
	{
		tr, err := NewTrainer(TrainOptions{ModelPath: path, Window: 16, Train: []string{name}, SGD: true, Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		toks, err := tr.TextTokens("once upon a time there was a little girl named lily. she saw a big dog in the house and they played all day")
		if err != nil {
			t.Fatal(err)
		}
		seq := toks[:17]
		w := tr.tensorData(name)
		loss := func() float64 {
			l, err := tr.Loss(seq, nil)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		idx := []int{0, 1, 7, len(w) / 3, len(w) / 2, len(w) - 1}
		if name == "token_embd.weight" {
			// Only the rows of tokens in the sequence have a gradient.
			nEmbd := len(w) / tr.model.nVocab()
			idx = []int{int(seq[3])*nEmbd + 1, int(seq[5])*nEmbd + 7, int(seq[9])*nEmbd + nEmbd - 1}
		}
		// The loss is summed in float32: with a smaller step its rounding
		// (about 1e-6) swamps the difference of small gradients.
		const eps = 1e-2
		fd := make([]float64, len(idx))
		for k, i := range idx {
			old := w[i]
			w[i] = old + eps
			lp := loss()
			w[i] = old - eps
			lm := loss()
			w[i] = old
			fd[k] = (lp - lm) / (2 * eps)
		}
		before := append([]float32(nil), w...)
		const lr = 1e-3
		tr.SetLR(lr, 0)
		if _, err := tr.Step(seq, nil); err != nil {
			t.Fatal(err)
		}
		for k, i := range idx {
			g := float64(before[i]-w[i]) / lr
			if math.Abs(g-fd[k]) > 0.05*math.Abs(fd[k])+5e-4 {
				t.Errorf("%s %s[%d]: the step's gradient %+.5f, finite differences %+.5f", filepath.Base(path), name, i, g, fd[k])
			}
		}
		tr.Close()
	}
}
