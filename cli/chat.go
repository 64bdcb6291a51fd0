package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"natter/engine"
	"natter/engine/api"
	"natter/history"
	"natter/models"
	"natter/prompts"
	"natter/remote"
	"natter/ui"
)

// chatGen is the engine as the chat sees it: it formats with the model's
// own chat-template chain, so /model switches templates with the model.
type chatGen struct {
	engine.Model
	override string         // --chat-template
	vars     map[string]any // template variables (/think sets enable_thinking)
	budget   int            // --reasoning-budget (0: no cap)
	remote   bool           // a server's model: it applies its own template
	warnings []string       // what the load noticed about the file (ui.LoadWarner)

	mu    sync.Mutex // chain changes with /think while a reply may render
	chain *prompts.Chain
}

// Adapters implements api.AdapterScaler: none on a backend without LoRA.
func (g *chatGen) Adapters() []api.Adapter {
	if a, ok := g.Model.(api.AdapterScaler); ok {
		return a.Adapters()
	}
	return nil
}

// SetAdapterScale implements api.AdapterScaler.
func (g *chatGen) SetAdapterScale(i int, scale float32) error {
	if a, ok := g.Model.(api.AdapterScaler); ok {
		return a.SetAdapterScale(i, scale)
	}
	return errors.New("this model's engine cannot apply LoRA adapters")
}

// LoadWarnings implements ui.LoadWarner.
func (g *chatGen) LoadWarnings() []string { return g.warnings }

func (g *chatGen) withTemplate(req api.Request) api.Request {
	g.mu.Lock()
	defer g.mu.Unlock()
	if req.Template == nil && !req.Raw && g.chain != nil {
		req.Template = g.chain
	}
	if req.ReasoningBudget == 0 {
		req.ReasoningBudget = g.budget
	}
	return req
}

// SetThinking implements ui.Thinker: /think on|off sets the template's
// enable_thinking for the following turns.
func (g *chatGen) SetThinking(on bool) error {
	if g.remote {
		// The server's template gets enable_thinking in chat_template_kwargs.
		g.Model.(remoteModel).SetThinking(&on)
		g.mu.Lock()
		g.vars = map[string]any{"enable_thinking": on}
		g.mu.Unlock()
		return nil
	}
	vars := map[string]any{}
	for k, v := range g.vars {
		vars[k] = v
	}
	vars["enable_thinking"] = on
	chain, err := chatTemplate(g.Model, g.override, vars)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.chain, g.vars = chain, vars
	g.mu.Unlock()
	return nil
}

// Thinking implements ui.Thinker: "on", "off" or "auto" (the template's
// default).
func (g *chatGen) Thinking() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch v, ok := g.vars["enable_thinking"].(bool); {
	case !ok:
		return "auto"
	case v:
		return "on"
	}
	return "off"
}

func (g *chatGen) Generate(ctx context.Context, req api.Request) (<-chan api.Event, error) {
	return g.Model.Generate(ctx, g.withTemplate(req))
}

func (g *chatGen) RenderPrompt(req api.Request) (string, string, error) {
	return g.Model.RenderPrompt(g.withTemplate(req))
}

// ChatTemplate is the chain /template describes (ui.TemplateSource).
func (g *chatGen) ChatTemplate() prompts.ChatTemplate {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.chain == nil {
		return nil
	}
	return g.chain
}

// chatHistory is the history store as the chat's /history, /resume and
// /rename see it (ui.History).
type chatHistory struct {
	st  *history.Store
	rec *history.Recorder
	// resumed runs after a switch to another chat (KV state restore) and
	// returns a note for the user ("" for none).
	resumed func(msgs []prompts.Message) string
}

func (h *chatHistory) FindChats(ctx context.Context, query string, limit int) ([]ui.ChatSummary, error) {
	cs, err := h.st.FindChats(ctx, query, limit)
	if err != nil {
		return nil, err
	}
	out := make([]ui.ChatSummary, 0, len(cs))
	for _, c := range cs {
		out = append(out, ui.ChatSummary{ID: c.ID, Title: c.Title, Model: c.Model, Persona: c.Persona, Updated: c.UpdatedAt, Messages: c.MessageCount})
	}
	return out, nil
}

func (h *chatHistory) Resume(ctx context.Context, id int64) (*ui.SavedChat, error) {
	c, err := h.rec.Resume(ctx, id)
	if err != nil {
		return nil, err
	}
	msgs := c.PromptMessages()
	var note string
	if h.resumed != nil {
		note = h.resumed(msgs)
	}
	return &ui.SavedChat{ID: c.ID, Title: c.Title, Persona: c.Persona, Messages: msgs, Note: note, Model: c.Model, Sampling: c.Sampling}, nil
}

func (h *chatHistory) Rename(title string) error { return h.rec.Rename(title) }

// catalogItems is the first-run screen's list (no network: sizes and fit
// come from the built-in catalog and this machine's free memory).
func catalogItems(ctxSize int) []ui.CatalogItem {
	var out []ui.CatalogItem
	for _, c := range models.CatalogWithFit(ctxSize) {
		// The size is written as the CLI's catalog writes it (one figure for one file).
		out = append(out, ui.CatalogItem{Name: c.Name, Description: c.Description, Size: c.Size, SizeText: "~" + models.HumanBytes(uint64(c.Size)),
			FitMark: c.Fit.Mark(), Fit: c.Fit.String(), Downloaded: c.Downloaded,
			Recommended: c.Recommended, Unverified: !c.Verified})
	}
	return out
}

// pullForChat downloads a catalog model with progress shown in the chat.
func pullForChat(ctx context.Context, name string, progress func(ui.PullProgress)) (string, error) {
	res, err := models.Pull(ctx, name, models.PullOptions{
		Progress: func(p models.Progress) {
			progress(ui.PullProgress{Phase: p.Phase, Done: p.Done, Total: p.Total, Speed: p.Speed, ETA: p.ETA})
		},
		Warn: func(w string) { progress(ui.PullProgress{Warning: w}) },
	})
	if err != nil {
		return "", err
	}
	return res.Path, nil
}

// chatOptions are the chat's flags.
type chatOptions struct {
	mf                       modelFlags
	sf                       samplingFlags
	pf                       personaFlags
	ff                       formatFlags
	tf                       toolFlags
	fullscreen, cont, noSave bool
	theme, resume            string
}

// chatCommand is natter itself: the interactive chat.
func chatCommand() *cobra.Command {
	o := chatOptions{mf: modelFlags{remember: true}}
	cmd := &cobra.Command{
		Use:   "natter [flags]",
		Short: "chat with a small language model in your terminal, offline",
		Long: "natter — chat with a small language model in your terminal, offline.\n\n" +
			"natter alone opens the chat with the last model used (or -m). Chats are saved as you go;\n" +
			"-c continues the latest. Defaults come from the config file (natter config show).",
		Example: `  # chat with a model file
  natter -m ~/models/Qwen3.5-0.8B-Q4_K_M.gguf

  # continue the latest chat, or pick one to resume
  natter -c
  natter --resume

  # a private chat with a persona
  natter --prompt coder --no-save

  # one question, for scripts and pipes
  natter ask "why is the sky blue?"`,
		Args: cobra.ArbitraryArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfig(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runChat(cmd, &o, args)
		},
	}
	o.mf.register(cmd)
	o.sf.register(cmd)
	o.pf.register(cmd)
	o.ff.register(cmd)
	o.tf.register(cmd)
	fs := cmd.Flags()
	fs.BoolVarP(&o.cont, "continue", "c", false, "continue the most recent chat")
	fs.StringVar(&o.resume, "resume", "", "resume the saved chat `ID`; --resume alone picks from a searchable list")
	fs.Lookup("resume").NoOptDefVal = "pick"
	fs.BoolVar(&o.noSave, "no-save", false, "private chat: save nothing to the history")
	fs.BoolVar(&o.fullscreen, "fullscreen", false, "full-screen layout with a scrollable transcript")
	fs.StringVar(&o.theme, "theme", "auto", "colour theme: auto, dark, light")
	group(fs, flagsChat, "continue", "resume", "no-save", "fullscreen", "theme")
	choices(cmd, "theme", "auto", "dark", "light")
	_ = cmd.RegisterFlagCompletionFunc("resume", completeChatIDs)
	return cmd
}

// runChat opens the interactive chat (natter with no command).
func runChat(cmd *cobra.Command, o *chatOptions, pos []string) error {
	mf, sf := &o.mf, &o.sf
	// --resume takes an optional value: "--resume 12" leaves 12 as an
	// argument, which is the ID it was meant to be.
	if o.resume == "pick" && len(pos) == 1 && cmd.Flags().Changed("resume") {
		if _, err := history.ParseID(pos[0]); err == nil {
			o.resume, pos = pos[0], nil
		}
	}
	if len(pos) > 0 {
		if s := cmd.SuggestionsFor(pos[0]); len(s) > 0 {
			return usageError(cmd, "unknown command %q (did you mean %s?)", pos[0], strings.Join(s, " or "))
		}
		return usageError(cmd, "unknown command %q (to ask one question, use natter ask)", pos[0])
	}
	if err := mf.check(); err != nil {
		return usageError(cmd, "%v", err)
	}
	ep, isRemote, err := mf.endpoint()
	if isRemote && err != nil {
		fmt.Fprintf(os.Stderr, "natter: %v\n", err)
		return status(exitError)
	}
	switch o.theme {
	case "auto", "dark", "light":
	default:
		return usageError(cmd, "--theme %q: want auto, dark or light", o.theme)
	}
	sampling, err := sf.sampling()
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	format, err := o.ff.format()
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter: %v\n", err)
		return status(exitError)
	}
	if err := thinkOff(sf, format); err != nil {
		return usageError(cmd, "%v", err)
	}
	toolCfg, err := o.tf.config()
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	if !term.IsTerminal(int(os.Stdout.Fd())) || !term.IsTerminal(int(os.Stdin.Fd())) {
		fmt.Fprintln(os.Stderr, "natter: the chat needs a terminal; for scripts and pipes use `natter ask`")
		return status(exitUsage)
	}
	defer mf.setupLogs()()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	defer startMCP(ctx, o.tf.on, toolCfg)()

	st := openHistory(o.noSave)
	defer st.Close()

	cfg := ui.Config{Sampling: sampling, MaxTokens: max(sf.maxTokens, 0), Fullscreen: o.fullscreen, Theme: o.theme, System: o.pf.system, Format: format, Tools: toolCfg}
	// gen and kv change with /model (a tea command goroutine) and are read
	// after each reply (the recorder's goroutine).
	var (
		mu  sync.Mutex
		gen *chatGen
		kv  *kvStates
	)
	current := func() (*chatGen, *kvStates) {
		mu.Lock()
		defer mu.Unlock()
		return gen, kv
	}
	if isRemote {
		if gen, err = openRemoteChat(ep, sf, false); err != nil {
			fmt.Fprintf(os.Stderr, "natter: %v\n", err)
			return status(exitError)
		}
		if o.pf.template != "" {
			fmt.Fprintln(os.Stderr, "natter: warning: --chat-template has no effect on a remote model: the server applies its own template")
		}
	} else if path, err := mf.resolveModel(); err != nil {
		cfg.NoModelHelp = noModelHelp(err)
		cfg.Catalog = func() []ui.CatalogItem { return catalogItems(mf.ctx) }
		cfg.Pull = pullForChat
		cfg.Offline = models.Offline()
	} else if gen, err = loadChatModel(mf, sf, path, o.pf.template, false); err != nil {
		fmt.Fprintf(os.Stderr, "natter: %v\n", err)
		return status(exitError)
	}
	cfg.ModelName, cfg.LocalModels = modelName, localModels
	// Input history across sessions; a private chat reads it but adds nothing.
	if p, err := history.InputLogPath(); err == nil {
		cfg.InputHistory, _ = history.ReadInputLog(p)
		if !o.noSave && !history.NoHistory() {
			il := history.OpenInputLog(p)
			defer il.Close()
			cfg.SaveInput = il.Add
		}
	}
	name := ""
	if gen != nil {
		cfg.Gen = gen
		name = modelName(gen.Info())
	}
	defer func() {
		if g, _ := current(); g != nil {
			g.Close()
		}
	}()
	cfg.LoadModel = func(p string) (api.Generator, error) {
		var g *chatGen
		if ep, isRemote, err := remote.Resolve(p, configEndpoints(), mf.insecure); isRemote {
			if err != nil {
				return nil, err
			}
			if g, err = openRemoteChat(ep, sf, true); err != nil {
				return nil, err
			}
		} else {
			rp, err := resolveModelName(p)
			if err != nil {
				return nil, err
			}
			if g, err = loadChatModel(mf, sf, rp, o.pf.template, true); err != nil {
				return nil, err
			}
		}
		k := openKVStates(st, g.Model)
		mu.Lock()
		gen, kv = g, k
		mu.Unlock()
		return g, nil
	}

	env := promptsEnv(name)
	lib, libErr := prompts.LoadLibrary(env.PromptsDir())
	extra, err := personaVars(o.pf.vars)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	if lib != nil {
		cfg.Personas = ui.LibraryPersonas(lib, prompts.Vars{User: env.User, OS: env.OS, Extra: extra}, time.Second, setFlags(cmd))
	}
	if o.pf.persona != "" {
		if lib == nil {
			fmt.Fprintf(os.Stderr, "natter: %v\n", libErr)
			return status(exitError)
		}
		text, p, err := lib.SystemPrompt(o.pf.persona, prompts.Vars{Model: name, User: env.User, OS: env.OS, Extra: extra})
		if err != nil {
			fmt.Fprintf(os.Stderr, "natter: %v\n", err)
			return status(exitError)
		}
		if cfg.System == "" {
			cfg.System = text
			cfg.Persona = p.Name // the header names it; /prompt edits re-render it
		}
		req := api.Request{Sampling: cfg.Sampling, MaxTokens: cfg.MaxTokens}
		applyOverrides(&req, p.Sampling, setFlags(cmd))
		cfg.Sampling, cfg.MaxTokens = req.Sampling, req.MaxTokens
	}

	meta := history.ChatMeta{Model: name, Persona: o.pf.persona, SystemPrompt: cfg.System, Sampling: &cfg.Sampling}
	var rec *history.Recorder
	// --resume with no ID opens the chat's own searchable /history list
	// (the numbered prompt is left for when history is off in this chat).
	pickInChat := !o.cont && o.resume == "pick" && !o.noSave && !history.NoHistory()
	if pickInChat {
		if list, err := st.List(ctx, 1); err == nil && len(list) == 0 {
			fmt.Fprintf(os.Stderr, "natter: %v\n", errNoChatsYet)
			return status(exitError)
		}
	}
	switch {
	case pickInChat:
		rec = st.NewRecorder(meta)
		cfg.OpenHistory = true
	case o.cont || o.resume != "":
		id, err := pickChat(ctx, st, o.cont, o.resume)
		if err != nil {
			fmt.Fprintf(os.Stderr, "natter: %v\n", err)
			return status(exitError)
		}
		r, c, err := st.ResumeRecorder(ctx, id)
		if err != nil {
			fmt.Fprintf(os.Stderr, "natter: %v\n", err)
			return status(exitError)
		}
		rec, cfg.Messages = r, c.PromptMessages()
		cfg.Persona, cfg.Title, cfg.ResumedModel = c.Persona, c.Title, c.Model
		if c.Sampling != nil {
			// The chat's own settings, except what this command line sets.
			cfg.Sampling = resumedSampling(*c.Sampling, cfg.Sampling, setFlags(cmd))
		}
	default:
		rec = st.NewRecorder(meta)
	}
	defer rec.Close()
	cfg.Recorder = rec

	// restoreKV loads the saved KV state of a resumed conversation so its
	// history is not processed again.
	restoreKV := func(msgs []prompts.Message) string {
		g, k := current()
		if g == nil || len(msgs) == 0 {
			return ""
		}
		toks, err := g.PromptTokens(g.withTemplate(api.Request{Messages: msgs}))
		if err != nil {
			return ""
		}
		if !engine.SavesState(g.Model) {
			return fmt.Sprintf("The %s cannot save its state, so the first reply reads this chat's %s tokens again (the status line shows what it took).",
				ui.BackendLabel(g.Info().Backend), ui.Commas(len(toks)))
		}
		if k != nil {
			k.restore(g.Model, toks)
		}
		return ""
	}
	if !o.noSave && !history.NoHistory() {
		cfg.History = &chatHistory{st: st, rec: rec, resumed: restoreKV}
	}
	if gen != nil {
		kv = openKVStates(st, gen.Model)
	}
	rec.AfterFinish(func(chat int64) {
		if g, k := current(); g != nil {
			k.save(g.Model, chat)
		}
	})
	cfg.ResumeNote = restoreKV(cfg.Messages)
	if err := ui.Run(ctx, cfg, nil, nil); err != nil {
		fmt.Fprintf(os.Stderr, "natter: %v\n", err)
		return status(exitError)
	}
	return nil
}

// errNoChatsYet answers -c and --resume before anything was saved.
var errNoChatsYet = errors.New("there are no saved chats yet: start one with `natter` (chats are saved as you go), then `natter -c` continues the latest")

// pickChat finds the chat to resume: the latest (-c), a given ID, or one
// chosen from a list of recent chats.
func pickChat(ctx context.Context, st *history.Store, latest bool, arg string) (int64, error) {
	if latest {
		c, err := st.Latest(ctx)
		if errors.Is(err, history.ErrNotFound) || err == nil && c == nil {
			return 0, errNoChatsYet
		}
		if err != nil {
			return 0, err
		}
		return c.ID, nil
	}
	if arg != "pick" {
		return history.ParseID(arg)
	}
	chats, err := st.List(ctx, 20)
	if err != nil {
		return 0, err
	}
	if len(chats) == 0 {
		return 0, errNoChatsYet
	}
	fmt.Println("Recent chats:")
	for i, c := range chats {
		fmt.Printf("%3d. #%-5d %s %s\n", i+1, c.ID, padCells(c.Title, 50), c.UpdatedAt.Local().Format("Jan 2 15:04"))
	}
	fmt.Print("Resume which (number, or #ID)? ")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("no chat chosen")
	}
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "#") {
		return history.ParseID(line)
	}
	var n int
	if _, err := fmt.Sscan(line, &n); err != nil || n < 1 || n > len(chats) {
		return 0, fmt.Errorf("%q is not one of the numbers shown", line)
	}
	return chats[n-1].ID, nil
}

// loadChatModel loads a model for the chat with a progress line; quiet
// (inside the running chat, which shows its own) prints nothing.
func loadChatModel(mf *modelFlags, sf *samplingFlags, path string, tmplOverride string, quiet bool) (*chatGen, error) {
	var eng engine.Model
	var err error
	var warnings []string
	if quiet {
		eng, warnings, err = loadQuiet(mf, path)
	} else {
		start := time.Now()
		shown := false
		progress := func(p float32) bool {
			if time.Since(start) > 300*time.Millisecond {
				fmt.Fprintf(os.Stderr, "\rLoading %s… %3.0f%%", path, p*100)
				shown = true
			}
			return true
		}
		eng, err = mf.load(path, progress)
		if shown {
			fmt.Fprint(os.Stderr, "\r\033[K")
		}
		if err == nil && eng.Info().ProjectorCopyNote != "" {
			fmt.Fprintln(os.Stderr, "natter: "+eng.Info().ProjectorCopyNote)
		}
	}
	if err != nil {
		return nil, err
	}
	vars := sf.thinkVars()
	chain, err := chatTemplate(eng, tmplOverride, vars)
	if err != nil {
		eng.Close()
		return nil, err
	}
	return &chatGen{Model: eng, chain: chain, override: tmplOverride, vars: vars, budget: sf.budget(), warnings: warnings}, nil
}

// loadQuiet is modelFlags.load without writing to the terminal, which the
// chat owns while it runs: its warnings are returned for the chat to show.
func loadQuiet(mf *modelFlags, path string) (engine.Model, []string, error) {
	if _, err := engine.Validate(path); err != nil {
		return nil, nil, err
	}
	var warnings []string
	if err := checkLoad(path, mf, func(s string) { warnings = append(warnings, strings.TrimPrefix(s, "warning: ")) }); err != nil {
		return nil, nil, err
	}
	opts := mf.options(path, nil)
	if w := fitWarning(path, mf.ctx, opts.Projector); w != "" {
		warnings = append(warnings, strings.TrimPrefix(w, "warning: "))
	}
	if len(opts.Loras) > 0 {
		// --lora was given for the model natter started with; a model
		// switched to in the chat keeps them only if they fit it.
		if f, err := engine.Validate(path); err == nil {
			if b, _ := engine.ChooseBackend(f.Arch(), opts.Backend); b == engine.BackendGo {
				warnings = append(warnings, "LoRA adapters left off: the Go engine, which runs "+f.Arch()+", cannot apply them")
				opts.Loras = nil
			} else if _, err := engine.CheckLoras(f, opts.Loras); err != nil {
				warnings = append(warnings, fmt.Sprintf("LoRA adapters left off: %v", err))
				opts.Loras = nil
			}
		}
	}
	// A projector that does not fit (an --mmproj given for the first model,
	// then a switch to another) leaves the chat text-only, with the reason.
	opts.ProjectorFound = opts.Projector != ""
	e, err := engine.Open(opts)
	if err == nil {
		_ = models.Remember(path)
		if note := e.Info().ProjectorNote; note != "" {
			warnings = append(warnings, "images and audio are off for this model: "+note)
		}
		if note := e.Info().ProjectorCopyNote; note != "" {
			warnings = append(warnings, note)
		}
	}
	return e, warnings, err
}

// noModelHelp explains the first-run situation: where natter looked and
// how to give it a model.
func noModelHelp(err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v\n\nnatter looked for GGUF models in:\n", err)
	for _, s := range models.DefaultSources() {
		fmt.Fprintf(&b, "  • %s (%s)\n", s.Dir, s.Kind)
	}
	b.WriteString("\nTo chat, do one of:\n")
	b.WriteString("  • natter -m PATH/TO/model.gguf\n")
	b.WriteString("  • export NATTER_MODEL=PATH/TO/model.gguf\n")
	fmt.Fprintf(&b, "  • natter models --catalog, then natter pull NAME (for this machine: natter pull %s)\n", models.RecommendHere())
	return b.String()
}
