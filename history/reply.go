package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"natter/engine/api"
	"natter/prompts"
)

// ReplyWriter saves an assistant reply while it streams. Append never waits
// for the database: text is checkpointed as soon as a line is finished, and
// otherwise by a timer at most Options.CheckpointInterval after it arrives,
// so a process killed mid-reply loses at most the current line (or that
// interval's text). A reply never finished by Finish or Interrupt is
// marked interrupted by the next Store that opens the database.
type ReplyWriter struct {
	s        *Store
	id       int64
	chatID   int64
	interval time.Duration

	flushMu sync.Mutex // one database write at a time, in order

	mu        sync.Mutex
	content   strings.Builder
	reasoning strings.Builder
	toolCalls string // the tool_calls column (JSON), '' when none
	media     string // the media column (JSON), '' when none
	mediaRaw  string // JSON of the attachments last given, to skip re-checking them
	atts      []prompts.Attachment
	dirty     bool
	done      bool
	timer     *time.Timer
	lastFlush time.Time
	err       error // last checkpoint failure
}

// ReplyMeta is saved with a reply when it starts.
type ReplyMeta struct {
	Model string
}

// BeginReply starts an assistant reply in chatID; it is saved (empty, status
// streaming) at once.
func (s *Store) BeginReply(ctx context.Context, chatID int64, meta ReplyMeta) (*ReplyWriter, error) {
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := nowMS()
		if err := touchChat(ctx, tx, chatID, now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO messages
			(chat_id, role, content, status, model, owner, created_at, updated_at)
			VALUES (?, 'assistant', '', 'streaming', ?, ?, ?, ?)`,
			chatID, meta.Model, s.owner, now, now)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return nil, err
	}
	w := &ReplyWriter{s: s, id: id, chatID: chatID, interval: s.opts.CheckpointInterval, lastFlush: time.Now()}
	s.mu.Lock()
	s.writers[w] = struct{}{}
	s.mu.Unlock()
	return w, nil
}

// ID is the reply's message id.
func (w *ReplyWriter) ID() int64 { return w.id }

// Set replaces the whole reply text so far (for callers that hold the
// full text rather than pieces).
func (w *ReplyWriter) Set(content, reasoning string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || (content == w.content.String() && reasoning == w.reasoning.String()) {
		return
	}
	lines := strings.Count(w.content.String(), "\n") + strings.Count(w.reasoning.String(), "\n")
	w.content.Reset()
	w.content.WriteString(content)
	w.reasoning.Reset()
	w.reasoning.WriteString(reasoning)
	w.scheduleLocked(strings.Count(content, "\n")+strings.Count(reasoning, "\n") != lines)
}

// SetToolCalls replaces the tool calls the reply makes. They are saved at
// once, like a finished line: a call is only worth keeping whole.
func (w *ReplyWriter) SetToolCalls(calls []prompts.ToolCall) error {
	js, err := toolCallsJSON(calls)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || js == w.toolCalls {
		return nil
	}
	w.toolCalls = js
	w.scheduleLocked(true)
	return nil
}

// SetMedia replaces the reply's attachments (a model or tool that returns
// an image). Checked and saved at once, like tool calls.
func (w *ReplyWriter) SetMedia(atts []prompts.Attachment) error {
	// Hashing the bytes again on every checkpoint would be costly: the
	// metadata unchanged means the same attachments.
	raw := ""
	if len(atts) > 0 {
		b, err := json.Marshal(atts)
		if err != nil {
			return err
		}
		raw = string(b)
	}
	w.mu.Lock()
	same := w.done || raw == w.mediaRaw
	w.mu.Unlock()
	if same {
		return nil
	}
	norm, media, err := prepareMedia(atts)
	if err != nil {
		return err
	}
	w.s.preWrite(norm)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.mediaRaw, w.media, w.atts = raw, media, norm
	w.scheduleLocked(true)
	return nil
}

// Append adds reply text.
func (w *ReplyWriter) Append(text string) { w.add(&w.content, text) }

// AppendReasoning adds thinking text (kept apart from the reply).
func (w *ReplyWriter) AppendReasoning(text string) { w.add(&w.reasoning, text) }

func (w *ReplyWriter) add(b *strings.Builder, text string) {
	if text == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	b.WriteString(text)
	w.scheduleLocked(strings.Contains(text, "\n"))
}

// scheduleLocked arranges a checkpoint: at the latest one interval after
// the last, and at once when a line was finished, so a process killed
// mid-reply loses at most the line being written.
func (w *ReplyWriter) scheduleLocked(lineDone bool) {
	if w.dirty {
		if lineDone && w.timer != nil && w.timer.Stop() {
			w.timer = time.AfterFunc(0, w.checkpoint)
		}
		return // a checkpoint is already pending
	}
	w.dirty = true
	d := w.interval - time.Since(w.lastFlush)
	if d < 0 || lineDone {
		d = 0
	}
	w.timer = time.AfterFunc(d, w.checkpoint)
}

// checkpoint runs on the timer's goroutine.
func (w *ReplyWriter) checkpoint() {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	if w.done || !w.dirty {
		w.mu.Unlock()
		return
	}
	snap := w.snapshotLocked()
	w.dirty = false
	w.lastFlush = time.Now()
	w.mu.Unlock()

	err := w.save(snap, StatusStreaming, "")

	w.mu.Lock()
	w.err = err
	if err != nil && !w.done {
		w.scheduleLocked(false) // try again later
	}
	w.mu.Unlock()
}

// replySnap is what a checkpoint writes.
type replySnap struct {
	content, reasoning, calls, media string
	atts                             []prompts.Attachment
}

func (w *ReplyWriter) snapshotLocked() replySnap {
	return replySnap{w.content.String(), w.reasoning.String(), w.toolCalls, w.media, w.atts}
}

func (w *ReplyWriter) save(r replySnap, status, stats string) error {
	ctx := context.Background()
	return w.s.write(ctx, func(tx *sql.Tx) error {
		now := nowMS()
		if err := w.s.putBlobsLocked(r.atts); err != nil {
			return err
		}
		q := `UPDATE messages SET content = ?, reasoning = ?, tool_calls = ?, media = ?, status = ?, updated_at = ? WHERE id = ?`
		args := []any{r.content, r.reasoning, r.calls, r.media, status, now, w.id}
		if stats != "" {
			q = `UPDATE messages SET content = ?, reasoning = ?, tool_calls = ?, media = ?, status = ?, updated_at = ?, stats = ? WHERE id = ?`
			args = []any{r.content, r.reasoning, r.calls, r.media, status, now, stats, w.id}
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE chats SET updated_at = ? WHERE id = ?`, now, w.chatID)
		return err
	})
}

// Flush checkpoints now.
func (w *ReplyWriter) Flush() error {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return nil
	}
	if !w.dirty {
		err := w.err
		w.mu.Unlock()
		return err
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	w.checkpoint()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Finish saves the whole reply with its stats. A reply whose generation was
// cancelled (StopReason "cancelled") is saved as interrupted.
func (w *ReplyWriter) Finish(stats *api.Stats) error {
	status := StatusComplete
	if stats != nil && stats.StopReason == api.StopCancelled {
		status = StatusInterrupted
	}
	js, err := statsJSON(stats)
	if err != nil {
		return err
	}
	return w.end(status, js)
}

// Interrupt saves what was received and marks the reply interrupted (the
// user stopped it or generation failed).
func (w *ReplyWriter) Interrupt() error { return w.end(StatusInterrupted, "") }

func (w *ReplyWriter) end(status, stats string) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return nil
	}
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
	snap := w.snapshotLocked()
	w.mu.Unlock()

	err := w.save(snap, status, stats)
	w.s.mu.Lock()
	delete(w.s.writers, w)
	w.s.mu.Unlock()
	return err
}

// Content is the reply text so far.
func (w *ReplyWriter) Content() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.content.String()
}
