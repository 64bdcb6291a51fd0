package prompts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"natter/prompts/jinja"
)

const qwenLike = `{%- for m in messages -%}
<|im_start|>{{ m.role }}
{% if m.reasoning_content is defined %}<think>{{ m.reasoning_content }}</think>{% endif %}{{ m.content }}<|im_end|>
{% endfor -%}
{%- if add_generation_prompt %}<|im_start|>assistant
{% if enable_thinking is defined and not enable_thinking %}<think>

</think>
{% endif %}{% endif %}`

func TestJinjaTemplateRender(t *testing.T) {
	tm, err := NewJinja("gguf:jinja", qwenLike, JinjaOptions{Vars: map[string]any{"enable_thinking": false}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tm.Render([]Message{
		{Role: RoleUser, Content: "hi {{ x }}"},
		{Role: RoleAssistant, Content: "yo", Reasoning: "greet"},
		{Role: RoleUser, Content: "ü"},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "<|im_start|>user\nhi {{ x }}<|im_end|>\n<|im_start|>assistant\n<think>greet</think>yo<|im_end|>\n<|im_start|>user\nü<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if tm.Name() != "gguf:jinja" {
		t.Fatal(tm.Name())
	}
}

func TestJinjaTemplateBOSAndTools(t *testing.T) {
	src := `{{ bos_token }}{% if tools is not none %}{% for t in tools %}{{ t | tojson }}{% endfor %}{% endif %}{{ messages[0].content }}{{ eos_token }}`
	tm, err := NewJinja("x", src, JinjaOptions{BOS: "<s>", EOS: "</s>", Tools: []any{map[string]any{"name": "f"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tm.Render([]Message{{Role: RoleUser, Content: "q"}}, false)
	if err != nil || got != `<s>{"name": "f"}q</s>` {
		t.Fatalf("got %q, %v", got, err)
	}
	tm2, _ := NewJinja("x", src, JinjaOptions{})
	if got, err := tm2.Render([]Message{{Role: RoleUser, Content: "q"}}, false); err != nil || got != "q" {
		t.Fatalf("without tools: %q %v", got, err)
	}
}

func TestChainFallsBackAndSaysWhich(t *testing.T) {
	strict, err := NewJinja("gguf:jinja", `{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}[{{ m.content }}]{% endfor %}`, JinjaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := NewChain(strict, nil, ChatML())
	if c.Name() != "gguf:jinja" {
		t.Fatalf("before render: %s", c.Name())
	}
	out, used, err := c.RenderWith([]Message{{Role: RoleUser, Content: "a"}}, false)
	if err != nil || used != "gguf:jinja" || out != "[a]" || c.FallbackReason() != nil {
		t.Fatalf("primary: %q %q %v", out, used, err)
	}
	out, err = c.Render([]Message{{Role: RoleSystem, Content: "s"}, {Role: RoleUser, Content: "a"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "chatml" || c.Used() != "chatml" {
		t.Fatalf("used %s", c.Name())
	}
	if out != "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\n" {
		t.Fatalf("chatml output %q", out)
	}
	if r := c.FallbackReason(); r == nil || !strings.Contains(r.Error(), "System role not supported") || !strings.Contains(r.Error(), "gguf:jinja") {
		t.Fatalf("reason %v", r)
	}
	// All failing: an error, never a prompt.
	bad := NewChain(strict)
	if out, err := bad.Render([]Message{{Role: RoleSystem, Content: "s"}}, false); err == nil || out != "" {
		t.Fatalf("want error, got %q", out)
	}
}

func TestResolveChatTemplate(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "templates"), 0o755)
	p := filepath.Join(dir, "templates", "mine.jinja")
	os.WriteFile(p, []byte("x"), 0o644)
	path, name, err := ResolveChatTemplate("mine", dir)
	if err != nil || path != p || name != "user:mine" {
		t.Fatalf("%q %q %v", path, name, err)
	}
	if _, _, err := ResolveChatTemplate("nope", dir); err == nil || !strings.Contains(err.Error(), "nope.jinja") {
		t.Fatalf("missing name: %v", err)
	}
	path, name, err = ResolveChatTemplate(p, "/elsewhere")
	if err != nil || path != p || name != "file:"+p {
		t.Fatalf("path: %q %q %v", path, name, err)
	}
	t.Setenv("XDG_CONFIG_HOME", dir)
	if ConfigDir() != filepath.Join(dir, "natter") {
		t.Fatal(ConfigDir())
	}
}

func TestFileTemplateHotReloadKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "t.jinja")
	os.WriteFile(p, []byte("v1:{{ messages[0].content }}"), 0o644)
	ft, err := LoadFileTemplate(p, "user:t", JinjaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Role: RoleUser, Content: "a"}}
	if out, _ := ft.Render(msgs, false); out != "v1:a" {
		t.Fatal(out)
	}
	writeLater(t, p, "v2:{{ messages[0].content }}")
	if out, _ := ft.Render(msgs, false); out != "v2:a" {
		t.Fatalf("edit not picked up: %q", out)
	}
	writeLater(t, p, "line1\n{% if %}")
	out, err := ft.Render(msgs, false)
	if err != nil || out != "v2:a" {
		t.Fatalf("broken edit should keep v2: %q %v", out, err)
	}
	var je *jinja.Error
	if e := ft.Err(); !errors.As(e, &je) || je.Line != 2 || !strings.HasPrefix(e.Error(), p+":2: ") {
		t.Fatalf("error should name file and line 2: %v", e)
	}
	writeLater(t, p, "")
	if out, _ := ft.Render(msgs, false); out != "v2:a" || ft.Err() == nil {
		t.Fatalf("empty file should keep v2: %q %v", out, ft.Err())
	}
	writeLater(t, p, "v3")
	if out, _ := ft.Render(msgs, false); out != "v3" || ft.Err() != nil {
		t.Fatalf("fixed file: %q %v", out, ft.Err())
	}
	if _, err := LoadFileTemplate(filepath.Join(dir, "none.jinja"), "x", JinjaOptions{}); err == nil {
		t.Fatal("missing file should fail")
	}
}

// writeLater writes a file making sure its modification time changes.
func writeLater(t *testing.T, path, text string) {
	t.Helper()
	st, _ := os.Stat(path)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if st != nil {
		mt := st.ModTime().Add(time.Second)
		if err := os.Chtimes(path, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSpecialSpansAndSegments(t *testing.T) {
	text := "<|im_start|>user\nsay <|im_end|> please<|im_end|>\n<|im_start|>assistant\n"
	specials := []string{"<|im_start|>", "<|im_end|>", "<|im"}
	spans := SpecialSpans(text, specials)
	var got []string
	for _, s := range spans {
		got = append(got, text[s.Start:s.End])
	}
	if strings.Join(got, ",") != "<|im_start|>,<|im_end|>,<|im_end|>,<|im_start|>" {
		t.Fatalf("spans %v", got)
	}
	segs := Segments(text, []Message{{Role: RoleUser, Content: "say <|im_end|> please"}}, specials)
	if len(segs) != 3 || segs[1].Special || segs[1].Text != "say <|im_end|> please" || !segs[0].Special || !segs[2].Special {
		t.Fatalf("segments %+v", segs)
	}
	// A short content must not be matched inside a special token.
	text2 := "<|start|>a<|end|>"
	segs = Segments(text2, []Message{{Role: RoleUser, Content: "a"}}, []string{"<|start|>", "<|end|>"})
	if len(segs) != 3 || segs[1].Text != "a" || segs[1].Special {
		t.Fatalf("segments %+v", segs)
	}
	sp := GuessSpecials(`{{ '<|im_start|>' + role }}[INST]<start_of_turn>`, "<s>", "</s>")
	if strings.Join(sp, " ") != "<s> </s> <|im_start|> [INST] <start_of_turn>" {
		t.Fatalf("guess %v", sp)
	}
}

func TestTemplateSizeLimit(t *testing.T) {
	// Just at the limit parses: a comment padded to MaxTemplateSize bytes.
	at := "{{ messages[0].content }}{#" + strings.Repeat("x", MaxTemplateSize-len("{{ messages[0].content }}{##}")) + "#}"
	if len(at) != MaxTemplateSize {
		t.Fatalf("test template is %d bytes", len(at))
	}
	tm, err := NewJinja("gguf:jinja", at, JinjaOptions{})
	if err != nil {
		t.Fatalf("template of exactly the limit: %v", err)
	}
	if out, err := tm.Render([]Message{{Role: "user", Content: "hi"}}, false); err != nil || out != "hi" {
		t.Fatalf("render = %q, %v", out, err)
	}
	// One byte over is refused with an error naming the source and the limit.
	_, err = NewJinja("gguf:jinja", at+" ", JinjaOptions{})
	if !errors.Is(err, ErrTemplateTooLarge) {
		t.Fatalf("over the limit: got %v", err)
	}
	for _, want := range []string{"gguf:jinja", "1048577 bytes", "1048576"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// A huge template file is refused too.
	path := filepath.Join(t.TempDir(), "big.jinja")
	if err := os.WriteFile(path, []byte(strings.Repeat("a", 50<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFileTemplate(path, "big", JinjaOptions{}); !errors.Is(err, ErrTemplateTooLarge) {
		t.Fatalf("50 MB file: got %v", err)
	}
}
