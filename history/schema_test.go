package history

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"natter/prompts"
)

// buildVersion creates a database at schema version v with the given
// migrations, the way natter of that version would have left it.
func buildVersion(t *testing.T, path string, v int) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if err := migrate(bg, db, v); err != nil {
		t.Fatal(err)
	}
	var got int
	db.QueryRow(`PRAGMA user_version`).Scan(&got)
	if got != v {
		t.Fatalf("built version %d, want %d", got, v)
	}
	return db
}

// seed writes data with only the columns version v has.
var seed = map[int]func(t *testing.T, db *sql.DB){
	1: func(t *testing.T, db *sql.DB) {
		mustExec(t, db, `INSERT INTO chats (id, title, model, created_at, updated_at) VALUES (7, 'old chat', 'm1', 1000, 2000)`)
		mustExec(t, db, `INSERT INTO messages (chat_id, role, content, created_at) VALUES (7, 'user', 'ancient question about lighthouses', 1000)`)
		mustExec(t, db, `INSERT INTO messages (chat_id, role, content, created_at) VALUES (7, 'assistant', 'ancient answer', 1500)`)
	},
	2: func(t *testing.T, db *sql.DB) {
		mustExec(t, db, `INSERT INTO chats (id, title, model, persona, system_prompt, created_at, updated_at) VALUES (7, 'old chat', 'm1', 'pirate', 'Arr.', 1000, 2000)`)
		mustExec(t, db, `INSERT INTO messages (chat_id, role, content, status, created_at, updated_at) VALUES (7, 'user', 'ancient question about lighthouses', 'complete', 1000, 1000)`)
		// Left streaming by a process that is long gone.
		mustExec(t, db, `INSERT INTO messages (chat_id, role, content, status, owner, created_at, updated_at) VALUES (7, 'assistant', 'ancient answer', 'streaming', '0123456789abcdef', 1500, 1500)`)
	},
	3: func(t *testing.T, db *sql.DB) {
		mustExec(t, db, `INSERT INTO chats (id, title, model, persona, system_prompt, template, created_at, updated_at) VALUES (7, 'old chat', 'm1', 'pirate', 'Arr.', 'gguf:jinja', 1000, 2000)`)
		mustExec(t, db, `INSERT INTO messages (chat_id, role, content, reasoning, status, model, stats, created_at, updated_at) VALUES (7, 'user', 'ancient question about lighthouses', '', 'complete', '', '', 1000, 1000)`)
		mustExec(t, db, `INSERT INTO messages (chat_id, role, content, reasoning, status, model, stats, created_at, updated_at) VALUES (7, 'assistant', 'ancient answer', 'hmm', 'complete', 'm1', '{"generated_tokens":3}', 1500, 1600)`)
	},
	4: func(t *testing.T, db *sql.DB) {
		mustExec(t, db, `INSERT INTO chats (id, title, model, persona, system_prompt, template, created_at, updated_at) VALUES (7, 'old chat', 'm1', 'pirate', 'Arr.', 'gguf:jinja', 1000, 2000)`)
		mustExec(t, db, `INSERT INTO messages (chat_id, role, content, status, created_at, updated_at) VALUES (7, 'user', 'ancient question about lighthouses', 'complete', 1000, 1000)`)
		mustExec(t, db, `INSERT INTO messages (chat_id, role, content, reasoning, tool_calls, status, model, stats, created_at, updated_at) VALUES (7, 'assistant', 'ancient answer', 'hmm', '[{"id":"c1","name":"look","arguments":"{}"}]', 'complete', 'm1', '{"generated_tokens":3}', 1500, 1600)`)
	},
}

func mustExec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestMigrateFromEveryVersion(t *testing.T) {
	if len(seed) != SchemaVersion-1 {
		t.Fatalf("schema is at version %d: add a seed (and test) for every version before it", SchemaVersion)
	}
	for v := 0; v < SchemaVersion; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "history.db")
			db := buildVersion(t, path, v)
			if v > 0 {
				seed[v](t, db)
			}
			db.Close()

			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if w := s.TakeWarning(); w != "" || !s.Persistent() {
				t.Fatalf("migration went wrong: persistent=%v %s", s.Persistent(), w)
			}
			var got int
			s.read(func(db *sql.DB) error { return db.QueryRow(`PRAGMA user_version`).Scan(&got) })
			if got != SchemaVersion {
				t.Fatalf("user_version after Open = %d", got)
			}
			if v == 0 {
				return
			}
			c, err := s.Get(bg, 7)
			if err != nil {
				t.Fatal(err)
			}
			if c.Title != "old chat" || c.Model != "m1" || len(c.Messages) != 2 || c.Messages[0].Content != "ancient question about lighthouses" {
				t.Fatalf("migrated chat = %+v", c)
			}
			if v == 1 && (c.Messages[1].Status != StatusComplete || c.Messages[1].UpdatedAt.UnixMilli() != 1500) {
				t.Errorf("v1 reply after migration: %+v", c.Messages[1])
			}
			if v == 2 && c.Messages[1].Status != StatusInterrupted {
				t.Errorf("abandoned v2 reply: %+v", c.Messages[1])
			}
			if v == 4 {
				// Tool turns survive; old rows have no attachments.
				a := c.Messages[1]
				if len(a.ToolCalls) != 1 || a.ToolCalls[0].Name != "look" || a.Media != nil || c.Messages[0].Media != nil {
					t.Errorf("v4 reply after migration: %+v", c.Messages)
				}
				var media string
				s.read(func(db *sql.DB) error {
					return db.QueryRow(`SELECT media FROM messages WHERE chat_id = 7 LIMIT 1`).Scan(&media)
				})
				if media != "" {
					t.Errorf("old row's media column = %q", media)
				}
			}
			if v == 3 {
				// Old turns have no tool fields and resume as they were.
				a := c.Messages[1]
				if a.ToolCalls != nil || a.ToolCallID != "" || a.Name != "" || a.Reasoning != "hmm" || a.Stats == nil || a.Stats.GeneratedTokens != 3 {
					t.Errorf("v3 reply after migration: %+v", a)
				}
				want := []prompts.Message{{Role: "system", Content: "Arr."}, user("ancient question about lighthouses"),
					{Role: "assistant", Content: "ancient answer", Reasoning: "hmm"}}
				if !equalMessages(c.PromptMessages(), want) {
					t.Errorf("v3 prompt messages = %+v", c.PromptMessages())
				}
			}
			// Old text is searchable, new writes work and are searchable.
			if hits, err := s.Search(bg, "lighthouses", SearchOptions{}); err != nil || len(hits) != 1 {
				t.Errorf("search old text: %+v %v", hits, err)
			}
			mustAdd(t, s, 7, user("a new question about lighthouses"))
			if hits, _ := s.Search(bg, "lighthouses", SearchOptions{}); len(hits) != 2 {
				t.Errorf("search after new message: %+v", hits)
			}
			id := mustChat(t, s, ChatMeta{})
			if id <= 7 {
				t.Errorf("new chat id %d reuses old ids", id)
			}
			// The migrated database keeps tool turns.
			turns := toolTurns()
			for _, m := range turns {
				mustAdd(t, s, id, m)
			}
			if c, err := s.Get(bg, id); err != nil || !equalMessages(c.PromptMessages(), turns) {
				t.Errorf("tool turns in a migrated database: %+v %v", c, err)
			}
			// And attachments, in the old chat as in new ones.
			img := attachment(prompts.MediaImage, "old.png", "png", []byte("pixels of an old chat"))
			mustAdd(t, s, 7, prompts.Message{Role: prompts.RoleUser, Content: "and this?", Media: []prompts.Attachment{img}})
			if c, err := s.Get(bg, 7); err != nil || len(c.Messages) != 4 || !sameBytes(c.Messages[3].Media, img) {
				t.Errorf("attachment in a migrated database: %+v %v", c, err)
			}
		})
	}
}

func TestNewerSchemaIsLeftAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	db := buildVersion(t, path, SchemaVersion)
	mustExec(t, db, fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion+1))
	db.Close()
	before, _ := os.ReadFile(path)

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Persistent() {
		t.Fatal("Store writes to a database from a newer natter")
	}
	if w := s.TakeWarning(); !strings.Contains(w, "newer") {
		t.Errorf("warning = %q", w)
	}
	id := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, id, user("kept in memory"))
	s.Close()
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("newer database was modified")
	}
	if _, err := os.Stat(path + ".corrupt-"); err == nil {
		t.Error("newer database moved aside")
	}
}

// Two processes starting at once must not both migrate.
func TestConcurrentMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	db := buildVersion(t, path, 1)
	seed[1](t, db)
	db.Close()
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			s, err := Open(path)
			if err == nil {
				if !s.Persistent() {
					err = fmt.Errorf("went to memory: %s", s.TakeWarning())
				}
				s.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	s, _ := Open(path)
	defer s.Close()
	if c, err := s.Get(bg, 7); err != nil || len(c.Messages) != 2 {
		t.Errorf("after concurrent migration: %+v %v", c, err)
	}
}
