package prompts

import (
	"errors"
	"flag"
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

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// splitArgs separates positional arguments from flags so flags may follow
// them ("render NAME --var k=v").
func splitArgs(fs *flag.FlagSet, args []string) (pos []string, err error) {
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return pos, nil
}

const templateUsage = `usage: natter template render (--template FILE.jinja | --model FILE.gguf) --messages FILE.json
         [--add-generation-prompt] [--bos-token S] [--eos-token S] [--tools FILE.json] [--var KEY=JSON]...

Renders a Jinja chat template exactly as Hugging Face transformers would and
prints the result with no added newline. --messages - reads stdin. The
messages file is a JSON array of messages, or an object with "messages" and
optionally "tools".
`

// RunTemplateCmd runs "natter template ARGS...".
func RunTemplateCmd(args []string, stdin io.Reader, stdout, stderr io.Writer, modelTemplate ModelTemplateFunc) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, templateUsage)
		return ExitUsage
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" || len(args) > 1 && args[0] == "render" && (args[1] == "-h" || args[1] == "--help") {
		fmt.Fprint(stdout, templateUsage)
		return ExitOK
	}
	if args[0] != "render" {
		fmt.Fprintf(stderr, "natter template: unknown command %q\n%s", args[0], templateUsage)
		return ExitUsage
	}
	fs := flag.NewFlagSet("template render", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	tmplPath := fs.String("template", "", "")
	modelPath := fs.String("model", "", "")
	msgPath := fs.String("messages", "", "")
	toolsPath := fs.String("tools", "", "")
	addGen := fs.Bool("add-generation-prompt", false, "")
	bos := fs.String("bos-token", "", "")
	eos := fs.String("eos-token", "", "")
	var vars multiFlag
	fs.Var(&vars, "var", "")
	pos, err := splitArgs(fs, args[1:])
	if err != nil {
		fmt.Fprintf(stderr, "natter template render: %v\n%s", err, templateUsage)
		return ExitUsage
	}
	if len(pos) > 0 || *msgPath == "" || (*tmplPath == "") == (*modelPath == "") {
		fmt.Fprintf(stderr, "natter template render: need --messages and exactly one of --template or --model\n%s", templateUsage)
		return ExitUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var src, name string
	opt := JinjaOptions{BOS: *bos, EOS: *eos, Vars: map[string]any{}}
	if *modelPath != "" {
		if modelTemplate == nil {
			fmt.Fprintln(stderr, "natter template render: --model is not available in this build")
			return ExitError
		}
		t, mb, me, err := modelTemplate(*modelPath)
		if err != nil {
			fmt.Fprintf(stderr, "natter template render: %v\n", err)
			return ExitError
		}
		if t == "" {
			fmt.Fprintf(stderr, "natter template render: %s has no tokenizer.chat_template\n", *modelPath)
			return ExitError
		}
		src, name = t, filepath.Base(*modelPath)
		if !set["bos-token"] {
			opt.BOS = mb
		}
		if !set["eos-token"] {
			opt.EOS = me
		}
	} else {
		data, err := os.ReadFile(*tmplPath)
		if err != nil {
			fmt.Fprintf(stderr, "natter template render: %v\n", err)
			return ExitError
		}
		src, name = string(data), *tmplPath
	}
	for _, kv := range vars {
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
	if *msgPath == "-" {
		msgData, err = io.ReadAll(io.LimitReader(stdin, 256<<20))
	} else {
		msgData, err = os.ReadFile(*msgPath)
	}
	if err != nil {
		fmt.Fprintf(stderr, "natter template render: %v\n", err)
		return ExitError
	}
	msgs, tools, err := decodeMessages(msgData)
	if err != nil {
		fmt.Fprintf(stderr, "natter template render: %s: %v\n", *msgPath, err)
		return ExitError
	}
	if *toolsPath != "" {
		data, err := os.ReadFile(*toolsPath)
		if err == nil {
			tools, err = jinja.ParseJSON(data)
		}
		if err != nil {
			fmt.Fprintf(stderr, "natter template render: %s: %v\n", *toolsPath, err)
			return ExitError
		}
	}
	t, err := NewJinja(name, src, opt)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return ExitError
	}
	out, err := t.RenderValues(msgs, tools, *addGen)
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

const promptsUsage = `usage: natter prompts [list]             list prompts (name, source, description)
       natter prompts show NAME           print a prompt's source file
       natter prompts render NAME [--var KEY=VALUE]...
                                          print the system prompt it produces
       natter prompts edit NAME           edit in $EDITOR (built-ins are copied to your folder first)
`

// RunPromptsCmd runs "natter prompts ARGS...".
func RunPromptsCmd(args []string, stdout, stderr io.Writer, env Env) int {
	cmd := "list"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if cmd == "-h" || cmd == "--help" || cmd == "help" {
		fmt.Fprint(stdout, promptsUsage)
		return ExitOK
	}
	lib, loadErr := LoadLibrary(env.PromptsDir())
	if lib == nil {
		fmt.Fprintf(stderr, "natter prompts: %v\n", loadErr)
		return ExitError
	}
	warn := func() {
		for _, e := range lib.Errors() {
			fmt.Fprintf(stderr, "warning: %v\n", e)
		}
	}
	needName := func() (string, bool) {
		if len(args) != 1 {
			fmt.Fprintf(stderr, "natter prompts %s: need exactly one NAME\n%s", cmd, promptsUsage)
			return "", false
		}
		return args[0], true
	}
	switch cmd {
	case "list", "ls":
		if len(args) > 0 {
			fmt.Fprint(stderr, promptsUsage)
			return ExitUsage
		}
		warn()
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
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
	case "show":
		name, ok := needName()
		if !ok {
			return ExitUsage
		}
		p, found := lib.Get(name)
		if !found {
			warn()
			fmt.Fprintf(stderr, "natter prompts: no prompt named %q (see natter prompts)\n", name)
			return ExitError
		}
		io.WriteString(stdout, p.Text)
		return ExitOK
	case "render":
		fs := flag.NewFlagSet("prompts render", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var vars multiFlag
		fs.Var(&vars, "var", "")
		pos, err := splitArgs(fs, args)
		if err != nil || len(pos) != 1 {
			fmt.Fprintf(stderr, "natter prompts render: need NAME [--var KEY=VALUE]...\n%s", promptsUsage)
			return ExitUsage
		}
		p, found := lib.Get(pos[0])
		if !found {
			warn()
			fmt.Fprintf(stderr, "natter prompts: no prompt named %q (see natter prompts)\n", pos[0])
			return ExitError
		}
		extra := map[string]string{}
		for _, kv := range vars {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || !isIdent(k) {
				fmt.Fprintf(stderr, "natter prompts render: --var wants KEY=VALUE, got %q\n", kv)
				return ExitUsage
			}
			extra[k] = v
		}
		out, err := p.Render(Vars{Model: env.Model, User: env.User, OS: env.OS, Now: env.Now, Extra: extra})
		if err != nil {
			fmt.Fprintf(stderr, "%v\n", err)
			return ExitError
		}
		fmt.Fprintln(stdout, out)
		return ExitOK
	case "edit":
		name, ok := needName()
		if !ok {
			return ExitUsage
		}
		if !isIdent(strings.ReplaceAll(name, "-", "_")) {
			fmt.Fprintf(stderr, "natter prompts edit: %q is not a valid prompt name (letters, digits, - and _)\n", name)
			return ExitUsage
		}
		return editPrompt(lib, name, stdout, stderr, env)
	}
	fmt.Fprintf(stderr, "natter prompts: unknown command %q\n%s", cmd, promptsUsage)
	return ExitUsage
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
