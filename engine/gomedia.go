package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"sync"

	"natter/engine/goengine"
	"natter/media"
	"natter/prompts"
)

// goVision is the Go engine's side of attachments: Gemma 4 images through
// the vision encoder of a gemma4v projector (goengine/vision.go) and audio
// through a gemma4a one (goengine/audio.go). As with mtmd, an attachment
// becomes its delimiter tokens and placeholders in the prompt; its
// embeddings are computed when a prefill first needs them and kept, so
// later turns with the same attachment reuse the cache or, after a change
// earlier in the chat, at least skip the encoder.
type goVision struct {
	marker        string
	vision, audio bool // which encoders are loaded
	// The delimiters around an image's or a clip's embeddings (Gemma 4's
	// "<|image>"/"<image|>", "<|audio>"/"<audio|>"); nil when the
	// vocabulary lacks them.
	imgBegin, imgEnd, audBegin, audEnd []Token

	mu    sync.Mutex
	items map[string]*goImage
	order []string
}

// goProjectorArch reports the architectures whose projectors the Go engine
// reads: Gemma 4's (gemma4v, gemma4a) and Qwen3.5's (qwen3vl_merger).
func goProjectorArch(arch string) bool { return arch == "gemma4" || qwenVisionArch(arch) }

func qwenVisionArch(arch string) bool { return arch == "qwen35" || arch == "qwen35moe" }

// goImage is one attachment, an image or a clip, prepared for its encoder;
// rows are its embeddings once encoded (the prepared input is dropped then).
type goImage struct {
	name  string
	mu    sync.Mutex
	im    *goengine.Image
	cim   *clipImage // Qwen3.5's (goclip.go)
	grid  [2]int     // its M-RoPE grid
	clip  *goengine.AudioClip
	n     int
	rows  []float32
	audio bool // a clip (its delimiters are the audio ones)
	// causal: the text model reads it causally (audio always; images as
	// the engine decides).
	causal bool
}

// newGoVision readies attachments for g; qwen: images go through
// Qwen3.5's projector (GoEngine.clip).
func newGoVision(g *goengine.Engine, qwen bool) *goVision {
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	v := &goVision{marker: "<__media_" + hex.EncodeToString(nonce[:]) + "__>", items: map[string]*goImage{},
		vision: g.Vision() || qwen, audio: g.Audio()}
	vocab := g.Vocabulary()
	begin, end := "<|image>", "<image|>"
	if qwen {
		begin, end = "<|vision_start|>", "<|vision_end|>"
	}
	for id, t := range vocab.Values {
		switch t {
		case begin:
			v.imgBegin = []Token{Token(id)}
		case end:
			v.imgEnd = []Token{Token(id)}
		case "<|audio>":
			v.audBegin = []Token{Token(id)}
		case "<audio|>":
			v.audEnd = []Token{Token(id)}
		}
	}
	return v
}

func (v *goVision) markerText() string {
	if v == nil {
		return ""
	}
	return v.marker
}

// mediaParts prepares attachment a (once per content) and returns its
// tokens: the delimiters and the image's placeholders.
func (e *GoEngine) mediaParts(a prompts.Attachment) ([]mediaPart, error) {
	v := e.vision
	if err := mediaCheck(a, v != nil, v != nil && v.vision, v != nil && v.audio, ""); err != nil {
		return nil, err
	}
	key := a.Sum()
	v.mu.Lock()
	it := v.items[key]
	v.mu.Unlock()
	if it == nil {
		var err error
		if it, err = e.prepare(a); err != nil {
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		v.mu.Lock()
		if old := v.items[key]; old != nil {
			it.drop() // prepared meanwhile by another prompt: keep that one
			it = old
		} else {
			v.items[key] = it
			v.order = append(v.order, key)
		}
		v.mu.Unlock()
	}
	begin, end := v.imgBegin, v.imgEnd
	if it.audio {
		begin, end = v.audBegin, v.audEnd
	}
	var parts []mediaPart
	if begin != nil {
		parts = append(parts, mediaPart{toks: begin})
	}
	parts = append(parts, mediaPart{img: it, n: it.n})
	if end != nil {
		parts = append(parts, mediaPart{toks: end})
	}
	return parts, nil
}

// prepare decodes attachment a and readies it for its encoder.
func (e *GoEngine) prepare(a prompts.Attachment) (*goImage, error) {
	if a.Kind == prompts.MediaAudio {
		au, err := media.DecodeAudio(a.Data, e.g.AudioRate(), media.AudioLimits{})
		if err != nil {
			return nil, err
		}
		clip, err := e.g.PrepareAudio(au.Samples)
		if err != nil {
			return nil, err
		}
		return &goImage{name: a.Name, clip: clip, n: clip.Tokens(), audio: true, causal: true}, nil
	}
	img, err := media.DecodeImage(a.Data, media.ImageLimits{})
	if err != nil {
		return nil, err
	}
	if e.clip != nil {
		if e.vision.imgBegin == nil || e.vision.imgEnd == nil {
			return nil, errors.New("the model's vocabulary lacks <|vision_start|> and <|vision_end|>, which its images need")
		}
		cim, err := e.clip.prepare(img)
		if err != nil {
			return nil, err
		}
		return &goImage{name: a.Name, cim: cim, grid: [2]int{cim.gx, cim.gy}, n: cim.tokens(), causal: true}, nil
	}
	im, err := e.g.PrepareImage(rgbaOf(img))
	if err != nil {
		return nil, err
	}
	return &goImage{name: a.Name, im: im, n: im.Tokens(), causal: e.g.ImageCausal()}, nil
}

// trim forgets the oldest images beyond the bound; only the generation
// calls it, after its prefill.
func (v *goVision) trim() {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for len(v.order) > mediaItems {
		v.items[v.order[0]].drop()
		delete(v.items, v.order[0])
		v.order = v.order[1:]
	}
}

// drop frees what the item holds outside Go's heap.
func (it *goImage) drop() {
	it.mu.Lock()
	defer it.mu.Unlock()
	it.cim.free()
	it.cim = nil
}

// free drops every item (the engine is closing).
func (v *goVision) free() {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, it := range v.items {
		it.drop()
	}
	v.items, v.order = map[string]*goImage{}, nil
}

// embed encodes the attachment once; the generation (holding the engine)
// calls it.
func (e *GoEngine) embed(ctx context.Context, it *goImage) ([]float32, error) {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.rows != nil {
		return it.rows, nil
	}
	var rows []float32
	var err error
	switch {
	case it.audio:
		rows, err = e.g.EncodeAudio(ctx, it.clip)
	case it.cim != nil:
		rows, err = e.clip.encode(ctx, it.cim)
	default:
		rows, err = e.g.EncodeImage(ctx, it.im)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s: %w", it.name, err)
	}
	it.cim.free()
	it.rows, it.im, it.clip, it.cim = rows, nil, nil, nil
	return rows, nil
}

// spans are the prompt's attachments as the Go engine places them.
func (e *GoEngine) spans(ctx context.Context, ms []mediaSpan) []goengine.Span {
	var out []goengine.Span
	for _, m := range ms {
		it := m.img
		out = append(out, goengine.Span{Start: m.start, N: m.n, Causal: it.causal, Grid: it.grid, Embed: func() ([]float32, error) { return e.embed(ctx, it) }})
	}
	return out
}

// rgbaOf wraps natter's decoded RGB as an opaque image.RGBA.
func rgbaOf(img *media.Image) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, img.W, img.H))
	for i, j := 0, 0; i+2 < len(img.RGB); i, j = i+3, j+4 {
		out.Pix[j], out.Pix[j+1], out.Pix[j+2], out.Pix[j+3] = img.RGB[i], img.RGB[i+1], img.RGB[i+2], 255
	}
	return out
}
