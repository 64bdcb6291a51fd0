package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"

	"github.com/spf13/cobra"

	"natter/config"
	"natter/models"
)

// loadConfig reads the config file and the NATTER_* environment once per
// run (completion and the command itself both ask).
var loadConfig = newConfigLoader()

func newConfigLoader() func() (*config.Config, error) {
	return sync.OnceValues(func() (*config.Config, error) {
		c, err := config.Load(config.DefaultPath())
		if err != nil {
			return nil, err
		}
		if err := c.ApplyEnv(os.LookupEnv); err != nil {
			return nil, err
		}
		return c, nil
	})
}

// applyConfig fills in the flags the command line left out from the
// environment and the config file (flag > env > config > built-in), and
// hands the store its settings. Filled-in flags stay "not given", so a
// persona's or a resumed chat's own settings still beat them.
func applyConfig(cmd *cobra.Command) error {
	c, err := loadConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "natter: %v\n", err)
		var fe *config.FileError
		if errors.As(err, &fe) {
			fmt.Fprintln(os.Stderr, "(fix it with `natter config edit`, which checks what you save)")
		}
		return status(exitUsage)
	}
	fs := cmd.Flags()
	for _, v := range c.Values() {
		if v.Source == config.Default || v.Key.Flag == "" {
			continue
		}
		f := fs.Lookup(v.Key.Flag)
		if f == nil || f.Changed {
			continue
		}
		if err := fs.Set(f.Name, v.FlagText()); err != nil {
			fmt.Fprintf(os.Stderr, "natter: %s: %s = %q: %v\n", v.Origin, v.Key.Name, v.Text, err)
			return status(exitUsage)
		}
		f.Changed = false
	}
	if v := c.Get("models.dirs"); v.Source != config.Default {
		models.SetExtraDirs(v.Strings())
	}
	if v := c.Get("models.offline"); v.Source != config.Default {
		models.SetOffline(v.Bool())
	}
	return nil
}

func configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "show, edit and create the config file (defaults for every flag)",
		Long: "One TOML file holds natter's defaults: model, sampling, context, threads, persona, theme,\n" +
			"history. A flag beats an environment variable (NATTER_*), which beats the file, which beats\n" +
			"the built-in default. The file is $XDG_CONFIG_HOME/natter/config.toml ($NATTER_CONFIG overrides).",
		Example: `  natter config init
  natter config edit
  natter config show
  NATTER_TEMP=0.2 natter config show`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	path := &cobra.Command{
		Use: "path", Short: "print the config file's path", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Println(config.DefaultPath())
			return nil
		},
	}
	show := &cobra.Command{
		Use: "show", Short: "print the settings in effect and where each comes from", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := loadConfig()
			if err != nil {
				fmt.Fprintf(os.Stderr, "natter config show: %v\n", err)
				return status(exitError)
			}
			if !c.Exists {
				fmt.Printf("# %s does not exist: built-in defaults (natter config init writes it)\n", c.Path)
			} else {
				fmt.Printf("# %s\n", c.Path)
			}
			fmt.Print(c.Show())
			return nil
		},
	}
	var force bool
	initCmd := &cobra.Command{
		Use: "init", Short: "write a commented config file with every key at its default", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			p := config.DefaultPath()
			if err := config.Init(p, force); err != nil {
				fmt.Fprintf(os.Stderr, "natter config init: %v\n", err)
				return status(exitError)
			}
			fmt.Println("wrote", p)
			return nil
		},
	}
	initCmd.Flags().BoolVar(&force, "force", false, "replace an existing file")
	edit := &cobra.Command{
		Use: "edit", Short: "open the config file in $VISUAL or $EDITOR, then check it", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return status(editConfig(config.DefaultPath())) },
	}
	cmd.AddCommand(path, show, initCmd, edit)
	return cmd
}

// editConfig opens the file (written by init first if missing) in the
// user's editor and checks what was saved.
func editConfig(p string) int {
	if _, err := os.Stat(p); os.IsNotExist(err) {
		if err := config.Init(p, false); err != nil {
			fmt.Fprintf(os.Stderr, "natter config edit: %v\n", err)
			return exitError
		}
		fmt.Println("created", p)
	}
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	// Through the shell, so EDITOR may carry arguments ("code -w").
	c := exec.Command("/bin/sh", "-c", editor+` "$1"`, "sh", p)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := c.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "natter config edit: editor %q: %v\n", editor, err)
		return exitError
	}
	if _, err := config.Load(p); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n(the file is saved, but natter refuses to start until it is fixed: run natter config edit again)\n", err)
		return exitError
	}
	return exitOK
}
