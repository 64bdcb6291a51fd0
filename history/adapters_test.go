package history

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"natter/engine/api"
)

// A reply made with LoRA adapters says so in every export, and one made
// without says nothing about them.
func TestRepliesNameTheirAdapters(t *testing.T) {
	s, path := openTemp(t)
	r := s.NewRecorder(ChatMeta{})
	must(t, r.NewChat("tiny", ""))
	must(t, r.Append(user("plain question")))
	must(t, r.Finish(asst("plain answer"), &api.Stats{GeneratedTokens: 2, StopReason: api.StopEOG}, api.StopEOG))
	must(t, r.Append(user("tuned question")))
	adapters := []api.Adapter{
		{Path: "/loras/tuned.gguf", Name: "tuned.gguf", SHA256: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d", Scale: 0.5},
		{Path: "/loras/st*r.gguf", SHA256: "ffeeddccbbaa99887766", Scale: -1},
	}
	must(t, r.Finish(asst("tuned answer"), &api.Stats{GeneratedTokens: 2, StopReason: api.StopEOG, Adapters: adapters}, api.StopEOG))

	// Read back from disk, as natter history does in another process.
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	id := r.ChatID()
	note := `*(LoRA: tuned.gguf ×0.5, sha256 1a2b3c4d5e6f; st\*r.gguf ×-1, sha256 ffeeddccbbaa)*`

	var md bytes.Buffer
	if err := s2.Export(bg, id, "md", &md); err != nil {
		t.Fatal(err)
	}
	if want := "tuned answer\n\n" + note + "\n"; !strings.HasSuffix(md.String(), want) {
		t.Fatalf("markdown does not end with %q:\n%s", want, md.String())
	}
	if n := strings.Count(md.String(), "LoRA"); n != 1 {
		t.Fatalf("%d LoRA notes, want one (the plain reply has none):\n%s", n, md.String())
	}

	// natter history show prints the same Markdown.
	code, out, _ := run(t, s2, "show", "#"+strconv.FormatInt(id, 10))
	if code != 0 || !strings.Contains(out, "tuned answer\n\n"+note+"\n") {
		t.Fatalf("show (exit %d):\n%s", code, out)
	}

	// JSON carries the adapters in full with the reply's figures.
	var js bytes.Buffer
	if err := s2.Export(bg, id, "json", &js); err != nil {
		t.Fatal(err)
	}
	var c struct {
		Messages []struct {
			Content string `json:"content"`
			Stats   *struct {
				Adapters []api.Adapter `json:"adapters"`
			} `json:"stats"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(js.Bytes(), &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Messages) != 4 || c.Messages[1].Stats == nil || c.Messages[1].Stats.Adapters != nil {
		t.Fatalf("plain reply in JSON: %s", js.String())
	}
	got := c.Messages[3].Stats
	if got == nil || len(got.Adapters) != 2 || got.Adapters[0] != adapters[0] || got.Adapters[1] != adapters[1] {
		t.Fatalf("adapters in JSON: %+v\n%s", got, js.String())
	}
	if !strings.Contains(js.String(), `"sha256": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"`) {
		t.Fatalf("JSON lacks the full hash:\n%s", js.String())
	}
}
