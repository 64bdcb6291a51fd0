// Command natter is a terminal chat assistant that runs a small GGUF language
// model in-process through llama.cpp.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Exit statuses.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// command is one subcommand; run returns the exit status.
type command struct {
	summary string
	run     func(args []string) int
	hidden  bool
}

var commands = map[string]command{}

func register(name, summary string, run func([]string) int) {
	commands[name] = command{summary: summary, run: run}
}

func main() {
	os.Exit(realMain(os.Args[1:]))
}

func realMain(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "--help", "help":
			// The overview, then the chat's own flags (natter alone opens it).
			usage(os.Stdout)
			fmt.Println()
			return runChat([]string{"-h"})
		case "--version":
			return runVersion(nil)
		}
		if c, ok := commands[args[0]]; ok {
			return c.run(args[1:])
		}
		if !strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(os.Stderr, "natter: unknown command %q\n\n", args[0])
			usage(os.Stderr)
			return exitUsage
		}
	}
	return runChat(args)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "natter — chat with a small language model in your terminal, offline.")
	fmt.Fprintln(w, "\nUsage:\n  natter [flags]              open the chat\n  natter COMMAND [flags] ...")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'natter COMMAND -h' for a command's flags. The model comes from -m PATH or $NATTER_MODEL.")
}

// parseInterspersed parses flags that may appear before, between or after
// positional arguments ("natter ask why -n 20"); "--" ends flag parsing.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at "--" (consumed) or at the first non-flag.
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageError reports a bad invocation: message, usage, exit 2.
func usageError(fs *flag.FlagSet, format string, a ...any) int {
	prefix := "natter " + fs.Name()
	if fs.Name() == "natter" { // the chat
		prefix = "natter"
	}
	fmt.Fprintf(os.Stderr, "%s: %s\n", prefix, fmt.Sprintf(format, a...))
	fs.SetOutput(os.Stderr)
	fs.Usage()
	return exitUsage
}

func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported once, by usageError
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: natter %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// flagError turns a flag parsing error into the right exit: -h prints usage.
func flagError(fs *flag.FlagSet, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stdout)
		fs.Usage()
		return exitOK
	}
	return usageError(fs, "%v", err)
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
