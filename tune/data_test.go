package tune

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"natter/engine"
	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/prompts"
)

func TestParseDataErrorsNameTheLine(t *testing.T) {
	for in, want := range map[string]string{
		"{\"text\": \"a\"}\n{\"text\": 3}\n":                        "d.jsonl:2: \"text\" must be a string",
		"{\"text\": \"a\"}\n\n\n{oops}\n":                           "d.jsonl:4: not a JSON object",
		"{\"messages\": []}\n":                                      "d.jsonl:1: \"messages\" is empty",
		"{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}": "role \"bot\"",
		"{\"messages\": [{\"content\": \"x\"}]}":                    "no \"role\"",
		"{\"messages\": [{\"role\": \"user\", \"content\": 5}]}":    "\"content\" must be a string",
		"{\"text\": \"a\", \"messages\": []}":                       "both",
		"{\"prompt\": \"a\"}":                                       "want \"messages\"",
		"{\"text\": \"  \"}":                                        "\"text\" is empty",
		"{\"text\": \"a\"} {\"text\": \"b\"}":                       "more than one JSON value",
		"{\"text\": \"\xff\"}":                                      "not valid UTF-8",
		"[1, 2]":                                                    "not a JSON object",
	} {
		_, err := parseData(strings.NewReader(in), "d.jsonl")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v; want %q", in, err, want)
		}
	}
}

func TestParseDataReadsChatsAndTexts(t *testing.T) {
	in := "{\"text\": \"hello\"}\r\n\n" +
		`{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}` + "\n" +
		`{"text": "no newline at the end"}`
	exs, err := parseData(strings.NewReader(in), "d.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 3 || exs[0].Text != "hello" || exs[0].Line != 1 || exs[1].Line != 3 || len(exs[1].Messages) != 3 || exs[2].Text != "no newline at the end" {
		t.Fatalf("%+v", exs)
	}
	if m := exs[1].Messages[2]; m.Role != "assistant" || m.Content != "Hello!" {
		t.Fatalf("%+v", m)
	}
}

func TestParseDataRefusesHugeLines(t *testing.T) {
	big := `{"text": "` + strings.Repeat("a", maxLine+10) + `"}`
	if _, err := parseData(strings.NewReader("{\"text\": \"ok\"}\n"+big), "d.jsonl"); err == nil || !strings.Contains(err.Error(), "d.jsonl:2: line longer") {
		t.Fatalf("a %d MiB line: %v", maxLine>>20, err)
	}
}

func FuzzParseData(f *testing.F) {
	for _, s := range []string{
		`{"text": "a"}`, `{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}`,
		"{\"text\": \"a\"}\n{\"text\"", "\xff", "{}", "null", `{"messages": null}`, `{"text": null}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		exs, err := parseData(strings.NewReader(s), "f.jsonl")
		if err != nil {
			return
		}
		for _, e := range exs {
			if (e.Messages == nil) == (e.Text == "") || e.Line < 1 {
				t.Fatalf("%q: a bad example %+v passed", s, e)
			}
			if e.Messages != nil && e.Messages[len(e.Messages)-1].Role != "assistant" {
				t.Fatalf("%q: a chat that does not end with a reply passed", s)
			}
		}
	})
}

func TestSequences(t *testing.T) {
	stream := []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	seqs := Sequences(stream, nil, 4)
	// Windows of 5 at stride 2, the last ending at the stream's end.
	var starts []int32
	for _, s := range seqs {
		if len(s.Tokens) != 5 {
			t.Fatalf("sequence of %d tokens", len(s.Tokens))
		}
		starts = append(starts, s.Tokens[0])
	}
	if !slices.Equal(starts, []int32{1, 3, 5, 7}) {
		t.Fatalf("starts %v", starts)
	}
	short := []int32{1, 2, 3}
	seqs = Sequences(short, []bool{false, true, true}, 6)
	if len(seqs) != 1 || !slices.Equal(seqs[0].Tokens, []int32{1, 2, 3, 1, 2, 3, 1}) || !slices.Equal(seqs[0].Targets, []bool{false, true, true, false, true, true, false}) {
		t.Fatalf("a short stream: %+v", seqs)
	}
	if !slices.Equal(short, []int32{1, 2, 3}) {
		t.Fatal("Sequences changed the caller's stream")
	}
	// A window with no target is left out.
	seqs = Sequences([]int32{1, 2, 3, 4, 5, 6, 7, 8, 9}, []bool{true, true, true, false, false, false, false, false, true}, 2)
	for _, s := range seqs {
		if !slices.Contains(s.Targets[1:], true) {
			t.Fatalf("a sequence with no target: %+v", s)
		}
	}
}

func TestLayers(t *testing.T) {
	l, err := ParseLayers("last:2,attn", 5)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"blk.4.attn_q.weight": true, "blk.3.attn_output.weight": true, "blk.2.attn_q.weight": false,
		"blk.4.ffn_up.weight": false, "blk.4.attn_norm.weight": false, "output.weight": false,
	} {
		if l.Keep(name) != want {
			t.Errorf("last:2,attn keeps %s: %v", name, !want)
		}
	}
	l, _ = ParseLayers("first:1", 5)
	if !l.Keep("blk.0.ffn_up.weight") || l.Keep("blk.1.ffn_up.weight") || !l.Keep("output.weight") || !l.Keep("token_embd.weight") {
		t.Error("first:1")
	}
	l, _ = ParseLayers("embd,output", 5)
	if !l.Keep("token_embd.weight") || !l.Keep("output.weight") || l.Keep("output_norm.weight") || l.Keep("blk.0.attn_q.weight") {
		t.Error("embd,output")
	}
	for _, bad := range []string{"last:0", "last:6", "blocks:3-1", "blocks:0-5", "wings", "attn:2", "last:1,first:1"} {
		if _, err := ParseLayers(bad, 5); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestChatTargetsAreTheReplies tokenizes a chat with a ChatML model and
// checks the targets: the assistant's words and the end of its turn, not
// the system prompt, the user's turn or the template's opening of a turn.
func TestChatTargetsAreTheReplies(t *testing.T) {
	dir := t.TempDir()
	s := synth.Tiny()
	s.Name, s.ChatTemplate = "synth-chat", synth.ChatML
	p := filepath.Join(dir, "chat.gguf")
	if err := synth.Write(p, s); err != nil {
		t.Fatal(err)
	}
	f, err := engine.Validate(p)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ti := range engine.TrainableTensors(f, nil) {
		names = append(names, ti.Name)
	}
	tr, err := engine.NewTrainer(engine.TrainOptions{ModelPath: p, Window: 32, Train: names})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tmpl, err := prompts.NewJinja("chatml", synth.ChatML, prompts.JinjaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []prompts.Message{{Role: "system", Content: "be kind"}, {Role: "user", Content: "hello world"}, {Role: "assistant", Content: "the sun"},
		{Role: "user", Content: "and the moon"}, {Role: "assistant", Content: "the moon too"}}
	toks, mask, ok, err := chatTargets(tr, tmpl, msgs)
	if err != nil || !ok {
		t.Fatalf("chatTargets: ok %v, %v", ok, err)
	}
	var got []string
	var run []int32
	flush := func() {
		if run != nil {
			var b strings.Builder
			for _, tok := range run {
				b.WriteString(tr.TokenText(tok))
			}
			got = append(got, b.String())
			run = nil
		}
	}
	for i, m := range mask {
		if m {
			run = append(run, toks[i])
		} else {
			flush()
		}
	}
	flush()
	want := []string{"▁the▁sun<|im_end|>▁\n", "▁the▁moon▁too<|im_end|>▁\n"}
	if len(got) != 2 {
		t.Fatalf("target runs %q; want the two replies", got)
	}
	for i := range got {
		if !strings.Contains(strings.ReplaceAll(got[i], "▁", ""), strings.ReplaceAll(strings.TrimSuffix(want[i], "▁\n"), "▁", "")) {
			t.Errorf("target run %d is %q; want the reply %q", i, got[i], want[i])
		}
		for _, leak := range []string{"hello", "kind", "assistant", "user"} {
			if strings.Contains(got[i], leak) {
				t.Errorf("target run %q holds %q", got[i], leak)
			}
		}
	}
	// Training on the chat goes through Run end to end.
	data := filepath.Join(dir, "chats.jsonl")
	line := `{"messages": [{"role": "user", "content": "hello world"}, {"role": "assistant", "content": "the sun"}]}` + "\n"
	if err := os.WriteFile(data, []byte(strings.Repeat(line, 3)), 0o644); err != nil {
		t.Fatal(err)
	}
	var notes []string
	res, err := Run(context.Background(), Config{Base: p, Data: data, Out: filepath.Join(dir, "out.gguf"), Epochs: 2, LR: 1e-3, Window: 32,
		Template: func(api.ModelInfo, prompts.ChatTemplate) (prompts.ChatTemplate, error) { return tmpl, nil }}, nil, func(s string) { notes = append(notes, s) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(notes, func(s string) bool { return strings.Contains(s, "assistant's replies only") }) || res.Steps == 0 {
		t.Fatalf("notes %q, %d steps", notes, res.Steps)
	}
}
