// Package history keeps every conversation in SQLite (modernc.org/sqlite,
// pure Go, WAL mode): chats, messages, full-text search, export, and the
// `natter history` command. Package history/kvcache stores model KV states
// so a resumed chat need not be re-processed.
//
// Typical use by a front end:
//
//	st, _ := history.Open(path)   // history.OpenMemory() for --no-save
//	defer st.Close()
//	sess := st.NewSession(history.ChatMeta{Model: ..., Sampling: &s})
//	sess.Add(ctx, userMsg, history.MessageMeta{})      // when sent
//	w, _ := sess.BeginReply(ctx, history.ReplyMeta{Model: ...})
//	for ev := range events { w.Append(ev.Text) }       // saved every 500 ms
//	w.Finish(ev.Stats)                                 // or w.Interrupt() on error
//	if msg := st.TakeWarning(); msg != "" { show(msg) } // after any call
//
// Saving never stops a chat: if the disk refuses a write the Store carries
// on in memory and TakeWarning says so once. Open itself only fails if not
// even a memory database can be made.
//
// Wiring in main:
//
//	save := !noSaveFlag && !history.NoHistory()
//	path, _ := history.DefaultPath()
//	st := history.Open(path) if save, else history.OpenMemory()
//	kv, _ := kvcache.Open(kvcache.DefaultDir(path), 0) // only if save
//	st.OnDelete(func(id int64) { kv.RemoveTag(history.ChatTag(id)) })
//	`natter history ...`      → os.Exit(history.RunCmd(args, os.Stdout, os.Stderr, st))
//	`natter -c`               → c, err := st.Latest(ctx); then st.ResumeSession(ctx, c.ID)
//	`natter --resume ID`      → history.ParseID(arg); st.ResumeSession(ctx, id)
//	`natter --resume` (no ID) → picker over st.FindChats(ctx, query, limit)
//
// Resuming: Chat.PromptMessages gives the engine the conversation back
// (system prompt first). KV states are saved with kvcache.PutTagged after a
// reply and restored via kvcache.Lookup before the first new reply.
package history
