package history

import (
	"context"
	"strings"
	"sync"

	"natter/engine/api"
	"natter/prompts"
)

// Recorder saves a chat as the UI reports it. Its methods match the UI's
// Recorder interface (ui.Recorder), so main passes it as Config.Recorder.
// Calls come in order from one goroutine; Recorder is safe anyway.
//
// When saving falls back to memory (full disk, read-only database) the
// call that noticed returns a *Warning once; the data was kept in memory.
type Recorder struct {
	s    *Store
	meta ChatMeta

	mu          sync.Mutex
	sess        *Session
	w           *ReplyWriter
	afterFinish func(chatID int64)
}

// AfterFinish sets a function run after each reply is saved, on the
// Recorder's caller goroutine (not the UI's): main uses it to save the KV
// state, e.g. toks, st, _ := eng.SaveState();
// kv.PutTagged(modelID, ChatTag(id), toks, st).
func (r *Recorder) AfterFinish(f func(chatID int64)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.afterFinish = f
}

// Warning is returned once by a Recorder method when history stopped being
// saved to disk (or a damaged database was replaced). The call itself
// succeeded.
type Warning struct{ Msg string }

func (w *Warning) Error() string { return strings.TrimPrefix(w.Msg, "history: ") }

// NewRecorder records a new conversation. meta gives the settings saved with
// it (persona, template, sampling); model and system prompt come with each
// NewChat call. The chat is created with its first message.
func (s *Store) NewRecorder(meta ChatMeta) *Recorder {
	return &Recorder{s: s, meta: meta, sess: s.NewSession(meta)}
}

// ResumeRecorder records into saved chat id. The returned Chat's
// PromptMessages are what the UI should show and continue (Config.Messages).
func (s *Store) ResumeRecorder(ctx context.Context, id int64) (*Recorder, *Chat, error) {
	sess, c, err := s.ResumeSession(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return &Recorder{s: s, meta: sess.meta, sess: sess}, c, nil
}

// ChatID is the chat being recorded, 0 while it has no message yet.
func (r *Recorder) ChatID() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sess.ID()
}

func (r *Recorder) done(err error) error {
	if err != nil {
		return err
	}
	if w := r.s.TakeWarning(); w != "" {
		return &Warning{Msg: w}
	}
	return nil
}

// NewChat starts a new conversation (start-up, /new, /system).
func (r *Recorder) NewChat(model, system string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endReplyLocked()
	meta := r.meta
	meta.Title = ""
	meta.Model, meta.SystemPrompt = model, system
	r.meta = meta
	r.sess = r.s.NewSession(meta)
	return r.done(nil)
}

// SetSystem changes the system prompt and persona of the chat being
// recorded in place (/system, /prompt NAME, a persona file edited on disk):
// the conversation goes on, so it stays one chat in the history.
func (r *Recorder) SetSystem(system, persona string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	meta := r.meta
	meta.SystemPrompt, meta.Persona = system, persona
	r.meta = meta
	return r.done(r.sess.SetMeta(context.Background(), meta))
}

// SetSampling saves the chat's sampling settings after /set, so resuming
// the chat restores them.
func (r *Recorder) SetSampling(s api.Sampling) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.meta.Sampling = &s
	return r.done(r.sess.SetMeta(context.Background(), r.meta))
}

// SetModel records that the chat goes on with another model (/model, or a
// resumed chat opened with a different one): later replies are saved
// under it and the listing shows it.
func (r *Recorder) SetModel(model string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.meta.Model == model {
		return nil
	}
	r.meta.Model = model
	return r.done(r.sess.SetMeta(context.Background(), r.meta))
}

// Append saves a finished message.
func (r *Recorder) Append(msg prompts.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endReplyLocked()
	_, err := r.sess.Add(context.Background(), msg, MessageMeta{Model: r.meta.Model})
	return r.done(err)
}

// Checkpoint saves the reply streamed so far. It only updates memory; the
// ReplyWriter writes it at once when a line was finished, else within the
// checkpoint interval (500 ms), so calling it often is cheap.
func (r *Recorder) Checkpoint(reply prompts.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.beginLocked(); err != nil {
		return r.done(err)
	}
	r.w.Set(reply.Content, reply.Reasoning)
	if err := r.w.SetMedia(reply.Media); err != nil {
		return r.done(err)
	}
	return r.done(r.w.SetToolCalls(reply.ToolCalls))
}

// Finish saves the whole reply. stopReason "cancelled" or "error" marks it
// interrupted.
func (r *Recorder) Finish(reply prompts.Message, stats *api.Stats, stopReason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.beginLocked(); err != nil {
		return r.done(err)
	}
	w := r.w
	r.w = nil
	w.Set(reply.Content, reply.Reasoning)
	if err := w.SetToolCalls(reply.ToolCalls); err != nil {
		w.Interrupt()
		return err
	}
	if err := w.SetMedia(reply.Media); err != nil {
		w.Interrupt()
		return err
	}
	status := StatusComplete
	if stopReason == api.StopCancelled || stopReason == "error" {
		status = StatusInterrupted
	}
	js, err := statsJSON(stats)
	if err != nil {
		return err
	}
	err = w.end(status, js)
	if hook := r.afterFinish; hook != nil && err == nil {
		id := r.sess.ID()
		r.mu.Unlock()
		hook(id)
		r.mu.Lock()
	}
	return r.done(err)
}

// Rewrite makes the saved conversation hold exactly msgs after the system
// prompt (/undo, /retry, /edit, a failed turn).
func (r *Recorder) Rewrite(msgs []prompts.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endReplyLocked()
	ctx := context.Background()
	id := r.sess.ID()
	if id == 0 {
		for _, m := range msgs {
			if _, err := r.sess.Add(ctx, m, MessageMeta{Model: r.meta.Model}); err != nil {
				return r.done(err)
			}
		}
		return r.done(nil)
	}
	return r.done(r.s.ReplaceMessages(ctx, id, msgs))
}

// Resume switches to saved chat id (/resume, the /history picker) and
// returns it for display.
func (r *Recorder) Resume(ctx context.Context, id int64) (*Chat, error) {
	sess, c, err := r.s.ResumeSession(ctx, id)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endReplyLocked()
	r.sess, r.meta = sess, sess.meta
	return c, r.done(nil)
}

// Rename sets the chat's title (/rename); before the first message it is
// kept for when the chat is created.
func (r *Recorder) Rename(title string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done(r.sess.Rename(context.Background(), title))
}

func (r *Recorder) beginLocked() error {
	if r.w != nil {
		return nil
	}
	w, err := r.sess.BeginReply(context.Background(), ReplyMeta{Model: r.meta.Model})
	if err != nil {
		return err
	}
	r.w = w
	return nil
}

// endReplyLocked closes a reply the UI never finished.
func (r *Recorder) endReplyLocked() {
	if r.w != nil {
		r.w.Interrupt()
		r.w = nil
	}
}

// Close interrupts a reply still open. The Store is closed by its owner.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endReplyLocked()
	return nil
}
