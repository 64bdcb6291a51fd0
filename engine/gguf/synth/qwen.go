package synth

import (
	"errors"
	"fmt"
)

// Qwen2Spec describes a synthetic Qwen2 / Qwen2.5 model (architecture
// "qwen2") in the layout the vendored llama.cpp loads (llama-model.cpp
// LLM_ARCH_QWEN2, models/qwen2.cpp): the llama layout plus Q, K and V
// biases. RoPE is NEOX, which llama.cpp takes from the architecture. The
// vocabulary is the llama Spec's SentencePiece one, so prompts tokenize as
// in Tiny.
type Qwen2Spec struct {
	// Head size is NEmbd/NHead: the loader wants attn_q as {n_embd, n_embd},
	// so qwen2 files cannot have another head size.
	NLayer, NEmbd, NFF, NHead, NHeadKV, NCtxTrain int

	// WeightStd is the standard deviation of the random weights and biases
	// (0: 0.02). Tiny models use more so that greedy choices have clear
	// margins.
	WeightStd float32

	Seed         int64
	Name         string
	ChatTemplate string
	TiedOutput   bool // no output.weight (Qwen2.5 0.5B, 1.5B, 3B)

	// Reseed gives the named tensors the values they have in the file
	// written with that seed, every other tensor keeping its own: tests
	// tell from the output whether llama.cpp uses a tensor.
	Reseed map[string]int64

	// VL writes Qwen2-VL's text model instead (architecture "qwen2vl",
	// also Qwen2.5-VL's): M-RoPE over rope.dimension_sections, as Qwen3Spec.VL.
	VL bool
}

// Qwen3Spec describes a synthetic Qwen3 model (architecture "qwen3") in
// the layout the vendored llama.cpp loads (LLM_ARCH_QWEN3,
// models/qwen3.cpp): the llama layout without biases, plus per-head RMS
// norms of Q and K before RoPE (NEOX), and a head size of its own.
type Qwen3Spec struct {
	NLayer, NEmbd, NFF, NHead, NHeadKV, NCtxTrain int
	// HeadDim is attention.key_length = value_length; Qwen3 sets it apart
	// from NEmbd/NHead (0.6B: 1024 wide, 16 heads of 128).
	HeadDim int

	WeightStd    float32 // as Qwen2Spec's
	Seed         int64
	Name         string
	ChatTemplate string
	TiedOutput   bool // no output.weight (Qwen3 0.6B, 1.7B, 4B)

	// VL writes Qwen3-VL's text model instead (architecture "qwen3vl"):
	// the same tensors, interleaved M-RoPE over rope.dimension_sections
	// (time, rows, columns: 6, 5, 5 of a head's 16 pairs here, scaled to
	// HeadDim) and no deepstack layers.
	VL bool

	Reseed map[string]int64 // as Qwen2Spec's
}

// Qwen2Tiny is a qwen2 model of about 0.5 MB for tests, with tied
// embeddings as Qwen2.5 0.5B.
func Qwen2Tiny() Qwen2Spec {
	return Qwen2Spec{NLayer: 2, NEmbd: 64, NFF: 128, NHead: 4, NHeadKV: 2, NCtxTrain: 512,
		WeightStd: 0.4, Seed: 20, Name: "synth-qwen2-tiny", TiedOutput: true}
}

// Qwen3Tiny is a qwen3 model of about 0.9 MB for tests, its head size
// (32) twice NEmbd/NHead as in Qwen3 0.6B.
func Qwen3Tiny() Qwen3Spec {
	return Qwen3Spec{NLayer: 2, NEmbd: 64, NFF: 128, NHead: 4, NHeadKV: 2, HeadDim: 32, NCtxTrain: 512,
		WeightStd: 0.4, Seed: 30, Name: "synth-qwen3-tiny"}
}

// qwenModel is what the two specs share: one writer for both.
type qwenModel struct {
	arch                                                   string
	nLayer, nEmbd, nFF, nHead, nHeadKV, headDim, nCtxTrain int
	biases, qkNorm                                         bool
	std                                                    float32
	seed                                                   int64
	name, chatTemplate                                     string
	tied                                                   bool
	reseed                                                 map[string]int64
	vl                                                     bool // qwen3vl (Qwen3Spec.VL)
}

func (s Qwen2Spec) model() qwenModel {
	hd := 0
	if s.NHead > 0 {
		hd = s.NEmbd / s.NHead
	}
	arch := "qwen2"
	if s.VL {
		arch = "qwen2vl"
	}
	return qwenModel{arch: arch, nLayer: s.NLayer, nEmbd: s.NEmbd, nFF: s.NFF, nHead: s.NHead, nHeadKV: s.NHeadKV,
		headDim: hd, nCtxTrain: s.NCtxTrain, biases: true, std: s.WeightStd, seed: s.Seed, name: s.Name,
		chatTemplate: s.ChatTemplate, tied: s.TiedOutput, reseed: s.Reseed, vl: s.VL}
}

func (s Qwen3Spec) model() qwenModel {
	arch := "qwen3"
	if s.VL {
		arch = "qwen3vl"
	}
	return qwenModel{arch: arch, nLayer: s.NLayer, nEmbd: s.NEmbd, nFF: s.NFF, nHead: s.NHead, nHeadKV: s.NHeadKV,
		headDim: s.HeadDim, nCtxTrain: s.NCtxTrain, qkNorm: true, std: s.WeightStd, seed: s.Seed, name: s.Name,
		chatTemplate: s.ChatTemplate, tied: s.TiedOutput, reseed: s.Reseed, vl: s.VL}
}

// Validate reports a spec llama.cpp could not load.
func (s Qwen2Spec) Validate() error { return s.model().validate() }

// Validate reports a spec llama.cpp could not load.
func (s Qwen3Spec) Validate() error { return s.model().validate() }

func (m qwenModel) validate() error {
	for _, v := range []int{m.nLayer, m.nEmbd, m.nFF, m.nHead, m.nHeadKV, m.headDim, m.nCtxTrain} {
		if v < 1 {
			return fmt.Errorf("synth: %s sizes must be positive", m.arch)
		}
	}
	switch {
	case m.arch == "qwen2" && m.headDim*m.nHead != m.nEmbd:
		return fmt.Errorf("synth: qwen2 NEmbd %d not divisible by NHead %d", m.nEmbd, m.nHead)
	case m.headDim%2 != 0:
		return fmt.Errorf("synth: %s head size %d must be even for RoPE", m.arch, m.headDim)
	case m.nHead%m.nHeadKV != 0:
		return fmt.Errorf("synth: %s NHead %d not divisible by NHeadKV %d", m.arch, m.nHead, m.nHeadKV)
	case m.std < 0:
		return errors.New("synth: WeightStd must not be negative")
	}
	have := map[string]bool{}
	for _, t := range m.layout() {
		have[t.name] = true
	}
	for name := range m.reseed {
		if !have[name] {
			return fmt.Errorf("synth: Reseed names %q, which the %s file has no tensor of", name, m.arch)
		}
	}
	return nil
}

// seedOf is the seed of tensor name's values.
func (m qwenModel) seedOf(name string) int64 {
	if s, ok := m.reseed[name]; ok {
		return s
	}
	return m.seed
}

// layout lists the tensors in file order, shapes as llama.cpp's
// load_tensors creates them.
func (m qwenModel) layout() []tensor {
	nVocab := len(vocabTokens)
	e, q, kv := m.nEmbd, m.headDim*m.nHead, m.headDim*m.nHeadKV
	ts := []tensor{f32("token_embd.weight", e, nVocab), ones("output_norm.weight", e)}
	if !m.tied {
		ts = append(ts, f32("output.weight", e, nVocab))
	}
	for i := 0; i < m.nLayer; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		ts = append(ts,
			ones(p+"attn_norm.weight", e),
			f32(p+"attn_q.weight", e, q),
			f32(p+"attn_k.weight", e, kv),
			f32(p+"attn_v.weight", e, kv),
			f32(p+"attn_output.weight", q, e),
		)
		if m.biases {
			ts = append(ts, f32(p+"attn_q.bias", q), f32(p+"attn_k.bias", kv), f32(p+"attn_v.bias", kv))
		}
		if m.qkNorm {
			ts = append(ts, m.noisyOnes(p+"attn_q_norm.weight"), m.noisyOnes(p+"attn_k_norm.weight"))
		}
		ts = append(ts,
			ones(p+"ffn_norm.weight", e),
			f32(p+"ffn_gate.weight", e, m.nFF),
			f32(p+"ffn_up.weight", e, m.nFF),
			f32(p+"ffn_down.weight", m.nFF, e),
		)
	}
	return ts
}

// QKNoise is the half-width of the q/k norm weights' uniform spread
// around 1: all-ones norms would leave a test unable to tell whether
// llama.cpp applies them, and with 0.2 reseeding one often left Qwen3Tiny's
// greedy text unchanged.
const QKNoise = 0.3

// noisyOnes is a per-head norm weight [headDim] in [1-QKNoise, 1+QKNoise).
func (m qwenModel) noisyOnes(name string) tensor {
	r := newRNG(uint64(m.seedOf(name)), streamID(name))
	v := make([]float32, m.headDim)
	for i := range v {
		v[i] = 1 + r.weight()/weightScale*QKNoise
	}
	return tensor{name: name, dims: []int{m.headDim}, typ: F32, values: v}
}

// tensors is layout ready to write. Every tensor draws from the stream of
// its name, so TiedOutput does not shift the others' values; a reseeded
// one carries the draws writeData would make with its seed.
func (m qwenModel) tensors() []tensor {
	ts := m.layout()
	g := gain(m.std)
	for i := range ts {
		t := &ts[i]
		t.stream = t.name
		seed, re := m.reseed[t.name]
		if !re || t.norm || t.values != nil {
			continue
		}
		r := newRNG(uint64(seed), streamID(t.stream))
		t.values = make([]float32, t.elems())
		for j := range t.values {
			t.values[j] = r.weight() * g
		}
	}
	return ts
}

func (m qwenModel) header(ts []tensor) []byte {
	a := m.arch + "."
	kvs := []kvPair{
		{"general.architecture", m.arch},
		{"general.name", m.name},
		{"general.alignment", uint32(Alignment)},
		{"general.file_type", F32.fileType()},
		{a + "block_count", uint32(m.nLayer)},
		{a + "context_length", uint32(m.nCtxTrain)},
		{a + "embedding_length", uint32(m.nEmbd)},
		{a + "feed_forward_length", uint32(m.nFF)},
		{a + "attention.head_count", uint32(m.nHead)},
		{a + "attention.head_count_kv", uint32(m.nHeadKV)},
		{a + "rope.freq_base", float32(1000000)},
		{a + "attention.layer_norm_rms_epsilon", float32(1e-6)},
	}
	if m.qkNorm {
		// No rope.dimension_count, as converted Qwen3 files: it defaults to
		// key_length, and qwen3.cpp asserts the two are equal.
		kvs = append(kvs,
			kvPair{a + "attention.key_length", uint32(m.headDim)},
			kvPair{a + "attention.value_length", uint32(m.headDim)},
		)
	}
	if m.vl {
		t, h := m.headDim*6/32, m.headDim*5/32
		kvs = append(kvs, kvPair{a + "rope.dimension_sections", []int32{int32(t), int32(h), int32(m.headDim/2 - t - h), 0}})
		if m.arch == "qwen3vl" {
			kvs = append(kvs, kvPair{a + "n_deepstack_layers", uint32(0)})
		}
	}
	// The llama Spec's tokenizer, so text tokenizes as with Tiny.
	kvs = append(kvs,
		kvPair{"tokenizer.ggml.model", "llama"},
		kvPair{"tokenizer.ggml.tokens", vocabTokens},
		kvPair{"tokenizer.ggml.scores", vocabScores},
		kvPair{"tokenizer.ggml.token_type", vocabTypes},
		kvPair{"tokenizer.ggml.bos_token_id", uint32(TokBOS)},
		kvPair{"tokenizer.ggml.eos_token_id", uint32(TokEOS)},
		kvPair{"tokenizer.ggml.unknown_token_id", uint32(TokUnk)},
		kvPair{"tokenizer.ggml.add_bos_token", true},
		kvPair{"tokenizer.ggml.add_eos_token", false},
	)
	if m.chatTemplate != "" {
		kvs = append(kvs, kvPair{"tokenizer.chat_template", m.chatTemplate})
	}
	return header(kvs, ts)
}

func (m qwenModel) write(path string) error {
	if err := m.validate(); err != nil {
		return err
	}
	ts := m.tensors()
	return writeFile(path, m.header(ts), ts, m.seed, gain(m.std))
}

func (m qwenModel) paramCount() int64 {
	var n int64
	for _, t := range m.layout() {
		n += int64(t.elems())
	}
	return n
}

// ParamCount is the number of weights in the model.
func (s Qwen2Spec) ParamCount() int64 { return s.model().paramCount() }

// ParamCount is the number of weights in the model.
func (s Qwen3Spec) ParamCount() int64 { return s.model().paramCount() }

// Write writes the model to path atomically.
func (s Qwen2Spec) Write(path string) error { return s.model().write(path) }

// Write writes the model to path atomically.
func (s Qwen3Spec) Write(path string) error { return s.model().write(path) }
