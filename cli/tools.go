package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"natter/prompts/toolcall"
	"natter/tools"
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
