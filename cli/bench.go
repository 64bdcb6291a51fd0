package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/sys/cpu"

	"natter/engine"
	"natter/engine/api"
)

// benchResult is one line of `natter bench --json` (field names are stable).
type benchResult struct {
	Model           string    `json:"model"`
	Backend         string    `json:"backend"`
	ModelBytes      int64     `json:"model_bytes"`
	ModelParams     int64     `json:"model_params"`
	Test            string    `json:"test"`
	Threads         int       `json:"threads"`
	Depth           int       `json:"depth"`
	TokensPerSecond float64   `json:"tokens_per_second"`
	Stddev          float64   `json:"stddev"`
	Repetitions     int       `json:"repetitions"`
	Samples         []float64 `json:"samples"`
}

// benchOptions are bench's flags (llama-bench's names where it has them).
type benchOptions struct {
	mf                modelFlags
	p, n, reps, depth int
	asJSON            bool
}

func benchCommand() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench [flags]",
		Short: "measure prompt (pp) and generation (tg) speed, as llama-bench does",
		Long: "Measure prompt processing (pp) and token generation (tg) speed on random tokens, with a\n" +
			"warm-up run first, and print llama-bench's table (or JSON lines) so the two compare directly.",
		Example: `  natter bench -m model.gguf
  natter bench -m model.gguf -p 512 -n 128 -r 5 -t 4
  natter bench -m model.gguf -d 4096 --json`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfig(cmd)
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, &o) },
	}
	o.mf.register(cmd)
	o.mf.noMedia(cmd)
	fs := cmd.Flags()
	fs.IntVarP(&o.p, "n-prompt", "p", 512, "prompt tokens for the prefill test (0 = skip)")
	fs.IntVarP(&o.n, "n-gen", "n", 128, "tokens to generate for the decode test (0 = skip)")
	fs.IntVarP(&o.reps, "repetitions", "r", 3, "repetitions of each test")
	fs.IntVarP(&o.depth, "n-depth", "d", 0, "context depth: tokens already in the cache before each test")
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON object per test")
	group(fs, flagsOutput, "json")
	return cmd
}

func runBench(cmd *cobra.Command, o *benchOptions) error {
	mf, p, n, reps, depth, asJSON := &o.mf, &o.p, &o.n, &o.reps, &o.depth, &o.asJSON
	if err := mf.check(); err != nil {
		return usageError(cmd, "%v", err)
	}
	if *p < 0 || *n < 0 || *p == 0 && *n == 0 || *reps < 1 || *depth < 0 {
		return usageError(cmd, "-p, -n and -d must be >= 0 (-p and -n not both 0) and -r >= 1")
	}
	// The tests' tokens must fit in the context: pp puts depth+p tokens in
	// the cache and generates one, tg reads depth+1 and generates n+1.
	// Each is checked on its own first, so the sum cannot overflow.
	if *p > maxCtx || *n > maxCtx || *depth > maxCtx || *depth+max(*p+1, *n+2) > maxCtx {
		return usageError(cmd, "-d %d with -p %d or -n %d: more tokens than a context can hold (at most %d)", *depth, *p, *n, maxCtx)
	}
	if need := *depth + max(*p+1, *n+2); mf.ctx > 0 && mf.ctx < need {
		return usageError(cmd, "--ctx %d is too small for -d %d with -p %d and -n %d: they need %d tokens", mf.ctx, *depth, *p, *n, need)
	}
	path, err := mf.resolveModel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter bench: %v\n", err)
		return status(exitError)
	}
	defer mf.setupLogs()()
	if mf.ctx == 0 {
		mf.ctx = min(max(*depth+*p+*n+8, 64), maxCtx)
	}
	// Interrupts are handled from here on (the system_info line says so):
	// Ctrl+C during the load or a test ends bench with status 130.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	info := engine.SystemInfo()
	if *asJSON {
		fmt.Fprintln(os.Stderr, "system_info:", info)
	} else {
		fmt.Println("system_info:", info)
	}
	if w := simdWarning(info); w != "" {
		fmt.Fprintln(os.Stderr, w)
	}
	eng, err := mf.load(path, func(float32) bool { return ctx.Err() == nil })
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "natter bench: interrupted")
			return status(exitInterrupted)
		}
		fmt.Fprintf(os.Stderr, "natter bench: %v\n", err)
		return status(exitError)
	}
	defer eng.Close()

	mi := eng.Info()
	var results []benchResult
	run := func(test string, tokens int, measure func() (float64, error)) error {
		if _, err := measure(); err != nil { // warm-up, as llama-bench does
			return err
		}
		name := fmt.Sprintf("%s%d", test, tokens)
		if *depth > 0 {
			name += fmt.Sprintf(" @ d%d", *depth)
		}
		r := benchResult{Model: filepath.Base(path), Backend: mi.Backend, ModelBytes: mi.SizeBytes, ModelParams: mi.Params,
			Test: name, Threads: eng.Options().Threads, Depth: *depth, Repetitions: *reps}
		for range *reps {
			v, err := measure()
			if err != nil {
				return err
			}
			r.Samples = append(r.Samples, v)
		}
		r.TokensPerSecond, r.Stddev = meanStddev(r.Samples)
		results = append(results, r)
		return nil
	}
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := benchVocab(eng)
	if *p > 0 {
		err = run("pp", *p, func() (float64, error) {
			prefix := randomTokens(rng, vocab, *depth)
			if err := benchPrefix(ctx, eng, prefix); err != nil {
				return 0, err
			}
			toks := append(prefix, randomTokens(rng, vocab, *p)...)
			s, err := runGeneration(ctx, eng, api.Request{Raw: true, Tokens: toks, MaxTokens: 1, IgnoreEOS: true, Sampling: api.Sampling{RepeatPenalty: 1}})
			if err != nil {
				return 0, err
			}
			return s.PrefillTPS, nil
		})
	}
	if err == nil && *n > 0 {
		err = run("tg", *n, func() (float64, error) {
			// n decodes after depth+1 prompt tokens: the first generated
			// token comes from the prompt's logits.
			toks := randomTokens(rng, vocab, *depth+1)
			if err := benchPrefix(ctx, eng, nil); err != nil {
				return 0, err
			}
			s, err := runGeneration(ctx, eng, api.Request{Raw: true, Tokens: toks, MaxTokens: *n + 1, IgnoreEOS: true, Sampling: api.Sampling{RepeatPenalty: 1}})
			if err != nil {
				return 0, err
			}
			return s.DecodeTPS, nil
		})
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "natter bench: interrupted")
			return status(exitInterrupted)
		}
		fmt.Fprintf(os.Stderr, "natter bench: %v\n", err)
		return status(exitError)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		for _, r := range results {
			enc.Encode(r)
		}
		return nil
	}
	printBenchTable(os.Stdout, mi, results)
	return nil
}

// benchVocab lists ordinary tokens to build random prompts from.
func benchVocab(eng engine.Model) []int32 {
	var out []int32
	for id := int32(0); int(id) < eng.VocabSize() && len(out) < 4096; id++ {
		if t := eng.TokenText(id); t != "" && !strings.HasPrefix(t, "<") {
			out = append(out, id)
		}
	}
	return out
}

func randomTokens(rng *rand.Rand, vocab []int32, n int) []int32 {
	toks := make([]int32, n)
	for i := range toks {
		toks[i] = vocab[rng.IntN(len(vocab))]
	}
	return toks
}

// benchPrefix empties the KV cache, then fills it with prefix (the test's
// depth), which the measured request then reuses.
func benchPrefix(ctx context.Context, eng engine.Model, prefix []int32) error {
	if err := eng.Reset(); err != nil {
		return err
	}
	if len(prefix) == 0 {
		return nil
	}
	// One token more than the prefix, as a prompt's last token is always
	// decoded again; the measured request then starts right after prefix.
	_, err := runGeneration(ctx, eng, api.Request{Raw: true, Tokens: prefix, MaxTokens: 1, IgnoreEOS: true, Sampling: api.Sampling{RepeatPenalty: 1}})
	return err
}

// runGeneration runs one generation and returns its stats.
func runGeneration(ctx context.Context, eng engine.Model, req api.Request) (*api.Stats, error) {
	ch, err := eng.Generate(ctx, req)
	if err != nil {
		return nil, err
	}
	var stats *api.Stats
	var gerr error
	for ev := range ch {
		switch ev.Kind {
		case api.EventDone:
			stats = ev.Stats
		case api.EventError:
			gerr = ev.Err
		}
	}
	if gerr != nil {
		return nil, gerr
	}
	if stats.StopReason == api.StopCancelled {
		return nil, context.Canceled
	}
	return stats, nil
}

func meanStddev(xs []float64) (float64, float64) {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}

// printBenchTable prints llama-bench's markdown table. Columns widen to
// their longest cell (a "pp512 @ d4096" test name, a long model name), so
// every row keeps the same width.
func printBenchTable(w io.Writer, mi api.ModelInfo, rs []benchResult) {
	name := mi.Description
	if name == "" {
		name = mi.Name
	}
	header := []string{"model", "size", "params", "backend", "threads", "test", "t/s"}
	right := []bool{false, true, true, false, true, true, true}
	widths := []int{30, 10, 10, 7, 7, 8, 20}
	rows := [][]string{header}
	for _, r := range rs {
		rows = append(rows, []string{name, fmt.Sprintf("%.2f MiB", float64(r.ModelBytes)/(1<<20)),
			humanCount(r.ModelParams), benchDevice(r.Backend), strconv.Itoa(r.Threads), r.Test,
			fmt.Sprintf("%.2f ± %.2f", r.TokensPerSecond, r.Stddev)})
	}
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, cell := range cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if right[i] {
				b.WriteString(" " + pad + cell + " |")
			} else {
				b.WriteString(" " + cell + pad + " |")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(header)
	rule := make([]string, len(header))
	for i := range header {
		if right[i] {
			rule[i] = strings.Repeat("-", widths[i]-1) + ":"
		} else {
			rule[i] = strings.Repeat("-", widths[i])
		}
	}
	line(rule)
	for _, row := range rows[1:] {
		line(row)
	}
}

// benchDevice is the table's backend column: llama-bench's "CPU" for the
// llama.cpp path, "Go CPU" for the Go engine.
func benchDevice(backend string) string {
	if backend == engine.BackendGo {
		return "Go CPU"
	}
	return "CPU"
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f B", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.2f K", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print natter's version, llama.cpp's build features and the backends",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Println("natter", Version)
			info := engine.SystemInfo()
			fmt.Println("llama.cpp:", info)
			if w := simdWarning(info); w != "" {
				fmt.Println(w)
			}
			fmt.Println("backends:")
			fmt.Println("  llama.cpp  commit ec98e2002 (Dec 2025), from", moduleVersion("github.com/ollama/ollama"))
			fmt.Println("  go         Ollama's Go engine, from", moduleVersion("github.com/ollama/ollama"), "- runs", strings.Join(goArchs(), ", "))
			fmt.Println("  auto       picks llama.cpp, or the Go engine for the architectures only it runs (--backend overrides)")
			return nil
		},
	}
}

// moduleVersion is "path version" of a module linked into natter.
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Path + " " + d.Version
			}
		}
	}
	return path
}

// goArchs are the architectures auto sends to the Go engine, sorted.
func goArchs() []string {
	var out []string
	for a := range engine.GoArchitectures {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// simdWarning says when the CPU could run faster kernels than were compiled in.
func simdWarning(info string) string {
	if cpu.X86.HasAVX2 && !strings.Contains(info, "AVX2 = 1") {
		return "warning: this CPU supports AVX2 but natter was built without it, so prompts process several times slower.\n" +
			"         Rebuild with `make build` (it sets -march=native), not PORTABLE=1."
	}
	return ""
}
