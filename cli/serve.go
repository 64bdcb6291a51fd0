package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"natter/engine/api"
	"natter/history"
	"natter/models"
	"natter/prompts"
	"natter/serve"
)

type serveOptions struct {
	mf        modelFlags
	sf        samplingFlags
	pf        personaFlags
	addr      string
	apiKeyEnv string
	parallel  int
	maxQueue  int
	maxBody   int64
	save      bool
	loadAny   bool
}

// serveShutdownGrace is how long running requests may finish after
// SIGINT/SIGTERM before they are cancelled.
const serveShutdownGrace = 10 * time.Second

func serveCommand() *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "serve the model over an OpenAI-compatible HTTP API on this machine",
		Long: "Serve the model over the OpenAI HTTP API (/v1/chat/completions, /v1/completions, /v1/models,\n" +
			"/health) for editors and scripts. It listens on loopback only unless --addr names another\n" +
			"address, which needs an API key (--api-key-env). Requests queue and run one at a time; a\n" +
			"follow-up that repeats a conversation reuses the KV cache. Nothing is saved unless --save.",
		Example: `  # serve the last model used on http://127.0.0.1:8080/v1
  natter serve

  # another model and port; point an editor at http://127.0.0.1:9000/v1
  natter serve -m qwen3.5-2b --addr 127.0.0.1:9000

  # on the network, with a key clients send as "Authorization: Bearer ..."
  NATTER_KEY=$(openssl rand -hex 16) natter serve --addr 0.0.0.0:8080 --api-key-env NATTER_KEY`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfig(cmd)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, &o)
		},
	}
	o.mf.register(cmd)
	o.sf.register(cmd)
	o.pf.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on (HOST:PORT; port 0 picks a free one)")
	fs.StringVar(&o.apiKeyEnv, "api-key-env", "", "environment variable holding the API key clients must send (required off loopback)")
	fs.IntVar(&o.parallel, "parallel", 1, "sequences run at once (the engine runs one; more requests queue)")
	fs.IntVar(&o.maxQueue, "max-queue", serve.DefaultMaxQueue, "requests that may wait for the model before more get 503")
	fs.Int64Var(&o.maxBody, "max-body", serve.DefaultMaxBody, "largest request body in bytes")
	fs.BoolVar(&o.save, "save", false, "keep every chat request and its reply in the history")
	fs.BoolVar(&o.loadAny, "load-on-request", false, "a request may name any model `natter models` lists; it is loaded in place of the served one")
	group(fs, flagsChat, "save")
	group(fs, flagsServe, "addr", "api-key-env", "load-on-request", "parallel", "max-queue", "max-body")
	return cmd
}

func runServe(cmd *cobra.Command, o *serveOptions) error {
	mf, sf := &o.mf, &o.sf
	if err := mf.check(); err != nil {
		return usageError(cmd, "%v", err)
	}
	sampling, err := sf.sampling()
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	switch {
	case o.parallel != 1:
		return usageError(cmd, "--parallel %d: the engine runs one sequence at a time (requests queue in order); only 1 is supported", o.parallel)
	case o.maxQueue < 1:
		return usageError(cmd, "--max-queue %d: must be at least 1", o.maxQueue)
	case o.maxBody < 1024:
		return usageError(cmd, "--max-body %d: must be at least 1024 bytes", o.maxBody)
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return usageError(cmd, "--addr %q: want HOST:PORT, e.g. 127.0.0.1:8080", o.addr)
	}
	var key string
	if o.apiKeyEnv != "" {
		key = strings.TrimSpace(os.Getenv(o.apiKeyEnv))
		if key == "" {
			return usageError(cmd, "--api-key-env %s: that variable is empty or unset", o.apiKeyEnv)
		}
	}
	if !serve.IsLoopback(o.addr) && key == "" {
		return usageError(cmd, "--addr %s listens beyond this machine: anyone who can reach it could use the model; give a key with --api-key-env VAR (or listen on 127.0.0.1)", o.addr)
	}
	path, err := mf.resolveModel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter serve: %v\n", err)
		return status(exitError)
	}
	defer mf.setupLogs()()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	eng, err := mf.loadFor(ctx, "serve", path)
	if err != nil {
		return err
	}
	defer eng.Close()

	info := eng.Info()
	id := modelName(info)
	system := o.pf.system
	if o.pf.persona != "" {
		text, p, err := personaPrompt(o.pf.persona, id, o.pf.vars)
		if err != nil {
			fmt.Fprintf(os.Stderr, "natter serve: %v\n", err)
			return status(exitError)
		}
		if system == "" {
			system = text
		}
		// The persona's sampling settings are the server's defaults, as in
		// ask and the chat; flags given on the command line still win.
		req := api.Request{Sampling: sampling, MaxTokens: sf.maxTokens}
		applyOverrides(&req, p.Sampling, setFlags(cmd))
		sampling, sf.maxTokens = req.Sampling, req.MaxTokens
	}
	chain, err := chatTemplate(eng, o.pf.template, sf.thinkVars())
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter serve: %v\n", err)
		return status(exitError)
	}
	for _, w := range askTemplateWarnings(chain, info, system, "/v1/completions") {
		fmt.Fprintln(os.Stderr, "natter serve: "+w)
	}
	cfg := serve.Config{
		Model: eng, ModelID: id, Template: chain, System: system,
		Aliases:  modelAliases(mf.model, info.Path, id),
		Sampling: sampling, MaxTokens: sf.maxTokens, ReasoningBudget: sf.budget(),
		APIKey: key, MaxBody: o.maxBody, MaxQueue: o.maxQueue, Log: os.Stderr,
		CloseModel: eng.Close, ModelSource: path,
	}
	if o.loadAny {
		cfg.Local = func() []string {
			var names []string
			for _, m := range models.Discover() {
				if m.Err == "" && !slices.Contains(names, m.Name) {
					names = append(names, m.Name)
				}
			}
			return names
		}
		cfg.Load = func(ctx context.Context, name string) (*serve.Loaded, error) {
			return loadServed(ctx, mf, sf, o.pf.template, name)
		}
	}
	if o.save {
		st := openHistory(false)
		defer st.Close()
		cfg.Save = func(x serve.Exchange) { saveExchange(st, id, sampling, x) }
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter serve: %v\n", err)
		return status(exitError)
	}
	base, cancelBase := context.WithCancelCause(context.Background())
	defer cancelBase(nil)
	server := serve.New(cfg)
	defer server.Close()
	srv := serve.NewHTTPServer(server.Handler(), func(net.Listener) context.Context { return base })
	url := "http://" + ln.Addr().String() + "/v1"
	fmt.Fprintf(os.Stderr, "natter serve: %s (%s, ctx %d%s) on %s\n", id, info.Backend, info.ContextSize, loraLabel(o.mf.loraOpts, true), url)
	fmt.Fprintf(os.Stderr, "  try: curl %s/chat/completions -H 'Content-Type: application/json'", url)
	if key != "" {
		fmt.Fprintf(os.Stderr, " -H \"Authorization: Bearer $%s\"", o.apiKeyEnv)
	}
	fmt.Fprintf(os.Stderr, " -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'\n")

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "natter serve: %v\n", err)
			return status(exitError)
		}
		return nil
	case <-ctx.Done():
	}
	// Stop accepting; let running requests finish for a while, then cancel
	// them (a second Ctrl+C cancels at once).
	stop()
	fmt.Fprintf(os.Stderr, "natter serve: shutting down (running requests get %s; Ctrl+C again stops them now)\n", serveShutdownGrace)
	again, stopAgain := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopAgain()
	grace, cancelGrace := context.WithTimeout(again, serveShutdownGrace)
	defer cancelGrace()
	if err := srv.Shutdown(grace); err != nil {
		cancelBase(serve.ErrShutdown)
		closing, cancelClosing := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancelClosing()
		if srv.Shutdown(closing) != nil {
			srv.Close()
		}
	}
	return nil
}

// loadServed loads a model a request named, for --load-on-request.
func loadServed(ctx context.Context, mf *modelFlags, sf *samplingFlags, template, name string) (*serve.Loaded, error) {
	path, err := resolveModelName(name)
	if err != nil {
		return nil, err
	}
	eng, err := mf.load(path, func(float32) bool { return ctx.Err() == nil })
	if err != nil {
		return nil, err
	}
	chain, err := chatTemplate(eng, template, sf.thinkVars())
	if err != nil {
		eng.Close()
		return nil, err
	}
	id := modelName(eng.Info())
	return &serve.Loaded{Model: eng, ID: id, Aliases: modelAliases(name, path, id), Template: chain, Source: path, Close: eng.Close}, nil
}

// modelAliases are the other names a request may give the served model.
func modelAliases(arg, path, id string) []string {
	var out []string
	for _, a := range []string{arg, filepath.Base(path), strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))} {
		if a != "" && a != id {
			out = append(out, a)
		}
	}
	return out
}

// saveExchange keeps one served chat in the history as a chat of its own.
func saveExchange(st *history.Store, model string, sampling api.Sampling, x serve.Exchange) {
	var system string
	if len(x.Messages) > 0 && x.Messages[0].Role == prompts.RoleSystem {
		system = x.Messages[0].Content
	}
	rec := st.NewRecorder(history.ChatMeta{Model: model, SystemPrompt: system, Sampling: &sampling})
	defer rec.Close()
	if err := rec.NewChat(model, system); err != nil {
		fmt.Fprintln(os.Stderr, "natter serve: history:", err)
		return
	}
	for _, m := range x.Messages {
		if m.Role == prompts.RoleSystem {
			continue
		}
		if err := rec.Append(m); err != nil {
			fmt.Fprintln(os.Stderr, "natter serve: history:", err)
			return
		}
	}
	stop := ""
	if x.Stats != nil {
		stop = x.Stats.StopReason
	}
	if err := rec.Finish(x.Reply, x.Stats, stop); err != nil {
		fmt.Fprintln(os.Stderr, "natter serve: history:", err)
	}
}
