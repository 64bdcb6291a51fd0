package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"natter/engine/api"
	"natter/prompts"
)

var bg = context.Background()

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "natter", "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if w := s.TakeWarning(); w != "" {
		t.Fatalf("unexpected warning on a fresh database: %s", w)
	}
	if !s.Persistent() {
		t.Fatal("fresh database is not persistent")
	}
	for _, p := range []string{path, path + "-wal", filepath.Dir(path)} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm()&0o077 != 0 {
			t.Fatalf("%s: mode %v, %v (chats must be private)", p, st.Mode(), err)
		}
	}
	return s, path
}

func user(text string) prompts.Message { return prompts.Message{Role: prompts.RoleUser, Content: text} }

func mustChat(t *testing.T, s *Store, meta ChatMeta) int64 {
	t.Helper()
	id, err := s.NewChat(bg, meta)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustAdd(t *testing.T, s *Store, chat int64, m prompts.Message) int64 {
	t.Helper()
	id, err := s.AddMessage(bg, chat, m, MessageMeta{})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/data/x")
	if p, _ := DefaultPath(); p != "/data/x/natter/history.db" {
		t.Errorf("DefaultPath with XDG_DATA_HOME = %q", p)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/u")
	if p, _ := DefaultPath(); p != "/home/u/.local/share/natter/history.db" {
		t.Errorf("DefaultPath without XDG_DATA_HOME = %q", p)
	}
	// The spec says relative XDG paths are invalid and must be ignored.
	t.Setenv("XDG_DATA_HOME", "relative/dir")
	if p, _ := DefaultPath(); p != "/home/u/.local/share/natter/history.db" {
		t.Errorf("DefaultPath with relative XDG_DATA_HOME = %q", p)
	}
}

func TestChatRoundTrip(t *testing.T) {
	s, path := openTemp(t)
	samp := api.DefaultSampling()
	id := mustChat(t, s, ChatMeta{Model: "tiny-q8", Persona: "coder", SystemPrompt: "Be brief.", Template: "gguf:jinja", Sampling: &samp})
	mustAdd(t, s, id, user("  \n  How do I reverse a slice\tin Go?\nThanks"))
	w, err := s.BeginReply(bg, id, ReplyMeta{Model: "tiny-q8"})
	if err != nil {
		t.Fatal(err)
	}
	w.AppendReasoning("think…")
	for _, p := range []string{"Use ", "slices.", "Reverse", "."} {
		w.Append(p)
	}
	stats := &api.Stats{PromptTokens: 31, GeneratedTokens: 5, TTFT: 120 * time.Millisecond, StopReason: api.StopEOG}
	if err := w.Finish(stats); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(stats); err != nil {
		t.Fatalf("second Finish: %v", err)
	}
	s.Close()

	// Reopen: everything must come back from disk.
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	c, err := s2.Get(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Title != "How do I reverse a slice in Go?" {
		t.Errorf("title = %q", c.Title)
	}
	if c.Model != "tiny-q8" || c.Persona != "coder" || c.SystemPrompt != "Be brief." || c.Template != "gguf:jinja" {
		t.Errorf("meta = %+v", c)
	}
	if c.Sampling == nil || *c.Sampling != samp {
		t.Errorf("sampling = %+v", c.Sampling)
	}
	if len(c.Messages) != 2 {
		t.Fatalf("%d messages", len(c.Messages))
	}
	r := c.Messages[1]
	if r.Role != "assistant" || r.Content != "Use slices.Reverse." || r.Reasoning != "think…" || r.Status != StatusComplete || r.Model != "tiny-q8" {
		t.Errorf("reply = %+v", r)
	}
	if r.Stats == nil || !reflect.DeepEqual(*r.Stats, *stats) {
		t.Errorf("stats = %+v", r.Stats)
	}
	pm := c.PromptMessages()
	if len(pm) != 3 || pm[0].Role != "system" || pm[2].Reasoning != "think…" {
		t.Errorf("PromptMessages = %+v", pm)
	}
}

func TestUnknownChat(t *testing.T) {
	s, _ := openTemp(t)
	if _, err := s.AddMessage(bg, 99, user("x"), MessageMeta{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddMessage to unknown chat: %v", err)
	}
	if _, err := s.BeginReply(bg, 99, ReplyMeta{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("BeginReply to unknown chat: %v", err)
	}
	if _, err := s.Get(bg, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get unknown chat: %v", err)
	}
	if err := s.Delete(bg, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete unknown chat: %v", err)
	}
	if err := s.Rename(bg, 99, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Rename unknown chat: %v", err)
	}
	if _, err := s.Latest(bg); !errors.Is(err, ErrNotFound) {
		t.Errorf("Latest on empty store: %v", err)
	}
	if _, err := s.AddMessage(bg, 1, prompts.Message{Content: "no role"}, MessageMeta{}); err == nil {
		t.Error("message without role accepted")
	}
}

func TestListLatestRenameDelete(t *testing.T) {
	s, _ := openTemp(t)
	a := mustChat(t, s, ChatMeta{Model: "m1"})
	mustAdd(t, s, a, user("first chat"))
	b := mustChat(t, s, ChatMeta{Model: "m2", Title: "Given title"})
	mustAdd(t, s, b, user("second chat"))
	mustAdd(t, s, b, prompts.Message{Role: "assistant", Content: "ok"})
	time.Sleep(2 * time.Millisecond) // updated_at has millisecond resolution
	mustAdd(t, s, a, user("back to the first"))

	list, err := s.List(bg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != a || list[1].ID != b {
		t.Fatalf("list order = %+v", list)
	}
	if list[0].Title != "first chat" || list[0].MessageCount != 2 || list[1].Title != "Given title" || list[1].MessageCount != 2 {
		t.Errorf("list = %+v", list)
	}
	if l, _ := s.List(bg, 1); len(l) != 1 {
		t.Errorf("limit 1 gave %d", len(l))
	}
	latest, err := s.Latest(bg)
	if err != nil || latest.ID != a {
		t.Fatalf("Latest = %v, %v", latest, err)
	}

	if err := s.Rename(bg, a, "  My\nchat  "); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Get(bg, a)
	if c.Title != "My chat" {
		t.Errorf("renamed title = %q", c.Title)
	}
	// A user title is not replaced by later messages; an empty one reverts.
	mustAdd(t, s, a, user("another"))
	if c, _ = s.Get(bg, a); c.Title != "My chat" {
		t.Errorf("title changed by a message: %q", c.Title)
	}
	if err := s.Rename(bg, a, ""); err != nil {
		t.Fatal(err)
	}
	if c, _ = s.Get(bg, a); c.Title != "first chat" {
		t.Errorf("reverted title = %q", c.Title)
	}

	if err := s.Delete(bg, b); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(bg, b); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted chat still there: %v", err)
	}
	if hits, _ := s.Search(bg, "second", SearchOptions{}); len(hits) != 0 {
		t.Errorf("deleted chat's messages still searchable: %+v", hits)
	}
	var n int
	s.read(func(db *sql.DB) error {
		return db.QueryRow(`SELECT count(*) FROM messages WHERE chat_id = ?`, b).Scan(&n)
	})
	if n != 0 {
		t.Errorf("%d orphan messages after delete", n)
	}
}

func TestTitleFrom(t *testing.T) {
	cases := map[string]string{
		"hello":                          "hello",
		"\n\n  two  words \n next line":  "two words",
		strings.Repeat("abcdefghij", 10): strings.Repeat("abcdefghij", 5) + "abcdefghi…",
		"bad \xff utf8":                  "bad � utf8",
		"tab\tand\x1b[31mred":            "tab and [31mred",
		"":                               "",
	}
	for in, want := range cases {
		if got := TitleFrom(in); got != want {
			t.Errorf("TitleFrom(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSearch(t *testing.T) {
	s, _ := openTemp(t)
	a := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, a, user("How do I configure the café's Wi-Fi router?"))
	mustAdd(t, s, a, prompts.Message{Role: "assistant", Content: "Open the router admin page at 192.168.0.1 and log in."})
	b := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, b, user("Write a haiku about routers"))

	hits, err := s.Search(bg, "router", SearchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 {
		t.Fatalf("router: %+v", hits)
	}
	for _, h := range hits {
		if !strings.Contains(h.Snippet, "**router**") {
			t.Errorf("snippet not highlighted: %q", h.Snippet)
		}
		if h.ChatID != a || h.Title == "" {
			t.Errorf("hit = %+v", h)
		}
	}
	if hits, _ = s.Search(bg, "router*", SearchOptions{}); len(hits) != 3 {
		t.Errorf("prefix search found %d", len(hits))
	}
	// Accent and case folding.
	if hits, _ = s.Search(bg, "CAFE", SearchOptions{Before: "<", After: ">"}); len(hits) != 1 || !strings.Contains(hits[0].Snippet, "<café") {
		t.Errorf("CAFE: %+v", hits)
	}
	// All words must match.
	if hits, _ = s.Search(bg, "router haiku", SearchOptions{}); len(hits) != 0 {
		t.Errorf("router haiku: %+v", hits)
	}
	if hits, _ = s.Search(bg, "routers haiku", SearchOptions{}); len(hits) != 1 || hits[0].ChatID != b {
		t.Errorf("routers haiku: %+v", hits)
	}
	// Punctuation and FTS syntax in user input is plain text.
	if hits, _ = s.Search(bg, `Wi-Fi`, SearchOptions{}); len(hits) != 1 {
		t.Errorf("Wi-Fi: %+v", hits)
	}
	if hits, _ = s.Search(bg, `192.168.0.1`, SearchOptions{}); len(hits) != 1 {
		t.Errorf("ip: %+v", hits)
	}
	for _, q := range []string{`"`, `(`, `router AND`, `NEAR(a b)`, `content:router`, `-router`, `^`, `*`, `"unbalanced`,
		`a OR`, `'; DROP TABLE chats; --`, "\x00", "\xff\xfe", `{a b}:c`, `router"`, ""} {
		if _, err := s.Search(bg, q, SearchOptions{}); err != nil {
			t.Errorf("Search(%q): %v", q, err)
		}
	}
	if hits, _ = s.Search(bg, `"router"`, SearchOptions{}); len(hits) != 2 {
		t.Errorf("quoted router: %d hits", len(hits))
	}
	if hits, _ := s.Search(bg, "router", SearchOptions{Limit: 1}); len(hits) != 1 {
		t.Errorf("limit: %d", len(hits))
	}
}

// Search must accept any text without an error.
func FuzzSearchQuery(f *testing.F) {
	for _, q := range []string{"router", `"a" OR b*`, "NEAR(x y, 2)", "a:b", "-x", "(", "é*", "\xff"} {
		f.Add(q)
	}
	s, err := OpenMemory()
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	id, _ := s.NewChat(bg, ChatMeta{})
	s.AddMessage(bg, id, user("some text about routers and (parentheses) \"quotes\""), MessageMeta{})
	f.Fuzz(func(t *testing.T, q string) {
		if _, err := s.Search(bg, q, SearchOptions{}); err != nil {
			t.Fatalf("Search(%q): %v", q, err)
		}
	})
}

func TestReplyCheckpointsWhileStreaming(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := OpenOptions(path, Options{CheckpointInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := mustChat(t, s, ChatMeta{})
	w, err := s.BeginReply(bg, id, ReplyMeta{})
	if err != nil {
		t.Fatal(err)
	}
	// A second Store (own connection, as another process would have) sees
	// the streaming reply grow without any Flush or Finish.
	other, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	w.Append("partial ")
	w.Append("text")
	waitFor(t, func() bool {
		c, err := other.Get(bg, id)
		return err == nil && c.Messages[0].Content == "partial text"
	})
	c, _ := other.Get(bg, id)
	if st := c.Messages[0].Status; st != StatusStreaming {
		t.Errorf("live reply seen by another store as %q", st)
	}
	w.Append(" more")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if c, _ = other.Get(bg, id); c.Messages[0].Content != "partial text more" {
		t.Errorf("after Flush: %q", c.Messages[0].Content)
	}
	if err := w.Finish(&api.Stats{StopReason: api.StopCancelled}); err != nil {
		t.Fatal(err)
	}
	w.Append("ignored after finish")
	if c, _ = other.Get(bg, id); c.Messages[0].Status != StatusInterrupted || c.Messages[0].Content != "partial text more" {
		t.Errorf("cancelled reply = %+v", c.Messages[0])
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseInterruptsOpenReplies(t *testing.T) {
	s, path := openTemp(t)
	id := mustChat(t, s, ChatMeta{})
	w, _ := s.BeginReply(bg, id, ReplyMeta{})
	w.Append("half a")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.List(bg, 0); err == nil {
		t.Error("List after Close succeeded")
	}
	s2, _ := Open(path)
	defer s2.Close()
	c, _ := s2.Get(bg, id)
	if m := c.Messages[0]; m.Status != StatusInterrupted || m.Content != "half a" {
		t.Errorf("after Close: %+v", m)
	}
}

func TestAbandonedRepliesMarkedInterrupted(t *testing.T) {
	s, path := openTemp(t)
	id := mustChat(t, s, ChatMeta{})
	live, _ := s.BeginReply(bg, id, ReplyMeta{})
	live.Append("still going")
	live.Flush()
	// A reply whose owner has no lock any more (its process died).
	s.write(bg, func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO messages (chat_id, role, content, status, owner, created_at, updated_at)
			VALUES (?, 'assistant', 'dead writer', 'streaming', 'feedfacecafebeef', 1, 1)`, id)
		return err
	})
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	c, _ := s2.Get(bg, id)
	if c.Messages[0].Status != StatusStreaming {
		t.Errorf("live reply of another open Store marked %q", c.Messages[0].Status)
	}
	if c.Messages[1].Status != StatusInterrupted || c.Messages[1].Content != "dead writer" {
		t.Errorf("abandoned reply = %+v", c.Messages[1])
	}
}

func TestMemoryStore(t *testing.T) {
	s, err := OpenMemory()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Persistent() || s.TakeWarning() != "" {
		t.Error("memory store: persistent or warned")
	}
	id := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, id, user("private"))
	if hits, _ := s.Search(bg, "private", SearchOptions{}); len(hits) != 1 {
		t.Errorf("search in memory store: %+v", hits)
	}
}

func TestCorruptDatabaseMovedAside(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, path string){
		"garbage": func(t *testing.T, path string) {
			os.WriteFile(path, []byte(strings.Repeat("this is not sqlite ", 500)), 0o600)
		},
		"damaged pages": func(t *testing.T, path string) {
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := s.NewChat(bg, ChatMeta{})
			for i := 0; i < 200; i++ {
				s.AddMessage(bg, id, user(strings.Repeat("filler text ", 50)), MessageMeta{})
			}
			s.Close()
			b, _ := os.ReadFile(path)
			if len(b) < 40000 {
				t.Fatalf("db only %d bytes", len(b))
			}
			for i := 8192; i < len(b)-4096; i += 4096 {
				copy(b[i:i+200], strings.Repeat("\xde\xad", 100))
			}
			os.WriteFile(path, b, 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "history.db")
			damage(t, path)
			orig, _ := os.ReadFile(path)
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			w := s.TakeWarning()
			if !strings.Contains(w, "damaged") || !strings.Contains(w, ".corrupt-") {
				t.Fatalf("warning = %q", w)
			}
			if s.TakeWarning() != "" {
				t.Error("warning given twice")
			}
			if !s.Persistent() {
				t.Error("new database not on disk")
			}
			asides, _ := filepath.Glob(path + ".corrupt-*")
			var kept bool
			for _, a := range asides {
				if b, _ := os.ReadFile(a); string(b) == string(orig) {
					kept = true
				}
			}
			if !kept {
				t.Errorf("damaged file not kept aside: %v", asides)
			}
			before, _ := s.List(bg, 0)
			id := mustChat(t, s, ChatMeta{})
			mustAdd(t, s, id, user("fresh start"))
			if l, _ := s.List(bg, 0); len(l) != len(before)+1 {
				t.Errorf("repaired database has %d chats, want %d", len(l), len(before)+1)
			}
		})
	}
}

func TestUpdateChat(t *testing.T) {
	s, _ := openTemp(t)
	id := mustChat(t, s, ChatMeta{Model: "a", Persona: "p1", SystemPrompt: "one", Title: "kept"})
	samp := api.Sampling{Temperature: 0, TopK: 1}
	if err := s.UpdateChat(bg, id, ChatMeta{Model: "b", Persona: "p2", SystemPrompt: "two", Template: "t", Sampling: &samp}); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Get(bg, id)
	if c.Model != "b" || c.Persona != "p2" || c.SystemPrompt != "two" || c.Template != "t" || *c.Sampling != samp || c.Title != "kept" {
		t.Errorf("after UpdateChat: %+v", c)
	}
	if err := s.UpdateChat(bg, 999, ChatMeta{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateChat unknown: %v", err)
	}
}

// A data directory that cannot be created: the chat goes on in memory.
func TestUncreatableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, []byte("x"), 0o600)
	path := filepath.Join(file, "natter", "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Persistent() {
		t.Fatal("persistent under a regular file")
	}
	if w := s.TakeWarning(); !strings.Contains(w, "memory") {
		t.Errorf("warning = %q", w)
	}
	id := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, id, user("still works"))
	if c, err := s.Get(bg, id); err != nil || len(c.Messages) != 1 {
		t.Errorf("memory chat: %+v %v", c, err)
	}
}

// Whatever the bytes, a message comes back exactly as saved.
func TestOddContentRoundTrips(t *testing.T) {
	s, path := openTemp(t)
	id := mustChat(t, s, ChatMeta{})
	odd := []string{
		"invalid \xff\xfe utf8",
		"nul \x00 inside",
		"emoji 👩‍💻 and RTL שלום",
		"\x1b[31mescape\x1b[0m",
		strings.Repeat("large message ", 400_000), // ~5.6 MB
		"",
	}
	for _, o := range odd {
		mustAdd(t, s, id, prompts.Message{Role: "assistant", Content: o, Reasoning: o})
	}
	s.Close()
	s, _ = Open(path)
	defer s.Close()
	c, err := s.Get(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range odd {
		if c.Messages[i].Content != o || c.Messages[i].Reasoning != o {
			t.Errorf("message %d: %.40q, want %.40q", i, c.Messages[i].Content, o)
		}
	}
	if hits, err := s.Search(bg, "שלום", SearchOptions{}); err != nil || len(hits) != 1 {
		t.Errorf("search: %v %v", hits, err)
	}
	var buf strings.Builder
	if err := s.Export(bg, id, "json", &buf); err != nil {
		t.Fatal(err)
	}
	if err := s.Export(bg, id, "html", &buf); err == nil {
		t.Error("unknown export format accepted")
	}
}

func TestFindChats(t *testing.T) {
	s, _ := openTemp(t)
	a := mustChat(t, s, ChatMeta{Title: "Trip to Lisbon_2025 100%"})
	mustAdd(t, s, a, user("what to pack"))
	b := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, b, user("a question about Lisbon trams"))
	c := mustChat(t, s, ChatMeta{Title: "unrelated"})
	mustAdd(t, s, c, user("nothing here"))
	ids := func(q string) []int64 {
		t.Helper()
		l, err := s.FindChats(bg, q, 0)
		if err != nil {
			t.Fatalf("FindChats(%q): %v", q, err)
		}
		var out []int64
		for _, x := range l {
			out = append(out, x.ID)
		}
		return out
	}
	if got := ids("lisbon"); len(got) != 2 || got[0] != b || got[1] != a {
		t.Errorf("lisbon: %v", got)
	}
	if got := ids("pack"); len(got) != 1 || got[0] != a {
		t.Errorf("pack (message only): %v", got)
	}
	if got := ids("TRIP"); len(got) != 1 || got[0] != a {
		t.Errorf("TRIP (title only): %v", got)
	}
	if got := ids("100%"); len(got) != 1 || got[0] != a {
		t.Errorf("100%% (LIKE wildcard as text): %v", got)
	}
	if got := ids("n_2"); len(got) != 1 || got[0] != a {
		t.Errorf("n_2: %v", got)
	}
	if got := ids("_"); len(got) != 0 {
		t.Errorf("lone punctuation matched: %v", got)
	}
	if got := ids(""); len(got) != 3 {
		t.Errorf("empty query: %v", got)
	}
	if got := ids(`"(`); len(got) != 0 {
		t.Errorf("punctuation: %v", got)
	}
}

func TestLatestSkipsEmptyChats(t *testing.T) {
	s, _ := openTemp(t)
	a := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, a, user("real chat"))
	mustChat(t, s, ChatMeta{}) // opened and left without a message
	if c, err := s.Latest(bg); err != nil || c.ID != a {
		t.Errorf("Latest = %+v, %v", c, err)
	}
}

func TestDeleteHook(t *testing.T) {
	s, _ := openTemp(t)
	a := mustChat(t, s, ChatMeta{})
	var got []int64
	s.OnDelete(func(id int64) { got = append(got, id) })
	s.Delete(bg, 999)
	if err := s.Delete(bg, a); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != a {
		t.Errorf("hook calls = %v", got)
	}
	if ChatTag(42) != "chat:42" {
		t.Error(ChatTag(42))
	}
}

func TestPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "my dir #1?x=%20", "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, id, user("saved"))
	if !s.Persistent() {
		t.Fatalf("not persistent: %s", s.TakeWarning())
	}
	s.Close()
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Fatalf("database not at %q: %v", path, err)
	}
	s, _ = Open(path)
	defer s.Close()
	if c, err := s.Get(bg, id); err != nil || len(c.Messages) != 1 {
		t.Errorf("reopened: %+v %v", c, err)
	}
}

// A big database is not fully checked at every Open; damage found while
// using it makes the next Open check it and move it aside.
func TestBigDatabaseCheckedAfterDamageSeen(t *testing.T) {
	defer func(old int64) { fullCheckLimit = old }(fullCheckLimit)
	fullCheckLimit = 0
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	id := mustChat(t, s, ChatMeta{})
	for i := 0; i < 300; i++ {
		mustAdd(t, s, id, user(fmt.Sprintf("%d %s", i, strings.Repeat("filler text ", 60))))
	}
	s.Close()
	b, _ := os.ReadFile(path)
	for i := len(b) / 2; i < len(b)-4096; i += 4096 {
		copy(b[i:i+300], strings.Repeat("\xde\xad", 150))
	}
	os.WriteFile(path, b, 0o600)

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if w := s.TakeWarning(); w != "" {
		t.Fatalf("big database fully checked at Open: %s", w)
	}
	_, err = s.Get(bg, id)
	s.Search(bg, "filler", SearchOptions{})
	s.AddMessage(bg, id, user("after damage"), MessageMeta{})
	s.Close()
	if err == nil {
		t.Skip("damage not hit by reading the chat")
	}
	if _, err := os.Stat(path + checkMarker); err != nil {
		t.Fatalf("damage seen but no check requested: %v", err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if w := s.TakeWarning(); !strings.Contains(w, "was damaged") || !strings.Contains(w, ".corrupt-") {
		t.Errorf("after damage seen, warning = %q", w)
	}
	if _, err := os.Stat(path + checkMarker); err == nil {
		t.Error("check marker left behind")
	}
}

// CJK text has no spaces, so unicode61 indexes a whole run as one token:
// words inside running text must still be found, as substrings.
func TestSearchCJKInsideText(t *testing.T) {
	s, _ := openTemp(t)
	a := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, a, user("你好世界，今天天气很好。"))
	mustAdd(t, s, a, prompts.Message{Role: "assistant", Content: "東京タワーに行きました。router だよ"})
	b := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, b, user("안녕하세요 여러분 and a router"))
	mustAdd(t, s, b, user("100%_天气 literal"))

	for _, c := range []struct {
		q    string
		want int
	}{
		{"你好", 1}, {"世界", 1}, {"天气", 2}, {"タワー", 1}, {"하세요", 1},
		{"你好 天气", 1}, {"天气 router", 0}, {"タワー router", 1}, {"router", 2},
		{"再见", 0}, {"%_天气", 1}, {"0%_天", 1}, {"_天气 zzz", 0},
	} {
		hits, err := s.Search(bg, c.q, SearchOptions{})
		if err != nil {
			t.Fatalf("%q: %v", c.q, err)
		}
		if len(hits) != c.want {
			t.Errorf("%q: %d hits, want %d: %+v", c.q, len(hits), c.want, hits)
		}
	}
	hits, _ := s.Search(bg, "世界", SearchOptions{})
	if len(hits) != 1 || hits[0].Snippet != "你好**世界**，今天天气很好。" || hits[0].ChatID != a {
		t.Errorf("snippet: %+v", hits)
	}
	hits, _ = s.Search(bg, "タワー router", SearchOptions{Before: "[", After: "]"})
	if len(hits) != 1 || !strings.Contains(hits[0].Snippet, "[タワー]") || !strings.Contains(hits[0].Snippet, "[router]") {
		t.Errorf("mixed snippet: %+v", hits)
	}
	hits, _ = s.Search(bg, "世界", SearchOptions{NoMarks: true})
	if len(hits) != 1 || hits[0].Snippet != "你好世界，今天天气很好。" {
		t.Errorf("plain snippet: %+v", hits)
	}
	long := strings.Repeat("前", 100) + "目标" + strings.Repeat("后", 100)
	mustAdd(t, s, b, user(long))
	hits, _ = s.Search(bg, "目标", SearchOptions{})
	if len(hits) != 1 || !strings.HasPrefix(hits[0].Snippet, "…前") || !strings.HasSuffix(hits[0].Snippet, "后…") ||
		!strings.Contains(hits[0].Snippet, "**目标**") || utf8.RuneCountInString(hits[0].Snippet) > 60 {
		t.Errorf("long snippet: %+v", hits)
	}

	chats, err := s.FindChats(bg, "天气", 0)
	if err != nil || len(chats) != 2 {
		t.Errorf("FindChats 天气: %v %+v", err, chats)
	}
	if chats, _ = s.FindChats(bg, "하세요 router", 0); len(chats) != 1 || chats[0].ID != b {
		t.Errorf("FindChats mixed: %+v", chats)
	}
}
