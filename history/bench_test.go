package history

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"natter/prompts"
)

// fillStore makes a history of chats×turns exchanges with varied words.
func fillStore(b *testing.B, s *Store, chats, turns int) {
	b.Helper()
	words := strings.Fields("the model reply router channel goroutine slice map lighthouse story engine cache token prompt sampling history search terminal")
	for c := 0; c < chats; c++ {
		id, err := s.NewChat(bg, ChatMeta{Model: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < turns; i++ {
			var sb strings.Builder
			for j := 0; j < 120; j++ {
				sb.WriteString(words[(c*7+i*13+j*j)%len(words)])
				sb.WriteByte(' ')
			}
			s.AddMessage(bg, id, user(fmt.Sprintf("question %d about %s", i, words[i%len(words)])), MessageMeta{})
			s.AddMessage(bg, id, prompts.Message{Role: "assistant", Content: sb.String()}, MessageMeta{})
		}
	}
}

// One checkpoint of a streaming reply that has grown to ~4 KB: what the
// timer goroutine does every 500 ms.
func BenchmarkReplyCheckpoint(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "history.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	id, _ := s.NewChat(bg, ChatMeta{})
	w, _ := s.BeginReply(bg, id, ReplyMeta{})
	w.Append(strings.Repeat("word ", 800))
	for b.Loop() {
		w.Append("more ")
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	w.Finish(nil)
}

func BenchmarkAddMessage(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "history.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	id, _ := s.NewChat(bg, ChatMeta{})
	msg := user(strings.Repeat("a typical question of some length ", 10))
	for b.Loop() {
		if _, err := s.AddMessage(bg, id, msg, MessageMeta{}); err != nil {
			b.Fatal(err)
		}
	}
}

// Search over 200 chats × 25 exchanges (10,000 messages, ~8 MB of text).
func BenchmarkSearch(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "history.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fillStore(b, s, 200, 25)
	for b.Loop() {
		hits, err := s.Search(bg, "lighthouse router", SearchOptions{})
		if err != nil || len(hits) == 0 {
			b.Fatal(err, len(hits))
		}
	}
}

// Open of that history (integrity check, migration check, sweep): paid at
// every natter start.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "history.db")
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	fillStore(b, s, 200, 25)
	s.Close()
	for b.Loop() {
		s, err := Open(path)
		if err != nil || !s.Persistent() {
			b.Fatal(err)
		}
		s.Close()
	}
	if st, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "db-MiB")
	}
}
