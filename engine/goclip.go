package engine

/*
#include <stdbool.h>
#include <stdlib.h>
#include "flag.h"

struct clip_ctx;
struct clip_image_f32_batch;

// In engine/mtmdlib/natter_clip.cpp.
struct clip_ctx *natter_clip_open(const char *path, int max_tokens);
void natter_clip_free(struct clip_ctx *c);
int natter_clip_n_mmproj_embd(struct clip_ctx *c);
bool natter_clip_prepare(struct clip_ctx *c, const unsigned char *rgb, int w, int h,
                         struct clip_image_f32_batch **out, int *gx, int *gy, int *n);
void natter_clip_batch_free(struct clip_image_f32_batch *b);
bool natter_clip_encode(struct clip_ctx *c, int threads, struct clip_image_f32_batch *b, float *out);
void natter_clip_set_abort(struct clip_ctx *c, bool (*cb)(void *), void *data);

// natter_goclip_abort_on gives the encoder an abort flag (flag.h).
static int *natter_goclip_abort_on(struct clip_ctx *c) {
	int *flag = calloc(1, sizeof(int));
	if (flag != NULL) {
		natter_clip_set_abort(c, natter_flag_cb, flag);
	}
	return flag;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"natter/engine/gguf"
	"natter/media"
)

// clipVision is a Qwen3-VL vision encoder (qwen3vl_merger, as Qwen3.5's
// projector is) run by the bundled llama.cpp's CLIP code for a model on the
// Go engine: Ollama's Qwen3-VL encoder reads tensors named and laid out as
// Ollama's converter writes them, not as Hugging Face's mmproj files have
// them, while llama.cpp's reads those files as they are. natter builds the
// graph itself (mtmdlib/mtmd_model_qwen3vl.cpp) where the bundled one
// differs from upstream's. The Go engine then places the embeddings with
// M-RoPE positions (goengine.Span.Grid).
type clipVision struct {
	mu      sync.Mutex
	c       *C.struct_clip_ctx
	flagMu  sync.Mutex // guards abort, which Close frees, for setAbort
	abort   *C.int     // set: the running encode stops between graph nodes
	path    string
	width   int // embedding width (the text model's)
	threads int
}

// clipImage is an image preprocessed for the encoder: gx×gy merged
// patches, one embedding each.
type clipImage struct {
	batch  *C.struct_clip_image_f32_batch
	gx, gy int
}

func (im *clipImage) tokens() int { return im.gx * im.gy }

func (im *clipImage) free() {
	if im != nil && im.batch != nil {
		C.natter_clip_batch_free(im.batch)
		im.batch = nil
	}
}

// openClipVision checks the projector with the pure-Go reader (clip.cpp
// aborts on some malformed files) and loads it for a text model of width
// textEmbd. Images are shrunk to at most maxTokens embeddings (the Go
// engine decodes an image in one batch).
func openClipVision(path string, textEmbd, threads, maxTokens int) (*clipVision, error) {
	p, err := gguf.OpenProjector(path)
	if err != nil {
		return nil, err
	}
	if p.VisionType != "qwen3vl_merger" {
		return nil, fmt.Errorf("%s: the Go engine reads Qwen3-VL projectors (qwen3vl_merger) for qwen35 models; this is a %s projector", path, p.ProjectorType)
	}
	if err := gguf.CheckProjector(p, textEmbd); err != nil {
		return nil, err
	}
	if p.ProjDim != textEmbd {
		return nil, fmt.Errorf("%s: the projector has deepstack layers (%d values per embedding for a %d-wide model), which natter does not feed to Qwen3.5 yet", path, p.ProjDim, textEmbd)
	}
	setMtmdLog()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	c := C.natter_clip_open(cpath, C.int(maxTokens))
	if c == nil {
		return nil, fmt.Errorf("%s: llama.cpp could not load this projector (see the log)", path)
	}
	if n := int(C.natter_clip_n_mmproj_embd(c)); n != textEmbd {
		C.natter_clip_free(c)
		return nil, fmt.Errorf("%s: the projector makes %d-wide embeddings, the model takes %d", path, n, textEmbd)
	}
	abort := C.natter_goclip_abort_on(c)
	if abort == nil {
		C.natter_clip_free(c)
		return nil, errors.New("out of memory")
	}
	return &clipVision{c: c, abort: abort, path: path, width: textEmbd, threads: max(threads, 1)}, nil
}

func (v *clipVision) Close() {
	if v == nil {
		return
	}
	v.setAbort(true) // an encode under way ends rather than hold the lock
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.c != nil {
		C.natter_clip_free(v.c)
		v.c = nil
		v.flagMu.Lock()
		C.free(unsafe.Pointer(v.abort))
		v.abort = nil
		v.flagMu.Unlock()
	}
}

func (v *clipVision) setAbort(on bool) {
	v.flagMu.Lock()
	defer v.flagMu.Unlock()
	if v.abort != nil {
		n := C.int(0)
		if on {
			n = 1
		}
		C.natter_flag_set(v.abort, n)
	}
}

// prepare sizes and normalises img as the encoder's preprocessor does
// (multiples of 32 pixels within its token limits).
func (v *clipVision) prepare(img *media.Image) (*clipImage, error) {
	if img.W < 1 || img.H < 1 || len(img.RGB) != 3*img.W*img.H {
		return nil, errors.New("the image is empty")
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.c == nil {
		return nil, errors.New("the projector is closed")
	}
	var batch *C.struct_clip_image_f32_batch
	var gx, gy, n C.int
	if !bool(C.natter_clip_prepare(v.c, (*C.uchar)(unsafe.Pointer(&img.RGB[0])), C.int(img.W), C.int(img.H), &batch, &gx, &gy, &n)) {
		return nil, errors.New("llama.cpp could not preprocess the image")
	}
	im := &clipImage{batch: batch, gx: int(gx), gy: int(gy)}
	if int(n) != im.tokens() || n < 1 {
		im.free()
		return nil, fmt.Errorf("the encoder counts %d embeddings for a %d×%d grid", int(n), im.gx, im.gy)
	}
	return im, nil
}

// encode runs the encoder on im: tokens() rows of width floats. It stops
// early, with ctx's error, when ctx ends.
func (v *clipVision) encode(ctx context.Context, im *clipImage) ([]float32, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.c == nil {
		return nil, errors.New("the projector is closed")
	}
	out := make([]float32, im.tokens()*v.width)
	stop := watchFlag(ctx, v.setAbort)
	ok := bool(C.natter_clip_encode(v.c, C.int(v.threads), im.batch, (*C.float)(unsafe.Pointer(&out[0]))))
	stop()
	if !ok {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errors.New("llama.cpp could not encode the image")
	}
	return out, nil
}
