package engine

/*
#include <stdlib.h>
#include <stdbool.h>
#include <stdint.h>
#include "llama.h"
#include "ggml-cpu.h"
#include "guard.h"
#include "flag.h"

extern void natterLog(int level, char *text, void *user_data);
extern bool natterProgress(float progress, void *user_data);

static void natter_log_cb(enum ggml_log_level level, const char *text, void *ud) {
	natterLog((int)level, (char *)text, ud);
}
static void natter_set_log(void) { llama_log_set(natter_log_cb, NULL); }

static bool natter_progress_cb(float p, void *ud) { return natterProgress(p, ud); }
static void natter_set_progress(struct llama_model_params *p, uintptr_t handle) {
	p->progress_callback = natter_progress_cb;
	p->progress_callback_user_data = (void *)handle;
}

// The abort flag (flag.h) stops a decode between graph nodes.
static void natter_set_abort(struct llama_context *ctx, int *flag) {
	llama_set_abort_callback(ctx, natter_flag_cb, flag);
}

static void natter_batch_set(struct llama_batch *b, int i, llama_token tok, llama_pos pos, bool logits) {
	b->token[i] = tok;
	b->pos[i] = pos;
	b->n_seq_id[i] = 1;
	b->seq_id[i][0] = 0;
	b->logits[i] = logits;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/cgo"
	"strings"
	"sync"
	"unsafe"
)

// Token is a llama.cpp token id.
type Token = int32

var (
	backendOnce sync.Once
	logMu       sync.Mutex
	logOut      io.Writer = io.Discard
)

// initBackend initialises llama.cpp once and routes its logs away from stderr.
func initBackend() {
	backendOnce.Do(func() {
		C.natter_set_log()
		C.llama_backend_init()
	})
}

// SetLogOutput sends llama.cpp/ggml log lines to w (nil discards them).
// Never point it at stderr while a TUI owns the terminal.
func SetLogOutput(w io.Writer) {
	initBackend()
	logMu.Lock()
	defer logMu.Unlock()
	if w == nil {
		w = io.Discard
	}
	logOut = w
	// Ollama's Go engine logs through slog's default logger: same place.
	slog.SetDefault(slog.New(slog.NewTextHandler(logWriter{}, &slog.HandlerOptions{Level: slog.LevelInfo})))
}

// logWriter writes to the current log output under its lock.
type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return logOut.Write(p)
}

// logHint says where llama.cpp's own explanation went.
func logHint() string {
	logMu.Lock()
	defer logMu.Unlock()
	switch w := logOut.(type) {
	case *os.File:
		if w == os.Stderr {
			return "its messages above say why"
		}
		return "llama.cpp's messages in " + w.Name() + " say why"
	}
	return "run with --verbose to see llama.cpp's messages"
}

//export natterLog
func natterLog(level C.int, text *C.char, _ unsafe.Pointer) {
	s := C.GoString(text)
	logMu.Lock()
	_, _ = io.WriteString(logOut, s)
	logMu.Unlock()
}

//export natterProgress
func natterProgress(p C.float, ud unsafe.Pointer) C.bool {
	fn, ok := cgo.Handle(uintptr(ud)).Value().(func(float32) bool)
	if !ok || fn == nil {
		return true
	}
	return C.bool(fn(float32(p)))
}

// SystemInfo returns llama.cpp's description of the compiled-in CPU features.
func SystemInfo() string {
	initBackend()
	return strings.TrimSpace(C.GoString(C.llama_print_system_info()))
}

// model wraps a llama_model. Close is idempotent.
type model struct {
	c     *C.struct_llama_model
	vocab *C.struct_llama_vocab
	// tokens is the grammar text guard's table, built on first use (the
	// engine's single worker goroutine is its only user).
	tokens *C.struct_natter_token_table
}

func loadModel(path string, progress func(float32) bool, extraBufs bool) (*model, error) {
	initBackend()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	params := C.llama_model_default_params()
	params.use_mmap = true
	params.n_gpu_layers = 0
	params.use_extra_bufts = C.bool(extraBufs)
	var h cgo.Handle
	if progress != nil {
		h = cgo.NewHandle(progress)
		defer h.Delete()
		C.natter_set_progress(&params, C.uintptr_t(h))
	}
	m := C.llama_model_load_from_file(cpath, params)
	if m == nil {
		return nil, fmt.Errorf("%s: llama.cpp could not load the model (%s)", path, logHint())
	}
	return &model{c: m, vocab: C.llama_model_get_vocab(m)}, nil
}

func (m *model) Close() error {
	if m == nil || m.c == nil {
		return nil
	}
	if m.tokens != nil {
		C.natter_token_table_free(m.tokens)
		m.tokens = nil
	}
	C.llama_model_free(m.c)
	m.c, m.vocab = nil, nil
	return nil
}

// tokenTable is the text guard's table of token texts, made once.
func (m *model) tokenTable() *C.struct_natter_token_table {
	if m.tokens == nil {
		m.tokens = C.natter_token_table_new(m.vocab)
	}
	return m.tokens
}

func (m *model) desc() string {
	buf := make([]byte, 256)
	n := C.llama_model_desc(m.c, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	if n < 0 {
		return ""
	}
	return string(buf[:min(int(n), len(buf)-1)])
}

func (m *model) chatTemplate() string {
	t := C.llama_model_chat_template(m.c, nil)
	if t == nil {
		return ""
	}
	return C.GoString(t)
}

func (m *model) nCtxTrain() int   { return int(C.llama_model_n_ctx_train(m.c)) }
func (m *model) nParams() int64   { return int64(C.llama_model_n_params(m.c)) }
func (m *model) sizeBytes() int64 { return int64(C.llama_model_size(m.c)) }
func (m *model) nVocab() int      { return int(C.llama_vocab_n_tokens(m.vocab)) }
func (m *model) bos() Token       { return Token(C.llama_vocab_bos(m.vocab)) }
func (m *model) eos() Token       { return Token(C.llama_vocab_eos(m.vocab)) }
func (m *model) addBOS() bool     { return bool(C.llama_vocab_get_add_bos(m.vocab)) }
func (m *model) isEOG(t Token) bool {
	return bool(C.llama_vocab_is_eog(m.vocab, C.llama_token(t)))
}

// tokenText is the token's text as stored in the vocabulary.
func (m *model) tokenText(t Token) string {
	if t < 0 || int(t) >= m.nVocab() {
		return ""
	}
	return C.GoString(C.llama_vocab_get_text(m.vocab, C.llama_token(t)))
}

func (m *model) tokenAttr(t Token) int {
	return int(C.llama_vocab_get_attr(m.vocab, C.llama_token(t)))
}

// tokenize converts text to tokens. addSpecial adds BOS/EOS as the model
// wants; parseSpecial lets text like "<|im_end|>" become a control token.
func (m *model) tokenize(text string, addSpecial, parseSpecial bool) ([]Token, error) {
	if len(text) > 1<<30 {
		return nil, errors.New("text too long to tokenize")
	}
	var ctext *C.char
	if len(text) > 0 {
		ctext = (*C.char)(C.CBytes([]byte(text)))
		defer C.free(unsafe.Pointer(ctext))
	}
	n := len(text) + 2
	for range 2 {
		toks := make([]Token, max(n, 1))
		got := C.llama_tokenize(m.vocab, ctext, C.int32_t(len(text)),
			(*C.llama_token)(unsafe.Pointer(&toks[0])), C.int32_t(len(toks)),
			C.bool(addSpecial), C.bool(parseSpecial))
		if got >= 0 {
			return toks[:got], nil
		}
		if got == C.INT32_MIN {
			return nil, errors.New("tokenization overflow")
		}
		n = int(-got) // buffer too small: retry with the size llama.cpp asked for
	}
	return nil, errors.New("tokenization failed")
}

// piece returns the bytes of one token (control tokens render empty unless special).
func (m *model) piece(t Token, buf []byte, special bool) []byte {
	if cap(buf) < 64 {
		buf = make([]byte, 64)
	}
	buf = buf[:cap(buf)]
	for {
		n := C.llama_token_to_piece(m.vocab, C.llama_token(t), (*C.char)(unsafe.Pointer(&buf[0])), C.int32_t(len(buf)), 0, C.bool(special))
		if n >= 0 {
			return buf[:n]
		}
		buf = make([]byte, int(-n))
	}
}

// applyTemplate formats messages with llama.cpp's built-in template detection.
// tmpl is a Jinja source (matched heuristically) or a built-in name like "chatml".
func applyTemplate(tmpl string, roles, contents []string, addAssistant bool) (string, error) {
	ctmpl := C.CString(tmpl)
	defer C.free(unsafe.Pointer(ctmpl))
	n := len(roles)
	msgs := (*[1 << 28]C.struct_llama_chat_message)(C.malloc(C.size_t(max(n, 1)) * C.size_t(unsafe.Sizeof(C.struct_llama_chat_message{}))))[:max(n, 1):max(n, 1)]
	defer C.free(unsafe.Pointer(&msgs[0]))
	total := 0
	for i := range n {
		msgs[i].role = C.CString(roles[i])
		msgs[i].content = C.CString(contents[i])
		total += len(roles[i]) + len(contents[i])
	}
	defer func() {
		for i := range n {
			C.free(unsafe.Pointer(msgs[i].role))
			C.free(unsafe.Pointer(msgs[i].content))
		}
	}()
	size := 2*total + 256
	for range 2 {
		buf := (*C.char)(C.malloc(C.size_t(size)))
		got := C.llama_chat_apply_template(ctmpl, &msgs[0], C.size_t(n), C.bool(addAssistant), buf, C.int32_t(size))
		if got < 0 {
			C.free(unsafe.Pointer(buf))
			return "", errors.New("template not supported by llama.cpp's built-in formatter")
		}
		if int(got) <= size {
			s := C.GoStringN(buf, got)
			C.free(unsafe.Pointer(buf))
			return s, nil
		}
		C.free(unsafe.Pointer(buf))
		size = int(got) + 1
	}
	return "", errors.New("template formatting failed")
}

// KV cache types accepted by ContextParams.CacheType.
var cacheTypes = map[string]C.enum_ggml_type{
	"f16":  C.GGML_TYPE_F16,
	"f32":  C.GGML_TYPE_F32,
	"q8_0": C.GGML_TYPE_Q8_0,
	"q4_0": C.GGML_TYPE_Q4_0,
	"bf16": C.GGML_TYPE_BF16,
}

// flashAttnAutoCtx is the largest context "auto" runs without flash
// attention. The bundled ggml's CPU flash-attention kernel walks one query
// row at a time: on this repository's machine it made prefill 0.5x as fast
// at a depth of 2048 (0.4B Q8_0: 78 vs 148 t/s; stories260K pp512 3552 vs
// 5150) and generation no faster, so auto leaves it off. Without it the
// attention scores of a batch are held whole (n_ctx x n_ubatch x heads
// floats, about 1 GiB for 32 heads at 16k), so long contexts keep it on.
const flashAttnAutoCtx = 16384

// useFlashAttn decides flash attention for --flash-attn mode: quantized V
// caches need it in llama.cpp, and auto follows flashAttnAutoCtx.
func useFlashAttn(mode string, nCtx int, cacheType string) bool {
	switch mode {
	case "on":
		return true
	case "off":
		return false
	}
	return quantizedCache(cacheType) || nCtx > flashAttnAutoCtx
}

// quantizedCache reports a KV cache type that is not a float type.
func quantizedCache(t string) bool { return t != "" && t != "f16" && t != "f32" && t != "bf16" }

type contextParams struct {
	nCtx, nBatch, threads int
	flashAttn             string // auto|on|off
	cacheType             string
}

// llamaContext wraps a llama_context with its abort flag, batch and thread
// pool.
type llamaContext struct {
	c      *C.struct_llama_context
	abort  *C.int
	batch  C.struct_llama_batch
	nBatch int
	// nUbatch is the micro-batch: attachments that attend both ways must
	// fit one.
	nUbatch int
	// embd is a batch of embeddings (attachments), made on first use.
	embd      C.struct_llama_batch
	embdWidth int
	// pool keeps ggml's worker threads alive between decodes; without it
	// ggml creates and joins threads for every token.
	pool *C.struct_ggml_threadpool
}

func newContext(m *model, p contextParams) (*llamaContext, error) {
	cp := C.llama_context_default_params()
	cp.n_ctx = C.uint32_t(p.nCtx)
	cp.n_batch = C.uint32_t(p.nBatch)
	cp.n_ubatch = C.uint32_t(min(p.nBatch, 512))
	cp.n_seq_max = 1
	cp.n_threads = C.int32_t(p.threads)
	cp.n_threads_batch = C.int32_t(p.threads)
	cp.no_perf = true
	fa := useFlashAttn(p.flashAttn, p.nCtx, p.cacheType)
	if !fa && quantizedCache(p.cacheType) {
		return nil, fmt.Errorf("--cache-type %s needs flash attention (--flash-attn on or auto): llama.cpp quantizes the V cache only with it", p.cacheType)
	}
	if fa {
		cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_ENABLED
	} else {
		cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_DISABLED
	}
	if p.cacheType != "" {
		t, ok := cacheTypes[p.cacheType]
		if !ok {
			return nil, fmt.Errorf("unknown KV cache type %q", p.cacheType)
		}
		cp.type_k, cp.type_v = t, t
	}
	c := C.llama_init_from_model(m.c, cp)
	if c == nil {
		return nil, errors.New("llama.cpp could not create a context (out of memory?)")
	}
	lc := &llamaContext{c: c, nBatch: p.nBatch, nUbatch: int(cp.n_ubatch)}
	tpp := C.ggml_threadpool_params_default(C.int(p.threads))
	if lc.pool = C.ggml_threadpool_new(&tpp); lc.pool != nil {
		C.llama_attach_threadpool(c, lc.pool, lc.pool)
	}
	lc.abort = (*C.int)(C.calloc(1, C.size_t(unsafe.Sizeof(C.int(0)))))
	C.natter_set_abort(c, lc.abort)
	lc.batch = C.llama_batch_init(C.int32_t(p.nBatch), 0, 1)
	return lc, nil
}

func (lc *llamaContext) Close() error {
	if lc == nil || lc.c == nil {
		return nil
	}
	if lc.pool != nil {
		C.llama_detach_threadpool(lc.c)
	}
	C.llama_free(lc.c)
	if lc.pool != nil {
		C.ggml_threadpool_free(lc.pool)
		lc.pool = nil
	}
	C.llama_batch_free(lc.batch)
	if lc.embd.embd != nil {
		C.llama_batch_free(lc.embd)
	}
	C.free(unsafe.Pointer(lc.abort))
	lc.c, lc.abort = nil, nil
	return nil
}

func (lc *llamaContext) nCtx() int { return int(C.llama_n_ctx(lc.c)) }

func (lc *llamaContext) setAbort(on bool) {
	v := C.int(0)
	if on {
		v = 1
	}
	C.natter_flag_set(lc.abort, v)
}

var errAborted = errors.New("aborted")

// decode feeds toks at positions pos.. and asks for logits of the last one
// when wantLast. It splits into n_batch chunks.
func (lc *llamaContext) decode(toks []Token, pos int, wantLast bool) error {
	for start := 0; start < len(toks); start += lc.nBatch {
		end := min(start+lc.nBatch, len(toks))
		out := len(toks) // logits wanted from this index on: none
		if wantLast {
			out = len(toks) - 1
		}
		if err := lc.decodeBatch(toks, pos, start, end, out, len(toks)); err != nil {
			return err
		}
	}
	return nil
}

// decodeBatch decodes toks[start:end] at positions pos+start.., asking for
// the logits of the tokens with an index in [outFrom, outTo).
func (lc *llamaContext) decodeBatch(toks []Token, pos, start, end, outFrom, outTo int) error {
	for i := start; i < end; i++ {
		C.natter_batch_set(&lc.batch, C.int(i-start), C.llama_token(toks[i]), C.llama_pos(pos+i), C.bool(i >= outFrom && i < outTo))
	}
	lc.batch.n_tokens = C.int32_t(end - start)
	switch rc := C.llama_decode(lc.c, lc.batch); rc {
	case 0:
		return nil
	case 2:
		return errAborted
	case 1:
		return errors.New("no room in the KV cache for this batch")
	default:
		return fmt.Errorf("llama_decode failed (%d)", int(rc))
	}
}

// watch sets the abort flag when ctx ends, until the returned function is
// called.
func (lc *llamaContext) watch(ctx context.Context) (stop func()) { return watchFlag(ctx, lc.setAbort) }

// watchFlag clears a flag, then calls set(true) when ctx ends, until the
// returned function is called. That function waits for a set(true) already
// under way before it clears the flag: otherwise a late cancel of this
// request could stop the next one.
func watchFlag(ctx context.Context, set func(bool)) (stop func()) {
	set(false)
	done := make(chan struct{})
	unregister := context.AfterFunc(ctx, func() {
		set(true)
		close(done)
	})
	return func() {
		if !unregister() {
			<-done
		}
		set(false)
	}
}

// removeFrom drops KV entries at positions >= pos. It reports false when the
// memory cannot remove a partial range (recurrent models); then clear all.
func (lc *llamaContext) removeFrom(pos int) bool {
	mem := C.llama_get_memory(lc.c)
	return bool(C.llama_memory_seq_rm(mem, 0, C.llama_pos(pos), -1))
}

func (lc *llamaContext) clear() {
	C.llama_memory_clear(C.llama_get_memory(lc.c), true)
}

// stateGet serialises the KV state of sequence 0.
func (lc *llamaContext) stateGet() ([]byte, error) {
	n := C.llama_state_seq_get_size(lc.c, 0)
	if n == 0 {
		return nil, errors.New("empty state")
	}
	buf := make([]byte, int(n))
	got := C.llama_state_seq_get_data(lc.c, (*C.uint8_t)(unsafe.Pointer(&buf[0])), n, 0)
	if got == 0 {
		return nil, errors.New("could not read the KV state")
	}
	return buf[:got], nil
}

// stateSet restores sequence 0 from stateGet's bytes.
func (lc *llamaContext) stateSet(data []byte) error {
	if len(data) == 0 {
		return errors.New("empty state")
	}
	p := C.CBytes(data)
	defer C.free(p)
	if C.llama_state_seq_set_data(lc.c, (*C.uint8_t)(p), C.size_t(len(data)), 0) == 0 {
		return errors.New("llama.cpp rejected the saved state")
	}
	return nil
}

// sampler wraps a llama_sampler chain.
type sampler struct{ c *C.struct_llama_sampler }

// newSampler builds the chain; a grammar (already checked by
// grammar.Parse) goes first, so every later step sees only allowed tokens.
func newSampler(s samplingParams, m *model) (*sampler, error) {
	cp := C.llama_sampler_chain_default_params()
	cp.no_perf = true
	ch := C.llama_sampler_chain_init(cp)
	if s.grammar != "" {
		cs := C.CString(s.grammar)
		g := C.natter_grammar_init(m.vocab, cs)
		C.free(unsafe.Pointer(cs))
		if g == nil {
			C.llama_sampler_free(ch)
			return nil, errors.New("llama.cpp refused the grammar")
		}
		var guard *C.struct_llama_sampler
		if t := m.tokenTable(); t != nil {
			guard = C.natter_text_guard_init(t)
		}
		if guard == nil {
			C.llama_sampler_free(g)
			C.llama_sampler_free(ch)
			return nil, errors.New("could not set up the grammar's text guard")
		}
		C.llama_sampler_chain_add(ch, guard)
		C.llama_sampler_chain_add(ch, g)
	}
	if s.repeatPenalty != 1 && s.repeatPenalty > 0 {
		C.llama_sampler_chain_add(ch, C.llama_sampler_init_penalties(C.int32_t(s.repeatLastN), C.float(s.repeatPenalty), 0, 0))
	}
	if s.temperature <= 0 {
		C.llama_sampler_chain_add(ch, C.llama_sampler_init_greedy())
		return &sampler{c: ch}, nil
	}
	// A top-k past int32 keeps every token (no vocabulary is that large):
	// it is off, not wrapped around to a small k.
	if s.topK > 0 && s.topK <= math.MaxInt32 {
		C.llama_sampler_chain_add(ch, C.llama_sampler_init_top_k(C.int32_t(s.topK)))
	}
	if s.topP > 0 && s.topP < 1 {
		C.llama_sampler_chain_add(ch, C.llama_sampler_init_top_p(C.float(s.topP), 1))
	}
	if s.minP > 0 {
		C.llama_sampler_chain_add(ch, C.llama_sampler_init_min_p(C.float(s.minP), 1))
	}
	C.llama_sampler_chain_add(ch, C.llama_sampler_init_temp(C.float(s.temperature)))
	C.llama_sampler_chain_add(ch, C.llama_sampler_init_dist(C.uint32_t(s.seed)))
	return &sampler{c: ch}, nil
}

// errGrammarStuck: no token of the vocabulary can continue the grammar.
var errGrammarStuck = errors.New("the grammar allows no token of this model's vocabulary here")

func (s *sampler) sample(lc *llamaContext) (Token, error) {
	t := Token(C.natter_sample(s.c, lc.c))
	if t < 0 {
		return 0, errGrammarStuck
	}
	return t, nil
}

func (s *sampler) Close() error {
	if s == nil || s.c == nil {
		return nil
	}
	C.llama_sampler_free(s.c)
	s.c = nil
	return nil
}

type samplingParams struct {
	temperature, topP, minP, repeatPenalty float32
	topK, repeatLastN                      int
	seed                                   uint32
	grammar                                string
}

// scoreFrom decodes toks from position 0 (the cache empty) and calls score
// with -log p(toks[i+1]) for every position i from `from` to the one before
// last, as the logits at i predict the token after it.
func (lc *llamaContext) scoreFrom(toks []Token, from, nVocab int, score func(nll float64)) error {
	for start := 0; start < len(toks); start += lc.nBatch {
		end := min(start+lc.nBatch, len(toks))
		if err := lc.decodeBatch(toks, 0, start, end, from, len(toks)-1); err != nil {
			return err
		}
		for i := max(start, from); i < end && i < len(toks)-1; i++ {
			p := C.llama_get_logits_ith(lc.c, C.int32_t(i-start))
			if p == nil {
				return errors.New("llama.cpp returned no logits")
			}
			score(-logSoftmaxAt(unsafe.Slice((*float32)(unsafe.Pointer(p)), nVocab), int(toks[i+1])))
		}
	}
	return nil
}

// logSoftmaxAt is log(softmax(logits)[tok]), summed in float64 after the
// max is taken out, as llama-perplexity does.
func logSoftmaxAt(logits []float32, tok int) float64 {
	mx := logits[0]
	for _, v := range logits[1:] {
		mx = max(mx, v)
	}
	var sum float64
	for _, v := range logits {
		sum += float64(float32(math.Exp(float64(v - mx))))
	}
	return float64(logits[tok]-mx) - math.Log(sum)
}
