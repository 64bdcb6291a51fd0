package history

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] upgrades a database from schema version i to i+1. Released
// steps are never edited: a change to the schema is a new step appended here,
// plus a test that builds the previous version with data and migrates it.
var migrations = []func(ctx context.Context, tx *sql.Tx) error{
	migrate0to1,
	migrate1to2,
	migrate2to3,
	migrate3to4,
	migrate4to5,
}

// SchemaVersion is the schema this code writes (PRAGMA user_version).
var SchemaVersion = len(migrations)

// v1: chats and their messages.
func migrate0to1(ctx context.Context, tx *sql.Tx) error {
	return execAll(ctx, tx,
		`CREATE TABLE chats (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			title      TEXT NOT NULL DEFAULT '',
			model      TEXT NOT NULL DEFAULT '',
			created_at INTEGER NOT NULL,
			updated_at INTEGER NOT NULL
		)`,
		`CREATE TABLE messages (
			id         INTEGER PRIMARY KEY AUTOINCREMENT,
			chat_id    INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
			role       TEXT NOT NULL,
			content    TEXT NOT NULL DEFAULT '',
			created_at INTEGER NOT NULL
		)`,
		`CREATE INDEX messages_chat ON messages(chat_id, id)`,
		`CREATE INDEX chats_updated ON chats(updated_at)`,
	)
}

// v2: streaming state of replies, per-message metadata, chat settings.
func migrate1to2(ctx context.Context, tx *sql.Tx) error {
	return execAll(ctx, tx,
		`ALTER TABLE chats ADD COLUMN persona TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE chats ADD COLUMN system_prompt TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE chats ADD COLUMN template TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE chats ADD COLUMN sampling TEXT NOT NULL DEFAULT ''`,
		// 'auto' titles follow the first user message; 'user' ones were set by /rename.
		`ALTER TABLE chats ADD COLUMN title_source TEXT NOT NULL DEFAULT 'auto'`,
		`ALTER TABLE messages ADD COLUMN reasoning TEXT NOT NULL DEFAULT ''`,
		// complete | streaming | interrupted. Old rows were all finished.
		`ALTER TABLE messages ADD COLUMN status TEXT NOT NULL DEFAULT 'complete'`,
		`ALTER TABLE messages ADD COLUMN model TEXT NOT NULL DEFAULT ''`,
		// JSON of api.Stats for replies, '' otherwise.
		`ALTER TABLE messages ADD COLUMN stats TEXT NOT NULL DEFAULT ''`,
		// The Store instance writing a streaming reply, to tell a live writer
		// in another process from one that was killed.
		`ALTER TABLE messages ADD COLUMN owner TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE messages ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0`,
		`UPDATE messages SET updated_at = created_at`,
		`CREATE INDEX messages_streaming ON messages(status) WHERE status = 'streaming'`,
	)
}

// v3: full-text search over message content (external-content FTS5 table
// kept in step by triggers).
func migrate2to3(ctx context.Context, tx *sql.Tx) error {
	return execAll(ctx, tx,
		`CREATE VIRTUAL TABLE messages_fts USING fts5(
			content, content='messages', content_rowid='id',
			tokenize='unicode61 remove_diacritics 2')`,
		`CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
			INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
		END`,
		`CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
			INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
		END`,
		`CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
			INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
			INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
		END`,
		`INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')`,
	)
}

// v4: tool calling. An assistant turn's calls and a tool result's link to
// its call get their own columns, so content stays what the user saw (and
// what search indexes).
func migrate3to4(ctx context.Context, tx *sql.Tx) error {
	return execAll(ctx, tx,
		// JSON array of prompts.ToolCall, '' when the turn made none.
		`ALTER TABLE messages ADD COLUMN tool_calls TEXT NOT NULL DEFAULT ''`,
		// For role 'tool' rows: the call answered and the tool's name.
		`ALTER TABLE messages ADD COLUMN tool_call_id TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE messages ADD COLUMN tool_name TEXT NOT NULL DEFAULT ''`,
	)
}

// v5: attachments. The metadata of a message's media (JSON array of
// prompts.Attachment, without the bytes; empty when none); the bytes are
// files named by their sha256 in AttachmentDir (attachments.go).
func migrate4to5(ctx context.Context, tx *sql.Tx) error {
	return execAll(ctx, tx,
		`ALTER TABLE messages ADD COLUMN media TEXT NOT NULL DEFAULT ''`,
	)
}

func execAll(ctx context.Context, tx *sql.Tx, stmts ...string) error {
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", firstLine(q), err)
		}
	}
	return nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// ErrNewerSchema means the database was written by a newer natter.
type ErrNewerSchema struct{ Have, Want int }

func (e *ErrNewerSchema) Error() string {
	return fmt.Sprintf("history database has schema version %d, newer than this natter understands (%d)", e.Have, e.Want)
}

// migrate brings db up to version target, one transaction per step so a
// failure leaves the database at the last complete version.
func migrate(ctx context.Context, db *sql.DB, target int) error {
	for {
		var v int
		if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
			return err
		}
		if v > len(migrations) {
			return &ErrNewerSchema{Have: v, Want: len(migrations)}
		}
		if v >= target {
			return nil
		}
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		// Re-read inside the write transaction: another process may have
		// migrated while we waited for the lock.
		var again int
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&again); err != nil {
			tx.Rollback()
			return err
		}
		if again != v {
			tx.Rollback()
			continue
		}
		if err := migrations[v](ctx, tx); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrating history schema %d→%d: %w", v, v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
}
