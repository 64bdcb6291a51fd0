package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"natter/engine/api"
	"natter/engine/bpe"
	"natter/engine/goengine"
	"natter/prompts"
	"natter/prompts/grammar"
)

// GoArchitectures are the architectures only the Go engine runs (the
// vendored llama.cpp predates them).
var GoArchitectures = map[string]bool{"qwen35": true, "qwen35moe": true, "gemma4": true}

// GoEngine runs a model on Ollama's Go engine (package goengine) behind the
// same api.Generator as Engine: exact prompts with protected message text,
// turn dropping, UTF-8 reassembly, stop sequences, prefix reuse. One
// generation runs at a time.
type GoEngine struct {
	opts     Options
	g        *goengine.Engine
	info     api.ModelInfo
	specials []special
	maxPiece int
	bos      Token
	addBOS   bool
	// spacePrefix: llama.cpp's SentencePiece tokenizer puts "▁" before
	// every run of plain text (tokenizer.ggml.add_space_prefix, default
	// on); Ollama's does not, so plain adds the space itself.
	spacePrefix bool
	// tok is natter's own tokenizer when it implements the file's (it
	// matches llama.cpp exactly; Ollama's differs on some text); plain text
	// goes through it, everything else through Ollama's.
	tok *bpe.Tokenizer
	// vocab is the token trie a grammar masks with, built on first use.
	vocab  *grammar.Vocab
	pieces [][]byte // token bytes, nil for control tokens
	eos    []int32  // the end-of-generation tokens, for the mask

	vision *goVision   // images and audio through a Gemma 4 or Qwen3.5 projector (gomedia.go); nil: text only
	clip   *clipVision // Qwen3.5's image encoder (goclip.go); nil otherwise

	mu        sync.Mutex // held by the running generation
	closeOnce sync.Once
}

// LoadGo validates the file and loads it on the Go engine.
func LoadGo(opts Options) (*GoEngine, error) {
	f, err := Validate(opts.ModelPath)
	if err != nil {
		return nil, err
	}
	if opts.ContextSize < 0 || opts.BatchSize < 0 || opts.Threads < 0 {
		return nil, errors.New("context size, batch size and threads must not be negative")
	}
	if len(opts.Loras) > 0 {
		return nil, fmt.Errorf("--lora: the Go engine, which runs %s models, cannot apply LoRA adapters (only the llama.cpp backend can)", f.Arch())
	}
	if opts.Threads == 0 {
		opts.Threads = PhysicalCores()
	}
	var progress func(float32)
	if opts.Progress != nil {
		// Ollama's loader cannot be aborted; the callback only reports.
		progress = func(p float32) { opts.Progress(p) }
	}
	gopts := goengine.Options{ModelPath: opts.ModelPath, ProjectorPath: opts.Projector, ContextSize: opts.ContextSize, BatchSize: opts.BatchSize, Threads: opts.Threads, Progress: progress, NoSnapshots: opts.NoSnapshots, GenericKernels: opts.GenericKernels,
		// Flash attention unless turned off: upstream llama.cpp's "auto"
		// enables it on CPU, and only with it do greedy ids equal upstream's.
		FlashAttention: opts.FlashAttn != "off", ImageTokens: opts.ImageTokens}
	qwen := opts.Projector != "" && qwenVisionArch(f.Arch())
	if qwen {
		// Qwen3.5's projector is run by llama.cpp's CLIP code, the text
		// model by the Go engine with M-RoPE positions.
		gopts.ProjectorPath, gopts.MRoPEImages = "", true
	}
	g, err := goengine.Load(gopts)
	if err != nil {
		return nil, err
	}
	var clip *clipVision
	if qwen {
		// An image is decoded in one batch (its M-RoPE rows and columns
		// count from its first embedding), so images are sized to fit the
		// engine's batch, at most the projector's 4,096.
		most := min(g.BatchSize(), 4096)
		if opts.ImageTokens > 0 {
			most = min(most, opts.ImageTokens)
		}
		if clip, err = openClipVision(opts.Projector, g.EmbedWidth(), opts.Threads, most); err != nil {
			g.Close()
			return nil, err
		}
	}
	opts.ContextSize = g.ContextSize()
	e := &GoEngine{opts: opts, g: g, maxPiece: f.MaxTokenBytes(), clip: clip}
	if g.Vision() || g.Audio() || clip != nil {
		e.vision = newGoVision(g, clip != nil)
	}
	if tok, err := bpe.New(f); err == nil {
		e.tok = tok
	}
	if f.String("tokenizer.ggml.model") == "llama" {
		e.spacePrefix = true
		if v, ok := f.Get("tokenizer.ggml.add_space_prefix"); ok {
			if b, ok := v.(bool); ok {
				e.spacePrefix = b
			}
		}
	}
	v := g.Vocabulary()
	for id, t := range v.Values {
		// control, user-defined and unknown tokens match whole, as in llama.cpp
		if ty := v.Types[id]; (ty == 2 || ty == 3 || ty == 4) && t != "" {
			e.specials = append(e.specials, special{text: t, id: Token(id)})
		}
	}
	sort.SliceStable(e.specials, func(i, j int) bool { return len(e.specials[i].text) > len(e.specials[j].text) })
	if len(v.BOS) > 0 {
		e.bos, e.addBOS = v.BOS[0], v.AddBOS
	}
	var size int64
	if st, err := os.Stat(opts.ModelPath); err == nil {
		size = st.Size()
	}
	e.info = api.ModelInfo{
		Path: opts.ModelPath, Name: f.Name(), Arch: f.Arch(), Description: f.Arch() + " " + f.Quantization(), Backend: BackendGo,
		Quantization: f.Quantization(), SizeBytes: size, Params: int64(f.ParamCount()), TrainCtx: int(f.ContextLength()),
		ContextSize: g.ContextSize(), ChatTemplate: f.ChatTemplate(), AddBOS: e.addBOS,
	}
	e.info.License, e.info.LicenseLink = f.License()
	if e.vision != nil {
		e.info.Projector, e.info.Vision, e.info.Audio = opts.Projector, e.vision.vision, e.vision.audio
	}
	if cp := g.ProjectorCopy(); cp != nil {
		e.info.ProjectorCopy = cp.Path
		if cp.Created {
			e.info.ProjectorCopyNote = fmt.Sprintf("made a loadable copy of %s (%s, the file with clip.block_count added, which Ollama's loader needs for the audio encoder) at %s; it is reused while the file is unchanged",
				filepath.Base(opts.Projector), HumanBytes(cp.Size), cp.Path)
		}
	}
	if len(v.BOS) > 0 {
		e.info.BOS = v.Decode(v.BOS[0])
	}
	if len(v.EOS) > 0 {
		e.info.EOS = v.Decode(v.EOS[0])
	}
	return e, nil
}

// Close frees the model; it waits for a running generation to end. It is
// safe to call more than once.
func (e *GoEngine) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.g.Close()
		e.vision.free()
		e.clip.Close()
	})
	return nil
}

// Info implements api.Generator.
func (e *GoEngine) Info() api.ModelInfo { return e.info }

// Options are the options the model was loaded with (defaults filled in).
func (e *GoEngine) Options() Options { return e.opts }

// VocabSize is the number of tokens in the vocabulary.
func (e *GoEngine) VocabSize() int { return e.g.VocabSize() }

// TokenText is a token's text in the vocabulary ("" when out of range).
func (e *GoEngine) TokenText(t Token) string {
	v := e.g.Vocabulary()
	if t < 0 || int(t) >= len(v.Values) {
		return ""
	}
	return v.Values[t]
}

// Reset empties the cache, so the next request is processed cold.
func (e *GoEngine) Reset() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.g.Reset()
}

// SaveState reports ErrNoState: Ollama's caches have no serialisation, so a
// resumed chat is read again (the chat says so and what it cost).
func (e *GoEngine) SaveState() ([]Token, []byte, error) { return nil, nil, ErrNoState }

// LoadState reports ErrNoState (see SaveState).
func (e *GoEngine) LoadState([]Token, []byte) error { return ErrNoState }

// BuiltinTemplate is the format used when the model has no chat template
// (the llama.cpp path asks llama.cpp; the Go engine uses ChatML).
func (e *GoEngine) BuiltinTemplate() prompts.ChatTemplate { return chatMLTemplate{} }

// plain tokenizes text with no special-token parsing. Ollama's tokenizers
// always split on special-token text, so text holding one is cut just inside
// each occurrence: the characters stay, the control token never appears.
func (e *GoEngine) plain(text string) ([]Token, error) {
	var out []Token
	if text == "" {
		return nil, nil
	}
	if e.tok != nil {
		return e.tok.Encode(text), nil // no special-token parsing at all
	}
	if e.spacePrefix {
		text = " " + text
	}
	for text != "" {
		cut := -1
		for _, sp := range e.specials {
			if i := strings.Index(text, sp.text); i >= 0 && (cut < 0 || i < cut) {
				cut = i
			}
		}
		if cut < 0 {
			t, err := e.g.Tokenize(text, false)
			return append(out, t...), err
		}
		if cut > 0 {
			t, err := e.g.Tokenize(text[:cut], false)
			if err != nil {
				return nil, err
			}
			out = append(out, t...)
		}
		// one byte's worth on its own, so the rest no longer matches here
		t, err := e.g.Tokenize(text[cut:cut+1], false)
		if err != nil {
			return nil, err
		}
		out = append(out, t...)
		text = text[cut+1:]
	}
	return out, nil
}

func (e *GoEngine) env() promptEnv {
	return promptEnv{
		nCtx: e.g.ContextSize(), specials: e.specials, maxPiece: e.maxPiece,
		builtin: chatMLTemplate{},
		raw: func(text string) ([]Token, error) {
			t, err := e.plain(text)
			if err == nil && e.addBOS {
				t = append([]Token{e.bos}, t...)
			}
			return t, err
		},
		chat: func(text string, spans []span) ([]Token, error) {
			return tokenizeChat(text, e.specials, spans, e.plain, e.bos, e.addBOS)
		},
		marker: e.vision.markerText(),
		chatSeg: func(text string, spans []span, first bool) ([]Token, error) {
			return tokenizeChat(text, e.specials, spans, e.plain, e.bos, first && e.addBOS)
		},
		media: e.mediaParts,
	}
}

// CountTokens implements api.Generator.
func (e *GoEngine) CountTokens(text string, special bool) (int, error) {
	var t []Token
	var err error
	if special {
		t, err = e.g.Tokenize(text, false)
	} else {
		t, err = e.plain(text)
	}
	return len(t), err
}

// RenderPrompt implements api.Generator.
func (e *GoEngine) RenderPrompt(req api.Request) (string, string, error) {
	p, err := buildPrompt(e.env(), req)
	return p.text, p.template, err
}

// PromptTokens are the tokens req's prompt becomes.
func (e *GoEngine) PromptTokens(req api.Request) ([]Token, error) {
	p, err := buildPrompt(e.env(), req)
	return p.tokens, err
}

// Generate implements api.Generator with the same event stream as Engine.
// Cancelling ctx stops within one token, or inside the prompt batch being computed.
func (e *GoEngine) Generate(ctx context.Context, req api.Request) (<-chan api.Event, error) {
	g, err := validateRequest(req)
	if err != nil {
		return nil, err
	}
	ch := make(chan api.Event, 256)
	go func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.generate(ctx, req, g, ch)
	}()
	return ch, nil
}

// generate runs req; g is its parsed grammar (nil: none).
func (e *GoEngine) generate(ctx context.Context, req api.Request, g *grammar.Grammar, ch chan<- api.Event) {
	start := time.Now()
	final := func(ev api.Event) {
		select {
		case ch <- ev:
		default: // the buffer has room unless nobody reads; never block
			go func() { ch <- ev; close(ch) }()
			return
		}
		close(ch)
	}
	p, err := buildPrompt(e.env(), req)
	if err != nil {
		final(api.Event{Kind: api.EventError, Err: err})
		return
	}
	var gc *grammarCursor
	if g != nil {
		if endsInThought(p.text) {
			final(api.Event{Kind: api.EventError, Err: errGrammarInThought})
			return
		}
		if gc, err = e.newGrammarCursor(g); err != nil {
			final(api.Event{Kind: api.EventError, Err: err})
			return
		}
	}
	nCtx := e.g.ContextSize()
	stats := &api.Stats{PromptTokens: len(p.tokens), DroppedTurns: p.dropped, ContextSize: nCtx, Template: p.template}
	t0 := time.Now()
	logits, reused, err := e.g.PrefillMedia(ctx, p.tokens, e.spans(ctx, p.media))
	e.vision.trim()
	if err != nil {
		if ctx.Err() != nil {
			stats.StopReason = api.StopCancelled
			final(api.Event{Kind: api.EventDone, Stats: stats})
			return
		}
		final(api.Event{Kind: api.EventError, Err: err})
		return
	}
	stats.CachedTokens = reused
	stats.PrefillTime = time.Since(t0)
	if d := stats.PrefillTime.Seconds(); d > 0 {
		stats.PrefillTPS = float64(len(p.tokens)-reused) / d
	}
	pre := *stats
	pre.ContextUsed = len(p.tokens)
	ch <- api.Event{Kind: api.EventPrefill, Stats: &pre}

	s := req.Sampling
	seed := uint64(s.Seed)
	if s.Seed == api.SeedRandom {
		seed = uint64(time.Now().UnixNano())
	}
	smp := goengine.NewSampler(s.Temperature, s.TopK, s.TopP, s.MinP, seed)
	smp.RepeatPenalty, smp.RepeatLastN = s.RepeatPenalty, s.RepeatLastN
	var asm utf8Assembler
	stopm := stopMatcher{stops: nonEmpty(req.Stop)}
	emit := func(text string) bool {
		if text == "" {
			return true
		}
		select {
		case ch <- api.Event{Kind: api.EventText, Text: text}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	used := len(p.tokens)
	var tDecode time.Time
	decodes := 0
	bud := newThinkBudget(req.ReasoningBudget, p.text)
	for {
		var tok int32
		if gc != nil {
			if tok = gc.sample(smp, logits); tok < 0 {
				out, _ := stopm.push(asm.flush())
				emit(out + stopm.flush())
				final(api.Event{Kind: api.EventError, Err: errGrammarStuck})
				return
			}
		} else {
			tok = smp.Sample(logits)
		}
		smp.Accept(tok)
		if stats.GeneratedTokens == 0 {
			stats.TTFT = time.Since(start)
			tDecode = time.Now()
		}
		if !req.IgnoreEOS && e.g.IsEOS(tok) {
			stats.StopReason = api.StopEOG
			break
		}
		stats.GeneratedTokens++
		piece, err := e.g.PieceBytes(tok)
		if err != nil {
			final(api.Event{Kind: api.EventError, Err: err})
			return
		}
		out, stopped := stopm.push(asm.push(piece))
		if !emit(out) || ctx.Err() != nil {
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
		if used >= nCtx {
			stats.StopReason = api.StopContext
			break
		}
		if logits, err = e.g.Decode(tok); err != nil {
			stats.StopReason = api.StopContext
			break
		}
		used++
		decodes++
		if inj := bud.push(piece); inj != "" {
			// The thinking budget is spent: close the block for the model.
			toks, err := e.g.Tokenize(inj, false)
			if err != nil || used+len(toks) >= nCtx {
				continue
			}
			l, err := e.g.Feed(toks)
			if err != nil {
				stats.StopReason = api.StopContext
				break
			}
			logits, used = l, used+len(toks)
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
	if !tDecode.IsZero() {
		stats.DecodeTime = time.Since(tDecode)
	}
	if d := stats.DecodeTime.Seconds(); d > 0 && decodes > 0 {
		stats.DecodeTPS = float64(decodes) / d
	}
	stats.ContextUsed = used
	final(api.Event{Kind: api.EventDone, Stats: stats})
}

// grammarCursor follows a grammar through one generation on the Go engine
// (llama.cpp's grammar sampler needs a llama.cpp vocabulary).
type grammarCursor struct {
	e     *GoEngine
	m     *grammar.Matcher
	st    grammar.State
	allow []bool
}

func (e *GoEngine) newGrammarCursor(g *grammar.Grammar) (*grammarCursor, error) {
	if e.vocab == nil {
		pieces, err := e.g.GrammarPieces()
		if err != nil {
			return nil, err
		}
		e.vocab, e.pieces = grammar.NewVocab(pieces), pieces
		for i := range pieces {
			if e.g.IsEOS(int32(i)) {
				e.eos = append(e.eos, int32(i))
			}
		}
	}
	m := grammar.NewMatcher(g)
	return &grammarCursor{e: e, m: m, st: m.Start(), allow: make([]bool, e.vocab.Size())}, nil
}

// sample draws an allowed token and moves the grammar past it; -1 when no
// token can continue.
func (c *grammarCursor) sample(smp *goengine.Sampler, logits []float32) int32 {
	valid := func(t int32) bool {
		if c.e.g.IsEOS(t) {
			return c.m.Accepting(c.st)
		}
		p := c.piece(t)
		return p != nil && c.m.Feed(c.st, p) != grammar.Dead
	}
	mask := func(l []float32) int {
		n := c.m.Allowed(c.st, c.e.vocab, c.allow)
		if c.m.Accepting(c.st) {
			for _, t := range c.e.eos {
				c.allow[t] = true
				n++
			}
		}
		for i := range l {
			if i >= len(c.allow) || !c.allow[i] {
				l[i] = float32(math.Inf(-1))
			}
		}
		return n
	}
	tok := smp.SampleConstrained(logits, valid, mask)
	if tok >= 0 && !c.e.g.IsEOS(tok) {
		c.st = c.m.Feed(c.st, c.piece(tok))
	}
	return tok
}

func (c *grammarCursor) piece(t int32) []byte {
	if t < 0 || int(t) >= len(c.e.pieces) {
		return nil
	}
	return c.e.pieces[t]
}

// chatMLTemplate is the fallback format when the caller passes no template
// (natter's commands render the model's own template exactly): prompts'
// ChatML, named as a fallback in the stats.
type chatMLTemplate struct{}

func (chatMLTemplate) Name() string { return "chatml (fallback)" }

func (chatMLTemplate) Render(msgs []prompts.Message, addGen bool) (string, error) {
	return prompts.ChatML().Render(msgs, addGen)
}
