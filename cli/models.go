package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"natter/models"
)

func modelsCommand() *cobra.Command {
	var o models.ModelsOptions
	var endpoint string
	var insecure bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: "list local models (--catalog: recommended downloads)",
		Long: "List the GGUF models natter finds on this machine (its own folder, $NATTER_MODELS, the config\n" +
			"file's models.dirs, Ollama's and Hugging Face's caches), with a mark for whether each fits in memory.",
		Example: `  natter models
  natter models --paths
  natter models --catalog

  # what a server offers: a config endpoint or openai://HOST:PORT
  natter models --endpoint gpu`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfig(cmd)
		},
		RunE: func(*cobra.Command, []string) error {
			if endpoint != "" {
				if err := listEndpointModels(context.Background(), endpoint, insecure, o.JSON, os.Stdout); err != nil {
					fmt.Fprintf(os.Stderr, "natter models: %v\n", err)
					return status(exitError)
				}
				return nil
			}
			return status(models.ModelsCmd(o, os.Stdout, os.Stderr))
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.Catalog, "catalog", false, "show the catalog of recommended models to pull, with a fit mark for this machine")
	fs.IntVar(&o.Ctx, "ctx", 0, "context length for the memory estimate (0 = 4096, capped by each model's)")
	fs.BoolVar(&o.Paths, "paths", false, "show each model's file path")
	fs.BoolVar(&o.JSON, "json", false, "print JSON")
	fs.StringVar(&endpoint, "endpoint", "", "list a server's models: a config endpoint NAME or openai://HOST:PORT")
	fs.BoolVar(&insecure, "insecure", false, "allow plain http to a server beyond this machine")
	group(fs, flagsOutput, "paths", "json")
	return cmd
}

func pullCommand() *cobra.Command {
	var o models.PullCmdOptions
	cmd := &cobra.Command{
		Use:   "pull NAME",
		Short: "download a model: a catalog NAME, hf.co/OWNER/REPO[:QUANT] or a URL",
		Long: "Download a model into natter's models folder, resuming a partial download and checking its\n" +
			"sha256. The only command that uses the network (NATTER_OFFLINE=1 or models.offline refuses).",
		Example: `  natter pull qwen3.5-0.8b
  natter pull hf.co/unsloth/Qwen3.5-0.8B-GGUF:Q4_K_M
  natter models --catalog`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			var names []cobra.Completion
			for _, e := range models.Catalog() {
				names = append(names, cobra.CompletionWithDesc(e.Name, e.Description))
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyConfig(cmd)
		},
		RunE: func(_ *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return status(models.PullCmd(ctx, args[0], o, os.Stdout, os.Stderr))
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.Dir, "output", "o", "", "destination folder (default: natter's models folder)")
	fs.StringVar(&o.SHA256, "sha256", "", "expected sha256 of the file (hex)")
	fs.BoolVarP(&o.Quiet, "quiet", "q", false, "no progress output")
	_ = cmd.MarkFlagDirname("output")
	return cmd
}

// resolveModelName maps -m (a path, a local model name, a catalog name, or
// "" for the last model used) to a file path.
func resolveModelName(p string) (string, error) { return models.Resolve(p) }

// fitWarning says when the model, with its projector (proj, "" for none),
// will likely not fit in free memory.
func fitWarning(path string, ctx int, proj string) string {
	meta, err := models.ReadMeta(path)
	if err != nil {
		return ""
	}
	if st, err := os.Stat(proj); proj != "" && err == nil {
		meta.FileSize += st.Size() // the projector's weights load too
	}
	if w := models.CheckFit(meta, ctx).Warning(); w != "" {
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
