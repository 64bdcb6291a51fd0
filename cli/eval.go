package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"natter/engine"
)

type evalOptions struct {
	mf         modelFlags
	perplexity string
	asJSON     bool
}

// maxPerplexityText bounds the file --perplexity reads (wikitext-2's test
// set is 1.3 MB).
const maxPerplexityText = 256 << 20

func evalCommand() *cobra.Command {
	var o evalOptions
	cmd := &cobra.Command{
		Use:   "eval --perplexity FILE [flags]",
		Short: "score a model: perplexity over a text file, as llama-perplexity computes it",
		Long: "Score a model. --perplexity FILE computes perplexity over a text the way llama.cpp's\n" +
			"llama-perplexity does: chunks of --ctx tokens (default 512), each from an empty cache and\n" +
			"starting with BOS, the second half of each chunk scored. Lower is better; compare\n" +
			"quantizations of one model on the same text and --ctx. (Test suites are not built yet.)",
		Example: `  # perplexity of two quantizations on the same text
  natter eval --perplexity wiki.test.raw -m model-Q4_K_M.gguf
  natter eval --perplexity wiki.test.raw -m model-Q8_0.gguf --json`,
		Args: cobra.ArbitraryArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfig(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runEval(cmd, &o, args) },
	}
	o.mf.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&o.perplexity, "perplexity", "", "text file to compute perplexity over")
	fs.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	group(fs, flagsOutput, "json")
	return cmd
}

func runEval(cmd *cobra.Command, o *evalOptions, args []string) error {
	if len(args) > 0 {
		return usageError(cmd, "test suites (%s) are not supported yet; natter eval --perplexity FILE is", args[0])
	}
	if o.perplexity == "" {
		return usageError(cmd, "give --perplexity FILE")
	}
	mf := &o.mf
	if !cmd.Flags().Changed("ctx") {
		mf.ctx = 512 // llama-perplexity's default chunk
	}
	if err := mf.check(); err != nil {
		return usageError(cmd, "%v", err)
	}
	text, err := readTextFile(o.perplexity, maxPerplexityText)
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter eval: %v\n", err)
		return status(exitError)
	}
	path, err := mf.resolveModel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter eval: %v\n", err)
		return status(exitError)
	}
	defer mf.setupLogs()()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := mf.loadFor(ctx, "eval", path)
	if err != nil {
		return err
	}
	defer m.Close()
	eng, ok := m.(*engine.Engine)
	if !ok {
		fmt.Fprintf(os.Stderr, "natter eval: perplexity runs on the llama.cpp engine; %s runs on the %s (try --backend llama.cpp)\n", modelName(m.Info()), m.Info().Backend)
		return status(exitError)
	}
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	start := time.Now()
	progress := func(done, total int, ppl float64) {
		if tty {
			eta := time.Duration(float64(time.Since(start)) / float64(done) * float64(total-done)).Round(time.Second)
			fmt.Fprintf(os.Stderr, "\r\033[Kchunk %d/%d · PPL so far %.4f · %s left", done, total, ppl, eta)
		}
	}
	res, err := eng.Perplexity(ctx, text, mf.ctx, progress)
	if tty {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "natter eval: interrupted")
			return status(exitInterrupted)
		}
		fmt.Fprintf(os.Stderr, "natter eval: %s: %v\n", o.perplexity, err)
		if errors.Is(err, engine.ErrTooShort) {
			return status(exitUsage)
		}
		return status(exitError)
	}
	elapsed := time.Since(start)
	if o.asJSON {
		fmt.Printf("{\"model\":%q,\"file\":%q,\"ctx\":%d,\"chunks\":%d,\"tokens\":%d,\"scored\":%d,\"ppl\":%.6f,\"stderr\":%.6f,\"seconds\":%.3f}\n",
			modelName(m.Info()), o.perplexity, mf.ctx, res.Chunks, res.Tokens, res.Scored, res.PPL, res.StdErr, elapsed.Seconds())
		return nil
	}
	fmt.Printf("%s on %s: PPL = %.4f ± %.5f (%d chunks of %d tokens, %d scored, %.1fs)\n",
		modelName(m.Info()), o.perplexity, res.PPL, res.StdErr, res.Chunks, mf.ctx, res.Scored, elapsed.Seconds())
	return nil
}

// readTextFile reads a text file of at most limit bytes.
func readTextFile(path string, limit int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return "", err
	}
	if int64(len(b)) > limit {
		return "", fmt.Errorf("%s is larger than %d MiB", path, limit>>20)
	}
	return string(b), nil
}
