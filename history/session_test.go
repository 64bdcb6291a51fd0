package history

import (
	"testing"

	"natter/prompts"
)

func TestSessionCreatesChatLazily(t *testing.T) {
	s, _ := openTemp(t)
	empty := s.NewSession(ChatMeta{Model: "m"})
	if empty.ID() != 0 {
		t.Fatal("session has an id before any message")
	}
	if l, _ := s.List(bg, 0); len(l) != 0 {
		t.Fatalf("a session without messages saved a chat: %+v", l)
	}

	ss := s.NewSession(ChatMeta{Model: "m", Persona: "p"})
	if err := ss.Rename(bg, "named early"); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Add(bg, user("hello"), MessageMeta{}); err != nil {
		t.Fatal(err)
	}
	w, err := ss.BeginReply(bg, ReplyMeta{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	w.Append("hi!")
	w.Finish(nil)
	if err := ss.SetMeta(bg, ChatMeta{Model: "m2", Persona: "p2"}); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.List(bg, 0); len(l) != 1 || l[0].ID != ss.ID() {
		t.Fatalf("list = %+v", l)
	}

	// Resume and go on.
	rs, c, err := s.ResumeSession(bg, ss.ID())
	if err != nil {
		t.Fatal(err)
	}
	if c.Title != "named early" || c.Model != "m2" || c.Persona != "p2" || len(c.Messages) != 2 {
		t.Fatalf("resumed chat = %+v", c)
	}
	if _, err := rs.Add(bg, prompts.Message{Role: "user", Content: "again"}, MessageMeta{}); err != nil {
		t.Fatal(err)
	}
	if err := rs.Rename(bg, "renamed later"); err != nil {
		t.Fatal(err)
	}
	c, _ = s.Get(bg, ss.ID())
	if len(c.Messages) != 3 || c.Title != "renamed later" {
		t.Errorf("after resume: %+v", c)
	}
	if _, _, err := s.ResumeSession(bg, 999); err == nil {
		t.Error("resumed a missing chat")
	}
}
