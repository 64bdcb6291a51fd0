package synth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Qwen35Spec describes a synthetic Qwen3.5 model, architecture "qwen35", or
// "qwen35moe" when NExpert > 0, in the layout upstream llama.cpp's converter
// writes for Hugging Face Qwen3_5ForCausalLM / Qwen3_5MoeForCausalLM
// checkpoints (conversion/qwen.py, src/models/qwen35*.cpp of llama.cpp
// v0.5.0). Layers are Gated DeltaNet linear attention except every
// FullAttnInterval-th, which is gated full attention.
type Qwen35Spec struct {
	NLayer, NEmbd, NFF int // NFF: dense FFN width (qwen35 only)
	NHead, NHeadKV     int // full-attention layers
	HeadDim            int // attention.key_length = value_length (Qwen3.5: 256, not NEmbd/NHead)
	RopeDim            int // rope.dimension_count: HeadDim * partial_rotary_factor (0.25)
	RopeSections       [4]int
	FullAttnInterval   int
	NCtxTrain          int

	// Gated DeltaNet: ssm.conv_kernel, ssm.group_count (key heads),
	// ssm.time_step_rank (value heads), ssm.state_size (head size of both).
	ConvKernel, LinKeyHeads, LinValueHeads, LinHeadDim int

	// MoE (qwen35moe): routed experts and the gated shared expert.
	NExpert, NExpertUsed, NFFExp, NFFShexp int

	// RecurrentLayers also writes the per-layer attention.recurrent_layers
	// array that the v0.5.0 converter adds from layer_types; files converted
	// earlier (most downloads) carry only full_attention_interval.
	RecurrentLayers bool

	// Scales adds the optional per-tensor ".scale" tensors (see withScales).
	Scales bool

	// MTP appends the multi-token-prediction block Qwen3.5 checkpoints
	// carry (mtp.*), as llama.cpp v0.5.0's converter exports it by default
	// (--no-mtp leaves it out): block_count is NLayer+1, nextn_predict_layers
	// 1, and blk.NLayer is a full-attention block plus nextn.eh_proj,
	// nextn.enorm, nextn.hnorm and nextn.shared_head_norm. llama.cpp does not
	// run it in the main pass, so greedy output is that of the file without.
	MTP bool

	// FuseQKV writes one attn_qkv (q+gate, k, v rows) in full-attention
	// layers and FuseGateUpExps one ffn_gate_up_exps (gate rows, then up),
	// as the converter's opt-in --fuse-qkv / --fuse-gate-up-exps do.
	FuseQKV, FuseGateUpExps bool

	// WeightStd is the standard deviation of the random weights (0: 0.02).
	// Tiny models use more so that greedy choices have clear margins.
	WeightStd float32

	// VisionTokens appends Qwen's image delimiters "<|vision_start|>" and
	// "<|vision_end|>" and "<|image_pad|>" to the vocabulary as control
	// tokens (ids QwenVisionStart, QwenVisionEnd, QwenImagePad), for
	// models paired with a qwen3vl_merger projector.
	VisionTokens bool

	Type         TensorType // 2-D weight matrices; see tensors for the F32 ones
	Seed         int64
	Name         string
	ChatTemplate string
	TiedOutput   bool // no output.weight (Qwen3.5 0.8B/2B tie embeddings)
}

// Ids of Qwen35Spec.VisionTokens' tokens.
var (
	QwenVisionStart = len(bpeTokens)
	QwenVisionEnd   = len(bpeTokens) + 1
	QwenImagePad    = len(bpeTokens) + 2
)

// vocab is the model's vocabulary: the BPE one, plus the vision tokens
// when asked.
func (s Qwen35Spec) vocab() (tokens []string, types []int32) {
	if !s.VisionTokens {
		return bpeTokens, bpeTypes
	}
	return append(slices.Clone(bpeTokens), "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"),
		append(slices.Clone(bpeTypes), TypeControl, TypeControl, TypeControl)
}

// Qwen35Tiny is a dense qwen35 model of about 0.5 MB for tests: 8 layers,
// 2 of them full attention (3 and 7), value heads twice the key heads as in
// Qwen3.5 4B/9B.
func Qwen35Tiny() Qwen35Spec {
	return Qwen35Spec{NLayer: 8, NEmbd: 64, NFF: 128, NHead: 4, NHeadKV: 2, HeadDim: 32, RopeDim: 8,
		RopeSections: [4]int{2, 1, 1, 0}, FullAttnInterval: 4, NCtxTrain: 4096,
		ConvKernel: 4, LinKeyHeads: 2, LinValueHeads: 4, LinHeadDim: 16,
		WeightStd: 0.4, Type: F32, Seed: 35, Name: "synth-qwen35-tiny", ChatTemplate: ChatML}
}

// Qwen35MoETiny is Qwen35Tiny with a MoE FFN: 4 experts, 2 used, and a
// shared expert.
func Qwen35MoETiny() Qwen35Spec {
	s := Qwen35Tiny()
	s.NFF = 0
	s.NExpert, s.NExpertUsed, s.NFFExp, s.NFFShexp = 4, 2, 32, 64
	s.Seed, s.Name = 36, "synth-qwen35moe-tiny"
	return s
}

// Qwen35Bench500M is a ~0.5B-parameter qwen35 model for benchmarks: Qwen3.5
// 0.8B's transformer (24 layers of 1024, FFN 3584, head_dim 256, 16+16
// DeltaNet heads of 128) without its 248K-token vocabulary.
func Qwen35Bench500M(t TensorType) Qwen35Spec {
	return Qwen35Spec{NLayer: 24, NEmbd: 1024, NFF: 3584, NHead: 8, NHeadKV: 2, HeadDim: 256, RopeDim: 64,
		RopeSections: [4]int{11, 11, 10, 0}, FullAttnInterval: 4, NCtxTrain: 4096,
		ConvKernel: 4, LinKeyHeads: 16, LinValueHeads: 16, LinHeadDim: 128,
		Type: t, Seed: 500, Name: "synth-qwen35-500m-" + t.String(), TiedOutput: true}
}

// Qwen35MoEBench is a qwen35moe model of ~0.6B total parameters (8
// experts of 512, 2 used, shared expert of 512) for benchmarks.
func Qwen35MoEBench(t TensorType) Qwen35Spec {
	s := Qwen35Bench500M(t)
	s.NFF = 0
	s.NExpert, s.NExpertUsed, s.NFFExp, s.NFFShexp = 8, 2, 512, 512
	s.Seed, s.Name = 501, "synth-qwen35moe-bench-"+t.String()
	return s
}

// Arch is the file's general.architecture.
func (s Qwen35Spec) Arch() string {
	if s.NExpert > 0 {
		return "qwen35moe"
	}
	return "qwen35"
}

// IsRecurrent reports whether layer il is a linear-attention layer.
func (s Qwen35Spec) IsRecurrent(il int) bool { return (il+1)%s.FullAttnInterval != 0 }

func (s Qwen35Spec) blockCount() int {
	if s.MTP {
		return s.NLayer + 1
	}
	return s.NLayer
}

// Validate reports a spec upstream llama.cpp could not load.
func (s Qwen35Spec) Validate() error {
	pos := []int{s.NLayer, s.NEmbd, s.NHead, s.NHeadKV, s.HeadDim, s.RopeDim, s.FullAttnInterval,
		s.NCtxTrain, s.ConvKernel, s.LinKeyHeads, s.LinValueHeads, s.LinHeadDim}
	for _, v := range pos {
		if v < 1 {
			return errors.New("synth: qwen35 sizes must be positive")
		}
	}
	switch {
	case s.NExpert == 0 && s.NFF < 1:
		return errors.New("synth: qwen35 needs NFF")
	case s.NExpert > 0 && (s.NExpertUsed < 1 || s.NExpertUsed > s.NExpert || s.NFFExp < 1 || s.NFFShexp < 1):
		return errors.New("synth: qwen35moe needs NExpertUsed in 1..NExpert, NFFExp and NFFShexp")
	case s.NHead%s.NHeadKV != 0 || s.LinValueHeads%s.LinKeyHeads != 0:
		return errors.New("synth: head counts must divide")
	case s.RopeDim > s.HeadDim || s.RopeDim%2 != 0:
		return fmt.Errorf("synth: RopeDim %d must be even and at most HeadDim %d", s.RopeDim, s.HeadDim)
	case s.RopeSections[0]+s.RopeSections[1]+s.RopeSections[2]+s.RopeSections[3] > s.RopeDim/2:
		return errors.New("synth: RopeSections sum to more than RopeDim/2")
	}
	switch s.Type {
	case F32, F16, Q8_0, Q4_0:
	default:
		return fmt.Errorf("synth: unsupported tensor type %v", s.Type)
	}
	return nil
}

func gain(std float32) float32 {
	if std == 0 {
		return 1
	}
	return std / 0.02
}

// mat is a weight matrix of type t, or F16 when its rows do not fill whole
// quant blocks (the converter's fallback).
func mat(t TensorType, name string, dims ...int) tensor {
	if (t == Q8_0 || t == Q4_0) && dims[0]%blockSize != 0 {
		t = F16
	}
	return tensor{name: name, dims: dims, typ: t}
}

func f32(name string, dims ...int) tensor { return tensor{name: name, dims: dims, typ: F32} }
func ones(name string, dims ...int) tensor {
	return tensor{name: name, dims: dims, typ: F32, norm: true}
}

func (s Qwen35Spec) tensors() []tensor {
	toks, _ := s.vocab()
	nVocab := len(toks)
	e := s.NEmbd
	keyDim := s.LinHeadDim * s.LinKeyHeads
	valDim := s.LinHeadDim * s.LinValueHeads
	m := func(name string, dims ...int) tensor { return mat(s.Type, name, dims...) }
	ts := []tensor{m("token_embd.weight", e, nVocab), ones("output_norm.weight", e)}
	if !s.TiedOutput {
		ts = append(ts, m("output.weight", e, nVocab))
	}
	attn := func(p string) {
		if s.FuseQKV {
			qkv := m(p+"attn_qkv.weight", e, 2*s.HeadDim*s.NHead+2*s.HeadDim*s.NHeadKV)
			qkv.parts = []part{{p + "attn_q.weight", 2 * s.HeadDim * s.NHead},
				{p + "attn_k.weight", s.HeadDim * s.NHeadKV}, {p + "attn_v.weight", s.HeadDim * s.NHeadKV}}
			ts = append(ts, qkv)
		} else {
			ts = append(ts,
				m(p+"attn_q.weight", e, 2*s.HeadDim*s.NHead), // query and output gate, per head
				m(p+"attn_k.weight", e, s.HeadDim*s.NHeadKV),
				m(p+"attn_v.weight", e, s.HeadDim*s.NHeadKV),
			)
		}
		ts = append(ts,
			m(p+"attn_output.weight", s.HeadDim*s.NHead, e),
			ones(p+"attn_q_norm.weight", s.HeadDim),
			ones(p+"attn_k_norm.weight", s.HeadDim),
		)
	}
	ffn := func(p string) {
		if s.NExpert == 0 {
			ts = append(ts,
				m(p+"ffn_gate.weight", e, s.NFF),
				m(p+"ffn_up.weight", e, s.NFF),
				m(p+"ffn_down.weight", s.NFF, e),
			)
			return
		}
		ts = append(ts, f32(p+"ffn_gate_inp.weight", e, s.NExpert))
		if s.FuseGateUpExps {
			gu := m(p+"ffn_gate_up_exps.weight", e, 2*s.NFFExp, s.NExpert)
			gu.parts = []part{{p + "ffn_gate_exps.weight", s.NFFExp}, {p + "ffn_up_exps.weight", s.NFFExp}}
			ts = append(ts, gu)
		} else {
			ts = append(ts,
				m(p+"ffn_gate_exps.weight", e, s.NFFExp, s.NExpert),
				m(p+"ffn_up_exps.weight", e, s.NFFExp, s.NExpert),
			)
		}
		ts = append(ts,
			m(p+"ffn_down_exps.weight", s.NFFExp, e, s.NExpert),
			f32(p+"ffn_gate_inp_shexp.weight", e, 1), // HF [1, n_embd]: 2-D in real files
			m(p+"ffn_gate_shexp.weight", e, s.NFFShexp),
			m(p+"ffn_up_shexp.weight", e, s.NFFShexp),
			m(p+"ffn_down_shexp.weight", s.NFFShexp, e),
		)
	}
	for i := 0; i < s.NLayer; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		ts = append(ts, ones(p+"attn_norm.weight", e))
		if s.IsRecurrent(i) {
			ts = append(ts,
				m(p+"attn_qkv.weight", e, 2*keyDim+valDim), // in_proj_qkv: q, k, v
				m(p+"attn_gate.weight", e, valDim),         // in_proj_z
				f32(p+"ssm_conv1d.weight", s.ConvKernel, 2*keyDim+valDim),
				f32(p+"ssm_dt.bias", s.LinValueHeads),
				tensor{name: p + "ssm_a", dims: []int{s.LinValueHeads}, typ: F32, neg: true}, // -exp(A_log)
				m(p+"ssm_beta.weight", e, s.LinValueHeads),                                   // in_proj_b
				m(p+"ssm_alpha.weight", e, s.LinValueHeads),                                  // in_proj_a
				ones(p+"ssm_norm.weight", s.LinHeadDim),
				m(p+"ssm_out.weight", valDim, e),
			)
		} else {
			attn(p)
		}
		ts = append(ts, ones(p+"post_attention_norm.weight", e))
		ffn(p)
	}
	if s.MTP {
		p := fmt.Sprintf("blk.%d.", s.NLayer)
		ts = append(ts, ones(p+"attn_norm.weight", e))
		attn(p)
		ts = append(ts, ones(p+"post_attention_norm.weight", e))
		ffn(p)
		ts = append(ts,
			m(p+"nextn.eh_proj.weight", 2*e, e),
			ones(p+"nextn.enorm.weight", e),
			ones(p+"nextn.hnorm.weight", e),
			ones(p+"nextn.shared_head_norm.weight", e),
		)
	}
	if s.Scales {
		ts = withScales(ts, s.NExpert)
	}
	return named(ts)
}

// named gives every tensor the random stream of its name, so a tensor's
// values do not depend on which others the file has (fused or not, with
// scales or not).
func named(ts []tensor) []tensor {
	for i := range ts {
		ts[i].stream = ts[i].name
	}
	return ts
}

// scaled are the weights llama.cpp v0.5.0 looks for an optional
// "<name>.scale" beside (llama-model.cpp's generic pass after
// load_arch_tensors) and multiplies the matmul result by; 3-D expert
// weights have one scale per expert.
var scaled = []string{"attn_q", "attn_k", "attn_v", "attn_output", "attn_qkv", "attn_gate",
	"ffn_gate", "ffn_down", "ffn_up", "ffn_gate_shexp", "ffn_down_shexp", "ffn_up_shexp",
	"ffn_gate_exps", "ffn_down_exps", "ffn_up_exps", "ssm_in", "ssm_out", "ssm_alpha", "ssm_beta"}

// withScales inserts after each scaled weight its F32 ".scale" tensor with
// values in [0.75, 1.2], as NVFP4 (ModelOpt) conversions write them; files
// converted from BF16 checkpoints (unsloth, ggml-org, bartowski Q*_K/Q8_0)
// have none.
func withScales(ts []tensor, nExpert int) []tensor {
	var out []tensor
	for _, t := range ts {
		out = append(out, t)
		base, ok := strings.CutSuffix(t.name, ".weight")
		if !ok || !strings.HasPrefix(base, "blk.") {
			continue
		}
		kind := base[strings.LastIndexByte(base, '.')+1:]
		if !slices.Contains(scaled, kind) {
			continue
		}
		n := 1
		if len(t.dims) == 3 {
			n = nExpert
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = 0.75 + 0.05*float32((len(out)+i)%10)
		}
		out = append(out, tensor{name: base + ".scale", dims: []int{n}, typ: F32, values: v})
	}
	return out
}

var bpeTokens, bpeTypes, bpeMerges = BPEVocab()

// Ids of the BPE vocabulary's control tokens (its last three).
var (
	BPETokEndOfText = len(bpeTokens) - 3
	BPETokImStart   = len(bpeTokens) - 2
	BPETokImEnd     = len(bpeTokens) - 1
)

func (s Qwen35Spec) header(ts []tensor) []byte {
	a := s.Arch() + "."
	toks, types := s.vocab()
	kvs := []kvPair{
		{"general.architecture", s.Arch()},
		{"general.name", s.Name},
		{"general.alignment", uint32(Alignment)},
		{a + "block_count", uint32(s.blockCount())},
		{a + "context_length", uint32(s.NCtxTrain)},
		{a + "embedding_length", uint32(s.NEmbd)},
	}
	if s.NExpert == 0 {
		kvs = append(kvs, kvPair{a + "feed_forward_length", uint32(s.NFF)})
	}
	kvs = append(kvs,
		kvPair{a + "attention.head_count", uint32(s.NHead)},
		kvPair{a + "attention.head_count_kv", uint32(s.NHeadKV)},
		kvPair{a + "rope.dimension_sections", []int32{int32(s.RopeSections[0]), int32(s.RopeSections[1]), int32(s.RopeSections[2]), int32(s.RopeSections[3])}},
		kvPair{a + "rope.freq_base", float32(10000000)},
		kvPair{a + "attention.layer_norm_rms_epsilon", float32(1e-6)},
	)
	if s.NExpert > 0 {
		kvs = append(kvs,
			kvPair{a + "expert_count", uint32(s.NExpert)},
			kvPair{a + "expert_used_count", uint32(s.NExpertUsed)},
		)
	}
	kvs = append(kvs,
		kvPair{a + "attention.key_length", uint32(s.HeadDim)},
		kvPair{a + "attention.value_length", uint32(s.HeadDim)},
		kvPair{"general.file_type", s.Type.fileType()},
	)
	if s.NExpert > 0 {
		kvs = append(kvs,
			kvPair{a + "expert_feed_forward_length", uint32(s.NFFExp)},
			kvPair{a + "expert_shared_feed_forward_length", uint32(s.NFFShexp)},
		)
	}
	kvs = append(kvs,
		kvPair{a + "ssm.conv_kernel", uint32(s.ConvKernel)},
		kvPair{a + "ssm.state_size", uint32(s.LinHeadDim)},
		kvPair{a + "ssm.group_count", uint32(s.LinKeyHeads)},
		kvPair{a + "ssm.time_step_rank", uint32(s.LinValueHeads)},
		kvPair{a + "ssm.inner_size", uint32(s.LinHeadDim * s.LinValueHeads)},
	)
	if s.MTP {
		kvs = append(kvs, kvPair{a + "nextn_predict_layers", uint32(1)})
	}
	if s.RecurrentLayers {
		rec := make([]bool, s.blockCount()) // the MTP block is attention
		for i := 0; i < s.NLayer; i++ {
			rec[i] = s.IsRecurrent(i)
		}
		kvs = append(kvs, kvPair{a + "attention.recurrent_layers", rec})
	}
	kvs = append(kvs,
		kvPair{a + "full_attention_interval", uint32(s.FullAttnInterval)},
		kvPair{a + "rope.dimension_count", uint32(s.RopeDim)},
		kvPair{"tokenizer.ggml.model", "gpt2"},
		kvPair{"tokenizer.ggml.pre", "qwen35"},
		kvPair{"tokenizer.ggml.tokens", toks},
		kvPair{"tokenizer.ggml.token_type", types},
		kvPair{"tokenizer.ggml.merges", bpeMerges},
		kvPair{"tokenizer.ggml.eos_token_id", uint32(BPETokImEnd)},
		kvPair{"tokenizer.ggml.padding_token_id", uint32(BPETokEndOfText)},
		kvPair{"tokenizer.ggml.bos_token_id", uint32(BPETokEndOfText)},
		kvPair{"tokenizer.ggml.add_bos_token", false},
	)
	if s.ChatTemplate != "" {
		kvs = append(kvs, kvPair{"tokenizer.chat_template", s.ChatTemplate})
	}
	return header(kvs, ts)
}

// ParamCount is the number of weights in the model.
func (s Qwen35Spec) ParamCount() int64 {
	var n int64
	for _, t := range s.tensors() {
		n += int64(t.elems())
	}
	return n
}

// Write writes the model to path atomically.
func (s Qwen35Spec) Write(path string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	ts := s.tensors()
	return writeFile(path, s.header(ts), ts, s.Seed, gain(s.WeightStd))
}
