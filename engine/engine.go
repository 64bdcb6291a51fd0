// Package engine runs a GGUF model in-process through llama.cpp. It is the
// only package that uses cgo. One goroutine owns the llama context; every
// generation is a stream of events; the KV cache is reused across requests
// that share a token prefix.
//
// It imports only prompts and its own subpackages; nothing of natter's
// above it (models, history, ui, cli) may be imported here.
package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"natter/engine/api"
	"natter/engine/gguf"
	"natter/prompts"
	"natter/prompts/grammar"
)

// Options configure Load.
type Options struct {
	ModelPath   string
	ContextSize int    // tokens; 0 = min(4096, the model's trained context)
	BatchSize   int    // logical batch; 0 = 2048
	Threads     int    // 0 = physical cores
	FlashAttn   string // "auto" (default), "on", "off"
	CacheType   string // KV cache type: "f16" (default), "q8_0", ...
	Backend     string // for Open: "auto" (default), "llama.cpp" or "go"
	// NoSnapshots: keep no turn snapshots (checkpoints) of hybrid models,
	// on either backend (benchmarks measure what they save).
	NoSnapshots bool
	// GenericKernels: keep the weights as stored, so no AMX or repacked
	// kernels run (either backend); tests compare those against it.
	GenericKernels bool
	// Progress is called while the weights load (0..1); returning false aborts.
	Progress func(float32) bool
	// Loras are LoRA adapters applied on top of the weights (llama.cpp
	// backend only), each checked against the model before it loads.
	Loras []LoraOption
	// Projector is a multimodal projector (mmproj GGUF) that lets the model
	// read images or audio attached to messages; "" for text only.
	Projector string
	// ProjectorFound: Projector was found beside the model, not asked for,
	// so one that cannot load leaves the model text-only (the reason in
	// Info().ProjectorNote) instead of failing the load.
	ProjectorFound bool
	// ImageTokens bounds the embeddings an image becomes, for projectors
	// that size images themselves (Gemma 4, Qwen-VL, Pixtral, …): fewer
	// read faster, more read finer print. 0 is the model's default.
	ImageTokens int
}

// Engine is a loaded model with its context. Its methods are safe for
// concurrent use; generations run one at a time in request order.
type Engine struct {
	opts     Options
	model    *model
	lc       *llamaContext
	info     api.ModelInfo
	specials []special
	builtin  prompts.ChatTemplate
	maxPiece int // longest token text, for a length check before tokenizing
	loras    []*loraAdapter
	loraMu   sync.Mutex // guards the loras' scales, read by Adapters
	proj     *projector // nil: text only

	jobs      chan func()
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// Owned by the worker goroutine.
	cached []Token // tokens whose K/V are in the cache, in order
	// gaps are where the images of an M-RoPE model (Qwen2-VL and kin) sit
	// in cached: there positions stop being token indexes (mrope.go).
	gaps    []posGap
	piece   []byte
	lastGen []Token // tokens of the last generation (tests compare runs)
	ckpts   checkpoints
}

// ErrClosed is returned by calls on a closed engine.
var ErrClosed = errors.New("engine closed")

// Validate checks a model file with the pure-Go GGUF reader. llama.cpp aborts
// the process on some malformed files, so nothing reaches it unchecked.
func Validate(path string) (*gguf.File, error) {
	f, err := gguf.Open(path)
	if err == nil && f.IsProjector() {
		return nil, fmt.Errorf("%s: this is a multimodal projector (mmproj), not a model: load the model and give this file with --mmproj", path)
	}
	return f, err
}

// Load validates the file, loads the model and creates its context.
func Load(opts Options) (*Engine, error) {
	f, err := Validate(opts.ModelPath)
	if err != nil {
		return nil, err
	}
	if opts.ContextSize < 0 || opts.BatchSize < 0 || opts.Threads < 0 {
		return nil, errors.New("context size, batch size and threads must not be negative")
	}
	adapters, err := CheckLoras(f, opts.Loras)
	if err != nil {
		return nil, err
	}
	if opts.Threads == 0 {
		opts.Threads = PhysicalCores()
	}
	if opts.BatchSize == 0 {
		opts.BatchSize = 2048
	}
	m, err := loadModel(opts.ModelPath, opts.Progress, !opts.GenericKernels)
	if err != nil {
		return nil, err
	}
	if opts.ContextSize == 0 {
		opts.ContextSize = 4096
		if t := m.nCtxTrain(); t > 0 && t < opts.ContextSize {
			opts.ContextSize = t
		}
	}
	opts.BatchSize = min(opts.BatchSize, opts.ContextSize)
	lc, err := newContext(m, contextParams{nCtx: opts.ContextSize, nBatch: opts.BatchSize, threads: opts.Threads, flashAttn: opts.FlashAttn, cacheType: opts.CacheType})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", opts.ModelPath, err)
	}
	e := &Engine{opts: opts, model: m, lc: lc, jobs: make(chan func()), quit: make(chan struct{}), done: make(chan struct{})}
	if err := e.loadLoras(adapters); err != nil {
		lc.Close()
		m.Close()
		return nil, err
	}
	var projNote string
	if opts.Projector != "" {
		if e.proj, err = loadProjector(opts.Projector, m, opts.Threads, opts.FlashAttn, opts.ImageTokens); err != nil {
			if !opts.ProjectorFound {
				e.closeLoras()
				lc.Close()
				m.Close()
				return nil, fmt.Errorf("--mmproj: %w", err)
			}
			projNote = err.Error()
		} else {
			e.proj.abortOn(lc.abort)
		}
	}
	e.specials = m.loadSpecials()
	e.maxPiece = f.MaxTokenBytes()
	e.info = e.modelInfo(f)
	e.info.ProjectorNote = projNote
	e.builtin = newBuiltinTemplate(m)
	go e.worker()
	return e, nil
}

func (e *Engine) modelInfo(f *gguf.File) api.ModelInfo {
	st, _ := os.Stat(e.opts.ModelPath)
	var size int64
	if st != nil {
		size = st.Size()
	}
	license, link := f.License()
	info := api.ModelInfo{
		License:      license,
		LicenseLink:  link,
		Path:         e.opts.ModelPath,
		Name:         f.Name(),
		Arch:         f.Arch(),
		Description:  e.model.desc(),
		Quantization: f.Quantization(),
		SizeBytes:    size,
		Params:       e.model.nParams(),
		TrainCtx:     e.model.nCtxTrain(),
		ContextSize:  e.lc.nCtx(),
		ChatTemplate: e.model.chatTemplate(),
		BOS:          e.model.tokenText(e.model.bos()),
		EOS:          e.model.tokenText(e.model.eos()),
		AddBOS:       e.model.addBOS(),
		Backend:      BackendLlama,
		Adapters:     e.Adapters(),
	}
	if e.proj != nil {
		info.Projector = e.proj.path
		info.Vision, info.Audio = e.proj.vision, e.proj.audio
	}
	return info
}

func (e *Engine) worker() {
	defer close(e.done)
	for {
		select {
		case job := <-e.jobs:
			job()
		case <-e.quit:
			return
		}
	}
}

// do runs fn on the worker goroutine and waits for it.
func (e *Engine) do(fn func()) error {
	finished := make(chan struct{})
	select {
	case e.jobs <- func() { defer close(finished); fn() }:
	case <-e.quit:
		return ErrClosed
	}
	<-finished
	return nil
}

// Close stops the worker (after the running generation ends) and frees the
// context and model. It is safe to call more than once.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.lc.setAbort(true)
		close(e.quit)
		<-e.done
		e.lc.Close()
		e.closeLoras()
		e.proj.Close() // before the model it was made for
		e.model.Close()
	})
	return nil
}

// Info describes the loaded model.
func (e *Engine) Info() api.ModelInfo { return e.info }

// Options returns the effective options (threads and context resolved).
func (e *Engine) Options() Options { return e.opts }

// Tokenize converts text to tokens (special: control-token text is parsed).
// The vocabulary is read-only, so this does not wait for a generation.
func (e *Engine) Tokenize(text string, special bool) ([]Token, error) {
	return e.model.tokenize(text, false, special)
}

// CountTokens implements api.Generator.
func (e *Engine) CountTokens(text string, special bool) (int, error) {
	t, err := e.Tokenize(text, special)
	return len(t), err
}

// Detokenize returns the text of tokens, special tokens included.
func (e *Engine) Detokenize(toks []Token) string {
	var b []byte
	for _, t := range toks {
		b = append(b, e.model.piece(t, nil, true)...)
	}
	return string(b)
}

// lastGenerated returns the tokens of the last generation.
func (e *Engine) lastGenerated() []Token {
	var out []Token
	_ = e.do(func() { out = append([]Token(nil), e.lastGen...) })
	return out
}

// detokenizeBytes concatenates token bytes as generation emits them.
func (e *Engine) detokenizeBytes(toks []Token) []byte {
	var b []byte
	for _, t := range toks {
		b = append(b, e.model.piece(t, nil, false)...)
	}
	return b
}

// VocabSize is the number of tokens in the model's vocabulary.
func (e *Engine) VocabSize() int { return e.model.nVocab() }

// TokenText is a token's text in the vocabulary ("" when out of range).
func (e *Engine) TokenText(t Token) string { return e.model.tokenText(t) }

// Reset empties the KV cache, so the next request is processed cold.
func (e *Engine) Reset() error {
	return e.do(func() { e.lc.clear(); e.cached, e.gaps = e.cached[:0], nil })
}

// CachedTokens returns a copy of the tokens held in the KV cache.
func (e *Engine) CachedTokens() []Token {
	var out []Token
	_ = e.do(func() { out = append([]Token(nil), e.cached...) })
	return out
}

// SaveState returns the tokens in the KV cache and the serialised cache.
func (e *Engine) SaveState() (toks []Token, state []byte, err error) {
	if derr := e.do(func() {
		if len(e.cached) == 0 {
			err = errors.New("nothing cached")
			return
		}
		if len(e.gaps) > 0 {
			// The tokens alone do not say where an image's positions end.
			err = errors.New("a cache holding images with M-RoPE positions is not saved")
			return
		}
		toks = append([]Token(nil), e.cached...)
		state, err = e.lc.stateGet()
	}); derr != nil {
		return nil, nil, derr
	}
	return toks, state, err
}

// LoadState restores a cache saved by SaveState for the same model. On any
// error the cache is left empty, so the next request is simply processed cold.
func (e *Engine) LoadState(toks []Token, state []byte) error {
	var err error
	if derr := e.do(func() {
		e.lc.clear()
		e.cached, e.gaps = e.cached[:0], nil
		if len(toks) == 0 || len(toks) > e.lc.nCtx() {
			err = errors.New("saved state does not fit this context")
			return
		}
		if err = e.lc.stateSet(state); err != nil {
			e.lc.clear()
			return
		}
		e.cached = append(e.cached, toks...)
	}); derr != nil {
		return derr
	}
	return err
}

// RenderPrompt implements api.Generator: the exact text req sends to the
// model, after dropping old turns to fit the context.
func (e *Engine) RenderPrompt(req api.Request) (string, string, error) {
	p, err := e.buildPrompt(req)
	if err != nil {
		return "", "", err
	}
	return p.text, p.template, nil
}

// PromptTokens returns the tokens req would feed the model (after fitting
// the context), e.g. to look up a saved KV state before the first turn.
func (e *Engine) PromptTokens(req api.Request) ([]Token, error) {
	p, err := e.buildPrompt(req)
	return p.tokens, err
}

type builtPrompt struct {
	tokens   []Token
	media    []mediaSpan // where attachments sit in tokens
	text     string
	template string
	dropped  int
}

// promptEnv is what building a prompt needs from a backend.
type promptEnv struct {
	nCtx    int
	builtin prompts.ChatTemplate
	// raw tokenizes a plain completion prompt (BOS added as the model wants).
	raw func(text string) ([]Token, error)
	// chat tokenizes a rendered chat prompt; spans are message contents,
	// which must never produce control tokens.
	chat     func(text string, spans []span) ([]Token, error)
	specials []special
	// maxPiece is the most bytes one token stands for (0: unknown).
	maxPiece int
	// For attachments (nil media: the model takes none): marker stands for
	// one in the rendered text, chatSeg tokenizes the text between markers
	// (BOS only for the first), media gives an attachment's tokens.
	marker  string
	chatSeg func(text string, spans []span, first bool) ([]Token, error)
	media   func(a prompts.Attachment) ([]mediaPart, error)
}

func (e *Engine) env() promptEnv {
	return promptEnv{
		nCtx: e.lc.nCtx(), builtin: e.builtin, specials: e.specials, maxPiece: e.maxPiece,
		raw: func(text string) ([]Token, error) { return e.model.tokenize(text, true, false) },
		chat: func(text string, spans []span) ([]Token, error) {
			return e.model.tokenizePrompt(text, e.specials, spans)
		},
		marker: e.proj.markerText(),
		chatSeg: func(text string, spans []span, first bool) ([]Token, error) {
			plain := func(s string) ([]Token, error) { return e.model.tokenize(s, false, false) }
			return tokenizeChat(text, e.specials, spans, plain, e.model.bos(), first && e.model.addBOS())
		},
		media: func(a prompts.Attachment) ([]mediaPart, error) {
			it, err := e.proj.item(a)
			if err != nil {
				return nil, err
			}
			return it.parts, nil
		},
	}
}

// reserve is how much room a request leaves for the reply when fitting.
func reserve(nCtx int, req api.Request) int {
	r := nCtx / 4
	if req.MaxTokens > 0 && req.MaxTokens < r {
		r = req.MaxTokens
	}
	return r
}

func (e *Engine) buildPrompt(req api.Request) (builtPrompt, error) { return buildPrompt(e.env(), req) }

func buildPrompt(env promptEnv, req api.Request) (builtPrompt, error) {
	nCtx := env.nCtx
	if req.Raw {
		toks := req.Tokens
		if toks == nil {
			// A prompt that cannot fit is refused before it is tokenized
			// (a 60 MB prompt would take gigabytes to count).
			if over, _ := tooLong(env, "raw", req.Prompt, []span{{0, len(req.Prompt)}}); over {
				return builtPrompt{}, contextExceeded("the prompt needs more tokens than the context holds (%d); raise --ctx or shorten it", nCtx)
			}
			var err error
			if toks, err = env.raw(req.Prompt); err != nil {
				return builtPrompt{}, err
			}
		}
		if len(toks) >= nCtx {
			return builtPrompt{}, contextExceeded("the prompt is %d tokens but the context holds %d; raise --ctx", len(toks), nCtx)
		}
		return builtPrompt{tokens: toks, text: req.Prompt, template: "raw"}, nil
	}
	tmpl := req.Template
	if tmpl == nil {
		tmpl = env.builtin
	}
	// The fewest oldest turns to leave out so the prompt fits: try 0, then
	// 1, 2, 4, ... and bisect, so a long chat costs a few renders and
	// tokenizations, not one per turn left out (dropping turns one by one
	// was quadratic in the chat). Fewer turns never make a prompt longer,
	// so this finds the turn count dropping them one by one would.
	most := 0 // turns that can go
	if !req.NoDrop {
		most = droppableTurns(req.Messages)
	}
	type try struct {
		p    builtPrompt
		fits bool
		err  error // a fault of the template or the tokenizer, or (at most) the context error
	}
	tryDrop := func(k int) try {
		msgs, atts := withMarkers(dropTurns(req.Messages, k), env.marker)
		if atts != nil && env.media == nil {
			return try{err: errNoMedia}
		}
		text, spans, name, err := renderPrompt(tmpl, msgs, env.specials)
		if err != nil {
			return try{err: err}
		}
		// Certainly too long: say so without tokenizing it all. The
		// template is blamed only when its own text is too long with as
		// few messages as there can be (its text grows with each one).
		if over, err := tooLong(env, name, text, spans); err != nil || over {
			if err != nil && k == most {
				return try{err: err}
			}
			return try{err: contextExceeded("the message needs more tokens than the context holds (%d); raise --ctx or shorten it", nCtx)}
		}
		var toks []Token
		var ms []mediaSpan
		if atts != nil {
			toks, ms, text, err = tokenizeMedia(env, text, spans, atts)
		} else {
			toks, err = env.chat(text, spans)
		}
		if err != nil {
			return try{err: err}
		}
		p := builtPrompt{tokens: toks, media: ms, text: text, template: name, dropped: k}
		switch {
		case len(toks)+reserve(nCtx, req) <= nCtx:
			return try{p: p, fits: true}
		case k == most && len(toks) < nCtx:
			return try{p: p, fits: true} // no turn left to drop: a shorter reply
		case k == most:
			return try{err: contextExceeded("the conversation needs %d tokens but the context holds %d; raise --ctx or shorten the message", len(toks), nCtx)}
		}
		return try{err: contextExceeded("the conversation needs %d tokens but the context holds %d", len(toks), nCtx)}
	}
	// fatal: an error that more dropping cannot mend.
	fatal := func(t try) bool { return t.err != nil && !errors.Is(t.err, api.ErrContextExceeded) }
	first := tryDrop(0)
	if first.fits || fatal(first) || most == 0 {
		return first.p, first.err
	}
	lo, hi := 0, 0 // lo does not fit; hi is the next to try
	var best try
	for step := 1; ; step *= 2 {
		hi = min(lo+step, most)
		best = tryDrop(hi)
		if best.fits || fatal(best) || hi == most {
			break
		}
		lo = hi
	}
	if !best.fits {
		return builtPrompt{}, best.err
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		t := tryDrop(mid)
		if fatal(t) {
			return builtPrompt{}, t.err
		}
		if t.fits {
			hi, best = mid, t
		} else {
			lo = mid
		}
	}
	return best.p, nil
}

// droppableTurns is how many oldest turns can go: a turn can while
// something other than system messages stands before the last user
// message.
func droppableTurns(msgs []prompts.Message) int {
	last := lastUser(msgs)
	n, i := 0, 0
	for {
		for i < len(msgs) && msgs[i].Role == prompts.RoleSystem {
			i++
		}
		if i >= last {
			return n
		}
		i++
		for i < len(msgs) && msgs[i].Role != prompts.RoleUser && msgs[i].Role != prompts.RoleSystem {
			i++
		}
		n++
	}
}

// dropTurns leaves out the k oldest turns: each time, the first
// non-system message and the replies that follow it up to the next user
// (or system) message. System messages stay, in front.
func dropTurns(msgs []prompts.Message, k int) []prompts.Message {
	if k == 0 {
		return msgs
	}
	var kept []prompts.Message
	i := 0
	for ; k > 0 && i < len(msgs); k-- {
		for i < len(msgs) && msgs[i].Role == prompts.RoleSystem {
			kept = append(kept, msgs[i])
			i++
		}
		i++ // the oldest turn's first message
		for i < len(msgs) && msgs[i].Role != prompts.RoleUser && msgs[i].Role != prompts.RoleSystem {
			i++
		}
	}
	return append(kept, msgs[min(i, len(msgs)):]...)
}

// contextExceeded is a prompt-too-long error that errors.Is matches to
// api.ErrContextExceeded, worded for the user.
func contextExceeded(format string, args ...any) error {
	return exceededError{fmt.Sprintf(format, args...)}
}

type exceededError struct{ msg string }

func (e exceededError) Error() string { return e.msg }
func (e exceededError) Unwrap() error { return api.ErrContextExceeded }

func lastUser(msgs []prompts.Message) int {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == prompts.RoleUser {
			return i
		}
	}
	return len(msgs) - 1
}

// Generate starts a generation. The returned channel delivers text pieces
// (valid UTF-8, stop sequences removed) and ends with one EventDone or
// EventError, then closes. Cancelling ctx stops it within one token, or
// within one abort check during prefill. Callers must drain the channel.
func (e *Engine) Generate(ctx context.Context, req api.Request) (<-chan api.Event, error) {
	if _, err := validateRequest(req); err != nil {
		return nil, err
	}
	ch := make(chan api.Event, 256)
	job := func() { e.generate(ctx, req, ch) }
	select {
	case e.jobs <- job:
		return ch, nil
	case <-e.quit:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// validateRequest refuses what would fail later, before any work: bad
// sampling values and a grammar llama.cpp would reject (or abort on). It
// returns the parsed grammar (nil without one) for the Go engine's matcher.
func validateRequest(req api.Request) (*grammar.Grammar, error) {
	if err := validateSampling(req.Sampling); err != nil {
		return nil, err
	}
	if req.Grammar == "" {
		return nil, nil
	}
	if req.IgnoreEOS {
		return nil, errors.New("a grammar ends the reply itself: it cannot be combined with ignoring end of generation")
	}
	return grammar.Parse(req.Grammar)
}

// errGrammarInThought: the prompt ends inside a reasoning block, where a
// grammar would shape the thinking instead of the answer.
var errGrammarInThought = errors.New("structured output needs thinking off: this template opens a reasoning block before the reply (use --think off or /think off)")

func validateSampling(s api.Sampling) error {
	switch {
	case s.Temperature < 0:
		return errors.New("temperature must be >= 0")
	case s.TopK < 0:
		return errors.New("top-k must be >= 0")
	case s.TopP < 0 || s.TopP > 1:
		return errors.New("top-p must be in [0, 1]")
	case s.MinP < 0 || s.MinP > 1:
		return errors.New("min-p must be in [0, 1]")
	case s.RepeatPenalty < 0:
		return errors.New("repeat penalty must be >= 0")
	}
	return nil
}

// sendFinal delivers the last event even if ctx was cancelled (the buffer
// has room then, since nothing else is sent), and closes the stream.
func (e *Engine) sendFinal(ctx context.Context, ch chan<- api.Event, ev api.Event) {
	select {
	case ch <- ev:
	case <-ctx.Done():
		select {
		case ch <- ev:
		default:
		}
	case <-e.quit:
		select {
		case ch <- ev:
		default:
		}
	}
	close(ch)
}

func (e *Engine) generate(ctx context.Context, req api.Request, ch chan<- api.Event) {
	start := time.Now()
	fail := func(err error) { e.sendFinal(ctx, ch, api.Event{Kind: api.EventError, Err: err}) }
	if err := ctx.Err(); err != nil {
		fail(err)
		return
	}
	p, err := e.buildPrompt(req)
	if err != nil {
		fail(err)
		return
	}
	toks := p.tokens
	if len(toks) == 0 {
		fail(errors.New("empty prompt"))
		return
	}
	if req.Grammar != "" && endsInThought(p.text) {
		fail(errGrammarInThought)
		return
	}
	nCtx := e.lc.nCtx()
	stats := &api.Stats{PromptTokens: len(toks), DroppedTurns: p.dropped, ContextSize: nCtx, Template: p.template, Adapters: e.activeAdapters()}

	// Reuse the longest common prefix of what is cached; at least the last
	// prompt token is decoded again, since its logits are needed (unless a
	// restored checkpoint of a hybrid model kept them).
	c := commonPrefix(e.cached, toks)
	for _, ms := range p.media {
		if ms.start < c && c < ms.start+ms.n {
			c = ms.start // an attachment is decoded whole or not at all
		}
	}
	n := c
	if n == len(toks) {
		n--
	}
	var saved []float32 // a restored checkpoint's logits when it ends the prompt
	if n < len(e.cached) {
		if !e.lc.removeFrom(e.posAt(n)) {
			n, saved = e.restoreCheckpoint(toks, c)
		}
		e.cached = e.cached[:n]
		e.trimGaps(n)
	}
	stats.CachedTokens = n

	defer e.lc.watch(ctx)()

	t0 := time.Now()
	if err := e.decodePrompt(toks, n, p.media); err != nil {
		// Part of the batch may sit in the cache: drop it to stay consistent.
		if !e.lc.removeFrom(e.posAt(n)) {
			e.lc.clear()
			e.cached = e.cached[:0]
		}
		e.trimGaps(len(e.cached))
		if errors.Is(err, errAborted) || ctx.Err() != nil {
			stats.StopReason = api.StopCancelled
			stats.ContextUsed = len(e.cached)
			e.sendFinal(ctx, ch, api.Event{Kind: api.EventDone, Stats: stats})
			return
		}
		fail(err)
		return
	}
	e.cached = append(e.cached, toks[n:]...)
	e.takeCheckpoint()
	stats.PrefillTime = time.Since(t0)
	if d := stats.PrefillTime.Seconds(); d > 0 {
		stats.PrefillTPS = float64(len(toks)-n) / d
	}
	// Tell the front end what the prompt cost before the reply streams
	// (the status line's context figure).
	pre := *stats
	pre.ContextUsed = len(e.cached)
	select {
	case ch <- api.Event{Kind: api.EventPrefill, Stats: &pre}:
	default: // the buffer is empty at this point; never block here
	}

	smp, err := newSampler(samplingParams{
		temperature: req.Sampling.Temperature, topK: req.Sampling.TopK, topP: req.Sampling.TopP,
		minP: req.Sampling.MinP, repeatPenalty: req.Sampling.RepeatPenalty,
		repeatLastN: req.Sampling.RepeatLastN, seed: req.Sampling.Seed, grammar: req.Grammar,
	}, e.model)
	if err != nil {
		fail(err)
		return
	}
	defer smp.Close()

	var asm utf8Assembler
	stopm := stopMatcher{stops: nonEmpty(req.Stop)}
	emit := func(s string) bool {
		if s == "" {
			return true
		}
		select {
		case ch <- api.Event{Kind: api.EventText, Text: s}:
			return true
		case <-ctx.Done():
			return false
		case <-e.quit: // Close must not wait on a reader that went away
			return false
		}
	}
	decodes := 0
	e.lastGen = e.lastGen[:0]
	var tDecode time.Time
	bud := newThinkBudget(req.ReasoningBudget, p.text)
	for {
		tok, err := smp.next(e.lc, &saved)
		if err != nil {
			out, _ := stopm.push(asm.flush())
			emit(out + stopm.flush())
			fail(err)
			return
		}
		if stats.GeneratedTokens == 0 {
			stats.TTFT = time.Since(start)
			tDecode = time.Now()
		}
		if !req.IgnoreEOS && e.model.isEOG(tok) {
			stats.StopReason = api.StopEOG
			break
		}
		stats.GeneratedTokens++
		e.lastGen = append(e.lastGen, tok)
		e.piece = e.model.piece(tok, e.piece, false)
		out, stopped := stopm.push(asm.push(e.piece))
		if !emit(out) {
			stats.StopReason = api.StopCancelled
			break
		}
		if stopped {
			stats.StopReason = api.StopSequence
			break
		}
		if req.MaxTokens > 0 && stats.GeneratedTokens >= req.MaxTokens {
			stats.StopReason = api.StopMaxTokens
			break
		}
		if ctx.Err() != nil {
			stats.StopReason = api.StopCancelled
			break
		}
		if len(e.cached) >= nCtx {
			stats.StopReason = api.StopContext
			break
		}
		if err := e.lc.decode([]Token{tok}, e.posAt(len(e.cached)), true); err != nil {
			if errors.Is(err, errAborted) || ctx.Err() != nil {
				stats.StopReason = api.StopCancelled
			} else {
				stats.StopReason = api.StopContext
			}
			e.lc.removeFrom(e.posAt(len(e.cached)))
			break
		}
		e.cached = append(e.cached, tok)
		decodes++
		if inj := bud.push(e.piece); inj != "" {
			// The thinking budget is spent: close the block for the model.
			toks, err := e.model.tokenize(inj, false, true)
			if err != nil || len(e.cached)+len(toks) >= nCtx {
				continue
			}
			if err := e.lc.decode(toks, e.posAt(len(e.cached)), true); err != nil {
				e.lc.removeFrom(e.posAt(len(e.cached)))
				continue
			}
			e.cached = append(e.cached, toks...)
			out, _ := stopm.push(asm.push([]byte(inj)))
			if !emit(out) {
				stats.StopReason = api.StopCancelled
				break
			}
		}
	}
	if stats.StopReason != api.StopSequence && stats.StopReason != api.StopCancelled {
		out, stopped := stopm.push(asm.flush())
		if !stopped {
			out += stopm.flush()
		}
		emit(out)
	}
	stats.DecodeTime = time.Since(tDecode)
	if d := stats.DecodeTime.Seconds(); d > 0 && decodes > 0 {
		stats.DecodeTPS = float64(decodes) / d
	}
	stats.ContextUsed = len(e.cached)
	e.sendFinal(ctx, ch, api.Event{Kind: api.EventDone, Stats: stats})
}

// decodePrompt decodes toks[n:] at positions n.., the attachments among
// them through the projector, asking for the last token's logits.
func (e *Engine) decodePrompt(toks []Token, n int, media []mediaSpan) error {
	defer e.proj.trim()
	for _, ms := range media {
		if ms.start < n {
			continue // in the cache already
		}
		if err := e.lc.decode(toks[n:ms.start], e.posAt(n), false); err != nil {
			return err
		}
		if err := e.decodeMedia(ms, e.posAt(ms.start)); err != nil {
			return err
		}
		e.addGap(ms)
		n = ms.start + ms.n
	}
	return e.lc.decode(toks[n:], e.posAt(n), true)
}

func commonPrefix(a, b []Token) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// builtinTemplate formats with llama.cpp's llama_chat_apply_template, using
// the model's own template (detected heuristically) or ChatML when it has none.
type builtinTemplate struct {
	tmpl string
	name string
}

func newBuiltinTemplate(m *model) *builtinTemplate {
	t := m.chatTemplate()
	if t == "" {
		return &builtinTemplate{tmpl: "chatml", name: "llama.cpp chatml (the model has no template)"}
	}
	// llama.cpp recognises templates by heuristics; find out now whether it
	// knows this one, so the name always says which format is really used.
	if _, err := applyTemplate(t, []string{"user"}, []string{"hi"}, true); err != nil {
		return &builtinTemplate{tmpl: "chatml", name: "llama.cpp chatml (model template not recognised)"}
	}
	return &builtinTemplate{tmpl: t, name: "llama.cpp built-in (model template)"}
}

func (b *builtinTemplate) Name() string { return b.name }

func (b *builtinTemplate) Render(msgs []prompts.Message, addGen bool) (string, error) {
	roles := make([]string, len(msgs))
	contents := make([]string, len(msgs))
	for i, m := range msgs {
		roles[i], contents[i] = m.Role, m.Content
	}
	return applyTemplate(b.tmpl, roles, contents, addGen)
}

// BuiltinTemplate returns llama.cpp's formatter for this model, for use as a
// fallback behind an exact Jinja renderer.
func (e *Engine) BuiltinTemplate() prompts.ChatTemplate { return e.builtin }

// PhysicalCores counts distinct physical cores (hyper-threads share a
// core), which is the thread count llama.cpp runs fastest with.
func PhysicalCores() int {
	if runtime.GOOS == "linux" {
		seen := map[string]bool{}
		cpus, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*/topology/thread_siblings_list")
		for _, p := range cpus {
			b, err := os.ReadFile(p)
			if err == nil {
				seen[strings.TrimSpace(string(b))] = true
			}
		}
		if len(seen) > 0 {
			return len(seen)
		}
	}
	return max(1, runtime.NumCPU())
}
