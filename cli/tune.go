package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"charm.land/bubbles/v2/progress"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"natter/engine/api"
	"natter/prompts"
	"natter/tune"
)

type tuneOptions struct {
	model, data, eval, out, layers, optimizer, template string
	epochs, ctx, threads                                int
	lr, wd                                              float64
	seed                                                uint64
	resume, verbose                                     bool
}

func tuneCommand() *cobra.Command {
	var o tuneOptions
	cmd := &cobra.Command{
		Use:   "tune [flags]",
		Short: "fine-tune a model on your chats or texts (llama.cpp's training)",
		Long: "Fine-tune a model's F32 weights on a JSONL file, one example per line: {\"messages\": [...]}, a\n" +
			"chat rendered with the model's chat template exactly as the chat renders it, or {\"text\": \"...\"}.\n" +
			"A chat's loss covers the assistant's replies only: the prompts are context.\n\n" +
			"natter trains Llama-architecture models (Llama, Mistral, SmolLM, TinyLlama, …) on its own graph\n" +
			"of the model with ggml's training API (AdamW or SGD). llama.cpp's llama_opt path, in the version\n" +
			"natter carries, gives wrong gradients, so natter does not use it.\n\n" +
			"Ctrl+C saves a checkpoint beside the output; the same command with --resume goes on from it\n" +
			"(the optimizer's moments start afresh there). The output is written to a temp file and renamed\n" +
			"into place, so a crash never leaves half a model. Quantize the result with natter quantize.",
		Example: `  natter tune -m base-f32.gguf --data train.jsonl --eval val.jsonl -o tuned.gguf --epochs 3 --lr 1e-4
  natter tune -m base-f32.gguf --data notes.jsonl -o tuned.gguf --train-layers ffn
  natter tune -m base-f32.gguf --data train.jsonl -o tuned.gguf --resume`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfig(cmd)
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return runTune(cmd, &o) },
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.model, "model", "m", "", "the base model: an F32 GGUF path or a local model name")
	fs.StringVar(&o.data, "data", "", "training data (JSONL of {\"messages\": [...]} or {\"text\": ...})")
	fs.StringVar(&o.eval, "eval", "", "validation data (same format): its loss is shown after each epoch")
	fs.StringVarP(&o.out, "output", "o", "", "where to write the tuned model")
	fs.IntVar(&o.epochs, "epochs", 2, "passes over the training data")
	fs.Float64Var(&o.lr, "lr", 1e-5, "learning rate")
	fs.Float64Var(&o.wd, "weight-decay", 0, "weight decay")
	fs.IntVar(&o.ctx, "ctx", 256, "tokens per training sequence")
	fs.StringVar(&o.layers, "train-layers", "all", tune.LayersHelp)
	fs.StringVar(&o.optimizer, "optimizer", "adamw", "adamw, or sgd (no optimizer state: less memory)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the order sequences are trained in")
	fs.BoolVar(&o.resume, "resume", false, "go on from the checkpoint a stopped run saved beside -o")
	fs.StringVar(&o.template, "chat-template", "", "render chats with this template file or name instead of the model's")
	fs.IntVarP(&o.threads, "threads", "t", 0, "CPU threads (0 = one per physical core)")
	fs.BoolVar(&o.verbose, "verbose", false, "show llama.cpp logs on stderr")
	group(fs, flagsModel, "model", "data", "eval", "output", "chat-template", "threads")
	group(fs, flagsOutput, "verbose")
	_ = cmd.RegisterFlagCompletionFunc("model", completeModels)
	_ = cmd.MarkFlagFilename("data", "jsonl")
	_ = cmd.MarkFlagFilename("eval", "jsonl")
	_ = cmd.MarkFlagFilename("output", "gguf")
	choices(cmd, "optimizer", "adamw", "sgd")
	return cmd
}

func runTune(cmd *cobra.Command, o *tuneOptions) error {
	switch {
	case o.model == "":
		return usageError(cmd, "-m: give the base model (an F32 GGUF)")
	case o.data == "":
		return usageError(cmd, "--data: give the training data (JSONL)")
	case o.out == "":
		return usageError(cmd, "-o: give the path of the tuned model")
	case o.epochs < 1 || o.epochs > 100000:
		return usageError(cmd, "--epochs %d: want 1 or more", o.epochs)
	case !(o.lr > 0) || math.IsInf(o.lr, 0) || o.lr > 1:
		return usageError(cmd, "--lr %g: want a learning rate above 0 and at most 1 (e.g. 1e-5)", o.lr)
	case o.wd < 0 || o.wd > 1:
		return usageError(cmd, "--weight-decay %g: want 0 to 1", o.wd)
	case o.ctx < 1 || o.ctx > maxCtx:
		return usageError(cmd, "--ctx %d: want 1 to %d", o.ctx, maxCtx)
	case o.threads < 0 || o.threads > 1024:
		return usageError(cmd, "--threads %d: want 0 to 1024", o.threads)
	case o.optimizer != "adamw" && o.optimizer != "sgd":
		return usageError(cmd, "--optimizer %q: want adamw or sgd", o.optimizer)
	}
	path, err := resolveModelName(o.model)
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter tune: %v\n", err)
		return status(exitError)
	}
	mf := modelFlags{verbose: o.verbose}
	defer mf.setupLogs()()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	pr := newTuneProgress(os.Stderr, tty)
	cfg := tune.Config{
		Base: path, Data: o.data, Eval: o.eval, Out: o.out, Epochs: o.epochs, LR: float32(o.lr), WD: float32(o.wd),
		Window: o.ctx, Layers: o.layers, Threads: o.threads, Seed: o.seed, SGD: o.optimizer == "sgd", Resume: o.resume,
		Template: func(info api.ModelInfo, builtin prompts.ChatTemplate) (prompts.ChatTemplate, error) {
			name := strings.TrimSuffix(filepath.Base(info.Path), filepath.Ext(info.Path))
			return prompts.BuildChain(prompts.ChainConfig{
				Override: o.template, ModelName: name, ConfigDir: prompts.ConfigDir(), ModelTemplate: info.ChatTemplate,
				Options: prompts.JinjaOptions{BOS: info.BOS, EOS: info.EOS}, Builtin: builtin,
			})
		},
	}
	res, err := tune.Run(ctx, cfg, pr.report, pr.note)
	pr.clear()
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter tune: %v\n", err)
		if errors.Is(err, tune.ErrStopped) {
			return status(exitInterrupted)
		}
		return status(exitError)
	}
	fmt.Println(tuneSummary(res))
	return nil
}

// tuneSummary is the line a finished run prints.
func tuneSummary(r tune.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "wrote %s: %d steps in %s; train loss %.3f → %.3f", r.Out, r.Steps, r.Elapsed.Round(100*time.Millisecond), r.FirstLoss, r.LastLoss)
	if !math.IsNaN(r.ValLoss) {
		fmt.Fprintf(&b, "; validation loss %.3f → %.3f", r.FirstVal, r.ValLoss)
	}
	if r.ResumedFrom > 0 {
		fmt.Fprintf(&b, " (resumed at step %d)", r.ResumedFrom)
	}
	return b.String()
}

// tuneProgress shows training progress: a bar redrawn in place on a
// terminal, a line now and then otherwise.
type tuneProgress struct {
	w     io.Writer
	tty   bool
	bar   progress.Model
	shown bool
	last  time.Time
}

func newTuneProgress(w io.Writer, tty bool) *tuneProgress {
	return &tuneProgress{w: w, tty: tty, bar: progress.New(progress.WithWidth(24), progress.WithoutPercentage())}
}

func (p *tuneProgress) note(s string) {
	p.clear()
	fmt.Fprintln(p.w, "tune: "+s)
}

func (p *tuneProgress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
		p.shown = false
	}
}

func (p *tuneProgress) report(pr tune.Progress) {
	line := tuneLine(pr)
	if p.tty {
		frac := 0.0
		if pr.Total > 0 {
			frac = float64(pr.Done) / float64(pr.Total)
		}
		// One line, or \r cannot redraw it: clip to the terminal's width.
		if w, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil && w > 30 {
			if r := []rune(line); len(r) > w-26 {
				line = string(r[:w-27]) + "…"
			}
		}
		fmt.Fprintf(p.w, "\r\033[K%s %s", p.bar.ViewAs(frac), line)
		p.shown = true
		return
	}
	// Plain output: each epoch's end, validation results and at most a
	// line a second in between.
	if pr.Evaluating {
		return
	}
	if pr.Step == pr.Steps || time.Since(p.last) >= time.Second {
		fmt.Fprintln(p.w, "tune: "+line)
		p.last = time.Now()
	}
}

func tuneLine(p tune.Progress) string {
	if p.Evaluating {
		return fmt.Sprintf("epoch %d/%d · evaluating…", p.Epoch, p.Epochs)
	}
	s := fmt.Sprintf("epoch %d/%d · step %d/%d · loss %.3f", p.Epoch, p.Epochs, p.Step, p.Steps, p.EpochLoss)
	if !math.IsNaN(p.ValLoss) {
		s += fmt.Sprintf(" · val %.3f", p.ValLoss)
	}
	if p.TokensPerSec > 0 {
		s += fmt.Sprintf(" · %.0f tok/s", p.TokensPerSec)
	}
	if p.Done < p.Total {
		s += " · ETA " + p.ETA.Round(time.Second).String()
	}
	return s
}
