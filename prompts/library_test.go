package prompts

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var fixedNow = time.Date(2026, 3, 4, 9, 5, 0, 0, time.UTC)

func TestBuiltinsLoadAndRender(t *testing.T) {
	lib, err := LoadLibrary(filepath.Join(t.TempDir(), "missing"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"coder", "concise", "default", "proofreader", "summarizer", "teacher", "translator"}
	if got := strings.Join(lib.Names(), ","); got != strings.Join(want, ",") {
		t.Fatalf("names %s", got)
	}
	for _, p := range lib.List() {
		if p.Source != SourceBuiltin || p.Description == "" {
			t.Errorf("%s: source %q description %q", p.Name, p.Source, p.Description)
		}
		out, err := p.Render(Vars{Model: "m", User: "ann", OS: "linux", Now: fixedNow})
		if err != nil || out == "" || strings.Contains(out, "<no value>") {
			t.Errorf("%s: %q %v", p.Name, out, err)
		}
	}
	tr, _ := lib.Get("translator")
	out, _ := tr.Render(Vars{Now: fixedNow})
	if !strings.Contains(out, "into English.") {
		t.Fatalf("default var: %q", out)
	}
	out, _ = tr.Render(Vars{Now: fixedNow, Extra: map[string]string{"To": "German"}})
	if !strings.Contains(out, "into German.") {
		t.Fatalf("--var: %q", out)
	}
	if tr.Sampling.Temperature == nil || *tr.Sampling.Temperature != 0.3 {
		t.Fatalf("temperature override %v", tr.Sampling.Temperature)
	}
	def, _ := lib.Get(DefaultPrompt)
	out, _ = def.Render(Vars{Model: "qwen", User: "ann", OS: "linux", Now: fixedNow})
	for _, s := range []string{"linux", "qwen", "Wednesday, 4 March 2026", "09:05", "ann"} {
		if !strings.Contains(out, s) {
			t.Errorf("default prompt lacks %q: %q", s, out)
		}
	}
}

func TestFrontMatterErrors(t *testing.T) {
	cases := []struct {
		text      string
		line, col int
		msg       string
	}{
		{"---\nname: x\n", 1, 1, "no closing ---"},
		{"---\nname: x\ntemprature: 0.2\n---\nbody", 3, 1, `unknown front matter key "temprature"`},
		{"---\ntemperature: hot\n---\nbody", 2, 14, "temperature must be a number"},
		{"---\ndescription: \"unterminated\n---\nbody", 2, 14, "unterminated"},
		{"---\nname: a\nname: b\n---\nb", 3, 1, "duplicate key"},
		{"---\nvars:\n  To: English\n    Deep: x\n---\nb", 4, 5, "unexpected indentation"},
		{"---\njust text\n---\nb", 2, 1, `expected "key: value"`},
		{"---\nvars:\n  9x: y\n---\nb", 3, 3, "variable name"},
		{"---\nsampling:\n  top_k: -1\n---\nb", 3, 10, "top_k must be a whole number"},
		{"---\nname: x\n---\nline one\nHello {{.Nmae}}\n", 5, 9, "Nmae"},
		{"---\nname: x\n---\n\nbad {{if}}", 5, 1, "missing value for if"},
		{"---\nname: x\n---\nok\n{{ nosuch .X }}", 5, 4, `function "nosuch" not defined`},
		{"---\nname: x\n---\n  \n", 4, 1, "empty"},
		{"---\nname: x\n---\nok\nxx{{range 1000000000}}{{range 1000000000}}.{{end}}{{end}}", 5, 11, "range over a number"},
	}
	for _, c := range cases {
		_, err := ParsePrompt("p.md", "p", SourceUser, c.text)
		var fe *FileError
		if !errors.As(err, &fe) {
			t.Errorf("%q: want FileError, got %v", c.text, err)
			continue
		}
		if fe.Line != c.line || fe.Col != c.col || !strings.Contains(fe.Msg, c.msg) || fe.Path != "p.md" {
			t.Errorf("%q: got %v (line %d col %d), want %d:%d %q", c.text, err, fe.Line, fe.Col, c.line, c.col, c.msg)
		}
		if !strings.HasPrefix(err.Error(), "p.md:") {
			t.Errorf("message %q lacks file:line:col", err)
		}
	}
}

func TestFrontMatterValues(t *testing.T) {
	text := "---\n# comment\nname: fancy\ndescription: 'It''s fine' # trailing\ntop_p: 0.9\nsampling:\n  temperature: 1.5\n  max_tokens: 100\nvars:\n  Tone: \"warm \\\"and\\\" kind\"\n  Empty:\n---\nTone={{.Tone}} Empty=[{{.Empty}}] Extra={{.Extra}}"
	p, err := ParsePrompt("f.md", "file", SourceUser, text+"")
	if err == nil {
		t.Fatal("body uses .Extra which is not declared: want a load-time error")
	}
	text = strings.Replace(text, " Extra={{.Extra}}", "", 1)
	p, err = ParsePrompt("f.md", "file", SourceUser, text)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "fancy" || p.Description != "It's fine" || *p.Sampling.TopP != 0.9 || *p.Sampling.Temperature != 1.5 || *p.Sampling.MaxTokens != 100 {
		t.Fatalf("%+v", p)
	}
	out, err := p.Render(Vars{})
	if err != nil || out != `Tone=warm "and" kind Empty=[]` {
		t.Fatalf("%q %v", out, err)
	}
	// No front matter at all: the whole file is the body.
	p, err = ParsePrompt("g.md", "plain", SourceUser, "Just {{.OS}}")
	if err != nil || p.Name != "plain" {
		t.Fatal(err)
	}
	if out, _ := p.Render(Vars{OS: "plan9"}); out != "Just plan9" {
		t.Fatal(out)
	}
}

func TestUserPromptsOverrideAndAdd(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "concise.md"), []byte("---\ndescription: mine\n---\nBe brief, {{.User}}."), 0o644)
	os.WriteFile(filepath.Join(dir, "pirate.md"), []byte("---\ndescription: Arr\n---\nTalk like a pirate."), 0o644)
	os.WriteFile(filepath.Join(dir, "broken.md"), []byte("---\nname: broken\ntemperature: x\n---\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644)
	lib, err := LoadLibrary(dir)
	if err == nil || !strings.Contains(err.Error(), "broken.md:3:14") {
		t.Fatalf("want broken.md error, got %v", err)
	}
	p, _ := lib.Get("concise")
	if p.Source != SourceUser || p.Description != "mine" {
		t.Fatalf("override: %+v", p)
	}
	if out, _ := p.Render(Vars{User: "bo"}); out != "Be brief, bo." {
		t.Fatal(out)
	}
	if b, _ := lib.Builtin("concise"); b.Source != SourceBuiltin {
		t.Fatal("built-in lost")
	}
	if _, ok := lib.Get("pirate"); !ok {
		t.Fatal("user prompt not added")
	}
	if _, ok := lib.Get("broken"); ok {
		t.Fatal("broken prompt should not load")
	}
	if len(lib.List()) != 8 {
		t.Fatalf("list %v", lib.Names())
	}
}

func TestHotReloadKeepsLastGoodVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mine.md")
	os.WriteFile(path, []byte("---\ndescription: v1\n---\nversion one"), 0o644)
	lib, err := LoadLibrary(dir)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []error
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		lib.Watch(ctx, 10*time.Millisecond, func(err error) {
			mu.Lock()
			events = append(events, err)
			mu.Unlock()
		})
		close(done)
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	render := func() string {
		p, ok := lib.Get("mine")
		if !ok {
			return "<missing>"
		}
		out, _ := p.Render(Vars{})
		return out
	}
	writeLater(t, path, "---\ndescription: v2\n---\nversion two")
	waitFor("v2", func() bool { return render() == "version two" })

	writeLater(t, path, "---\ndescription: v3\n---\nversion {{.Oops}}")
	// The watcher may also catch the file half written (os.WriteFile
	// truncates first) and report that; wait for the broken template's
	// own error, which must carry file:line:col.
	waitFor("the template error, with file:line:col", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) > 0 && events[len(events)-1] != nil && strings.Contains(events[len(events)-1].Error(), "mine.md:4:11")
	})
	if render() != "version two" {
		t.Fatalf("broken edit replaced the good version: %q", render())
	}
	writeLater(t, path, "---\ndescription: v4\n---\nversion four")
	waitFor("v4", func() bool { return render() == "version four" })
	os.Remove(path)
	waitFor("removal", func() bool { return render() == "<missing>" })
	cancel()
	<-done
}

// FuzzParsePrompt: any prompt file loads or fails with a FileError; never a
// panic or a hang.
func FuzzParsePrompt(f *testing.F) {
	for _, s := range []string{
		"---\nname: x\ndescription: d\ntemperature: 0.5\nvars:\n  To: English\n---\nTranslate to {{.To}} on {{.OS}}.",
		"---\nsampling:\n  top_k: 40\n---\n{{if .User}}Hi {{.User}}{{else}}Hi{{end}}",
		"no front matter {{.Date}} {{.Time}}",
		"---\ndescription: 'it''s' # c\n---\n{{range $i, $c := .Model}}{{end}}",
		"---\n---\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParsePrompt("f.md", "f", SourceUser, text)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("not a FileError: %v", err)
			}
			return
		}
		if _, err := p.Render(Vars{Model: "m", Now: fixedNow}); err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("render error without position: %v", err)
			}
		}
	})
}

func TestSystemPrompt(t *testing.T) {
	lib, err := LoadLibrary("")
	if err != nil {
		t.Fatal(err)
	}
	text, p, err := lib.SystemPrompt("translator", Vars{Extra: map[string]string{"To": "Welsh"}})
	if err != nil || p.Name != "translator" || !strings.Contains(text, "into Welsh.") {
		t.Fatalf("%q %v", text, err)
	}
	if _, _, err := lib.SystemPrompt("nope", Vars{}); err == nil || !strings.Contains(err.Error(), "coder, concise, default") {
		t.Fatalf("unknown name: %v", err)
	}
}

func TestWatchDoesNotRepeatStartupErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.md"), []byte("---\ntemperature: x\n---\n"), 0o644)
	lib, err := LoadLibrary(dir)
	if err == nil {
		t.Fatal("want startup error")
	}
	calls := make(chan error, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	lib.Watch(ctx, 10*time.Millisecond, func(err error) { calls <- err })
	if len(calls) != 0 {
		t.Fatalf("startup error reported again by Watch: %v", <-calls)
	}
}
