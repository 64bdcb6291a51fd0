package prompts

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runTemplate(t *testing.T, stdin string, mt ModelTemplateFunc, o RenderOptions) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := TemplateRender(o, strings.NewReader(stdin), &out, &errb, mt)
	return code, out.String(), errb.String()
}

func ptr(s string) *string { return &s }

func TestTemplateRenderCmd(t *testing.T) {
	dir := t.TempDir()
	tmpl := writeFile(t, dir, "t.jinja", `{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% if m.tool_calls %}{{ m.tool_calls | tojson }}{% endif %}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}{% if enable_thinking is defined %}think={{ enable_thinking }}{% endif %}{% if tools %}{{ tools | length }} tools{% endif %}`+"\n")
	msgs := writeFile(t, dir, "m.json", `[{"role": "user", "content": "héllo\n"}, {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"b": 1, "a": [1.0]}}}]}]`)
	code, out, errs := runTemplate(t, "", nil, RenderOptions{Template: tmpl, Messages: msgs, BOS: ptr("<s>"), EOS: ptr("</s>"), AddGenerationPrompt: true, Vars: []string{"enable_thinking=false"}})
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := `<s><|user|>héllo` + "\n" + `</s><|assistant|>[{"function": {"name": "f", "arguments": {"b": 1, "a": [1.0]}}}]</s><|assistant|>think=False`
	if out != want {
		t.Fatalf("got  %q\nwant %q", out, want)
	}
	// Messages from stdin in object form with tools.
	code, out, errs = runTemplate(t, `{"messages": [{"role": "user", "content": "x"}], "tools": [{"name": "a"}, {"name": "b"}]}`, nil, RenderOptions{Messages: "-", Template: tmpl})
	if code != ExitOK || out != "<|user|>x2 tools" {
		t.Fatalf("stdin: %d %q %s", code, out, errs)
	}
	// --tools replaces the messages file's tools.
	tools := writeFile(t, dir, "tools.json", `[{"name": "only"}]`)
	code, out, errs = runTemplate(t, `{"messages": [{"role": "user", "content": "x"}], "tools": [{"name": "a"}, {"name": "b"}]}`, nil, RenderOptions{Messages: "-", Template: tmpl, Tools: tools})
	if code != ExitOK || out != "<|user|>x1 tools" {
		t.Fatalf("tools: %d %q %s", code, out, errs)
	}
}

func TestTemplateRenderCmdErrors(t *testing.T) {
	dir := t.TempDir()
	msgs := writeFile(t, dir, "m.json", `[{"role": "system", "content": "s"}]`)
	raising := writeFile(t, dir, "r.jinja", "ok\n{% if messages[0].role == 'system' %}\n{{ raise_exception('System role not supported') }}{% endif %}")
	code, out, errs := runTemplate(t, "", nil, RenderOptions{Template: raising, Messages: msgs})
	if code != ExitError || out != "" || !strings.Contains(errs, raising+":3: System role not supported") {
		t.Fatalf("raise: %d %q %q", code, out, errs)
	}
	syntax := writeFile(t, dir, "s.jinja", "a\nb\n{% for x in %}{% endfor %}")
	code, _, errs = runTemplate(t, "", nil, RenderOptions{Template: syntax, Messages: msgs})
	if code != ExitError || !strings.Contains(errs, syntax+":3:") {
		t.Fatalf("syntax: %d %q", code, errs)
	}
	badJSON := writeFile(t, dir, "b.json", `[{"role": "user", "content": }]`)
	if code, _, errs = runTemplate(t, "", nil, RenderOptions{Template: syntax, Messages: badJSON}); code != ExitError || !strings.Contains(errs, "invalid JSON") {
		t.Fatalf("bad json: %d %q", code, errs)
	}
	if code, _, errs = runTemplate(t, "", nil, RenderOptions{Model: "x.gguf", Messages: msgs}); code != ExitError || !strings.Contains(errs, "natter template render: --model is not available in this build") {
		t.Fatalf("no model func: %d %q", code, errs)
	}
	for _, tc := range []struct {
		o    RenderOptions
		want string
	}{
		{RenderOptions{}, "need --messages and exactly one of --template or --model"},
		{RenderOptions{Messages: msgs}, "need --messages and exactly one of --template or --model"},
		{RenderOptions{Template: raising}, "need --messages and exactly one of --template or --model"},
		{RenderOptions{Messages: msgs, Template: raising, Model: "x.gguf"}, "need --messages and exactly one of --template or --model"},
		{RenderOptions{Messages: msgs, Template: raising, Vars: []string{"novalue"}}, `--var wants KEY=JSON, got "novalue"`},
		{RenderOptions{Messages: msgs, Template: raising, Vars: []string{"=1"}}, `--var wants KEY=JSON, got "=1"`},
		{RenderOptions{Messages: msgs, Template: raising, Vars: []string{"k=not json"}}, "--var k: value is not JSON"},
	} {
		code, out, errs := runTemplate(t, "", nil, tc.o)
		if code != ExitUsage || out != "" || !strings.HasPrefix(errs, "natter template render: ") || !strings.Contains(errs, tc.want) {
			t.Errorf("%+v: exit %d %q %q, want 2 and %q", tc.o, code, out, errs, tc.want)
		}
	}
	// Usage errors about the flag combination end with the usage text.
	if _, _, errs := runTemplate(t, "", nil, RenderOptions{}); !strings.HasSuffix(errs, TemplateUsage) {
		t.Errorf("usage text missing: %q", errs)
	}
}

func TestTemplateRenderCmdModel(t *testing.T) {
	dir := t.TempDir()
	msgs := writeFile(t, dir, "m.json", `[{"role": "user", "content": "q"}]`)
	// The integrator's function reads tokenizer.chat_template from a GGUF;
	// here it reads a plain file standing in for the model's metadata.
	tmplFile := writeFile(t, dir, "model-template.jinja", "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}")
	fromFile := func(path string) (string, string, string, error) {
		switch path {
		case "model.gguf":
			b, err := os.ReadFile(tmplFile)
			return string(b), "<B>", "<E>", err
		case "bare.gguf":
			return "", "<B>", "<E>", nil
		}
		return "", "", "", errors.New("no such model")
	}
	code, out, errs := runTemplate(t, "", fromFile, RenderOptions{Model: "model.gguf", Messages: msgs})
	if code != ExitOK || out != "<B>q<E>" {
		t.Fatalf("%d %q %s", code, out, errs)
	}
	code, out, _ = runTemplate(t, "", fromFile, RenderOptions{Model: "model.gguf", Messages: msgs, BOS: ptr("")})
	if code != ExitOK || out != "q<E>" {
		t.Fatalf("explicit empty bos should win: %q", out)
	}
	code, out, _ = runTemplate(t, "", fromFile, RenderOptions{Model: "model.gguf", Messages: msgs, EOS: ptr("[e]")})
	if code != ExitOK || out != "<B>q[e]" {
		t.Fatalf("explicit eos should win: %q", out)
	}
	if code, _, errs = runTemplate(t, "", fromFile, RenderOptions{Model: "other.gguf", Messages: msgs}); code != ExitError || !strings.Contains(errs, "no such model") {
		t.Fatalf("%d %q", code, errs)
	}
	if code, _, errs = runTemplate(t, "", fromFile, RenderOptions{Model: "bare.gguf", Messages: msgs}); code != ExitError || !strings.Contains(errs, "bare.gguf has no tokenizer.chat_template") {
		t.Fatalf("%d %q", code, errs)
	}
}

func promptsCLI(env Env) (PromptsCLI, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return PromptsCLI{Env: env, Stdout: &out, Stderr: &errb}, &out, &errb
}

func TestPromptsCmd(t *testing.T) {
	cfg := t.TempDir()
	env := Env{ConfigDir: cfg, Model: "tiny", User: "ann", OS: "linux", Now: fixedNow}
	c, out, _ := promptsCLI(env)
	if code := c.List(); code != ExitOK || !strings.Contains(out.String(), "translator") || !strings.Contains(out.String(), "built-in") || !strings.HasPrefix(out.String(), "NAME") {
		t.Fatalf("list: %d %q", code, out)
	}
	c, out, _ = promptsCLI(env)
	if code := c.Show("translator"); code != ExitOK || !strings.HasPrefix(out.String(), "---\nname: translator") {
		t.Fatalf("show: %q", out)
	}
	c, out, _ = promptsCLI(env)
	if code := c.Render("translator", []string{"To=Finnish"}); code != ExitOK || !strings.Contains(out.String(), "into Finnish.") || !strings.HasSuffix(out.String(), ".\n") {
		t.Fatalf("render: %q", out)
	}
	c, _, errb := promptsCLI(env)
	if code := c.Render("nope", nil); code != ExitError || !strings.Contains(errb.String(), `natter prompts: no prompt named "nope"`) {
		t.Fatalf("missing: %d %s", code, errb)
	}
	c, _, errb = promptsCLI(env)
	if code := c.Show("nope"); code != ExitError || !strings.Contains(errb.String(), `natter prompts: no prompt named "nope"`) {
		t.Fatalf("show missing: %d %s", code, errb)
	}
	for _, v := range []string{"x", "=x", "1a=x", "a-b=x"} {
		c, out, errb = promptsCLI(env)
		if code := c.Render("translator", []string{"To=Finnish", v}); code != ExitUsage || out.Len() != 0 || !strings.Contains(errb.String(), "natter prompts render: --var wants KEY=VALUE, got "+strconv.Quote(v)) {
			t.Errorf("--var %q: exit %d %q", v, code, errb)
		}
	}
}

func TestPersonaNames(t *testing.T) {
	cfg := t.TempDir()
	env := Env{ConfigDir: cfg}
	names := PersonaNames(env)
	if !slices.Contains(names, "translator") || !slices.Contains(names, "concise") || !slices.IsSorted(names) {
		t.Fatalf("built-ins: %q", names)
	}
	// User prompts are added; one overriding a built-in appears once; a
	// broken file is left out, as list leaves it out.
	dir := env.PromptsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "zed.md", "---\nname: zed\ndescription: mine\n---\nHi.\n")
	writeFile(t, dir, "translator.md", "---\nname: translator\ndescription: mine\n---\nHi.\n")
	writeFile(t, dir, "broken.md", "---\ntemperature: warm\n---\nx\n")
	got := PersonaNames(env)
	if len(got) != len(names)+1 || !slices.Contains(got, "zed") || slices.Contains(got, "broken") || !slices.IsSorted(got) {
		t.Fatalf("with user prompts: %q (built-ins %q)", got, names)
	}
	// The same names as the list command's first column.
	c, out, _ := promptsCLI(env)
	c.List()
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n")[1:] {
		listed = append(listed, strings.Fields(line)[0])
	}
	if !slices.Equal(listed, got) {
		t.Fatalf("list shows %q, PersonaNames %q", listed, got)
	}
}

func TestPromptsEditCopiesBuiltinAndValidates(t *testing.T) {
	cfg := t.TempDir()
	// A real editor run through the shell: appends a line to the file.
	editor := writeFile(t, t.TempDir(), "ed.sh", "#!/bin/sh\nprintf 'Always answer in haiku.\\n' >> \"$1\"\n")
	os.Chmod(editor, 0o755)
	var eout bytes.Buffer
	env := Env{ConfigDir: cfg, Editor: editor, EditorOut: &eout, EditorErr: &eout, Stdin: strings.NewReader("")}
	c, outb, errb := promptsCLI(env)
	code, out, errs := c.Edit("concise"), outb.String(), errb.String()
	if code != ExitOK {
		t.Fatalf("edit: %d %s %s", code, errs, eout.String())
	}
	path := filepath.Join(cfg, "prompts", "concise.md")
	if !strings.Contains(out, path) {
		t.Fatalf("should say it created %s: %q", path, out)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "---\nname: concise") || !strings.HasSuffix(string(data), "Always answer in haiku.\n") {
		t.Fatalf("file: %q", data)
	}
	c, outb, _ = promptsCLI(env)
	c.List()
	if out = outb.String(); !strings.Contains(out, "user (overrides built-in)") {
		t.Fatalf("list after edit: %q", out)
	}
	// Editing again edits the user file in place (no second copy).
	c, outb, _ = promptsCLI(env)
	code, out = c.Edit("concise"), outb.String()
	if code != ExitOK || strings.Contains(out, "created") {
		t.Fatalf("second edit: %d %q", code, out)
	}
	// An editor that breaks the file: exit 1 with file:line:col.
	breaker := writeFile(t, t.TempDir(), "br.sh", "#!/bin/sh\nprintf -- '---\\ntemperature: warm\\n---\\nx\\n' > \"$1\"\n")
	os.Chmod(breaker, 0o755)
	env.Editor = breaker
	c, _, errb = promptsCLI(env)
	code, errs = c.Edit("newone"), errb.String()
	if code != ExitError || !strings.Contains(errs, filepath.Join(cfg, "prompts", "newone.md")+":2:14") {
		t.Fatalf("broken edit: %d %q", code, errs)
	}
	env.Editor = "false"
	c, _, _ = promptsCLI(env)
	if code := c.Edit("x"); code != ExitError {
		t.Fatal("failing editor should exit 1")
	}
	for _, name := range []string{"../evil", "", "a/b"} {
		c, _, errb = promptsCLI(env)
		if code := c.Edit(name); code != ExitUsage || !strings.Contains(errb.String(), "natter prompts edit: "+strconv.Quote(name)+" is not a valid prompt name") {
			t.Fatalf("path-like name %q must be rejected: %d %q", name, code, errb)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg, "evil.md")); err == nil {
		t.Fatal("../evil was written")
	}
}
