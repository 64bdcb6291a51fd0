package history

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"natter/engine/api"
	"natter/prompts"
)

// Message statuses.
const (
	StatusComplete    = "complete"
	StatusStreaming   = "streaming"   // a reply being written right now
	StatusInterrupted = "interrupted" // a reply cut short (cancelled or the process died)
)

// ErrNotFound: no chat with that id.
var ErrNotFound = errors.New("no such chat")

// ChatMeta is what a chat is started with.
type ChatMeta struct {
	Title        string // optional: "" derives it from the first user message
	Model        string // model name (or file) used
	Persona      string
	SystemPrompt string
	Template     string // formatter name, e.g. "gguf:jinja"
	Sampling     *api.Sampling
}

// ChatSummary is one row of a listing. JSON field names are stable.
type ChatSummary struct {
	ID           int64     `json:"id"`
	Title        string    `json:"title"`
	Model        string    `json:"model"`
	Persona      string    `json:"persona"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	MessageCount int       `json:"message_count"`
}

// Chat is a whole conversation. JSON field names are stable.
type Chat struct {
	ID           int64         `json:"id"`
	Title        string        `json:"title"`
	Model        string        `json:"model"`
	Persona      string        `json:"persona"`
	SystemPrompt string        `json:"system_prompt"`
	Template     string        `json:"template"`
	Sampling     *api.Sampling `json:"sampling,omitempty"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
	Messages     []Message     `json:"messages"`
}

// Message is one saved turn. JSON field names are stable.
type Message struct {
	ID        int64  `json:"id"`
	Role      string `json:"role"`
	Content   string `json:"content"`
	Reasoning string `json:"reasoning_content,omitempty"`
	// ToolCalls are an assistant turn's calls; ToolCallID and Name tie a
	// role "tool" message (a result) to its call.
	ToolCalls  []prompts.ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string             `json:"tool_call_id,omitempty"`
	Name       string             `json:"name,omitempty"`
	// Media are the turn's attachments, with their bytes loaded (see
	// Attachment.Missing).
	Media     []Attachment `json:"media,omitempty"`
	Status    string       `json:"status"`
	Model     string       `json:"model,omitempty"`
	Stats     *api.Stats   `json:"stats,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// MessageMeta is optional data saved with a message.
type MessageMeta struct {
	Model string
	Stats *api.Stats
}

// PromptMessages turns the chat back into what the engine takes: the system
// prompt (if any) then every turn with content, partial replies included
// since the user saw them. Tool calls and tool results are kept even when
// empty: a call without its result (or the reverse) breaks the exchange.
// Attachments whose bytes are missing come with nil Data
// (MissingAttachments lists them).
func (c *Chat) PromptMessages() []prompts.Message {
	var out []prompts.Message
	if c.SystemPrompt != "" {
		out = append(out, prompts.Message{Role: prompts.RoleSystem, Content: c.SystemPrompt})
	}
	for _, m := range c.Messages {
		if m.Content == "" && m.Reasoning == "" && len(m.ToolCalls) == 0 && len(m.Media) == 0 && m.Role != prompts.RoleTool {
			continue
		}
		out = append(out, m.prompt())
	}
	return out
}

func (m Message) prompt() prompts.Message {
	var media []prompts.Attachment
	for _, a := range m.Media {
		media = append(media, a.Attachment)
	}
	return prompts.Message{Role: m.Role, Content: m.Content, Reasoning: m.Reasoning,
		ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID, Name: m.Name, Media: media}
}

func nowMS() int64 { return time.Now().UnixMilli() }

func fromMS(ms int64) time.Time { return time.UnixMilli(ms) }

// NewChat starts a chat and returns its id.
func (s *Store) NewChat(ctx context.Context, meta ChatMeta) (int64, error) {
	sampling := ""
	if meta.Sampling != nil {
		b, err := json.Marshal(meta.Sampling)
		if err != nil {
			return 0, err
		}
		sampling = string(b)
	}
	title, source := cleanTitle(meta.Title), "auto"
	if title != "" {
		source = "user"
	}
	var id int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := nowMS()
		res, err := tx.ExecContext(ctx, `INSERT INTO chats
			(title, title_source, model, persona, system_prompt, template, sampling, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			title, source, meta.Model, meta.Persona, meta.SystemPrompt, meta.Template, sampling, now, now)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, err
}

// AddMessage saves a finished message (typically the user's, as soon as it
// is sent) and returns its id. The first user message names an untitled chat.
func (s *Store) AddMessage(ctx context.Context, chatID int64, m prompts.Message, meta MessageMeta) (int64, error) {
	if m.Role == "" {
		return 0, errors.New("history: message has no role")
	}
	stats, err := statsJSON(meta.Stats)
	if err != nil {
		return 0, err
	}
	calls, err := toolCallsJSON(m.ToolCalls)
	if err != nil {
		return 0, err
	}
	atts, media, err := prepareMedia(m.Media)
	if err != nil {
		return 0, err
	}
	s.preWrite(atts)
	var id int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		now := nowMS()
		if err := touchChat(ctx, tx, chatID, now); err != nil {
			return err
		}
		// The bytes first: a row never refers to a blob not yet stored.
		if err := s.putBlobsLocked(atts); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO messages
			(chat_id, role, content, reasoning, tool_calls, tool_call_id, tool_name, media, status, model, stats, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'complete', ?, ?, ?, ?)`,
			chatID, m.Role, m.Content, m.Reasoning, calls, m.ToolCallID, m.Name, media, meta.Model, stats, now, now)
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		if m.Role == prompts.RoleUser {
			_, err = tx.ExecContext(ctx, `UPDATE chats SET title = ?
				WHERE id = ? AND title = '' AND title_source = 'auto'`, TitleFrom(m.Content), chatID)
		}
		return err
	})
	return id, err
}

// touchChat bumps updated_at, failing with ErrNotFound for an unknown chat.
func touchChat(ctx context.Context, tx *sql.Tx, chatID, now int64) error {
	res, err := tx.ExecContext(ctx, `UPDATE chats SET updated_at = ? WHERE id = ?`, now, chatID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("chat %d: %w", chatID, ErrNotFound)
	}
	return nil
}

func statsJSON(st *api.Stats) (string, error) {
	if st == nil {
		return "", nil
	}
	b, err := json.Marshal(st)
	return string(b), err
}

// toolCallsJSON is the tool_calls column: a JSON array, empty when none.
func toolCallsJSON(calls []prompts.ToolCall) (string, error) {
	if len(calls) == 0 {
		return "", nil
	}
	b, err := json.Marshal(calls)
	return string(b), err
}

// parseToolCalls reads the tool_calls column; unreadable JSON (a damaged
// row) gives no calls rather than no chat, as with stats.
func parseToolCalls(s string) []prompts.ToolCall {
	if s == "" {
		return nil
	}
	var calls []prompts.ToolCall
	if json.Unmarshal([]byte(s), &calls) != nil {
		return nil
	}
	return calls
}

// UpdateChat replaces a chat's settings (model, persona, system prompt,
// template, sampling) after a change mid-chat; the title is left alone.
func (s *Store) UpdateChat(ctx context.Context, chatID int64, meta ChatMeta) error {
	sampling := ""
	if meta.Sampling != nil {
		b, err := json.Marshal(meta.Sampling)
		if err != nil {
			return err
		}
		sampling = string(b)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := touchChat(ctx, tx, chatID, nowMS()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE chats SET model = ?, persona = ?, system_prompt = ?, template = ?, sampling = ?
			WHERE id = ?`, meta.Model, meta.Persona, meta.SystemPrompt, meta.Template, sampling, chatID)
		return err
	})
}

// ReplaceMessages makes chatID hold exactly msgs (after /undo, /retry,
// /edit). Messages that stay the same keep their ids, stats and times.
// Blobs only the removed messages referred to are deleted.
func (s *Store) ReplaceMessages(ctx context.Context, chatID int64, msgs []prompts.Message) error {
	// Check every attachment before anything is written.
	type want struct {
		atts  []prompts.Attachment
		media string
	}
	wants := make([]want, len(msgs))
	var all []prompts.Attachment
	for i, m := range msgs {
		atts, media, err := prepareMedia(m.Media)
		if err != nil {
			return err
		}
		wants[i] = want{atts, media}
		all = append(all, atts...)
	}
	s.preWrite(all)
	var removed []string
	err := s.write(ctx, func(tx *sql.Tx) error {
		removed = nil
		now := nowMS()
		if err := touchChat(ctx, tx, chatID, now); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, role, content, reasoning, tool_calls, tool_call_id, tool_name, media
			FROM messages WHERE chat_id = ? ORDER BY id`, chatID)
		if err != nil {
			return err
		}
		type row struct {
			id    int64
			msg   prompts.Message
			media string
		}
		var have []row
		for rows.Next() {
			var r row
			var calls string
			if err := rows.Scan(&r.id, &r.msg.Role, &r.msg.Content, &r.msg.Reasoning, &calls, &r.msg.ToolCallID, &r.msg.Name, &r.media); err != nil {
				rows.Close()
				return err
			}
			r.msg.ToolCalls = parseToolCalls(calls)
			r.msg.Media = parseMedia(r.media)
			have = append(have, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		keep := 0
		for keep < len(have) && keep < len(msgs) {
			// Tool fields count too: a result answering another call,
			// or a call with other arguments, is a new row; so do the
			// attachments (prompts.Message.Equal does not compare them).
			if !have[keep].msg.Equal(msgs[keep]) || !sameMedia(have[keep].msg.Media, wants[keep].atts) {
				break
			}
			keep++
		}
		if keep < len(have) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE chat_id = ? AND id >= ?`, chatID, have[keep].id); err != nil {
				return err
			}
			for _, r := range have[keep:] {
				if r.media != "" {
					removed = append(removed, r.media)
				}
			}
		}
		// All of them, kept rows' too: a blob deleted from disk comes
		// back when its bytes are at hand again.
		if err := s.putBlobsLocked(all); err != nil {
			return err
		}
		for i, m := range msgs[keep:] {
			if m.Role == "" {
				return errors.New("history: message has no role")
			}
			calls, err := toolCallsJSON(m.ToolCalls)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO messages
				(chat_id, role, content, reasoning, tool_calls, tool_call_id, tool_name, media, status, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'complete', ?, ?)`,
				chatID, m.Role, m.Content, m.Reasoning, calls, m.ToolCallID, m.Name, wants[keep+i].media, now, now); err != nil {
				return err
			}
		}
		first := ""
		for _, m := range msgs {
			if m.Role == prompts.RoleUser {
				first = m.Content
				break
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE chats SET title = ? WHERE id = ? AND title_source = 'auto'`, TitleFrom(first), chatID)
		return err
	})
	if err == nil {
		s.collectGarbage(ctx, mediaSums(removed))
	}
	return err
}

// Rename sets a chat's title. An empty title goes back to the one derived
// from the first user message.
func (s *Store) Rename(ctx context.Context, chatID int64, title string) error {
	title = cleanTitle(title)
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := touchChat(ctx, tx, chatID, nowMS()); err != nil {
			return err
		}
		if title != "" {
			_, err := tx.ExecContext(ctx, `UPDATE chats SET title = ?, title_source = 'user' WHERE id = ?`, title, chatID)
			return err
		}
		var first sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT content FROM messages
			WHERE chat_id = ? AND role = 'user' ORDER BY id LIMIT 1`, chatID).Scan(&first)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE chats SET title = ?, title_source = 'auto' WHERE id = ?`,
			TitleFrom(first.String), chatID)
		return err
	})
}

// Delete removes a chat and all its messages, and the attachments no other
// chat refers to, then calls the OnDelete hook.
func (s *Store) Delete(ctx context.Context, chatID int64) error {
	var media []string
	err := s.write(ctx, func(tx *sql.Tx) error {
		media = nil
		rows, err := tx.QueryContext(ctx, `SELECT media FROM messages WHERE chat_id = ? AND media != ''`, chatID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return err
			}
			media = append(media, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM chats WHERE id = ?`, chatID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("chat %d: %w", chatID, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.collectGarbage(ctx, mediaSums(media))
	s.mu.Lock()
	hook := s.onDelete
	s.mu.Unlock()
	if hook != nil {
		hook(chatID)
	}
	return nil
}

// OnDelete sets a function called after a chat is deleted, e.g. to remove
// its saved KV states: kv.RemoveTag(history.ChatTag(id)).
func (s *Store) OnDelete(f func(chatID int64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onDelete = f
}

// ChatTag is the kvcache tag for a chat's KV states.
func ChatTag(chatID int64) string { return fmt.Sprintf("chat:%d", chatID) }

// List returns chats, most recently updated first; limit <= 0 means all.
func (s *Store) List(ctx context.Context, limit int) ([]ChatSummary, error) {
	return s.listWhere(ctx, "", limit)
}

// FindChats is for a searchable picker: chats whose title or any message
// matches query (every word, as in Search), most recently updated first.
// An empty query lists all chats.
func (s *Store) FindChats(ctx context.Context, query string, limit int) ([]ChatSummary, error) {
	if strings.TrimSpace(query) == "" {
		return s.List(ctx, limit)
	}
	match, subs := splitQuery(query)
	if match == "" && len(subs) == 0 {
		return []ChatSummary{}, nil
	}
	// Title: every word as a case-insensitive substring.
	var conds []string
	var args []any
	for _, w := range strings.Fields(strings.ToValidUTF8(query, " ")) {
		w = strings.Trim(w, "*")
		if w == "" {
			continue
		}
		conds = append(conds, `c.title LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscape(w)+"%")
	}
	titleCond := "0"
	if len(conds) > 0 {
		titleCond = strings.Join(conds, " AND ")
	}
	subCond, subArgs := substringConds("m.content", subs)
	var inMessages string
	if match != "" {
		inMessages = `SELECT m.chat_id FROM messages_fts
			JOIN messages m ON m.id = messages_fts.rowid WHERE messages_fts MATCH ?` + subCond
		args = append(args, match)
	} else {
		inMessages = `SELECT m.chat_id FROM messages m WHERE 1` + subCond
	}
	where := `WHERE (` + titleCond + `) OR c.id IN (` + inMessages + `)`
	return s.listWhere(ctx, where, limit, append(args, subArgs...)...)
}

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func (s *Store) listWhere(ctx context.Context, where string, limit int, args ...any) ([]ChatSummary, error) {
	if limit <= 0 {
		limit = -1
	}
	out := []ChatSummary{}
	err := s.read(func(db *sql.DB) error {
		rows, err := db.QueryContext(ctx, `SELECT c.id, c.title, c.model, c.persona, c.created_at, c.updated_at,
				(SELECT count(*) FROM messages m WHERE m.chat_id = c.id)
			FROM chats c `+where+` ORDER BY c.updated_at DESC, c.id DESC LIMIT ?`, append(args, limit)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c ChatSummary
			var created, updated int64
			if err := rows.Scan(&c.ID, &c.Title, &c.Model, &c.Persona, &created, &updated, &c.MessageCount); err != nil {
				return err
			}
			c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// Latest returns the most recently updated chat that has messages (for
// `natter -c`), or ErrNotFound when there is none.
func (s *Store) Latest(ctx context.Context) (*Chat, error) {
	var id int64
	err := s.read(func(db *sql.DB) error {
		return db.QueryRowContext(ctx, `SELECT id FROM chats c
			WHERE EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = c.id)
			ORDER BY updated_at DESC, id DESC LIMIT 1`).Scan(&id)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// Get loads a chat with all its messages, attachments' bytes included (a
// blob missing or damaged on disk leaves that attachment's Data nil and
// Missing set, and the chat loads). Replies left streaming by a process
// that has died are marked interrupted first.
func (s *Store) Get(ctx context.Context, chatID int64) (*Chat, error) {
	s.sweep(ctx)
	var c Chat
	err := s.read(func(db *sql.DB) error {
		var created, updated int64
		var sampling string
		err := db.QueryRowContext(ctx, `SELECT id, title, model, persona, system_prompt, template, sampling, created_at, updated_at
			FROM chats WHERE id = ?`, chatID).Scan(&c.ID, &c.Title, &c.Model, &c.Persona, &c.SystemPrompt, &c.Template, &sampling, &created, &updated)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("chat %d: %w", chatID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
		if sampling != "" {
			var sm api.Sampling
			if json.Unmarshal([]byte(sampling), &sm) == nil {
				c.Sampling = &sm
			}
		}
		rows, err := db.QueryContext(ctx, `SELECT id, role, content, reasoning, tool_calls, tool_call_id, tool_name,
				media, status, model, stats, created_at, updated_at
			FROM messages WHERE chat_id = ? ORDER BY id`, chatID)
		if err != nil {
			return err
		}
		defer rows.Close()
		c.Messages = []Message{}
		for rows.Next() {
			var m Message
			var stats, calls, media string
			if err := rows.Scan(&m.ID, &m.Role, &m.Content, &m.Reasoning, &calls, &m.ToolCallID, &m.Name,
				&media, &m.Status, &m.Model, &stats, &created, &updated); err != nil {
				return err
			}
			m.ToolCalls = parseToolCalls(calls)
			for _, a := range parseMedia(media) {
				m.Media = append(m.Media, Attachment{Attachment: a})
			}
			m.CreatedAt, m.UpdatedAt = fromMS(created), fromMS(updated)
			if stats != "" {
				var st api.Stats
				if json.Unmarshal([]byte(stats), &st) == nil {
					m.Stats = &st
				}
			}
			c.Messages = append(c.Messages, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	s.loadMedia(c.Messages)
	return &c, nil
}

// sweep marks as interrupted the streaming replies whose writer is gone.
func (s *Store) sweep(ctx context.Context) {
	if s.path == "" {
		return
	}
	var owners []string
	s.read(func(db *sql.DB) error {
		rows, err := db.QueryContext(ctx, `SELECT DISTINCT owner FROM messages WHERE status = 'streaming' AND owner != ?`, s.owner)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var o string
			if rows.Scan(&o) == nil {
				owners = append(owners, o)
			}
		}
		return rows.Err()
	})
	for _, o := range owners {
		if ownerAlive(s.path, o) {
			continue
		}
		s.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE messages SET status = 'interrupted'
				WHERE status = 'streaming' AND owner = ?`, o)
			return err
		})
	}
}

const maxTitleRunes = 60

// TitleFrom derives a chat title from its first user message: the first
// non-empty line, whitespace collapsed, cut to 60 characters.
func TitleFrom(text string) string {
	text = strings.ToValidUTF8(text, "�")
	for _, line := range strings.Split(text, "\n") {
		if t := cleanTitle(line); t != "" {
			return t
		}
	}
	return ""
}

func cleanTitle(s string) string {
	s = strings.ToValidUTF8(s, "�")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if utf8.RuneCountInString(s) > maxTitleRunes {
		r := []rune(s)
		s = strings.TrimSpace(string(r[:maxTitleRunes-1])) + "…"
	}
	return s
}
