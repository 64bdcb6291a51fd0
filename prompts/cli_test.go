package prompts

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
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

func runTemplate(t *testing.T, stdin string, mt ModelTemplateFunc, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := RunTemplateCmd(args, strings.NewReader(stdin), &out, &errb, mt)
	return code, out.String(), errb.String()
}

func TestTemplateRenderCmd(t *testing.T) {
	dir := t.TempDir()
	tmpl := writeFile(t, dir, "t.jinja", `{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% if m.tool_calls %}{{ m.tool_calls | tojson }}{% endif %}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}{% if enable_thinking is defined %}think={{ enable_thinking }}{% endif %}{% if tools %}{{ tools | length }} tools{% endif %}`+"\n")
	msgs := writeFile(t, dir, "m.json", `[{"role": "user", "content": "héllo\n"}, {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"b": 1, "a": [1.0]}}}]}]`)
	code, out, errs := runTemplate(t, "", nil, "render", "--template", tmpl, "--messages", msgs, "--bos-token", "<s>", "--eos-token", "</s>", "--add-generation-prompt", "--var", "enable_thinking=false")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := `<s><|user|>héllo` + "\n" + `</s><|assistant|>[{"function": {"name": "f", "arguments": {"b": 1, "a": [1.0]}}}]</s><|assistant|>think=False`
	if out != want {
		t.Fatalf("got  %q\nwant %q", out, want)
	}
	// Messages from stdin in object form with tools; flags after positionals are fine.
	code, out, errs = runTemplate(t, `{"messages": [{"role": "user", "content": "x"}], "tools": [{"name": "a"}, {"name": "b"}]}`, nil, "render", "--messages", "-", "--template", tmpl)
	if code != ExitOK || out != "<|user|>x2 tools" {
		t.Fatalf("stdin: %d %q %s", code, out, errs)
	}
}

func TestTemplateRenderCmdErrors(t *testing.T) {
	dir := t.TempDir()
	msgs := writeFile(t, dir, "m.json", `[{"role": "system", "content": "s"}]`)
	raising := writeFile(t, dir, "r.jinja", "ok\n{% if messages[0].role == 'system' %}\n{{ raise_exception('System role not supported') }}{% endif %}")
	code, out, errs := runTemplate(t, "", nil, "render", "--template", raising, "--messages", msgs)
	if code != ExitError || out != "" || !strings.Contains(errs, raising+":3: System role not supported") {
		t.Fatalf("raise: %d %q %q", code, out, errs)
	}
	syntax := writeFile(t, dir, "s.jinja", "a\nb\n{% for x in %}{% endfor %}")
	code, _, errs = runTemplate(t, "", nil, "render", "--template", syntax, "--messages", msgs)
	if code != ExitError || !strings.Contains(errs, syntax+":3:") {
		t.Fatalf("syntax: %d %q", code, errs)
	}
	badJSON := writeFile(t, dir, "b.json", `[{"role": "user", "content": }]`)
	if code, _, errs = runTemplate(t, "", nil, "render", "--template", syntax, "--messages", badJSON); code != ExitError || !strings.Contains(errs, "invalid JSON") {
		t.Fatalf("bad json: %d %q", code, errs)
	}
	if code, out, _ := runTemplate(t, "", nil, "render", "--help"); code != ExitOK || !strings.HasPrefix(out, "usage: natter template render") {
		t.Fatalf("help: %d %q", code, out)
	}
	for _, args := range [][]string{
		{},
		{"bogus"},
		{"render"},
		{"render", "--messages", msgs},
		{"render", "--messages", msgs, "--template", raising, "--model", "x.gguf"},
		{"render", "--messages", msgs, "--template", raising, "--var", "novalue"},
		{"render", "--messages", msgs, "--template", raising, "--var", "k=not json"},
		{"render", "--nosuchflag"},
	} {
		if code, _, _ := runTemplate(t, "", nil, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestTemplateRenderCmdModel(t *testing.T) {
	dir := t.TempDir()
	msgs := writeFile(t, dir, "m.json", `[{"role": "user", "content": "q"}]`)
	// The integrator's function reads tokenizer.chat_template from a GGUF;
	// here it reads a plain file standing in for the model's metadata.
	tmplFile := writeFile(t, dir, "model-template.jinja", "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}")
	fromFile := func(path string) (string, string, string, error) {
		if path != "model.gguf" {
			return "", "", "", errors.New("no such model")
		}
		b, err := os.ReadFile(tmplFile)
		return string(b), "<B>", "<E>", err
	}
	code, out, errs := runTemplate(t, "", fromFile, "render", "--model", "model.gguf", "--messages", msgs)
	if code != ExitOK || out != "<B>q<E>" {
		t.Fatalf("%d %q %s", code, out, errs)
	}
	code, out, _ = runTemplate(t, "", fromFile, "render", "--model", "model.gguf", "--messages", msgs, "--bos-token", "")
	if code != ExitOK || out != "q<E>" {
		t.Fatalf("explicit empty bos should win: %q", out)
	}
	if code, _, errs = runTemplate(t, "", fromFile, "render", "--model", "other.gguf", "--messages", msgs); code != ExitError || !strings.Contains(errs, "no such model") {
		t.Fatalf("%d %q", code, errs)
	}
}

func runPrompts(t *testing.T, env Env, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := RunPromptsCmd(args, &out, &errb, env)
	return code, out.String(), errb.String()
}

func TestPromptsCmd(t *testing.T) {
	cfg := t.TempDir()
	env := Env{ConfigDir: cfg, Model: "tiny", User: "ann", OS: "linux", Now: fixedNow}
	code, out, _ := runPrompts(t, env)
	if code != ExitOK || !strings.Contains(out, "translator") || !strings.Contains(out, "built-in") || !strings.HasPrefix(out, "NAME") {
		t.Fatalf("list: %d %q", code, out)
	}
	code, out, _ = runPrompts(t, env, "show", "translator")
	if code != ExitOK || !strings.HasPrefix(out, "---\nname: translator") {
		t.Fatalf("show: %q", out)
	}
	code, out, _ = runPrompts(t, env, "render", "translator", "--var", "To=Finnish")
	if code != ExitOK || !strings.Contains(out, "into Finnish.") || !strings.HasSuffix(out, ".\n") {
		t.Fatalf("render: %q", out)
	}
	if code, _, errs := runPrompts(t, env, "render", "nope"); code != ExitError || !strings.Contains(errs, `no prompt named "nope"`) {
		t.Fatalf("missing: %d %s", code, errs)
	}
	for _, args := range [][]string{{"show"}, {"render"}, {"render", "a", "b"}, {"frob"}, {"render", "translator", "--var", "x"}} {
		if code, _, _ := runPrompts(t, env, args...); code != ExitUsage {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}

func TestPromptsEditCopiesBuiltinAndValidates(t *testing.T) {
	cfg := t.TempDir()
	// A real editor run through the shell: appends a line to the file.
	editor := writeFile(t, t.TempDir(), "ed.sh", "#!/bin/sh\nprintf 'Always answer in haiku.\\n' >> \"$1\"\n")
	os.Chmod(editor, 0o755)
	var eout bytes.Buffer
	env := Env{ConfigDir: cfg, Editor: editor, EditorOut: &eout, EditorErr: &eout, Stdin: strings.NewReader("")}
	code, out, errs := runPrompts(t, env, "edit", "concise")
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
	_, out, _ = runPrompts(t, env)
	if !strings.Contains(out, "user (overrides built-in)") {
		t.Fatalf("list after edit: %q", out)
	}
	// Editing again edits the user file in place (no second copy).
	code, out, _ = runPrompts(t, env, "edit", "concise")
	if code != ExitOK || strings.Contains(out, "created") {
		t.Fatalf("second edit: %d %q", code, out)
	}
	// An editor that breaks the file: exit 1 with file:line:col.
	breaker := writeFile(t, t.TempDir(), "br.sh", "#!/bin/sh\nprintf -- '---\\ntemperature: warm\\n---\\nx\\n' > \"$1\"\n")
	os.Chmod(breaker, 0o755)
	env.Editor = breaker
	code, _, errs = runPrompts(t, env, "edit", "newone")
	if code != ExitError || !strings.Contains(errs, filepath.Join(cfg, "prompts", "newone.md")+":2:14") {
		t.Fatalf("broken edit: %d %q", code, errs)
	}
	env.Editor = "false"
	if code, _, _ := runPrompts(t, env, "edit", "x"); code != ExitError {
		t.Fatal("failing editor should exit 1")
	}
	if code, _, _ := runPrompts(t, env, "edit", "../evil"); code != ExitUsage {
		t.Fatal("path-like names must be rejected")
	}
}
