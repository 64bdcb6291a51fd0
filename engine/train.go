package engine

/*
#include <stdlib.h>
#include <string.h>
#include "llama.h"
#include "ggml-opt.h"
#include "ggml-backend.h"

// natter_lr is read by ggml before every optimizer step; Go writes it
// between steps, so a schedule needs no call back into Go.
struct natter_lr { float lr; float wd; };

static struct ggml_opt_optimizer_params natter_opt_pars(void *ud) {
	struct ggml_opt_optimizer_params p = ggml_opt_get_default_optimizer_params(NULL);
	const struct natter_lr *lr = (const struct natter_lr *)ud;
	p.adamw.alpha = lr->lr;
	p.adamw.wd = lr->wd;
	p.sgd.alpha = lr->lr;
	p.sgd.wd = lr->wd;
	return p;
}

// natter_train_set holds the names of the tensors to train (chosen in Go)
// and records the ones llama.cpp marked, so their trained values can be
// read back for saving.
struct natter_train_set {
	const char **names;
	int n_names;
	const struct ggml_tensor **got;
	int n_got;
};

static bool natter_param_filter(const struct ggml_tensor *t, void *ud) {
	struct natter_train_set *s = (struct natter_train_set *)ud;
	for (int i = 0; i < s->n_names; i++) {
		if (strcmp(s->names[i], t->name) == 0) {
			if (s->n_got < s->n_names) {
				s->got[s->n_got++] = t;
			}
			return true;
		}
	}
	return false;
}

// natter_warm decodes one token so the context hands its thread count to
// the CPU backend (llama.cpp does so only in a decode; the training path
// would otherwise run ggml's default of 4 threads, whatever the machine).
static int natter_warm(struct llama_context *ctx, llama_token tok) {
	llama_token t = tok;
	int rc = llama_decode(ctx, llama_batch_get_one(&t, 1));
	llama_memory_clear(llama_get_memory(ctx), true);
	return rc;
}

static void natter_opt_init(struct llama_context *ctx, struct llama_model *m, struct natter_train_set *s, struct natter_lr *lr, int sgd) {
	struct llama_opt_params p;
	memset(&p, 0, sizeof p);
	p.n_ctx_train = 0;
	p.param_filter = natter_param_filter;
	p.param_filter_ud = s;
	p.get_opt_pars = natter_opt_pars;
	p.get_opt_pars_ud = lr;
	p.optimizer_type = sgd ? GGML_OPT_OPTIMIZER_TYPE_SGD : GGML_OPT_OPTIMIZER_TYPE_ADAMW;
	llama_opt_init(ctx, m, p);
}

// natter_opt_run runs the windows in ds: the first split train (one
// optimizer step each), the rest are only evaluated.
static double natter_opt_run(struct llama_context *ctx, ggml_opt_dataset_t ds, int64_t split, int train) {
	ggml_opt_result_t rt = ggml_opt_result_init();
	ggml_opt_result_t re = ggml_opt_result_init();
	llama_opt_epoch(ctx, ds, rt, re, split, NULL, NULL);
	double loss = 0, unc = 0;
	ggml_opt_result_loss(train ? rt : re, &loss, &unc);
	ggml_opt_result_free(rt);
	ggml_opt_result_free(re);
	return loss;
}
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

// TrainOptions configure a Trainer.
type TrainOptions struct {
	ModelPath string
	// Window is the tokens per training sequence; llama.cpp sizes contexts
	// in steps of 256, so it is rounded up to one (0 = 256).
	Window  int
	Threads int // 0 = physical cores
	// Train names the tensors to train (TrainableTensors picks them).
	Train []string
	SGD   bool // plain SGD instead of AdamW: a third of the optimizer memory
}

// TrainWindow is the window llama.cpp will use for a --ctx of n.
func TrainWindow(n int) int {
	if n <= 0 {
		n = 256
	}
	return (n + 255) / 256 * 256
}

// Trainer fine-tunes a model's F32 tensors in place with llama.cpp's
// training API (llama_opt_init, llama_opt_epoch). Not safe for concurrent
// use; Close is idempotent.
type Trainer struct {
	opts     TrainOptions
	file     *gguf.File
	model    *model
	ctx      *C.struct_llama_context
	window   int
	ds       C.ggml_opt_dataset_t
	lr       *C.struct_natter_lr
	set      *C.struct_natter_train_set
	cnames   []*C.char
	specials []special
	builtin  prompts.ChatTemplate
	closed   bool
}

// TrainLimit says which tensors the bundled llama.cpp can train. Its ggml
// (Dec 2025) cannot take gradients through the KV cache writes (ggml_set_rows
// is refused by the backward pass; upstream has since allowed it), so only
// tensors after the last block's key and value projections train: that
// block's query, attention output and feed-forward, the final norm and the
// output layer.
const TrainLimit = "the llama.cpp built into natter (Dec 2025) cannot backpropagate into its KV cache, so only the tensors after the last block's keys and values can train: that block's attn_q, attn_output, ffn_* and ffn_norm, the final output_norm and the output layer"

// TrainableTensors lists the tensors of f that llama.cpp can train and
// that keep(name) selects: F32 weights within TrainLimit (llama.cpp also
// leaves the token embeddings and rope frequencies frozen).
func TrainableTensors(f *gguf.File, keep func(name string) bool) []gguf.TensorInfo {
	var out []gguf.TensorInfo
	last := -1
	if n, ok := f.Uint(f.Arch() + ".block_count"); ok {
		last = int(n) - 1
	}
	for _, t := range f.Tensors {
		if t.Type != gguf.TypeF32 || !trainable(t.Name, last) {
			continue
		}
		if keep == nil || keep(t.Name) {
			out = append(out, t)
		}
	}
	return out
}

// OutsideTrainLimit lists the F32 tensors keep selects that TrainLimit
// keeps from training, so an explicit --train-layers is refused rather
// than quietly cut down.
func OutsideTrainLimit(f *gguf.File, keep func(name string) bool) []string {
	last := -1
	if n, ok := f.Uint(f.Arch() + ".block_count"); ok {
		last = int(n) - 1
	}
	var out []string
	for _, t := range f.Tensors {
		if t.Type == gguf.TypeF32 && t.Name != "token_embd.weight" && t.Name != "rope_freqs.weight" && keep(t.Name) && !trainable(t.Name, last) {
			out = append(out, t.Name)
		}
	}
	return out
}

// trainable reports whether name is within TrainLimit for a model whose
// last block is last.
func trainable(name string, last int) bool {
	if strings.HasPrefix(name, "output_norm.") || strings.HasPrefix(name, "output.") {
		return true
	}
	rest, ok := strings.CutPrefix(name, fmt.Sprintf("blk.%d.", last))
	if !ok {
		return false
	}
	for _, p := range []string{"attn_q.", "attn_output.", "ffn_"} {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

// NewTrainer loads the model for training: read into memory (weights must
// be writable, so no mmap), no repacked kernels, an F32 KV cache (ggml has
// no backward pass through F16 there) and no flash attention.
func NewTrainer(o TrainOptions) (*Trainer, error) {
	f, err := Validate(o.ModelPath)
	if err != nil {
		return nil, err
	}
	if GoArchitectures[f.Arch()] {
		return nil, fmt.Errorf("%s: natter tune trains only architectures the built-in llama.cpp runs; %s runs on the Go engine, which cannot train", o.ModelPath, f.Arch())
	}
	if len(o.Train) == 0 {
		return nil, errors.New("no tensors selected to train")
	}
	if o.Threads <= 0 {
		o.Threads = PhysicalCores()
	}
	o.Window = TrainWindow(o.Window)
	initBackend()
	cpath := C.CString(o.ModelPath)
	defer C.free(unsafe.Pointer(cpath))
	mp := C.llama_model_default_params()
	mp.use_mmap = false
	mp.n_gpu_layers = 0
	mp.use_extra_bufts = false
	cm := C.llama_model_load_from_file(cpath, mp)
	if cm == nil {
		return nil, fmt.Errorf("%s: llama.cpp could not load the model (%s)", o.ModelPath, logHint())
	}
	m := &model{c: cm, vocab: C.llama_model_get_vocab(cm)}
	cp := C.llama_context_default_params()
	cp.n_ctx = C.uint32_t(o.Window)
	cp.n_batch = C.uint32_t(o.Window)
	cp.n_ubatch = C.uint32_t(o.Window)
	cp.n_seq_max = 1
	cp.n_threads = C.int32_t(o.Threads)
	cp.n_threads_batch = C.int32_t(o.Threads)
	cp.no_perf = true
	cp.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_DISABLED
	cp.type_k, cp.type_v = C.GGML_TYPE_F32, C.GGML_TYPE_F32
	ctx := C.llama_init_from_model(cm, cp)
	if ctx == nil {
		m.Close()
		return nil, errors.New("llama.cpp could not create a training context (out of memory?)")
	}
	if n := int(C.llama_n_ctx(ctx)); n != o.Window {
		C.llama_free(ctx)
		m.Close()
		return nil, fmt.Errorf("llama.cpp made a %d-token context for a %d-token window", n, o.Window)
	}
	if rc := C.natter_warm(ctx, C.llama_token(m.bos())); rc != 0 {
		C.llama_free(ctx)
		m.Close()
		return nil, fmt.Errorf("llama.cpp could not run the model (decode returned %d)", int(rc))
	}
	t := &Trainer{opts: o, file: f, model: m, ctx: ctx, window: o.Window}
	t.lr = (*C.struct_natter_lr)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_natter_lr{}))))
	t.set = (*C.struct_natter_train_set)(C.calloc(1, C.size_t(unsafe.Sizeof(C.struct_natter_train_set{}))))
	n := len(o.Train)
	t.set.names = (**C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	t.set.got = (**C.struct_ggml_tensor)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.struct_ggml_tensor)(nil)))))
	t.set.n_names = C.int(n)
	names := unsafe.Slice(t.set.names, n)
	for i, name := range o.Train {
		t.cnames = append(t.cnames, C.CString(name))
		names[i] = t.cnames[i]
	}
	sgd := 0
	if o.SGD {
		sgd = 1
	}
	C.natter_opt_init(ctx, cm, t.set, t.lr, C.int(sgd))
	if int(t.set.n_got) == 0 {
		t.Close()
		return nil, errors.New("llama.cpp found none of the selected tensors to train")
	}
	t.ds = C.ggml_opt_dataset_init(C.GGML_TYPE_I32, C.GGML_TYPE_I32, C.int64_t(o.Window), C.int64_t(o.Window), 1, 1)
	t.specials = m.loadSpecials()
	t.builtin = newBuiltinTemplate(m)
	return t, nil
}

// Window is the tokens per training sequence.
func (t *Trainer) Window() int { return t.window }

// Trained is how many tensors llama.cpp is training.
func (t *Trainer) Trained() int { return int(t.set.n_got) }

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

// EOS is the model's end-of-sequence token.
func (t *Trainer) EOS() Token { return t.model.eos() }

// TextTokens tokenizes plain text as a completion prompt would be (BOS as
// the model wants, special tokens not parsed).
func (t *Trainer) TextTokens(text string) ([]Token, error) {
	return t.model.tokenize(text, true, false)
}

// ChatTokens renders a whole conversation with tmpl (no generation prompt:
// its last turn is the model's) and tokenizes it exactly as the chat does,
// so message text never turns into control tokens.
func (t *Trainer) ChatTokens(tmpl prompts.ChatTemplate, msgs []prompts.Message) ([]Token, error) {
	texts := make([]string, len(t.specials))
	for i, sp := range t.specials {
		texts[i] = sp.text
	}
	text, ps, _, err := prompts.RenderProtected(tmpl, msgs, false, texts)
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

// load copies window+1 tokens into the dataset: inputs and next tokens.
func (t *Trainer) load(seq []Token) error {
	if len(seq) != t.window+1 {
		return fmt.Errorf("a training sequence needs %d tokens, got %d", t.window+1, len(seq))
	}
	nv := Token(t.model.nVocab())
	for _, tok := range seq {
		if tok < 0 || tok >= nv {
			return fmt.Errorf("token %d is outside the vocabulary (%d)", tok, nv)
		}
	}
	data := unsafe.Slice((*Token)(C.ggml_opt_dataset_data(t.ds).data), t.window)
	labels := unsafe.Slice((*Token)(C.ggml_opt_dataset_labels(t.ds).data), t.window)
	copy(data, seq[:t.window])
	copy(labels, seq[1:])
	return nil
}

// Step trains on one sequence of Window()+1 tokens (one optimizer step)
// and returns its mean cross-entropy loss before the update.
func (t *Trainer) Step(seq []Token) (float64, error) {
	if err := t.load(seq); err != nil {
		return 0, err
	}
	return t.result(float64(C.natter_opt_run(t.ctx, t.ds, 1, 1)))
}

// Loss evaluates one sequence without training.
func (t *Trainer) Loss(seq []Token) (float64, error) {
	if err := t.load(seq); err != nil {
		return 0, err
	}
	return t.result(float64(C.natter_opt_run(t.ctx, t.ds, 0, 0)))
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
// progress, if set, sees bytes written of the total.
func (t *Trainer) Save(path string) error {
	got := unsafe.Slice(t.set.got, int(t.set.n_got))
	byName := map[string]*C.struct_ggml_tensor{}
	for _, ct := range got {
		byName[C.GoString(&ct.name[0])] = (*C.struct_ggml_tensor)(unsafe.Pointer(ct))
	}
	return writeAtomic(path, func(w *os.File) error {
		src, err := os.Open(t.opts.ModelPath)
		if err != nil {
			return err
		}
		defer src.Close()
		if _, err := io.Copy(w, src); err != nil {
			return err
		}
		var buf []byte
		for _, ti := range t.file.Tensors {
			ct, ok := byName[ti.Name]
			if !ok {
				continue
			}
			n := uint64(C.ggml_nbytes(ct))
			if n != ti.Size {
				return fmt.Errorf("%s: llama.cpp holds %d bytes, the file %d", ti.Name, n, ti.Size)
			}
			if uint64(cap(buf)) < n {
				buf = make([]byte, n)
			}
			b := buf[:n]
			C.ggml_backend_tensor_get(ct, unsafe.Pointer(&b[0]), 0, C.size_t(n))
			if _, err := w.WriteAt(b, t.file.DataOffset+int64(ti.Offset)); err != nil {
				return err
			}
		}
		return nil
	})
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

// Close frees the training context, the model and the C-side state.
func (t *Trainer) Close() error {
	if t == nil || t.closed {
		return nil
	}
	t.closed = true
	if t.ds != nil {
		C.ggml_opt_dataset_free(t.ds)
	}
	if t.ctx != nil {
		C.llama_free(t.ctx)
	}
	t.model.Close()
	for _, c := range t.cnames {
		C.free(unsafe.Pointer(c))
	}
	if t.set != nil {
		C.free(unsafe.Pointer(t.set.names))
		C.free(unsafe.Pointer(t.set.got))
		C.free(unsafe.Pointer(t.set))
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
		FmtBytes(m.Weights), FmtBytes(m.Gradients), FmtBytes(m.Optimizer), FmtBytes(m.Activations), FmtBytes(m.Total))
}

// FmtBytes shows a byte count in KiB, MiB or GiB.
func FmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
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
	// ×2: each activation has a gradient of its size in the backward graph.
	m.Activations = 2*4*(nLayer*perLayer) + 3*4*w*nVocab + 2*4*nLayer*w*nEmbd
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

// CheckTrainable says why f cannot be fine-tuned: llama.cpp trains F32
// tensors only, so a model whose matrices are F16 or quantized would train
// just its norms.
func CheckTrainable(f *gguf.File, train []gguf.TensorInfo) error {
	for _, t := range train {
		if len(t.Dims) >= 2 {
			return nil
		}
	}
	for _, t := range f.Tensors {
		if len(t.Dims) >= 2 && t.Type == gguf.TypeF32 && t.Name != "token_embd.weight" {
			return errors.New("--train-layers selects no weight matrix to train")
		}
	}
	return fmt.Errorf("%s stores its weight matrices as %s; llama.cpp trains only F32 tensors. Make an F32 copy first: natter quantize %s %s F32 (from a quantized file this keeps its quantization error; an F16 or BF16 original is better)",
		filepath.Base(f.Path), matrixTypes(f), f.Path, strings.TrimSuffix(f.Path, filepath.Ext(f.Path))+"-f32.gguf")
}
