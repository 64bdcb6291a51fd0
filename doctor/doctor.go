// Package doctor gathers what a bug report about natter needs: the build
// and the CPU's SIMD features, where models are looked for and what was
// found, the config file, the history database, free disk and memory, what
// the terminal supports and the NATTER_* environment. `natter doctor`
// prints the Report as text or JSON.
//
// It imports engine (llama.cpp's system info, the backends, physical
// cores), models (sources, discovery, memory) and history (paths) for
// read-only checks only: it never loads a model (GGUF headers are read,
// weights are not), never writes a file, never opens the history database
// with SQLite (so it works when that is damaged or locked) and never uses
// the network. The one thing it sends anywhere is, when asked, a query to
// the terminal it runs in.
package doctor

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"natter/config"
)

// Options say what Collect cannot find out by itself.
type Options struct {
	Version    string // natter's version string
	ConfigPath string // the config file path (may not exist)
	ConfigErr  error  // the error loading it, if any (nil: fine or absent)
	// Config is the file as the command loaded it (nil: not loaded), for
	// its endpoints.
	Config *config.Config
	// Getenv reads the variables doctor itself inspects (TERM, TMUX, ...);
	// nil means os.Getenv. The models and history packages read the
	// process environment directly, so their paths follow os.Getenv.
	Getenv func(string) string
	// Environ lists the environment for the NATTER_* section, since Getenv
	// cannot enumerate; nil means os.Environ.
	Environ func() []string
	// Stdin and Stdout are checked as terminals; nil counts as "not a
	// terminal".
	Stdin, Stdout *os.File
	// QueryTerminal lets Collect send DECRQM/DA1 queries when both Stdin
	// and Stdout are terminals. Off, those capabilities are "unknown".
	QueryTerminal bool
}

// Report is everything Collect found. Every check that failed carries its
// error text in the section instead of stopping the others.
type Report struct {
	Natter      NatterInfo   `json:"natter"`
	Build       BuildInfo    `json:"build"`
	Models      ModelsInfo   `json:"models"`
	Config      ConfigInfo   `json:"config"`
	History     HistoryInfo  `json:"history"`
	Memory      MemoryInfo   `json:"memory"`
	Terminal    TerminalInfo `json:"terminal"`
	Environment EnvInfo      `json:"environment"`
	// Failures are checks that crashed (a bug in natter, recovered here so
	// the rest of the report still prints).
	Failures []string `json:"failures,omitempty"`
}

// Collect runs every check. ctx bounds the subprocess (tmux) and terminal
// queries; the file checks are quick stats.
func Collect(ctx context.Context, o Options) Report {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Environ == nil {
		o.Environ = os.Environ
	}
	var r Report
	guard := func(section string, fn func()) {
		defer func() {
			if p := recover(); p != nil {
				r.Failures = append(r.Failures, fmt.Sprintf("%s: internal error: %v\n%s", section, p, debug.Stack()))
			}
		}()
		fn()
	}
	guard("natter", func() { r.Natter = collectNatter(o.Version) })
	guard("build", func() { r.Build = collectBuild() })
	guard("models", func() { r.Models = collectModels() })
	guard("config", func() {
		r.Config = collectConfig(o.ConfigPath, o.ConfigErr)
		if o.Config != nil {
			r.Config.Endpoints = collectEndpoints(o.Config, o.Getenv)
		}
	})
	guard("history", func() { r.History = collectHistory() })
	guard("memory", func() { r.Memory = collectMemory() })
	guard("terminal", func() { r.Terminal = collectTerminal(ctx, o) })
	guard("environment", func() { r.Environment = collectEnv(o.Environ()) })
	return r
}
