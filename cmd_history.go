package main

import (
	"fmt"
	"os"
	"strconv"

	"natter/engine"
	"natter/history"
	"natter/history/kvcache"
)

func init() {
	register("history", "list, search, show, export and remove saved chats", func(args []string) int {
		// Commands that only read leave a damaged database as it is
		// (showing what can be read); rm may repair it.
		readOnly := len(args) == 0 || args[0] != "rm" && args[0] != "delete"
		st := openHistoryOptions(false, history.Options{ReadOnly: readOnly})
		defer st.Close()
		return history.RunCmd(args, os.Stdout, os.Stderr, st)
	})
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
