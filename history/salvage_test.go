package history

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tableLeaves lists the leaf pages of a table whose root page is an
// interior b-tree page (SQLite's file format: page type 5, a 12-byte
// header, then the cell pointers; each cell starts with a 4-byte child).
func tableLeaves(t *testing.T, file []byte, root, pageSize int64) []int64 {
	t.Helper()
	page := file[(root-1)*pageSize : root*pageSize]
	if page[0] != 5 {
		t.Fatalf("setup: the table's root page is of type %d, not an interior table page", page[0])
	}
	n := int(binary.BigEndian.Uint16(page[3:5]))
	var out []int64
	for i := 0; i < n; i++ {
		off := binary.BigEndian.Uint16(page[12+2*i:])
		out = append(out, int64(binary.BigEndian.Uint32(page[off:])))
	}
	return append(out, int64(binary.BigEndian.Uint32(page[8:12]))) // the right-most child
}

// A history whose messages table (not just an index) lost a page keeps
// everything else: the repair salvages the rows before and after the bad
// page, and the warning says that some rows could not be read, where the
// damaged original is and how to try sqlite3's own recovery (issue 19,
// item 3: report what was recovered and what was not).
func TestDamagedTablePageSalvagesTheRest(t *testing.T) {
	clean := filepath.Join(t.TempDir(), "history.db")
	s, err := Open(clean)
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]bool{}
	var chats []int64
	for c := 0; c < 3; c++ {
		id := mustChat(t, s, ChatMeta{Title: fmt.Sprintf("chat %d", c)})
		chats = append(chats, id)
		for i := 0; i < 60; i++ {
			text := fmt.Sprintf("chat %d message %d %s", c, i, strings.Repeat("words ", 10+i%7))
			mustAdd(t, s, id, user(text))
			texts[text] = true
		}
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: clean}).EscapedPath()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var root, pageSize int64
	if err := db.QueryRow(`SELECT rootpage FROM sqlite_schema WHERE name = 'messages'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	db.QueryRow(`PRAGMA page_size`).Scan(&pageSize)
	var ids []int64
	rows, err := db.Query(`SELECT id FROM messages ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	db.Close()
	if st, err := os.Stat(clean + "-wal"); err == nil && st.Size() > 0 {
		t.Fatal("setup: the WAL was not checkpointed")
	}
	data, err := os.ReadFile(clean)
	if err != nil {
		t.Fatal(err)
	}
	leaves := tableLeaves(t, data, root, pageSize)
	if len(leaves) < 3 {
		t.Fatalf("setup: messages has only %d leaf pages", len(leaves))
	}
	for i, bad := range leaves {
		t.Run(fmt.Sprintf("leaf%d", i), func(t *testing.T) {
			page := data[(bad-1)*pageSize : bad*pageSize]
			if page[0] != 13 {
				t.Fatalf("setup: page %d is of type %d, not a table leaf", bad, page[0])
			}
			onPage := int(binary.BigEndian.Uint16(page[3:5]))
			b := append([]byte(nil), data...)
			copy(b[(bad-1)*pageSize:bad*pageSize], bytes.Repeat([]byte{0xde, 0xad}, int(pageSize)/2))
			path := filepath.Join(t.TempDir(), "history.db")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			w := s.TakeWarning()
			if !strings.Contains(w, "was damaged") || !strings.Contains(w, "some rows could not be read") ||
				!strings.Contains(w, "may be missing") || !strings.Contains(w, ".recover") {
				t.Fatalf("warning = %q", w)
			}
			if !s.Persistent() {
				t.Fatal("the repaired history is not on disk")
			}
			// Every chat is still there, with every message that was not
			// on the bad page, unchanged: exactly that page's rows are
			// missing, none of its neighbours'.
			got := 0
			recovered := map[int64]bool{}
			for _, id := range chats {
				c, err := s.Get(bg, id)
				if err != nil {
					t.Fatalf("chat %d: %v", id, err)
				}
				for _, m := range c.Messages {
					if !texts[m.Content] {
						t.Fatalf("chat %d: message %q was not in the history", id, m.Content)
					}
					got++
					recovered[m.ID] = true
				}
			}
			if got != 180-onPage {
				t.Fatalf("%d of 180 messages recovered; the damaged page held %d", got, onPage)
			}
			if !strings.Contains(w, fmt.Sprintf("recovered 3 chats and %d messages", got)) {
				t.Fatalf("the warning does not count what was recovered (%d messages): %q", got, w)
			}
			// It names the ids that could not be read: exactly the page's.
			var missing []int64
			for _, id := range ids {
				if !recovered[id] {
					missing = append(missing, id)
				}
			}
			a, z := missing[0], missing[len(missing)-1]
			want := fmt.Sprintf("messages ids %d-%d", a, z)
			switch {
			case a == ids[0]:
				want = fmt.Sprintf("messages up to id %d", z)
			case z == ids[len(ids)-1]:
				want = fmt.Sprintf("messages after id %d", a-1)
			}
			if !strings.HasSuffix(strings.SplitN(w, ". The damaged", 2)[0], ": "+want) {
				t.Fatalf("the warning does not say %q: %q", want, w)
			}
			asides, _ := filepath.Glob(path + ".corrupt-*")
			kept := false
			for _, a := range asides {
				if k, _ := os.ReadFile(a); bytes.Equal(k, b) {
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
