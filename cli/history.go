package cli

import (
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"natter/engine"
	"natter/history"
	"natter/history/kvcache"
)

func historyCommand() *cobra.Command {
	// Commands that only read leave a damaged database as it is (showing
	// what can be read); rm may repair it.
	run := func(readOnly bool, f func(history.CLI) int) error {
		st := openHistoryOptions(false, history.Options{ReadOnly: readOnly})
		defer st.Close()
		return status(f(history.CLI{Store: st, Stdout: os.Stdout, Stderr: os.Stderr}))
	}
	var limit int
	var asJSON bool
	checkLimit := func(cmd *cobra.Command) error {
		if limit < 0 {
			return usageError(cmd, "--limit %d: want 0 (all) or more", limit)
		}
		return nil
	}
	list := func(cmd *cobra.Command, _ []string) error {
		if err := checkLimit(cmd); err != nil {
			return err
		}
		return run(true, func(c history.CLI) int { return c.List(limit, asJSON) })
	}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "list, search, show, export and remove saved chats",
		Long: "Chats are saved as you go in a SQLite database (natter doctor shows where). natter -c\n" +
			"continues the latest, natter --resume ID any other. NATTER_NO_HISTORY=1 or --no-save saves nothing.",
		Example: `  natter history
  natter history search "binary search"
  natter history show 12
  natter history export 12 -o chat.md
  natter history rm 12 13`,
		Args: cobra.NoArgs,
		RunE: list,
	}
	ls := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "list chats, most recent first", Args: cobra.NoArgs, RunE: list}
	for _, c := range []*cobra.Command{cmd, ls} {
		c.Flags().IntVar(&limit, "limit", 0, "at most N chats (0 = all)")
		c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	}
	search := &cobra.Command{
		Use: "search QUERY...", Short: "full-text search over all messages",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkLimit(cmd); err != nil {
				return err
			}
			return run(true, func(c history.CLI) int { return c.Search(args, limit, asJSON) })
		},
	}
	search.Flags().IntVar(&limit, "limit", 0, "at most N results (0 = all)")
	search.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	show := &cobra.Command{
		Use: "show ID", Short: "print a chat", Args: cobra.ExactArgs(1), ValidArgsFunction: completeChatIDs,
		RunE: func(_ *cobra.Command, args []string) error {
			return run(true, func(c history.CLI) int { return c.Show(args[0], asJSON) })
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var format, out string
	var rawBytes bool
	export := &cobra.Command{
		Use: "export ID", Short: "write a chat as Markdown or JSON",
		Long: "Write a chat as Markdown or JSON. Markdown sent to a terminal has control characters\n" +
			"defused unless --raw-bytes; files and pipes get the exact text.",
		Args: cobra.ExactArgs(1), ValidArgsFunction: completeChatIDs,
		RunE: func(_ *cobra.Command, args []string) error {
			return run(true, func(c history.CLI) int { return c.Export(args[0], format, out, rawBytes) })
		},
	}
	export.Flags().StringVar(&format, "format", "md", "md or json")
	export.Flags().StringVarP(&out, "output", "o", "", "write to FILE instead of standard output")
	export.Flags().BoolVar(&rawBytes, "raw-bytes", false, "write Markdown unchanged even to a terminal")
	choices(export, "format", "md", "json")
	rm := &cobra.Command{
		Use: "rm ID...", Aliases: []string{"delete"}, Short: "delete chats (and their saved model state)",
		Args: cobra.MinimumNArgs(1), ValidArgsFunction: completeChatIDs,
		RunE: func(_ *cobra.Command, args []string) error {
			return run(false, func(c history.CLI) int { return c.Remove(args) })
		},
	}
	cmd.AddCommand(ls, search, show, export, rm)
	return cmd
}

// openHistory opens the chat history; with saving off (--no-save or
// NATTER_NO_HISTORY=1) it is an in-memory store that keeps nothing.
// Saving never stops natter: problems become one warning on stderr.
func openHistory(noSave bool) *history.Store { return openHistoryOptions(noSave, history.Options{}) }

func openHistoryOptions(noSave bool, opts history.Options) *history.Store {
	var st *history.Store
	var err error
	if noSave || history.NoHistory() {
		st, err = history.OpenMemory()
	} else {
		path, perr := history.DefaultPath()
		if perr != nil {
			fmt.Fprintln(os.Stderr, "warning: history:", perr)
			st, err = history.OpenMemory()
		} else {
			st, err = history.OpenOptions(path, opts)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "warning: history is off:", err)
		st, _ = history.OpenMemory()
	}
	if st != nil {
		if w := st.TakeWarning(); w != "" {
			fmt.Fprintln(os.Stderr, "warning:", w)
		}
	}
	return st
}

// kvStates is the cache of saved KV states for resuming chats without
// re-processing them; nil when history is not saved to disk.
type kvStates struct {
	cache *kvcache.Cache
	key   string // model identity plus what shapes the state
}

func openKVStates(st *history.Store, eng engine.Model) *kvStates {
	if st == nil || !st.Persistent() || st.Path() == "" {
		return nil
	}
	c, err := kvcache.Open(kvcache.DefaultDir(st.Path()), kvcache.DefaultLimit)
	if err != nil {
		return nil
	}
	id, err := kvcache.ModelIdentity(eng.Info().Path)
	if err != nil {
		return nil
	}
	o := eng.Options()
	key := id + "/ctx" + strconv.Itoa(eng.Info().ContextSize) + "/" + o.CacheType
	st.OnDelete(func(chat int64) { c.RemoveTag(history.ChatTag(chat)) })
	return &kvStates{cache: c, key: key}
}

// save stores the engine's current KV state for a chat.
func (k *kvStates) save(eng engine.Model, chat int64) {
	if k == nil || chat == 0 {
		return
	}
	if toks, state, err := eng.SaveState(); err == nil {
		_ = k.cache.PutTagged(k.key, history.ChatTag(chat), toks, state)
	}
}

// restore loads the saved state that best covers prompt tokens, if any.
func (k *kvStates) restore(eng engine.Model, prompt []int32) bool {
	if k == nil || len(prompt) == 0 {
		return false
	}
	hit, ok := k.cache.Lookup(k.key, prompt)
	if !ok {
		return false
	}
	if err := eng.LoadState(hit.Tokens, hit.State); err != nil {
		_ = k.cache.Discard(hit)
		return false
	}
	return true
}
