package prompts

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"
)

// Prompt files are Markdown with optional front matter:
//
//	---
//	name: translator            # default: the file name without .md
//	description: Translates the user's text.
//	temperature: 0.3            # optional sampling overrides: temperature,
//	                            # top_k, top_p, min_p, repeat_penalty,
//	                            # max_tokens (also under "sampling:")
//	vars:                       # the prompt's own variables and defaults
//	  To: English
//	---
//	Translate every message into {{.To}}. Today is {{.Date}}.
//
// The body is a Go text/template that sees Date, Time, OS, Model, User and
// the vars; an unknown variable is an error when the file is loaded.

//go:embed builtin/*.md
var builtinFS embed.FS

// DefaultPrompt is the persona used when none is chosen.
const DefaultPrompt = "default"

// Sources of prompts.
const (
	SourceBuiltin = "built-in"
	SourceUser    = "user"
)

// SamplingOverrides are a prompt's optional sampling settings; nil fields
// leave the user's settings alone.
type SamplingOverrides struct {
	Temperature   *float32
	TopK          *int
	TopP          *float32
	MinP          *float32
	RepeatPenalty *float32
	MaxTokens     *int
}

// Prompt is a persona: a system prompt template with metadata.
type Prompt struct {
	Name        string
	Description string
	Source      string // SourceBuiltin or SourceUser
	Path        string // file path; "builtin/NAME.md" for built-ins
	Text        string // the whole file
	Sampling    SamplingOverrides
	// Vars are the prompt's own variables with their defaults, in file order.
	Vars []Var

	body     *template.Template
	bodyLine int
}

// Var is a prompt variable and its default.
type Var struct{ Name, Default string }

// Vars are the values a prompt body can use.
type Vars struct {
	Model string
	User  string
	OS    string
	Now   time.Time // zero: time.Now()
	// Extra set the prompt's vars (and may add new ones), e.g. --var To=German.
	Extra map[string]string
}

// Data is the map the body template sees: Date, Time, OS, Model, User, the
// prompt's vars with their defaults, and v.Extra.
func (p *Prompt) Data(v Vars) map[string]any {
	now := v.Now
	if now.IsZero() {
		now = time.Now()
	}
	osName := v.OS
	if osName == "" {
		osName = runtime.GOOS
	}
	user := v.User
	if user == "" {
		user = os.Getenv("USER")
	}
	d := map[string]any{
		"Date":  now.Format("Monday, 2 January 2006"),
		"Time":  now.Format("15:04"),
		"OS":    osName,
		"Model": v.Model,
		"User":  user,
	}
	for _, pv := range p.Vars {
		d[pv.Name] = pv.Default
	}
	for k, val := range v.Extra {
		d[k] = val
	}
	return d
}

// maxPromptOutput bounds a rendered system prompt.
const maxPromptOutput = 1 << 20

type limitedWriter struct{ b strings.Builder }

var errPromptTooLong = errors.New("the prompt renders to more than 1 MiB")

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > maxPromptOutput {
		return 0, errPromptTooLong
	}
	return w.b.Write(p)
}

// Render produces the system prompt.
func (p *Prompt) Render(v Vars) (string, error) {
	var w limitedWriter
	if err := p.body.Execute(&w, p.Data(v)); err != nil {
		if errors.Is(err, errPromptTooLong) {
			return "", &FileError{Path: p.Path, Line: p.bodyLine, Col: 1, Msg: errPromptTooLong.Error()}
		}
		return "", templateFileError(p.Path, p.bodyLine, p.Text, err)
	}
	return strings.TrimSpace(w.b.String()), nil
}

// findNumericRange finds {{range N}} (Go 1.22 range over int), the only
// way a prompt's data (all strings) could make a template loop for long.
func findNumericRange(n parse.Node) parse.Node {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return nil
		}
		for _, c := range x.Nodes {
			if f := findNumericRange(c); f != nil {
				return f
			}
		}
	case *parse.RangeNode:
		for _, cmd := range x.Pipe.Cmds {
			for _, a := range cmd.Args {
				if _, ok := a.(*parse.NumberNode); ok {
					return x
				}
			}
		}
		if f := findNumericRange(x.List); f != nil {
			return f
		}
		return findNumericRange(x.ElseList)
	case *parse.IfNode:
		if f := findNumericRange(x.List); f != nil {
			return f
		}
		return findNumericRange(x.ElseList)
	case *parse.WithNode:
		if f := findNumericRange(x.List); f != nil {
			return f
		}
		return findNumericRange(x.ElseList)
	}
	return nil
}

var tmplErrRe = regexp.MustCompile(`^template: [^:]*:(\d+)(?::(\d+))?: (?:executing "[^"]*" at <([^>]*)>: )?(.*)$`)

// templateFileError maps a text/template error onto the file's lines.
func templateFileError(path string, bodyLine int, text string, err error) error {
	m := tmplErrRe.FindStringSubmatch(err.Error())
	if m == nil {
		return &FileError{Path: path, Line: bodyLine, Col: 1, Msg: err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	line += bodyLine - 1
	col, _ := strconv.Atoi(m[2])
	if m[2] != "" {
		col++ // text/template columns are 0-based
	}
	msg := m[4]
	if m[3] != "" {
		msg = m[3] + ": " + msg
	}
	if col == 0 {
		col = 1
		// Parse errors carry no column: point at the quoted culprit if any.
		if q := regexp.MustCompile(`"([^"]+)"`).FindStringSubmatch(msg); q != nil {
			lines := strings.Split(text, "\n")
			if line-1 < len(lines) {
				if i := strings.Index(lines[line-1], q[1]); i >= 0 {
					col = i + 1
				}
			}
		}
	}
	return &FileError{Path: path, Line: line, Col: col, Msg: msg}
}

// ParsePrompt reads a prompt file. name is used when the front matter has
// no name (normally the file name without .md).
func ParsePrompt(path, name, source, text string) (*Prompt, error) {
	fm, body, fmLine, bodyLine, err := splitFrontMatter(path, text)
	if err != nil {
		return nil, err
	}
	p := &Prompt{Name: name, Source: source, Path: path, Text: text, bodyLine: bodyLine}
	entries, err := parseFrontMatter(path, fm, fmLine)
	if err != nil {
		return nil, err
	}
	errAt := func(e fmEntry, col int, format string, a ...any) error {
		return &FileError{Path: path, Line: e.Line, Col: col, Msg: fmt.Sprintf(format, a...)}
	}
	float := func(e fmEntry, dst **float32, lo, hi float64) error {
		f, err := strconv.ParseFloat(e.Value, 32)
		if err != nil || f < lo || f > hi {
			return errAt(e, e.ValCol, "%s must be a number between %g and %g, got %q", e.Key, lo, hi, e.Value)
		}
		v := float32(f)
		*dst = &v
		return nil
	}
	integer := func(e fmEntry, dst **int, lo, hi int) error {
		n, err := strconv.Atoi(e.Value)
		if err != nil || n < lo || n > hi {
			return errAt(e, e.ValCol, "%s must be a whole number between %d and %d, got %q", e.Key, lo, hi, e.Value)
		}
		*dst = &n
		return nil
	}
	var sampling func(e fmEntry) (bool, error)
	sampling = func(e fmEntry) (bool, error) {
		switch e.Key {
		case "temperature":
			return true, float(e, &p.Sampling.Temperature, 0, 5)
		case "top_p":
			return true, float(e, &p.Sampling.TopP, 0, 1)
		case "min_p":
			return true, float(e, &p.Sampling.MinP, 0, 1)
		case "repeat_penalty":
			return true, float(e, &p.Sampling.RepeatPenalty, 0, 5)
		case "top_k":
			return true, integer(e, &p.Sampling.TopK, 0, 1<<20)
		case "max_tokens":
			return true, integer(e, &p.Sampling.MaxTokens, 1, 1<<24)
		}
		return false, nil
	}
	for _, e := range entries {
		if len(e.Map) > 0 && e.Key != "vars" && e.Key != "sampling" {
			return nil, errAt(e, e.Col, "%q takes a single value", e.Key)
		}
		switch e.Key {
		case "name":
			if e.Value == "" || strings.ContainsAny(e.Value, "/\\ ") {
				return nil, errAt(e, e.ValCol, "name must be a single word, got %q", e.Value)
			}
			p.Name = e.Value
		case "description":
			p.Description = e.Value
		case "vars":
			if e.Value != "" {
				return nil, errAt(e, e.ValCol, "vars must be an indented block of \"Name: default\" lines")
			}
			for _, v := range e.Map {
				if !isIdent(v.Key) {
					return nil, errAt(v, v.Col, "variable name %q must be letters, digits and _", v.Key)
				}
				p.Vars = append(p.Vars, Var{Name: v.Key, Default: v.Value})
			}
		case "sampling":
			for _, s := range e.Map {
				ok, err := sampling(s)
				if err != nil {
					return nil, err
				}
				if !ok {
					return nil, errAt(s, s.Col, "unknown sampling setting %q (known: temperature, top_k, top_p, min_p, repeat_penalty, max_tokens)", s.Key)
				}
			}
		default:
			ok, err := sampling(e)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, errAt(e, e.Col, "unknown front matter key %q (known: name, description, vars, sampling, temperature, top_k, top_p, min_p, repeat_penalty, max_tokens)", e.Key)
			}
		}
	}
	if strings.TrimSpace(body) == "" {
		return nil, &FileError{Path: path, Line: bodyLine, Col: 1, Msg: "the prompt text after the front matter is empty"}
	}
	t, err := template.New(path).Option("missingkey=error").Parse(body)
	if err != nil {
		return nil, templateFileError(path, bodyLine, text, err)
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if n := findNumericRange(tt.Tree.Root); n != nil {
			loc, _ := tt.ErrorContext(n)
			return nil, templateFileError(path, bodyLine, text, fmt.Errorf("template: %s: range over a number is not allowed in prompts", loc))
		}
	}
	p.body = t
	// Try it once so typos in variable names fail at load time.
	if _, err := p.Render(Vars{Model: "model", User: "user", OS: "os"}); err != nil {
		return nil, err
	}
	return p, nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Library holds the built-in prompts and the user's prompt files, user
// files overriding built-ins of the same name. It is safe for concurrent
// use; Reload and Watch pick up edits, keeping the last good version of a
// file that became broken.
type Library struct {
	userDir string

	mu       sync.RWMutex
	builtins map[string]*Prompt
	user     map[string]*Prompt // by name
	byPath   map[string]*Prompt // last good version of each user file
	stamps   map[string]stamp
	errs     []error
}

type stamp struct {
	mod  time.Time
	size int64
}

// LoadLibrary loads the built-ins and the *.md files of userDir (which may
// not exist). The error reports broken user files; the library is usable
// even then.
func LoadLibrary(userDir string) (*Library, error) {
	l := &Library{userDir: userDir, builtins: map[string]*Prompt{}, user: map[string]*Prompt{}, byPath: map[string]*Prompt{}}
	ents, err := fs.ReadDir(builtinFS, "builtin")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		data, err := builtinFS.ReadFile("builtin/" + e.Name())
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(e.Name(), ".md")
		p, err := ParsePrompt("builtin/"+e.Name(), name, SourceBuiltin, string(data))
		if err != nil {
			return nil, fmt.Errorf("built-in prompt: %w", err)
		}
		l.builtins[p.Name] = p
	}
	_, err = l.Reload()
	return l, err
}

// UserDir is where user prompt files live.
func (l *Library) UserDir() string { return l.userDir }

func (l *Library) scan() (map[string]stamp, error) {
	st := map[string]stamp{}
	if l.userDir == "" {
		return st, nil
	}
	ents, err := os.ReadDir(l.userDir)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".md") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		st[filepath.Join(l.userDir, e.Name())] = stamp{info.ModTime(), info.Size()}
	}
	return st, nil
}

// Reload re-reads the user directory if anything changed. changed reports
// whether the set of prompts in use changed; err lists broken files.
func (l *Library) Reload() (changed bool, err error) {
	stamps, err := l.scan()
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stamps != nil && sameStamps(stamps, l.stamps) {
		return false, errors.Join(l.errs...)
	}
	l.stamps = stamps
	paths := make([]string, 0, len(stamps))
	for p := range stamps {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	user := map[string]*Prompt{}
	byPath := map[string]*Prompt{}
	var errs []error
	for _, path := range paths {
		data, rerr := os.ReadFile(path)
		var p *Prompt
		if rerr == nil {
			p, rerr = ParsePrompt(path, strings.TrimSuffix(filepath.Base(path), ".md"), SourceUser, string(data))
		}
		if rerr != nil {
			errs = append(errs, rerr)
			p = l.byPath[path] // keep the last good version
			if p == nil {
				continue
			}
		}
		if prev, dup := user[p.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: prompt name %q is also used by %s; using that one", path, p.Name, prev.Path))
			continue
		}
		user[p.Name] = p
		byPath[path] = p
	}
	changed = !samePrompts(user, l.user)
	l.user, l.byPath, l.errs = user, byPath, errs
	return changed, errors.Join(errs...)
}

func sameStamps(a, b map[string]stamp) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !w.mod.Equal(v.mod) || w.size != v.size {
			return false
		}
	}
	return true
}

func samePrompts(a, b map[string]*Prompt) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Errors lists the problems found by the last load.
func (l *Library) Errors() []error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]error(nil), l.errs...)
}

// Get finds a prompt by name, user files first.
func (l *Library) Get(name string) (*Prompt, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if p, ok := l.user[name]; ok {
		return p, true
	}
	p, ok := l.builtins[name]
	return p, ok
}

// Builtin returns the built-in prompt of that name, even if overridden.
func (l *Library) Builtin(name string) (*Prompt, bool) {
	p, ok := l.builtins[name]
	return p, ok
}

// List returns the prompts in use, sorted by name.
func (l *Library) List() []*Prompt {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []*Prompt
	for n, p := range l.builtins {
		if _, over := l.user[n]; !over {
			out = append(out, p)
		}
	}
	for _, p := range l.user {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names lists prompt names, sorted (for completion).
func (l *Library) Names() []string {
	var out []string
	for _, p := range l.List() {
		out = append(out, p.Name)
	}
	return out
}

// Watch polls the user directory every interval until ctx ends and calls
// onChange after each reload that changed something (err lists broken
// files; the previous good versions stay in use).
func (l *Library) Watch(ctx context.Context, interval time.Duration, onChange func(err error)) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	// Errors already reported by LoadLibrary are not reported again.
	var lastErr string
	if err := errors.Join(l.Errors()...); err != nil {
		lastErr = err.Error()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Let a file that is being written settle before reading it, so a
		// half-written save is not taken for the new version.
		s1, _ := l.scan()
		l.mu.RLock()
		same := sameStamps(s1, l.stamps)
		l.mu.RUnlock()
		if same {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(interval/2, 100*time.Millisecond)):
		}
		if s2, _ := l.scan(); !sameStamps(s1, s2) {
			continue
		}
		changed, err := l.Reload()
		es := ""
		if err != nil {
			es = err.Error()
		}
		if (changed || es != lastErr) && onChange != nil {
			onChange(err)
		}
		lastErr = es
	}
}

// SystemPrompt renders the named prompt; an unknown name gets an error
// listing the names that exist.
func (l *Library) SystemPrompt(name string, v Vars) (string, *Prompt, error) {
	p, ok := l.Get(name)
	if !ok {
		return "", nil, fmt.Errorf("no prompt named %q (available: %s)", name, strings.Join(l.Names(), ", "))
	}
	text, err := p.Render(v)
	if err != nil {
		return "", p, err
	}
	return text, p, nil
}
