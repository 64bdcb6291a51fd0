package prompts

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"natter/prompts/jinja"
)

// Exit codes of the CLI entry points.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// ModelTemplateFunc reads a GGUF's tokenizer.chat_template and its BOS/EOS
// token texts (the integrator passes one backed by engine/gguf).
type ModelTemplateFunc func(path string) (tmpl, bos, eos string, err error)

// TemplateUsage is the help text of "natter template render"; usage errors
// end with it.
const TemplateUsage = `usage: natter template render (--template FILE.jinja | --model FILE.gguf) --messages FILE.json
         [--add-generation-prompt] [--bos-token S] [--eos-token S] [--tools FILE.json] [--var KEY=JSON]...

Renders a Jinja chat template exactly as Hugging Face transformers would and
prints the result with no added newline. --messages - reads stdin. The
messages file is a JSON array of messages, or an object with "messages" and
optionally "tools".
`

// RenderOptions are the parsed flags of "natter template render".
type RenderOptions struct {
	Template string // --template FILE.jinja
	Model    string // --model FILE.gguf (exactly one of Template and Model)
	Messages string // --messages FILE.json; "-" reads stdin
	Tools    string // --tools FILE.json ("": none, or the messages file's "tools")
	// BOS and EOS are --bos-token and --eos-token; nil means the flag was
	// not given (with Model, the model's own token text is used then; a
	// non-nil "" is an explicit empty token).
	BOS, EOS            *string
	AddGenerationPrompt bool     // --add-generation-prompt
	Vars                []string // --var KEY=JSON, repeatable, in order
}

// TemplateRender runs "natter template render" with already-parsed flags and
// returns the exit code (ExitOK, ExitError, or ExitUsage for bad values).
func TemplateRender(o RenderOptions, stdin io.Reader, stdout, stderr io.Writer, modelTemplate ModelTemplateFunc) int {
	if o.Messages == "" || (o.Template == "") == (o.Model == "") {
		fmt.Fprintf(stderr, "natter template render: need --messages and exactly one of --template or --model\n%s", TemplateUsage)
		return ExitUsage
	}

	var src, name string
	opt := JinjaOptions{Vars: map[string]any{}}
	if o.BOS != nil {
		opt.BOS = *o.BOS
	}
	if o.EOS != nil {
		opt.EOS = *o.EOS
	}
	if o.Model != "" {
		if modelTemplate == nil {
			fmt.Fprintln(stderr, "natter template render: --model is not available in this build")
			return ExitError
		}
		t, mb, me, err := modelTemplate(o.Model)
		if err != nil {
			fmt.Fprintf(stderr, "natter template render: %v\n", err)
			return ExitError
		}
		if t == "" {
			fmt.Fprintf(stderr, "natter template render: %s has no tokenizer.chat_template\n", o.Model)
			return ExitError
		}
		src, name = t, filepath.Base(o.Model)
		if o.BOS == nil {
			opt.BOS = mb
		}
		if o.EOS == nil {
			opt.EOS = me
		}
	} else {
		data, err := os.ReadFile(o.Template)
		if err != nil {
			fmt.Fprintf(stderr, "natter template render: %v\n", err)
			return ExitError
		}
		src, name = string(data), o.Template
	}
	for _, kv := range o.Vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			fmt.Fprintf(stderr, "natter template render: --var wants KEY=JSON, got %q\n", kv)
			return ExitUsage
		}
		val, err := jinja.ParseJSON([]byte(v))
		if err != nil {
			fmt.Fprintf(stderr, "natter template render: --var %s: value is not JSON (quote strings: %s='\"text\"'): %v\n", k, k, err)
			return ExitUsage
		}
		opt.Vars[k] = val
	}
	var msgData []byte
	var err error
	if o.Messages == "-" {
		msgData, err = io.ReadAll(io.LimitReader(stdin, 256<<20))
	} else {
		msgData, err = os.ReadFile(o.Messages)
	}
	if err != nil {
		fmt.Fprintf(stderr, "natter template render: %v\n", err)
		return ExitError
	}
	msgs, tools, err := decodeMessages(msgData)
	if err != nil {
		fmt.Fprintf(stderr, "natter template render: %s: %v\n", o.Messages, err)
		return ExitError
	}
	if o.Tools != "" {
		data, err := os.ReadFile(o.Tools)
		if err == nil {
			tools, err = jinja.ParseJSON(data)
		}
		if err != nil {
			fmt.Fprintf(stderr, "natter template render: %s: %v\n", o.Tools, err)
			return ExitError
		}
	}
	t, err := NewJinja(name, src, opt)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return ExitError
	}
	out, err := t.RenderValues(msgs, tools, o.AddGenerationPrompt)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return ExitError
	}
	if _, err := io.WriteString(stdout, out); err != nil {
		fmt.Fprintf(stderr, "natter template render: %v\n", err)
		return ExitError
	}
	return ExitOK
}

// decodeMessages accepts [messages...] or {"messages": [...], "tools": [...]}.
func decodeMessages(data []byte) (msgs, tools jinja.Value, err error) {
	v, err := jinja.ParseJSON(data)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %w", err)
	}
	switch x := v.(type) {
	case *jinja.List:
		msgs = x
	case *jinja.Dict:
		m, ok := x.Get("messages")
		if !ok {
			return nil, nil, errors.New(`JSON object has no "messages"`)
		}
		msgs = m
		tools, _ = x.Get("tools")
	default:
		return nil, nil, errors.New("want a JSON array of messages or an object with \"messages\"")
	}
	l, ok := msgs.(*jinja.List)
	if !ok {
		return nil, nil, errors.New(`"messages" must be an array`)
	}
	for i, m := range l.Items {
		d, ok := m.(*jinja.Dict)
		if !ok {
			return nil, nil, fmt.Errorf("message %d is not an object", i)
		}
		if r, ok := d.Get("role"); !ok || r == nil {
			return nil, nil, fmt.Errorf("message %d has no \"role\"", i)
		}
	}
	return msgs, tools, nil
}

// Env is what "natter prompts" needs from its surroundings.
type Env struct {
	ConfigDir string // natter's config dir (ConfigDir()); prompts live in ConfigDir/prompts
	Editor    string // $VISUAL or $EDITOR; "" means vi
	Model     string // for {{.Model}}
	User      string // for {{.User}}
	OS        string // for {{.OS}}
	Now       time.Time
	// Stdin/Stdout/Stderr are given to the editor (nil: the process's).
	Stdin     io.Reader
	EditorOut io.Writer
	EditorErr io.Writer
}

// PromptsDir is where user prompt files live.
func (e Env) PromptsDir() string { return filepath.Join(e.ConfigDir, "prompts") }

// PromptsUsage is the help text of "natter prompts"; usage errors end with it.
const PromptsUsage = `usage: natter prompts [list]             list prompts (name, source, description)
       natter prompts show NAME           print a prompt's source file
       natter prompts render NAME [--var KEY=VALUE]...
                                          print the system prompt it produces
       natter prompts edit NAME           edit in $EDITOR (built-ins are copied to your folder first)
`

// PromptsCLI runs the "natter prompts" subcommands with already-parsed
// arguments; each method returns the exit code.
type PromptsCLI struct {
	Env            Env
	Stdout, Stderr io.Writer
}

// load loads the library; nil (after printing the error) if it is unusable.
func (c PromptsCLI) load() *Library {
	lib, err := LoadLibrary(c.Env.PromptsDir())
	if lib == nil {
		fmt.Fprintf(c.Stderr, "natter prompts: %v\n", err)
	}
	return lib
}

func (c PromptsCLI) warn(lib *Library) {
	for _, e := range lib.Errors() {
		fmt.Fprintf(c.Stderr, "warning: %v\n", e)
	}
}

// get finds the named prompt or reports it missing (with the library's
// warnings, which may explain why).
func (c PromptsCLI) get(lib *Library, name string) (*Prompt, bool) {
	p, found := lib.Get(name)
	if !found {
		c.warn(lib)
		fmt.Fprintf(c.Stderr, "natter prompts: no prompt named %q (see natter prompts)\n", name)
	}
	return p, found
}

// List runs "natter prompts list" (also "ls" and bare "natter prompts"): a
// table of name, source and description, after warnings about broken files.
func (c PromptsCLI) List() int {
	lib := c.load()
	if lib == nil {
		return ExitError
	}
	c.warn(lib)
	tw := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tDESCRIPTION")
	for _, p := range lib.List() {
		src := p.Source
		if p.Source == SourceUser {
			if _, over := lib.Builtin(p.Name); over {
				src = "user (overrides built-in)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, src, p.Description)
	}
	tw.Flush()
	return ExitOK
}

// Show runs "natter prompts show NAME": prints the prompt's source file.
func (c PromptsCLI) Show(name string) int {
	lib := c.load()
	if lib == nil {
		return ExitError
	}
	p, ok := c.get(lib, name)
	if !ok {
		return ExitError
	}
	io.WriteString(c.Stdout, p.Text)
	return ExitOK
}

// Render runs "natter prompts render NAME --var KEY=VALUE...": prints the
// system prompt it produces. vars are the --var values in order; one that
// is not KEY=VALUE with an identifier KEY is a usage error.
func (c PromptsCLI) Render(name string, vars []string) int {
	lib := c.load()
	if lib == nil {
		return ExitError
	}
	p, ok := c.get(lib, name)
	if !ok {
		return ExitError
	}
	extra := map[string]string{}
	for _, kv := range vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !isIdent(k) {
			fmt.Fprintf(c.Stderr, "natter prompts render: --var wants KEY=VALUE, got %q\n", kv)
			return ExitUsage
		}
		extra[k] = v
	}
	env := c.Env
	out, err := p.Render(Vars{Model: env.Model, User: env.User, OS: env.OS, Now: env.Now, Extra: extra})
	if err != nil {
		fmt.Fprintf(c.Stderr, "%v\n", err)
		return ExitError
	}
	fmt.Fprintln(c.Stdout, out)
	return ExitOK
}

// Edit runs "natter prompts edit NAME": opens the user file in the editor,
// creating it first (from the built-in of that name, if any), then checks
// it. A name that is not letters, digits, - and _ is a usage error.
func (c PromptsCLI) Edit(name string) int {
	lib := c.load()
	if lib == nil {
		return ExitError
	}
	if !isIdent(strings.ReplaceAll(name, "-", "_")) {
		fmt.Fprintf(c.Stderr, "natter prompts edit: %q is not a valid prompt name (letters, digits, - and _)\n", name)
		return ExitUsage
	}
	return editPrompt(lib, name, c.Stdout, c.Stderr, c.Env)
}

// PersonaNames lists the prompt names "natter prompts list" shows (built-ins
// and user prompts, sorted), for shell completion. Broken user files are
// skipped as list skips them; nil if the library cannot be loaded at all.
func PersonaNames(env Env) []string {
	lib, _ := LoadLibrary(env.PromptsDir())
	if lib == nil {
		return nil
	}
	return lib.Names()
}

func editPrompt(lib *Library, name string, stdout, stderr io.Writer, env Env) int {
	path := filepath.Join(env.PromptsDir(), name+".md")
	if p, ok := lib.Get(name); ok && p.Source == SourceUser {
		path = p.Path
	} else if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		text := fmt.Sprintf("---\nname: %s\ndescription: \n---\nYou are a helpful assistant.\n", name)
		if p, ok := lib.Get(name); ok {
			text = p.Text // copy the built-in so edits override it
		}
		if err := os.MkdirAll(env.PromptsDir(), 0o755); err != nil {
			fmt.Fprintf(stderr, "natter prompts edit: %v\n", err)
			return ExitError
		}
		if err := writeFileAtomic(path, []byte(text)); err != nil {
			fmt.Fprintf(stderr, "natter prompts edit: %v\n", err)
			return ExitError
		}
		fmt.Fprintf(stdout, "created %s\n", path)
	}
	editor := env.Editor
	if editor == "" {
		editor = "vi"
	}
	// Run through the shell so EDITOR may carry arguments ("code -w").
	c := exec.Command("/bin/sh", "-c", editor+` "$1"`, "sh", path)
	c.Stdin, c.Stdout, c.Stderr = env.Stdin, env.EditorOut, env.EditorErr
	if c.Stdin == nil {
		c.Stdin = os.Stdin
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if err := c.Run(); err != nil {
		fmt.Fprintf(stderr, "natter prompts edit: editor %q: %v\n", editor, err)
		return ExitError
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "natter prompts edit: %v\n", err)
		return ExitError
	}
	if _, err := ParsePrompt(path, name, SourceUser, string(data)); err != nil {
		fmt.Fprintf(stderr, "%v\n(the file is saved; natter keeps using the previous version until it is fixed)\n", err)
		return ExitError
	}
	return ExitOK
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".natter-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
