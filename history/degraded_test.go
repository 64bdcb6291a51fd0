package history

import (
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"natter/prompts"
)

// fillUntilMemory adds messages until the Store gives up on the disk. It
// returns how many were added while the Store was still persistent.
func fillUntilMemory(t *testing.T, s *Store, chat int64, size int) int {
	t.Helper()
	for i := 0; i < 5000; i++ {
		if _, err := s.AddMessage(bg, chat, user(fmt.Sprintf("message %d %s", i, strings.Repeat("x", size))), MessageMeta{}); err != nil {
			t.Fatalf("AddMessage %d failed instead of going on in memory: %v", i, err)
		}
		if !s.Persistent() {
			return i
		}
	}
	t.Fatal("the disk never filled up")
	return 0
}

// checkDegraded runs the common part of the full-disk tests: a chat goes
// on in memory with one warning, and the disk keeps exactly what was saved.
func checkDegraded(t *testing.T, s *Store, path string, reopen func()) {
	t.Helper()
	chat := mustChat(t, s, ChatMeta{Model: "m"})
	mustAdd(t, s, chat, user("before the disk filled"))
	saved := 1 + fillUntilMemory(t, s, chat, 2000)

	w := s.TakeWarning()
	t.Logf("%d messages saved before: %s", saved, w)
	if !strings.Contains(w, "memory") || !strings.Contains(w, path) {
		t.Errorf("warning = %q", w)
	}
	// The chat goes on: more messages, a streamed reply, search.
	mustAdd(t, s, chat, user("after the disk filled"))
	rw, err := s.BeginReply(bg, chat, ReplyMeta{})
	if err != nil {
		t.Fatal(err)
	}
	rw.Append("a reply kept in memory")
	if err := rw.Finish(nil); err != nil {
		t.Fatal(err)
	}
	if w := s.TakeWarning(); w != "" {
		t.Errorf("second warning: %q", w)
	}
	c, err := s.Get(bg, chat)
	if err != nil {
		t.Fatal(err)
	}
	// saved on disk + the one that tipped over + 2 more.
	if len(c.Messages) != saved+1+2 || c.Messages[len(c.Messages)-1].Content != "a reply kept in memory" {
		t.Fatalf("in memory: %d messages, want %d", len(c.Messages), saved+3)
	}
	if hits, _ := s.Search(bg, "kept", SearchOptions{}); len(hits) != 1 {
		t.Errorf("search in memory: %+v", hits)
	}
	s.Close()

	// Nothing saved before the failure is lost, and the file is sound.
	reopen()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if w := s2.TakeWarning(); w != "" {
		t.Errorf("reopening: %s", w)
	}
	c, err = s2.Get(bg, chat)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Messages) != saved {
		t.Errorf("disk has %d messages, want %d", len(c.Messages), saved)
	}
	for i, m := range c.Messages[1:] {
		if !strings.HasPrefix(m.Content, fmt.Sprintf("message %d ", i)) {
			t.Fatalf("message %d on disk = %.20q", i, m.Content)
		}
	}
	var check string
	s2.read(func(db *sql.DB) error { return db.QueryRow(`PRAGMA integrity_check`).Scan(&check) })
	if check != "ok" {
		t.Errorf("integrity_check: %s", check)
	}
}

func TestFullDiskMaxPageCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := OpenOptions(path, Options{maxPageCount: 60})
	if err != nil {
		t.Fatal(err)
	}
	checkDegraded(t, s, path, func() {})
}

// mountTmpfs mounts a small tmpfs (needs root on Linux) or skips.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if runtime.GOOS != "linux" || os.Getuid() != 0 {
		t.Skip("mounting a tmpfs needs root on Linux")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

func remount(t *testing.T, dir, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+opts, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s: %v %s", opts, err, out)
	}
}

func TestFullDiskTmpfs(t *testing.T) {
	dir := mountTmpfs(t, "320k")
	path := filepath.Join(dir, "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	checkDegraded(t, s, path, func() { remount(t, dir, "size=4m") })
}

// readOnlyDir gives a directory and functions that make it (and all in
// it) read-only and writable again: a remounted tmpfs as root, else modes.
func readOnlyDir(t *testing.T) (dir string, makeRO, makeRW func()) {
	if os.Getuid() == 0 {
		dir = mountTmpfs(t, "4m")
		return dir, func() { remount(t, dir, "ro") }, func() { remount(t, dir, "rw") }
	}
	dir = t.TempDir()
	chmod := func(clear, set os.FileMode) func() {
		return func() {
			filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
				if err == nil {
					os.Chmod(p, info.Mode().Perm()&^clear|set)
				}
				return nil
			})
		}
	}
	t.Cleanup(chmod(0, 0o200))
	return dir, chmod(0o222, 0), chmod(0, 0o200)
}

func TestReadOnlyDatabase(t *testing.T) {
	dir, makeRO, makeRW := readOnlyDir(t)
	path := filepath.Join(dir, "natter", "history.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	chat := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, chat, user("saved before read-only"))
	s.Close()
	before, _ := os.ReadFile(path)

	makeRO()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// Old chats are readable, new ones work, in memory.
	c, err := s.Get(bg, chat)
	if err != nil || len(c.Messages) != 1 || c.Messages[0].Content != "saved before read-only" {
		t.Fatalf("old chat on read-only db: %+v %v", c, err)
	}
	mustAdd(t, s, chat, prompts.Message{Role: "assistant", Content: "answer in memory"})
	other := mustChat(t, s, ChatMeta{})
	mustAdd(t, s, other, user("new chat in memory"))
	if s.Persistent() {
		t.Error("read-only database reported persistent")
	}
	w := s.TakeWarning()
	if !strings.Contains(w, "memory") {
		t.Errorf("warning = %q", w)
	}
	if l, _ := s.List(bg, 0); len(l) != 2 {
		t.Errorf("list in memory: %+v", l)
	}
	s.Close()

	makeRW()
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("read-only database file changed")
	}
	s, _ = Open(path)
	defer s.Close()
	if l, _ := s.List(bg, 0); len(l) != 1 {
		t.Errorf("after read-only session, disk has %d chats", len(l))
	}
}

// A read-only database of an older schema: migrated in memory, readable,
// searchable, and left untouched on disk.
func TestReadOnlyOldSchema(t *testing.T) {
	dir, makeRO, makeRW := readOnlyDir(t)
	path := filepath.Join(dir, "history.db")
	db := buildVersion(t, path, 1)
	seed[1](t, db)
	db.Close()
	before, _ := os.ReadFile(path)
	makeRO()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Persistent() || !strings.Contains(s.TakeWarning(), "memory") {
		t.Error("read-only old database: no memory fallback and warning")
	}
	c, err := s.Get(bg, 7)
	if err != nil || len(c.Messages) != 2 || c.Messages[1].Status != StatusComplete {
		t.Fatalf("old chat: %+v %v", c, err)
	}
	if hits, _ := s.Search(bg, "lighthouses", SearchOptions{}); len(hits) != 1 {
		t.Errorf("search: %+v", hits)
	}
	mustAdd(t, s, 7, user("more"))
	s.Close()
	makeRW()
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("read-only database changed")
	}
}
