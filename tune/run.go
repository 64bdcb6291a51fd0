package tune

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"natter/engine"
	"natter/engine/api"
	"natter/prompts"
)

// Config is one fine-tuning run.
type Config struct {
	Base      string // the model to start from (F32)
	Data      string // training JSONL
	Eval      string // validation JSONL ("" none)
	Out       string // the tuned model's path
	Epochs    int
	LR        float32
	WD        float32
	Window    int    // tokens per sequence (rounded up to 256)
	Layers    string // --train-layers spec
	Threads   int
	Seed      uint64
	SGD       bool
	Resume    bool
	NoMemOK   bool // skip the memory check (tests on small machines)
	Template  TemplateFunc
	Available func() (int64, bool) // free memory; nil = MemAvailable
}

// TemplateFunc builds the chat template chats are rendered with, exactly as
// the chat would for this model.
type TemplateFunc func(info api.ModelInfo, builtin prompts.ChatTemplate) (prompts.ChatTemplate, error)

// Progress is reported after every step and evaluation.
type Progress struct {
	Epoch, Epochs int // 1-based
	Step, Steps   int // within the epoch, 1-based
	Done, Total   int // steps over the run
	Loss          float64
	EpochLoss     float64 // mean train loss so far this epoch
	ValLoss       float64 // NaN: no validation data (yet)
	TokensPerSec  float64
	Elapsed, ETA  time.Duration
	Evaluating    bool // the validation pass is running
}

// Result is a finished run.
type Result struct {
	Out         string
	Steps       int
	Window      int
	Tensors     int
	Params      int64
	Tokens      int // training tokens per epoch
	Sequences   int
	FirstLoss   float64
	LastLoss    float64 // mean train loss of the last epoch
	ValLoss     float64 // NaN: none
	FirstVal    float64 // before training; NaN: none
	Losses      []float64
	Elapsed     time.Duration
	Memory      engine.TrainMemory
	ResumedFrom int // steps done before this process, 0 for a fresh run
}

// ErrStopped is wrapped by the error of a run stopped by its context; a
// checkpoint was saved and --resume continues it.
var ErrStopped = errors.New("training stopped")

// state is what a checkpoint records beside its weights.
type state struct {
	Base     string    `json:"base"`
	DataHash string    `json:"data_sha256"`
	Window   int       `json:"window"`
	Layers   string    `json:"train_layers"`
	Epochs   int       `json:"epochs"`
	Seed     uint64    `json:"seed"`
	Done     int       `json:"steps_done"`
	Losses   []float64 `json:"losses"`
	FirstVal float64   `json:"-"` // NaN: none, which JSON cannot hold
	Val      *float64  `json:"first_val_loss,omitempty"`
}

// CheckpointPaths are where a run stopped early keeps its weights and
// state, beside the output.
func CheckpointPaths(out string) (weights, meta string) {
	return out + ".checkpoint.gguf", out + ".checkpoint.json"
}

// Run fine-tunes cfg.Base on cfg.Data and writes cfg.Out. report sees
// progress; note sees one-off remarks (the plan, a repeated short data).
func Run(ctx context.Context, cfg Config, report func(Progress), note func(string)) (Result, error) {
	if report == nil {
		report = func(Progress) {}
	}
	if note == nil {
		note = func(string) {}
	}
	if cfg.Epochs <= 0 {
		return Result{}, errors.New("--epochs must be at least 1")
	}
	if !(cfg.LR > 0) || math.IsInf(float64(cfg.LR), 0) {
		return Result{}, fmt.Errorf("--lr %g: want a positive learning rate, e.g. 1e-5", cfg.LR)
	}
	train, err := ReadData(cfg.Data)
	if err != nil {
		return Result{}, err
	}
	var val []Example
	if cfg.Eval != "" {
		if val, err = ReadData(cfg.Eval); err != nil {
			return Result{}, err
		}
	}
	if err := checkOut(cfg.Out, cfg.Base); err != nil {
		return Result{}, err
	}
	base, err := engine.Validate(cfg.Base)
	if err != nil {
		return Result{}, err
	}
	nLayer, _ := base.Uint(base.Arch() + ".block_count")
	layers, err := ParseLayers(cfg.Layers, int(nLayer))
	if err != nil {
		return Result{}, err
	}
	if err := engine.CheckTrainArch(base); err != nil {
		return Result{}, err
	}
	tensors := engine.TrainableTensors(base, layers.Keep)
	if err := engine.CheckTrainable(base, tensors); err != nil {
		return Result{}, err
	}
	window := engine.TrainWindow(cfg.Window)
	if n := base.ContextLength(); n > 0 && uint64(window) > n {
		return Result{}, fmt.Errorf("--ctx %d: %s was trained on sequences of %d tokens; train on at most that many", window, filepath.Base(cfg.Base), n)
	}
	mem := engine.EstimateTrainMemory(base, tensors, window, cfg.SGD)
	if err := checkMemory(cfg, mem); err != nil {
		return Result{}, err
	}
	if err := checkDisk(cfg.Out, base.FileSize); err != nil {
		return Result{}, err
	}
	dataHash, err := hashFiles(cfg.Data, cfg.Eval)
	if err != nil {
		return Result{}, err
	}
	st := state{Base: cfg.Base, DataHash: dataHash, Window: window, Layers: cfg.Layers, Epochs: cfg.Epochs, Seed: cfg.Seed, FirstVal: math.NaN()}
	ckW, ckM := CheckpointPaths(cfg.Out)
	from := cfg.Base
	if cfg.Resume {
		if st, err = readState(ckM, st); err != nil {
			return Result{}, err
		}
		from = ckW
		if _, err := engine.Validate(ckW); err != nil {
			return Result{}, fmt.Errorf("the checkpoint's weights: %w", err)
		}
	}
	names := make([]string, len(tensors))
	var params int64
	for i, t := range tensors {
		names[i] = t.Name
		params += int64(t.Elements())
	}
	tr, err := engine.NewTrainer(engine.TrainOptions{ModelPath: from, Window: window, Threads: cfg.Threads, Train: names, SGD: cfg.SGD})
	if err != nil {
		return Result{}, err
	}
	defer tr.Close()
	tr.SetLR(cfg.LR, cfg.WD)

	var tmpl prompts.ChatTemplate
	if cfg.Template != nil && (hasChats(train) || hasChats(val)) {
		if tmpl, err = cfg.Template(tr.Info(), tr.BuiltinTemplate()); err != nil {
			return Result{}, err
		}
	}
	trainToks, targets, whole, err := tokenize(tr, tmpl, train, cfg.Data)
	if err != nil {
		return Result{}, err
	}
	if hasChats(train) {
		switch {
		case whole > 0:
			note(fmt.Sprintf("%d chats render differently as a prompt than inside the conversation, so their loss covers the whole chat; the others' covers the assistant's replies only", whole))
		default:
			note("the loss covers the assistant's replies only (the prompts are context)")
		}
	}
	seqs := Sequences(trainToks, targets, window)
	if len(trainToks) < window+1 {
		note(fmt.Sprintf("the training data is %d tokens, less than one %d-token window; it is repeated to fill one (lower --ctx to train on shorter windows)", len(trainToks), window))
	}
	var valSeqs []Seq
	if val != nil {
		vt, vm, _, err := tokenize(tr, tmpl, val, cfg.Eval)
		if err != nil {
			return Result{}, err
		}
		valSeqs = Sequences(vt, vm, window)
	}
	res := Result{Out: cfg.Out, Window: window, Tensors: tr.Trained(), Params: params, Tokens: len(trainToks), Sequences: len(seqs), Memory: mem, ValLoss: math.NaN(), FirstVal: st.FirstVal, ResumedFrom: st.Done}
	total := cfg.Epochs * len(seqs)
	note(fmt.Sprintf("training %d tensors (%s values) on %d tokens: %d sequences of %d tokens × %d epochs = %d steps; memory about %s",
		res.Tensors, fmtCount(params), len(trainToks), len(seqs), window, cfg.Epochs, total, engine.HumanBytes(mem.Total)))
	if st.Done >= total {
		return Result{}, fmt.Errorf("the checkpoint has all %d steps done; remove %s to start again", total, ckM)
	}

	evalAll := func(p Progress) (float64, error) {
		if len(valSeqs) == 0 {
			return math.NaN(), nil
		}
		p.Evaluating = true
		report(p)
		var sum float64
		for _, s := range valSeqs {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			l, err := tr.Loss(s.Tokens, s.Targets)
			if err != nil {
				return 0, err
			}
			sum += l
		}
		return sum / float64(len(valSeqs)), nil
	}
	if st.Done == 0 && len(valSeqs) > 0 {
		if st.FirstVal, err = evalAll(Progress{Epoch: 1, Epochs: cfg.Epochs, Total: total, ValLoss: math.NaN()}); err != nil {
			return Result{}, stopOr(err, ctx)
		}
		res.FirstVal = st.FirstVal
	}
	start := time.Now()
	valLoss := math.NaN()
	stepsHere := 0
	save := func() error {
		if err := tr.Save(ckW); err != nil {
			return fmt.Errorf("saving the checkpoint: %w", err)
		}
		st.Val = nil
		if !math.IsNaN(st.FirstVal) {
			st.Val = &st.FirstVal
		}
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		return writeFile(ckM, b)
	}
	for done := st.Done; done < total; {
		epoch := done / len(seqs)
		order := shuffled(len(seqs), cfg.Seed, epoch)
		// The epoch's mean counts the steps of this epoch recorded so far,
		// resumed ones included.
		var epochSum float64
		for _, l := range st.Losses[epoch*len(seqs):] {
			epochSum += l
		}
		for i := done % len(seqs); i < len(seqs); i++ {
			if ctx.Err() != nil {
				if err := save(); err != nil {
					return res, err
				}
				return res, fmt.Errorf("%w at step %d of %d; the checkpoint is saved (%s): run the same command with --resume to go on", ErrStopped, done, total, ckW)
			}
			sq := seqs[order[i]]
			loss, err := tr.Step(sq.Tokens, sq.Targets)
			if err != nil {
				return res, err
			}
			st.Losses = append(st.Losses, loss)
			done++
			stepsHere++
			st.Done = done
			epochSum += loss
			inEpoch := len(st.Losses) - epoch*len(seqs)
			el := time.Since(start)
			perStep := el / time.Duration(stepsHere)
			report(Progress{
				Epoch: epoch + 1, Epochs: cfg.Epochs, Step: i + 1, Steps: len(seqs), Done: done, Total: total,
				Loss: loss, EpochLoss: epochSum / float64(inEpoch), ValLoss: valLoss,
				TokensPerSec: float64(stepsHere*window) / el.Seconds(), Elapsed: el, ETA: perStep * time.Duration(total-done),
			})
		}
		if len(valSeqs) > 0 {
			p := Progress{Epoch: epoch + 1, Epochs: cfg.Epochs, Step: len(seqs), Steps: len(seqs), Done: done, Total: total, ValLoss: valLoss}
			if valLoss, err = evalAll(p); err != nil {
				if ctx.Err() != nil {
					if err := save(); err != nil {
						return res, err
					}
					return res, fmt.Errorf("%w after step %d of %d; the checkpoint is saved (%s): run the same command with --resume to go on", ErrStopped, done, total, ckW)
				}
				return res, err
			}
			p.ValLoss = valLoss
			report(p)
		}
	}
	if err := tr.Save(cfg.Out); err != nil {
		return res, fmt.Errorf("writing %s: %w", cfg.Out, err)
	}
	if _, err := engine.Validate(cfg.Out); err != nil {
		os.Remove(cfg.Out)
		return res, fmt.Errorf("the tuned model failed validation: %w", err)
	}
	os.Remove(ckW)
	os.Remove(ckM)
	res.Steps = total
	res.Losses = st.Losses
	res.FirstLoss = st.Losses[0]
	last := st.Losses[(cfg.Epochs-1)*len(seqs):]
	for _, l := range last {
		res.LastLoss += l
	}
	res.LastLoss /= float64(len(last))
	res.ValLoss = valLoss
	res.Elapsed = time.Since(start)
	return res, nil
}

func stopOr(err error, ctx context.Context) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w before the first step; nothing to resume", ErrStopped)
	}
	return err
}

func hasChats(exs []Example) bool {
	for _, e := range exs {
		if e.Messages != nil {
			return true
		}
	}
	return false
}

// tokenize turns the examples into one stream: chats rendered whole with
// the model's template, texts as completion prompts with an end-of-text
// token after each, so the model learns where they stop. targets marks
// the tokens the loss counts: a chat's assistant replies (with the end of
// their turn) and all of a text but its first token; whole counts the
// chats whose replies could not be found, which count whole.
func tokenize(tr *engine.Trainer, tmpl prompts.ChatTemplate, exs []Example, path string) (stream []int32, targets []bool, whole int, err error) {
	for _, ex := range exs {
		var toks []int32
		var mask []bool
		if ex.Messages != nil {
			if tmpl == nil {
				return nil, nil, 0, fmt.Errorf("%s:%d: the model has no chat template to render chats with", path, ex.Line)
			}
			var ok bool
			toks, mask, ok, err = chatTargets(tr, tmpl, ex.Messages)
			if !ok {
				whole++
			}
		} else {
			toks, err = tr.TextTokens(ex.Text)
			toks = append(toks, tr.EOS())
			mask = make([]bool, len(toks))
			for i := 1; i < len(mask); i++ {
				mask[i] = true
			}
		}
		if err != nil {
			return nil, nil, 0, fmt.Errorf("%s:%d: %w", path, ex.Line, err)
		}
		stream = append(stream, toks...)
		targets = append(targets, mask...)
	}
	return stream, targets, whole, nil
}

// chatTargets tokenizes a chat and finds each assistant reply in it: the
// tokens between the prompt that precedes it (rendered with the opening of
// the model's turn, as the chat sends it) and the conversation up to its
// end. When a template renders earlier turns differently once more follow
// (some drop old reasoning), the prefixes do not line up and the whole
// chat counts (ok false).
func chatTargets(tr *engine.Trainer, tmpl prompts.ChatTemplate, msgs []prompts.Message) (toks []int32, mask []bool, ok bool, err error) {
	toks, err = tr.ChatTokens(tmpl, msgs, false)
	if err != nil {
		return nil, nil, false, err
	}
	mask = make([]bool, len(toks))
	for i, m := range msgs {
		if m.Role != "assistant" {
			continue
		}
		pre, err := tr.ChatTokens(tmpl, msgs[:i], true)
		if err != nil {
			return nil, nil, false, err
		}
		end, err := tr.ChatTokens(tmpl, msgs[:i+1], false)
		if err != nil {
			return nil, nil, false, err
		}
		if !slices.Equal(pre, toks[:min(len(pre), len(toks))]) || !slices.Equal(end, toks[:min(len(end), len(toks))]) || len(end) <= len(pre) {
			for j := 1; j < len(mask); j++ {
				mask[j] = true
			}
			return toks, mask, false, nil
		}
		for j := len(pre); j < len(end); j++ {
			mask[j] = true
		}
	}
	return toks, mask, true, nil
}

// shuffled is the order of an epoch's sequences: fixed by seed and epoch,
// so a resumed run goes on in the order the stopped one would have.
func shuffled(n int, seed uint64, epoch int) []int {
	r := rand.New(rand.NewPCG(seed, uint64(epoch)))
	return r.Perm(n)
}

func readState(path string, want state) (state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return state{}, fmt.Errorf("--resume: no checkpoint at %s (one is saved when a run is stopped with Ctrl+C)", path)
	}
	if err != nil {
		return state{}, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return state{}, fmt.Errorf("--resume: %s is damaged: %v", path, err)
	}
	switch {
	case st.Base != want.Base:
		return state{}, fmt.Errorf("--resume: the checkpoint was made from %s, not %s", st.Base, want.Base)
	case st.DataHash != want.DataHash:
		return state{}, errors.New("--resume: the training or validation data changed since the checkpoint; start again without --resume")
	case st.Window != want.Window || st.Layers != want.Layers || st.Epochs != want.Epochs || st.Seed != want.Seed:
		return state{}, fmt.Errorf("--resume: the checkpoint ran with --ctx %d --train-layers %q --epochs %d --seed %d; give the same", st.Window, st.Layers, st.Epochs, st.Seed)
	case st.Done > len(st.Losses):
		return state{}, fmt.Errorf("--resume: %s is damaged", path)
	}
	st.FirstVal = math.NaN()
	if st.Val != nil {
		st.FirstVal = *st.Val
	}
	return st, nil
}

func hashFiles(paths ...string) (string, error) {
	h := sha256.New()
	for _, p := range paths {
		if p == "" {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkOut refuses an output path whose folder is missing or not
// writable, or that is the base itself, before any work.
func checkOut(out, base string) error {
	if out == "" {
		return errors.New("-o: give the tuned model's path")
	}
	dir := filepath.Dir(out)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("-o %s: the folder %s does not exist", out, dir)
	}
	if !st.IsDir() {
		return fmt.Errorf("-o %s: %s is not a folder", out, dir)
	}
	if os_, err := os.Stat(out); err == nil {
		if os_.IsDir() {
			return fmt.Errorf("-o %s is a folder; give a file name", out)
		}
		if bs, err := os.Stat(base); err == nil && os.SameFile(os_, bs) {
			return fmt.Errorf("-o %s is the base model; write the tuned model elsewhere", out)
		}
	}
	f, err := os.CreateTemp(dir, ".natter-tune-check*")
	if err != nil {
		return fmt.Errorf("-o %s: cannot write in %s: %v", out, dir, errors.Unwrap(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func fmtCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
