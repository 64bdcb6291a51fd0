package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"natter/engine"
	"natter/engine/api"
	"natter/eval"
	"natter/prompts"
	"natter/remote"
)

type evalOptions struct {
	mf         modelFlags
	sf         samplingFlags
	perplexity string
	asJSON     bool
	markdown   bool
	personas   []string
	templates  []string
	vars       []string
	runs       int
	judge      string
	noSave     bool
	failUnder  float64
}

// maxPerplexityText bounds the file --perplexity reads (wikitext-2's test
// set is 1.3 MB).
const maxPerplexityText = 256 << 20

// noPersona in --prompt stands for the suite's own system prompts, so a
// persona can be compared with none.
const noPersona = "none"

func evalCommand() *cobra.Command {
	var o evalOptions
	cmd := &cobra.Command{
		Use:   "eval SUITE [flags]",
		Short: "test and compare models, personas and templates on your own cases",
		Long: "Run every case of a suite (a YAML or JSONL file: see examples/eval) against each\n" +
			"combination of the models (-m), personas (--prompt) and chat templates (--chat-template)\n" +
			"given, grade each reply with the case's check, and print one table: score, per-tag scores,\n" +
			"time to first token, prefill and decode speed, peak memory, and the failures. Sampling is\n" +
			"greedy unless --temp is given, so runs repeat; a reply stops at the case's max_tokens, else\n" +
			"-n, else 256 tokens. Runs are saved beside the history: `natter\n" +
			"eval list` shows them and `natter eval diff A B` says which cases got better or worse.\n\n" +
			"--perplexity FILE instead computes perplexity over a text the way llama.cpp's\n" +
			"llama-perplexity does: chunks of --ctx tokens (default 512), each from an empty cache\n" +
			"and starting with BOS, the second half of each chunk scored. Lower is better.",
		Example: `  # which model and persona classify sentiment best, and at what speed
  natter eval examples/eval/sentiment.yaml -m qwen3.5-0.8b -m gemma-4-e2b --prompt none --prompt terse

  # a local model against a remote one, as Markdown for a pull request
  natter eval qa.jsonl -m llama-3.2-1b -m gpu:qwen3.5-27b --markdown

  # what changed between two saved runs
  natter eval list
  natter eval diff 3 4

  # perplexity of two quantizations on the same text
  natter eval --perplexity wiki.test.raw -m model-Q4_K_M.gguf
  natter eval --perplexity wiki.test.raw -m model-Q8_0.gguf --json`,
		Args: cobra.ArbitraryArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfig(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runEval(cmd, &o, args) },
	}
	o.mf.registerMulti(cmd)
	o.mf.noMedia(cmd)
	o.sf.register(cmd)
	fs := cmd.Flags()
	// Greedy by default: a suite is for comparing, so runs must repeat.
	for name, v := range map[string]string{"temp": "0", "seed": "42"} {
		f := fs.Lookup(name)
		_ = f.Value.Set(v)
		f.DefValue = v
	}
	fs.StringArrayVar(&o.personas, "prompt", nil, "persona to test (repeatable; \"none\" = the suite's own system prompts)")
	fs.StringArrayVar(&o.templates, "chat-template", nil, "chat template to test: NAME or FILE.jinja (repeatable; default the model's own)")
	fs.StringArrayVar(&o.vars, "var", nil, "persona variable KEY=VALUE (repeatable)")
	fs.IntVar(&o.runs, "runs", 1, "run each case N times (useful with --temp above 0)")
	fs.StringVar(&o.judge, "judge", "", "model that grades the suite's judge cases (local or remote; skipped without it)")
	fs.BoolVar(&o.noSave, "no-save", false, "do not save the run (history.save = false in the config does the same)")
	group(fs, flagsChat, "prompt", "chat-template", "var", "runs", "judge", "no-save")
	_ = cmd.RegisterFlagCompletionFunc("prompt", completePersonas)
	_ = cmd.RegisterFlagCompletionFunc("chat-template", completeTemplates)
	_ = cmd.RegisterFlagCompletionFunc("judge", completeModels)
	fs.StringVar(&o.perplexity, "perplexity", "", "text file to compute perplexity over (instead of a suite)")
	group(fs, flagsModel, "perplexity")
	fs.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&o.markdown, "markdown", false, "print the result as a Markdown table")
	fs.Float64Var(&o.failUnder, "fail-under", 0, "exit 1 when a cell scores below this percentage (for CI)")
	group(fs, flagsOutput, "json", "markdown", "fail-under")
	cmd.AddCommand(evalListCommand(), evalShowCommand(), evalDiffCommand(), evalRmCommand())
	return cmd
}

func runEval(cmd *cobra.Command, o *evalOptions, args []string) error {
	if o.perplexity != "" {
		if len(args) > 0 {
			return usageError(cmd, "give a suite or --perplexity FILE, not both")
		}
		if len(o.mf.models) > 1 {
			return usageError(cmd, "--perplexity scores one model; give -m once")
		}
		if len(o.mf.models) == 1 {
			o.mf.model = o.mf.models[0]
		}
		return runPerplexity(cmd, o)
	}
	switch {
	case len(args) == 0:
		return usageError(cmd, "give a suite file (see examples/eval), or --perplexity FILE")
	case len(args) > 1:
		return usageError(cmd, "one suite at a time (got %d)", len(args))
	case o.runs < 1 || o.runs > 1000:
		return usageError(cmd, "--runs %d: must be between 1 and 1000", o.runs)
	case o.asJSON && o.markdown:
		return usageError(cmd, "--json or --markdown, not both")
	case o.failUnder < 0 || o.failUnder > 100:
		return usageError(cmd, "--fail-under %v: a percentage between 0 and 100", o.failUnder)
	}
	mf := &o.mf
	if err := mf.check(); err != nil {
		return usageError(cmd, "%v", err)
	}
	sampling, err := o.sf.sampling()
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	// Everything a user can get wrong is checked before a model loads.
	suite, err := eval.Load(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter eval: %v\n", err)
		return status(exitUsage)
	}
	specs := mf.models
	if len(specs) == 0 {
		specs = []string{""} // the last model used
	}
	var targets []evalModel
	for _, spec := range specs {
		t, err := resolveEvalModel(mf, spec)
		if err != nil {
			fmt.Fprintf(os.Stderr, "natter eval: %v\n", err)
			return status(exitError)
		}
		targets = append(targets, t)
	}
	personas := o.personas
	if len(personas) == 0 {
		personas = []string{""}
	}
	for _, p := range personas {
		if p == "" || p == noPersona {
			continue
		}
		if _, _, err := personaPrompt(p, "model", o.vars); err != nil {
			fmt.Fprintf(os.Stderr, "natter eval: --prompt %s: %v\n", p, err)
			return status(exitUsage)
		}
	}
	templates := o.templates
	if len(templates) == 0 {
		templates = []string{""}
	}
	templateText := map[string]string{}
	for _, t := range templates {
		if t == "" {
			continue
		}
		path, _, err := prompts.ResolveChatTemplate(t, prompts.ConfigDir())
		if err == nil {
			var b []byte
			if b, err = os.ReadFile(path); err == nil {
				templateText[t] = string(b)
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "natter eval: --chat-template %s: %v\n", t, err)
			return status(exitUsage)
		}
	}
	var judgeModel *evalModel
	if o.judge != "" {
		j, err := resolveEvalModel(mf, o.judge)
		if err != nil {
			fmt.Fprintf(os.Stderr, "natter eval: --judge: %v\n", err)
			return status(exitError)
		}
		judgeModel = &j
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer mf.setupLogs()()
	var store *eval.Store
	if o.noSave && !cmd.Flags().Changed("no-save") {
		fmt.Fprintln(os.Stderr, "natter eval: this run is not saved: saving is off (history.save = false or NATTER_NO_HISTORY)")
	}
	if !o.noSave {
		var err error
		if store, err = openEvalStore(); err != nil {
			fmt.Fprintf(os.Stderr, "natter eval: warning: this run will not be saved: %v\n", err)
		} else {
			defer store.Close()
		}
	}
	var judge *eval.Judge
	if judgeModel != nil {
		judge = &eval.Judge{Name: judgeModel.name}
		g, err := judgeModel.open(ctx, mf, o.sf.thinkVars())
		if err == nil {
			if judge.Template, err = g.templateFor("", o.sf.thinkVars()); err != nil {
				g.close()
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return status(exitInterrupted)
			}
			fmt.Fprintf(os.Stderr, "natter eval: --judge %s: %v\n", judgeModel.name, err)
			return status(exitError)
		}
		defer g.close()
		judge.Gen = g.gen
	}

	run := &eval.Run{Started: time.Now(), Suite: suite.Name, SuitePath: suite.Path, SuiteHash: suite.Hash, Runs: o.runs}
	if abs, err := filepath.Abs(suite.Path); err == nil {
		run.SuitePath = abs
	}
	if store != nil {
		if err := store.Begin(ctx, run); err != nil {
			fmt.Fprintf(os.Stderr, "natter eval: warning: this run will not be saved: %v\n", err)
			store = nil
		}
	}
	samplingJSON, _ := json.Marshal(sampling)
	prog := newEvalProgress(len(targets)*len(personas)*len(templates), len(suite.Cases)*o.runs)
	interrupted := false
	saveCell := func(c eval.CellResult) {
		run.Cells = append(run.Cells, c)
		if store != nil {
			// Saved even when interrupted: what finished is kept.
			if err := store.SaveCell(context.WithoutCancel(ctx), run.ID, c); err != nil {
				fmt.Fprintf(os.Stderr, "natter eval: warning: saving the run: %v\n", err)
			}
		}
	}
models:
	for _, t := range targets {
		cellOf := func(tmpl, persona, personaText string) eval.Cell {
			return eval.Cell{Model: t.name + loraLabel(mf.loraOpts, t.remote == nil), ModelRef: t.ref, Backend: t.backend, Persona: persona, PersonaText: personaText,
				Template: tmpl, TemplateText: templateText[tmpl], Sampling: string(samplingJSON)}
		}
		failAll := func(err error) {
			for _, tmpl := range templates {
				for _, p := range personas {
					saveCell(eval.CellResult{Cell: cellOf(tmpl, personaLabel(p), ""), LoadErr: err.Error()})
					prog.skipCell()
				}
			}
		}
		prog.loading(t.name)
		m, err := t.open(ctx, mf, o.sf.thinkVars())
		if err != nil {
			if ctx.Err() != nil {
				interrupted = true
				break
			}
			failAll(err)
			continue
		}
		hash := withAdapters(t.hash(ctx, prog), m.gen)
		for _, tmpl := range templates {
			chain, err := m.templateFor(tmpl, o.sf.thinkVars())
			if err != nil {
				for _, p := range personas {
					saveCell(eval.CellResult{Cell: cellOf(tmpl, personaLabel(p), ""), LoadErr: err.Error()})
					prog.skipCell()
				}
				continue
			}
			for _, p := range personas {
				tg := eval.Target{Gen: m.gen, Template: chain, Sampling: sampling, MaxTokens: max(o.sf.maxTokens, 0)}
				personaText := ""
				if p != "" && p != noPersona {
					text, pp, err := personaPrompt(p, t.name, o.vars)
					if err != nil {
						saveCell(eval.CellResult{Cell: cellOf(tmpl, p, ""), LoadErr: err.Error()})
						prog.skipCell()
						continue
					}
					personaText, tg.System = text, text
					req := api.Request{Sampling: tg.Sampling, MaxTokens: tg.MaxTokens}
					applyOverrides(&req, pp.Sampling, setFlags(cmd))
					tg.Sampling, tg.MaxTokens = req.Sampling, req.MaxTokens
				}
				tg.Cell = cellOf(tmpl, personaLabel(p), personaText)
				tg.Cell.ModelHash = hash
				prog.startCell(tg.Cell.Label())
				if t.remote == nil {
					// Best effort: a failing model shows its error in the cases.
					_ = eval.Warmup(ctx, m.gen, chain)
				}
				local := t.remote == nil
				if local {
					eval.ResetPeakRSS()
				}
				res, err := eval.RunCell(ctx, suite, tg, eval.Options{Runs: o.runs, Judge: judge, Progress: prog.caseDone})
				if local {
					res.PeakRSS = eval.PeakRSS()
				}
				saveCell(res)
				if err != nil {
					interrupted = true
					m.close()
					break models
				}
			}
		}
		m.close()
	}
	prog.clear()
	run.Finished = time.Now()
	run.Complete = !interrupted
	for _, c := range run.Cells {
		if c.LoadErr != "" {
			run.Complete = false
		}
	}
	if store != nil {
		if err := store.Finish(context.WithoutCancel(ctx), run); err != nil {
			fmt.Fprintf(os.Stderr, "natter eval: warning: saving the run: %v\n", err)
		}
	}
	rep := eval.NewReport(run, len(suite.Cases))
	if err := writeReport(rep, o); err != nil {
		return status(exitError)
	}
	if interrupted {
		fmt.Fprintln(os.Stderr, "natter eval: interrupted; the table shows the cases that finished")
		return status(exitInterrupted)
	}
	if store != nil && !o.asJSON && !o.markdown {
		fmt.Fprintf(os.Stderr, "saved as run %d (natter eval show %d; natter eval diff %d NEXT)\n", run.ID, run.ID, run.ID)
	}
	for _, s := range rep.Cells {
		if s.LoadErr != "" {
			return status(exitError)
		}
		if o.failUnder > 0 && s.Scored > 0 && 100*s.Score < o.failUnder {
			fmt.Fprintf(os.Stderr, "natter eval: %s scored %.1f%%, under --fail-under %v%%\n", s.Label, 100*s.Score, o.failUnder)
			return status(exitError)
		}
	}
	return nil
}

func personaLabel(p string) string {
	if p == noPersona {
		return ""
	}
	return p
}

func writeReport(rep eval.Report, o *evalOptions) error {
	var err error
	switch {
	case o.asJSON:
		err = rep.WriteJSON(os.Stdout)
	case o.markdown:
		err = rep.WriteMarkdown(os.Stdout)
	default:
		err = rep.WriteText(os.Stdout)
	}
	return err
}

// evalModel is one -m of an eval, resolved but not loaded.
// loraLabel names the adapters a local model's cells run with, so runs
// with and without them are told apart.
func loraLabel(loras []engine.LoraOption, local bool) string {
	if !local || len(loras) == 0 {
		return ""
	}
	var parts []string
	for _, l := range loras {
		parts = append(parts, fmt.Sprintf("%s×%g", filepath.Base(l.Path), l.Scale))
	}
	return " +lora " + strings.Join(parts, ",")
}

// withAdapters folds the loaded adapters (file hashes and scales) into a
// model's hash: a diff then says the model changed when they did.
func withAdapters(hash string, gen api.Generator) string {
	a, ok := gen.(api.AdapterScaler)
	if !ok || hash == "" || len(a.Adapters()) == 0 {
		return hash
	}
	h := sha256.New()
	io.WriteString(h, hash)
	for _, ad := range a.Adapters() {
		fmt.Fprintf(h, "\x00%s %g", ad.SHA256, ad.Scale)
	}
	return hex.EncodeToString(h.Sum(nil))
}

type evalModel struct {
	spec, name, ref, backend string
	path                     string           // a local file
	remote                   *remote.Endpoint // or a server
}

func resolveEvalModel(mf *modelFlags, spec string) (evalModel, error) {
	saved := mf.model
	defer func() { mf.model = saved }()
	mf.model = spec
	if ep, isRemote, err := mf.endpoint(); isRemote {
		if err != nil {
			return evalModel{}, err
		}
		return evalModel{spec: spec, name: ep.ID(), ref: ep.ID(), backend: "remote", remote: &ep}, nil
	}
	path, err := resolveModelName(spec)
	if err != nil {
		return evalModel{}, err
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if spec != "" && !strings.ContainsAny(spec, `/\`) && !strings.HasSuffix(spec, ".gguf") {
		name = spec // the name the user typed (a catalog or local name)
	}
	return evalModel{spec: spec, name: name, ref: path, path: path}, nil
}

// openedModel is a loaded model (or a server connection).
type openedModel struct {
	gen   api.Generator
	eng   engine.Model // nil for a server
	close func()
}

// open loads the model (or connects to the server).
func (t *evalModel) open(ctx context.Context, mf *modelFlags, vars map[string]any) (openedModel, error) {
	if t.remote != nil {
		c, err := openRemote(ctx, *t.remote, "eval")
		if err != nil {
			return openedModel{}, err
		}
		if v, ok := vars["enable_thinking"].(bool); ok {
			c.SetThinking(&v)
		}
		return openedModel{gen: c, close: func() {}}, nil
	}
	if err := checkLoad(t.path, mf, func(s string) { fmt.Fprintln(os.Stderr, s) }); err != nil {
		return openedModel{}, err
	}
	e, err := engine.Open(mf.options(t.path, func(float32) bool { return ctx.Err() == nil }))
	if err != nil {
		return openedModel{}, err
	}
	t.backend = e.Info().Backend
	return openedModel{gen: e, eng: e, close: func() { e.Close() }}, nil
}

// templateFor is the chat template requests use: tmpl ("" = the model's
// own); a server applies its own whatever is asked.
func (m openedModel) templateFor(tmpl string, vars map[string]any) (prompts.ChatTemplate, error) {
	if m.eng == nil {
		if tmpl != "" {
			return nil, fmt.Errorf("--chat-template %s has no effect on a server, which applies its own template", tmpl)
		}
		return nil, nil
	}
	return chatTemplate(m.eng, tmpl, vars)
}

// hash is the model file's sha256 ("" for a server): an Ollama blob is
// named by it, anything else is read once.
func (t *evalModel) hash(ctx context.Context, prog *evalProgress) string {
	if t.path == "" {
		return ""
	}
	if h, ok := strings.CutPrefix(filepath.Base(t.path), "sha256-"); ok && len(h) == 64 {
		return h
	}
	prog.note("hashing " + filepath.Base(t.path))
	f, err := os.Open(t.path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ctxReader stops a long read when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// evalProgress is the live line on a terminal's stderr: cell, cases done,
// pass rate, time left. Elsewhere it stays quiet.
type evalProgress struct {
	tty                bool
	cells, perCell     int
	cell, done, passed int
	label              string
	runStart           time.Time
	totalDone          int
}

func newEvalProgress(cells, perCell int) *evalProgress {
	return &evalProgress{tty: term.IsTerminal(int(os.Stderr.Fd())), cells: cells, perCell: perCell,
		runStart: time.Now()}
}

func (p *evalProgress) line(s string) {
	if p.tty {
		fmt.Fprintf(os.Stderr, "\r\033[K%s", s)
	}
}

func (p *evalProgress) note(s string)        { p.line(s + "…") }
func (p *evalProgress) loading(model string) { p.line("loading " + model + "…") }
func (p *evalProgress) skipCell()            { p.cell++; p.totalDone += p.perCell }
func (p *evalProgress) clear()               { p.line("") }
func (p *evalProgress) startCell(name string) {
	p.cell++
	p.label, p.done, p.passed = name, 0, 0
	p.draw()
}

func (p *evalProgress) caseDone(r eval.CaseResult) {
	p.done++
	p.totalDone++
	if r.Pass {
		p.passed++
	}
	p.draw()
}

func (p *evalProgress) draw() {
	if !p.tty {
		return
	}
	s := fmt.Sprintf("[%d/%d] %s · case %d/%d", p.cell, p.cells, p.label, p.done, p.perCell)
	if p.done > 0 {
		s += fmt.Sprintf(" · %d passed", p.passed)
	}
	if left := eval.Remaining(p.runStart, p.totalDone, p.cells*p.perCell); left > 0 {
		s += " · " + left.String() + " left"
	}
	p.line(s + " (Ctrl+C stops and prints what is done)")
}

func openEvalStore() (*eval.Store, error) {
	path, err := eval.DefaultStorePath()
	if err != nil {
		return nil, err
	}
	return eval.OpenStore(path)
}

func parseRunID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not a run number (natter eval list shows them)", s)
	}
	return id, nil
}

func evalListCommand() *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "list saved eval runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openEvalStore()
			if err != nil {
				fmt.Fprintf(os.Stderr, "natter eval list: %v\n", err)
				return status(exitError)
			}
			defer st.Close()
			runs, err := st.Runs(cmd.Context(), limit)
			if err != nil {
				fmt.Fprintf(os.Stderr, "natter eval list: %v\n", err)
				return status(exitError)
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				if runs == nil {
					runs = []eval.RunSummary{}
				}
				return enc.Encode(runs)
			}
			if len(runs) == 0 {
				fmt.Println("no saved eval runs yet (natter eval SUITE -m MODEL makes one)")
				return nil
			}
			return eval.WriteRunList(os.Stdout, runs)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	cmd.Flags().IntVarP(&limit, "limit", "n", 20, "show at most N runs (0 = all)")
	return cmd
}

func evalShowCommand() *cobra.Command {
	var asJSON, markdown bool
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "print a saved run's table again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return usageError(cmd, "%v", err)
			}
			st, err := openEvalStore()
			if err != nil {
				fmt.Fprintf(os.Stderr, "natter eval show: %v\n", err)
				return status(exitError)
			}
			defer st.Close()
			run, err := st.Load(cmd.Context(), id)
			if err != nil {
				fmt.Fprintf(os.Stderr, "natter eval show: %v\n", err)
				return status(exitError)
			}
			rep := eval.NewReport(run, casesOf(run))
			if err := writeReport(rep, &evalOptions{asJSON: asJSON, markdown: markdown}); err != nil {
				return status(exitError)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run as JSON")
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print the run as a Markdown table")
	return cmd
}

// casesOf counts a saved run's cases (the suite file may have changed).
func casesOf(r *eval.Run) int {
	n := 0
	for _, c := range r.Cells {
		seen := map[string]bool{}
		for _, x := range c.Results {
			seen[x.Case] = true
		}
		n = max(n, len(seen))
	}
	return n
}

func evalDiffCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diff RUN_A RUN_B",
		Short: "which cases got better or worse from one saved run to another",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var ids [2]int64
			for i, a := range args {
				id, err := parseRunID(a)
				if err != nil {
					return usageError(cmd, "%v", err)
				}
				ids[i] = id
			}
			st, err := openEvalStore()
			if err != nil {
				fmt.Fprintf(os.Stderr, "natter eval diff: %v\n", err)
				return status(exitError)
			}
			defer st.Close()
			var runs [2]*eval.Run
			for i, id := range ids {
				if runs[i], err = st.Load(cmd.Context(), id); err != nil {
					fmt.Fprintf(os.Stderr, "natter eval diff: %v\n", err)
					return status(exitError)
				}
			}
			if err := eval.Diff(runs[0], runs[1]).WriteText(os.Stdout); err != nil {
				return status(exitError)
			}
			return nil
		},
	}
	return cmd
}

func evalRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rm RUN...",
		Short: "delete saved runs",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openEvalStore()
			if err != nil {
				fmt.Fprintf(os.Stderr, "natter eval rm: %v\n", err)
				return status(exitError)
			}
			defer st.Close()
			for _, a := range args {
				id, err := parseRunID(a)
				if err != nil {
					return usageError(cmd, "%v", err)
				}
				if err := st.Delete(cmd.Context(), id); err != nil {
					fmt.Fprintf(os.Stderr, "natter eval rm: %v\n", err)
					return status(exitError)
				}
			}
			return nil
		},
	}
}

func runPerplexity(cmd *cobra.Command, o *evalOptions) error {
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
			fmt.Fprintf(os.Stderr, "\r\033[Kchunk %d/%d · PPL so far %.4f · %s left", done, total, ppl, eval.Remaining(start, done, total))
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
