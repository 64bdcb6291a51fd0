package history

import (
	"context"
	"database/sql"
	"strings"
	"time"
	"unicode"
)

// SearchHit is one matching message. JSON field names are stable.
type SearchHit struct {
	ChatID    int64     `json:"chat_id"`
	Title     string    `json:"title"`
	MessageID int64     `json:"message_id"`
	Role      string    `json:"role"`
	Snippet   string    `json:"snippet"`
	CreatedAt time.Time `json:"created_at"`
}

// SearchOptions tune Search. Before and After surround matched words in
// snippets (default "**" and "**").
type SearchOptions struct {
	Limit         int // default 50
	Before, After string
	// NoMarks: plain snippets, matches not marked (output to a pipe).
	NoMarks bool
}

// Search finds messages containing every word of query (full-text, case and
// accent insensitive; a word ending in * matches as a prefix), best matches
// first. Any user text is safe: punctuation is never read as FTS syntax.
func (s *Store) Search(ctx context.Context, query string, opts SearchOptions) ([]SearchHit, error) {
	match := ftsQuery(query)
	if match == "" {
		return []SearchHit{}, nil
	}
	if opts.Limit <= 0 {
		opts.Limit = 50
	}
	if opts.NoMarks {
		opts.Before, opts.After = "", ""
	} else if opts.Before == "" && opts.After == "" {
		opts.Before, opts.After = "**", "**"
	}
	out := []SearchHit{}
	err := s.read(func(db *sql.DB) error {
		rows, err := db.QueryContext(ctx, `SELECT m.chat_id, c.title, m.id, m.role,
				snippet(messages_fts, 0, ?, ?, '…', 16), m.created_at
			FROM messages_fts
			JOIN messages m ON m.id = messages_fts.rowid
			JOIN chats c ON c.id = m.chat_id
			WHERE messages_fts MATCH ?
			ORDER BY rank, m.id DESC LIMIT ?`, opts.Before, opts.After, match, opts.Limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h SearchHit
			var created int64
			if err := rows.Scan(&h.ChatID, &h.Title, &h.MessageID, &h.Role, &h.Snippet, &created); err != nil {
				return err
			}
			h.CreatedAt = fromMS(created)
			out = append(out, h)
		}
		return rows.Err()
	})
	return out, err
}

// ftsQuery turns free text into an FTS5 query: each word becomes a quoted
// string (so quotes, parentheses, AND/OR/NEAR, colons and dashes are plain
// text), all words required. Words with no letter or digit are dropped.
func ftsQuery(q string) string {
	q = strings.ToValidUTF8(q, " ")
	var terms []string
	for _, w := range strings.Fields(q) {
		prefix := false
		if len(w) > 1 && strings.HasSuffix(w, "*") {
			w, prefix = strings.TrimRight(w, "*"), true
		}
		if !strings.ContainsFunc(w, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }) {
			continue
		}
		// NUL ends a C string inside SQLite; drop it.
		w = strings.ReplaceAll(w, "\x00", "")
		t := `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
		if prefix {
			t += "*"
		}
		terms = append(terms, t)
	}
	return strings.Join(terms, " ")
}
