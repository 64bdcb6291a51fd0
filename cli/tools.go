package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"natter/prompts/toolcall"
	"natter/tools"
	"natter/tools/mcp"
	"natter/ui"
)

// toolFlags turn on the tools the model may call.
type toolFlags struct {
	on, yolo bool
	maxSteps int
	format   string
}

func (f *toolFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.BoolVar(&f.on, "tools", false, "let the model call tools (read_file, list_dir, grep, run_command, write_file, edit_file); each call asks first")
	fs.BoolVar(&f.yolo, "yolo", false, "with --tools: run read-only calls inside the working directory without asking")
	fs.IntVar(&f.maxSteps, "max-steps", 10, "with --tools: most replies one message may lead to")
	fs.StringVar(&f.format, "tool-format", "", "how the model writes tool calls, when its template does not tell (hermes, llama3, …)")
	group(fs, flagsTools, "tools", "yolo", "max-steps", "tool-format")
	choices(cmd, "tool-format", toolcall.Names()...)
}

// config builds the chat's tools, rooted in the working directory. They
// are there for /tools on even without --tools.
func (f *toolFlags) config() (*ui.ToolsConfig, error) {
	if f.maxSteps < 1 {
		return nil, fmt.Errorf("--max-steps %d: want 1 or more", f.maxSteps)
	}
	if _, ok := toolcall.ByName(f.format); f.format != "" && !ok {
		return nil, fmt.Errorf("--tool-format %q: want one of %s", f.format, strings.Join(toolcall.Names(), ", "))
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	set, err := tools.New(tools.Box{Root: wd})
	if err != nil {
		return nil, err
	}
	return &ui.ToolsConfig{Tools: set.Builtin(), On: f.on, Yolo: f.yolo, MaxSteps: f.maxSteps, Format: f.format}, nil
}

// startMCP adds the tools of the config file's [mcp.NAME] servers to tc
// (with --tools only: starting them costs a process each and up to their
// start timeout). Their stderr goes to a log in the state dir, never the
// terminal. The returned func ends the servers.
func startMCP(ctx context.Context, on bool, tc *ui.ToolsConfig) func() {
	cfg, err := loadConfig()
	if !on || err != nil || len(cfg.MCPServers()) == 0 {
		return func() {}
	}
	var servers []mcp.Server
	for _, s := range cfg.MCPServers() {
		servers = append(servers, mcp.Server{Name: s.Name, Command: s.Command, Env: s.Env, Dir: s.Dir, URL: s.URL})
	}
	var taken []string
	for _, t := range tc.Tools {
		taken = append(taken, t.Spec().Name)
	}
	var logw io.Writer = io.Discard
	closeLog := func() {}
	if err := os.MkdirAll(stateDir(), 0o700); err == nil {
		if f, err := openRotatingLog(filepath.Join(stateDir(), "mcp.log")); err == nil {
			logw, closeLog = f, func() { f.Close() }
		}
	}
	// A server can take seconds to start: say what the wait is for.
	fmt.Fprintf(os.Stderr, "natter: starting %d MCP %s…\n", len(servers), map[bool]string{true: "server", false: "servers"}[len(servers) == 1])
	set, err := mcp.Connect(ctx, servers, mcp.Options{Stderr: logw, Taken: taken})
	if err != nil {
		closeLog()
		return func() {}
	}
	for _, e := range set.Errors() {
		fmt.Fprintf(os.Stderr, "natter: warning: %v (its log: %s)\n", e, filepath.Join(stateDir(), "mcp.log"))
	}
	if tc.Source == nil {
		tc.Source = map[string]string{}
	}
	for _, t := range set.Tools() {
		tc.Tools = append(tc.Tools, t)
		tc.Source[t.Spec().Name] = set.Source(t.Spec().Name)
	}
	return func() { set.Close(); closeLog() }
}
