// Package goengine runs GGUF models through Ollama's Go model engine (the
// `model`, `ml`, `kvcache` and `tokenizer` packages of the
// github.com/ollama/ollama module, on the same ggml as the llama.cpp path).
// It exists for the architectures the vendored llama.cpp lacks (qwen35,
// qwen35moe, gemma4). This first slice runs text generation with prefix reuse
// and natter's own sampler; it is not yet wired into the commands.
package goengine

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/ollama/ollama/kvcache"
	"github.com/ollama/ollama/ml"
	"github.com/ollama/ollama/model"
	"github.com/ollama/ollama/model/input"
	_ "github.com/ollama/ollama/model/models" // registers the architectures
	"github.com/ollama/ollama/tokenizer"

	"natter/engine/ggmlamx"
	"natter/engine/ggmlops"
	"natter/engine/gguf"
)

// Options configure Load.
type Options struct {
	ModelPath string
	// ProjectorPath is a Gemma 4 projector (mmproj) for the model, with a
	// vision encoder (vision.go), an audio one (audio.go) or both; "" for
	// none.
	ProjectorPath string
	// ImageAttention is how image positions attend to each other: "" as
	// upstream llama.cpp does (causal for the widths of Gemma 4 E2B and
	// E4B, both ways otherwise), "causal" or "bidirectional".
	ImageAttention string
	// ImageTokens is the budget of embeddings per Gemma 4 image (0: 280,
	// Hugging Face's and Ollama's default).
	ImageTokens int
	// MRoPEImages readies a Qwen3.5 model for images given as spans with a
	// grid (mrope.go), their embeddings made by the caller.
	MRoPEImages bool
	// ProjectorCache is where a loadable copy of a projector goes when
	// Ollama's loader cannot open the file itself (projcopy.go); "" is
	// the user's cache folder (natter/projectors).
	ProjectorCache string
	ContextSize    int // tokens; 0 = min(4096, trained context)
	BatchSize      int // 0 = 512
	Threads        int // 0 = ggml's default
	// Progress is called while the weights load (0..1).
	Progress func(float32)
	// NoSnapshots turns off the turn snapshots of hybrid models (to
	// measure what they save).
	NoSnapshots bool

	// FlashAttention computes attention with ggml's flash-attention
	// kernel. Upstream llama.cpp's default (auto) enables it on CPU, and
	// its greedy output on the test models of issue 10 is matched exactly
	// only with it on: the two attention paths round differently, which
	// flips near-tied tokens (measured: upstream's own output changes the
	// same way when it is forced off).
	FlashAttention bool

	// GenericKernels keeps the weights where Ollama loads them, off the
	// AMX kernels (amx.go); tests compare those against it.
	GenericKernels bool
	// OllamaDeltaNet keeps Ollama's own Gated DeltaNet steps instead of
	// the fused one (deltanet.go); tests compare the two.
	OllamaDeltaNet bool
}

// Engine is a loaded model. It is not safe for concurrent use: the caller
// (natter's engine front) serialises requests on one goroutine.
type Engine struct {
	m      model.Model
	tok    tokenizer.Tokenizer
	cache  kvcache.Cache
	nCtx   int
	nBatch int
	cached []int32 // tokens whose state is in the cache, in order
	closed bool

	amx         *ggmlamx.Moved // weights moved to the AMX kernels (amx.go)
	fusedLayers int            // Gated DeltaNet layers on the fused step (deltanet.go)

	snapshotsOn bool       // hybrid cache set up with spare sequences
	snaps       []snapshot // states at the ends of recent prompts
	tick        uint64

	cancel   *ggmlops.Cancel // stops a prompt batch's graph (cancel.go); nil: between batches only
	sched    schedHandle
	watching bool // a watch (cancel.go) is set

	vision   *visionState   // nil without a vision projector (vision.go)
	projCopy *ProjectorCopy // the projector copy opened, if any (projcopy.go)
	audio    *audioState    // nil without an audio projector (audio.go)
	// mrope: the model takes image spans with a grid (mrope.go), rows of
	// mropeWidth floats.
	mrope      bool
	mropeWidth int
	// mropeMapped: the model's time map holds an image (mrope.go).
	mropeMapped bool
}

// Load validates the file with natter's pure-Go GGUF reader (Ollama's loader
// trusts its input), then loads it into Ollama's engine.
func Load(opts Options) (e *Engine, err error) {
	f, err := gguf.Open(opts.ModelPath)
	if err != nil {
		return nil, err
	}
	if opts.ContextSize < 0 || opts.BatchSize < 0 || opts.Threads < 0 {
		return nil, errors.New("context size, batch size and threads must not be negative")
	}
	// Ollama's backend panics on allocation failures; turn any panic during
	// load into an error so a bad file never takes natter down.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: the Go engine could not load the model: %v", opts.ModelPath, r)
			if e != nil {
				e.Close()
				e = nil
			}
		}
	}()
	m, err := newModel(opts.ModelPath, opts.ProjectorPath, opts.ProjectorCache, f, ml.BackendParams{AllocMemory: true, NumThreads: opts.Threads, FlashAttention: flashAttention(opts.FlashAttention)})
	if err != nil {
		var pe projectorError
		if errors.Is(err, ErrLayout) || errors.As(err, &pe) {
			return nil, err // already names the file
		}
		return nil, fmt.Errorf("%s: %w", opts.ModelPath, err)
	}
	tok, ok := m.(tokenizer.Tokenizer)
	if !ok {
		m.Backend().Close()
		return nil, fmt.Errorf("%s: the Go engine has no tokenizer for architecture %q", opts.ModelPath, f.Arch())
	}
	e = &Engine{m: m, tok: tok, cache: m.Config().Cache, nCtx: opts.ContextSize, nBatch: opts.BatchSize}
	if e.nCtx == 0 {
		e.nCtx = 4096
		if t := int(f.ContextLength()); t > 0 && t < e.nCtx {
			e.nCtx = t
		}
	}
	if e.nBatch == 0 {
		e.nBatch = 512
	}
	e.nBatch = min(e.nBatch, e.nCtx, maxBatch(f.Arch()))
	if e.cache != nil {
		if _, ok := e.cache.(kvcache.CheckpointCache); ok && !opts.NoSnapshots {
			// Spare sequences for turn snapshots (snapshot.go); the
			// attention cells are shared, so twice the context is ample.
			e.snapshotsOn = true
			e.cache.Init(m.Backend(), ml.DTypeF16, snapSeqs, (2*e.nCtx+snapSeqs-1)/snapSeqs, e.nBatch)
		} else {
			e.cache.Init(m.Backend(), ml.DTypeF16, 1, e.nCtx, e.nBatch)
		}
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(float32) {}
	}
	if err := m.Backend().Load(context.Background(), progress); err != nil {
		e.Close()
		return nil, fmt.Errorf("%s: %w", opts.ModelPath, err)
	}
	lb, _ := m.Backend().(*layoutBackend)
	if lb != nil && lb.proj != nil {
		if err := lb.proj.Load(context.Background(), func(float32) {}); err != nil {
			e.Close()
			return nil, fmt.Errorf("%s: %w", opts.ProjectorPath, err)
		}
	}
	if !opts.GenericKernels {
		e.amx = moveLinearWeights(m)
	}
	if !opts.OllamaDeltaNet {
		e.fusedLayers = installFusedDeltaNet(m)
	}
	e.setupCancel(m.Backend())
	if lb != nil {
		e.projCopy = lb.projCopy
	}
	if err := e.setupProjector(lb, opts.ImageAttention, opts.ImageTokens); err != nil {
		e.Close()
		return nil, err
	}
	if opts.MRoPEImages {
		w, _ := f.Uint(f.Arch() + ".embedding_length")
		if e.mropeWidth, e.mrope = enableMRoPE(m, int(w)); !e.mrope {
			e.Close()
			return nil, fmt.Errorf("%s: images with M-RoPE positions are for qwen35 models, not %s", opts.ModelPath, f.Arch())
		}
	}
	return e, nil
}

func flashAttention(on bool) ml.FlashAttentionType {
	if on {
		return ml.FlashAttentionEnabled
	}
	return ml.FlashAttentionDisabled
}

// Close frees the cache and the model. It is safe to call more than once.
func (e *Engine) Close() error {
	if e == nil || e.closed {
		return nil
	}
	e.closed = true
	if e.cache != nil {
		e.cache.Close()
	}
	e.m.Backend().Close()
	e.amx.Free() // after the model: its tensors point into this buffer
	e.cancel.Free()
	return nil
}

// FusedDeltaNetLayers is how many Gated DeltaNet layers take the fused
// single-token step.
func (e *Engine) FusedDeltaNetLayers() int { return e.fusedLayers }

// AMXWeights is how many weights run on the AMX kernels.
func (e *Engine) AMXWeights() int { return e.amx.Count() }

// ContextSize is the number of tokens the cache holds.
func (e *Engine) ContextSize() int { return e.nCtx }

// Tokenize encodes text (control-token text is parsed, as Ollama does) with
// the model's BOS when addSpecial is set.
func (e *Engine) Tokenize(text string, addSpecial bool) ([]int32, error) {
	return e.tok.Encode(text, addSpecial)
}

// Piece is the text of one token.
func (e *Engine) Piece(t int32) (string, error) { return e.tok.Decode([]int32{t}) }

// IsEOS reports an end-of-generation token.
func (e *Engine) IsEOS(t int32) bool { return e.tok.Is(t, tokenizer.SpecialEOS) }

// maxBatch bounds a prompt batch where Ollama's graph for it would outgrow
// the backend's fixed node pool (32 per tensor): Qwen3.5's chunked Gated
// DeltaNet adds nodes for every 64 tokens, and a 2,048-token batch aborts
// the whole process in ggml_new_object. Half of that leaves room for the
// bigger real models, whose node budget grows with their tensors too.
// BatchSize is the most tokens one forward pass decodes.
func (e *Engine) BatchSize() int { return e.nBatch }

func maxBatch(arch string) int {
	switch arch {
	case "qwen35", "qwen35moe", "qwen3next":
		return 1024
	}
	return 1 << 30
}

// CachedTokens is how many prompt tokens the last Prefill reused.
func (e *Engine) CachedTokens() []int32 { return append([]int32(nil), e.cached...) }

// Prefill makes the cache hold exactly toks and returns the logits after the
// last one and how many tokens were reused from the cache. Recurrent models
// restore from a checkpoint or start over, as the cache allows.
//
// When ctx ends, Prefill returns its error: the batch being computed stops
// within its graph (cancel.go) and leaves nothing in the cache, the batches
// before it stay cached (on a hybrid model, none do: the next Prefill goes
// back to a snapshot or starts over).
func (e *Engine) Prefill(ctx context.Context, toks []int32) (logits []float32, reused int, err error) {
	return e.PrefillMedia(ctx, toks, nil)
}

// Span places embeddings in a prompt: positions [Start, Start+N) of its
// tokens hold placeholders (negative ids, the same for the same media, so
// prefix reuse keeps it) whose embeddings Embed gives, N rows of
// EmbedWidth() floats. Embed is called only when the span is not in the
// cache already, and may be called more than once. Causal spans (audio,
// and images where ImageCausal) are read causally, others both ways.
type Span struct {
	Start, N int
	Causal   bool
	// Grid, for M-RoPE models (Qwen3.5 with images, see mrope.go), is the
	// image's grid of embeddings, columns by rows (Grid[0]*Grid[1] == N);
	// the span sits between one delimiter token before it and one after.
	Grid  [2]int
	Embed func() ([]float32, error)
}

// PrefillMedia is Prefill for a prompt holding media spans, in order. A
// span is decoded whole or not at all, in a batch that ends with it; a
// causal span longer than a batch is decoded in batch-sized pieces, each
// ending its batch.
func (e *Engine) PrefillMedia(ctx context.Context, toks []int32, spans []Span) (logits []float32, reused int, err error) {
	if len(toks) == 0 {
		return nil, 0, errors.New("empty prompt")
	}
	if len(toks) >= e.nCtx {
		return nil, 0, fmt.Errorf("the prompt is %d tokens but the context holds %d", len(toks), e.nCtx)
	}
	last := 0
	for _, sp := range spans {
		switch {
		case sp.N < 1 || sp.Start < last || sp.Start+sp.N >= len(toks) || sp.Embed == nil:
			return nil, 0, fmt.Errorf("media span [%d, %d) does not fit a %d-token prompt in order", sp.Start, sp.Start+sp.N, len(toks))
		case sp.Grid != [2]int{} && (sp.Grid[0]*sp.Grid[1] != sp.N || sp.Start < 1 || !e.mrope):
			return nil, 0, fmt.Errorf("media span [%d, %d) with a %d×%d grid does not fit this model", sp.Start, sp.Start+sp.N, sp.Grid[0], sp.Grid[1])
		case sp.N > e.nBatch && (!sp.Causal || sp.Grid != [2]int{}):
			return nil, 0, fmt.Errorf("an attachment takes %d positions, more than one batch holds (%d); raise --batch", sp.N, e.nBatch)
		}
		last = sp.Start + sp.N
	}
	defer e.watch(ctx)()
	if err := e.setMRoPE(toks, spans); err != nil {
		return nil, 0, err
	}
	logits, reused, err = e.prefill(ctx, toks, spans)
	if errors.Is(err, errCacheFull) && len(e.snaps) > 0 {
		// Old snapshots hold cells the prompt needs: free them, read again.
		e.dropSnapshots()
		logits, reused, err = e.prefill(ctx, toks, spans)
	}
	if err == nil {
		e.takeSnapshot(logits)
	}
	return logits, reused, err
}

func (e *Engine) prefill(ctx context.Context, toks []int32, spans []Span) (logits []float32, reused int, err error) {
	n := 0
	for n < len(e.cached) && n < len(toks) && e.cached[n] == toks[n] {
		n++
	}
	if n == len(toks) {
		n-- // the last token is decoded again for its logits
	}
	for _, sp := range spans {
		if sp.Start < n && n < sp.Start+sp.N {
			n = sp.Start // media are decoded whole
		}
	}
	// A hybrid cache cannot drop its tail: go back to the snapshot that
	// covers most of the prompt instead of reading it all again.
	if e.recurrent() && (n < len(e.cached) || n == 0) {
		if s := e.bestSnapshot(toks); s != nil {
			e.restore(s)
			if len(s.toks) == len(toks) {
				return append([]float32(nil), s.logits...), len(toks), nil
			}
			n = len(s.toks)
		}
	}
	if e.cache != nil && n > 0 && n < len(e.cached) {
		if cc, ok := e.cache.(kvcache.CheckpointCache); ok {
			if r, ok := cc.PrepareRestore(0, int32(n)); ok {
				n = int(r)
			} else {
				n = 0
			}
		} else if !e.cache.CanResume(0, int32(n)) {
			n = 0
		}
	}
	if err := e.truncate(n); err != nil {
		return nil, 0, err
	}
	n = len(e.cached)
	for i := n; i < len(toks); {
		if err := ctx.Err(); err != nil {
			return nil, n, err
		}
		end := min(i+e.nBatch, len(toks))
		var embeds []batchEmbed
		for _, sp := range spans {
			if sp.Start+sp.N <= i || sp.Start >= end {
				continue
			}
			if sp.Causal && sp.N > e.nBatch && sp.Grid == [2]int{} {
				// Text before it goes first; then a piece per batch.
				if sp.Start > i {
					end = sp.Start
					break
				}
				rows, err := sp.Embed()
				if err != nil {
					return nil, n, err
				}
				w := e.EmbedWidth()
				if len(rows) != sp.N*w {
					return nil, n, fmt.Errorf("an attachment gave %d values, want %d×%d", len(rows), sp.N, w)
				}
				end = min(sp.Start+sp.N, i+e.nBatch)
				embeds = append(embeds, batchEmbed{index: 0, n: end - i, rows: rows[(i-sp.Start)*w : (end-sp.Start)*w], causal: true})
				break
			}
			// The first span in the batch ends it: whole, or in the next
			// batch when it does not fit in this one.
			if sp.Start+sp.N > end {
				end = sp.Start
				break
			}
			end = sp.Start + sp.N
			rows, err := sp.Embed()
			if err != nil {
				return nil, n, err
			}
			if len(rows) != sp.N*e.EmbedWidth() {
				return nil, n, fmt.Errorf("an attachment gave %d values, want %d×%d", len(rows), sp.N, e.EmbedWidth())
			}
			embeds = append(embeds, batchEmbed{index: sp.Start - i, n: sp.N, rows: rows, causal: sp.Causal, grid: sp.Grid})
			break
		}
		if logits, err = e.forward(toks[i:end], i, true, embeds...); err != nil {
			if errors.Is(err, errStopped) && ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, n, err
		}
		i = end
	}
	return logits, n, nil
}

// batchEmbed is a media span within a batch: n rows of embeddings from
// batch index index.
type batchEmbed struct {
	index, n int
	rows     []float32
	causal   bool   // the span attends causally (see forward)
	grid     [2]int // M-RoPE grid (Span.Grid)
}

// Decode feeds one sampled token and returns the next logits.
func (e *Engine) Decode(tok int32) ([]float32, error) {
	if len(e.cached) >= e.nCtx {
		return nil, errors.New("the context window is full")
	}
	logits, err := e.forward([]int32{tok}, len(e.cached), false)
	if errors.Is(err, errCacheFull) && len(e.snaps) > 0 {
		e.dropSnapshots()
		logits, err = e.forward([]int32{tok}, len(e.cached), false)
	}
	return logits, err
}

// Feed appends toks after the cached ones (text the caller inserts into a
// reply) and returns the logits after the last.
func (e *Engine) Feed(toks []int32) ([]float32, error) {
	if len(e.cached)+len(toks) >= e.nCtx {
		return nil, errors.New("the context window is full")
	}
	return e.forward(toks, len(e.cached), false)
}

func (e *Engine) truncate(n int) error {
	if n >= len(e.cached) {
		return nil
	}
	if e.cache != nil {
		if err := e.cache.Remove(0, int32(n), math.MaxInt32); err != nil {
			if n == 0 {
				return err
			}
			if err := e.cache.Remove(0, 0, math.MaxInt32); err != nil {
				return err
			}
			n = 0
		}
	}
	e.cached = e.cached[:n]
	return nil
}

// forward runs one batch at position pos (the number of cached tokens) and
// returns the logits of its last token; with cancellable, the cancel flag
// may stop its graph (errStopped). After any failure but a full cache the
// batch is discarded from the cache; a panic inside Ollama's code becomes an
// error.
func (e *Engine) forward(toks []int32, pos int, cancellable bool, embeds ...batchEmbed) (logits []float32, err error) {
	written := true // the cache may hold part of the batch
	defer func() {
		if r := recover(); r != nil {
			resetSched(e.sched)
			err = fmt.Errorf("the Go engine failed: %v", r)
		}
		if err != nil && written {
			e.discard(pos)
		}
	}()
	mctx := e.m.Backend().NewContext()
	defer mctx.Close()
	b := input.Batch{Positions: make([]int32, len(toks)), Sequences: make([]int, len(toks))}
	for i := range toks {
		b.Positions[i] = int32(pos + i)
	}
	ids := toks
	if len(embeds) > 0 {
		// Placeholders read token 0, as Ollama's runner feeds them: the
		// embeddings replace them after the lookup, and Gemma 4's
		// per-layer inputs take token 0's.
		ids = make([]int32, len(toks))
		for i, t := range toks {
			ids[i] = max(t, 0)
		}
		for _, em := range embeds {
			w := len(em.rows) / em.n
			if em.grid != [2]int{} {
				b.Multimodal = append(b.Multimodal, mropeImage(mctx, em))
				continue
			}
			if !em.causal {
				t := mctx.Input().FromFloats(em.rows, w, em.n)
				b.Multimodal = append(b.Multimodal, input.MultimodalIndex{Index: em.index, Multimodal: []input.Multimodal{{Tensor: t}}})
				continue
			}
			// Causal images: Ollama's Gemma 4 lifts the causal mask for
			// every row its multimodal tensor spans, so the image goes in
			// as one flat row (the copy fills all n rows, the mask is
			// lifted for the first only) and the image's last position
			// takes that first row: it is the one image row for which
			// seeing the whole batch is what causal attention sees.
			// Positions, not row order, place tokens in the cache.
			last := em.n - 1
			rows := make([]float32, 0, len(em.rows))
			rows = append(rows, em.rows[last*w:]...)
			rows = append(rows, em.rows[:last*w]...)
			p0 := b.Positions[em.index]
			b.Positions[em.index] = p0 + int32(last)
			for j := 1; j < em.n; j++ {
				b.Positions[em.index+j] = p0 + int32(j-1)
			}
			t := mctx.Input().FromFloats(rows, w*em.n, 1)
			b.Multimodal = append(b.Multimodal, input.MultimodalIndex{Index: em.index, Multimodal: []input.Multimodal{{Tensor: t}}})
		}
	}
	b.Inputs = mctx.Input().FromInts(ids, len(ids))
	b.Outputs = mctx.Input().FromInts([]int32{int32(len(toks) - 1)}, 1)
	mctx.SetBatchSize(len(toks))
	out, err := model.Forward(mctx, e.m, b)
	if errors.Is(err, kvcache.ErrKvCacheFull) {
		// Refused before anything was written: the cache is as it was.
		written = false
		return nil, errCacheFull
	}
	if err != nil {
		return nil, err
	}
	if err := e.compute(mctx, out, cancellable); err != nil {
		return nil, err
	}
	logits = append([]float32(nil), out.Floats()...)
	e.cached = append(e.cached, toks...)
	return logits, nil
}

// Vocabulary is the model's vocabulary (token texts and types).
func (e *Engine) Vocabulary() *tokenizer.Vocabulary { return e.tok.Vocabulary() }

// GrammarPieces is every token's bytes for a grammar matcher, with nil for
// control and unknown tokens (never text a grammar may produce).
func (e *Engine) GrammarPieces() ([][]byte, error) {
	v := e.tok.Vocabulary()
	out := make([][]byte, len(v.Values))
	for i := range v.Values {
		if i < len(v.Types) && (v.Types[i] == tokenizer.TOKEN_TYPE_CONTROL || v.Types[i] == tokenizer.TOKEN_TYPE_UNKNOWN) {
			continue
		}
		b, err := e.PieceBytes(int32(i))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// PieceBytes is the bytes of one token as generation emits them (a byte
// token is one raw byte, so UTF-8 is reassembled by the caller).
func (e *Engine) PieceBytes(t int32) ([]byte, error) {
	s, err := e.tok.Decode([]int32{t})
	return []byte(s), err
}
