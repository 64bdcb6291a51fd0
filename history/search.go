package history

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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
	match, subs := splitQuery(query)
	if match == "" && len(subs) == 0 {
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
	subCond, subArgs := substringConds("m.content", subs)
	var q string
	var args []any
	if match != "" {
		q = `SELECT m.chat_id, c.title, m.id, m.role,
				snippet(messages_fts, 0, ?, ?, '…', 16), m.content, m.created_at
			FROM messages_fts
			JOIN messages m ON m.id = messages_fts.rowid
			JOIN chats c ON c.id = m.chat_id
			WHERE messages_fts MATCH ?` + subCond + `
			ORDER BY rank, m.id DESC LIMIT ?`
		args = append([]any{opts.Before, opts.After, match}, subArgs...)
	} else {
		// Only CJK words: a scan, newest first (no rank without FTS).
		q = `SELECT m.chat_id, c.title, m.id, m.role, '', m.content, m.created_at
			FROM messages m JOIN chats c ON c.id = m.chat_id
			WHERE 1` + subCond + `
			ORDER BY m.id DESC LIMIT ?`
		args = subArgs
	}
	args = append(args, opts.Limit)
	out := []SearchHit{}
	err := s.read(func(db *sql.DB) error {
		rows, err := db.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var h SearchHit
			var content string
			var created int64
			if err := rows.Scan(&h.ChatID, &h.Title, &h.MessageID, &h.Role, &h.Snippet, &content, &created); err != nil {
				return err
			}
			if len(subs) > 0 && (h.Snippet == "" || !strings.Contains(h.Snippet, subs[0])) {
				h.Snippet = substringSnippet(content, subs[0])
			}
			h.Snippet = markSubstrings(h.Snippet, subs, opts.Before, opts.After)
			h.CreatedAt = fromMS(created)
			out = append(out, h)
		}
		return rows.Err()
	})
	return out, err
}

// isCJKWord reports whether w holds Han, Kana or Hangul. The unicode61
// tokenizer indexes a whole run of such characters (a sentence, often) as
// one token, so "你好" would never match inside "你好世界": such words are
// matched as substrings instead (a scan of the messages, fine at the size
// of one person's history).
func isCJKWord(w string) bool {
	return strings.ContainsFunc(w, func(r rune) bool {
		return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
	})
}

// splitQuery separates the words of q into an FTS5 query (see ftsQuery)
// and the CJK words to match as substrings.
func splitQuery(q string) (match string, subs []string) {
	q = strings.ToValidUTF8(q, " ")
	var rest []string
	for _, w := range strings.Fields(q) {
		if isCJKWord(w) {
			w = strings.ReplaceAll(strings.TrimRight(w, "*"), "\x00", "")
			if w != "" {
				subs = append(subs, w)
			}
			continue
		}
		rest = append(rest, w)
	}
	return ftsQuery(strings.Join(rest, " ")), subs
}

// substringConds is " AND col LIKE ? ..." for each word, with its args.
func substringConds(col string, subs []string) (string, []any) {
	var b strings.Builder
	var args []any
	for _, w := range subs {
		b.WriteString(" AND " + col + ` LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscape(w)+"%")
	}
	return b.String(), args
}

// substringSnippet is the text around the first sub in content, about as
// long as FTS's 16-token snippets of CJK text.
func substringSnippet(content, sub string) string {
	const around = 24 // runes each side
	i := strings.Index(content, sub)
	if i < 0 {
		i = 0
	}
	start, end := i, i+len(sub)
	for n := 0; n < around && start > 0; n++ {
		_, size := utf8.DecodeLastRuneInString(content[:start])
		start -= size
	}
	for n := 0; n < around && end < len(content); n++ {
		_, size := utf8.DecodeRuneInString(content[end:])
		end += size
	}
	out := content[start:end]
	if start > 0 {
		out = "…" + out
	}
	if end < len(content) {
		out += "…"
	}
	return out
}

// markSubstrings surrounds each occurrence of the subs in s with before and
// after (longest first, so one word inside another is not marked twice).
func markSubstrings(s string, subs []string, before, after string) string {
	if before == "" && after == "" || len(subs) == 0 {
		return s
	}
	sorted := slices.Clone(subs)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	var b strings.Builder
	for i := 0; i < len(s); {
		hit := ""
		for _, w := range sorted {
			if strings.HasPrefix(s[i:], w) {
				hit = w
				break
			}
		}
		if hit == "" {
			_, size := utf8.DecodeRuneInString(s[i:])
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		b.WriteString(before + hit + after)
		i += len(hit)
	}
	return b.String()
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
