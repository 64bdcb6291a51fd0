// Package history keeps every conversation in SQLite (modernc.org/sqlite,
// pure Go, WAL mode): chats, messages, full-text search, export, and the
// `natter history` command. Package history/kvcache stores model KV states
// so a resumed chat need not be re-processed. It imports prompts and
// engine/api only, so it never compiles llama.cpp. Attachments (images,
// audio) are kept once per sha256 in AttachmentDir, beside the database;
// rows hold their metadata (attachments.go).
//
// Saving never stops a chat: if the disk refuses a write the Store carries
// on in memory and reports it once (TakeWarning, or a *Warning from a
// Recorder call). Open only fails if not even a memory database can be made.
//
// Wiring in main (the UI takes a *Recorder as ui.Config.Recorder):
//
//	path, _ := history.DefaultPath()
//	var st *history.Store
//	if noSave || history.NoHistory() {
//		st, _ = history.OpenMemory() // /history etc. still work, nothing on disk
//	} else {
//		st, _ = history.Open(path)
//	}
//	defer st.Close()
//	if w := st.TakeWarning(); w != "" { fmt.Fprintln(os.Stderr, w) }
//
//	`natter history ...`  cli := history.CLI{Store: st, Stdout: os.Stdout, Stderr: os.Stderr}; cli.List(20, false) …
//	new chat              rec := st.NewRecorder(history.ChatMeta{Persona: p, Template: t, Sampling: &s})
//	`natter -c`           c, err := st.Latest(ctx); rec, c, err = st.ResumeRecorder(ctx, c.ID)
//	`natter --resume ID`  id, err := history.ParseID(arg); rec, c, err := st.ResumeRecorder(ctx, id)
//	`--resume` (no ID)    a picker over st.FindChats(ctx, query, 50)
//	then                  cfg.Recorder = rec; cfg.Messages = c.PromptMessages()
//	                      history.MissingAttachments(cfg.Messages): attachments whose file
//	                      (in history.AttachmentDir(path)) is gone or damaged, Data nil
//	`natter ask`          rec := st.NewRecorder(...); rec.NewChat(model, system);
//	                      rec.Append(user); rec.Checkpoint(partial)…; rec.Finish(reply, stats, stats.StopReason)
//
// KV states (resume without re-processing), when saving is on:
//
//	kv, _ := kvcache.Open(kvcache.DefaultDir(path), kvcache.DefaultLimit)
//	id, _ := kvcache.ModelIdentity(modelPath) // + "/" + what else shapes the state (n_ctx, KV type)
//	rec.AfterFinish(func(chat int64) {
//		if toks, state, err := eng.SaveState(); err == nil {
//			kv.PutTagged(id, history.ChatTag(chat), toks, state)
//		}
//	})
//	st.OnDelete(func(chat int64) { kv.RemoveTag(history.ChatTag(chat)) })
//	// on resume, before the first request: tokens of the rendered chat
//	if hit, ok := kv.Lookup(id, promptTokens); ok {
//		if eng.LoadState(hit.Tokens, hit.State) != nil { kv.Discard(hit) }
//	}
package history
