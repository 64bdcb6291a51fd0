package prompts

import (
	"os"
	"path/filepath"
	"strings"
)

// ChainConfig says how to pick a conversation's chat template.
type ChainConfig struct {
	// Override is the --chat-template value (NAME or FILE); "" uses
	// ConfigDir/templates/ModelName.jinja when that exists, else the model's.
	Override  string
	ModelName string // model file name without .gguf, for per-model overrides
	ConfigDir string // for NAME overrides (ConfigDir())
	// ModelTemplate is the GGUF's tokenizer.chat_template ("" if none).
	ModelTemplate string
	Options       JinjaOptions // BOS/EOS, extra vars, tools
	// Builtin is llama.cpp's formatter (engine.BuiltinTemplate()); may be nil.
	Builtin ChatTemplate
}

// brokenTemplate stands for a template that could not be parsed, so the
// chain reports why it fell back.
type brokenTemplate struct {
	name string
	err  error
}

func (b brokenTemplate) Name() string { return b.name }
func (b brokenTemplate) Render([]Message, bool) (string, error) {
	return "", b.err
}

// BuildChain makes the template chain natter uses: the override (a
// hot-reloaded file) or the model's Jinja template, then llama.cpp's
// built-in formatter, then ChatML. Only a bad --chat-template value is an
// error; a model template that does not parse is kept as a failing member
// so Chain.FallbackReason explains the fallback.
func BuildChain(c ChainConfig) (*Chain, error) {
	var primary ChatTemplate
	if c.Override == "" && c.ModelName != "" && c.ConfigDir != "" && !strings.ContainsAny(c.ModelName, `/\`) {
		if _, err := os.Stat(filepath.Join(c.ConfigDir, "templates", c.ModelName+".jinja")); err == nil {
			c.Override = c.ModelName
		}
	}
	switch {
	case c.Override != "":
		path, name, err := ResolveChatTemplate(c.Override, c.ConfigDir)
		if err != nil {
			return nil, err
		}
		ft, err := LoadFileTemplate(path, name, c.Options)
		if err != nil {
			return nil, err
		}
		primary = ft
	case c.ModelTemplate != "":
		jt, err := NewJinja("gguf:jinja", c.ModelTemplate, c.Options)
		if err != nil {
			primary = brokenTemplate{name: "gguf:jinja", err: err}
		} else {
			primary = jt
		}
	}
	return NewChain(primary, c.Builtin, ChatML()), nil
}

// TemplateInfo describes a chat template for /template.
type TemplateInfo struct {
	Name   string // e.g. "gguf:jinja", "user:NAME", "chatml"
	Origin string // where it came from, in words
	Path   string // file of a user/file template
	Source string // Jinja source ("" for formatters without one)
	// For a chain: the template that produced the last prompt, and why the
	// ones before it failed.
	InUse          string
	FallbackReason string
	// ReloadError: the file was edited into a broken state; the last good
	// version is still in use.
	ReloadError string
}

// DescribeTemplate explains t; for a chain it describes the first member
// with a source and says which member is in use.
func DescribeTemplate(t ChatTemplate) TemplateInfo {
	if c, ok := t.(*Chain); ok {
		var info TemplateInfo
		for _, m := range c.Templates() {
			info = DescribeTemplate(m)
			if info.Source != "" {
				break
			}
		}
		if list := c.Templates(); len(list) > 0 && info.Name == "" {
			info = DescribeTemplate(list[0])
		}
		info.InUse = c.Used()
		if r := c.FallbackReason(); r != nil {
			info.FallbackReason = r.Error()
		}
		return info
	}
	info := TemplateInfo{Name: t.Name()}
	switch x := t.(type) {
	case *JinjaTemplate:
		info.Source = x.Source()
	case *FileTemplate:
		info.Source, info.Path = x.Source(), x.Path()
		if err := x.Err(); err != nil {
			info.ReloadError = err.Error()
		}
	case brokenTemplate:
		info.FallbackReason = x.err.Error()
	}
	switch {
	case strings.HasPrefix(info.Name, "gguf:"):
		info.Origin = "the model file (GGUF tokenizer.chat_template)"
	case strings.HasPrefix(info.Name, "user:"):
		info.Origin = "user override " + info.Path
	case strings.HasPrefix(info.Name, "file:"):
		info.Origin = "file " + info.Path
	case info.Name == "chatml":
		info.Origin = "natter's built-in ChatML (last-resort fallback)"
		info.Source = chatMLSource
	default:
		info.Origin = "llama.cpp built-in formatter"
	}
	return info
}

// chatMLSource is what ChatML() does, as Jinja, for /template.
const chatMLSource = `{% for message in messages %}{{ '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`
