package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"natter/engine"
	"natter/engine/api"
	"natter/prompts"
	"natter/remote"
)

// configEndpoints are the config file's [endpoints.NAME] tables.
func configEndpoints() []remote.Named {
	cfg, err := loadConfig()
	if err != nil || cfg == nil {
		return nil // the command's PreRun reported a bad file already
	}
	var out []remote.Named
	for _, e := range cfg.Endpoints() {
		out = append(out, remote.Named{Name: e.Name, URL: e.URL, Model: e.Model, KeyEnv: e.APIKeyEnv, KeyFile: e.APIKeyFile, Insecure: e.Insecure})
	}
	return out
}

// endpoint reads -m as a remote model: openai://HOST:PORT/MODEL or a
// config endpoint (NAME, NAME:MODEL). ok is false for a local model. This
// is the one place that decides between the local engines and a server.
func (m *modelFlags) endpoint() (remote.Endpoint, bool, error) {
	return remote.Resolve(m.model, configEndpoints(), m.insecure)
}

// openRemote connects to the endpoint -m names; notes (a retry countdown)
// go to stderr.
func openRemote(ctx context.Context, ep remote.Endpoint, cmdName string) (*remote.Client, error) {
	return remote.Open(ctx, ep, remote.Options{Notify: func(s string) {
		fmt.Fprintf(os.Stderr, "natter %s: %s\n", cmdName, s)
	}})
}

// listEndpointModels is `natter models --endpoint NAME`.
func listEndpointModels(ctx context.Context, name string, insecure, asJSON bool, out io.Writer) error {
	ep, err := remote.ForListing(name, configEndpoints(), insecure)
	if err != nil {
		return err
	}
	list, err := remote.ListModels(ctx, ep, remote.Options{})
	if err != nil {
		return err
	}
	if asJSON {
		type row struct {
			ID         string `json:"id"`
			ContextLen int    `json:"context_length,omitempty"`
		}
		rows := []row{}
		for _, m := range list {
			rows = append(rows, row{m.ID, m.ContextLen})
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(list) == 0 {
		fmt.Fprintf(out, "%s lists no models\n", ep.Host())
		return nil
	}
	prefix := remote.Scheme + ep.Host() + "/"
	if ep.Name != "" {
		prefix = ep.Name + ":"
	}
	for _, m := range list {
		line := prefix + m.ID
		if m.ContextLen > 0 {
			line += fmt.Sprintf("  (context %d)", m.ContextLen)
		}
		fmt.Fprintln(out, line)
	}
	return nil
}

// remoteModel is a server's model as the chat holds its engines: what a
// server cannot do (tokenize for natter, save its cache) says so, and the
// chat degrades: no KV resume, token counts are the server's.
type remoteModel struct{ *remote.Client }

func (remoteModel) Options() engine.Options                    { return engine.Options{} }
func (remoteModel) VocabSize() int                             { return 0 }
func (remoteModel) TokenText(engine.Token) string              { return "" }
func (remoteModel) Reset() error                               { return nil }
func (remoteModel) BuiltinTemplate() prompts.ChatTemplate      { return nil }
func (remoteModel) LoadState([]engine.Token, []byte) error     { return engine.ErrNoState }
func (remoteModel) SaveState() ([]engine.Token, []byte, error) { return nil, nil, engine.ErrNoState }
func (remoteModel) PromptTokens(api.Request) ([]engine.Token, error) {
	return nil, remote.ErrServerTokenizes
}

var _ engine.Model = remoteModel{}

// openRemoteChat connects the chat to the endpoint -m (or /model) names,
// with a progress line when it is slow (quiet: inside the running chat).
func openRemoteChat(ep remote.Endpoint, sf *samplingFlags, quiet bool) (*chatGen, error) {
	var notify func(string)
	if !quiet {
		fmt.Fprintf(os.Stderr, "\rConnecting to %s…", ep.Host())
		defer fmt.Fprint(os.Stderr, "\r\033[K")
		notify = func(s string) { fmt.Fprintf(os.Stderr, "\r\033[K%s", s) }
	}
	c, err := remote.Open(context.Background(), ep, remote.Options{Notify: notify})
	if err != nil {
		return nil, err
	}
	g := &chatGen{Model: remoteModel{c}, remote: true, budget: sf.budget(), vars: map[string]any{}}
	if v, ok := sf.thinkVars()["enable_thinking"].(bool); ok { // --think on|off
		c.SetThinking(&v)
		g.vars["enable_thinking"] = v
	}
	return g, nil
}
