package goengine

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/ollama/ollama/ml"
	"github.com/ollama/ollama/model"
	"github.com/ollama/ollama/model/models/gemma4"
	"golang.org/x/image/draw"

	"natter/engine/ggmlops"
	"natter/engine/gguf"
)

// Images on the Go engine: Gemma 4's vision encoder, read from the separate
// mmproj file Hugging Face repos ship (Ollama's engine reads vision weights
// only from the model file). The projector is opened as a second ggml
// backend; layoutBackend hands its tensors to Ollama's gemma4 model for
// the names the vision encoder asks for ("v.*", "mm.*"), and an image is
// encoded in a graph of that backend alone. The user's files are read as
// they are, nothing is merged or copied.
//
// Ollama's gemma4 package and upstream llama.cpp v0.5.0 (gemma4v) name the
// tensors alike; only the metadata differs (clip.vision.* in the mmproj,
// gemma4.vision.* for Ollama), which layoutConfig renames. Where the two
// differ, natter follows upstream as far as Ollama's code allows:
//   - the weightless RMS norm of the multimodal embedder comes before the
//     projection (upstream's embedding_pre_projection_norm; Ollama applies
//     it after), so natter runs the pool and projection itself;
//   - image embeddings are placed whole in one batch that ends with them,
//     because Ollama's Gemma 4 lifts the causal mask for image positions
//     within a batch: text after the image in the same batch would be
//     seen by it, and the result would depend on batch boundaries;
//   - Gemma 4 E2B and E4B read images causally (upstream's rule), which
//     forward arranges within Ollama's mask. For the bigger models
//     upstream lifts the mask in sliding-window layers only, Ollama in
//     all layers; natter runs Ollama's.

// projectorError is an error about the projector file, which names it.
type projectorError struct{ error }

func (e projectorError) Unwrap() error { return e.error }

// projectorPlan is what planLayout learned from the projector file.
type projectorPlan struct {
	path      string
	file      *gguf.File // the projector as planProjector read it
	vision    bool
	nEmbd     int // the vision encoder's width
	patch     int // pixels per patch side
	merge     int // patches pooled per side
	positions int // rows of the x and y position tables
	eps       float32
	textEmbd  int
	audio     *audioPlan // nil without an audio encoder (audio.go)
}

// planProjector checks the projector at path against the text model f and
// adds the metadata Ollama's gemma4 vision model reads.
func planProjector(f *gguf.File, lb *layoutBackend, path string) error {
	p, err := gguf.OpenProjector(path)
	if err != nil {
		return err
	}
	if f.Arch() != "gemma4" || (p.Vision && p.VisionType != "gemma4v") || (p.Audio && p.AudioType != "gemma4a") {
		what := p.ProjectorType
		if what == "" {
			what = "unknown"
		}
		return fmt.Errorf("%s: the Go engine reads Gemma 4 projectors (gemma4v, gemma4a) for gemma4 models; this is a %s projector for a %s model", path, what, f.Arch())
	}
	textEmbd, _ := gguf.AsUint(mustGet(f, "gemma4.embedding_length"))
	if err := gguf.CheckProjector(p, int(textEmbd)); err != nil {
		return err
	}
	u := func(k string, def int) int {
		if v, ok := p.Get(k); ok {
			if n, ok := gguf.AsUint(v); ok {
				return int(n)
			}
		}
		return def
	}
	plan := &projectorPlan{path: path, file: p.File, textEmbd: int(textEmbd)}
	if p.Audio {
		plan.audio = &audioPlan{nEmbd: u("clip.audio.embedding_length", 0), nHead: u("clip.audio.attention.head_count", 1),
			nLayer: u("clip.audio.block_count", 0), nMel: p.NMelBins}
	}
	lb.projPlan = plan
	if !p.Vision {
		return nil
	}
	plan.vision, plan.nEmbd, plan.patch, plan.merge, plan.eps = true,
		u("clip.vision.embedding_length", 0), u("clip.vision.patch_size", 16), u("clip.vision.projector.scale_factor", 3), 1e-6
	if v, ok := p.Get("clip.vision.attention.layer_norm_epsilon"); ok {
		if x, ok := v.(float32); ok {
			plan.eps = x
		}
	}
	for _, t := range p.Tensors {
		if t.Name == "v.position_embd.weight" && len(t.Dims) > 1 {
			plan.positions = int(t.Dims[1])
		}
	}
	c := lb.cfg
	c.set("vision.block_count", uint32(u("clip.vision.block_count", 0)))
	c.set("vision.embedding_length", uint32(plan.nEmbd))
	c.set("vision.attention.head_count", uint32(u("clip.vision.attention.head_count", 0)))
	c.set("vision.patch_size", uint32(plan.patch))
	c.set("vision.projector.scale_factor", uint32(plan.merge))
	c.set("vision.attention.layer_norm_epsilon", plan.eps)
	c.set("vision.num_channels", uint32(3))
	return nil
}

func mustGet(f *gguf.File, k string) any { v, _ := f.Get(k); return v }

// projectorTensor reports names Ollama's gemma4 model reads from the
// projector (its vision encoder's; the audio encoder is natter's own).
func projectorTensor(name string) bool {
	return strings.HasPrefix(name, "v.") || strings.HasPrefix(name, "mm.")
}

// openProjector opens the projector's backend beside the model's.
func (lb *layoutBackend) openProjector(params ml.BackendParams) error {
	if lb.projPlan == nil {
		return nil
	}
	// The encoder attends over thousands of patches in one graph, where
	// the bundled CPU flash-attention kernel is slower than the plain one
	// (measured on the Gemma 4-sized bench encoder: 15.1 s against 9.7 s
	// an image); as for prompts, it stays off here.
	params.FlashAttention = ml.FlashAttentionDisabled
	path, cp, err := loadableProjector(lb.projPlan.path, lb.projPlan.file, lb.projCache)
	if err != nil {
		return err
	}
	b, err := ml.NewBackend(path, params)
	if err != nil {
		return fmt.Errorf("%s: %w", lb.projPlan.path, err)
	}
	lb.proj, lb.projCopy = b, cp
	return nil
}

// ProjectorCopy is the loadable copy of the projector natter opened
// instead of the file (projcopy.go), nil when it opened the file.
func (e *Engine) ProjectorCopy() *ProjectorCopy { return e.projCopy }

// Vision reports whether a vision projector is loaded.
func (e *Engine) Vision() bool { return e.vision != nil }

// ImageCausal reports whether the text model reads images causally.
func (e *Engine) ImageCausal() bool { return e.vision != nil && e.vision.causal }

// visionState is the loaded projector of an Engine.
type visionState struct {
	plan  *projectorPlan
	m     *gemma4.Model
	b     ml.Backend  // the projector's backend
	sched schedHandle // its scheduler, reset after a failed (or stopped) encode (shared with audio)
	// causal: image positions attend causally, as text does; otherwise
	// both ways within the image (see forward).
	causal bool
	budget int // embeddings an image is sized to (Options.ImageTokens)
}

// setupProjector prepares the encodes of the projector's encoders.
func (e *Engine) setupProjector(lb *layoutBackend, attention string, budget int) error {
	if lb == nil || lb.proj == nil {
		return nil
	}
	var sched schedHandle
	if h, backends, ok := reachScheduler(lb.proj); ok {
		sched = h
		installed := false
		for _, p := range backends {
			if ggmlops.InstallCancel(p) {
				installed = true
			}
		}
		if installed && e.cancel == nil {
			e.cancel = ggmlops.NewCancel()
		}
	}
	if lb.projPlan.vision {
		if err := e.setupVision(lb, attention, budget, sched); err != nil {
			return err
		}
	}
	if lb.projPlan.audio != nil {
		return e.setupAudio(lb, sched)
	}
	return nil
}

// setupVision finds the loaded vision model and prepares its encodes.
func (e *Engine) setupVision(lb *layoutBackend, attention string, budget int, sched schedHandle) error {
	if budget <= 0 {
		budget = gemma4Budget
	}
	var causal bool
	switch attention {
	case "":
		// Upstream's rule (mtmd_decode_use_non_causal): Gemma 4 E2B
		// (n_embd 1536) and E4B (2560) read images causally, the bigger
		// models both ways.
		causal = lb.projPlan.textEmbd == 1536 || lb.projPlan.textEmbd == 2560
	case "causal":
		causal = true
	case "bidirectional":
	default:
		return fmt.Errorf("image attention %q: want causal or bidirectional", attention)
	}
	gm, ok := e.m.(*gemma4.Model)
	if !ok || gm.VisionModel == nil || len(gm.VisionModel.Layers) == 0 || gm.MultiModalProjector == nil || gm.MultiModalProjector.Projection == nil || gm.MultiModalProjector.Projection.Weight == nil {
		return fmt.Errorf("%s: the Go engine built no vision encoder from this projector", lb.projPlan.path)
	}
	// The clamp scalars of Gemma4ClippableLinear are read from the loaded
	// tensors.
	if pl, ok := e.m.(model.PostLoader); ok {
		if err := pl.PostLoad(); err != nil {
			return fmt.Errorf("%s: %w", lb.projPlan.path, err)
		}
	}
	e.vision = &visionState{plan: lb.projPlan, m: gm, b: lb.proj, sched: sched, causal: causal, budget: budget}
	return nil
}

// Image is an image resized and normalised for the vision encoder.
type Image struct {
	pix    []float32 // channel-first RGB in [-1, 1]
	w, h   int
	tokens int
}

// Tokens is the number of embeddings (positions) the image becomes.
func (im *Image) Tokens() int { return im.tokens }

// gemma4Budget is Gemma 4's default number of embeddings per image
// (Hugging Face's processor and Ollama's); upstream llama.cpp keeps images
// near their own size within 70 to 1,120.
const gemma4Budget = 280

// gemma4Size is the size an image of w×h is scaled to: its aspect kept,
// filling budget embeddings of align×align pixels (a pooled patch), sides
// in whole multiples of align (Hugging Face's and Ollama's rule).
func gemma4Size(w, h, align, budget int) (int, int) {
	f := math.Sqrt(float64(budget) * float64(align*align) / (float64(w) * float64(h)))
	side := func(n int) int { return max(align, int(math.Floor(f*float64(n)/float64(align)))*align) }
	return side(w), side(h)
}

// PrepareImage resizes img to the encoder's token budget (Options.
// ImageTokens, Gemma 4's 280 by default) with bilinear filtering and
// normalises it to [-1, 1], as Ollama's processor does for 280. It does
// not touch the model's graphs, so it may run beside a generation.
func (e *Engine) PrepareImage(img image.Image) (*Image, error) {
	v := e.vision
	if v == nil {
		return nil, errors.New("no vision projector is loaded")
	}
	if img == nil || img.Bounds().Empty() {
		return nil, errors.New("the image is empty")
	}
	align := v.plan.patch * v.plan.merge
	w, h := gemma4Size(img.Bounds().Dx(), img.Bounds().Dy(), align, v.budget)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.BiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Over, nil)
	pix := make([]float32, 3*w*h)
	for i := 0; i < w*h; i++ {
		for c := 0; c < 3; c++ {
			pix[c*w*h+i] = float32(dst.Pix[4*i+c])/255*2 - 1
		}
	}
	px, py := w/v.plan.patch, h/v.plan.patch
	if px > v.plan.positions || py > v.plan.positions {
		return nil, fmt.Errorf("the image is too elongated for this model: %d×%d patches, its position table has %d per side", px, py, v.plan.positions)
	}
	if px%v.plan.merge != 0 || py%v.plan.merge != 0 || px == 0 || py == 0 {
		return nil, fmt.Errorf("the image was sized to %d×%d, not a multiple of the encoder's %d-pixel pooled patches", w, h, v.plan.patch*v.plan.merge)
	}
	return &Image{pix: pix, w: w, h: h, tokens: (px / v.plan.merge) * (py / v.plan.merge)}, nil
}

// EmbedWidth is the width of an image or audio embedding (the text
// model's).
func (e *Engine) EmbedWidth() int {
	switch {
	case e.vision != nil:
		return e.vision.plan.textEmbd
	case e.audio != nil:
		return e.audio.textEmbd
	case e.mrope:
		return e.mropeWidth
	}
	return 0
}

// EncodeImage runs the vision encoder on im and returns its embeddings,
// Tokens() rows of EmbedWidth() floats. It must not run beside Prefill or
// Decode (the caller serialises them). When ctx ends the encode stops
// within its graph.
func (e *Engine) EncodeImage(ctx context.Context, im *Image) (rows []float32, err error) {
	v := e.vision
	if v == nil {
		return nil, errors.New("no vision projector is loaded")
	}
	if e.closed {
		return nil, errors.New("the engine is closed")
	}
	defer e.watch(ctx)()
	defer func() {
		if r := recover(); r != nil {
			resetSched(v.sched)
			err = fmt.Errorf("the Go engine could not encode the image: %v", r)
		}
	}()
	mctx := v.b.NewContext()
	defer mctx.Close()
	plan := v.plan
	px, py := im.w/plan.patch, im.h/plan.patch
	pixels := mctx.Input().FromFloats(im.pix, im.w, im.h, 3)
	hs := v.m.VisionModel.Forward(mctx, pixels, px, py)

	// The pooler and the multimodal embedder, in upstream's order.
	hs = hs.Permute(mctx, 1, 0, 2, 3).Contiguous(mctx)
	hs = hs.Reshape(mctx, px, py, plan.nEmbd)
	hs = hs.AvgPool2D(mctx, plan.merge, plan.merge, 0)
	mx, my := px/plan.merge, py/plan.merge
	hs = hs.Reshape(mctx, mx*my, plan.nEmbd)
	hs = hs.Permute(mctx, 1, 0, 2, 3).Contiguous(mctx)
	hs = hs.Cast(mctx, ml.DTypeF32)
	hs = hs.Scale(mctx, math.Sqrt(float64(plan.nEmbd)))
	if v.m.VisionModel.StdBias != nil && v.m.VisionModel.StdScale != nil {
		hs = hs.Sub(mctx, v.m.VisionModel.StdBias)
		hs = hs.Mul(mctx, v.m.VisionModel.StdScale)
	}
	hs = hs.RMSNorm(mctx, nil, plan.eps)
	out := v.m.MultiModalProjector.Projection.Forward(mctx, hs)

	mctx.Forward(out)
	if err := e.computeOn(v.sched, mctx, out, true); err != nil {
		if errors.Is(err, errStopped) && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if out.Dim(0) != plan.textEmbd || out.Dim(1) != im.tokens {
		return nil, fmt.Errorf("the vision encoder made %d×%d embeddings, want %d×%d", out.Dim(0), out.Dim(1), plan.textEmbd, im.tokens)
	}
	return append([]float32(nil), out.Floats()...), nil
}
