package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"natter/engine"
	"natter/engine/api"
	"natter/history"
	"natter/models"
	"natter/prompts"
	"natter/ui"
)

func init() {
	register("ask", "answer one prompt and exit (stdin is included as context)", runAsk)
	register("bench", "measure prompt (pp) and generation (tg) speed", runBench)
	register("version", "print version and llama.cpp build features", runVersion)
}

// modelFlags are the flags every command that loads a model takes.
type modelFlags struct {
	model     string
	ctx       int
	threads   int
	batch     int
	flashAttn string
	cacheType string
	backend   string
	verbose   bool
	// remember: a successful load becomes "the last model used" (the
	// chat's default); ask and bench leave it alone.
	remember bool
}

func (m *modelFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.model, "m", "", "model: a GGUF path (default $NATTER_MODEL)")
	fs.StringVar(&m.model, "model", "", "same as -m")
	fs.IntVar(&m.ctx, "ctx", 0, "context size in tokens (0 = min(4096, the model's))")
	fs.IntVar(&m.threads, "t", engine.PhysicalCores(), "CPU threads")
	fs.IntVar(&m.threads, "threads", engine.PhysicalCores(), "same as -t")
	fs.IntVar(&m.batch, "batch", 2048, "prompt batch size")
	fs.StringVar(&m.flashAttn, "flash-attn", "auto", "flash attention: auto, on, off")
	fs.StringVar(&m.cacheType, "cache-type", "f16", "KV cache type: f16, q8_0, q4_0, f32, bf16")
	fs.StringVar(&m.backend, "backend", engine.BackendAuto, "engine: auto (llama.cpp, or the Go engine for qwen35, qwen35moe, gemma4), llama.cpp, go")
	fs.BoolVar(&m.verbose, "verbose", false, "show llama.cpp logs on stderr")
}

func (m *modelFlags) check() error {
	switch {
	case m.ctx < 0 || m.ctx > 0 && m.ctx < 16:
		return fmt.Errorf("--ctx %d: must be 0 (automatic) or at least 16", m.ctx)
	case m.threads < 1 || m.threads > 1024:
		return fmt.Errorf("--threads %d: must be between 1 and 1024", m.threads)
	case m.batch < 1:
		return fmt.Errorf("--batch %d: must be at least 1", m.batch)
	}
	switch m.flashAttn {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("--flash-attn %q: want auto, on or off", m.flashAttn)
	}
	switch m.cacheType {
	case "f16", "q8_0", "q4_0", "f32", "bf16":
	default:
		return fmt.Errorf("--cache-type %q: want f16, q8_0, q4_0, f32 or bf16", m.cacheType)
	}
	if err := engine.CheckBackend(m.backend); err != nil {
		return err
	}
	return nil
}

// resolveModel finds the model to load: the flag, else $NATTER_MODEL, else
// the last model used.
func (m *modelFlags) resolveModel() (string, error) {
	p := m.model
	if p == "" {
		p = os.Getenv("NATTER_MODEL")
	}
	return resolveModelName(p)
}

// setupLogs sends llama.cpp logs to the state dir's log file (or stderr with
// --verbose) and returns a function that closes it.
func (m *modelFlags) setupLogs() func() {
	if m.verbose {
		engine.SetLogOutput(os.Stderr)
		return func() {}
	}
	dir := stateDir()
	if err := os.MkdirAll(dir, 0o700); err == nil {
		if f, err := openRotatingLog(dir + "/llama.log"); err == nil {
			engine.SetLogOutput(f)
			return func() { engine.SetLogOutput(nil); f.Close() }
		}
	}
	engine.SetLogOutput(nil)
	return func() {}
}

// load validates and loads the model, warns when it may not fit in memory,
// and remembers it as the default for next time.
func (m *modelFlags) load(path string, progress func(float32) bool) (engine.Model, error) {
	// engine.Load validates the file; the fit check only warns (and stays
	// quiet about a bad file, which Load then reports).
	if err := checkLoad(path, m, func(s string) { fmt.Fprintln(os.Stderr, s) }); err != nil {
		return nil, err
	}
	if w := fitWarning(path, m.ctx); w != "" {
		fmt.Fprintln(os.Stderr, w)
	}
	e, err := engine.Open(m.options(path, progress))
	if err == nil && m.remember {
		_ = models.Remember(path) // best effort: only a convenience
	}
	return e, err
}

// options are the engine options the flags select.
func (m *modelFlags) options(path string, progress func(float32) bool) engine.Options {
	return engine.Options{
		ModelPath: path, ContextSize: m.ctx, BatchSize: m.batch, Threads: m.threads,
		FlashAttn: m.flashAttn, CacheType: m.cacheType, Backend: m.backend, Progress: progress,
	}
}

// samplingFlags are the generation flags of ask and the chat.
type samplingFlags struct {
	temp, topP, minP, repeatPenalty float64
	topK, maxTokens                 int
	seed                            int64
	think                           string // auto, on, off
	reasoningBudget                 int    // -1: no cap
}

// thinkVars are the template variables --think sets (nil: the template's
// default; Qwen3.5 thinks by default, Gemma 4 does not).
func (s *samplingFlags) thinkVars() map[string]any {
	switch {
	case s.think == "off" || s.reasoningBudget == 0:
		return map[string]any{"enable_thinking": false}
	case s.think == "on":
		return map[string]any{"enable_thinking": true}
	}
	return nil
}

// budget is api.Request.ReasoningBudget for --reasoning-budget.
func (s *samplingFlags) budget() int { return max(s.reasoningBudget, 0) }

// decimal is the float64 nearest the shortest decimal form of x, so help
// shows a float32 default as 0.8, not 0.800000011920929; it converts back
// to the same float32.
func decimal(x float32) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
	return f
}

func (s *samplingFlags) register(fs *flag.FlagSet) {
	d := api.DefaultSampling()
	fs.Float64Var(&s.temp, "temp", decimal(d.Temperature), "temperature (0 = greedy)")
	fs.IntVar(&s.topK, "top-k", d.TopK, "top-k sampling (0 = off)")
	fs.Float64Var(&s.topP, "top-p", decimal(d.TopP), "top-p sampling (1 = off)")
	fs.Float64Var(&s.minP, "min-p", decimal(d.MinP), "min-p sampling (0 = off)")
	fs.Float64Var(&s.repeatPenalty, "repeat-penalty", decimal(d.RepeatPenalty), "repeat penalty (1 = off)")
	fs.Int64Var(&s.seed, "seed", -1, "random seed (-1 = random)")
	fs.IntVar(&s.maxTokens, "n", -1, "maximum tokens to generate (-1 = until the model stops)")
	fs.IntVar(&s.maxTokens, "max-tokens", -1, "same as -n")
	fs.StringVar(&s.think, "think", "auto", "reasoning models: on, off, or auto (the template's default)")
	fs.IntVar(&s.reasoningBudget, "reasoning-budget", -1, "cap thinking at N tokens, then answer (-1 = no cap, 0 = no thinking)")
}

func (s *samplingFlags) sampling() (api.Sampling, error) {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case bad(s.temp) || s.temp < 0 || s.temp > 100:
		return api.Sampling{}, fmt.Errorf("--temp %v: must be between 0 and 100", s.temp)
	case s.topK < 0:
		return api.Sampling{}, fmt.Errorf("--top-k %d: must not be negative", s.topK)
	case bad(s.topP) || s.topP < 0 || s.topP > 1:
		return api.Sampling{}, fmt.Errorf("--top-p %v: must be between 0 and 1", s.topP)
	case bad(s.minP) || s.minP < 0 || s.minP > 1:
		return api.Sampling{}, fmt.Errorf("--min-p %v: must be between 0 and 1", s.minP)
	case bad(s.repeatPenalty) || s.repeatPenalty <= 0 || s.repeatPenalty > 10:
		return api.Sampling{}, fmt.Errorf("--repeat-penalty %v: must be above 0 and at most 10", s.repeatPenalty)
	case s.seed < -1 || s.seed >= math.MaxUint32:
		return api.Sampling{}, fmt.Errorf("--seed %d: must be -1 or between 0 and %d", s.seed, uint32(math.MaxUint32-1))
	case s.maxTokens < -1 || s.maxTokens == 0:
		return api.Sampling{}, fmt.Errorf("-n %d: must be -1 or positive", s.maxTokens)
	case s.think != "auto" && s.think != "on" && s.think != "off":
		return api.Sampling{}, fmt.Errorf("--think %q: want on, off or auto", s.think)
	case s.reasoningBudget < -1:
		return api.Sampling{}, fmt.Errorf("--reasoning-budget %d: must be -1 (no cap), 0 (no thinking) or positive", s.reasoningBudget)
	}
	out := api.DefaultSampling()
	out.Temperature, out.TopK, out.TopP = float32(s.temp), s.topK, float32(s.topP)
	out.MinP, out.RepeatPenalty = float32(s.minP), float32(s.repeatPenalty)
	if s.seed >= 0 {
		out.Seed = uint32(s.seed)
	}
	return out, nil
}

func runAsk(args []string) int {
	fs := newFlagSet("ask", "ask [flags] PROMPT...   (or: natter ask - < prompt.txt)")
	var mf modelFlags
	var sf samplingFlags
	mf.register(fs)
	sf.register(fs)
	system := fs.String("system", "", "system prompt")
	raw := fs.Bool("raw", false, "plain completion: no chat template")
	stats := fs.Bool("stats", false, "print generation statistics to stderr")
	save := fs.Bool("save", false, "keep this exchange in the history (ask saves nothing by default)")
	noSave := fs.Bool("no-save", false, "save nothing (the default; overrides --save)")
	ignoreEOS := fs.Bool("ignore-eos", false, "keep generating past the model's end of turn")
	persona := fs.String("prompt", "", "persona: a named system prompt (see natter prompts)")
	tmplFlag := fs.String("chat-template", "", "chat template: NAME (in the config dir's templates/) or FILE.jinja")
	rawBytes := fs.Bool("raw-bytes", false, "write the model's output unchanged even to a terminal (escape sequences included)")
	var vars multiVar
	fs.Var(&vars, "var", "persona variable KEY=VALUE (repeatable)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(fs, err)
	}
	if err := mf.check(); err != nil {
		return usageError(fs, "%v", err)
	}
	sampling, err := sf.sampling()
	if err != nil {
		return usageError(fs, "%v", err)
	}
	prompt, err := askPrompt(pos, os.Stdin)
	if err != nil {
		if errors.Is(err, errNoPrompt) {
			return usageError(fs, "%v", err)
		}
		fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
		return exitError
	}
	path, err := mf.resolveModel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
		return exitError
	}
	defer mf.setupLogs()()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	eng, err := mf.load(path, func(float32) bool { return ctx.Err() == nil })
	if err != nil {
		if ctx.Err() != nil {
			return exitInterrupted
		}
		fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
		return exitError
	}
	defer eng.Close()

	req := api.Request{Sampling: sampling, MaxTokens: sf.maxTokens, IgnoreEOS: *ignoreEOS, ReasoningBudget: sf.budget()}
	if *raw {
		req.Raw, req.Prompt = true, prompt
	} else {
		if *persona != "" {
			text, p, err := personaPrompt(*persona, modelName(eng.Info()), vars)
			if err != nil {
				fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
				return exitError
			}
			if *system == "" {
				*system = text
			}
			applyOverrides(&req, p.Sampling, setFlags(fs))
		}
		chain, err := chatTemplate(eng, *tmplFlag, sf.thinkVars())
		if err != nil {
			fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
			return exitError
		}
		req.Template = chain
		for _, w := range askTemplateWarnings(chain, eng.Info(), *system) {
			fmt.Fprintln(os.Stderr, "natter ask: "+w)
		}
		if *system != "" {
			req.Messages = append(req.Messages, prompts.Message{Role: prompts.RoleSystem, Content: *system})
		}
		req.Messages = append(req.Messages, prompts.Message{Role: prompts.RoleUser, Content: prompt})
	}
	st := openHistory(*noSave || !*save)
	defer st.Close()
	name := modelName(eng.Info())
	rec := st.NewRecorder(history.ChatMeta{Model: name, SystemPrompt: *system, Sampling: &sampling})
	defer rec.Close()
	if err := rec.NewChat(name, *system); err == nil {
		if err := rec.Append(prompts.Message{Role: prompts.RoleUser, Content: prompt}); err != nil {
			fmt.Fprintln(os.Stderr, "warning:", err)
		}
	}
	var out io.Writer = os.Stdout
	if !*rawBytes && term.IsTerminal(int(os.Stdout.Fd())) {
		// A model's output may hold escape sequences (many vocabularies
		// have a token for the ESC byte): a terminal gets them defused, as
		// in the TUI. Pipes and files get the bytes unchanged.
		out = &terminalWriter{w: os.Stdout}
	}
	return streamAnswer(ctx, eng, req, out, *stats, rec)
}

// terminalWriter cleans text for a terminal. A character cut in two by
// buffering waits for its other half.
type terminalWriter struct {
	w     io.Writer
	carry []byte
}

func (t *terminalWriter) Write(p []byte) (int, error) {
	buf := append(t.carry, p...)
	cut := len(buf)
	for i := len(buf) - 1; i >= 0 && i >= len(buf)-utf8.UTFMax; i-- {
		if utf8.RuneStart(buf[i]) {
			if !utf8.FullRune(buf[i:]) {
				cut = i
			}
			break
		}
	}
	t.carry = append([]byte(nil), buf[cut:]...)
	if _, err := io.WriteString(t.w, ui.TerminalSafe(string(buf[:cut]))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// setFlags is the set of flag names given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// applyOverrides applies a persona's sampling settings where the user gave
// no flag of their own.
func applyOverrides(req *api.Request, o prompts.SamplingOverrides, set map[string]bool) {
	if o.Temperature != nil && !set["temp"] {
		req.Sampling.Temperature = *o.Temperature
	}
	if o.TopK != nil && !set["top-k"] {
		req.Sampling.TopK = *o.TopK
	}
	if o.TopP != nil && !set["top-p"] {
		req.Sampling.TopP = *o.TopP
	}
	if o.MinP != nil && !set["min-p"] {
		req.Sampling.MinP = *o.MinP
	}
	if o.RepeatPenalty != nil && !set["repeat-penalty"] {
		req.Sampling.RepeatPenalty = *o.RepeatPenalty
	}
	if o.MaxTokens != nil && !set["n"] && !set["max-tokens"] {
		req.MaxTokens = *o.MaxTokens
	}
}

// replySink saves a reply while it streams (the history recorder).
type replySink interface {
	Checkpoint(reply prompts.Message) error
	Finish(reply prompts.Message, stats *api.Stats, stopReason string) error
}

// streamAnswer prints the generation as it arrives; on interrupt the partial
// answer stays printed and the status is 130.
func streamAnswer(ctx context.Context, eng engine.Model, req api.Request, out io.Writer, showStats bool, sink replySink) int {
	ch, err := eng.Generate(ctx, req)
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
		return exitError
	}
	w := bufio.NewWriter(out)
	last := byte('\n')
	status := exitOK
	var reply strings.Builder
	lastSave := time.Now()
	first := true
	for ev := range ch {
		if first {
			// The prompt is built by now: say if the model's own template
			// failed and another one stood in.
			first = false
			warnFallback(os.Stderr, req.Template)
		}
		switch ev.Kind {
		case api.EventText:
			w.WriteString(ev.Text)
			reply.WriteString(ev.Text)
			last = ev.Text[len(ev.Text)-1]
			if w.Flush() != nil {
				status = exitError // stdout closed (e.g. piped into head)
			}
			if time.Since(lastSave) > 250*time.Millisecond || strings.Contains(ev.Text, "\n") {
				sink.Checkpoint(prompts.Message{Role: prompts.RoleAssistant, Content: reply.String()})
				lastSave = time.Now()
			}
		case api.EventError:
			w.Flush()
			fmt.Fprintf(os.Stderr, "natter ask: %v\n", ev.Err)
			sink.Finish(prompts.Message{Role: prompts.RoleAssistant, Content: reply.String()}, nil, "error")
			status = exitError
		case api.EventDone:
			sink.Finish(prompts.Message{Role: prompts.RoleAssistant, Content: reply.String()}, ev.Stats, ev.Stats.StopReason)
			if last != '\n' {
				w.WriteByte('\n')
			}
			w.Flush()
			if showStats {
				printStats(os.Stderr, ev.Stats)
			}
			if ev.Stats.StopReason == api.StopCancelled && ctx.Err() != nil {
				status = exitInterrupted
			}
		}
	}
	return status
}

// warnFallback says when a chain's first template failed and a fallback
// built the prompt.
func warnFallback(w io.Writer, t prompts.ChatTemplate) {
	c, ok := t.(*prompts.Chain)
	if !ok || c.FallbackReason() == nil {
		return
	}
	fmt.Fprintf(w, "warning: the chat template failed (%v); the prompt was built with %s instead, which may not be the format the model was trained on\n",
		ui.TerminalSafe(c.FallbackReason().Error()), c.Used())
}

func printStats(w io.Writer, s *api.Stats) {
	fmt.Fprintf(w, "prompt: %d tokens (%d reused from cache), %.1f tok/s\n", s.PromptTokens, s.CachedTokens, s.PrefillTPS)
	fmt.Fprintf(w, "reply: %d tokens, %.1f tok/s, first token after %s\n", s.GeneratedTokens, s.DecodeTPS, s.TTFT.Round(100000))
	fmt.Fprintf(w, "context: %d/%d tokens, stop: %s, template: %s", s.ContextUsed, s.ContextSize, s.StopReason, s.Template)
	if s.DroppedTurns > 0 {
		fmt.Fprintf(w, ", %d oldest turns left out", s.DroppedTurns)
	}
	fmt.Fprintln(w)
}

var errNoPrompt = errors.New("no prompt: give it as arguments, or pipe it in")

// maxStdin bounds what ask reads from a pipe (the context limit applies anyway).
const maxStdin = 64 << 20

// askPrompt builds the prompt from the arguments and piped stdin:
// "natter ask -" reads the prompt from stdin; otherwise piped stdin is
// added after the question as context.
func askPrompt(args []string, stdin *os.File) (string, error) {
	question := strings.TrimSpace(strings.Join(args, " "))
	fromStdin := question == "-"
	piped := false
	if st, err := stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice == 0 && !term.IsTerminal(int(stdin.Fd())) {
		piped = true
	}
	var input string
	if fromStdin || piped {
		b, err := io.ReadAll(io.LimitReader(stdin, maxStdin+1))
		if err != nil {
			return "", fmt.Errorf("reading stdin: %w", err)
		}
		if len(b) > maxStdin {
			return "", fmt.Errorf("stdin is larger than %d MiB", maxStdin>>20)
		}
		input = strings.ToValidUTF8(string(b), "\uFFFD")
	}
	switch {
	case fromStdin:
		question = strings.TrimSpace(input)
	case strings.TrimSpace(input) != "" && question != "":
		question = question + "\n\n" + strings.TrimRight(input, "\n")
	case question == "":
		question = strings.TrimSpace(input)
	}
	if question == "" {
		return "", errNoPrompt
	}
	return question, nil
}
