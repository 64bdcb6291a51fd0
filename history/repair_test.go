package history

import (
	"bytes"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damagedHistory writes a real history with 3 chats of 60 messages each,
// then damages the root page of the messages_chat index with damage (the
// table pages stay intact, so every row is still readable, as the issue's
// sqlite3 could). It returns the path and the expected chat contents.
func damagedHistory(t *testing.T, damage func(page []byte)) (string, map[int64][]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64][]string{}
	for c := 0; c < 3; c++ {
		id := mustChat(t, s, ChatMeta{Title: fmt.Sprintf("chat %d", c)})
		for i := 0; i < 60; i++ {
			text := fmt.Sprintf("chat %d message %d %s", c, i, strings.Repeat("words ", i%7))
			mustAdd(t, s, id, user(text))
			want[id] = append(want[id], text)
		}
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var root, pageSize int64
	if err := db.QueryRow(`SELECT rootpage FROM sqlite_schema WHERE name = 'messages_chat'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	db.QueryRow(`PRAGMA page_size`).Scan(&pageSize)
	db.Close()
	if _, err := os.Stat(path + "-wal"); err == nil {
		if st, _ := os.Stat(path + "-wal"); st.Size() > 0 {
			t.Fatal("the WAL was not checkpointed; the damage would not be where it is meant to be")
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damage(b[(root-1)*pageSize : root*pageSize])
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// The damage is real (the integrity check fails) and confined to the
	// index (every message is still readable from the table).
	db, _ = sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro")
	defer db.Close()
	var check string
	db.QueryRow(`PRAGMA quick_check`).Scan(&check)
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM messages NOT INDEXED`).Scan(&n); err != nil || n != 180 || check == "ok" {
		t.Fatalf("setup: quick_check %q, %d messages readable (%v)", check, n, err)
	}
	return path, want
}

func checkAllThere(t *testing.T, s *Store, want map[int64][]string) {
	t.Helper()
	l, err := s.List(bg, 0)
	if err != nil || len(l) != len(want) {
		t.Fatalf("%d chats listed (%v), want %d", len(l), err, len(want))
	}
	for id, texts := range want {
		c, err := s.Get(bg, id)
		if err != nil {
			t.Fatalf("chat %d: %v", id, err)
		}
		if len(c.Messages) != len(texts) {
			t.Fatalf("chat %d: %d messages, want %d", id, len(c.Messages), len(texts))
		}
		for i, m := range c.Messages {
			if m.Content != texts[i] {
				t.Fatalf("chat %d message %d = %q, want %q", id, i, m.Content, texts[i])
			}
		}
	}
}

// A history damaged in an index page keeps every chat: a command that
// writes repairs it (REINDEX or row-by-row salvage), keeps the damaged
// original, and says what it did and how to recover by hand; a read-only
// command shows everything and changes nothing (issue 19, item 3).
func TestDamagedIndexPageLosesNothing(t *testing.T) {
	for name, damage := range map[string]func(page []byte){
		// Cell bytes changed: the index no longer matches the table.
		"entries": func(p []byte) {
			for i := len(p) - 400; i < len(p)-8; i += 9 {
				p[i] ^= 0x5a
			}
		},
		// The whole page overwritten: not even a b-tree page any more.
		"page": func(p []byte) { copy(p, bytes.Repeat([]byte{0xde, 0xad}, len(p)/2)) },
	} {
		t.Run(name, func(t *testing.T) {
			path, want := damagedHistory(t, damage)
			orig, _ := os.ReadFile(path)

			ro, err := OpenOptions(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			w := ro.TakeWarning()
			checkAllThere(t, ro, want)
			ro.Close()
			if !strings.Contains(w, "is damaged") || !strings.Contains(w, "recovered 3 chats and 180 messages") || !strings.Contains(w, ".recover") {
				t.Fatalf("read-only warning = %q", w)
			}
			if now, _ := os.ReadFile(path); !bytes.Equal(now, orig) {
				t.Fatal("a read-only open changed the damaged file")
			}
			if a, _ := filepath.Glob(path + ".*"); len(a) != 0 {
				t.Fatalf("a read-only open left files: %v", a)
			}

			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			w = s.TakeWarning()
			t.Log(w)
			if !strings.Contains(w, "was damaged") || !strings.Contains(w, "sqlite3") ||
				!strings.Contains(w, "nothing was lost") && !strings.Contains(w, "recovered 3 chats and 180 messages; every row") {
				t.Fatalf("warning = %q", w)
			}
			if !s.Persistent() {
				t.Fatal("the repaired history is not on disk")
			}
			checkAllThere(t, s, want)
			if hits, err := s.Search(bg, "message", SearchOptions{}); err != nil || len(hits) == 0 {
				t.Fatalf("search after repair: %d hits, %v", len(hits), err)
			}
			asides, _ := filepath.Glob(path + ".corrupt-*")
			kept := false
			for _, a := range asides {
				if b, _ := os.ReadFile(a); bytes.Equal(b, orig) {
					kept = true
				}
			}
			if !kept {
				t.Fatalf("the damaged original was not kept: %v", asides)
			}
			var check string
			s.read(func(db *sql.DB) error { return db.QueryRow(`PRAGMA quick_check`).Scan(&check) })
			if check != "ok" {
				t.Fatalf("repaired database: quick_check %q", check)
			}
		})
	}
}
