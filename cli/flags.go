package cli

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"natter/engine"
	"natter/engine/api"
	"natter/models"
)

// Flag groups of the help screens, in the order they are shown.
const (
	flagsModel    = "model"
	flagsSampling = "sampling"
	flagsChat     = "chat"
	flagsOutput   = "output"
	flagsTools    = "tools"
	flagsServe    = "server"
)

// groupAnnotation marks which help group a flag belongs to.
const groupAnnotation = "natter_group"

// group puts the named flags (already defined on fs) into a help group. A
// misspelt name leaves its flag under "flags", which the golden help files
// catch.
func group(fs *pflag.FlagSet, g string, names ...string) {
	for _, n := range names {
		_ = fs.SetAnnotation(n, groupAnnotation, []string{g})
	}
}

// choices completes a flag from a fixed list.
func choices(cmd *cobra.Command, flag string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// maxCtx is the largest --ctx (and top-k) accepted: llama.cpp counts
// positions and candidates in 32 bits, so a larger value would wrap around
// to a small one instead of failing.
const maxCtx = math.MaxInt32

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
	insecure  bool // plain http to an endpoint beyond loopback
	// remember: a successful load becomes "the last model used" (the
	// chat's default); ask and bench leave it alone.
	remember bool
	// models holds every -m of a command that takes several (eval).
	models []string
	// loras are the --lora FILE[:SCALE] values, parsed by check.
	loras    []string
	loraOpts []engine.LoraOption
	// mmproj is --mmproj: a projector file, "none", or "" (look beside
	// the model).
	mmproj string
	// imageTokens is --image-tokens (0: the model's default).
	imageTokens int
	// textOnly: the command takes no attachments (bench, eval), so no
	// projector is looked for or loaded.
	textOnly bool
}

// noMedia marks a command that takes no attachments: --mmproj is hidden
// and no projector loads.
func (m *modelFlags) noMedia(cmd *cobra.Command) {
	m.textOnly = true
	_ = cmd.Flags().MarkHidden("mmproj")
	_ = cmd.Flags().MarkHidden("image-tokens")
}

const modelUsage = "a GGUF path, a local model name, a catalog name, or a server: openai://HOST:PORT/MODEL or a config endpoint NAME[:MODEL] (default: the last model used)"

func (m *modelFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&m.model, "model", "m", "", modelUsage)
	m.registerRest(cmd)
}

// registerMulti is register with a repeatable -m (into m.models).
func (m *modelFlags) registerMulti(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&m.models, "model", "m", nil, modelUsage+"; repeat to compare models")
	m.registerRest(cmd)
}

func (m *modelFlags) registerRest(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.IntVar(&m.ctx, "ctx", 0, "context size in tokens (0 = min(4096, the model's))")
	fs.IntVarP(&m.threads, "threads", "t", 0, "CPU threads (0 = one per physical core)")
	fs.IntVar(&m.batch, "batch", 2048, "prompt batch size")
	fs.StringVar(&m.flashAttn, "flash-attn", "auto", "flash attention: on, off, or auto (on for a context over 16k or a quantized cache)")
	fs.StringVar(&m.cacheType, "cache-type", "f16", "KV cache type: f16, q8_0, q4_0, f32, bf16")
	fs.StringVar(&m.backend, "backend", engine.BackendAuto, "engine: auto (llama.cpp, or the Go engine for the models only it runs), llama.cpp, go")
	fs.BoolVar(&m.insecure, "insecure", false, "allow plain http to a remote server beyond this machine (-m openai://...)")
	fs.StringArrayVar(&m.loras, "lora", nil, "apply a LoRA adapter GGUF: FILE[:SCALE] (scale 1 by default; repeatable)")
	fs.StringVar(&m.mmproj, "mmproj", "", "multimodal projector GGUF for images/audio (default: an mmproj-*.gguf beside the model; none: text only)")
	fs.IntVar(&m.imageTokens, "image-tokens", 0, "most embeddings per image, for models that size images (0 = the model's default); more reads finer print, slower")
	group(fs, flagsModel, "model", "ctx", "threads", "batch", "flash-attn", "cache-type", "backend", "insecure", "lora", "mmproj", "image-tokens")
	fs.BoolVar(&m.verbose, "verbose", false, "show llama.cpp logs on stderr")
	group(fs, flagsOutput, "verbose")
	_ = cmd.RegisterFlagCompletionFunc("model", completeModels)
	_ = cmd.MarkFlagFilename("lora", "gguf")
	_ = cmd.MarkFlagFilename("mmproj", "gguf")
	choices(cmd, "flash-attn", "auto", "on", "off")
	choices(cmd, "cache-type", "f16", "q8_0", "q4_0", "f32", "bf16")
	choices(cmd, "backend", engine.BackendAuto, engine.BackendLlama, engine.BackendGo)
}

func (m *modelFlags) check() error {
	switch {
	case m.ctx < 0 || m.ctx > 0 && m.ctx < 16 || m.ctx > maxCtx:
		return fmt.Errorf("--ctx %d: must be 0 (automatic) or between 16 and %d", m.ctx, maxCtx)
	case m.threads < 0 || m.threads > 1024:
		return fmt.Errorf("--threads %d: must be between 1 and 1024 (0 = one per physical core)", m.threads)
	case m.batch < 1:
		return fmt.Errorf("--batch %d: must be at least 1", m.batch)
	case m.imageTokens < 0:
		return fmt.Errorf("--image-tokens %d: must be 0 (the model's default) or more", m.imageTokens)
	}
	m.loraOpts = nil
	if _, isRemote, _ := m.endpoint(); isRemote && len(m.loras) > 0 {
		return fmt.Errorf("--lora applies to a local GGUF model, not to %s (a server loads its own adapters)", m.model)
	}
	if _, isRemote, _ := m.endpoint(); isRemote && m.mmproj != "" && m.mmproj != "none" {
		return fmt.Errorf("--mmproj applies to a local GGUF model, not to %s (a server loads its own projector)", m.model)
	}
	if m.mmproj != "" && m.mmproj != "none" {
		if st, err := os.Stat(m.mmproj); err != nil {
			return fmt.Errorf("--mmproj: %w", err)
		} else if !st.Mode().IsRegular() {
			return fmt.Errorf("--mmproj %s: not a file", m.mmproj)
		}
	}
	for _, l := range m.loras {
		o, err := engine.ParseLora(l)
		if err != nil {
			return err
		}
		m.loraOpts = append(m.loraOpts, o)
	}
	if m.threads == 0 {
		m.threads = engine.PhysicalCores()
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
	return engine.CheckBackend(m.backend)
}

// resolveModel finds the model to load: -m (after $NATTER_MODEL and the
// config file, which set it when the flag is absent), else the last model
// used.
func (m *modelFlags) resolveModel() (string, error) {
	if _, isRemote, _ := m.endpoint(); isRemote {
		return "", fmt.Errorf("%s is a model on a server: natter ask and the chat can use it; serve and bench need a local GGUF file", m.model)
	}
	return resolveModelName(m.model)
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
	// engine.Open validates the file; the fit check only warns (and stays
	// quiet about a bad file, which Open then reports).
	if err := checkLoad(path, m, func(s string) { fmt.Fprintln(os.Stderr, s) }); err != nil {
		return nil, err
	}
	opts := m.options(path, progress)
	if w := fitWarning(path, m.ctx, opts.Projector); w != "" {
		fmt.Fprintln(os.Stderr, w)
	}
	e, err := engine.Open(opts)
	if err == nil && m.remember {
		_ = models.Remember(path) // best effort: only a convenience
	}
	return e, err
}

// loadFor is load for command name: an interrupt while loading is exit
// 130, any other failure is printed and exit 1.
func (m *modelFlags) loadFor(ctx context.Context, name, path string) (engine.Model, error) {
	eng, err := m.load(path, func(float32) bool { return ctx.Err() == nil })
	if err == nil {
		return eng, nil
	}
	if ctx.Err() != nil {
		return nil, status(exitInterrupted)
	}
	fmt.Fprintf(os.Stderr, "natter %s: %v\n", name, err)
	return nil, status(exitError)
}

// options are the engine options the flags select.
func (m *modelFlags) options(path string, progress func(float32) bool) engine.Options {
	proj, found := m.projector(path)
	return engine.Options{
		ModelPath: path, ContextSize: m.ctx, BatchSize: m.batch, Threads: m.threads,
		FlashAttn: m.flashAttn, CacheType: m.cacheType, Backend: m.backend, Progress: progress,
		Loras: m.loraOpts, Projector: proj, ProjectorFound: found, ImageTokens: m.imageTokens,
	}
}

// projector is the projector --mmproj selects for the model at path, and
// whether it was found beside the model rather than named.
func (m *modelFlags) projector(path string) (string, bool) {
	switch {
	case m.textOnly || m.mmproj == "none":
		return "", false
	case m.mmproj == "":
		p := models.FindProjector(path)
		return p, p != ""
	}
	return m.mmproj, false
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

func (s *samplingFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	d := api.DefaultSampling()
	fs.Float64Var(&s.temp, "temp", decimal(d.Temperature), "temperature (0 = greedy)")
	fs.IntVar(&s.topK, "top-k", d.TopK, "top-k sampling (0 = off)")
	fs.Float64Var(&s.topP, "top-p", decimal(d.TopP), "top-p sampling (1 = off)")
	fs.Float64Var(&s.minP, "min-p", decimal(d.MinP), "min-p sampling (0 = off)")
	fs.Float64Var(&s.repeatPenalty, "repeat-penalty", decimal(d.RepeatPenalty), "repeat penalty (1 = off)")
	fs.Int64Var(&s.seed, "seed", -1, "random seed (-1 = random)")
	fs.IntVarP(&s.maxTokens, "max-tokens", "n", -1, "most tokens to generate (-1 = until the model stops)")
	fs.StringVar(&s.think, "think", "auto", "reasoning models: on, off, or auto (the template's default)")
	fs.IntVar(&s.reasoningBudget, "reasoning-budget", -1, "cap thinking at N tokens, then answer (-1 = no cap, 0 = no thinking)")
	group(fs, flagsSampling, "temp", "top-k", "top-p", "min-p", "repeat-penalty", "seed", "max-tokens", "think", "reasoning-budget")
	choices(cmd, "think", "auto", "on", "off")
}

func (s *samplingFlags) sampling() (api.Sampling, error) {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case bad(s.temp) || s.temp < 0 || s.temp > 100:
		return api.Sampling{}, fmt.Errorf("--temp %v: must be between 0 and 100", s.temp)
	case s.topK < 0 || s.topK > maxCtx:
		return api.Sampling{}, fmt.Errorf("--top-k %d: must be between 0 (off) and %d", s.topK, maxCtx)
	case bad(s.topP) || s.topP < 0 || s.topP > 1:
		return api.Sampling{}, fmt.Errorf("--top-p %v: must be between 0 and 1", s.topP)
	case bad(s.minP) || s.minP < 0 || s.minP > 1:
		return api.Sampling{}, fmt.Errorf("--min-p %v: must be between 0 and 1", s.minP)
	case bad(s.repeatPenalty) || s.repeatPenalty <= 0 || s.repeatPenalty > 10:
		return api.Sampling{}, fmt.Errorf("--repeat-penalty %v: must be above 0 and at most 10", s.repeatPenalty)
	case s.seed < -1 || s.seed >= math.MaxUint32:
		return api.Sampling{}, fmt.Errorf("--seed %d: must be -1 or between 0 and %d", s.seed, uint32(math.MaxUint32-1))
	case s.maxTokens < -1 || s.maxTokens == 0:
		return api.Sampling{}, fmt.Errorf("--max-tokens %d: must be -1 or positive", s.maxTokens)
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

// personaFlags choose the system prompt: a persona, its variables, or
// the text itself, and the chat template it is formatted with.
type personaFlags struct {
	system, persona, template string
	vars                      []string
}

func (p *personaFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&p.system, "system", "", "system prompt")
	fs.StringVar(&p.persona, "prompt", "", "persona: a named system prompt (see natter prompts)")
	fs.StringArrayVar(&p.vars, "var", nil, "persona variable KEY=VALUE (repeatable)")
	fs.StringVar(&p.template, "chat-template", "", "chat template: NAME (in the config dir's templates/) or FILE.jinja")
	group(fs, flagsChat, "system", "prompt", "var", "chat-template")
	_ = cmd.RegisterFlagCompletionFunc("prompt", completePersonas)
	_ = cmd.RegisterFlagCompletionFunc("chat-template", completeTemplates)
}

// setFlags is the set of flags given on the command line (not those the
// config file or environment filled in).
func setFlags(cmd *cobra.Command) map[string]bool {
	set := map[string]bool{}
	// Not Visit: it also visits the flags applyConfig set.
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			set[f.Name] = true
		}
	})
	return set
}
