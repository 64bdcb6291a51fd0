package goengine_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"natter/engine/gguf"
	"natter/engine/goengine"
)

// prompt is a fixed id sequence inside the synthetic vocabulary.
var prompt = []int32{1, 300, 310, 320, 330, 340, 350}

// longPrompt is 150 ids: past Gated DeltaNet's 64-token prefill chunks and
// the test models' sliding window.
func longPrompt() []int32 {
	p := []int32{1}
	for i := 1; i < 150; i++ {
		p = append(p, int32(5+(i*37)%800))
	}
	return p
}

func greedyFile(t *testing.T, path string, n int) []int32 {
	t.Helper()
	e := loadFA(t, path)
	defer e.Close()
	return greedy(t, e, prompt, n)
}

// loadFA loads with flash attention, as upstream's default does on CPU, and
// with the generic kernels: upstream's fixtures come from a CPU without AMX,
// and the AMX kernels round differently, which flips near-tied tokens of
// these random-weight models just as turning flash attention off does
// (TestAMXWeights).
func loadFA(t *testing.T, path string) *goengine.Engine {
	t.Helper()
	e, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 256, Threads: 1, FlashAttention: true, GenericKernels: true})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The optional parts of upstream's layout change nothing: fused Q/K/V and
// gate/up experts equal the split tensors, MTP layers are not run, the
// recurrent-layer array equals the interval it spells out.
func TestUpstreamLayoutVariantsAgree(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		base  *umodel
		other []*umodel
	}{
		{"qwen35", qwen35(qwenOpts{}), []*umodel{
			qwen35(qwenOpts{fuseQKV: true}), qwen35(qwenOpts{mtp: true}), qwen35(qwenOpts{recurrentArr: true, mtp: true})}},
		{"qwen35moe", qwen35(qwenOpts{moe: true}), []*umodel{
			qwen35(qwenOpts{moe: true, fuseGateUp: true}), qwen35(qwenOpts{moe: true, fuseQKV: true, mtp: true}),
			// upstream's qwen35moe loader does not read expert_weights_scale
			with(qwen35(qwenOpts{moe: true}), func(m *umodel) { m.set("expert_weights_scale", float32(2.5)) })}},
		{"gemma4", gemma4(false, false), []*umodel{gemma4(true, false)}},
		{"gemma4moe", gemma4MoE(false), []*umodel{gemma4MoE(true)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := greedyFile(t, c.base.write(t, filepath.Join(dir, c.name+".gguf")), 12)
			if slices.Equal(want, slices.Repeat(want[:1], len(want))) {
				t.Fatalf("degenerate continuation %v: the test model cannot tell layouts apart", want)
			}
			for i, m := range c.other {
				got := greedyFile(t, m.write(t, filepath.Join(dir, c.name+"-v"+string(rune('a'+i))+".gguf")), 12)
				if !slices.Equal(got, want) {
					t.Errorf("variant %d: %v, split layout %v", i, got, want)
				}
			}
		})
	}
}

func with(m *umodel, f func(*umodel)) *umodel { f(m); return m }

// A file that does not fit its architecture is a clear error naming the
// tensor or key, from natter's check, before Ollama's loader sees it.
func TestUpstreamLayoutBadFiles(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		make  func() *umodel
		wants []string
	}{
		{"missing ssm_a", func() *umodel { m := qwen35(qwenOpts{}); m.drop("blk.1.ssm_a"); return m },
			[]string{"blk.1.ssm_a", "missing"}},
		{"missing attn_k", func() *umodel { m := qwen35(qwenOpts{}); m.drop("blk.3.attn_k.weight"); return m },
			[]string{"blk.3.attn_k.weight", "missing"}},
		{"missing expert gate", func() *umodel {
			m := qwen35(qwenOpts{moe: true})
			m.drop("blk.0.ffn_gate_exps.weight")
			return m
		}, []string{"blk.0.ffn_gate_exps.weight", "missing"}},
		{"missing shared expert gate", func() *umodel {
			m := qwen35(qwenOpts{moe: true})
			m.drop("blk.2.ffn_gate_inp_shexp.weight")
			return m
		}, []string{"blk.2.ffn_gate_inp_shexp.weight", "missing"}},
		{"wrong conv shape", func() *umodel {
			m := qwen35(qwenOpts{})
			tn := m.tensor("blk.0.ssm_conv1d.weight")
			tn.dims = []uint64{tn.dims[1], tn.dims[0]}
			return m
		}, []string{"blk.0.ssm_conv1d.weight", "shape"}},
		{"wrong embedding shape", func() *umodel {
			m := gemma4(false, false)
			m.tensor("token_embd.weight").dims[0] = 32
			m.tensor("token_embd.weight").data = m.tensor("token_embd.weight").data[:32*nVocab()]
			return m
		}, []string{"token_embd.weight", "shape"}},
		{"block_count is a string", func() *umodel { m := qwen35(qwenOpts{}); m.set("block_count", "4"); return m },
			[]string{"qwen35.block_count", "string", "unsigned integer"}},
		{"eps is an integer", func() *umodel {
			m := gemma4(false, false)
			m.set("attention.layer_norm_rms_epsilon", uint32(1))
			return m
		}, []string{"gemma4.attention.layer_norm_rms_epsilon", "float"}},
		{"missing ssm key", func() *umodel { m := qwen35(qwenOpts{}); m.del("ssm.state_size"); return m },
			[]string{"qwen35.ssm.state_size", "missing"}},
		{"sliding pattern not bools", func() *umodel {
			m := gemma4(false, false)
			m.set("attention.sliding_window_pattern", []int32{1, 1, 1, 0})
			return m
		}, []string{"gemma4.attention.sliding_window_pattern", "bools"}},
		{"layer beyond block_count", func() *umodel {
			m := qwen35(qwenOpts{mtp: true})
			m.del("nextn_predict_layers")
			m.set("block_count", uint32(4))
			return m
		},
			[]string{"blk.4.", "block_count"}},
		{"missing rope_freqs", func() *umodel { m := gemma4(false, false); m.drop("rope_freqs.weight"); return m },
			[]string{"rope_freqs.weight", "missing"}},
		{"scale count", func() *umodel {
			m := qwen35(qwenOpts{moe: true})
			m.tensors = append(m.tensors, tensorData{name: "blk.0.ffn_down_exps.scale", dims: []uint64{1}, data: []float32{0.5}})
			return m
		}, []string{"blk.0.ffn_down_exps.scale", "4 experts"}},
		{"scale not finite", func() *umodel {
			m := qwen35(qwenOpts{})
			m.tensors = append(m.tensors, tensorData{name: "blk.0.ssm_out.scale", dims: []uint64{1}, data: []float32{float32(math.Inf(1))}})
			return m
		}, []string{"blk.0.ssm_out.scale", "Inf"}},
		{"quantized norm", func() *umodel {
			m := qwen35(qwenOpts{})
			m.tensor("blk.2.ssm_norm.weight").f16 = true
			return m
		}, []string{"blk.2.ssm_norm.weight", "F16", "F32"}},
		{"all layers linear attention", func() *umodel {
			m := qwen35(qwenOpts{})
			m.set("attention.recurrent_layers", []bool{true, true, true, true})
			return m
		}, []string{"linear attention"}},
		{"shared KV donor", func() *umodel {
			m := gemma4(false, true)
			m.set("attention.sliding_window_pattern", []bool{true, true, false, true, true})
			m.set("attention.head_count_kv", []int32{2, 2, 1, 2, 2})
			for _, n := range []string{"attn_q", "attn_k", "attn_v", "attn_output", "attn_q_norm", "attn_k_norm"} {
				a, b := m.tensor("blk.2."+n+".weight"), m.tensor("blk.3."+n+".weight")
				a.name, b.name = b.name, a.name // layer 2 becomes the full one
			}
			return m
		}, []string{"layer 4 shares KV with layer 2"}},
		{"swa rope dims", func() *umodel { m := gemma4(false, false); m.set("rope.dimension_count_swa", uint32(8)); return m },
			[]string{"gemma4.rope.dimension_count_swa"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.make().write(t, filepath.Join(dir, "bad"+string(rune('a'+i))+".gguf"))
			_, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 64, Threads: 1})
			if err == nil {
				t.Fatal("loaded")
			}
			// natter's GGUF validator may name a mistyped key first.
			if strings.Contains(err.Error(), "but llama.cpp reads it as") {
				return
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if !errors.Is(err, goengine.ErrLayout) {
				t.Errorf("error %q is not ErrLayout", err)
			}
		})
	}
}

// Per-tensor scales of exactly 1 change nothing upstream, so they load.
func TestUnitScalesLoad(t *testing.T) {
	dir := t.TempDir()
	plain := greedyFile(t, qwen35(qwenOpts{}).write(t, filepath.Join(dir, "a.gguf")), 8)
	m := qwen35(qwenOpts{})
	m.tensors = append(m.tensors, tensorData{name: "blk.0.ssm_out.scale", dims: []uint64{1}, data: []float32{1}})
	if got := greedyFile(t, m.write(t, filepath.Join(dir, "b.gguf")), 8); !slices.Equal(got, plain) {
		t.Fatalf("with unit scale %v, without %v", got, plain)
	}
}

// upstreamModels are the files whose upstream greedy ids are recorded in
// testdata/upstream_greedy.txt.
func upstreamModels() map[string]*umodel {
	return map[string]*umodel{
		"qwen35":              qwen35(qwenOpts{}),
		"qwen35-fused-mtp":    qwen35(qwenOpts{fuseQKV: true, mtp: true, recurrentArr: true}),
		"qwen35moe":           qwen35(qwenOpts{moe: true}),
		"qwen35moe-fused":     qwen35(qwenOpts{moe: true, fuseGateUp: true, fuseQKV: true}),
		"gemma4":              gemma4(false, false),
		"gemma4-fused-shared": gemma4(true, true),
		"gemma4-shared":       gemma4(false, true),
		"gemma4moe":           gemma4MoE(false),
		"gemma4moe-fused":     gemma4MoE(true),
		"gemma4-keqv":         with(gemma4(false, false), func(m *umodel) { m.drop("blk.3.attn_v.weight") }), // V = K on the full layer (31B)
		"qwen35-scaled":       withScales(qwen35(qwenOpts{fuseQKV: true})),
		"qwen35moe-scaled":    withScales(qwen35(qwenOpts{moe: true})),
		"gemma4moe-scaled":    withScales(gemma4MoE(false)),
	}
}

// TestWriteUpstreamModels writes the fixture models for the reference
// tool when NATTER_WRITE_UPSTREAM_MODELS names a directory (see
// testdata/upstream_greedy.txt); otherwise it has nothing to do.
func TestWriteUpstreamModels(t *testing.T) {
	dir := os.Getenv("NATTER_WRITE_UPSTREAM_MODELS")
	if dir == "" {
		t.Skip("set NATTER_WRITE_UPSTREAM_MODELS=DIR to write the fixture models")
	}
	for name, m := range upstreamModels() {
		m.write(t, filepath.Join(dir, name+".gguf"))
	}
}

// The Go engine's greedy continuation of each upstream-layout model equals
// upstream llama.cpp's, recorded in testdata/upstream_layout_greedy.txt.
func TestGreedyMatchesUpstreamFixtures(t *testing.T) {
	b, err := os.ReadFile("testdata/upstream_layout_greedy.txt")
	if err != nil {
		t.Fatal(err)
	}
	models := upstreamModels()
	dir := t.TempDir()
	seen := 0
	for line := range strings.Lines(string(b)) {
		line, _, _ = strings.Cut(line, "#")
		name, ids, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var want []int32
		for f := range strings.FieldsSeq(ids) {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("fixture %s: %v", name, err)
			}
			want = append(want, int32(n))
		}
		model, long := strings.CutSuffix(name, "@long")
		m, ok := models[model]
		if !ok {
			t.Fatalf("fixture for unknown model %q", name)
		}
		if !long {
			seen++
		}
		t.Run(name, func(t *testing.T) {
			p := prompt
			if long {
				p = longPrompt()
			}
			e := loadFA(t, m.write(t, filepath.Join(dir, strings.ReplaceAll(name, "@", "-")+".gguf")))
			defer e.Close()
			got := greedy(t, e, p, len(want))
			if !slices.Equal(got, want) {
				t.Fatalf("Go engine %v\nupstream  %v", got, want)
			}
			if long { // the prompt in 40-token batches: same state, same ids
				e, err := goengine.Load(goengine.Options{ModelPath: filepath.Join(dir, strings.ReplaceAll(name, "@", "-")+".gguf"),
					ContextSize: 256, BatchSize: 40, Threads: 1, FlashAttention: true})
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close()
				if got := greedy(t, e, p, len(want)); !slices.Equal(got, want) {
					t.Fatalf("in 40-token batches %v\nupstream  %v", got, want)
				}
			}
		})
	}
	if seen != len(models) {
		t.Fatalf("%d fixtures for %d models", seen, len(models))
	}
}

// Every tensor of every test model, dropped or transposed, gives either a
// model that loads (the tensor is optional, or unused upstream) or a
// layout error naming it: never a panic inside Ollama's loader (which Load
// would report as "could not load") nor an abort inside ggml.
func TestEveryTensorDroppedOrTransposed(t *testing.T) {
	dir := t.TempDir()
	models := map[string]func() *umodel{
		"qwen35":          func() *umodel { return qwen35(qwenOpts{mtp: true}) },
		"qwen35moe-fused": func() *umodel { return qwen35(qwenOpts{moe: true, fuseQKV: true, fuseGateUp: true}) },
		"gemma4-shared":   func() *umodel { return gemma4(true, true) },
		"gemma4moe":       func() *umodel { return gemma4MoE(false) },
	}
	for name, mk := range models {
		t.Run(name, func(t *testing.T) {
			names := []string{}
			for _, tn := range mk().tensors {
				names = append(names, tn.name)
			}
			for i, tn := range names {
				for _, op := range []string{"drop", "transpose"} {
					m := mk()
					if op == "drop" {
						m.drop(tn)
					} else {
						d := m.tensor(tn).dims
						if len(d) < 2 || d[0] == d[1] {
							continue
						}
						d[0], d[1] = d[1], d[0]
					}
					path := m.write(t, filepath.Join(dir, fmt.Sprintf("%s-%d-%s.gguf", name, i, op)))
					e, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 32, Threads: 1})
					if err == nil {
						// Loads: it must also run.
						if _, _, err := e.Prefill(context.Background(), prompt); err != nil {
							t.Errorf("%s %s: loads but fails: %v", op, tn, err)
						}
						e.Close()
						continue
					}
					if !errors.Is(err, goengine.ErrLayout) || !strings.Contains(err.Error(), tn) {
						t.Errorf("%s %s: %v", op, tn, err)
					}
				}
			}
		})
	}
}

// Every architecture key of the test models, given a value of the wrong
// type, gives a model that loads (the key is optional and only read with
// its type) or a layout error naming it.
func TestEveryKeyMistyped(t *testing.T) {
	dir := t.TempDir()
	for name, mk := range map[string]func() *umodel{
		"qwen35moe": func() *umodel { return qwen35(qwenOpts{moe: true, recurrentArr: true, mtp: true}) },
		"gemma4":    func() *umodel { return gemma4MoE(false) },
	} {
		t.Run(name, func(t *testing.T) {
			base := mk()
			for i, e := range base.kvs {
				if !strings.HasPrefix(e.k, base.arch+".") {
					continue
				}
				var bad any = "x"
				if _, isStr := e.v.(string); isStr {
					bad = uint32(1)
				}
				m := mk()
				m.kvs[i].v = bad
				path := m.write(t, filepath.Join(dir, fmt.Sprintf("%s-%d.gguf", name, i)))
				e2, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 32, Threads: 1})
				if err == nil {
					e2.Close()
					continue
				}
				// natter's GGUF reader checks the expert counts first.
				if !(errors.Is(err, goengine.ErrLayout) || errors.Is(err, gguf.ErrCorrupt)) || !strings.Contains(err.Error(), e.k) {
					t.Errorf("%s as %T: %v", e.k, bad, err)
				}
			}
		})
	}
}

// The vocabulary-only GGUFs llama.cpp ships for its tokenizer tests carry
// real Qwen3.5 / Gemma 4 tokenizers and no weights (the qwen35 one says
// architecture qwen2): a clear error, not a model that fails at its first
// forward pass.
func TestVocabOnlyFilesAreLayoutErrors(t *testing.T) {
	for _, name := range []string{"qwen35", "gemma-4"} {
		path := "../../../shared/models/vocab/ggml-vocab-" + name + ".gguf"
		if _, err := os.Stat(path); err != nil {
			t.Skipf("DID NOT RUN: %s is absent", path)
		}
		_, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 32, Threads: 1})
		if !errors.Is(err, goengine.ErrLayout) || !(strings.Contains(err.Error(), "missing") || strings.Contains(err.Error(), "no tensors")) {
			t.Errorf("%s: %v", name, err)
		} else {
			t.Log(err)
		}
	}
}
