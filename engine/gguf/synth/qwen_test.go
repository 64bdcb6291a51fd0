package synth

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The shapes llama.cpp's load_tensors creates for LLM_ARCH_QWEN2 and
// LLM_ARCH_QWEN3 (llama-model.cpp), ne0 first.
func qwenWant(arch string, nLayer, e, ff, h, hkv, hd int, tied bool) map[string][]uint64 {
	u := func(d ...int) []uint64 {
		out := make([]uint64, len(d))
		for i, v := range d {
			out[i] = uint64(v)
		}
		return out
	}
	v := len(vocabTokens)
	w := map[string][]uint64{"token_embd.weight": u(e, v), "output_norm.weight": u(e)}
	if !tied {
		w["output.weight"] = u(e, v)
	}
	for i := 0; i < nLayer; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		w[p+"attn_norm.weight"] = u(e)
		w[p+"attn_q.weight"] = u(e, hd*h)
		w[p+"attn_k.weight"] = u(e, hd*hkv)
		w[p+"attn_v.weight"] = u(e, hd*hkv)
		w[p+"attn_output.weight"] = u(hd*h, e)
		w[p+"ffn_norm.weight"] = u(e)
		w[p+"ffn_gate.weight"] = u(e, ff)
		w[p+"ffn_up.weight"] = u(e, ff)
		w[p+"ffn_down.weight"] = u(ff, e)
		switch arch {
		case "qwen2":
			w[p+"attn_q.bias"] = u(hd * h)
			w[p+"attn_k.bias"] = u(hd * hkv)
			w[p+"attn_v.bias"] = u(hd * hkv)
		case "qwen3":
			w[p+"attn_q_norm.weight"] = u(hd)
			w[p+"attn_k_norm.weight"] = u(hd)
		}
	}
	return w
}

func allF32(string) bool { return true }

// The keys every qwen2/qwen3 file carries, with the llama Spec's tokenizer.
func qwenKVs(arch string, nLayer, e, ff, h, hkv, ctx int) map[string]any {
	a := arch + "."
	return map[string]any{
		"general.architecture":                 arch,
		"general.alignment":                    uint32(Alignment),
		"general.file_type":                    uint32(0),
		a + "block_count":                      uint32(nLayer),
		a + "context_length":                   uint32(ctx),
		a + "embedding_length":                 uint32(e),
		a + "feed_forward_length":              uint32(ff),
		a + "attention.head_count":             uint32(h),
		a + "attention.head_count_kv":          uint32(hkv),
		a + "rope.freq_base":                   float32(1e6),
		a + "attention.layer_norm_rms_epsilon": float32(1e-6),
		"tokenizer.ggml.model":                 "llama",
		"tokenizer.ggml.tokens":                vocabTokens,
		"tokenizer.ggml.scores":                vocabScores,
		"tokenizer.ggml.token_type":            vocabTypes,
		"tokenizer.ggml.bos_token_id":          uint32(TokBOS),
		"tokenizer.ggml.eos_token_id":          uint32(TokEOS),
		"tokenizer.ggml.unknown_token_id":      uint32(TokUnk),
		"tokenizer.ggml.add_bos_token":         true,
		"tokenizer.ggml.add_eos_token":         false,
	}
}

func TestQwen2RoundTrip(t *testing.T) {
	for _, tied := range []bool{true, false} {
		t.Run(fmt.Sprintf("tied=%v", tied), func(t *testing.T) {
			s := Qwen2Tiny()
			s.TiedOutput = tied
			f, path := openModel(t, s)
			checkTensors(t, f, qwenWant("qwen2", 2, 64, 128, 4, 2, 16, tied), F32, allF32)
			checkKVs(t, f, qwenKVs("qwen2", 2, 64, 128, 4, 2, 512))
			for _, k := range []string{"qwen2.attention.key_length", "qwen2.attention.value_length", "qwen2.rope.dimension_count"} {
				if _, ok := f.Get(k); ok {
					t.Errorf("%s written; converted qwen2 files have none", k)
				}
			}
			if got := f.ParamCount(); got != uint64(s.ParamCount()) {
				t.Errorf("file has %d parameters, spec says %d", got, s.ParamCount())
			}
			for _, b := range []string{"attn_q.bias", "attn_k.bias", "attn_v.bias"} {
				for i := 0; i < 2; i++ {
					v := readF32(t, path, f, fmt.Sprintf("blk.%d.%s", i, b))
					if slices.Contains(v, 0) {
						t.Errorf("blk.%d.%s has a zero: biases must all be random", i, b)
					}
				}
			}
		})
	}
}

func TestQwen3RoundTrip(t *testing.T) {
	for _, tied := range []bool{false, true} {
		t.Run(fmt.Sprintf("tied=%v", tied), func(t *testing.T) {
			s := Qwen3Tiny()
			s.TiedOutput = tied
			f, path := openModel(t, s)
			checkTensors(t, f, qwenWant("qwen3", 2, 64, 128, 4, 2, 32, tied), F32, allF32)
			kvs := qwenKVs("qwen3", 2, 64, 128, 4, 2, 512)
			kvs["qwen3.attention.key_length"] = uint32(32)
			kvs["qwen3.attention.value_length"] = uint32(32)
			checkKVs(t, f, kvs)
			// qwen3.cpp asserts n_rot == head_dim; n_rot defaults to it.
			if _, ok := f.Get("qwen3.rope.dimension_count"); ok {
				t.Error("qwen3.rope.dimension_count written")
			}
			for _, n := range []string{"blk.0.attn_q_norm.weight", "blk.1.attn_k_norm.weight"} {
				v := readF32(t, path, f, n)
				ones := 0
				for _, x := range v {
					if x < 1-QKNoise || x >= 1+QKNoise {
						t.Fatalf("%s value %g outside 1±%g", n, x, QKNoise)
					}
					if x == 1 {
						ones++
					}
				}
				if ones == len(v) {
					t.Errorf("%s is all ones", n)
				}
			}
			if v := readF32(t, path, f, "blk.0.ffn_norm.weight"); slices.ContainsFunc(v, func(x float32) bool { return x != 1 }) {
				t.Error("ffn_norm is not all ones")
			}
		})
	}
}

// Head size equal to NEmbd/NHead is fine for qwen3 too.
func TestQwen3PlainHeadSize(t *testing.T) {
	s := Qwen3Tiny()
	s.HeadDim = 16
	f, _ := openModel(t, s)
	checkTensors(t, f, qwenWant("qwen3", 2, 64, 128, 4, 2, 16, false), F32, allF32)
}

func writeBytes(t *testing.T, m archModel) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := m.Write(p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestQwenDeterministic(t *testing.T) {
	q2 := Qwen2Tiny()
	q3 := Qwen3Tiny()
	for _, m := range []archModel{q2, q3} {
		if a, b := writeBytes(t, m), writeBytes(t, m); !bytes.Equal(a, b) {
			t.Errorf("%T: two writes differ", m)
		}
	}
	q2.Seed++
	q3.Seed++
	if bytes.Equal(writeBytes(t, Qwen2Tiny()), writeBytes(t, q2)) || bytes.Equal(writeBytes(t, Qwen3Tiny()), writeBytes(t, q3)) {
		t.Error("the seed does not change the file")
	}
}

// A reseeded tensor holds what it has in the file written with that seed;
// every other tensor is untouched.
func TestQwenReseed(t *testing.T) {
	cases := []struct {
		name        string
		base, other archModel
	}{
		{"blk.1.attn_v.bias", Qwen2Tiny(), func() Qwen2Spec { s := Qwen2Tiny(); s.Seed = 7; return s }()},
		{"blk.0.attn_q_norm.weight", Qwen3Tiny(), func() Qwen3Spec { s := Qwen3Tiny(); s.Seed = 7; return s }()},
		{"blk.0.attn_q.weight", Qwen3Tiny(), func() Qwen3Spec { s := Qwen3Tiny(); s.Seed = 7; return s }()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var re archModel
			switch s := c.base.(type) {
			case Qwen2Spec:
				s.Reseed = map[string]int64{c.name: 7}
				re = s
			case Qwen3Spec:
				s.Reseed = map[string]int64{c.name: 7}
				re = s
			}
			fb, pb := openModel(t, c.base)
			fo, po := openModel(t, c.other)
			fr, pr := openModel(t, re)
			for _, ti := range fr.Tensors {
				got := readF32(t, pr, fr, ti.Name)
				want := readF32(t, pb, fb, ti.Name)
				if ti.Name == c.name {
					want = readF32(t, po, fo, ti.Name)
					if slices.Equal(got, readF32(t, pb, fb, ti.Name)) {
						t.Errorf("%s unchanged by Reseed", ti.Name)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s differs from the file it should match", ti.Name)
				}
			}
		})
	}
}

func TestQwenValidate(t *testing.T) {
	bad := map[string]archModel{
		"qwen2 uneven heads":  func() Qwen2Spec { s := Qwen2Tiny(); s.NHead = 3; s.NHeadKV = 1; return s }(),
		"qwen2 gqa":           func() Qwen2Spec { s := Qwen2Tiny(); s.NHeadKV = 3; return s }(),
		"qwen2 zero layers":   func() Qwen2Spec { s := Qwen2Tiny(); s.NLayer = 0; return s }(),
		"qwen3 odd head":      func() Qwen3Spec { s := Qwen3Tiny(); s.HeadDim = 33; return s }(),
		"qwen3 no head dim":   func() Qwen3Spec { s := Qwen3Tiny(); s.HeadDim = 0; return s }(),
		"qwen3 gqa":           func() Qwen3Spec { s := Qwen3Tiny(); s.NHeadKV = 3; return s }(),
		"qwen3 reseed typo":   func() Qwen3Spec { s := Qwen3Tiny(); s.Reseed = map[string]int64{"blk.0.attn_q.bias": 2}; return s }(),
		"qwen2 reseed absent": func() Qwen2Spec { s := Qwen2Tiny(); s.Reseed = map[string]int64{"output.weight": 2}; return s }(),
	}
	for name, m := range bad {
		if err := m.Write(filepath.Join(t.TempDir(), "m.gguf")); err == nil {
			t.Errorf("%s: written", name)
		}
	}
}
