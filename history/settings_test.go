package history

import (
	"testing"

	"natter/engine/api"
)

// /set and /model mid-chat are saved with the chat (real SQLite), so a
// resumed chat gets its own settings back and later replies name the model
// that wrote them.
func TestRecorderSavesSamplingAndModel(t *testing.T) {
	s, _ := openTemp(t)
	samp := api.DefaultSampling()
	r := s.NewRecorder(ChatMeta{Sampling: &samp})
	// Before the first message: kept for when the chat is created.
	samp.Temperature = 0
	must(t, r.NewChat("stories260K", ""))
	must(t, r.SetSampling(samp))
	must(t, r.Append(user("hello")))
	must(t, r.Finish(asst("hi"), nil, api.StopEOG))
	samp.Seed = 7
	must(t, r.SetSampling(samp))
	must(t, r.SetModel("qwen2.5-0.5b"))
	must(t, r.Append(user("again")))
	must(t, r.Finish(asst("hi again"), nil, api.StopEOG))

	_, c, err := s.ResumeRecorder(bg, r.ChatID())
	if err != nil {
		t.Fatal(err)
	}
	if c.Sampling == nil || c.Sampling.Temperature != 0 || c.Sampling.Seed != 7 || c.Sampling.TopK != samp.TopK {
		t.Fatalf("saved sampling %+v, want %+v", c.Sampling, samp)
	}
	if c.Model != "qwen2.5-0.5b" || c.Messages[1].Model != "stories260K" || c.Messages[3].Model != "qwen2.5-0.5b" {
		t.Fatalf("chat model %q, replies by %q and %q", c.Model, c.Messages[1].Model, c.Messages[3].Model)
	}
}
