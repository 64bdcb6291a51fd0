package cli

import (
	"fmt"

	mcobra "github.com/muesli/mango-cobra"
	"github.com/muesli/roff"
	"github.com/spf13/cobra"
)

// manCommand writes natter's man page (section 1) built from the command
// tree, so it always matches --help: natter man > natter.1.
func manCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "man",
		Short: "print natter's man page (natter man | man -l -)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			page, err := mcobra.NewManPage(1, root)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "natter man: %v\n", err)
				return status(exitError)
			}
			page = page.WithSection("Exit status", "0 done, 1 failed, 2 bad usage or configuration, 130 interrupted.")
			page = page.WithSection("Files", "$XDG_CONFIG_HOME/natter/config.toml (natter config path), "+
				"the chat history in $XDG_DATA_HOME/natter, llama.cpp's log in $XDG_STATE_HOME/natter/llama.log.")
			fmt.Fprint(cmd.OutOrStdout(), page.Build(roff.NewDocument()))
			return nil
		},
	}
}
