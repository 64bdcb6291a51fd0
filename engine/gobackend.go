package engine

import (
	"context"
	"errors"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"natter/engine/api"
	"natter/engine/goengine"
	"natter/prompts"
)

// GoArchitectures are the architectures only the Go engine runs (the
// vendored llama.cpp predates them).
var GoArchitectures = map[string]bool{"qwen35": true, "qwen35moe": true, "gemma4": true}

// GoEngine runs a model on Ollama's Go engine (package goengine) behind the
// same api.Generator as Engine: exact prompts with protected message text,
// turn dropping, UTF-8 reassembly, stop sequences, prefix reuse. One
// generation runs at a time.
type GoEngine struct {
	g        *goengine.Engine
	info     api.ModelInfo
	specials []special
	bos      Token
	addBOS   bool

	mu        sync.Mutex // held by the running generation
	closeOnce sync.Once
}

// LoadGo validates the file and loads it on the Go engine.
func LoadGo(opts Options) (*GoEngine, error) {
	f, err := Validate(opts.ModelPath)
	if err != nil {
		return nil, err
	}
	// Flash attention unless turned off: upstream llama.cpp's "auto" enables it
	// on CPU, and only with it do the Go engine's greedy ids equal upstream's
	// bit for bit (goengine.Options.FlashAttention).
	g, err := goengine.Load(goengine.Options{ModelPath: opts.ModelPath, ContextSize: opts.ContextSize, BatchSize: opts.BatchSize, Threads: opts.Threads,
		FlashAttention: opts.FlashAttn != "off"})
	if err != nil {
		return nil, err
	}
	e := &GoEngine{g: g}
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
		Path: opts.ModelPath, Name: f.Name(), Arch: f.Arch(), Description: f.Arch() + " " + f.Quantization() + " (Go engine)",
		Quantization: f.Quantization(), SizeBytes: size, Params: int64(f.ParamCount()), TrainCtx: int(f.ContextLength()),
		ContextSize: g.ContextSize(), ChatTemplate: f.ChatTemplate(), AddBOS: e.addBOS,
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
	})
	return nil
}

// Info implements api.Generator.
func (e *GoEngine) Info() api.ModelInfo { return e.info }

// plain tokenizes text with no special-token parsing. Ollama's tokenizers
// always split on special-token text, so text holding one is cut just inside
// each occurrence: the characters stay, the control token never appears.
func (e *GoEngine) plain(text string) ([]Token, error) {
	var out []Token
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
		nCtx: e.g.ContextSize(), specials: e.specials,
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

// Generate implements api.Generator with the same event stream as Engine.
// Cancelling ctx stops within one token, or between prefill batches.
func (e *GoEngine) Generate(ctx context.Context, req api.Request) (<-chan api.Event, error) {
	if err := validateSampling(req.Sampling); err != nil {
		return nil, err
	}
	if req.Sampling.RepeatPenalty != 0 && req.Sampling.RepeatPenalty != 1 {
		return nil, errors.New("the Go engine has no repeat penalty yet; use --repeat-penalty 1")
	}
	ch := make(chan api.Event, 256)
	go func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.generate(ctx, req, ch)
	}()
	return ch, nil
}

func (e *GoEngine) generate(ctx context.Context, req api.Request, ch chan<- api.Event) {
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
	nCtx := e.g.ContextSize()
	stats := &api.Stats{PromptTokens: len(p.tokens), DroppedTurns: p.dropped, ContextSize: nCtx, Template: p.template}
	t0 := time.Now()
	logits, reused, err := e.g.Prefill(ctx, p.tokens)
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
	for {
		tok := smp.Sample(logits)
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

// chatMLTemplate is the fallback format when the caller passes no template
// (natter's commands render the model's own template exactly).
type chatMLTemplate struct{}

func (chatMLTemplate) Name() string { return "chatml (fallback)" }

func (chatMLTemplate) Render(msgs []prompts.Message, addGen bool) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
	}
	if addGen {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String(), nil
}
