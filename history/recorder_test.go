package history

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"natter/engine/api"
	"natter/prompts"
)

// uiRecorder is the UI's interface (ui.Recorder), copied so this package's
// tests do not build the UI.
type uiRecorder interface {
	NewChat(model, system string) error
	Append(msg prompts.Message) error
	Checkpoint(reply prompts.Message) error
	Finish(reply prompts.Message, stats *api.Stats, stopReason string) error
	Rewrite(msgs []prompts.Message) error
	SetSystem(system, persona string) error
}

var _ uiRecorder = (*Recorder)(nil)

func asst(text string) prompts.Message { return prompts.Message{Role: "assistant", Content: text} }

func TestRecorderLikeTheUI(t *testing.T) {
	s, _ := openTemp(t)
	samp := api.DefaultSampling()
	r := s.NewRecorder(ChatMeta{Persona: "helper", Sampling: &samp})
	// Start-up, then /new before saying anything: nothing saved.
	must(t, r.NewChat("tiny", "sys"))
	must(t, r.NewChat("tiny", "sys"))
	if l, _ := s.List(bg, 0); len(l) != 0 {
		t.Fatalf("empty chats saved: %+v", l)
	}
	must(t, r.Append(user("how are you")))
	must(t, r.Checkpoint(asst("fi")))
	stats := &api.Stats{GeneratedTokens: 2, StopReason: api.StopEOG}
	must(t, r.Finish(asst("fine"), stats, api.StopEOG))
	// /retry: back to the question, then a new answer.
	must(t, r.Rewrite([]prompts.Message{user("how are you")}))
	must(t, r.Finish(asst("fine again"), stats, api.StopEOG))

	c, err := s.Get(bg, r.ChatID())
	if err != nil {
		t.Fatal(err)
	}
	if c.Model != "tiny" || c.SystemPrompt != "sys" || c.Persona != "helper" || c.Sampling == nil || c.Title != "how are you" {
		t.Errorf("chat = %+v", c)
	}
	if len(c.Messages) != 2 || c.Messages[1].Content != "fine again" || c.Messages[1].Status != StatusComplete ||
		c.Messages[1].Stats == nil || c.Messages[1].Model != "tiny" {
		t.Fatalf("messages = %+v", c.Messages)
	}
	userID := c.Messages[0].ID

	// A failed turn and a stopped one are saved as interrupted.
	must(t, r.Append(user("and then?")))
	must(t, r.Finish(asst("par"), nil, "error"))
	must(t, r.Append(user("go on")))
	must(t, r.Checkpoint(asst("some")))
	must(t, r.Finish(asst("some text"), nil, api.StopCancelled))
	c, _ = s.Get(bg, r.ChatID())
	if len(c.Messages) != 6 || c.Messages[3].Status != StatusInterrupted || c.Messages[5].Status != StatusInterrupted || c.Messages[5].Content != "some text" {
		t.Fatalf("interrupted replies: %+v", c.Messages)
	}

	// /edit of the second question: the first exchange keeps its rows.
	must(t, r.Rewrite([]prompts.Message{user("how are you"), asst("fine again"), user("edited")}))
	c, _ = s.Get(bg, r.ChatID())
	if len(c.Messages) != 3 || c.Messages[0].ID != userID || c.Messages[1].Stats == nil || c.Messages[2].Content != "edited" {
		t.Fatalf("after rewrite: %+v", c.Messages)
	}
	// /undo everything.
	must(t, r.Rewrite(nil))
	if c, _ = s.Get(bg, r.ChatID()); len(c.Messages) != 0 || c.Title != "" {
		t.Fatalf("after rewrite to nothing: %+v", c)
	}

	// /system: a new chat with the kept turns; the old one stays.
	old := r.ChatID()
	must(t, r.NewChat("tiny", "new system"))
	must(t, r.Append(user("kept question")))
	must(t, r.Append(asst("kept answer")))
	if r.ChatID() == old {
		t.Fatal("NewChat kept the old chat")
	}
	c, _ = s.Get(bg, r.ChatID())
	if c.SystemPrompt != "new system" || len(c.Messages) != 2 {
		t.Errorf("/system chat = %+v", c)
	}
	if _, err := s.Get(bg, old); err != nil {
		t.Error("old chat gone after /system")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRecorderCheckpointReachesDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := OpenOptions(path, Options{CheckpointInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := s.NewRecorder(ChatMeta{})
	must(t, r.NewChat("m", ""))
	must(t, r.Append(user("q")))
	must(t, r.Checkpoint(prompts.Message{Role: "assistant", Content: "partial", Reasoning: "hmm"}))
	other, _ := Open(path)
	defer other.Close()
	waitFor(t, func() bool {
		c, err := other.Get(bg, r.ChatID())
		return err == nil && len(c.Messages) == 2 && c.Messages[1].Content == "partial" && c.Messages[1].Reasoning == "hmm"
	})
	// Closing with the reply open marks it interrupted.
	r.Close()
	c, _ := other.Get(bg, r.ChatID())
	if c.Messages[1].Status != StatusInterrupted {
		t.Errorf("open reply after Close: %q", c.Messages[1].Status)
	}
}

func TestResumeRecorder(t *testing.T) {
	s, _ := openTemp(t)
	r := s.NewRecorder(ChatMeta{})
	must(t, r.NewChat("m", "sys"))
	must(t, r.Append(user("first")))
	must(t, r.Finish(asst("answer"), nil, api.StopEOG))
	id := r.ChatID()
	var finished []int64
	r.AfterFinish(func(chat int64) { finished = append(finished, chat) })
	must(t, r.Append(user("again")))
	must(t, r.Finish(asst("answer 2"), nil, api.StopEOG))
	if len(finished) != 1 || finished[0] != id {
		t.Errorf("AfterFinish calls = %v", finished)
	}

	r2, c, err := s.ResumeRecorder(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	pm := c.PromptMessages()
	if len(pm) != 5 || pm[0].Content != "sys" || pm[4].Content != "answer 2" {
		t.Fatalf("PromptMessages = %+v", pm)
	}
	must(t, r2.Append(user("second")))
	must(t, r2.Rename("renamed"))
	if c, _ = s.Get(bg, id); len(c.Messages) != 5 || c.Title != "renamed" || r2.ChatID() != id {
		t.Errorf("resumed chat = %+v", c)
	}
	// /resume inside a chat switches.
	r3 := s.NewRecorder(ChatMeta{})
	must(t, r3.NewChat("m", ""))
	if _, err := r3.Resume(bg, id); err != nil {
		t.Fatal(err)
	}
	must(t, r3.Append(user("third")))
	if c, _ = s.Get(bg, id); len(c.Messages) != 6 {
		t.Errorf("after /resume: %d messages", len(c.Messages))
	}
	if _, err := r3.Resume(bg, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("resume missing: %v", err)
	}
	if _, _, err := s.ResumeRecorder(bg, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResumeRecorder missing: %v", err)
	}
}

// The UI shows a Recorder error; the switch to memory is reported once.
func TestRecorderWarnsOnceWhenDiskFills(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	s, err := OpenOptions(path, Options{maxPageCount: 60})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := s.NewRecorder(ChatMeta{})
	must(t, r.NewChat("m", ""))
	warnings := 0
	for i := 0; i < 300; i++ {
		err := r.Append(user(strings.Repeat("long message ", 200)))
		var w *Warning
		if errors.As(err, &w) {
			warnings++
			if !strings.Contains(w.Error(), "memory") || strings.HasPrefix(w.Error(), "history:") {
				t.Errorf("warning text = %q", w.Error())
			}
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if warnings != 1 {
		t.Errorf("%d warnings, want 1", warnings)
	}
	if c, _ := s.Get(bg, r.ChatID()); len(c.Messages) != 300 {
		t.Errorf("%d messages kept, want 300", len(c.Messages))
	}
}

// A persona switch (or /system) mid-chat changes the saved chat in place:
// still one chat, its messages kept, the new prompt and persona stored and
// the next turns added to it.
func TestRecorderSetSystemKeepsOneChat(t *testing.T) {
	s, _ := openTemp(t)
	r := s.NewRecorder(ChatMeta{Persona: "helper"})
	// Before the first message nothing is saved; the change is kept for it.
	must(t, r.NewChat("tiny", "sys one"))
	must(t, r.SetSystem("sys two", "pirate"))
	must(t, r.Append(user("ahoy")))
	must(t, r.Finish(asst("arr"), &api.Stats{}, api.StopEOG))
	id := r.ChatID()
	c, err := s.Get(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.SystemPrompt != "sys two" || c.Persona != "pirate" {
		t.Fatalf("before the first message: chat = %+v", c)
	}

	must(t, r.SetSystem("sys three", "poet"))
	must(t, r.Append(user("a verse?")))
	must(t, r.Finish(asst("roses"), &api.Stats{}, api.StopEOG))
	must(t, r.SetSystem("no persona", ""))

	l, err := s.List(bg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 1 || l[0].ID != id {
		t.Fatalf("chats after persona switches: %+v", l)
	}
	c, err = s.Get(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.SystemPrompt != "no persona" || c.Persona != "" || c.Model != "tiny" || c.Title != "ahoy" {
		t.Errorf("chat = %+v", c)
	}
	var got []string
	for _, m := range c.Messages {
		got = append(got, m.Content)
	}
	if strings.Join(got, "|") != "ahoy|arr|a verse?|roses" {
		t.Fatalf("messages = %q", got)
	}
	if pm := c.PromptMessages(); len(pm) != 5 || pm[0].Content != "no persona" {
		t.Fatalf("prompt messages = %+v", pm)
	}
}
