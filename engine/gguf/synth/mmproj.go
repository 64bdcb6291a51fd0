package synth

import (
	"errors"
	"fmt"
	"slices"
)

// Multimodal projectors ("mmproj" files) for llama.cpp's tools/mtmd, as the
// bundled clip.cpp (ollama v0.24.0) loads them: general.architecture "clip",
// hyperparameters under clip.vision.* or clip.audio.*, encoder tensors under
// "v." or "a.", projector tensors under "mm.".
//
// The first three projector types, each the simplest of its kind in this
// clip.cpp, are described here; the later ones (Gemma 4's, the Qwen-VL
// family's, Pixtral) at their constants below:
//
//   - ProjectorGemma3 (vision): a full SigLIP ViT (conv2d patch embedding
//     with bias, learned position embedding, pre-norm transformer blocks
//     with biased q/k/v/out and a GELU MLP, post-layernorm), then a 2-D
//     average pool of MergeFactor x MergeFactor patches, an RMS norm
//     (mm.soft_emb_norm) and mm.input_projection to the text model's width.
//     Images are resized to ImageSize x ImageSize, so every image gives the
//     same ImageTokens embeddings, with no slicing, no class token, no
//     RoPE and no special tokens the text vocabulary must have (mtmd wraps
//     them in the plain texts "<start_of_image>"/"<end_of_image>"). IDEFICS3
//     slices big images and looks up tokens the synthetic vocab lacks; the
//     LLaVA "mlp" graph adds feature-layer selection and position ids.
//     Note for the engine: mtmd_decode_use_non_causal is true for gemma3,
//     so image embeddings are decoded with causal attention off.
//   - ProjectorQwen2A (audio): the Whisper encoder (two conv1d, 1500 learned
//     positions, transformer blocks, 2x average pool, post-layernorm), then
//     one linear layer mm.a.fc. 750 embeddings per 30-second chunk.
//   - ProjectorUltravox (audio): the same encoder without the pool, frames
//     stacked StackFactor at a time, then RMS norm, SwiGLU MLP, RMS norm and
//     a linear layer. 1500/StackFactor embeddings per chunk, so tests can
//     keep audio prompts short.
//
// mtmd cuts audio into 30-second chunks of 3000 mel frames (16 kHz, hop
// 160, n_fft 400: fixed in clip.cpp for these types; only num_mel_bins is
// read from the file), shorter audio is padded to one chunk.

// Projector types (clip.projector_type values) the writer knows.
const (
	ProjectorGemma3   = "gemma3"
	ProjectorQwen2A   = "qwen2a"
	ProjectorUltravox = "ultravox"
	// ProjectorGemma4V is Gemma 4's vision encoder (run by the Go engine,
	// not this llama.cpp), in the layout upstream llama.cpp v0.5.0's
	// converter writes: no patch bias, a learned position table for x and y
	// ([NEmbd, Positions, 2]), 2-D RoPE inside RMS-normed blocks with q/k
	// norms, post norms, a gated MLP and a per-block output scale; then an
	// average pool of MergeFactor x MergeFactor and mm.input_projection
	// (stored [NEmbd, TextEmbd]). The number of embeddings depends on the
	// image (the engine sizes it to a token budget), so ImageTokens is 0.
	ProjectorGemma4V = "gemma4v"
	// ProjectorGemma4A is Gemma 4's audio encoder (Go engine), as upstream
	// llama.cpp v0.5.0 writes it: two stride-2 conv2d (F32 kernels
	// [3, 3, in, Channels[i]]) with layer norms over the mel spectrogram,
	// a.input_projection, conformer blocks (half-step FFNs, chunked local
	// attention with attn_k_rel and per_dim_scale, a depthwise causal conv
	// conv_dw [ConvKernel, NEmbd]), a.pre_encode.out to AudioOut, then
	// mm.a.input_projection. A gemma4v spec with Gemma4Audio set writes
	// both encoders in one file, as the converter does for E2B/E4B.
	ProjectorGemma4A = "gemma4a"
	// ProjectorQwen3VL is the Qwen3-VL vision encoder (qwen3vl_merger),
	// which Qwen3.5 uses too, as the converter writes it without deepstack
	// layers (Qwen3.5's): a 3-D patch conv stored as two 2-D kernels
	// (v.patch_embd.weight and .weight.1) with a bias, a learned position
	// table for an ImageSize/PatchSize grid, pre-norm ViT blocks with a
	// fused QKV and a GELU MLP (2-D M-RoPE inside), a post norm, then a
	// GELU MLP over each 2×2 block of patches (mm.0, mm.2). Images keep
	// their size in multiples of 2·PatchSize, so ImageTokens is 0.
	ProjectorQwen3VL = "qwen3vl_merger"
	// ProjectorQwen25VL is the Qwen2.5-VL vision encoder (qwen2.5vl_merger):
	// the two patch kernels without a bias and no position table (2-D
	// M-RoPE only), RMS-normed blocks with separate biased q/k/v and a gated
	// SiLU MLP, window attention in all but every second block (windows of
	// 112 pixels; clip.vision.n_wa_pattern 2), then the same 2×2 merger.
	ProjectorQwen25VL = "qwen2.5vl_merger"
	// ProjectorQwen2VL is the Qwen2-VL vision encoder (qwen2vl_merger): as
	// Qwen2.5-VL's, but its blocks are layer-normed (weights and biases)
	// with a plain GELU MLP (ffn_up, ffn_down, biased), every block attends
	// to the whole image, and the merger's norm has a bias too.
	ProjectorQwen2VL = "qwen2vl_merger"
	// ProjectorPixtral is Mistral's vision encoder (Pixtral, Mistral Small
	// 3.1, Ministral 3): RMS-normed blocks without biases, 2-D RoPE, a
	// gated SiLU MLP, then Mistral Small 3.1's 2×2 patch merger
	// (mm.input_norm, mm.patch_merger), a GELU MLP (mm.1, mm.2) and an
	// [IMG_BREAK] embedding after each row of embeddings but the last.
	ProjectorPixtral = "pixtral"
)

// whisperPositions is the number of positions of the Whisper encoder: the
// 3000 frames of a chunk halved by the second conv1d's stride.
const whisperPositions = 1500

// ProjectorSpec describes a synthetic multimodal projector. Output is
// deterministic for a given spec. Zero sizes take the defaults noted.
type ProjectorSpec struct {
	Projector string // ProjectorGemma3, ProjectorQwen2A or ProjectorUltravox; "" = gemma3
	// TextEmbd is the text model's n_embd (llama_model_n_embd_inp), the
	// width of the embeddings the projector produces (clip.*.projection_dim
	// and the output dimension of the last projector matrix). Required.
	TextEmbd int

	// Encoder.
	NEmbd  int // width; 0 = 32
	NFF    int // MLP width; 0 = 4*NEmbd
	NHead  int // attention heads; 0 = 2
	NLayer int // transformer blocks; 0 = 2

	// Vision (gemma3).
	ImageSize   int // images are resized to ImageSize x ImageSize; 0 = 32
	PatchSize   int // 0 = 8
	MergeFactor int // average-pool kernel per side (clip.vision.projector.scale_factor); 0 = 2
	Positions   int // gemma4v: rows of the x and y position tables; 0 = 64
	// ClampOutput, for gemma4v, gives mm.input_projection the output
	// clamp scalars [min, max] (Gemma4ClippableLinear); nil: none.
	ClampOutput []float32

	// Audio.
	NMelBins    int // mel bins of the spectrogram; 0 = 80 (gemma4a: 32)
	StackFactor int // ultravox: frames stacked per embedding; must divide 1500; 0 = 30
	// Gemma 4 audio (gemma4a, or gemma4v with Gemma4Audio).
	Gemma4Audio bool   // gemma4v: add the gemma4a audio encoder
	Channels    [2]int // output channels of the two conv2d; 0 = 4, 8
	ConvKernel  int    // taps of the depthwise conv; 0 = 5
	AudioOut    int    // width after a.pre_encode.out; 0 = 2*NEmbd

	Type TensorType // F32 or F16 for the weight matrices; 1-D tensors, embeddings and position embeddings are F32, conv1d kernels F16 (as the converters write them)
	Seed int64
	Name string // general.name; "" = "synth-mmproj-<type>"

	// KV replaces metadata values by key, or adds keys; a nil value
	// removes the key (like LoraSpec.KV), for crafted files.
	KV map[string]any
	// Omit lists tensor names to leave out, for crafted files.
	Omit []string
	// ShapeOf, when non-nil, overrides tensor shapes (crafted files, like
	// LoraSpec.ShapeOf): it gets each tensor's name and ggml shape and
	// returns the shape to write.
	ShapeOf func(name string, dims []int) []int
	// TypeOf overrides tensor types by name, for crafted files.
	TypeOf map[string]TensorType
	// Gain scales the random weights (0: 1), for encoders whose outputs
	// should weigh more in a tiny random model.
	Gain float32
}

// TinyVisionProjector is a gemma3 projector of a few hundred KB for a text
// model of width textEmbd (e.g. Tiny().NEmbd): 32x32 images, 8x8 patches,
// 4 embeddings per image.
func TinyVisionProjector(textEmbd int) ProjectorSpec {
	return ProjectorSpec{Projector: ProjectorGemma3, TextEmbd: textEmbd, Seed: 1}
}

// Gemma4VisionBench is a gemma4v projector shaped like Gemma 4's vision
// tower (768 wide, 16 blocks, 12 heads, 16-pixel patches pooled 3×3,
// 10,240 positions; about 150M weights in F16) for benchmarks.
func Gemma4VisionBench(textEmbd int) ProjectorSpec {
	return ProjectorSpec{Projector: ProjectorGemma4V, TextEmbd: textEmbd, NEmbd: 768, NFF: 3072, NHead: 12, NLayer: 16,
		PatchSize: 16, MergeFactor: 3, Positions: 10240, Type: F16, Seed: 9}
}

// Gemma4AudioBench is a gemma4a projector shaped like Gemma 4's audio
// tower (1024 wide, 12 conformer blocks, 8 heads, 128 mel bins, conv
// channels 128 and 32, a 1536-wide output projection; about 300M weights
// in F16) for benchmarks.
func Gemma4AudioBench(textEmbd int) ProjectorSpec {
	return ProjectorSpec{Projector: ProjectorGemma4A, TextEmbd: textEmbd, NEmbd: 1024, NFF: 4096, NHead: 8, NLayer: 12,
		NMelBins: 128, Channels: [2]int{128, 32}, AudioOut: 1536, Type: F16, Seed: 9}
}

// Qwen35VisionBench is a qwen3vl_merger projector shaped like a small
// Qwen3.5's vision tower (1024 wide, 24 blocks, 16 heads, 16-pixel
// patches, a 48×48 position table; about 300M weights in F16) for
// benchmarks.
func Qwen35VisionBench(textEmbd int) ProjectorSpec {
	return ProjectorSpec{Projector: ProjectorQwen3VL, TextEmbd: textEmbd, NEmbd: 1024, NFF: 4096, NHead: 16, NLayer: 24,
		ImageSize: 768, PatchSize: 16, Type: F16, Seed: 9}
}

// TinyAudioProjector is a qwen2a projector for a text model of width
// textEmbd: 80 mel bins, 750 embeddings per 30-second chunk.
func TinyAudioProjector(textEmbd int) ProjectorSpec {
	return ProjectorSpec{Projector: ProjectorQwen2A, TextEmbd: textEmbd, Seed: 1}
}

// withDefaults fills the zero fields.
func (s ProjectorSpec) withDefaults() ProjectorSpec {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if s.Projector == "" {
		s.Projector = ProjectorGemma3
	}
	def(&s.NEmbd, 32)
	def(&s.NFF, 4*s.NEmbd)
	def(&s.NHead, 2)
	def(&s.NLayer, 2)
	if s.Vision() {
		def(&s.ImageSize, 32)
		def(&s.PatchSize, 8)
		def(&s.MergeFactor, 2)
		if s.Projector == ProjectorGemma4V {
			def(&s.Positions, 64)
		}
	}
	if s.Audio() {
		if s.Projector == ProjectorGemma4A || s.Gemma4Audio {
			def(&s.NMelBins, 32)
			def(&s.Channels[0], 4)
			def(&s.Channels[1], 8)
			def(&s.ConvKernel, 5)
			def(&s.AudioOut, 2*s.NEmbd)
		}
		def(&s.NMelBins, 80)
		if s.Projector == ProjectorUltravox {
			def(&s.StackFactor, 30)
		}
	}
	if s.Name == "" {
		s.Name = "synth-mmproj-" + s.Projector
	}
	return s
}

// Vision reports whether the projector is for images.
func (s ProjectorSpec) Vision() bool {
	return s.Projector == "" || s.Projector == ProjectorGemma3 || s.Projector == ProjectorGemma4V || s.Projector == ProjectorQwen3VL || s.Projector == ProjectorQwen25VL || s.Projector == ProjectorQwen2VL || s.Projector == ProjectorPixtral
}

// Audio reports whether the projector is for audio.
func (s ProjectorSpec) Audio() bool {
	return !s.Vision() || (s.Projector == ProjectorGemma4V && s.Gemma4Audio)
}

// gemma4a reports whether the spec has Gemma 4's audio encoder.
func (s ProjectorSpec) gemma4a() bool {
	return s.Projector == ProjectorGemma4A || (s.Projector == ProjectorGemma4V && s.Gemma4Audio)
}

// ImageTokens is the number of embeddings an image becomes (0 for audio).
func (s ProjectorSpec) ImageTokens() int {
	if !s.Vision() || s.Projector == ProjectorGemma4V || s.Projector == ProjectorQwen3VL || s.Projector == ProjectorQwen25VL || s.Projector == ProjectorQwen2VL || s.Projector == ProjectorPixtral {
		return 0
	}
	d := s.withDefaults()
	side := d.ImageSize / d.PatchSize / d.MergeFactor
	return side * side
}

// AudioTokens is the number of embeddings per 30-second chunk of audio (0
// for vision); shorter audio is one chunk (gemma4a: fewer embeddings,
// 25 a second).
func (s ProjectorSpec) AudioTokens() int {
	if s.gemma4a() {
		return 750
	}
	switch d := s.withDefaults(); d.Projector {
	case ProjectorQwen2A:
		return whisperPositions / 2
	case ProjectorUltravox:
		return whisperPositions / d.StackFactor
	}
	return 0
}

// Validate reports a spec that cannot be written or that llama.cpp could
// not run.
func (s ProjectorSpec) Validate() error {
	switch s.Projector {
	case "", ProjectorGemma3, ProjectorQwen2A, ProjectorUltravox, ProjectorGemma4V, ProjectorGemma4A, ProjectorQwen3VL, ProjectorQwen25VL, ProjectorQwen2VL, ProjectorPixtral:
	default:
		return fmt.Errorf("synth: unknown projector type %q (%s, %s, %s, %s, %s, %s, %s, %s, %s)", s.Projector, ProjectorGemma3, ProjectorQwen2A, ProjectorUltravox, ProjectorGemma4V, ProjectorGemma4A, ProjectorQwen3VL, ProjectorQwen25VL, ProjectorQwen2VL, ProjectorPixtral)
	}
	if s.Gemma4Audio && s.Projector != ProjectorGemma4V {
		return errors.New("synth: Gemma4Audio goes with a gemma4v projector")
	}
	d := s.withDefaults()
	sizes := []int{d.TextEmbd, d.NEmbd, d.NFF, d.NHead, d.NLayer}
	if d.Vision() {
		sizes = append(sizes, d.ImageSize, d.PatchSize, d.MergeFactor)
	}
	if d.Audio() {
		sizes = append(sizes, d.NMelBins)
	}
	if d.gemma4a() {
		sizes = append(sizes, d.Channels[0], d.Channels[1], d.ConvKernel, d.AudioOut)
	}
	if d.Projector == ProjectorUltravox {
		sizes = append(sizes, d.StackFactor)
	}
	if slices.ContainsFunc(sizes, func(n int) bool { return n < 1 }) {
		if d.TextEmbd < 1 {
			return errors.New("synth: projector TextEmbd (the text model's n_embd) must be positive")
		}
		return errors.New("synth: all projector sizes must be positive")
	}
	switch {
	case d.NEmbd%d.NHead != 0:
		return fmt.Errorf("synth: projector NEmbd %d not divisible by NHead %d", d.NEmbd, d.NHead)
	case d.Type != F32 && d.Type != F16:
		return fmt.Errorf("synth: projector tensor type %v (F32 or F16)", d.Type)
	}
	if d.Projector == ProjectorGemma4V {
		switch {
		case (d.NEmbd/d.NHead)%4 != 0:
			return fmt.Errorf("synth: gemma4v head size %d must be a multiple of 4", d.NEmbd/d.NHead)
		case d.Positions < 1:
			return errors.New("synth: gemma4v Positions must be positive")
		case d.ClampOutput != nil && len(d.ClampOutput) != 2:
			return errors.New("synth: ClampOutput is [min, max]")
		}
	} else if d.Vision() {
		side := d.ImageSize / d.PatchSize
		switch {
		case d.ImageSize%d.PatchSize != 0:
			return fmt.Errorf("synth: ImageSize %d not a multiple of PatchSize %d", d.ImageSize, d.PatchSize)
		case side%d.MergeFactor != 0:
			// clip.cpp counts (side/merge)² tokens but the pool yields
			// floor(side/merge)²; a mismatch aborts the encoder.
			return fmt.Errorf("synth: %d patches per side not a multiple of MergeFactor %d", side, d.MergeFactor)
		}
	}
	if d.Projector == ProjectorUltravox && whisperPositions%d.StackFactor != 0 {
		// clip_n_output_tokens counts ceil(3000/f)/2 embeddings, the graph
		// makes ceil(1500/f); they differ unless f divides 1500, and then
		// clip_image_batch_encode aborts.
		return fmt.Errorf("synth: ultravox StackFactor %d does not divide %d", d.StackFactor, whisperPositions)
	}
	return nil
}

// tensors lists the projector's tensors; d has its defaults.
func (d ProjectorSpec) tensors() []tensor {
	ts := []tensor{}
	add := func(t tensor) {
		if slices.Contains(d.Omit, t.name) {
			return
		}
		t.stream = t.name // values do not depend on which others exist
		if typ, ok := d.TypeOf[t.name]; ok {
			t.typ = typ
		}
		if d.ShapeOf != nil {
			t.dims = d.ShapeOf(t.name, slices.Clone(t.dims))
			if t.values != nil {
				t.values = make([]float32, t.elems())
			}
		}
		ts = append(ts, t)
	}
	rnd := func(typ TensorType, name string, dims ...int) { add(tensor{name: name, dims: dims, typ: typ}) }
	mat := func(name string, dims ...int) { rnd(d.Type, name, dims...) }
	ones := func(name string, n int) { add(tensor{name: name, dims: []int{n}, typ: F32, norm: true}) }
	zeros := func(name string, dims ...int) {
		n := 1
		for _, x := range dims {
			n *= x
		}
		add(tensor{name: name, dims: dims, typ: F32, values: make([]float32, n)})
	}
	e, ff := d.NEmbd, d.NFF
	// One pre-norm transformer block, as build_vit runs it; whisper has
	// no attn_k bias (whisper-enc.cpp asserts it).
	block := func(p string, kBias bool) {
		ones(p+"ln1.weight", e)
		zeros(p+"ln1.bias", e)
		for _, w := range []string{"attn_q", "attn_k", "attn_v", "attn_out"} {
			mat(p+w+".weight", e, e)
			if w != "attn_k" || kBias {
				zeros(p+w+".bias", e)
			}
		}
		ones(p+"ln2.weight", e)
		zeros(p+"ln2.bias", e)
		mat(p+"ffn_up.weight", e, ff)
		zeros(p+"ffn_up.bias", ff)
		mat(p+"ffn_down.weight", ff, e)
		zeros(p+"ffn_down.bias", e)
	}
	if d.Projector == ProjectorGemma4V {
		scalar := func(name string, v float32) { add(tensor{name: name, dims: []int{1}, typ: F32, values: []float32{v}}) }
		hd := e / d.NHead
		rnd(F16, "v.patch_embd.weight", d.PatchSize, d.PatchSize, 3, e)
		rnd(F32, "v.position_embd.weight", e, d.Positions, 2)
		for i := 0; i < d.NLayer; i++ {
			p := fmt.Sprintf("v.blk.%d.", i)
			for _, n := range []string{"ln1", "ln2", "attn_post_norm", "ffn_post_norm"} {
				ones(p+n+".weight", e)
			}
			for _, w := range []string{"attn_q", "attn_k", "attn_v", "attn_out"} {
				mat(p+w+".weight", e, e)
			}
			ones(p+"attn_q_norm.weight", hd)
			ones(p+"attn_k_norm.weight", hd)
			mat(p+"ffn_gate.weight", e, ff)
			mat(p+"ffn_up.weight", e, ff)
			mat(p+"ffn_down.weight", ff, e)
			add(tensor{name: p + "out_scale.weight", dims: []int{e}, typ: F32, values: slices.Repeat([]float32{0.9}, e)})
		}
		zeros("v.std_bias", e)
		add(tensor{name: "v.std_scale", dims: []int{e}, typ: F32, values: slices.Repeat([]float32{0.5}, e)})
		mat("mm.input_projection.weight", e, d.TextEmbd)
		if d.ClampOutput != nil {
			scalar("mm.input_projection.output_min", d.ClampOutput[0])
			scalar("mm.input_projection.output_max", d.ClampOutput[1])
		}
		if d.Gemma4Audio {
			d.gemma4Audio(add, mat, ones, zeros)
		}
		return ts
	}
	if d.Projector == ProjectorGemma4A {
		d.gemma4Audio(add, mat, ones, zeros)
		return ts
	}
	if d.Projector == ProjectorPixtral {
		rnd(F16, "v.patch_embd.weight", d.PatchSize, d.PatchSize, 3, e)
		ones("v.pre_ln.weight", e)
		for i := 0; i < d.NLayer; i++ {
			p := fmt.Sprintf("v.blk.%d.", i)
			ones(p+"ln1.weight", e)
			ones(p+"ln2.weight", e)
			for _, w := range []string{"attn_q", "attn_k", "attn_v", "attn_out"} {
				mat(p+w+".weight", e, e)
			}
			mat(p+"ffn_gate.weight", e, ff)
			mat(p+"ffn_up.weight", e, ff)
			mat(p+"ffn_down.weight", ff, e)
		}
		ones("mm.input_norm.weight", e)
		mat("mm.patch_merger.weight", 4*e, e)
		mat("mm.1.weight", e, d.TextEmbd)
		zeros("mm.1.bias", d.TextEmbd)
		mat("mm.2.weight", d.TextEmbd, d.TextEmbd)
		zeros("mm.2.bias", d.TextEmbd)
		rnd(F32, "v.token_embd.img_break", d.TextEmbd)
		return ts
	}
	if d.Projector == ProjectorQwen25VL || d.Projector == ProjectorQwen2VL {
		v2 := d.Projector == ProjectorQwen2VL // layer norms with biases, no gate
		rnd(F16, "v.patch_embd.weight", d.PatchSize, d.PatchSize, 3, e)
		rnd(F16, "v.patch_embd.weight.1", d.PatchSize, d.PatchSize, 3, e)
		for i := 0; i < d.NLayer; i++ {
			p := fmt.Sprintf("v.blk.%d.", i)
			for _, n := range []string{"ln1", "ln2"} {
				ones(p+n+".weight", e)
				if v2 {
					zeros(p+n+".bias", e)
				}
			}
			for _, w := range []string{"attn_q", "attn_k", "attn_v", "attn_out"} {
				mat(p+w+".weight", e, e)
				zeros(p+w+".bias", e)
			}
			if !v2 {
				mat(p+"ffn_gate.weight", e, ff)
				zeros(p+"ffn_gate.bias", ff)
			}
			mat(p+"ffn_up.weight", e, ff)
			zeros(p+"ffn_up.bias", ff)
			mat(p+"ffn_down.weight", ff, e)
			zeros(p+"ffn_down.bias", e)
		}
		ones("v.post_ln.weight", e)
		if v2 {
			zeros("v.post_ln.bias", e)
		}
		mat("mm.0.weight", 4*e, 4*e)
		zeros("mm.0.bias", 4*e)
		mat("mm.2.weight", 4*e, d.TextEmbd)
		zeros("mm.2.bias", d.TextEmbd)
		return ts
	}
	if d.Projector == ProjectorQwen3VL {
		side := d.ImageSize / d.PatchSize
		rnd(F16, "v.patch_embd.weight", d.PatchSize, d.PatchSize, 3, e)
		rnd(F16, "v.patch_embd.weight.1", d.PatchSize, d.PatchSize, 3, e)
		zeros("v.patch_embd.bias", e)
		rnd(F32, "v.position_embd.weight", e, side*side)
		for i := 0; i < d.NLayer; i++ {
			p := fmt.Sprintf("v.blk.%d.", i)
			ones(p+"ln1.weight", e)
			zeros(p+"ln1.bias", e)
			mat(p+"attn_qkv.weight", e, 3*e)
			zeros(p+"attn_qkv.bias", 3*e)
			mat(p+"attn_out.weight", e, e)
			zeros(p+"attn_out.bias", e)
			ones(p+"ln2.weight", e)
			zeros(p+"ln2.bias", e)
			mat(p+"ffn_up.weight", e, ff)
			zeros(p+"ffn_up.bias", ff)
			mat(p+"ffn_down.weight", ff, e)
			zeros(p+"ffn_down.bias", e)
		}
		ones("v.post_ln.weight", e)
		zeros("v.post_ln.bias", e)
		mat("mm.0.weight", 4*e, 4*e)
		zeros("mm.0.bias", 4*e)
		mat("mm.2.weight", 4*e, d.TextEmbd)
		zeros("mm.2.bias", d.TextEmbd)
		return ts
	}
	if d.Vision() {
		side := d.ImageSize / d.PatchSize
		rnd(F32, "v.patch_embd.weight", d.PatchSize, d.PatchSize, 3, e)
		zeros("v.patch_embd.bias", e)
		rnd(F32, "v.position_embd.weight", e, side*side)
		for i := 0; i < d.NLayer; i++ {
			block(fmt.Sprintf("v.blk.%d.", i), true)
		}
		ones("v.post_ln.weight", e)
		zeros("v.post_ln.bias", e)
		ones("mm.soft_emb_norm.weight", e)
		// Stored [text, vision]: siglip.cpp multiplies by its transpose.
		mat("mm.input_projection.weight", d.TextEmbd, e)
		return ts
	}
	// conv1d kernels are [kernel, in, out]; biases [1, out] so they
	// broadcast over the frames.
	rnd(F16, "a.conv1d.1.weight", 3, d.NMelBins, e)
	zeros("a.conv1d.1.bias", 1, e)
	rnd(F16, "a.conv1d.2.weight", 3, e, e)
	zeros("a.conv1d.2.bias", 1, e)
	rnd(F32, "a.position_embd.weight", e, whisperPositions)
	for i := 0; i < d.NLayer; i++ {
		block(fmt.Sprintf("a.blk.%d.", i), false)
	}
	ones("a.post_ln.weight", e)
	zeros("a.post_ln.bias", e)
	switch d.Projector {
	case ProjectorQwen2A:
		mat("mm.a.fc.weight", e, d.TextEmbd)
		zeros("mm.a.fc.bias", d.TextEmbd)
	case ProjectorUltravox:
		in, hidden := e*d.StackFactor, d.TextEmbd
		ones("mm.a.norm_pre.weight", in)
		mat("mm.a.mlp.1.weight", in, 2*hidden) // SwiGLU halves it
		ones("mm.a.norm_mid.weight", hidden)
		mat("mm.a.mlp.2.weight", hidden, d.TextEmbd)
	}
	return ts
}

// gemma4Audio adds the gemma4a encoder's tensors; d has its defaults.
func (d ProjectorSpec) gemma4Audio(add func(tensor), mat func(string, ...int), ones func(string, int), zeros func(string, ...int)) {
	e, ff, hd := d.NEmbd, d.NFF, d.NEmbd/d.NHead
	in, freq := 1, d.NMelBins
	for i, ch := range d.Channels {
		add(tensor{name: fmt.Sprintf("a.conv1d.%d.weight", i), dims: []int{3, 3, in, ch}, typ: F32})
		ones(fmt.Sprintf("a.conv1d.%d.norm.weight", i), ch)
		in, freq = ch, (freq-1)/2+1
	}
	mat("a.input_projection.weight", in*freq, e)
	for i := 0; i < d.NLayer; i++ {
		p := fmt.Sprintf("a.blk.%d.", i)
		for _, n := range []string{"ffn_norm", "ffn_post_norm", "ln1", "attn_post_norm", "conv_norm", "norm_conv", "ffn_norm_1", "ffn_post_norm_1", "ln2"} {
			ones(p+n+".weight", e)
		}
		for _, w := range []string{"attn_q", "attn_k", "attn_v", "attn_out", "attn_k_rel", "conv_pw2"} {
			mat(p+w+".weight", e, e)
		}
		mat(p+"ffn_up.weight", e, ff)
		mat(p+"ffn_down.weight", ff, e)
		mat(p+"ffn_up_1.weight", e, ff)
		mat(p+"ffn_down_1.weight", ff, e)
		mat(p+"conv_pw1.weight", e, 2*e)
		add(tensor{name: p + "conv_dw.weight", dims: []int{d.ConvKernel, e}, typ: F32})
		// softplus of the learned scale, as the converter stores it
		add(tensor{name: p + "per_dim_scale.weight", dims: []int{hd}, typ: F32, values: slices.Repeat([]float32{0.9}, hd)})
	}
	mat("a.pre_encode.out.weight", e, d.AudioOut)
	zeros("a.pre_encode.out.bias", d.AudioOut)
	mat("mm.a.input_projection.weight", d.AudioOut, d.TextEmbd)
	if d.Projector == ProjectorGemma4A && d.ClampOutput != nil {
		add(tensor{name: "mm.a.input_projection.output_min", dims: []int{1}, typ: F32, values: []float32{d.ClampOutput[0]}})
		add(tensor{name: "mm.a.input_projection.output_max", dims: []int{1}, typ: F32, values: []float32{d.ClampOutput[1]}})
	}
}

// header is the projector's metadata; d has its defaults.
func (d ProjectorSpec) header(ts []tensor) []byte {
	fileType := uint32(0)
	if d.Type == F16 {
		fileType = 1
	}
	kvs := []kvPair{
		{"general.architecture", "clip"},
		{"general.type", "mmproj"},
		{"general.name", d.Name},
		{"general.alignment", uint32(Alignment)},
		{"general.file_type", fileType},
		{"clip.has_vision_encoder", d.Vision()},
		{"clip.has_audio_encoder", d.Audio()},
	}
	if d.Gemma4Audio {
		// Two encoders: one projector type each (the converter's rule).
		kvs = append(kvs, kvPair{"clip.vision.projector_type", d.Projector}, kvPair{"clip.audio.projector_type", ProjectorGemma4A})
	} else {
		kvs = append(kvs, kvPair{"clip.projector_type", d.Projector})
	}
	sizes := func(m string) {
		kvs = append(kvs,
			kvPair{m + "embedding_length", uint32(d.NEmbd)},
			kvPair{m + "feed_forward_length", uint32(d.NFF)},
			kvPair{m + "block_count", uint32(d.NLayer)},
			kvPair{m + "projection_dim", uint32(d.TextEmbd)},
			kvPair{m + "attention.head_count", uint32(d.NHead)},
		)
	}
	if d.gemma4a() {
		sizes("clip.audio.")
		kvs = append(kvs,
			kvPair{"clip.audio.attention.layer_norm_epsilon", float32(1e-6)},
			kvPair{"clip.audio.num_mel_bins", uint32(d.NMelBins)},
		)
		if !d.Vision() {
			return header(overrideKVs(kvs, d.KV), ts)
		}
	}
	m := "clip.audio."
	if d.Vision() {
		m = "clip.vision."
	}
	sizes(m)
	if d.Projector == ProjectorGemma4V {
		kvs = append(kvs,
			kvPair{m + "attention.layer_norm_epsilon", float32(1e-6)},
			kvPair{m + "image_size", uint32(224)}, // written by the converter, read by neither engine
			kvPair{m + "patch_size", uint32(d.PatchSize)},
			kvPair{m + "image_mean", []float32{0, 0, 0}},
			kvPair{m + "image_std", []float32{1, 1, 1}},
			kvPair{m + "projector.scale_factor", uint32(d.MergeFactor)},
		)
	} else if d.Projector == ProjectorPixtral {
		kvs = append(kvs,
			kvPair{"clip.use_silu", true},
			kvPair{m + "attention.layer_norm_epsilon", float32(1e-5)},
			kvPair{m + "image_size", uint32(d.ImageSize)},
			kvPair{m + "patch_size", uint32(d.PatchSize)},
			kvPair{m + "image_mean", []float32{0.48145466, 0.4578275, 0.40821073}},
			kvPair{m + "image_std", []float32{0.26862954, 0.26130258, 0.27577711}},
			kvPair{m + "spatial_merge_size", uint32(2)},
		)
	} else if d.Projector == ProjectorQwen25VL {
		kvs = append(kvs,
			kvPair{"clip.use_silu", true},
			kvPair{m + "attention.layer_norm_epsilon", float32(1e-6)},
			kvPair{m + "image_size", uint32(d.ImageSize)},
			kvPair{m + "patch_size", uint32(d.PatchSize)},
			kvPair{m + "image_mean", []float32{0.5, 0.5, 0.5}},
			kvPair{m + "image_std", []float32{0.5, 0.5, 0.5}},
			kvPair{m + "spatial_merge_size", uint32(2)},
			kvPair{m + "n_wa_pattern", uint32(2)},
		)
	} else if d.Projector == ProjectorQwen2VL {
		kvs = append(kvs,
			kvPair{m + "attention.layer_norm_epsilon", float32(1e-6)},
			kvPair{m + "image_size", uint32(d.ImageSize)},
			kvPair{m + "patch_size", uint32(d.PatchSize)},
			kvPair{m + "image_mean", []float32{0.48145466, 0.4578275, 0.40821073}},
			kvPair{m + "image_std", []float32{0.26862954, 0.26130258, 0.27577711}},
			kvPair{m + "spatial_merge_size", uint32(2)},
		)
	} else if d.Projector == ProjectorQwen3VL {
		kvs = append(kvs,
			kvPair{"clip.use_gelu", true},
			kvPair{m + "attention.layer_norm_epsilon", float32(1e-6)},
			kvPair{m + "image_size", uint32(d.ImageSize)},
			kvPair{m + "patch_size", uint32(d.PatchSize)},
			kvPair{m + "image_mean", []float32{0.5, 0.5, 0.5}},
			kvPair{m + "image_std", []float32{0.5, 0.5, 0.5}},
			kvPair{m + "spatial_merge_size", uint32(2)},
		)
	} else if d.Vision() {
		kvs = append(kvs,
			kvPair{"clip.use_gelu", true},
			kvPair{m + "attention.layer_norm_epsilon", float32(1e-6)},
			kvPair{m + "image_size", uint32(d.ImageSize)},
			kvPair{m + "patch_size", uint32(d.PatchSize)},
			kvPair{m + "image_mean", []float32{0.5, 0.5, 0.5}},
			kvPair{m + "image_std", []float32{0.5, 0.5, 0.5}},
			kvPair{m + "projector.scale_factor", uint32(d.MergeFactor)},
		)
	} else {
		kvs = append(kvs,
			kvPair{m + "attention.layer_norm_epsilon", float32(1e-5)},
			kvPair{m + "num_mel_bins", uint32(d.NMelBins)},
		)
		if d.Projector == ProjectorUltravox {
			kvs = append(kvs, kvPair{m + "projector.stack_factor", uint32(d.StackFactor)})
		}
	}
	return header(overrideKVs(kvs, d.KV), ts)
}

// ParamCount is the number of weights in the projector.
func (s ProjectorSpec) ParamCount() int64 {
	var n int64
	for _, t := range s.withDefaults().tensors() {
		n += int64(t.elems())
	}
	return n
}

// Write writes the projector to path atomically.
func (s ProjectorSpec) Write(path string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	d := s.withDefaults()
	ts := d.tensors()
	for _, t := range ts {
		if len(t.dims) < 1 || len(t.dims) > 4 || slices.ContainsFunc(t.dims, func(n int) bool { return n < 1 }) {
			return fmt.Errorf("synth: ShapeOf(%s) = %v, want 1 to 4 positive dimensions", t.name, t.dims)
		}
	}
	gain := d.Gain
	if gain == 0 {
		gain = 1
	}
	return writeFile(path, d.header(ts), ts, d.Seed, gain)
}
