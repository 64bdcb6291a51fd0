// Package cli is natter's command tree (cobra, with fang's look): one small
// file per command, each parsing its flags and calling into the packages
// that do the work (engine, models, history, prompts, ui, config, doctor).
// It may import any natter package; only main imports it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// Exit statuses (documented in the README; scripts rely on them).
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// Version is set at link time (-ldflags "-X natter/cli.Version=...").
var Version = "dev"

// exitStatus is a command's result when it has already said what went
// wrong (or nothing did): Main only turns it into the exit status.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// status turns a command's exit code into RunE's error.
func status(code int) error {
	if code == exitOK {
		return nil
	}
	return exitStatus(code)
}

// usageErr is a bad invocation: Main prints it with a pointer to --help
// and exits 2.
type usageErr struct {
	cmd *cobra.Command
	msg string
}

func (e *usageErr) Error() string { return e.msg }

func usageError(cmd *cobra.Command, format string, a ...any) error {
	return &usageErr{cmd: cmd, msg: fmt.Sprintf(format, a...)}
}

// Main runs natter with args (without the program name) and returns the
// exit status.
func Main(args []string) int {
	root := NewRoot()
	root.SetArgs(args)
	return execute(root, os.Stderr)
}

func execute(root *cobra.Command, stderr io.Writer) int {
	cmd, err := root.ExecuteContextC(context.Background())
	var st exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &st):
		return int(st)
	}
	var ue *usageErr
	if errors.As(err, &ue) && ue.cmd != nil {
		cmd = ue.cmd
	}
	if cmd == nil {
		cmd = root
	}
	printUsageError(stderr, cmd, err)
	return exitUsage
}

// printUsageError reports a bad invocation on one line, plus where help is.
func printUsageError(w io.Writer, cmd *cobra.Command, err error) {
	msg := strings.TrimSpace(err.Error())
	msg = strings.TrimPrefix(msg, "Error: ")
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		writeStyledError(w, cmd, msg)
		return
	}
	fmt.Fprintf(w, "%s: %s\nRun '%s --help' for usage.\n", cmd.CommandPath(), msg, cmd.CommandPath())
}

// Command groups of natter --help.
const (
	groupChat   = "chat"
	groupModels = "models"
	groupSaved  = "saved"
	groupSetup  = "setup"
)

// NewRoot builds the whole command tree. The root command is the chat.
func NewRoot() *cobra.Command {
	cobra.EnableCommandSorting = false // the help lists commands as added
	root := chatCommand()
	root.Version = Version
	root.SetVersionTemplate("natter {{.Version}}\n")
	root.SilenceErrors, root.SilenceUsage = true, true
	root.SuggestionsMinimumDistance = 2
	root.AddGroup(
		&cobra.Group{ID: groupChat, Title: "Chat"},
		&cobra.Group{ID: groupModels, Title: "Models"},
		&cobra.Group{ID: groupSaved, Title: "Personas, templates and history"},
		&cobra.Group{ID: groupSetup, Title: "Setup"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add(groupChat, askCommand(), serveCommand())
	add(groupModels, modelsCommand(), pullCommand(), benchCommand(), evalCommand())
	add(groupModels, quantizeCommand(), tuneCommand())
	add(groupSaved, promptsCommand(), templateCommand(), historyCommand())
	add(groupSetup, configCommand(), doctorCommand(), versionCommand(), manCommand(root))
	root.SetHelpCommandGroupID(groupSetup)
	root.SetCompletionCommandGroupID(groupSetup)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Short = "print a shell completion script (bash, zsh, fish, powershell)"
		}
	}
	root.InitDefaultHelpCmd()
	setup(root)
	return root
}

// setup gives every command natter's help, flag errors and flag order.
func setup(c *cobra.Command) {
	c.SetHelpFunc(helpFunc)
	c.SetFlagErrorFunc(flagError)
	c.Flags().SortFlags = false
	c.SilenceErrors, c.SilenceUsage = true, true
	c.DisableAutoGenTag = true
	if c.Name() == "help" {
		c.Short = "help about any command"
	}
	for _, sub := range c.Commands() {
		setup(sub)
	}
}

// flagError adds the nearest flag to pflag's "unknown flag" errors.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	var name string
	switch {
	case strings.HasPrefix(msg, "unknown flag: --"):
		name = strings.TrimPrefix(msg, "unknown flag: --")
	case strings.HasPrefix(msg, "unknown shorthand flag: "):
		// "unknown shorthand flag: 'x' in -xyz"
		if i := strings.Index(msg, " in -"); i >= 0 {
			name = msg[i+len(" in -"):]
		}
	}
	if name != "" {
		if s := nearestFlag(cmd, name); s != "" {
			msg += " (did you mean --" + s + "?)"
		}
	}
	return usageError(cmd, "%s", msg)
}

// nearestFlag is the flag of cmd closest to name, if close enough to be a
// typo (or name is a prefix of exactly one flag).
func nearestFlag(cmd *cobra.Command, name string) string {
	name = strings.SplitN(name, "=", 2)[0]
	best, bestD := "", 3
	var prefixed []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if strings.HasPrefix(f.Name, name) {
			prefixed = append(prefixed, f.Name)
		}
		if d := editDistance(name, f.Name); d < bestD || d == bestD && best != "" && f.Name < best {
			best, bestD = f.Name, d
		}
	})
	if best == "" && len(prefixed) == 1 {
		return prefixed[0]
	}
	if bestD > max(1, min(2, len(name)/3)) {
		if len(prefixed) == 1 {
			return prefixed[0]
		}
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance, counting an adjacent swap as
// one edit (the usual typo).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// stateDir is where natter keeps logs ($XDG_STATE_HOME/natter).
func stateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "natter")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "natter")
	}
	return filepath.Join(os.TempDir(), "natter")
}
