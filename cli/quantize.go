package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"charm.land/bubbles/v2/progress"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"natter/engine"
)

type quantizeOptions struct {
	allowRequantize, pure, verbose bool
	threads                        int
}

func quantizeCommand() *cobra.Command {
	var o quantizeOptions
	cmd := &cobra.Command{
		Use:   "quantize IN OUT TYPE",
		Short: "convert a GGUF model to another quantization (Q4_K_M, Q8_0, F32, …)",
		Long:  quantizeLong(),
		Example: `  natter quantize model-f16.gguf model-q4_k_m.gguf Q4_K_M
  # an F32 base for natter tune, from a Q8_0 download
  natter quantize model-q8_0.gguf model-f32.gguf f32 --allow-requantize`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 3 {
				return usageError(cmd, "want IN OUT TYPE, got %d argument(s)", len(args))
			}
			if _, err := engine.ParseQuantType(args[2]); err != nil {
				return usageError(cmd, "%v", err)
			}
			return nil
		},
		ValidArgsFunction: completeQuantizeArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfig(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runQuantize(cmd, args[0], args[1], args[2], o)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.allowRequantize, "allow-requantize", false, "quantize an input that is already quantized (it loses quality twice)")
	fs.BoolVar(&o.pure, "pure", false, "give every matrix TYPE itself: no mix, no Q6_K output tensor")
	fs.IntVarP(&o.threads, "threads", "t", 0, "CPU threads (0 = one per physical core)")
	fs.BoolVar(&o.verbose, "verbose", false, "show llama.cpp logs on stderr")
	group(fs, flagsOutput, "verbose")
	return cmd
}

// quantizeLong is the help's text with the types, one a line.
func quantizeLong() string {
	var b strings.Builder
	b.WriteString("Convert a GGUF model to another quantization with llama.cpp, as llama-quantize does. The input\n" +
		"is checked first; the result is written beside OUT and takes its name only once it validates,\n" +
		"so OUT is never a half-written file.\n\nTYPE (any case), best quality first; bpw is bits per weight:\n")
	for _, q := range engine.QuantTypes() {
		fmt.Fprintf(&b, "  %-10s %s\n", q.Name, q.Description)
	}
	b.WriteString("IQ1_S, IQ1_M, IQ2_*, IQ3_XXS and Q2_K_S need an importance matrix, which natter cannot make.")
	return b.String()
}

// completeQuantizeArgs: GGUF files for IN and OUT, the types for TYPE.
func completeQuantizeArgs(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	switch len(args) {
	case 0, 1:
		return []cobra.Completion{"gguf"}, cobra.ShellCompDirectiveFilterFileExt
	case 2:
		var out []cobra.Completion
		for _, q := range engine.QuantTypes() {
			out = append(out, cobra.CompletionWithDesc(q.Name, q.Description))
		}
		return noFiles(out)
	}
	return noFiles(nil)
}

func runQuantize(cmd *cobra.Command, in, out, typ string, o quantizeOptions) error {
	if o.threads < 0 || o.threads > 1024 {
		return usageError(cmd, "--threads %d: must be between 1 and 1024 (0 = one per physical core)", o.threads)
	}
	mf := modelFlags{verbose: o.verbose}
	defer mf.setupLogs()()
	// llama.cpp cannot stop mid-file, but Quantize returns on Ctrl+C with
	// no file left behind (at once on Linux, elsewhere once llama.cpp ends).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stderr := cmd.ErrOrStderr()
	p := newQuantProgress(stderr, !o.verbose && isTTY(stderr))
	res, err := engine.Quantize(ctx, in, out, engine.QuantizeOptions{Type: typ, AllowRequantize: o.allowRequantize,
		Pure: o.pure, Threads: o.threads, Progress: p.update})
	p.clear()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "natter quantize: interrupted; %s was not written\n", out)
		return status(exitInterrupted)
	case errors.Is(err, engine.ErrSameFile):
		return usageError(cmd, "%v", err)
	case errors.Is(err, engine.ErrRequantize):
		fmt.Fprintf(stderr, "natter quantize: %v (--allow-requantize)\n", err)
		return status(exitError)
	default:
		fmt.Fprintf(stderr, "natter quantize: %v\n", err)
		return status(exitError)
	}
	if res.Fallbacks > 0 {
		fmt.Fprintf(stderr, "note: %d tensor(s) have rows that do not divide into %s's blocks; llama.cpp gave them another type\n", res.Fallbacks, res.Type)
	}
	fmt.Fprintln(cmd.OutOrStdout(), quantizeReport(out, res))
	return nil
}

// quantizeReport is the summary line, e.g. "wrote m.gguf: Q4_0, 12.3 MB →
// 3.6 MB (3.4× smaller) in 1.2 s".
func quantizeReport(out string, r engine.QuantizeResult) string {
	change := "same size"
	switch in, o := float64(r.InBytes), float64(r.OutBytes); {
	case o > 0 && in/o >= 1.01:
		change = fmt.Sprintf("%.1f× smaller", in/o)
	case in > 0 && o/in >= 1.01:
		change = fmt.Sprintf("%.1f× larger", o/in)
	}
	took := fmt.Sprintf("%.1f s", r.Elapsed.Seconds())
	if r.Elapsed >= time.Minute {
		took = r.Elapsed.Round(time.Second).String()
	}
	return fmt.Sprintf("wrote %s: %s, %s → %s (%s) in %s", out, r.Type, engine.HumanBytes(r.InBytes), engine.HumanBytes(r.OutBytes), change, took)
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// quantProgress shows Quantize's progress: a redrawn line with a bar on a
// terminal, elsewhere a plain line at each tenth of the tensors.
type quantProgress struct {
	w     io.Writer
	tty   bool
	bar   progress.Model
	cols  int
	tenth int
	drawn bool
}

func newQuantProgress(w io.Writer, tty bool) *quantProgress {
	p := &quantProgress{w: w, tty: tty, cols: 80}
	if f, ok := w.(*os.File); ok && tty {
		if c, _, err := term.GetSize(int(f.Fd())); err == nil && c > 40 {
			p.cols = c
		}
		// The bar's colours, reduced to what the terminal shows (NO_COLOR: none).
		p.w = colorprofile.NewWriter(w, os.Environ())
		p.bar = progress.New(progress.WithWidth(24), progress.WithoutPercentage())
	}
	return p
}

func (p *quantProgress) update(done, total int, tensor string) {
	if total <= 0 {
		return
	}
	f := float64(done) / float64(total)
	if !p.tty {
		if t := done * 10 / total; t > p.tenth {
			p.tenth = t
			fmt.Fprintf(p.w, "quantize: %d/%d tensors\n", done, total)
		}
		return
	}
	head := fmt.Sprintf("quantizing %s %3.0f%% %d/%d ", p.bar.ViewAs(f), 100*f, done, total)
	room := p.cols - 1 - ansi.StringWidth(head)
	fmt.Fprintf(p.w, "\r\x1b[K%s%s", head, ansi.Truncate(tensor, max(room, 0), "…"))
	p.drawn = true
}

// clear removes the bar, so what follows starts on a clean line.
func (p *quantProgress) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}
