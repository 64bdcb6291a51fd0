package cli

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"natter/history"
	"natter/models"
	"natter/prompts"
)

// Shell completion of values: what -m, --prompt, --chat-template and chat
// IDs can be, read from this machine (never the network). Each reads the
// config file first, so models.dirs counts.

func noFiles(c []cobra.Completion) ([]cobra.Completion, cobra.ShellCompDirective) {
	return c, cobra.ShellCompDirectiveNoFileComp
}

// completeModels: local model names, then catalog names not downloaded
// yet; a value that looks like a path completes as a file.
func completeModels(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if strings.ContainsAny(toComplete, "/.~") {
		return []cobra.Completion{"gguf"}, cobra.ShellCompDirectiveFilterFileExt
	}
	_ = applyConfig(cmd)
	seen := map[string]bool{}
	var out []cobra.Completion
	for _, m := range models.Discover() {
		if m.Err != "" || seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		out = append(out, cobra.CompletionWithDesc(m.Name, m.Source))
	}
	for _, e := range models.Catalog() {
		if !seen[e.Name] {
			seen[e.Name] = true
			out = append(out, cobra.CompletionWithDesc(e.Name, "catalog: "+e.Description))
		}
	}
	return noFiles(out)
}

// completePersonas: builtin and user persona names.
func completePersonas(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return noFiles(prompts.PersonaNames(promptsEnv("")))
}

// completePersonaArg completes the NAME of prompts show|render|edit.
func completePersonaArg(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return noFiles(nil)
	}
	return completePersonas(cmd, args, toComplete)
}

// completeTemplates: the config dir's templates/NAME.jinja names, and files.
func completeTemplates(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	files, _ := filepath.Glob(filepath.Join(prompts.ConfigDir(), "templates", "*.jinja"))
	for _, f := range files {
		out = append(out, strings.TrimSuffix(filepath.Base(f), ".jinja"))
	}
	return out, cobra.ShellCompDirectiveDefault
}

// completeChatIDs: recent saved chats, newest first, titled.
func completeChatIDs(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if history.NoHistory() {
		return noFiles(nil)
	}
	path, err := history.DefaultPath()
	if err != nil {
		return noFiles(nil)
	}
	if _, err := os.Stat(path); err != nil {
		return noFiles(nil) // opening would create it
	}
	st, err := history.OpenOptions(path, history.Options{ReadOnly: true})
	if err != nil {
		return noFiles(nil)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	chats, err := st.List(ctx, 50)
	if err != nil {
		return noFiles(nil)
	}
	var out []cobra.Completion
	for _, c := range chats {
		title := strings.Join(strings.Fields(c.Title), " ")
		out = append(out, cobra.CompletionWithDesc(strconv.FormatInt(c.ID, 10), title))
	}
	// Keep the newest-first order instead of the shell's sorting.
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}
