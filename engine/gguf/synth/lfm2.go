package synth

import (
	"errors"
	"fmt"
	"slices"
)

// LFM2Spec describes a synthetic Liquid LFM2 model (architecture "lfm2")
// in the layout llama.cpp's converter writes for Hugging Face
// Lfm2ForCausalLM checkpoints and the vendored llama.cpp (ec98e2002,
// llama-model.cpp LLM_ARCH_LFM2, models/lfm2.cpp) loads: gated short
// convolution layers (a recurrent conv state of LCache-1 columns) and
// grouped-query attention layers with per-head Q/K norms. Which layers are
// attention is told by the per-layer attention.head_count_kv array: 0
// marks a conv layer.
type LFM2Spec struct {
	NLayer, NEmbd, NFF int
	NHead, NHeadKV     int   // attention layers; head size is NEmbd/NHead
	AttnLayers         []int // indices of the attention layers
	LCache             int   // shortconv.l_cache: conv kernel width (LFM2: 3)
	NCtxTrain          int

	// WeightStd is the standard deviation of the random weights (0: 0.02).
	// Tiny models use more so that greedy choices have clear margins.
	WeightStd float32

	Type         TensorType // 2-D weight matrices; norms and conv kernels are F32
	Seed         int64
	Name         string
	ChatTemplate string
	TiedOutput   bool // no output.weight (LFM2 ties its embeddings)

	// FinalNorm names the final RMS norm tensor: "" is LFM2NormConverted.
	FinalNorm string
}

// Names of LFM2's final norm. llama.cpp's converter stores it as
// token_embd_norm.weight (every LFM2 file on Hugging Face), but the
// vendored llama.cpp (ec98e2002) looks it up as LLM_TENSOR_OUTPUT_NORM,
// which is not in lfm2's tensor set, so it asks for a tensor called
// plainly "output_norm" and real files fail with "missing tensor
// 'output_norm'". Files for natter's llama.cpp backend use that name.
const (
	LFM2NormConverted = "token_embd_norm.weight"
	LFM2NormVendored  = "output_norm"
)

// LFM2Tiny is an lfm2 model of about 0.5 MB for tests: 6 layers, 2 of
// them attention (2 and 5, as the first two of LFM2 1.2B's).
func LFM2Tiny() LFM2Spec {
	return LFM2Spec{NLayer: 6, NEmbd: 64, NFF: 128, NHead: 4, NHeadKV: 2, AttnLayers: []int{2, 5},
		LCache: 3, NCtxTrain: 4096, WeightStd: 0.4, Type: F32, Seed: 2, Name: "synth-lfm2-tiny",
		ChatTemplate: ChatML, FinalNorm: LFM2NormVendored}
}

// LFM2Bench350M is shaped like LFM2 350M's transformer (16 layers of 1024,
// FFN 4608, 16 heads, 8 KV heads, attention at 2, 5, 8, 10, 12 and 14,
// tied embeddings), with the small synthetic vocabulary in place of its
// 65K one: about 0.29B parameters, for benchmarks.
func LFM2Bench350M(t TensorType) LFM2Spec {
	return LFM2Spec{NLayer: 16, NEmbd: 1024, NFF: 4608, NHead: 16, NHeadKV: 8,
		AttnLayers: []int{2, 5, 8, 10, 12, 14}, LCache: 3, NCtxTrain: 4096,
		Type: t, Seed: 350, Name: "synth-lfm2-350m-" + t.String(), ChatTemplate: ChatML, TiedOutput: true,
		FinalNorm: LFM2NormVendored}
}

// IsConv reports whether layer il is a short-convolution layer.
func (s LFM2Spec) IsConv(il int) bool { return !slices.Contains(s.AttnLayers, il) }

// Validate reports a spec llama.cpp could not load.
func (s LFM2Spec) Validate() error {
	for _, v := range []int{s.NLayer, s.NEmbd, s.NFF, s.NHead, s.NHeadKV, s.NCtxTrain} {
		if v < 1 {
			return errors.New("synth: lfm2 sizes must be positive")
		}
	}
	switch {
	case s.LCache < 2:
		return errors.New("synth: lfm2 needs LCache >= 2")
	case s.NEmbd%s.NHead != 0 || (s.NEmbd/s.NHead)%2 != 0:
		return fmt.Errorf("synth: NEmbd %d must split into NHead %d heads of even size", s.NEmbd, s.NHead)
	case s.NHead%s.NHeadKV != 0:
		return errors.New("synth: NHead must be a multiple of NHeadKV")
	case s.NLayer > 512:
		return errors.New("synth: at most 512 layers")
	}
	for _, il := range s.AttnLayers {
		if il < 0 || il >= s.NLayer {
			return fmt.Errorf("synth: attention layer %d out of range", il)
		}
	}
	switch s.Type {
	case F32, F16, Q8_0, Q4_0:
	default:
		return fmt.Errorf("synth: unsupported tensor type %v", s.Type)
	}
	return nil
}

func (s LFM2Spec) tensors() []tensor {
	nVocab := len(bpeTokens)
	e := s.NEmbd
	hd := e / s.NHead
	m := func(name string, dims ...int) tensor { return mat(s.Type, name, dims...) }
	norm := s.FinalNorm
	if norm == "" {
		norm = LFM2NormConverted
	}
	ts := []tensor{m("token_embd.weight", e, nVocab), ones(norm, e)}
	if !s.TiedOutput {
		ts = append(ts, m("output.weight", e, nVocab))
	}
	for i := 0; i < s.NLayer; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		ts = append(ts, ones(p+"attn_norm.weight", e)) // operator_norm
		if s.IsConv(i) {
			ts = append(ts,
				f32(p+"shortconv.conv.weight", s.LCache, e),
				m(p+"shortconv.in_proj.weight", e, 3*e), // B, C and x gates
				m(p+"shortconv.out_proj.weight", e, e),
			)
		} else {
			ts = append(ts,
				m(p+"attn_q.weight", e, e),
				m(p+"attn_k.weight", e, hd*s.NHeadKV),
				m(p+"attn_v.weight", e, hd*s.NHeadKV),
				m(p+"attn_output.weight", e, e),
				ones(p+"attn_q_norm.weight", hd),
				ones(p+"attn_k_norm.weight", hd),
			)
		}
		ts = append(ts,
			ones(p+"ffn_norm.weight", e),
			m(p+"ffn_gate.weight", e, s.NFF),
			m(p+"ffn_up.weight", e, s.NFF),
			m(p+"ffn_down.weight", s.NFF, e),
		)
	}
	return ts
}

func (s LFM2Spec) header(ts []tensor) []byte {
	kv := make([]int32, s.NLayer)
	for i := range kv {
		if !s.IsConv(i) {
			kv[i] = int32(s.NHeadKV)
		}
	}
	kvs := []kvPair{
		{"general.architecture", "lfm2"},
		{"general.name", s.Name},
		{"general.alignment", uint32(Alignment)},
		{"general.file_type", s.Type.fileType()},
		{"lfm2.block_count", uint32(s.NLayer)},
		{"lfm2.context_length", uint32(s.NCtxTrain)},
		{"lfm2.embedding_length", uint32(s.NEmbd)},
		{"lfm2.feed_forward_length", uint32(s.NFF)},
		{"lfm2.attention.head_count", uint32(s.NHead)},
		{"lfm2.attention.head_count_kv", kv},
		{"lfm2.rope.freq_base", float32(1000000)},
		{"lfm2.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"lfm2.vocab_size", uint32(len(bpeTokens))},
		{"lfm2.shortconv.l_cache", uint32(s.LCache)},
		{"tokenizer.ggml.model", "gpt2"},
		{"tokenizer.ggml.pre", "lfm2"},
		{"tokenizer.ggml.tokens", bpeTokens},
		{"tokenizer.ggml.token_type", bpeTypes},
		{"tokenizer.ggml.merges", bpeMerges},
		{"tokenizer.ggml.bos_token_id", uint32(BPETokEndOfText)},
		{"tokenizer.ggml.eos_token_id", uint32(BPETokImEnd)},
		{"tokenizer.ggml.padding_token_id", uint32(BPETokEndOfText)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
	}
	if s.ChatTemplate != "" {
		kvs = append(kvs, kvPair{"tokenizer.chat_template", s.ChatTemplate})
	}
	return header(kvs, ts)
}

// ParamCount is the number of weights in the model.
func (s LFM2Spec) ParamCount() int64 {
	var n int64
	for _, t := range s.tensors() {
		n += int64(t.elems())
	}
	return n
}

// Write writes the model to path atomically.
func (s LFM2Spec) Write(path string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	ts := s.tensors()
	return writeFile(path, s.header(ts), ts, s.Seed, gain(s.WeightStd))
}
