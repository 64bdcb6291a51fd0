package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"natter/engine"
	"natter/engine/api"
	"natter/history"
	"natter/prompts"
	"natter/ui"
)

// askOptions are ask's own flags.
type askOptions struct {
	mf                                            modelFlags
	sf                                            samplingFlags
	pf                                            personaFlags
	ff                                            formatFlags
	md                                            mediaFlags
	raw, stats, save, noSave, ignoreEOS, rawBytes bool
}

func askCommand() *cobra.Command {
	var o askOptions
	cmd := &cobra.Command{
		Use:   "ask [flags] PROMPT...",
		Short: "answer one prompt and exit (piped stdin is added as context)",
		Long: "Answer one prompt and exit. The answer streams to standard output; piped standard input is\n" +
			"added after the prompt as context, and `natter ask -` reads the whole prompt from it.\n" +
			"Nothing is saved unless --save is given.",
		Example: `  # a quick question
  natter ask "what is a monad, in two sentences"

  # piped input is context for the question
  git diff | natter ask "write a commit message for this"

  # greedy, at most 64 tokens, with timing on stderr
  natter ask --temp 0 -n 64 --stats "name three primes"

  # the text of a scanned receipt, or a voice memo's words, for a pipe
  natter ask --ocr receipt.jpg | grep -i total
  natter ask --transcribe memo.wav > memo.txt

  # a question about an image (the model needs its mmproj projector)
  natter ask --image chart.png "what trend does this chart show?"

  # JSON that matches a schema, for a program to read (exit 1 if it does not)
  natter ask --json-schema person.schema.json "Ada Lovelace, born 1815" | jq .name`,
		Args: cobra.ArbitraryArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfig(cmd)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAsk(cmd, &o, args)
		},
	}
	o.mf.register(cmd)
	o.sf.register(cmd)
	o.pf.register(cmd)
	o.ff.register(cmd)
	o.md.register(cmd)
	fs := cmd.Flags()
	fs.BoolVar(&o.ignoreEOS, "ignore-eos", false, "keep generating past the model's end of turn")
	group(fs, flagsSampling, "ignore-eos")
	fs.BoolVar(&o.raw, "raw", false, "plain completion: no chat template")
	fs.BoolVar(&o.save, "save", false, "keep this exchange in the history (ask saves nothing by default)")
	fs.BoolVar(&o.noSave, "no-save", false, "save nothing (the default; overrides --save)")
	group(fs, flagsChat, "raw", "save", "no-save")
	fs.BoolVar(&o.stats, "stats", false, "print generation statistics to stderr")
	fs.BoolVar(&o.rawBytes, "raw-bytes", false, "write the model's output unchanged even to a terminal (escape sequences included)")
	group(fs, flagsOutput, "stats", "raw-bytes")
	return cmd
}

func runAsk(cmd *cobra.Command, o *askOptions, pos []string) error {
	mf, sf := &o.mf, &o.sf
	if err := mf.check(); err != nil {
		return usageError(cmd, "%v", err)
	}
	sampling, err := sf.sampling()
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	format, err := o.ff.format()
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
		return status(exitError)
	}
	if err := thinkOff(sf, format); err != nil {
		return usageError(cmd, "%v", err)
	}
	shortcut, err := o.md.shortcut()
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	if o.raw && o.md.any() {
		return usageError(cmd, "--raw takes text only: attachments need the chat template to place them")
	}
	if shortcut != "" {
		// A transcript is wanted as written: greedy, no thinking, unless
		// the user asked otherwise.
		if !cmd.Flags().Changed("temp") {
			sampling.Temperature = 0
		}
		if sf.think == "auto" {
			sf.think = "off"
		}
	}
	prompt, err := askPrompt(pos, os.Stdin)
	if errors.Is(err, errNoPrompt) && shortcut != "" {
		prompt, err = shortcut, nil
	}
	if err != nil {
		if errors.Is(err, errNoPrompt) {
			return usageError(cmd, "%v", err)
		}
		fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
		return status(exitError)
	}
	atts, err := o.md.load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
		return status(exitError)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// gen answers; eng is set too when the model runs here (not on a server).
	var gen api.Generator
	var eng engine.Model
	var name string
	if ep, isRemote, err := mf.endpoint(); isRemote {
		if err != nil {
			fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
			return status(exitError)
		}
		c, err := openRemote(ctx, ep, "ask")
		if err != nil {
			if ctx.Err() != nil {
				return status(exitInterrupted)
			}
			fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
			return status(exitError)
		}
		if v, ok := sf.thinkVars()["enable_thinking"].(bool); ok { // --think on|off
			c.SetThinking(&v)
		}
		gen, name = c, ep.ID()
	} else {
		path, err := mf.resolveModel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
			return status(exitError)
		}
		proj, _ := mf.projector(path)
		if err := checkMedia(atts, proj, path, mf.mmproj == "none"); err != nil {
			fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
			return status(exitError)
		}
		defer mf.setupLogs()()
		if eng, err = mf.loadFor(ctx, "ask", path); err != nil {
			return err
		}
		defer eng.Close()
		if note := eng.Info().ProjectorNote; note != "" && len(atts) > 0 {
			fmt.Fprintf(os.Stderr, "natter ask: the model cannot take the attachments: %s\n", note)
			return status(exitError)
		}
		if note := eng.Info().ProjectorCopyNote; note != "" {
			fmt.Fprintf(os.Stderr, "natter ask: %s\n", note)
		}
		gen, name = eng, modelName(eng.Info())
	}

	system := o.pf.system
	req := api.Request{Sampling: sampling, MaxTokens: sf.maxTokens, IgnoreEOS: o.ignoreEOS, ReasoningBudget: sf.budget()}
	applyFormat(&req, format)
	if o.raw {
		req.Raw, req.Prompt = true, prompt
	} else {
		if o.pf.persona != "" {
			text, p, err := personaPrompt(o.pf.persona, name, o.pf.vars)
			if err != nil {
				fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
				return status(exitError)
			}
			if system == "" {
				system = text
			}
			applyOverrides(&req, p.Sampling, setFlags(cmd))
		}
		if eng != nil { // a server applies its own chat template
			chain, err := chatTemplate(eng, o.pf.template, sf.thinkVars())
			if err != nil {
				fmt.Fprintf(os.Stderr, "natter ask: %v\n", err)
				return status(exitError)
			}
			req.Template = chain
			for _, w := range askTemplateWarnings(chain, eng.Info(), system, "--raw") {
				fmt.Fprintln(os.Stderr, "natter ask: "+w)
			}
		} else if o.pf.template != "" {
			fmt.Fprintln(os.Stderr, "natter ask: warning: --chat-template has no effect on a remote model: the server applies its own template")
		}
		if system != "" {
			req.Messages = append(req.Messages, prompts.Message{Role: prompts.RoleSystem, Content: system})
		}
		req.Messages = append(req.Messages, prompts.Message{Role: prompts.RoleUser, Content: prompt, Media: atts})
	}
	// Without --save nothing is recorded at all (an in-memory history
	// would index the whole prompt for nothing: 6 s and 800 MB for the
	// largest stdin ask takes).
	var sink replySink = discardReply{}
	if o.save && !o.noSave {
		st := openHistory(false)
		defer st.Close()
		rec := st.NewRecorder(history.ChatMeta{Model: name, SystemPrompt: system, Sampling: &sampling})
		defer rec.Close()
		if err := rec.NewChat(name, system); err == nil {
			if err := rec.Append(prompts.Message{Role: prompts.RoleUser, Content: prompt, Media: atts}); err != nil {
				fmt.Fprintln(os.Stderr, "warning:", err)
			}
		}
		sink = rec
	}
	var out io.Writer = os.Stdout
	if !o.rawBytes && term.IsTerminal(int(os.Stdout.Fd())) {
		// A model's output may hold escape sequences (many vocabularies
		// have a token for the ESC byte): a terminal gets them defused, as
		// in the TUI. Pipes and files get the bytes unchanged.
		out = &terminalWriter{w: os.Stdout}
	}
	var check func(string) error
	if format != nil {
		check = format.Check
	}
	return status(streamAnswer(ctx, gen, req, out, o.stats, sink, check))
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
	if o.MaxTokens != nil && !set["max-tokens"] {
		req.MaxTokens = *o.MaxTokens
	}
}

// replySink saves a reply while it streams (the history recorder).
type replySink interface {
	Checkpoint(reply prompts.Message) error
	Finish(reply prompts.Message, stats *api.Stats, stopReason string) error
}

// discardReply is the sink of an ask that saves nothing.
type discardReply struct{}

func (discardReply) Checkpoint(prompts.Message) error                 { return nil }
func (discardReply) Finish(prompts.Message, *api.Stats, string) error { return nil }

// streamAnswer prints the generation as it arrives; on interrupt the partial
// answer stays printed and the status is 130. check, when set, validates the
// finished reply (a structured-output format): failing it is status 1.
func streamAnswer(ctx context.Context, eng api.Generator, req api.Request, out io.Writer, showStats bool, sink replySink, check func(string) error) int {
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
		case api.EventNotice:
			fmt.Fprintf(os.Stderr, "natter ask: %s\n", ev.Text)
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
			} else if check != nil {
				if err := check(reply.String()); err != nil {
					fmt.Fprintf(os.Stderr, "natter ask: %v%s\n", err, stopHint(ev.Stats))
					status = exitError
				}
			}
		}
	}
	return status
}

// stopHint explains a reply that stopped early, for a failed check.
func stopHint(s *api.Stats) string {
	switch s.StopReason {
	case api.StopMaxTokens:
		return fmt.Sprintf(" (the reply hit the token limit after %d tokens; raise it with -n)", s.GeneratedTokens)
	case api.StopContext:
		return " (the context window filled up; raise it with --ctx)"
	case api.StopSequence:
		return " (a stop sequence ended it)"
	}
	return ""
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
	fmt.Fprintf(w, "prompt: %d tokens (%d reused from cache)", s.PromptTokens, s.CachedTokens)
	if s.PrefillTPS > 0 { // a server that sends no timings leaves it unknown
		fmt.Fprintf(w, ", %.1f tok/s", s.PrefillTPS)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "reply: %d tokens, %.1f tok/s, first token after %s\n", s.GeneratedTokens, s.DecodeTPS, s.TTFT.Round(100000))
	if s.ContextSize > 0 {
		fmt.Fprintf(w, "context: %d/%d tokens", s.ContextUsed, s.ContextSize)
	} else {
		fmt.Fprintf(w, "context: %d tokens (the server does not say its size)", s.ContextUsed)
	}
	fmt.Fprintf(w, ", stop: %s, template: %s", s.StopReason, s.Template)
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
		if input = string(b); !utf8.ValidString(input) {
			input = strings.ToValidUTF8(input, "\uFFFD")
		}
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
