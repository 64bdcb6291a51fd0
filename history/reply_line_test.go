package history

import (
	"testing"
	"time"

	"natter/prompts"
)

// savedContent reads message id's content through a second Store, as
// another process would see it.
func savedContent(t *testing.T, path string, chat, id int64) string {
	t.Helper()
	s, err := OpenOptions(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Get(bg, chat)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Messages {
		if m.ID == id {
			return m.Content
		}
	}
	return ""
}

// waitSaved polls until message id holds want; the bound is generous (a
// shared machine) and the point is that it happens at all: with a
// checkpoint interval of an hour only a finished line can trigger it.
func waitSaved(t *testing.T, path string, chat, id int64, want string) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := savedContent(t, path, chat, id)
		if got == want {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("saved reply %q, want %q", got, want)
		}
	}
}

// A finished line is saved at once, not only on the checkpoint timer, so a
// kill loses at most the current line (issue 19, item 8).
func TestFinishedLinesAreSavedAtOnce(t *testing.T) {
	path := t.TempDir() + "/history.db"
	s, err := OpenOptions(path, Options{CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chat := mustChat(t, s, ChatMeta{})
	w, err := s.BeginReply(bg, chat, ReplyMeta{})
	if err != nil {
		t.Fatal(err)
	}
	w.Append("first line\n")
	waitSaved(t, path, chat, w.ID(), "first line\n")
	w.Append("partial")
	w.Append(" end\nnext")
	waitSaved(t, path, chat, w.ID(), "first line\npartial end\nnext")

	// The recorder's Checkpoint (whole text so far) does the same.
	r := s.NewRecorder(ChatMeta{})
	defer r.Close()
	if err := r.NewChat("m", ""); err != nil {
		t.Fatal(err)
	}
	r.Append(user("q"))
	r.Checkpoint(prompts.Message{Role: prompts.RoleAssistant, Content: "one\n"})
	list, _ := s.List(bg, 0)
	var rc int64
	for _, c := range list {
		if c.ID != chat {
			rc = c.ID
		}
	}
	c, err := s.Get(bg, rc)
	if err != nil || len(c.Messages) != 2 {
		t.Fatalf("recorder chat: %v, %+v", err, c)
	}
	waitSaved(t, path, rc, c.Messages[1].ID, "one\n")
}
