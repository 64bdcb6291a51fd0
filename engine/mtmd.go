package engine

/*
#include <stdlib.h>
#include <string.h>
#include "llama.h"
#include "mtmd.h"
#include "flag.h"

extern void natterLog(int level, char *text, void *user_data);

static void natter_mtmd_log_cb(enum ggml_log_level level, const char *text, void *ud) {
	natterLog((int)level, (char *)text, ud);
}
static void natter_mtmd_set_log(void) { mtmd_log_set(natter_mtmd_log_cb, NULL); }

// In engine/mtmdlib: the encoders of a context, and their abort callback.
struct clip_ctx;
struct clip_ctx *natter_mtmd_clip(mtmd_context *c, bool audio);
void natter_clip_set_abort(struct clip_ctx *c, bool (*cb)(void *), void *data);
void natter_clip_set_flash_attn(struct clip_ctx *c, int type);
static void natter_mtmd_flash_attn(mtmd_context *c, int type) {
	natter_clip_set_flash_attn(natter_mtmd_clip(c, false), type);
	natter_clip_set_flash_attn(natter_mtmd_clip(c, true), type);
}

// natter_mtmd_abort_on has the encoders read the text context's abort flag
// (llama.go), so the request that stops a decode also stops an encode.
static void natter_mtmd_abort_on(mtmd_context *c, int *flag) {
	natter_clip_set_abort(natter_mtmd_clip(c, false), natter_flag_cb, flag);
	natter_clip_set_abort(natter_mtmd_clip(c, true), natter_flag_cb, flag);
}

// natter_embd_batch fills batch rows [0, n) from embd (n rows of n_embd
// floats) at positions pos.., none asking for logits.
static void natter_embd_batch(struct llama_batch *b, const float *embd, int n, int n_embd, llama_pos pos) {
	memcpy(b->embd, embd, (size_t)n * (size_t)n_embd * sizeof(float));
	for (int i = 0; i < n; i++) {
		b->pos[i] = pos + i;
		b->n_seq_id[i] = 1;
		b->seq_id[i][0] = 0;
		b->logits[i] = 0;
	}
	b->n_tokens = n;
}

// natter_embd_batch_grid is natter_embd_batch for M-RoPE: rows [0, n) are
// image embeddings first..first+n of a grid nx wide whose positions start
// at pos0, written to mpos (4*n: time, row, column, 0) in place of b->pos.
static void natter_embd_batch_grid(struct llama_batch *b, const float *embd, int n, int n_embd, llama_pos pos0, int first, int nx, llama_pos *mpos) {
	natter_embd_batch(b, embd, n, n_embd, pos0);
	for (int i = 0; i < n; i++) {
		int k = first + i;
		mpos[i] = pos0;
		mpos[n + i] = pos0 + k / nx;
		mpos[2 * n + i] = pos0 + k % nx;
		mpos[3 * n + i] = 0;
	}
	b->pos = mpos;
}
*/
import "C"

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"unsafe"

	_ "natter/engine/mtmdlib" // links llama.cpp's tools/mtmd

	"natter/engine/gguf"
	"natter/media"
	"natter/prompts"
)

// projector is a loaded multimodal projector (an mmproj file): the encoder
// that turns an image or a clip of audio into embeddings the text model
// reads in place of tokens.
type projector struct {
	c         *C.mtmd_context
	path      string
	vision    bool
	audio     bool
	nonCausal bool // the model attends both ways within an image (Gemma 3)
	mrope     bool // images take M-RoPE positions (Qwen2-VL and kin; mrope.go)
	rate      int  // audio sample rate the encoder wants
	nEmbd     int
	abort     *C.int // stops an encode when set (abortOn)
	// marker stands for an attachment in the rendered prompt; it carries a
	// random part so no text a user types can be taken for one.
	marker string

	mu    sync.Mutex // mtmd's context is not safe for concurrent use
	items map[string]*mediaItem
	order []string // items, oldest first, to bound the memory they hold
}

// mediaItems bounds how many tokenized attachments a projector keeps.
const mediaItems = 16

// mediaItem is one attachment after mtmd's preprocessing: the text tokens
// mtmd wraps it in (e.g. <start_of_image>) and its media chunks.
type mediaItem struct {
	chunks *C.mtmd_input_chunks
	parts  []mediaPart
}

// mediaPart is either text tokens or one media chunk of n positions: an
// mtmd chunk (llama.cpp) or an image for the Go engine (gomedia.go).
type mediaPart struct {
	toks  []Token
	chunk *C.mtmd_input_chunk
	img   *goImage
	n     int
}

func (p mediaPart) isMedia() bool { return p.chunk != nil || p.img != nil }

// mediaSpan places a media chunk in a prompt's tokens: positions
// [start, start+n) hold placeholder tokens (negative ids derived from the
// attachment's hash, so prefix reuse across turns keeps an image that did
// not change and never mistakes another for it).
type mediaSpan struct {
	start, n int
	chunk    *C.mtmd_input_chunk
	img      *goImage
}

// grid is an image chunk's grid of embeddings (columns, rows) for M-RoPE;
// 0, 0 for other chunks.
func (ms mediaSpan) grid() (nx, ny int) {
	if ms.chunk == nil || C.mtmd_input_chunk_get_type(ms.chunk) != C.MTMD_INPUT_CHUNK_TYPE_IMAGE {
		return 0, 0
	}
	it := C.mtmd_input_chunk_get_tokens_image(ms.chunk)
	return int(C.mtmd_image_tokens_get_nx(it)), int(C.mtmd_image_tokens_get_ny(it))
}

// setMtmdLog routes llama.cpp's multimodal log (mtmd and clip) to natter's.
func setMtmdLog() { C.natter_mtmd_set_log() }

// loadProjector checks path with the pure-Go reader (llama.cpp's clip code
// aborts the process on some malformed files) and loads it for m.
func loadProjector(path string, m *model, threads int, flashAttn string, imageTokens int) (*projector, error) {
	p, err := gguf.OpenProjector(path)
	if err != nil {
		return nil, err
	}
	for _, typ := range []string{p.VisionType, p.AudioType} {
		if slices.Contains(gguf.GoProjectorTypes, typ) {
			return nil, fmt.Errorf("%s: a %s projector is for Gemma 4 models (run by the Go engine), not for this one", path, typ)
		}
	}
	// The width of the embeddings the model reads (mtmd compares this one;
	// it differs from n_embd for deepstack models such as Qwen3-VL).
	nEmbd := int(C.llama_model_n_embd_inp(m.c))
	if err := gguf.CheckProjector(p, nEmbd); err != nil {
		return nil, err
	}
	setMtmdLog()
	cp := C.mtmd_context_params_default()
	cp.use_gpu = false
	cp.print_timings = false
	cp.warmup = false
	cp.n_threads = C.int(threads)
	if imageTokens > 0 {
		// For projectors that size images (Qwen-VL, Pixtral, …); fixed-size
		// ones (Gemma 3) keep theirs.
		cp.image_max_tokens = C.int(imageTokens)
	}
	// The encoder runs one batch of a few hundred patches: like a prompt,
	// it is slower with the bundled CPU flash-attention kernel (see
	// flashAttnAutoCtx), so auto leaves it off.
	fa := 0 // CLIP_FLASH_ATTN_TYPE_DISABLED
	if flashAttn == "on" {
		fa = 1 // CLIP_FLASH_ATTN_TYPE_ENABLED
	}
	cp.flash_attn_type = C.enum_llama_flash_attn_type(fa)
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	marker := "<__media_" + hex.EncodeToString(nonce[:]) + "__>"
	cm := C.CString(marker)
	defer C.free(unsafe.Pointer(cm))
	cp.media_marker = cm
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	c := C.mtmd_init_from_file(cpath, m.c, cp)
	if c == nil {
		return nil, fmt.Errorf("%s: llama.cpp could not load this projector (see the log)", path)
	}
	// mtmd_init_from_file hands the encoders "auto" whatever cp says; the
	// choice is theirs until the first encode (warmup is off).
	C.natter_mtmd_flash_attn(c, C.int(fa))
	pr := &projector{c: c, path: path, marker: marker, nEmbd: nEmbd, items: map[string]*mediaItem{},
		vision: bool(C.mtmd_support_vision(c)), audio: bool(C.mtmd_support_audio(c)),
		nonCausal: bool(C.mtmd_decode_use_non_causal(c))}
	if pr.audio {
		pr.rate = int(C.mtmd_get_audio_bitrate(c))
	}
	// M-RoPE (Qwen2-VL and kin) places image tokens on a 2-D grid of
	// positions (mrope.go).
	pr.mrope = bool(C.mtmd_decode_use_mrope(c))
	return pr, nil
}

func (p *projector) Close() {
	if p == nil || p.c == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, it := range p.items {
		C.mtmd_input_chunks_free(it.chunks)
	}
	p.items, p.order = nil, nil
	C.mtmd_free(p.c)
	p.c = nil
}

// markerText is the marker for attachments, "" without a projector.
func (p *projector) markerText() string {
	if p == nil {
		return ""
	}
	return p.marker
}

// errNoMedia is the error for attachments to a backend that takes none.
var errNoMedia = errors.New("this backend takes no images or audio")

// can reports an error when the projector cannot take an attachment.
func (p *projector) can(a prompts.Attachment) error {
	if p == nil {
		return mediaCheck(a, false, false, false, "")
	}
	// Audio beside M-RoPE images (Qwen2.5-Omni) takes positions of its
	// own that natter does not place yet.
	return mediaCheck(a, true, p.vision, p.audio && !p.mrope, " (natter does not place audio in M-RoPE models yet)")
}

// mediaCheck reports why an attachment cannot go to a backend whose
// projector (loaded: there is one) takes images (vision) and audio;
// audioNote is added to the refusal of audio.
func mediaCheck(a prompts.Attachment, loaded, vision, audio bool, audioNote string) error {
	switch {
	case !loaded:
		return fmt.Errorf("%s: this model takes text only (no projector loaded; give one with --mmproj)", a.Name)
	case a.Kind == prompts.MediaImage && !vision:
		return fmt.Errorf("%s: this model's projector takes audio, not images", a.Name)
	case a.Kind == prompts.MediaAudio && !audio:
		return fmt.Errorf("%s: this model's projector takes images, not audio%s", a.Name, audioNote)
	case a.Kind != prompts.MediaImage && a.Kind != prompts.MediaAudio:
		return fmt.Errorf("%s: unknown attachment kind %q", a.Name, a.Kind)
	case len(a.Data) == 0:
		return fmt.Errorf("%s: the file's bytes are missing (a saved chat whose attachment is gone from the history store); attach it again", a.Name)
	}
	return nil
}

// item decodes and preprocesses an attachment once; later prompts with the
// same bytes reuse it.
func (p *projector) item(a prompts.Attachment) (*mediaItem, error) {
	if err := p.can(a); err != nil {
		return nil, err
	}
	key := a.Sum()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c == nil {
		return nil, ErrClosed
	}
	if it := p.items[key]; it != nil {
		return it, nil
	}
	var bm *C.mtmd_bitmap
	switch a.Kind {
	case prompts.MediaImage:
		img, err := media.DecodeImage(a.Data, media.ImageLimits{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		bm = C.mtmd_bitmap_init(C.uint32_t(img.W), C.uint32_t(img.H), (*C.uchar)(unsafe.Pointer(&img.RGB[0])))
	case prompts.MediaAudio:
		au, err := media.DecodeAudio(a.Data, p.rate, media.AudioLimits{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		bm = C.mtmd_bitmap_init_from_audio(C.size_t(len(au.Samples)), (*C.float)(unsafe.Pointer(&au.Samples[0])))
	}
	if bm == nil {
		return nil, fmt.Errorf("%s: llama.cpp could not take this %s", a.Name, a.Kind)
	}
	defer C.mtmd_bitmap_free(bm)
	ctext := C.CString(p.marker)
	defer C.free(unsafe.Pointer(ctext))
	in := C.mtmd_input_text{text: ctext, add_special: false, parse_special: true}
	chunks := C.mtmd_input_chunks_init()
	bms := []*C.mtmd_bitmap{bm}
	rc := C.mtmd_tokenize(p.c, chunks, &in, (**C.mtmd_bitmap)(unsafe.Pointer(&bms[0])), 1)
	if rc != 0 {
		C.mtmd_input_chunks_free(chunks)
		return nil, fmt.Errorf("%s: llama.cpp could not preprocess this %s (code %d)", a.Name, a.Kind, int(rc))
	}
	it := &mediaItem{chunks: chunks}
	for i := range int(C.mtmd_input_chunks_size(chunks)) {
		ch := C.mtmd_input_chunks_get(chunks, C.size_t(i))
		if C.mtmd_input_chunk_get_type(ch) == C.MTMD_INPUT_CHUNK_TYPE_TEXT {
			var n C.size_t
			ptr := C.mtmd_input_chunk_get_tokens_text(ch, &n)
			if n > 0 {
				toks := make([]Token, int(n))
				copy(toks, unsafe.Slice((*Token)(unsafe.Pointer(ptr)), int(n)))
				it.parts = append(it.parts, mediaPart{toks: toks})
			}
			continue
		}
		n := int(C.mtmd_input_chunk_get_n_tokens(ch))
		if int(C.mtmd_input_chunk_get_n_pos(ch)) != n && !(p.mrope && C.mtmd_input_chunk_get_type(ch) == C.MTMD_INPUT_CHUNK_TYPE_IMAGE) {
			C.mtmd_input_chunks_free(chunks)
			return nil, fmt.Errorf("%s: this projector places media tokens at other positions than one each, which natter does not support", a.Name)
		}
		it.parts = append(it.parts, mediaPart{chunk: ch, n: n})
	}
	p.items[key] = it
	p.order = append(p.order, key)
	return it, nil
}

// trim forgets the oldest items beyond the bound. Only the worker calls
// it, after a generation: a prompt being built elsewhere (RenderPrompt)
// keeps no chunk past its building, so nothing in use is freed.
func (p *projector) trim() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.order) > mediaItems {
		old := p.order[0]
		p.order = p.order[1:]
		if o := p.items[old]; o != nil {
			C.mtmd_input_chunks_free(o.chunks)
			delete(p.items, old)
		}
	}
}

// placeholders are the stand-in tokens of part i of the attachment with
// hash sha: negative, so never a real token, and the same for the same bytes.
func placeholders(sha string, part, n int) []Token {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", sha, part)
	base := h.Sum32()
	out := make([]Token, n)
	for j := range out {
		out[j] = -1 - Token((base+uint32(j))&0x3fffffff)
	}
	return out
}

// withMarkers returns msgs with each attachment's marker put before the
// text of its message, so the template places it.
func withMarkers(msgs []prompts.Message, marker string) ([]prompts.Message, []prompts.Attachment) {
	var atts []prompts.Attachment
	var out []prompts.Message
	for i, m := range msgs {
		if len(m.Media) == 0 {
			continue
		}
		if out == nil {
			out = append([]prompts.Message(nil), msgs...)
		}
		atts = append(atts, m.Media...)
		var b strings.Builder
		for range m.Media {
			b.WriteString(marker)
		}
		if m.Content != "" {
			b.WriteString("\n")
			b.WriteString(m.Content)
		}
		out[i].Content = b.String()
	}
	if out == nil {
		return msgs, nil
	}
	return out, atts
}

// tokenizeMedia tokenizes a rendered prompt that holds one marker per
// attachment, in order: text between markers as usual (message contents
// protected), each marker replaced by the attachment's tokens. shown is
// the text with each marker replaced by a label for people (/prompt).
func tokenizeMedia(env promptEnv, text string, spans []span, atts []prompts.Attachment) (toks []Token, ms []mediaSpan, shown string, err error) {
	var out []Token
	var label strings.Builder
	pos, k := 0, 0
	for {
		i := strings.Index(text[pos:], env.marker)
		end := len(text)
		if i >= 0 {
			end = pos + i
		}
		seg, err := env.chatSeg(text[pos:end], clipSpans(spans, pos, end), pos == 0)
		if err != nil {
			return nil, nil, "", err
		}
		out = append(out, seg...)
		label.WriteString(text[pos:end])
		if i < 0 {
			break
		}
		if k >= len(atts) {
			return nil, nil, "", errors.New("the chat template repeated an attachment's place; natter cannot tell where the media go")
		}
		parts, err := env.media(atts[k])
		if err != nil {
			return nil, nil, "", err
		}
		n := 0
		sha := atts[k].Sum()
		for j, p := range parts {
			if !p.isMedia() {
				out = append(out, p.toks...)
				continue
			}
			ms = append(ms, mediaSpan{start: len(out), n: p.n, chunk: p.chunk, img: p.img})
			out = append(out, placeholders(sha, j, p.n)...)
			n += p.n
		}
		fmt.Fprintf(&label, "[%s %s: %d tokens]", atts[k].Kind, atts[k].Name, n)
		k++
		pos = end + len(env.marker)
	}
	if k != len(atts) {
		return nil, nil, "", fmt.Errorf("the chat template left out %d of the %d attachments (it does not render that message's content)", len(atts)-k, len(atts))
	}
	if len(out) > 0 && out[len(out)-1] < 0 {
		return nil, nil, "", errors.New("the prompt ends in an attachment; nothing follows for the model to answer")
	}
	return out, ms, label.String(), nil
}

// clipSpans returns the parts of spans inside [start, end), shifted to
// start at 0.
func clipSpans(spans []span, start, end int) []span {
	var out []span
	for _, s := range spans {
		a, b := max(s.start, start), min(s.end, end)
		if a < b {
			out = append(out, span{a - start, b - start})
		}
	}
	return out
}

// abortOn has the encoders stop between graph nodes while flag (the text
// context's abort flag, which outlives the projector's use) is set.
func (p *projector) abortOn(flag *C.int) {
	p.abort = flag
	C.natter_mtmd_abort_on(p.c, flag)
}

// encode runs the encoder on a media chunk (p.mu held): its rows stay in
// the context until the next encode. A set abort flag stops it early.
func (p *projector) encode(ms mediaSpan) (*C.float, error) {
	if p.c == nil {
		return nil, ErrClosed
	}
	if rc := C.mtmd_encode_chunk(p.c, ms.chunk); rc != 0 {
		if p.abort != nil && C.natter_flag_get(p.abort) != 0 {
			return nil, errAborted
		}
		return nil, fmt.Errorf("llama.cpp could not encode the attachment (code %d)", int(rc))
	}
	embd := C.mtmd_get_output_embd(p.c)
	if embd == nil {
		return nil, errors.New("llama.cpp gave no embeddings for the attachment")
	}
	return embd, nil
}

// decodeMedia encodes a media chunk and feeds its embeddings to the text
// model at positions pos...
func (e *Engine) decodeMedia(ms mediaSpan, pos int) error {
	p := e.proj
	p.mu.Lock()
	defer p.mu.Unlock()
	embd, err := p.encode(ms)
	if err != nil {
		return err
	}
	if p.mrope {
		nx, ny := ms.grid()
		if nx*ny != ms.n {
			return fmt.Errorf("an M-RoPE attachment of %d positions is not a %d×%d image", ms.n, nx, ny)
		}
		return e.lc.decodeEmbdGrid(embd, ms.n, p.nEmbd, pos, nx)
	}
	return e.lc.decodeEmbd(embd, ms.n, p.nEmbd, pos, p.nonCausal)
}

// decodeEmbd feeds n rows of embeddings at positions pos... With nonCausal
// they attend to each other both ways, which needs them in one micro-batch.
func (lc *llamaContext) decodeEmbd(embd *C.float, n, nEmbd, pos int, nonCausal bool) error {
	if nonCausal && n > lc.nUbatch {
		return fmt.Errorf("the attachment takes %d positions, more than one batch holds (%d); raise --batch", n, lc.nUbatch)
	}
	lc.embdBatch(nEmbd)
	if nonCausal {
		C.llama_set_causal_attn(lc.c, false)
		defer C.llama_set_causal_attn(lc.c, true)
	}
	step := lc.nBatch
	if nonCausal {
		step = n
	}
	rows := unsafe.Slice((*C.float)(unsafe.Pointer(embd)), n*nEmbd)
	for start := 0; start < n; start += step {
		k := min(step, n-start)
		C.natter_embd_batch(&lc.embd, &rows[start*nEmbd], C.int(k), C.int(nEmbd), C.llama_pos(pos+start))
		if err := lc.decodeEmbdBatch(); err != nil {
			return err
		}
	}
	return nil
}

// embdBatch readies the embedding batch for rows of nEmbd floats.
func (lc *llamaContext) embdBatch(nEmbd int) {
	if lc.embd.embd == nil || lc.embdWidth != nEmbd {
		if lc.embd.embd != nil {
			C.llama_batch_free(lc.embd)
		}
		lc.embd = C.llama_batch_init(C.int32_t(lc.nBatch), C.int32_t(nEmbd), 1)
		lc.embdWidth = nEmbd
	}
}

// decodeEmbdBatch decodes the filled embedding batch.
func (lc *llamaContext) decodeEmbdBatch() error {
	switch rc := C.llama_decode(lc.c, lc.embd); rc {
	case 0:
		return nil
	case 2:
		return errAborted
	case 1:
		return errors.New("no room in the KV cache for the attachment")
	default:
		return fmt.Errorf("llama_decode failed on the attachment (%d)", int(rc))
	}
}

// decodeEmbdGrid feeds an image's n rows of embeddings, a grid nx wide,
// with M-RoPE positions from pos0, in batch-sized pieces (causal).
func (lc *llamaContext) decodeEmbdGrid(embd *C.float, n, nEmbd, pos0, nx int) error {
	lc.embdBatch(nEmbd)
	mpos := (*C.llama_pos)(C.malloc(C.size_t(4*lc.nBatch) * C.size_t(unsafe.Sizeof(C.llama_pos(0)))))
	if mpos == nil {
		return errors.New("out of memory for the image's positions")
	}
	defer C.free(unsafe.Pointer(mpos))
	own := lc.embd.pos
	defer func() { lc.embd.pos = own }()
	rows := unsafe.Slice((*C.float)(unsafe.Pointer(embd)), n*nEmbd)
	for start := 0; start < n; start += lc.nBatch {
		k := min(lc.nBatch, n-start)
		C.natter_embd_batch_grid(&lc.embd, &rows[start*nEmbd], C.int(k), C.int(nEmbd), C.llama_pos(pos0), C.int(start), C.int(nx), mpos)
		if err := lc.decodeEmbdBatch(); err != nil {
			return err
		}
	}
	return nil
}
