package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"natter/config"
	"natter/doctor"
)

func doctorCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "check this machine and print everything a bug report needs",
		Long: "Check the build (SIMD features), where natter looks for models and what it found, the config\n" +
			"file, the history database, free disk and memory, and what the terminal supports. It loads no\n" +
			"model, changes nothing and uses no network.",
		Example: `  natter doctor
  natter doctor --json > doctor.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := config.DefaultPath()
			cfg, cerr := loadConfig()
			if cerr == nil {
				_ = applyConfig(cmd) // the store's settings (models.dirs, offline)
			}
			r := doctor.Collect(context.Background(), doctor.Options{
				Version: Version, ConfigPath: path, Config: cfg, ConfigErr: cerr, Getenv: os.Getenv,
				Stdin: os.Stdin, Stdout: os.Stdout, QueryTerminal: true,
			})
			var err error
			if asJSON {
				err = r.WriteJSON(os.Stdout)
			} else {
				err = r.WriteText(os.Stdout)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "natter doctor: %v\n", err)
				return status(exitError)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	group(cmd.Flags(), flagsOutput, "json")
	return cmd
}
