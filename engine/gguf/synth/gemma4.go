package synth

import (
	"errors"
	"fmt"
	"slices"
)

// Gemma4Spec describes a synthetic dense Gemma 4 model (architecture
// "gemma4", the E2B/E4B kind) in the layout upstream llama.cpp's converter
// writes for Hugging Face Gemma4ForConditionalGeneration text weights
// (conversion/gemma.py Gemma4Model, src/models/gemma4.cpp of llama.cpp
// v0.5.0): sliding-window and full-attention layers with their own head
// sizes, KV sharing in the last NKVShared layers, per-layer embeddings,
// proportional RoPE (rope_freqs) on full layers, final logit softcapping.
type Gemma4Spec struct {
	NLayer, NEmbd int
	NFF           int  // feed_forward_length
	DoubleWideMLP bool // KV-shared layers have 2*NFF (use_double_wide_mlp): written as an array
	NHead         int
	NHeadKV       int // sliding-window layers (num_key_value_heads)
	NHeadKVFull   int // full layers (num_global_key_value_heads); 0 = NHeadKV, head_count_kv a scalar
	HeadDimSWA    int // attention.key_length_swa (head_dim)
	HeadDimFull   int // attention.key_length (global_head_dim)
	FullEvery     int // layer i is full attention when (i+1)%FullEvery == 0
	SlidingWindow int
	NKVShared     int // attention.shared_kv_layers
	NEmbdPerLayer int // embedding_length_per_layer_input; 0 = no per-layer embeddings
	Softcap       float32
	NCtxTrain     int

	// OmitSharedKV leaves attn_k/attn_v/attn_k_norm out of the KV-shared
	// layers (llama.cpp does not require them there).
	OmitSharedKV bool

	// Scales adds the optional per-tensor ".scale" tensors (see withScales).
	Scales bool

	// FuseQKV writes one attn_qkv (q, k, v rows) where a layer has all
	// three, as the converter's opt-in --fuse-qkv does.
	FuseQKV bool

	// WeightStd is the standard deviation of the random weights (0: 0.02).
	// Tiny models use more so that greedy choices have clear margins.
	WeightStd float32

	// ImageTokens appends Gemma 4's image delimiters "<|image>" and
	// "<image|>" to the vocabulary as control tokens (ids GemmaImageStart
	// and GemmaImageEnd), for models paired with a gemma4v projector.
	ImageTokens bool
	// AudioTokens appends the image delimiters and then the audio ones,
	// "<|audio>" and "<audio|>" (ids GemmaAudioStart, GemmaAudioEnd), for
	// models paired with a gemma4a projector.
	AudioTokens bool

	Type         TensorType
	Seed         int64
	Name         string
	ChatTemplate string
	TiedOutput   bool // Gemma ties the output to token_embd
}

// Ids of Gemma4Spec.ImageTokens' and AudioTokens' delimiters.
var (
	GemmaImageStart = len(vocabTokens)
	GemmaImageEnd   = len(vocabTokens) + 1
	GemmaAudioStart = len(vocabTokens) + 2
	GemmaAudioEnd   = len(vocabTokens) + 3
)

// vocab is the model's vocabulary: the synthetic one, plus the image (and
// audio) delimiters when asked.
func (s Gemma4Spec) vocab() (tokens []string, scores []float32, types []int32) {
	if !s.ImageTokens && !s.AudioTokens {
		return vocabTokens, vocabScores, vocabTypes
	}
	extra := []string{"<|image>", "<image|>"}
	if s.AudioTokens {
		extra = append(extra, "<|audio>", "<audio|>")
	}
	return append(slices.Clone(vocabTokens), extra...),
		append(slices.Clone(vocabScores), make([]float32, len(extra))...),
		append(slices.Clone(vocabTypes), slices.Repeat([]int32{TypeControl}, len(extra))...)
}

// Gemma4Tiny is a gemma4 model of about 2 MB for tests: 8 layers (3 and
// 7 full attention, the last 4 sharing KV with layers 2 and 3), window 16.
func Gemma4Tiny() Gemma4Spec {
	return Gemma4Spec{NLayer: 8, NEmbd: 64, NFF: 128, DoubleWideMLP: true, NHead: 4, NHeadKV: 1,
		HeadDimSWA: 16, HeadDimFull: 32, FullEvery: 4, SlidingWindow: 16, NKVShared: 4,
		NEmbdPerLayer: 16, Softcap: 30, NCtxTrain: 4096,
		WeightStd: 0.4, Type: F32, Seed: 4, Name: "synth-gemma4-tiny", ChatTemplate: ChatML, TiedOutput: true}
}

// Gemma4Bench is a ~0.5B-parameter gemma4 model for benchmarks, shaped
// like a narrower Gemma 4 E2B (head sizes 256/512, one KV head, window 512).
func Gemma4Bench(t TensorType) Gemma4Spec {
	return Gemma4Spec{NLayer: 24, NEmbd: 1024, NFF: 4096, DoubleWideMLP: true, NHead: 8, NHeadKV: 1,
		HeadDimSWA: 256, HeadDimFull: 512, FullEvery: 5, SlidingWindow: 512, NKVShared: 9,
		NEmbdPerLayer: 256, Softcap: 30, NCtxTrain: 32768,
		Type: t, Seed: 44, Name: "synth-gemma4-bench-" + t.String(), TiedOutput: true}
}

// IsSWA reports whether layer il uses sliding-window attention.
func (s Gemma4Spec) IsSWA(il int) bool { return (il+1)%s.FullEvery != 0 }

// HasKV reports whether layer il computes its own K and V (the last
// NKVShared layers reuse an earlier layer's cache).
func (s Gemma4Spec) HasKV(il int) bool { return il < s.NLayer-s.NKVShared }

func (s Gemma4Spec) nff(il int) int {
	if s.DoubleWideMLP && !s.HasKV(il) {
		return 2 * s.NFF
	}
	return s.NFF
}

func (s Gemma4Spec) headDim(il int) int {
	if s.IsSWA(il) {
		return s.HeadDimSWA
	}
	return s.HeadDimFull
}

func (s Gemma4Spec) headKV(il int) int {
	if !s.IsSWA(il) && s.NHeadKVFull > 0 {
		return s.NHeadKVFull
	}
	return s.NHeadKV
}

// Validate reports a spec upstream llama.cpp could not load.
func (s Gemma4Spec) Validate() error {
	for _, v := range []int{s.NLayer, s.NEmbd, s.NFF, s.NHead, s.NHeadKV, s.HeadDimSWA, s.HeadDimFull,
		s.FullEvery, s.SlidingWindow, s.NCtxTrain} {
		if v < 1 {
			return errors.New("synth: gemma4 sizes must be positive")
		}
	}
	switch {
	case s.NKVShared < 0 || s.NKVShared >= s.NLayer:
		return errors.New("synth: gemma4 NKVShared must be below NLayer")
	case s.NHead%s.NHeadKV != 0 || s.NHeadKVFull > 0 && s.NHead%s.NHeadKVFull != 0:
		return errors.New("synth: head counts must divide")
	case s.HeadDimSWA%2 != 0 || s.HeadDimFull%8 != 0:
		return errors.New("synth: gemma4 head sizes must be even (full: a multiple of 8)")
	}
	// llama.cpp has KV-shared layers reuse layer first-1 (full attention)
	// or first-2 (sliding window), first being the first shared layer.
	if first := s.NLayer - s.NKVShared; s.NKVShared > 0 && (first < 2 || s.IsSWA(first-1) || !s.IsSWA(first-2)) {
		return fmt.Errorf("synth: gemma4 with %d KV-shared layers needs layer %d full attention and layer %d sliding-window", s.NKVShared, first-1, first-2)
	}
	switch s.Type {
	case F32, F16, Q8_0, Q4_0:
	default:
		return fmt.Errorf("synth: unsupported tensor type %v", s.Type)
	}
	return nil
}

// ropeFreqs is the proportional-RoPE factor table of the full layers:
// 1 for the rotated quarter of the pairs, 1e30 (no rotation) for the rest.
func (s Gemma4Spec) ropeFreqs() []float32 {
	n := s.HeadDimFull / 2
	rot := s.HeadDimFull / 8 // partial_rotary_factor 0.25 of the pairs
	v := make([]float32, n)
	for i := range v {
		v[i] = 1e30
		if i < rot {
			v[i] = 1
		}
	}
	return v
}

func (s Gemma4Spec) tensors() []tensor {
	toks, _, _ := s.vocab()
	nVocab := len(toks)
	e, pl := s.NEmbd, s.NEmbdPerLayer
	m := func(name string, dims ...int) tensor { return mat(s.Type, name, dims...) }
	ts := []tensor{m("token_embd.weight", e, nVocab)}
	if pl > 0 {
		ts = append(ts,
			m("per_layer_token_embd.weight", pl*s.NLayer, nVocab),
			m("per_layer_model_proj.weight", e, pl*s.NLayer),
			ones("per_layer_proj_norm.weight", pl),
		)
	}
	ts = append(ts, ones("output_norm.weight", e),
		tensor{name: "rope_freqs.weight", dims: []int{s.HeadDimFull / 2}, typ: F32, values: s.ropeFreqs()})
	if !s.TiedOutput {
		ts = append(ts, m("output.weight", e, nVocab))
	}
	for i := 0; i < s.NLayer; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		hd, kv := s.headDim(i), s.headKV(i)
		withKV := s.HasKV(i) || !s.OmitSharedKV
		ts = append(ts, ones(p+"attn_norm.weight", e))
		switch {
		case s.FuseQKV && withKV:
			qkv := m(p+"attn_qkv.weight", e, hd*s.NHead+2*hd*kv)
			qkv.parts = []part{{p + "attn_q.weight", hd * s.NHead}, {p + "attn_k.weight", hd * kv}, {p + "attn_v.weight", hd * kv}}
			ts = append(ts, qkv)
		case withKV:
			ts = append(ts,
				m(p+"attn_q.weight", e, hd*s.NHead),
				m(p+"attn_k.weight", e, hd*kv),
				m(p+"attn_v.weight", e, hd*kv),
			)
		default:
			ts = append(ts, m(p+"attn_q.weight", e, hd*s.NHead))
		}
		ts = append(ts,
			m(p+"attn_output.weight", hd*s.NHead, e),
			ones(p+"attn_q_norm.weight", hd),
		)
		if withKV {
			ts = append(ts, ones(p+"attn_k_norm.weight", hd))
		}
		ts = append(ts,
			ones(p+"post_attention_norm.weight", e),
			// layer_scalar: not 1, so an engine that skips it differs
			tensor{name: p + "layer_output_scale.weight", dims: []int{1}, typ: F32, values: []float32{0.5 + 0.05*float32(i%4)}},
			ones(p+"ffn_norm.weight", e),
			m(p+"ffn_gate.weight", e, s.nff(i)),
			m(p+"ffn_up.weight", e, s.nff(i)),
			m(p+"ffn_down.weight", s.nff(i), e),
			ones(p+"post_ffw_norm.weight", e),
		)
		if pl > 0 {
			ts = append(ts,
				m(p+"inp_gate.weight", e, pl),
				m(p+"proj.weight", pl, e),
				ones(p+"post_norm.weight", e),
			)
		}
	}
	if s.Scales {
		ts = withScales(ts, 0)
	}
	return named(ts)
}

var spmMergeList = spmMerges(vocabTokens, vocabTypes)

func (s Gemma4Spec) header(ts []tensor) []byte {
	a := "gemma4."
	toks, scores, types := s.vocab()
	swa := make([]bool, s.NLayer)
	for i := range swa {
		swa[i] = s.IsSWA(i)
	}
	kvs := []kvPair{
		{"general.architecture", "gemma4"},
		{"general.name", s.Name},
		{"general.alignment", uint32(Alignment)},
		{a + "block_count", uint32(s.NLayer)},
		{a + "context_length", uint32(s.NCtxTrain)},
		{a + "embedding_length", uint32(s.NEmbd)},
	}
	if s.DoubleWideMLP {
		ff := make([]int32, s.NLayer)
		for i := range ff {
			ff[i] = int32(s.nff(i))
		}
		kvs = append(kvs, kvPair{a + "feed_forward_length", ff})
	} else {
		kvs = append(kvs, kvPair{a + "feed_forward_length", uint32(s.NFF)})
	}
	kvs = append(kvs,
		kvPair{a + "attention.head_count", uint32(s.NHead)},
		kvPair{a + "rope.freq_base", float32(1e6)},
		kvPair{a + "rope.freq_base_swa", float32(1e4)},
		kvPair{a + "attention.layer_norm_rms_epsilon", float32(1e-6)},
		kvPair{a + "final_logit_softcapping", s.Softcap},
		kvPair{a + "attention.sliding_window", uint32(s.SlidingWindow)},
	)
	if s.NHeadKVFull > 0 {
		hkv := make([]int32, s.NLayer)
		for i := range hkv {
			hkv[i] = int32(s.headKV(i))
		}
		kvs = append(kvs, kvPair{a + "attention.head_count_kv", hkv})
	} else {
		kvs = append(kvs, kvPair{a + "attention.head_count_kv", uint32(s.NHeadKV)})
	}
	kvs = append(kvs,
		kvPair{a + "attention.shared_kv_layers", uint32(s.NKVShared)},
		kvPair{a + "embedding_length_per_layer_input", uint32(s.NEmbdPerLayer)},
		kvPair{a + "attention.sliding_window_pattern", swa},
		kvPair{a + "attention.key_length", uint32(s.HeadDimFull)},
		kvPair{a + "attention.value_length", uint32(s.HeadDimFull)},
		kvPair{a + "attention.key_length_swa", uint32(s.HeadDimSWA)},
		kvPair{a + "attention.value_length_swa", uint32(s.HeadDimSWA)},
		kvPair{a + "rope.dimension_count", uint32(s.HeadDimFull)},
		kvPair{a + "rope.dimension_count_swa", uint32(s.HeadDimSWA)},
		kvPair{"general.file_type", s.Type.fileType()},
		// The SentencePiece-style vocabulary of Vocab, with BPE merges, as
		// Gemma 4's tokenizer ("gemma4": BPE over "▁"-for-space text).
		kvPair{"tokenizer.ggml.model", "gemma4"},
		kvPair{"tokenizer.ggml.tokens", toks},
		kvPair{"tokenizer.ggml.scores", scores},
		kvPair{"tokenizer.ggml.token_type", types},
		kvPair{"tokenizer.ggml.merges", spmMergeList},
		kvPair{"tokenizer.ggml.bos_token_id", uint32(TokBOS)},
		kvPair{"tokenizer.ggml.eos_token_id", uint32(TokEOS)},
		kvPair{"tokenizer.ggml.unknown_token_id", uint32(TokUnk)},
		kvPair{"tokenizer.ggml.padding_token_id", uint32(TokUnk)},
		kvPair{"tokenizer.ggml.eot_token_id", uint32(TokImEnd)},
		kvPair{"tokenizer.ggml.add_space_prefix", false},
		kvPair{"tokenizer.ggml.add_bos_token", true},
	)
	if s.ChatTemplate != "" {
		kvs = append(kvs, kvPair{"tokenizer.chat_template", s.ChatTemplate})
	}
	return header(kvs, ts)
}

// ParamCount is the number of weights in the model.
func (s Gemma4Spec) ParamCount() int64 {
	var n int64
	for _, t := range s.tensors() {
		n += int64(t.elems())
	}
	return n
}

// Write writes the model to path atomically.
func (s Gemma4Spec) Write(path string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	ts := s.tensors()
	return writeFile(path, s.header(ts), ts, s.Seed, gain(s.WeightStd))
}
