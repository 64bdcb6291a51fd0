package engine

/*
#include <stdlib.h>
#include "llama.h"
#include "traingraph.h"

struct natter_lr { float lr; float wd; };
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"natter/engine/api"
	"natter/engine/gguf"
	"natter/prompts"
)

// Fine-tuning runs on natter's own forward graph of the model, built on
// ggml's training API (ggml_opt: the AdamW/SGD steps and cross-entropy that
// llama.cpp's llama_opt_epoch drives too). natter does not train through
// llama_opt_* itself: in the llama.cpp it carries (Dec 2025) that path
// cannot take gradients through the KV cache writes (ggml_set_rows), adds
// each step's gradients to the last when the graph is rebuilt per batch,
// and passes every norm's gradient through RMS_NORM_BACK, which is wrong
// here (gradcheck_test.go compares against finite differences). Its own
// graph has no cache, static buffers and a norm made of ops whose
// gradients check out, and it can leave prompt tokens out of the loss.

// TrainArchitectures are the architectures natter's graph trains.
var TrainArchitectures = []string{"llama", "qwen2", "qwen3"}

// TrainOptions configure a Trainer.
type TrainOptions struct {
	ModelPath string
	Window    int // tokens per training sequence (0 = 256)
	Threads   int // 0 = physical cores
	// Train names the tensors to train (TrainableTensors picks them).
	Train []string
	SGD   bool // plain SGD instead of AdamW: no optimizer state
}

// Trainer fine-tunes a model's F32 tensors. Not safe for concurrent use;
// Close is idempotent.
type Trainer struct {
	gt       *C.struct_natter_gt
	opts     TrainOptions
	file     *gguf.File
	model    *model // the vocabulary only: tokenizing and the chat template
	window   int
	lr       *C.struct_natter_lr
	cnames   []*C.char
	specials []special
	builtin  prompts.ChatTemplate
	closed   bool
}

// CheckTrainArch says why natter cannot train f's architecture or layout
// (nil when it can).
func CheckTrainArch(f *gguf.File) error {
	if !slices.Contains(TrainArchitectures, f.Arch()) {
		return fmt.Errorf("%s is a %s model; natter tune trains %s models (Llama, Mistral, SmolLM, TinyLlama, Qwen2.5, Qwen3, …)", filepath.Base(f.Path), f.Arch(), strings.Join(TrainArchitectures, ", "))
	}
	if _, err := graphParams(f); err != nil {
		return fmt.Errorf("%s: natter tune does not support its %v", filepath.Base(f.Path), err)
	}
	known := map[string]bool{"attn_norm.weight": true, "attn_q.weight": true, "attn_k.weight": true, "attn_v.weight": true,
		"attn_output.weight": true, "ffn_norm.weight": true, "ffn_gate.weight": true, "ffn_up.weight": true, "ffn_down.weight": true}
	switch f.Arch() {
	case "qwen2":
		known["attn_q.bias"], known["attn_k.bias"], known["attn_v.bias"] = true, true, true
	case "qwen3":
		known["attn_q_norm.weight"], known["attn_k_norm.weight"] = true, true
	}
	for _, t := range f.Tensors {
		switch t.Name {
		case "token_embd.weight", "output_norm.weight", "output.weight", "rope_freqs.weight":
			continue
		}
		rest, ok := strings.CutPrefix(t.Name, "blk.")
		if _, tail, cut := strings.Cut(rest, "."); ok && cut && known[tail] {
			continue
		}
		return fmt.Errorf("%s: natter tune does not know its tensor %s", filepath.Base(f.Path), t.Name)
	}
	return nil
}

// TrainableTensors lists the tensors of f that can train (F32 weights but
// the rope frequencies) and that keep selects.
func TrainableTensors(f *gguf.File, keep func(name string) bool) []gguf.TensorInfo {
	var out []gguf.TensorInfo
	for _, t := range f.Tensors {
		if t.Type == gguf.TypeF32 && t.Name != "rope_freqs.weight" && (keep == nil || keep(t.Name)) {
			out = append(out, t)
		}
	}
	return out
}

// TrainWindow is the window a --ctx of n gives.
func TrainWindow(n int) int {
	if n <= 0 {
		return 256
	}
	return max(n, 8)
}

// graphParams reads the hyperparameters natter's llama graph needs; an
// error names what it does not support.
func graphParams(f *gguf.File) (C.struct_natter_hparams, error) {
	var hp C.struct_natter_hparams
	arch := f.Arch()
	u := func(k string, def uint64) (int, error) {
		v, ok := f.Get(arch + "." + k)
		if !ok {
			return int(def), nil
		}
		n, ok := gguf.AsUint(v)
		if !ok {
			return 0, fmt.Errorf("%s.%s is not one number", arch, k)
		}
		return int(n), nil
	}
	fl := func(k string, def float64) (float64, error) {
		v, ok := f.Get(arch + "." + k)
		if !ok {
			return def, nil
		}
		switch x := v.(type) {
		case float32:
			return float64(x), nil
		case float64:
			return x, nil
		}
		return 0, fmt.Errorf("%s.%s is not a number", arch, k)
	}
	var err error
	var n [8]int
	for i, k := range []string{"block_count", "embedding_length", "attention.head_count", "feed_forward_length", "context_length"} {
		if n[i], err = u(k, 0); err != nil {
			return hp, err
		}
	}
	nLayer, nEmbd, nHead, nFF, nCtx := n[0], n[1], n[2], n[3], n[4]
	if nLayer == 0 || nEmbd == 0 || nHead == 0 || nFF == 0 {
		return hp, errors.New("missing hyperparameters")
	}
	nKV, err := u("attention.head_count_kv", uint64(nHead))
	if err != nil {
		return hp, err
	}
	hd, err := u("attention.key_length", uint64(nEmbd/nHead))
	if err != nil {
		return hp, err
	}
	if vd, _ := u("attention.value_length", uint64(hd)); vd != hd || nKV == 0 || nHead%nKV != 0 {
		return hp, errors.New("its attention layout")
	}
	rot, err := u("rope.dimension_count", uint64(hd))
	if err != nil {
		return hp, err
	}
	eps, err := fl("attention.layer_norm_rms_epsilon", 1e-5)
	if err != nil {
		return hp, err
	}
	base, err := fl("rope.freq_base", 10000)
	if err != nil {
		return hp, err
	}
	scale := 1.0
	switch st := f.String(arch + ".rope.scaling.type"); st {
	case "", "none":
	case "linear":
		factor, err := fl("rope.scaling.factor", 1)
		if err != nil || factor <= 0 {
			return hp, errors.New("its rope scaling factor")
		}
		scale = 1 / factor
	default:
		return hp, fmt.Errorf("rope scaling %q", st)
	}
	tv, _ := f.Get("tokenizer.ggml.tokens")
	toks, _ := tv.([]string)
	hp.n_layer, hp.n_embd, hp.n_head, hp.n_head_kv = C.int(nLayer), C.int(nEmbd), C.int(nHead), C.int(nKV)
	hp.head_dim, hp.n_ff, hp.n_vocab, hp.n_rot, hp.n_ctx_orig = C.int(hd), C.int(nFF), C.int(len(toks)), C.int(rot), C.int(nCtx)
	hp.eps, hp.rope_base, hp.rope_scale = C.float(eps), C.float(base), C.float(scale)
	for _, t := range f.Tensors {
		switch {
		case t.Name == "output.weight":
			hp.has_output = true
		case t.Name == "rope_freqs.weight":
			hp.has_rope_freqs = true
		case strings.HasSuffix(t.Name, ".attn_q.bias"):
			hp.has_qkv_bias = true
		case strings.HasSuffix(t.Name, ".attn_q_norm.weight"):
			hp.has_qk_norm = true
		}
	}
	// llama.cpp's rope type per architecture: NeoX for the Qwen family.
	if arch == "qwen2" || arch == "qwen3" {
		hp.rope_mode = 2
	}
	if arch == "qwen3" && !hp.has_qk_norm {
		return hp, errors.New("missing attn_q_norm tensors")
	}
	return hp, nil
}

// NewTrainer loads the model for training: llama.cpp reads only its
// vocabulary (for tokenizing and the chat template), ggml the weights.
func NewTrainer(o TrainOptions) (*Trainer, error) {
	f, err := Validate(o.ModelPath)
	if err != nil {
		return nil, err
	}
	if err := CheckTrainArch(f); err != nil {
		return nil, err
	}
	if len(o.Train) == 0 {
		return nil, errors.New("no tensors selected to train")
	}
	if o.Threads <= 0 {
		o.Threads = PhysicalCores()
	}
	o.Window = TrainWindow(o.Window)
	hp, err := graphParams(f)
	if err != nil {
		return nil, err
	}
	initBackend()
	cpath := C.CString(o.ModelPath)
	defer C.free(unsafe.Pointer(cpath))
	mp := C.llama_model_default_params()
	mp.vocab_only = true
	cm := C.llama_model_load_from_file(cpath, mp)
	if cm == nil {
		return nil, fmt.Errorf("%s: llama.cpp could not load the vocabulary (%s)", o.ModelPath, logHint())
	}
	m := &model{c: cm, vocab: C.llama_model_get_vocab(cm)}
	t := &Trainer{opts: o, file: f, model: m, window: o.Window}
	t.lr = (*C.struct_natter_lr)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_natter_lr{}))))
	names := (**C.char)(C.calloc(C.size_t(len(o.Train)), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(names))
	ns := unsafe.Slice(names, len(o.Train))
	for i, name := range o.Train {
		t.cnames = append(t.cnames, C.CString(name))
		ns[i] = t.cnames[i]
	}
	sgd := 0
	if o.SGD {
		sgd = 1
	}
	errBuf := (*C.char)(C.calloc(512, 1))
	defer C.free(unsafe.Pointer(errBuf))
	t.gt = C.natter_gt_new(cpath, hp, names, C.int(len(o.Train)), C.int(o.Threads), C.int(o.Window), C.int(sgd), unsafe.Pointer(t.lr), errBuf, 512)
	if t.gt == nil {
		t.Close()
		return nil, fmt.Errorf("%s: %s", o.ModelPath, C.GoString(errBuf))
	}
	t.specials = m.loadSpecials()
	t.builtin = newBuiltinTemplate(m)
	return t, nil
}

// Window is the tokens per training sequence.
func (t *Trainer) Window() int { return t.window }

// Trained is how many tensors are training.
func (t *Trainer) Trained() int { return len(t.opts.Train) }

// Info describes the model being trained (what a chat template needs).
func (t *Trainer) Info() api.ModelInfo {
	return api.ModelInfo{
		Path: t.opts.ModelPath, Name: t.file.Name(), Arch: t.file.Arch(),
		ChatTemplate: t.model.chatTemplate(), TrainCtx: t.model.nCtxTrain(),
		BOS: t.model.tokenText(t.model.bos()), EOS: t.model.tokenText(t.model.eos()), AddBOS: t.model.addBOS(),
		Backend: BackendLlama,
	}
}

// BuiltinTemplate is llama.cpp's formatter for the model, the chat's
// fallback when the model's Jinja template cannot be used.
func (t *Trainer) BuiltinTemplate() prompts.ChatTemplate { return t.builtin }

// TokenText is a token's text in the vocabulary.
func (t *Trainer) TokenText(tok Token) string { return t.model.tokenText(tok) }

// EOS is the model's end-of-sequence token.
func (t *Trainer) EOS() Token { return t.model.eos() }

// TextTokens tokenizes plain text as a completion prompt would be (BOS as
// the model wants, special tokens not parsed).
func (t *Trainer) TextTokens(text string) ([]Token, error) {
	return t.model.tokenize(text, true, false)
}

// ChatTokens renders a conversation with tmpl and tokenizes it exactly as
// the chat does, so message text never turns into control tokens. addGen
// adds the template's opening of the model's turn, as a prompt has.
func (t *Trainer) ChatTokens(tmpl prompts.ChatTemplate, msgs []prompts.Message, addGen bool) ([]Token, error) {
	texts := make([]string, len(t.specials))
	for i, sp := range t.specials {
		texts[i] = sp.text
	}
	text, ps, _, err := prompts.RenderProtected(tmpl, msgs, addGen, texts)
	if err != nil {
		return nil, err
	}
	spans := make([]span, len(ps))
	for i, p := range ps {
		spans[i] = span{p.Start, p.End}
	}
	return t.model.tokenizePrompt(text, t.specials, spans)
}

// SetLR sets the learning rate and weight decay of the next steps.
func (t *Trainer) SetLR(lr, wd float32) {
	t.lr.lr = C.float(lr)
	t.lr.wd = C.float(wd)
}

// check refuses a sequence of the wrong length or with foreign tokens.
func (t *Trainer) check(seq []Token, targets []bool) error {
	if len(seq) != t.window+1 {
		return fmt.Errorf("a training sequence needs %d tokens, got %d", t.window+1, len(seq))
	}
	if targets != nil && len(targets) != len(seq) {
		return fmt.Errorf("%d targets for %d tokens", len(targets), len(seq))
	}
	nv := Token(t.model.nVocab())
	for _, tok := range seq {
		if tok < 0 || tok >= nv {
			return fmt.Errorf("token %d is outside the vocabulary (%d)", tok, nv)
		}
	}
	return nil
}

// run evaluates seq (window+1 tokens): the loss of predicting each token
// from those before it, over the positions targets marks (nil: all; the
// first token is never one). With train it takes one optimizer step.
func (t *Trainer) run(seq []Token, targets []bool, train bool) (float64, error) {
	if err := t.check(seq, targets); err != nil {
		return 0, err
	}
	labels := make([]int32, t.window)
	n := 0
	for i := range labels {
		labels[i] = seq[i+1]
		if targets != nil && !targets[i+1] {
			labels[i] = -1
		} else {
			n++
		}
	}
	if n == 0 {
		return 0, errors.New("a training sequence with no target tokens")
	}
	tr := 0
	if train {
		tr = 1
	}
	return t.result(float64(C.natter_gt_run(t.gt, (*C.int32_t)(unsafe.Pointer(&seq[0])), (*C.int32_t)(unsafe.Pointer(&labels[0])), C.int(tr))))
}

// Step trains on one sequence of Window()+1 tokens (one optimizer step)
// and returns its mean cross-entropy loss before the update.
func (t *Trainer) Step(seq []Token, targets []bool) (float64, error) {
	return t.run(seq, targets, true)
}

// Loss evaluates one sequence without training.
func (t *Trainer) Loss(seq []Token, targets []bool) (float64, error) {
	return t.run(seq, targets, false)
}

func (t *Trainer) result(loss float64) (float64, error) {
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, errors.New("the training loss diverged (NaN or infinite); lower --lr")
	}
	return loss, nil
}

// Save writes the model with its trained tensors to path: the base file
// byte for byte (all its metadata, the same layout) with the trained
// tensors' data replaced, written to a temp file and renamed into place.
func (t *Trainer) Save(path string) error {
	return writeAtomic(path, func(w *os.File) error {
		src, err := os.Open(t.opts.ModelPath)
		if err != nil {
			return err
		}
		defer src.Close()
		if _, err := io.Copy(w, src); err != nil {
			return err
		}
		for _, ti := range t.file.Tensors {
			if !slices.Contains(t.opts.Train, ti.Name) {
				continue
			}
			b := t.tensorBytes(ti.Name)
			if uint64(len(b)) != ti.Size {
				return fmt.Errorf("%s: training holds %d bytes, the file %d", ti.Name, len(b), ti.Size)
			}
			if _, err := w.WriteAt(b, t.file.DataOffset+int64(ti.Offset)); err != nil {
				return err
			}
		}
		return nil
	})
}

// tensorBytes is a tensor's current data in the trainer (nil if absent).
func (t *Trainer) tensorBytes(name string) []byte {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var p unsafe.Pointer
	var n C.size_t
	if C.natter_gt_data(t.gt, cn, &p, &n) != 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), int(n))
}

// tensorData is a tensor's values (tests).
func (t *Trainer) tensorData(name string) []float32 {
	b := t.tensorBytes(name)
	if b == nil {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
}

// writeAtomic writes path through a temp file beside it, synced and then
// renamed, so a crash leaves the old file or none, never half of one.
func writeAtomic(path string, write func(*os.File) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	fail := func(err error) error {
		tmp.Close()
		os.Remove(name)
		return err
	}
	if err := write(tmp); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(name)
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// Close frees the graph, the vocabulary and the C-side state.
func (t *Trainer) Close() error {
	if t == nil || t.closed {
		return nil
	}
	t.closed = true
	if t.gt != nil {
		C.natter_gt_free(t.gt)
	}
	t.model.Close()
	for _, c := range t.cnames {
		C.free(unsafe.Pointer(c))
	}
	C.free(unsafe.Pointer(t.lr))
	return nil
}

// TrainMemory is an estimate of what training needs, in bytes.
type TrainMemory struct {
	Weights, Gradients, Optimizer, Activations, Total int64
	TrainableParams                                   int64
}

func (m TrainMemory) String() string {
	return fmt.Sprintf("weights %s + gradients %s + optimizer state %s + activations %s = %s",
		HumanBytes(m.Weights), HumanBytes(m.Gradients), HumanBytes(m.Optimizer), HumanBytes(m.Activations), HumanBytes(m.Total))
}

// EstimateTrainMemory reckons the memory training f on window tokens
// takes: all weights resident, an F32 gradient per trained value, AdamW's
// two moments (SGD none), and the forward and backward activations, which
// grow with the window (per layer: the hidden states, the attention
// scores, the feed-forward; then the logits over the vocabulary).
func EstimateTrainMemory(f *gguf.File, train []gguf.TensorInfo, window int, sgd bool) TrainMemory {
	var m TrainMemory
	for _, t := range f.Tensors {
		m.Weights += int64(t.Size)
	}
	for _, t := range train {
		m.TrainableParams += int64(t.Elements())
	}
	m.Gradients = 4 * m.TrainableParams
	if !sgd {
		m.Optimizer = 8 * m.TrainableParams
	}
	arch := f.Arch()
	get := func(k string) int64 {
		v, _ := f.Uint(arch + "." + k)
		return int64(v)
	}
	nLayer, nEmbd, nFF, nHead := get("block_count"), get("embedding_length"), get("feed_forward_length"), get("attention.head_count")
	tv, _ := f.Get("tokenizer.ggml.tokens")
	tokens, _ := tv.([]string)
	nVocab := int64(len(tokens))
	w := int64(window)
	perLayer := w*(12*nEmbd+4*nFF) + 2*nHead*w*w
	// Over the vocabulary: the logits, their softmax and gradient, and the
	// one-hot labels (ggml's and the host copy). ggml's allocator reuses
	// the forward activations' memory for their gradients as the backward
	// pass goes, so one set is counted (measured: the estimate is some 15%
	// above the peak RSS of BenchmarkTrainStep).
	m.Activations = 4*(nLayer*perLayer) + 5*4*w*nVocab + 2*4*nLayer*w*nEmbd
	m.Total = m.Weights + m.Gradients + m.Optimizer + m.Activations
	return m
}

// matrixTypes lists the storage types of f's weight matrices.
func matrixTypes(f *gguf.File) string {
	types := map[string]bool{}
	for _, t := range f.Tensors {
		if len(t.Dims) >= 2 && t.Name != "token_embd.weight" {
			types[t.Type.String()] = true
		}
	}
	var ts []string
	for k := range types {
		ts = append(ts, k)
	}
	slices.Sort(ts)
	return strings.Join(ts, ", ")
}

// CheckTrainable says why the selected tensors cannot be fine-tuned:
// ggml's optimizer steps only F32 tensors, so a model whose matrices are
// F16 or quantized would train just its norms.
func CheckTrainable(f *gguf.File, train []gguf.TensorInfo) error {
	for _, t := range train {
		if len(t.Dims) >= 2 {
			return nil
		}
	}
	for _, t := range f.Tensors {
		if len(t.Dims) >= 2 && t.Type == gguf.TypeF32 {
			return errors.New("--train-layers selects no weight matrix to train")
		}
	}
	return fmt.Errorf("%s stores its weight matrices as %s; natter tune trains F32 weights. Make an F32 copy first: natter quantize %s %s F32 (from a quantized file this keeps its quantization error; an F16 or BF16 original is better)",
		filepath.Base(f.Path), matrixTypes(f), f.Path, strings.TrimSuffix(f.Path, filepath.Ext(f.Path))+"-f32.gguf")
}
