package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"natter/prompts"
)

func TestDroppedPath(t *testing.T) {
	for _, c := range []struct {
		line, want string
		ok         bool
	}{
		{"/home/u/scan.png", "/home/u/scan.png", true},
		{"'/home/u/my scan.PNG'", "/home/u/my scan.PNG", true},
		{`"/home/u/my scan.jpg"`, "/home/u/my scan.jpg", true},
		{`/home/u/my\ scan.webp`, "/home/u/my scan.webp", true},
		{"file:///home/u/my%20memo.wav", "/home/u/my memo.wav", true},
		{"./memo.mp3  ", "./memo.mp3", true},
		{"/attach x.png", "", false},      // a command with an argument
		{"look at /tmp/a.png", "", false}, // a sentence
		{"/tmp/notes.txt", "", false},     // not a media file
		{"/model", "", false},             // a command
		{"scan.png", "", false},           // a bare word: may be a question
		{"'/a.png\n/b.png'", "", false},   // several lines
	} {
		got, ok := droppedPath(c.line)
		if ok != c.ok || got != c.want {
			t.Errorf("droppedPath(%q) = %q, %v; want %q, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

func TestPresentMediaDropsMissingBytes(t *testing.T) {
	msgs := []prompts.Message{
		{Role: prompts.RoleUser, Content: "a", Media: []prompts.Attachment{{Kind: "image", Name: "gone.png"}, {Kind: "image", Name: "here.png", Size: 1, Data: []byte{1}}}},
		{Role: prompts.RoleAssistant, Content: "b"},
	}
	out := presentMedia(msgs)
	if len(out[0].Media) != 1 || out[0].Media[0].Name != "here.png" {
		t.Fatalf("presentMedia kept %+v", out[0].Media)
	}
	if len(msgs[0].Media) != 2 {
		t.Fatal("presentMedia changed the chat it was given")
	}
	got := userText(msgs[0])
	if !strings.Contains(got, "📎 gone.png") || strings.Count(got, "missing from the history store") != 1 || !strings.HasSuffix(got, "here.png (image, 1 B)\na") {
		t.Fatalf("userText = %q", got)
	}
}

// /edit brings the last message's attachments back above the input, and
// Enter sends them again with the edited text.
func TestEditKeepsAttachments(t *testing.T) {
	img := prompts.Attachment{Kind: prompts.MediaImage, Name: "scan.png", SHA256: "ab", Size: 3, Data: []byte{1, 2, 3}}
	msgs := []prompts.Message{
		{Role: prompts.RoleUser, Content: "what is this?", Media: []prompts.Attachment{img}},
		{Role: prompts.RoleAssistant, Content: "a scan"},
	}
	h := newHarness(t, Config{Gen: newFakeGen(), Messages: msgs}, 100, 30)
	h.typeText("/edit")
	h.enter()
	h.settle()
	if len(h.m.attach) != 1 || h.m.attach[0].Name != "scan.png" || !strings.Contains(h.screen(), "📎 scan.png (image") {
		t.Fatalf("after /edit: attach %+v\n%s", h.m.attach, h.screen())
	}
	h.typeText(" now")
	h.enter()
	h.waitFor("the resend", func(m Model) bool { return m.cur == nil && len(m.msgs) == 2 })
	if got := h.lastMsgs()[0]; len(got.Media) != 1 || got.Media[0].Name != "scan.png" || got.Content != "what is this? now" {
		t.Fatalf("resent %+v", got)
	}
	if len(h.m.attach) != 0 {
		t.Fatal("the chip stayed after the resend")
	}
}

// While a message's image encodes the status line says so; stopped then
// (before its first token), the message comes back into the input with its
// attachments above it, and Enter sends both again.
func TestStoppedMessageKeepsAttachments(t *testing.T) {
	g := newFakeGen(tokens("a scan of a receipt", 1)...)
	g.holdPrompt = make(chan struct{})
	g.info.Vision = true
	h := newHarness(t, Config{Gen: g}, 100, 30)
	h.m.attach = []prompts.Attachment{{Kind: prompts.MediaImage, Name: "scan.png", SHA256: "ab", Size: 3, Data: []byte{1, 2, 3}}}
	h.typeText("what is this?")
	h.enter()
	h.waitFor("the reply to start", func(m Model) bool { return m.cur != nil && len(m.attach) == 0 })
	// The status line says what the wait is for.
	if st := h.screen(); !strings.Contains(st, "● encoding scan.png · esc stops") {
		t.Fatalf("while the image encodes:\n%s", st)
	}
	h.key(tea.KeyEscape, 0)
	h.waitFor("the stop", func(m Model) bool { return m.cur == nil })
	h.settle()
	if h.m.input.Value() != "what is this?" || len(h.m.attach) != 1 || !strings.Contains(h.screen(), "📎 scan.png (image") {
		t.Fatalf("after the stop: input %q, attach %+v\n%s", h.m.input.Value(), h.m.attach, h.screen())
	}
	close(g.holdPrompt)
	h.enter()
	h.waitFor("the resend", func(m Model) bool { return m.cur == nil && len(m.msgs) == 2 })
	if got := h.lastMsgs()[0]; len(got.Media) != 1 || got.Media[0].Name != "scan.png" {
		t.Fatalf("resent %+v", got)
	}
}
