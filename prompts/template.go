package prompts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"natter/prompts/jinja"
)

// JinjaOptions are the inputs a chat template gets besides the messages.
type JinjaOptions struct {
	BOS, EOS string
	// Vars are extra template variables, e.g. {"enable_thinking": false}.
	Vars map[string]any
	// Tools are tool definitions (JSON-like values), passed as "tools";
	// nil passes None, as transformers does.
	Tools []any
	// Now is strftime_now's clock (nil: time.Now).
	Now func() time.Time
	// Limits bound rendering (zero: defaults).
	Limits jinja.Limits
}

// JinjaTemplate renders a model's Jinja chat template the way Hugging Face
// transformers' apply_chat_template does.
type JinjaTemplate struct {
	name string
	src  string
	tmpl *jinja.Template
	opt  JinjaOptions
	fold bool // tool results go into the calling turn (foldsToolResults)
}

// NewJinja parses source. name says where it came from ("gguf:jinja",
// "user:NAME", "file:PATH") and prefixes error positions.
func NewJinja(name, source string, opt JinjaOptions) (*JinjaTemplate, error) {
	return newJinja(name, name, source, opt)
}

// MaxTemplateSize is the largest chat template accepted, in bytes. Real
// templates are under 64 KB (the largest in the test set is 14 KB); a
// larger one is hostile or broken, and parsing and rendering it would
// cost time and memory before any useful error.
const MaxTemplateSize = 1 << 20

// ErrTemplateTooLarge is wrapped by the error for a template over
// MaxTemplateSize.
var ErrTemplateTooLarge = errors.New("chat template too large")

// newJinja names errors after file (e.g. a path) and the template after name.
func newJinja(name, file, source string, opt JinjaOptions) (*JinjaTemplate, error) {
	if len(source) > MaxTemplateSize {
		return nil, fmt.Errorf("%s: %w: %d bytes, over the limit of %d (1 MiB)", file, ErrTemplateTooLarge, len(source), MaxTemplateSize)
	}
	t, err := jinja.Parse(file, source)
	if err != nil {
		return nil, err
	}
	return &JinjaTemplate{name: name, src: source, tmpl: t, opt: opt, fold: foldsToolResults(source)}, nil
}

// Name implements ChatTemplate.
func (t *JinjaTemplate) Name() string { return t.name }

// Source is the template text.
func (t *JinjaTemplate) Source() string { return t.src }

// Options returns the options the template was built with.
func (t *JinjaTemplate) Options() JinjaOptions { return t.opt }

// Render implements ChatTemplate.
func (t *JinjaTemplate) Render(msgs []Message, addGenerationPrompt bool) (string, error) {
	return t.RenderValues(t.messages(msgs), t.opt.Tools, addGenerationPrompt)
}

// messages is the "messages" variable for msgs as this template wants it.
func (t *JinjaTemplate) messages(msgs []Message) []any {
	if t.fold {
		return foldToolResults(msgs)
	}
	return jinjaMessages(msgs)
}

// foldsToolResults: the template reads tool results from the calling
// turn's tool_responses (Gemma 4) and has no tool role of its own, so
// results passed as tool messages would become a turn the model never saw
// in training.
func foldsToolResults(src string) bool {
	if !strings.Contains(src, "tool_responses") {
		return false
	}
	for _, q := range []string{`== 'tool'`, `== "tool"`} {
		if strings.Contains(src, "role'] "+q) || strings.Contains(src, "role "+q) || strings.Contains(src, `role"] `+q) {
			return false
		}
	}
	return true
}

// foldToolResults is jinjaMessages with each run of tool messages moved
// into the assistant turn before it as tool_responses [{name, response}]
// (a JSON object result as a mapping, anything else as its text).
func foldToolResults(msgs []Message) []any {
	list := jinjaMessages(msgs)
	out := make([]any, 0, len(list))
	var host *jinja.Dict
	var responses *jinja.List
	for i, m := range msgs {
		if m.Role == RoleTool && host != nil {
			r := jinja.NewDict()
			r.Set("name", m.Name)
			var v any = m.Content
			if j, err := jinja.ParseJSON([]byte(m.Content)); err == nil {
				if _, ok := j.(*jinja.Dict); ok {
					v = j
				}
			}
			r.Set("response", v)
			responses.Items = append(responses.Items, r)
			continue
		}
		host, responses = nil, nil
		if m.Role == RoleAssistant && len(m.ToolCalls) > 0 {
			host, responses = list[i].(*jinja.Dict), &jinja.List{}
			host.Set("tool_responses", responses)
		}
		out = append(out, list[i])
	}
	return out
}

// jinjaMessages is the "messages" variable for msgs.
func jinjaMessages(msgs []Message) []any {
	list := make([]any, len(msgs))
	for i, m := range msgs {
		d := jinja.NewDict()
		d.Set("role", m.Role)
		d.Set("content", m.Content)
		if m.Reasoning != "" {
			d.Set("reasoning_content", m.Reasoning)
		}
		setToolFields(d, m)
		list[i] = d
	}
	return list
}

// setToolFields adds a message's tool calls and tool-result fields the way
// transformers passes them: OpenAI's shape, with the arguments as a mapping
// (templates iterate them or apply tojson).
func setToolFields(d *jinja.Dict, m Message) {
	if len(m.ToolCalls) > 0 {
		calls := make([]any, len(m.ToolCalls))
		for i, c := range m.ToolCalls {
			fn := jinja.NewDict()
			fn.Set("name", c.Name)
			var args any = c.Arguments
			if v, err := jinja.ParseJSON([]byte(c.Arguments)); err == nil {
				args = v
			}
			fn.Set("arguments", args)
			call := jinja.NewDict()
			if c.ID != "" {
				call.Set("id", c.ID)
			}
			call.Set("type", "function")
			call.Set("function", fn)
			calls[i] = call
		}
		d.Set("tool_calls", &jinja.List{Items: calls})
	}
	if m.ToolCallID != "" {
		d.Set("tool_call_id", m.ToolCallID)
	}
	if m.Name != "" {
		d.Set("name", m.Name)
	}
}

// RenderValues renders arbitrary JSON-like messages (e.g. with tool_calls)
// and tools; values may be plain Go values or jinja values from
// jinja.ParseJSON.
func (t *JinjaTemplate) RenderValues(messages any, tools any, addGenerationPrompt bool) (string, error) {
	return t.tmpl.Render(t.vars(messages, tools, addGenerationPrompt), jinja.Options{Limits: t.opt.Limits, Now: t.opt.Now})
}

func (t *JinjaTemplate) vars(messages any, tools any, addGenerationPrompt bool) map[string]any {
	vars := map[string]any{}
	for k, v := range t.opt.Vars {
		vars[k] = v
	}
	vars["messages"] = messages
	if tl, ok := tools.([]any); ok && tl == nil {
		tools = nil
	}
	vars["tools"] = tools
	vars["documents"] = nil
	vars["add_generation_prompt"] = addGenerationPrompt
	vars["bos_token"] = t.opt.BOS
	vars["eos_token"] = t.opt.EOS
	return vars
}

type chatML struct{}

// ChatML is the generic <|im_start|> format, the last-resort fallback.
func ChatML() ChatTemplate { return chatML{} }

func (chatML) Name() string { return "chatml" }

func (chatML) Render(msgs []Message, addGenerationPrompt bool) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
	}
	if addGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String(), nil
}

// ChatMLSpecials are the control tokens ChatML output contains.
var ChatMLSpecials = []string{"<|im_start|>", "<|im_end|>"}

// Chain tries templates in order and remembers which one produced the last
// prompt, so the UI can say e.g. "llama.cpp:chatml (fallback: gguf:jinja:
// line 3: System role not supported)". It never returns a prompt from a
// template that failed.
type Chain struct {
	list []ChatTemplate

	mu     sync.Mutex
	used   string
	reason error
}

// NewChain makes a chain; nil entries are skipped.
func NewChain(primary ChatTemplate, fallbacks ...ChatTemplate) *Chain {
	c := &Chain{}
	for _, t := range append([]ChatTemplate{primary}, fallbacks...) {
		if t != nil {
			c.list = append(c.list, t)
		}
	}
	return c
}

// Name is the template that produced the last Render (before any render,
// the first one in the chain).
func (c *Chain) Name() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.used != "" {
		return c.used
	}
	if len(c.list) > 0 {
		return c.list[0].Name()
	}
	return "none"
}

// Used is the name of the template that produced the last prompt ("" before
// the first successful Render).
func (c *Chain) Used() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// FallbackReason is why earlier templates failed on the last Render (nil
// when the first one worked).
func (c *Chain) FallbackReason() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Templates lists the chain's members in order.
func (c *Chain) Templates() []ChatTemplate { return append([]ChatTemplate(nil), c.list...) }

// Render implements ChatTemplate.
func (c *Chain) Render(msgs []Message, addGenerationPrompt bool) (string, error) {
	text, _, err := c.RenderWith(msgs, addGenerationPrompt)
	return text, err
}

// RenderWith renders and also returns the name of the template used.
func (c *Chain) RenderWith(msgs []Message, addGenerationPrompt bool) (text, used string, err error) {
	var errs []error
	for _, t := range c.list {
		out, err := t.Render(msgs, addGenerationPrompt)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name(), err))
			continue
		}
		c.mu.Lock()
		c.used, c.reason = t.Name(), errors.Join(errs...)
		c.mu.Unlock()
		return out, t.Name(), nil
	}
	if len(errs) == 0 {
		return "", "", errors.New("no chat template available")
	}
	return "", "", fmt.Errorf("every chat template failed: %w", errors.Join(errs...))
}

// ConfigDir is $XDG_CONFIG_HOME/natter (default ~/.config/natter).
func ConfigDir() string {
	base := os.Getenv("XDG_CONFIG_HOME")
	if base == "" {
		if home, err := os.UserHomeDir(); err == nil {
			base = filepath.Join(home, ".config")
		}
	}
	return filepath.Join(base, "natter")
}

// ResolveChatTemplate turns a --chat-template value into a file path and a
// template name: a NAME means configDir/templates/NAME.jinja ("user:NAME"),
// anything that looks like a path is used as is ("file:PATH").
func ResolveChatTemplate(spec, configDir string) (path, name string, err error) {
	if spec == "" {
		return "", "", errors.New("empty chat template name")
	}
	looksLikePath := strings.ContainsRune(spec, os.PathSeparator) || strings.Contains(spec, "/") || strings.HasSuffix(spec, ".jinja") || strings.HasPrefix(spec, ".")
	if !looksLikePath {
		p := filepath.Join(configDir, "templates", spec+".jinja")
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("chat template %q: no file %s", spec, p)
		}
		return p, "user:" + spec, nil
	}
	if _, err := os.Stat(spec); err != nil {
		return "", "", fmt.Errorf("chat template: %w", err)
	}
	return spec, "file:" + spec, nil
}

// FileTemplate is a chat template read from a file that re-reads the file
// when it changes (checked on each Render). A broken edit keeps the last
// good version in use and is reported by Err.
type FileTemplate struct {
	path, name string
	opt        JinjaOptions

	mu      sync.Mutex
	cur     *JinjaTemplate
	modTime time.Time
	size    int64
	lastErr error
}

// LoadFileTemplate reads a chat template file; the first read must succeed.
func LoadFileTemplate(path, name string, opt JinjaOptions) (*FileTemplate, error) {
	ft := &FileTemplate{path: path, name: name, opt: opt}
	for try := 0; try < 20; try++ {
		if _, err := ft.refresh(); err != nil {
			return nil, err
		}
		if ft.cur != nil {
			return ft, nil
		}
		time.Sleep(10 * time.Millisecond) // the file is being written
	}
	return nil, fmt.Errorf("%s: the file keeps changing", path)
}

// refresh re-reads the file if it changed; changed reports a successful reload.
func (ft *FileTemplate) refresh() (changed bool, err error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	st, err := os.Stat(ft.path)
	if err != nil {
		ft.lastErr = err
		return false, err
	}
	if ft.cur != nil && st.ModTime().Equal(ft.modTime) && st.Size() == ft.size {
		return false, nil
	}
	if st.Size() > MaxTemplateSize { // refuse before reading it into memory
		ft.modTime, ft.size = st.ModTime(), st.Size()
		ft.lastErr = fmt.Errorf("%s: %w: %d bytes, over the limit of %d (1 MiB)", ft.path, ErrTemplateTooLarge, st.Size(), MaxTemplateSize)
		return false, ft.lastErr
	}
	data, err := os.ReadFile(ft.path)
	if err != nil {
		ft.lastErr = err
		return false, err
	}
	if st2, err := os.Stat(ft.path); err != nil || !st2.ModTime().Equal(st.ModTime()) || st2.Size() != int64(len(data)) {
		return false, nil // being written; try again on the next render
	}
	ft.modTime, ft.size = st.ModTime(), st.Size()
	if strings.TrimSpace(string(data)) == "" {
		ft.lastErr = fmt.Errorf("%s: the template file is empty", ft.path)
		return false, ft.lastErr
	}
	t, err := newJinja(ft.name, ft.path, string(data), ft.opt)
	if err != nil {
		ft.lastErr = err
		return false, ft.lastErr
	}
	ft.cur, ft.lastErr = t, nil
	return true, nil
}

// Name implements ChatTemplate.
func (ft *FileTemplate) Name() string { return ft.name }

// Path is the file the template is read from.
func (ft *FileTemplate) Path() string { return ft.path }

// Source is the text of the version in use.
func (ft *FileTemplate) Source() string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.cur.Source()
}

// Err is the error of the last reload attempt (nil when the file on disk is
// the version in use).
func (ft *FileTemplate) Err() error {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.lastErr
}

// Render implements ChatTemplate, picking up edits first.
func (ft *FileTemplate) Render(msgs []Message, addGenerationPrompt bool) (string, error) {
	ft.refresh() // a failed reload keeps the last good version; see Err
	ft.mu.Lock()
	cur := ft.cur
	ft.mu.Unlock()
	return cur.Render(msgs, addGenerationPrompt)
}
