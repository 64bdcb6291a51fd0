// Package history keeps every conversation in SQLite (modernc.org/sqlite,
// pure Go, WAL mode): chats, messages, full-text search, export, and the
// `natter history` command. Package history/kvcache stores model KV states
// so a resumed chat need not be re-processed.
//
// Typical use by a front end:
//
//	st, _ := history.Open(path)        // or history.OpenMemory() for --no-save
//	defer st.Close()
//	id, _ := st.NewChat(ctx, history.ChatMeta{Model: ..., Sampling: &s})
//	st.AddMessage(ctx, id, userMsg, history.MessageMeta{}) // when sent
//	w, _ := st.BeginReply(ctx, id, history.ReplyMeta{Model: ...})
//	for ev := range events { w.Append(ev.Text) }  // checkpointed every 500 ms
//	w.Finish(stats)                               // or w.Interrupt()
//	if msg := st.TakeWarning(); msg != "" { show(msg) }
//
// Saving never stops a chat: if the disk refuses a write the Store carries
// on in memory and TakeWarning says so once.
package history
