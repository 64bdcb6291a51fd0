package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"natter/models"
)

func init() {
	register("models", "list local models (--catalog: recommended downloads)", func(args []string) int {
		return models.RunModelsCmd(args, os.Stdout, os.Stderr)
	})
	register("pull", "download a model: NAME, hf.co/OWNER/REPO[:QUANT] or URL", func(args []string) int {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return models.RunPullCmd(ctx, args, os.Stdout, os.Stderr)
	})
}

// resolveModelName maps -m (a path, a local model name, a catalog name, or
// "" for the last model used) to a file path.
func resolveModelName(p string) (string, error) { return models.Resolve(p) }

// fitWarning says when the model will likely not fit in free memory.
func fitWarning(path string, ctx int) string {
	rep, err := models.CheckFitPath(path, ctx)
	if err != nil {
		return ""
	}
	if w := rep.Warning(); w != "" {
		return fmt.Sprintf("warning: %s", w)
	}
	return ""
}

// checkLoad runs the checks that must pass before a model loads: the
// requested context must fit in free memory (llama.cpp would spend a long
// time and gigabytes before failing), and more threads than logical CPUs
// only slow generation down, so they are capped with a note.
func checkLoad(path string, m *modelFlags, note func(string)) error {
	if meta, err := models.ReadMeta(path); err == nil {
		if err := models.CheckContext(meta, m.ctx); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, w := range meta.Warnings {
			note("warning: " + w)
		}
	}
	if n := runtime.NumCPU(); m.threads > n {
		note(fmt.Sprintf("note: -t %d is more than this machine's %d logical CPUs; using %d", m.threads, n, n))
		m.threads = n
	}
	return nil
}
