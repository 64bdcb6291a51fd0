package gguf

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Multimodal projectors ("mmproj" files) for llama.cpp's tools/mtmd, as the
// bundled clip.cpp (ollama v0.24.0) loads them. clip.cpp throws on a
// missing key or required tensor, which natter survives, but aborts or
// crashes the process on much else: a key of the wrong type (the typed
// gguf getters GGML_ASSERT), an optional tensor it dereferences anyway
// (the projector's output matrix of "mlp", the Whisper position
// embedding), an audio projector mtmd has no preprocessor for, shapes that
// make ggml_mul_mat/ggml_add assert while the warmup graph is built, a
// patch size of 0 (division by zero), and a token count it computes one way
// and the graph another (clip_image_batch_encode aborts on the first image
// or audio clip). OpenProjector refuses those before llama.cpp sees the
// file, CheckProjector also that the projector fits the text model, and
// both name the file and the key or tensor.
//
// Every known projector type gets the checks any of them needs (key types,
// per-layer tensors, the output matrix); gemma3 (SigLIP vision) and the
// Whisper-encoder audio types qwen2a, ultravox and voxtral, the ones
// synth writes or nearly so, get every tensor's shape checked.

// Sentinels of projector checks; match them with errors.Is.
// ErrNotProjector also matches ErrNotGGUF.
var (
	ErrNotProjector      error = &kindError{"not a multimodal projector", ErrNotGGUF}
	ErrProjectorMismatch error = &kindError{"multimodal projector does not fit the model", nil}
)

// ProjectorTypes are the clip.projector_type values this llama.cpp knows
// (PROJECTOR_TYPE_NAMES in clip-impl.h). "qwen2.5o" is a vision and an
// audio projector in one file.
var ProjectorTypes = []string{
	"mlp", "ldp", "ldpv2", "resampler", "adapter", "qwen2vl_merger", "qwen2.5vl_merger",
	"qwen3vl_merger", "gemma3", "idefics3", "pixtral", "ultravox", "internvl", "llama4",
	"qwen2a", "glma", "qwen2.5o", "voxtral", "lfm2", "kimivl", "lightonocr", "cogvlm",
	"janus_pro", "glm4v",
}

// GoProjectorTypes are projector types only natter's Go engine runs (the
// vendored llama.cpp predates them): Gemma 4's vision and audio encoders,
// as upstream llama.cpp v0.5.0's converter writes them (one file may hold
// both).
var GoProjectorTypes = []string{"gemma4v", "gemma4a"}

// Projector types that run the Whisper audio encoder; mtmd has an audio
// preprocessor only for the first three (glma aborts in mtmd_init).
var (
	audioProjectorTypes = []string{"qwen2a", "ultravox", "voxtral", "glma", "gemma4a"}
	mtmdAudioTypes      = []string{"qwen2a", "ultravox", "voxtral"}
	stackProjectorTypes = []string{"ultravox", "voxtral", "glma"} // need clip.audio.projector.stack_factor
)

const (
	whisperFrames        = 3000 // mel frames per 30-second chunk (mtmd-audio.cpp)
	whisperPositions     = 1500 // after the stride-2 conv1d
	gemma3DefaultMerge   = 4    // clip.cpp's n_merge when scale_factor is absent
	gemma4AudioTokens    = 750  // per 30-second chunk: 2,999 mel frames halved twice
	projectorArch        = "clip"
	projectorTypeKey     = "clip.projector_type"
	projectorHasVision   = "clip.has_vision_encoder"
	projectorHasAudio    = "clip.has_audio_encoder"
	projectorStackFactor = "clip.audio.projector.stack_factor"
)

// Projector is a validated multimodal projector file.
type Projector struct {
	*File
	Vision, Audio bool // which encoders it has (clip.has_vision_encoder, clip.has_audio_encoder)
	// ProjectorType is the vision projector's type, or the audio one's
	// when there is no vision encoder, resolved as clip.cpp does
	// (clip.projector_type, else clip.vision/audio.projector_type, vision
	// defaulting to "mlp"; "qwen2.5o" becomes "qwen2.5vl_merger" or
	// "qwen2a").
	ProjectorType string
	VisionType    string // "" without a vision encoder
	AudioType     string // "" without an audio encoder
	// ProjDim is the width of the embeddings the projector produces
	// (clip_n_mmproj_embd, read from the output tensor's shape); it must
	// equal the text model's input width (llama_model_n_embd_inp). With
	// both encoders they agree (OpenProjector checks).
	ProjDim              int
	ImageSize, PatchSize int // vision; 0 without
	// ImageTokens is the number of embeddings every image becomes, for
	// types that resize images to ImageSize (gemma3); 0 where it depends
	// on the image.
	ImageTokens int
	NMelBins    int // audio; 0 without
	// AudioTokens is the number of embeddings per 30-second chunk of audio
	// (shorter clips are one chunk); 0 without audio.
	AudioTokens int
}

// IsProjector reports whether f is a multimodal projector (general.architecture
// "clip"), which llama.cpp cannot load as a model.
func (f *File) IsProjector() bool { return f.Arch() == projectorArch }

// OpenProjector parses and validates a multimodal projector file on its
// own: the GGUF layout as Open checks it, general.architecture "clip", an
// encoder of a projector type this llama.cpp knows and mtmd can run, the
// keys it reads with the types it asserts, and the tensors it needs, with
// consistent shapes for the types noted above. Whether it fits a text
// model is CheckProjector's job.
func OpenProjector(path string) (*Projector, error) {
	var p *Projector
	_, err := open(path, "multimodal projector", func(ra io.ReaderAt, size int64, path string) (*File, error) {
		var err error
		p, err = parseProjector(ra, size, path)
		if err != nil {
			return nil, err
		}
		return p.File, nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// ParseProjector is OpenProjector for an image of size bytes.
func ParseProjector(r io.ReaderAt, size int64) (*Projector, error) {
	return parseProjector(r, size, "")
}

func parseProjector(ra io.ReaderAt, size int64, path string) (*Projector, error) {
	f, err := parseLayout(ra, size, path)
	if err != nil {
		return nil, err
	}
	return f.projector()
}

// CheckProjector checks p (from OpenProjector) again and that its
// embeddings are textEmbd wide, the text model's input width
// (llama_model_n_embd_inp; n_embd for llama and most architectures), as
// mtmd_init_from_file requires.
func CheckProjector(p *Projector, textEmbd int) error {
	if p == nil || p.File == nil {
		return &Error{Kind: ErrNotProjector, Msg: "CheckProjector needs a projector"}
	}
	q, err := p.File.projector()
	if err != nil {
		return err
	}
	if q.ProjDim != textEmbd {
		what := "embeddings"
		switch {
		case q.Vision && q.Audio:
			what = "image and audio embeddings"
		case q.Vision:
			what = "image embeddings"
		case q.Audio:
			what = "audio embeddings"
		}
		return &Error{Path: p.Path, Kind: ErrProjectorMismatch, Msg: fmt.Sprintf(
			"the projector does not fit the model: its %s have %d values but the text model's have %d (n_embd); it is the mmproj of another model",
			what, q.ProjDim, textEmbd)}
	}
	return nil
}

// projChecker validates one projector file.
type projChecker struct {
	f      *File
	byName map[string]int
}

func (c *projChecker) corrupt(format string, a ...any) error {
	return &Error{Path: c.f.Path, Kind: ErrCorrupt, Msg: ErrCorrupt.Error() + ": " + fmt.Sprintf(format, a...)}
}

func (c *projChecker) tensor(name string) (TensorInfo, bool) {
	i, ok := c.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	return c.f.Tensors[i], true
}

// shapeOK reports whether t's ggml shape is dims (missing trailing
// dimensions are 1).
func shapeOK(t TensorInfo, dims []uint64) bool {
	for i := 0; i < maxDims; i++ {
		want := uint64(1)
		if i < len(dims) {
			want = dims[i]
		}
		if dim(t, i) != want {
			return false
		}
	}
	return true
}

// need fails unless tensor name exists (with shape dims, if given).
func (c *projChecker) need(name string, dims ...uint64) error {
	t, ok := c.tensor(name)
	if !ok {
		return c.corrupt("the projector has no tensor %s, which llama.cpp needs", tname(name))
	}
	if len(dims) > 0 && !shapeOK(t, dims) {
		return c.corrupt("tensor %s is %v, want %v", tname(name), t.Dims, dims)
	}
	return nil
}

// opt checks tensor name's shape when it exists.
func (c *projChecker) opt(name string, dims ...uint64) error {
	if _, ok := c.tensor(name); !ok {
		return nil
	}
	return c.need(name, dims...)
}

// absent fails if tensor name exists.
func (c *projChecker) absent(name, why string) error {
	if _, ok := c.tensor(name); ok {
		return c.corrupt("tensor %s must not be there: %s", tname(name), why)
	}
	return nil
}

// Key kinds as clip.cpp reads them.
const (
	keyU32 = iota
	keyI32
	keyF32
	keyBool
	keyStr
	keyF32x3 // image_mean/std: three floats read through gguf_get_arr_data
	keyI32s  // get_arr_int: int32 values through gguf_get_arr_data
)

// projectorKeyKinds are every key clip.cpp reads with a typed getter;
// "%s" is "vision" or "audio".
var projectorKeyKinds = []struct {
	key  string
	kind int
}{
	{"general.name", keyStr},
	{"general.description", keyStr},
	{projectorHasVision, keyBool},
	{projectorHasAudio, keyBool},
	{projectorTypeKey, keyStr},
	{"clip.vision.projector_type", keyStr},
	{"clip.audio.projector_type", keyStr},
	{"clip.use_gelu", keyBool},
	{"clip.use_silu", keyBool},
	{"clip.%s.embedding_length", keyU32},
	{"clip.%s.feed_forward_length", keyU32},
	{"clip.%s.block_count", keyU32},
	{"clip.%s.projection_dim", keyU32},
	{"clip.%s.attention.head_count", keyU32},
	{"clip.%s.attention.layer_norm_epsilon", keyF32},
	{"clip.vision.image_size", keyU32},
	{"clip.vision.preproc_image_size", keyU32},
	{"clip.vision.patch_size", keyU32},
	{"clip.vision.image_mean", keyF32x3},
	{"clip.vision.image_std", keyF32x3},
	{"clip.vision.feature_layer", keyI32s},
	{"clip.vision.projector.scale_factor", keyU32},
	{"clip.vision.spatial_merge_size", keyU32},
	{"clip.vision.mm_patch_merge_type", keyStr},
	{"clip.vision.image_grid_pinpoints", keyI32s},
	{"clip.vision.image_crop_resolution", keyU32},
	{"clip.vision.n_wa_pattern", keyU32},
	{"clip.minicpmv_version", keyI32},
	{"clip.minicpmv_query_num", keyU32},
	{"clip.audio.num_mel_bins", keyU32},
	{projectorStackFactor, keyU32},
}

func keyKindOK(v any, kind int) (bool, string) {
	switch kind {
	case keyU32:
		_, ok := v.(uint32)
		return ok, "a uint32"
	case keyI32:
		_, ok := v.(int32)
		return ok, "an int32"
	case keyF32:
		_, ok := v.(float32)
		return ok, "a float32"
	case keyBool:
		_, ok := v.(bool)
		return ok, "a bool"
	case keyStr:
		_, ok := v.(string)
		return ok, "a string"
	case keyF32x3:
		a, ok := v.([]float32)
		return ok && len(a) >= 3, "an array of 3 float32 (one per RGB channel)"
	default: // keyI32s
		_, ok := v.([]int32)
		return ok, "an array of int32"
	}
}

// modality is one encoder's hyperparameters.
type modality struct {
	name, tp             string // "vision"/"audio", "v"/"a"
	typ                  string // projector type, resolved
	nEmbd, nHead, nFF    int
	nLayer               int
	imageSize, patchSize int
	nMel                 int
}

func (c *projChecker) u32(key string) (int, bool) {
	v, ok := c.f.Get(key)
	if !ok {
		return 0, false
	}
	n, _ := v.(uint32) // types are checked first
	return int(n), true
}

// projector validates c.f as a projector and describes it.
func (f *File) projector() (*Projector, error) {
	c := &projChecker{f: f, byName: make(map[string]int, len(f.Tensors))}
	for i, t := range f.Tensors {
		c.byName[t.Name] = i
	}
	notProj := func(format string, a ...any) error {
		return &Error{Path: f.Path, Kind: ErrNotProjector, Msg: fmt.Sprintf(format, a...)}
	}
	// general.architecture first: it tells a text model or an adapter
	// from a projector. clip.cpp does not read it, but every converter
	// writes "clip".
	arch, hasArch := f.Get("general.architecture")
	switch a, isStr := arch.(string); {
	case f.String(keyGeneralType) == "adapter":
		return nil, notProj("is a LoRA adapter, not a multimodal projector (mmproj)")
	case hasArch && isStr && a != projectorArch:
		what := "a model"
		if _, ok := f.Get("tokenizer.ggml.tokens"); ok {
			what = "a text model"
		}
		return nil, notProj("is %s (general.architecture %s), not a multimodal projector; give the mmproj file that came with the model (general.architecture \"clip\")", what, short(a))
	case !hasArch:
		return nil, notProj("is not a multimodal projector: it has no general.architecture (an mmproj file has \"clip\")")
	case !isStr:
		return nil, c.corrupt("general.architecture is %s, must be a string", aType(arch))
	}
	for _, k := range projectorKeyKinds {
		keys := []string{k.key}
		if strings.Contains(k.key, "%s") {
			keys = []string{fmt.Sprintf(k.key, "vision"), fmt.Sprintf(k.key, "audio")}
		}
		for _, key := range keys {
			v, ok := f.Get(key)
			if !ok {
				continue
			}
			if good, want := keyKindOK(v, k.kind); !good {
				got := aType(v)
				if n := arrayLen(v); n >= 0 {
					got = fmt.Sprintf("%s of %d", got, n)
				}
				return nil, c.corrupt("%s is %s, must be %s (llama.cpp asserts on anything else)", key, got, want)
			}
		}
	}
	if v, ok := f.Get("clip.vision.image_grid_pinpoints"); ok && len(v.([]int32))%2 != 0 {
		return nil, c.corrupt("clip.vision.image_grid_pinpoints has %d values, must be width/height pairs", len(v.([]int32)))
	}
	gelu, _ := f.Get("clip.use_gelu")
	silu, _ := f.Get("clip.use_silu")
	if gelu == true && silu == true {
		return nil, c.corrupt("clip.use_gelu and clip.use_silu are both true")
	}
	for _, t := range f.Tensors {
		if !loraMatmulType(t.Type) {
			return nil, c.corrupt("tensor %s is %s; llama.cpp's encoders take only float or quantized weights", tname(t.Name), t.Type)
		}
	}

	p := &Projector{File: f}
	hasVision, _ := f.Get(projectorHasVision)
	hasAudio, _ := f.Get(projectorHasAudio)
	p.Vision, p.Audio = hasVision == true, hasAudio == true
	if !p.Vision && !p.Audio {
		return nil, c.corrupt("the projector has no encoder: %s and %s are missing or false", projectorHasVision, projectorHasAudio)
	}
	dims := map[string]int{}
	for _, m := range []string{"vision", "audio"} {
		if (m == "vision" && !p.Vision) || (m == "audio" && !p.Audio) {
			continue
		}
		md, err := c.modality(m)
		if err != nil {
			return nil, err
		}
		dim, err := c.projDim(md)
		if err != nil {
			return nil, err
		}
		dims[m] = dim
		if err := c.shapes(md, dim); err != nil {
			return nil, err
		}
		if m == "vision" {
			p.VisionType, p.ImageSize, p.PatchSize = md.typ, md.imageSize, md.patchSize
			p.ImageTokens = c.imageTokens(md)
		} else {
			p.AudioType, p.NMelBins = md.typ, md.nMel
			if p.AudioTokens, err = c.audioTokens(md); err != nil {
				return nil, err
			}
		}
	}
	if p.Vision && p.Audio && dims["vision"] != dims["audio"] {
		return nil, c.corrupt("its image embeddings have %d values but its audio embeddings %d; llama.cpp needs one width", dims["vision"], dims["audio"])
	}
	p.ProjectorType, p.ProjDim = p.AudioType, dims["audio"]
	if p.Vision {
		p.ProjectorType, p.ProjDim = p.VisionType, dims["vision"]
	}
	return p, nil
}

// modality reads and checks one encoder's hyperparameters (types are
// already checked).
func (c *projChecker) modality(name string) (modality, error) {
	f := c.f
	md := modality{name: name, tp: name[:1]}
	typ := f.String(projectorTypeKey)
	key := projectorTypeKey
	if typ == "" {
		key = "clip." + name + ".projector_type"
		typ = f.String(key)
		if typ == "" && name == "vision" {
			typ, key = "mlp", "" // clip.cpp's default
		}
	}
	switch {
	case typ == "":
		return md, c.corrupt("the projector has an audio encoder but no projector type (%s or clip.audio.projector_type)", projectorTypeKey)
	case !slices.Contains(ProjectorTypes, typ) && !slices.Contains(GoProjectorTypes, typ):
		return md, c.corrupt("%s %s is not a projector type natter knows (%s)", key, short(typ), strings.Join(append(slices.Clone(ProjectorTypes), GoProjectorTypes...), ", "))
	case typ == "qwen2.5o" && name == "vision":
		typ = "qwen2.5vl_merger"
	case typ == "qwen2.5o":
		typ = "qwen2a"
	}
	md.typ = typ
	isAudioType := slices.Contains(audioProjectorTypes, typ)
	switch {
	case name == "vision" && isAudioType:
		return md, c.corrupt("the projector has a vision encoder but its projector type %s is for audio", short(typ))
	case name == "audio" && !isAudioType:
		return md, c.corrupt("the projector has an audio encoder but its projector type %s is for images", short(typ))
	case name == "audio" && !slices.Contains(mtmdAudioTypes, typ) && !slices.Contains(GoProjectorTypes, typ):
		return md, c.corrupt("audio projector type %s is not one this llama.cpp can run (%s); it would abort", short(typ), strings.Join(mtmdAudioTypes, ", "))
	}
	pre := "clip." + name + "."
	req := func(k string, min int) (int, error) {
		n, ok := c.u32(k)
		switch {
		case !ok:
			return 0, c.corrupt("%s is missing; llama.cpp needs it", k)
		case n < min:
			return 0, c.corrupt("%s is %d, must be at least %d", k, n, min)
		}
		return n, nil
	}
	var err error
	if md.nEmbd, err = req(pre+"embedding_length", 1); err != nil {
		return md, err
	}
	if md.nHead, err = req(pre+"attention.head_count", 1); err != nil {
		return md, err
	}
	if md.nFF, err = req(pre+"feed_forward_length", 0); err != nil {
		return md, err
	}
	if md.nLayer, err = req(pre+"block_count", 1); err != nil {
		return md, err
	}
	if _, err = req(pre+"projection_dim", 0); err != nil {
		return md, err
	}
	switch eps, ok := f.Get(pre + "attention.layer_norm_epsilon"); {
	case !ok:
		return md, c.corrupt("%sattention.layer_norm_epsilon is missing; llama.cpp needs it", pre)
	case math.IsNaN(float64(eps.(float32))) || math.IsInf(float64(eps.(float32)), 0) || eps.(float32) < 0:
		return md, c.corrupt("%sattention.layer_norm_epsilon is %g, must be a finite non-negative number", pre, eps)
	}
	if max := len(f.Tensors) / 3; md.nLayer > max {
		// Every block has at least attn_out, ffn_up and ffn_down.
		return md, c.corrupt("%sblock_count is %d but the file has only %d tensors, enough for %d blocks", pre, md.nLayer, len(f.Tensors), max)
	}
	if md.nEmbd%md.nHead != 0 {
		return md, c.corrupt("%sembedding_length %d is not divisible by attention.head_count %d", pre, md.nEmbd, md.nHead)
	}
	if typ == "gemma4v" {
		// Gemma 4 sizes images itself (a token budget, not image_size)
		// and normalises to [-1, 1] whatever mean and std say.
		if md.patchSize, err = req(pre+"patch_size", 1); err != nil {
			return md, err
		}
	} else if name == "vision" {
		if md.imageSize, err = req(pre+"image_size", 1); err != nil {
			return md, err
		}
		if md.patchSize, err = req(pre+"patch_size", 1); err != nil {
			return md, err
		}
		for _, k := range []string{pre + "image_mean", pre + "image_std"} {
			if _, ok := f.Get(k); !ok {
				return md, c.corrupt("%s is missing; llama.cpp needs it", k)
			}
		}
		if typ == "resampler" {
			if v, _ := f.Get("clip.minicpmv_version"); v != nil {
				if n := v.(int32); n != 0 && (n < 2 || n > 6) {
					return md, c.corrupt("clip.minicpmv_version %d is not one llama.cpp knows (2 to 6)", n)
				}
			}
		}
		if typ == "qwen2.5vl_merger" {
			if _, ok := f.Get("clip.vision.n_wa_pattern"); !ok {
				return md, c.corrupt("clip.vision.n_wa_pattern is missing; llama.cpp needs it for qwen2.5vl_merger")
			}
		}
	} else {
		if md.nMel, err = req(pre+"num_mel_bins", 1); err != nil {
			return md, err
		}
		if slices.Contains(stackProjectorTypes, typ) {
			if _, err = req(projectorStackFactor, 1); err != nil {
				return md, err
			}
		}
	}
	return md, nil
}

// projDim finds the width of the modality's output embeddings where
// clip_n_mmproj_embd reads it, a tensor clip.cpp would otherwise
// dereference even when absent (e.g. mm.2.weight of "mlp").
func (c *projChecker) projDim(md modality) (int, error) {
	name, d := "", 0
	switch md.typ {
	case "ldp":
		name = "mm.model.mb_block.1.block.2.1.bias"
	case "ldpv2":
		name = "mm.model.peg.0.bias"
	case "mlp":
		name, d = "mm.2.weight", 1
		if _, ok := c.tensor("mm.3.weight"); ok { // Yi-style mlp_norm
			name, d = "mm.3.bias", 0
		}
	case "resampler":
		name = "resampler.proj.weight"
	case "adapter":
		name, d = "adapter.linear.dense_4h_to_h.weight", 1
	case "qwen2vl_merger", "qwen2.5vl_merger", "qwen3vl_merger":
		name = "mm.2.bias"
	case "janus_pro":
		name = "mm.1.bias"
	case "gemma3":
		name = "mm.input_projection.weight"
	case "gemma4v":
		name, d = "mm.input_projection.weight", 1
	case "gemma4a":
		name, d = "mm.a.input_projection.weight", 1
	case "idefics3", "llama4":
		name, d = "mm.model.fc.weight", 1
	case "ultravox", "voxtral", "glma":
		name, d = "mm.a.mlp.2.weight", 1
	case "internvl":
		name, d = "mm.model.mlp.3.weight", 1
	case "qwen2a":
		name, d = "mm.a.fc.weight", 1
	case "lfm2", "kimivl", "pixtral", "lightonocr":
		name, d = "mm.2.weight", 1
	case "cogvlm", "glm4v":
		name, d = "mm.down.weight", 1
	}
	t, ok := c.tensor(name)
	if !ok {
		return 0, c.corrupt("the %s projector has no output tensor %s, which llama.cpp needs", md.typ, tname(name))
	}
	n := int(dim(t, d))
	if md.typ == "qwen3vl_merger" { // the main path plus one per deepstack layer
		for il := 0; il < md.nLayer; il++ {
			if _, ok := c.tensor(fmt.Sprintf("v.deepstack.%d.fc1.weight", il)); ok {
				n += int(dim(t, d))
			}
		}
	}
	return n, nil
}

// shapes checks the modality's tensors: what every type needs, then every
// shape for the types described in the package comment.
func (c *projChecker) shapes(md modality, outDim int) error {
	p := md.tp
	blk := func(il int, s string) string { return fmt.Sprintf("%s.blk.%d.%s", p, il, s) }
	// clip.cpp requires these per layer, and its graphs use q/k/v or the
	// fused qkv without checking either exists.
	for il := 0; il < md.nLayer; il++ {
		for _, s := range []string{"attn_out.weight", "ffn_up.weight", "ffn_down.weight"} {
			if err := c.need(blk(il, s)); err != nil {
				return err
			}
		}
		if _, ok := c.tensor(blk(il, "attn_qkv.weight")); !ok {
			for _, s := range []string{"attn_q.weight", "attn_k.weight", "attn_v.weight"} {
				if err := c.need(blk(il, s)); err != nil {
					return err
				}
			}
		}
	}
	if md.name == "vision" {
		if err := c.need("v.patch_embd.weight"); err != nil {
			return err
		}
	}
	e, ff, out := uint64(md.nEmbd), uint64(md.nFF), uint64(outDim)
	// A ViT block as build_vit runs it; swapped lets ffn_up/ffn_down be
	// stored the other way round (clip.cpp swaps them back for old
	// conversions of some types).
	vit := func(whisper, swapped bool) error {
		for il := 0; il < md.nLayer; il++ {
			for _, s := range []string{"ln1", "ln2"} {
				check := c.opt
				if whisper { // whisper-enc.cpp asserts layer norms with biases
					check = c.need
				}
				if err := check(blk(il, s+".weight"), e); err != nil {
					return err
				}
				if err := check(blk(il, s+".bias"), e); err != nil {
					return err
				}
			}
			if _, fused := c.tensor(blk(il, "attn_qkv.weight")); fused && !whisper {
				if err := c.need(blk(il, "attn_qkv.weight"), e, 3*e); err != nil {
					return err
				}
				if err := c.opt(blk(il, "attn_qkv.bias"), 3*e); err != nil {
					return err
				}
				for _, s := range []string{"attn_q_norm.weight", "attn_k_norm.weight"} {
					if err := c.absent(blk(il, s), "llama.cpp cannot apply q/k norms with a fused attn_qkv"); err != nil {
						return err
					}
				}
			} else {
				for _, s := range []string{"attn_q", "attn_k", "attn_v"} {
					if err := c.need(blk(il, s+".weight"), e, e); err != nil {
						return err
					}
					switch {
					case whisper && s == "attn_k":
						if err := c.absent(blk(il, s+".bias"), "the Whisper encoder has no key bias (llama.cpp asserts)"); err != nil {
							return err
						}
					case whisper:
						if err := c.need(blk(il, s+".bias"), e); err != nil {
							return err
						}
					default:
						if err := c.opt(blk(il, s+".bias"), e); err != nil {
							return err
						}
					}
				}
			}
			if err := c.need(blk(il, "attn_out.weight"), e, e); err != nil {
				return err
			}
			if err := c.opt(blk(il, "attn_out.bias"), e); err != nil {
				return err
			}
			up, down := blk(il, "ffn_up"), blk(il, "ffn_down")
			if t, _ := c.tensor(down + ".weight"); swapped && dim(t, 0) == e && ff != e {
				up, down = down, up
			}
			if err := c.need(up+".weight", e, ff); err != nil {
				return err
			}
			if err := c.opt(up+".bias", ff); err != nil {
				return err
			}
			if err := c.need(down+".weight", ff, e); err != nil {
				return err
			}
			if err := c.opt(down+".bias", e); err != nil {
				return err
			}
		}
		if err := c.opt(p+".post_ln.weight", e); err != nil {
			return err
		}
		return c.opt(p+".post_ln.bias", e)
	}
	switch md.typ {
	case "gemma4v":
		return c.gemma4v(md, outDim)
	case "gemma4a":
		return c.gemma4a(md, outDim)
	case "qwen3vl_merger":
		return c.qwen3vl(md, outDim)
	case "qwen2vl_merger", "qwen2.5vl_merger":
		return c.qwen2vl(md, outDim)
	case "gemma3":
		side := md.imageSize / md.patchSize
		merge, ok := c.u32("clip.vision.projector.scale_factor")
		if !ok {
			merge = gemma3DefaultMerge
		}
		switch pooled, counted := gemma3Tokens(side, merge); {
		case merge < 1:
			return c.corrupt("clip.vision.projector.scale_factor is %d, must be at least 1", merge)
		case side < 1:
			return c.corrupt("gemma3: image_size %d is smaller than patch_size %d", md.imageSize, md.patchSize)
		case pooled != counted:
			return c.corrupt("gemma3: with %d patches per side (image_size %d / patch_size %d) and a pool of %d (clip.vision.projector.scale_factor) this llama.cpp counts %d embeddings per image but makes %d, and aborts on the first image",
				side, md.imageSize, md.patchSize, merge, counted, pooled)
		}
		ps := uint64(md.patchSize)
		if err := c.need("v.patch_embd.weight", ps, ps, 3, e); err != nil {
			return err
		}
		if err := c.opt("v.patch_embd.bias", e); err != nil {
			return err
		}
		if err := c.need("v.position_embd.weight", e, uint64(side*side)); err != nil {
			return err
		}
		if err := vit(false, true); err != nil {
			return err
		}
		if err := c.need("mm.soft_emb_norm.weight", e); err != nil {
			return err
		}
		return c.need("mm.input_projection.weight", out, e)
	case "qwen2a", "ultravox", "voxtral":
		mel := uint64(md.nMel)
		for _, t := range []struct {
			w  string
			in uint64
		}{{"a.conv1d.1", mel}, {"a.conv1d.2", e}} {
			// Kernel 3 keeps the frame count (conv_1d_ph pads kernel/2).
			if err := c.need(t.w+".weight", 3, t.in, e); err != nil {
				return err
			}
			if err := c.need(t.w+".bias", 1, e); err != nil {
				return err
			}
		}
		if t, ok := c.tensor("a.position_embd.weight"); !ok || dim(t, 0) != e || dim(t, 1) < uint64(whisperPositions) || len(t.Dims) > 2 {
			if !ok {
				return c.corrupt("the projector has no tensor a.position_embd.weight, which llama.cpp needs")
			}
			return c.corrupt("tensor a.position_embd.weight is %v, want [%d n] with n at least %d", t.Dims, e, whisperPositions)
		}
		if err := vit(true, false); err != nil {
			return err
		}
		sf := uint64(1)
		if n, ok := c.u32(projectorStackFactor); ok && md.typ != "qwen2a" {
			sf = uint64(n)
		}
		switch md.typ {
		case "qwen2a":
			if err := c.need("mm.a.fc.weight", e, out); err != nil {
				return err
			}
			return c.opt("mm.a.fc.bias", out)
		case "ultravox":
			if err := c.need("mm.a.norm_pre.weight", e*sf); err != nil {
				return err
			}
			t, ok := c.tensor("mm.a.mlp.1.weight")
			if !ok {
				return c.need("mm.a.mlp.1.weight")
			}
			hidden := dim(t, 1)
			if err := c.need("mm.a.mlp.1.weight", e*sf, hidden); err != nil {
				return err
			}
			if hidden%2 != 0 {
				return c.corrupt("tensor mm.a.mlp.1.weight is %v: its output must split in two halves for SwiGLU", t.Dims)
			}
			if err := c.need("mm.a.norm_mid.weight", hidden/2); err != nil {
				return err
			}
			return c.need("mm.a.mlp.2.weight", hidden/2, out)
		default: // voxtral
			t, ok := c.tensor("mm.a.mlp.1.weight")
			if !ok {
				return c.need("mm.a.mlp.1.weight")
			}
			hidden := dim(t, 1)
			if err := c.need("mm.a.mlp.1.weight", e*sf, hidden); err != nil {
				return err
			}
			if err := c.opt("mm.a.mlp.1.bias", hidden); err != nil {
				return err
			}
			if err := c.need("mm.a.mlp.2.weight", hidden, out); err != nil {
				return err
			}
			return c.opt("mm.a.mlp.2.bias", out)
		}
	}
	return nil
}

// imageTokens is the number of embeddings per image for types that
// resize every image to image_size, 0 for the others.
func (c *projChecker) imageTokens(md modality) int {
	if md.typ != "gemma3" {
		return 0
	}
	merge, ok := c.u32("clip.vision.projector.scale_factor")
	if !ok {
		merge = gemma3DefaultMerge
	}
	n, _ := gemma3Tokens(md.imageSize/md.patchSize, merge)
	return n
}

// gemma3Tokens is the number of embeddings gemma3's average pool makes
// from side x side patches with a pool of k (ggml_pool_2d: (side-k)/k+1 per
// side, truncated as in C), and the number clip_n_output_tokens counts,
// side²/k²; clip_image_batch_encode aborts when they differ. k >= 1.
func gemma3Tokens(side, k int) (pooled, counted int) {
	if k < 1 {
		return 0, 0
	}
	per := (side-k)/k + 1
	return per * per, side * side / (k * k)
}

// audioTokens is the number of embeddings per chunk, failing where
// clip.cpp's count (clip_n_output_tokens) and its graph's differ, which
// aborts the first encode: it counts ceil(3000/f)/2 stacked frames but
// stacks the 1500 encoder positions, ceil(1500/f) (half that again with
// voxtral's pool). Real Ultravox (f = 8) and Voxtral (f = 4) projectors
// hit this in this llama.cpp.
func (c *projChecker) audioTokens(md modality) (int, error) {
	if md.typ == "gemma4a" {
		return gemma4AudioTokens, nil
	}
	if md.typ == "qwen2a" {
		return whisperPositions / 2, nil
	}
	n, _ := c.u32(projectorStackFactor)
	ceil := func(a, b int) int { return (a + b - 1) / b }
	frames := whisperPositions // what is stacked
	counted := ceil(whisperFrames, n) / 2
	if md.typ == "voxtral" {
		frames, counted = whisperPositions/2, counted/2
	}
	if built := ceil(frames, n); counted != built {
		return 0, c.corrupt("%s is %d, for which this llama.cpp counts %d audio embeddings per chunk but makes %d, and aborts on the first audio clip (the stack factor must divide %d)",
			projectorStackFactor, n, counted, built, frames)
	}
	return ceil(frames, n), nil
}

// gemma4v checks Gemma 4's vision encoder as Ollama's gemma4 package (the
// Go engine) reads it: no patch bias, a learned position table for x and y
// ([n_embd, positions, 2]), RMS-normed blocks with q/k norms, post norms and
// a gated MLP, then a pool and mm.input_projection.
func (c *projChecker) gemma4v(md modality, outDim int) error {
	e, ff, out, ps := uint64(md.nEmbd), uint64(md.nFF), uint64(outDim), uint64(md.patchSize)
	hd := e / uint64(md.nHead)
	if hd%4 != 0 {
		// two halves, each rotated by NeoX RoPE in pairs
		return c.corrupt("gemma4v: head size %d (embedding_length / head_count) must be a multiple of 4", hd)
	}
	if merge, ok := c.u32("clip.vision.projector.scale_factor"); ok && merge < 1 {
		return c.corrupt("clip.vision.projector.scale_factor is %d, must be at least 1", merge)
	}
	if err := c.need("v.patch_embd.weight", ps, ps, 3, e); err != nil {
		return err
	}
	if err := c.absent("v.patch_embd.bias", "Gemma 4's patch embedding has no bias"); err != nil {
		return err
	}
	t, ok := c.tensor("v.position_embd.weight")
	if !ok {
		return c.need("v.position_embd.weight")
	}
	if len(t.Dims) != 3 || dim(t, 0) != e || dim(t, 2) != 2 {
		return c.corrupt("tensor v.position_embd.weight is %v, want [%d positions 2]", t.Dims, e)
	}
	blk := func(il int, s string) string { return fmt.Sprintf("v.blk.%d.%s", il, s) }
	for il := 0; il < md.nLayer; il++ {
		for _, s := range []struct {
			name string
			dims []uint64
		}{
			{"ln1.weight", []uint64{e}}, {"ln2.weight", []uint64{e}},
			{"attn_post_norm.weight", []uint64{e}}, {"ffn_post_norm.weight", []uint64{e}},
			{"attn_q.weight", []uint64{e, e}}, {"attn_k.weight", []uint64{e, e}}, {"attn_v.weight", []uint64{e, e}},
			{"attn_out.weight", []uint64{e, e}},
			{"attn_q_norm.weight", []uint64{hd}}, {"attn_k_norm.weight", []uint64{hd}},
			{"ffn_gate.weight", []uint64{e, ff}}, {"ffn_up.weight", []uint64{e, ff}}, {"ffn_down.weight", []uint64{ff, e}},
		} {
			if err := c.need(blk(il, s.name), s.dims...); err != nil {
				return err
			}
		}
		if err := c.opt(blk(il, "out_scale.weight"), e); err != nil {
			return err
		}
	}
	for _, s := range []string{"v.std_bias", "v.std_scale"} {
		if err := c.opt(s, e); err != nil {
			return err
		}
	}
	return c.need("mm.input_projection.weight", e, out)
}

// gemma4a checks Gemma 4's audio encoder as natter's Go engine runs it
// (upstream's graph): two stride-2 conv2d with layer norms over the mel
// spectrogram, a linear projection, conformer blocks (two half-step FFNs,
// chunked local attention with relative positions, a depthwise causal
// conv), an optional output projection, then an RMS norm and
// mm.a.input_projection. The conv kernels must be F32: ggml's depthwise
// conv reads nothing else.
func (c *projChecker) gemma4a(md modality, outDim int) error {
	e, ff, out := uint64(md.nEmbd), uint64(md.nFF), uint64(outDim)
	hd := e / uint64(md.nHead)
	f32 := func(name string) error {
		if t, ok := c.tensor(name); ok && t.Type != TypeF32 {
			return c.corrupt("tensor %s is %s; Gemma 4's audio convolutions take F32 kernels only", tname(name), t.Type)
		}
		return nil
	}
	in, freq := uint64(1), uint64(md.nMel)
	for i := 0; i < 2; i++ {
		name := fmt.Sprintf("a.conv1d.%d.weight", i)
		t, ok := c.tensor(name)
		if !ok {
			return c.need(name)
		}
		ch := dim(t, 3)
		if err := c.need(name, 3, 3, in, ch); err != nil {
			return err
		}
		if err := f32(name); err != nil {
			return err
		}
		for _, s := range []string{"bias", "norm.weight"} {
			if err := c.opt(fmt.Sprintf("a.conv1d.%d.%s", i, s), ch); err != nil {
				return err
			}
		}
		in, freq = ch, (freq-1)/2+1
	}
	if err := c.need("a.input_projection.weight", in*freq, e); err != nil {
		return err
	}
	if err := c.opt("a.input_projection.bias", e); err != nil {
		return err
	}
	blk := func(il int, s string) string { return fmt.Sprintf("a.blk.%d.%s", il, s) }
	for il := 0; il < md.nLayer; il++ {
		for _, s := range []struct {
			name string
			need bool
			dims []uint64
		}{
			{"ffn_norm.weight", true, []uint64{e}}, {"ffn_up.weight", true, []uint64{e, ff}}, {"ffn_down.weight", true, []uint64{ff, e}},
			{"ffn_post_norm.weight", false, []uint64{e}},
			{"ln1.weight", false, []uint64{e}}, {"attn_pre_norm.weight", false, []uint64{e}},
			{"attn_q.weight", true, []uint64{e, e}}, {"attn_k.weight", true, []uint64{e, e}}, {"attn_v.weight", true, []uint64{e, e}},
			{"attn_out.weight", true, []uint64{e, e}}, {"attn_out.bias", false, []uint64{e}},
			{"attn_post_norm.weight", false, []uint64{e}}, {"attn_k_rel.weight", false, []uint64{e, e}},
			{"per_dim_scale.weight", false, []uint64{hd}}, {"per_dim_k_scale.weight", false, []uint64{hd}},
			{"conv_norm.weight", false, []uint64{e}}, {"conv_pw1.weight", true, []uint64{e, 2 * e}},
			{"conv_dw.bias", false, []uint64{e}}, {"norm_conv.weight", false, []uint64{e}},
			{"conv_pw2.weight", true, []uint64{e, e}},
			{"ffn_norm_1.weight", true, []uint64{e}}, {"ffn_up_1.weight", true, []uint64{e, ff}}, {"ffn_down_1.weight", true, []uint64{ff, e}},
			{"ffn_post_norm_1.weight", false, []uint64{e}}, {"ln2.weight", false, []uint64{e}},
		} {
			check := c.opt
			if s.need {
				check = c.need
			}
			if err := check(blk(il, s.name), s.dims...); err != nil {
				return err
			}
		}
		dw := blk(il, "conv_dw.weight")
		t, ok := c.tensor(dw)
		if !ok {
			return c.need(dw)
		}
		if k := dim(t, 0); k < 1 || k > 64 {
			return c.corrupt("tensor %s has a kernel of %d taps; want 1 to 64", tname(dw), k)
		}
		if err := c.need(dw, dim(t, 0), e); err != nil {
			return err
		}
		if err := f32(dw); err != nil {
			return err
		}
	}
	o := e
	if t, ok := c.tensor("a.pre_encode.out.weight"); ok {
		o = dim(t, 1)
		if err := c.need("a.pre_encode.out.weight", e, o); err != nil {
			return err
		}
		if err := c.opt("a.pre_encode.out.bias", o); err != nil {
			return err
		}
	}
	if err := c.opt("mm.a.soft_emb_norm.weight", o); err != nil {
		return err
	}
	return c.need("mm.a.input_projection.weight", o, out)
}

// qwen3vl checks the Qwen3-VL encoder (Qwen3.5's too) as clip.cpp's graph
// and natter's (mtmdlib/mtmd_model_qwen3vl.cpp) read it, where a missing
// tensor is an assertion that aborts the process at the first image: the
// two patch kernels and their bias, a square learned position table, no
// class embedding, blocks with a fused and biased QKV, then the merger
// over 2×2 patches (mm.0, mm.2).
func (c *projChecker) qwen3vl(md modality, outDim int) error {
	e, ff, ps, out := uint64(md.nEmbd), uint64(md.nFF), uint64(md.patchSize), uint64(outDim)
	if hd := e / uint64(md.nHead); hd%4 != 0 {
		return c.corrupt("qwen3vl_merger: head size %d (embedding_length / head_count) must be a multiple of 4 for its 2-D M-RoPE", hd)
	}
	if err := c.need("v.patch_embd.weight", ps, ps, 3, e); err != nil {
		return err
	}
	if err := c.opt("v.patch_embd.weight.1", ps, ps, 3, e); err != nil {
		return err
	}
	if err := c.need("v.patch_embd.bias", e); err != nil {
		return err
	}
	if err := c.absent("v.class_embd", "Qwen3-VL has no class embedding (llama.cpp asserts)"); err != nil {
		return err
	}
	t, ok := c.tensor("v.position_embd.weight")
	if !ok {
		return c.need("v.position_embd.weight")
	}
	side := uint64(math.Sqrt(float64(dim(t, 1))))
	if len(t.Dims) != 2 || dim(t, 0) != e || side*side != dim(t, 1) {
		return c.corrupt("tensor v.position_embd.weight is %v, want [%d n] with n a square", t.Dims, e)
	}
	blk := func(il int, s string) string { return fmt.Sprintf("v.blk.%d.%s", il, s) }
	for il := 0; il < md.nLayer; il++ {
		for _, s := range []struct {
			name string
			need bool
			dims []uint64
		}{
			{"ln1.weight", true, []uint64{e}}, {"ln1.bias", false, []uint64{e}},
			{"ln2.weight", true, []uint64{e}}, {"ln2.bias", false, []uint64{e}},
			{"attn_qkv.weight", true, []uint64{e, 3 * e}}, {"attn_qkv.bias", true, []uint64{3 * e}},
			{"attn_out.weight", true, []uint64{e, e}}, {"attn_out.bias", false, []uint64{e}},
			{"ffn_up.weight", true, []uint64{e, ff}}, {"ffn_up.bias", false, []uint64{ff}},
			{"ffn_down.weight", true, []uint64{ff, e}}, {"ffn_down.bias", false, []uint64{e}},
		} {
			check := c.opt
			if s.need {
				check = c.need
			}
			if err := check(blk(il, s.name), s.dims...); err != nil {
				return err
			}
		}
	}
	return c.qwenMerger(e, out)
}

// qwenMerger checks the Qwen-VL merger: a GELU MLP (mm.0, mm.2, biased)
// over each 2×2 block of e-wide patches to out values.
func (c *projChecker) qwenMerger(e, out uint64) error {
	t, ok := c.tensor("mm.0.weight")
	if !ok {
		return c.need("mm.0.weight")
	}
	hidden := dim(t, 1)
	for _, n := range []struct {
		name string
		dims []uint64
	}{{"mm.0.weight", []uint64{4 * e, hidden}}, {"mm.0.bias", []uint64{hidden}}, {"mm.2.weight", []uint64{hidden, out}}, {"mm.2.bias", []uint64{out}}} {
		if err := c.need(n.name, n.dims...); err != nil {
			return err
		}
	}
	return nil
}

// qwen2vl checks the Qwen2-VL and Qwen2.5-VL encoders as clip.cpp's graph
// reads them, where a missing bias or an extra one is an assertion or a
// null dereference at the first image: two patch kernels without a bias,
// no class embedding or position table, blocks with biased q/k/v/out (and
// a gated MLP for 2.5), then the 2×2 merger (mm.0, mm.2).
func (c *projChecker) qwen2vl(md modality, outDim int) error {
	e, ff, ps, out := uint64(md.nEmbd), uint64(md.nFF), uint64(md.patchSize), uint64(outDim)
	if hd := e / uint64(md.nHead); hd%4 != 0 {
		return c.corrupt("%s: head size %d (embedding_length / head_count) must be a multiple of 4 for its 2-D M-RoPE", md.typ, hd)
	}
	for _, n := range []string{"v.patch_embd.weight", "v.patch_embd.weight.1"} {
		if err := c.need(n, ps, ps, 3, e); err != nil {
			return err
		}
	}
	for _, n := range []string{"v.patch_embd.bias", "v.class_embd"} {
		if err := c.absent(n, md.typ+" has none (llama.cpp asserts)"); err != nil {
			return err
		}
	}
	blk := func(il int, s string) string { return fmt.Sprintf("v.blk.%d.%s", il, s) }
	for il := 0; il < md.nLayer; il++ {
		for _, w := range []string{"attn_q", "attn_k", "attn_v", "attn_out"} {
			if err := c.need(blk(il, w+".weight"), e, e); err != nil {
				return err
			}
			if err := c.need(blk(il, w+".bias"), e); err != nil {
				return err
			}
		}
		if err := c.need(blk(il, "ffn_up.weight"), e, ff); err != nil {
			return err
		}
		if err := c.opt(blk(il, "ffn_gate.weight"), e, ff); err != nil {
			return err
		}
		if err := c.need(blk(il, "ffn_down.weight"), ff, e); err != nil {
			return err
		}
	}
	return c.qwenMerger(e, out)
}
