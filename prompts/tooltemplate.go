package prompts

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"natter/prompts/jinja"
)

// ErrNoToolSupport is wrapped when a chat template cannot describe tools to
// the model (it never reads the tools variable, or is a fixed formatter).
var ErrNoToolSupport = errors.New("the chat template does not describe tools to the model")

// WithTools returns t rendering with tools (OpenAI-shaped definitions) in
// the template's tools variable. Templates that never read tools are left
// out of a chain, so a fallback cannot quietly drop the tool list; when no
// member can take tools the error wraps ErrNoToolSupport.
func WithTools(t ChatTemplate, tools []any) (ChatTemplate, error) {
	if len(tools) == 0 {
		return t, nil
	}
	if c, ok := t.(*Chain); ok {
		var list []ChatTemplate
		var why []string
		for _, m := range c.list {
			w, err := WithTools(m, tools)
			if err != nil {
				why = append(why, m.Name())
				continue
			}
			list = append(list, w)
		}
		if len(list) == 0 {
			return nil, fmt.Errorf("%w (%s); give one that does with --chat-template", ErrNoToolSupport, strings.Join(why, ", "))
		}
		return NewChain(list[0], list[1:]...), nil
	}
	src, ok := templateSource(t)
	if !ok || !strings.Contains(src, "tools") {
		return nil, fmt.Errorf("%s: %w", t.Name(), ErrNoToolSupport)
	}
	return &toolView{base: t, tools: tools}, nil
}

// ToolsOf returns the tool definitions WithTools gave t (nil when none).
func ToolsOf(t ChatTemplate) []any {
	switch v := t.(type) {
	case *toolView:
		return v.tools
	case *Chain:
		if len(v.list) > 0 {
			return ToolsOf(v.list[0])
		}
	}
	return nil
}

// TemplateSource is the Jinja source behind t (a Chain's first member), ""
// for fixed formatters.
func TemplateSource(t ChatTemplate) string {
	if c, ok := t.(*Chain); ok {
		for _, m := range c.list {
			if s, ok := templateSource(m); ok {
				return s
			}
		}
		return ""
	}
	s, _ := templateSource(t)
	return s
}

func templateSource(t ChatTemplate) (string, bool) {
	switch v := t.(type) {
	case *JinjaTemplate:
		return v.Source(), true
	case *FileTemplate:
		return v.Source(), true
	case *toolView:
		return templateSource(v.base)
	}
	return "", false
}

// toolView renders its base Jinja template with a tool list.
type toolView struct {
	base  ChatTemplate // *JinjaTemplate or *FileTemplate
	tools []any
}

func (v *toolView) Name() string { return v.base.Name() }

// current is the base's Jinja template with the tools set (a FileTemplate
// picks up edits first).
func (v *toolView) current() *JinjaTemplate {
	var j *JinjaTemplate
	switch b := v.base.(type) {
	case *JinjaTemplate:
		j = b
	case *FileTemplate:
		b.refresh()
		b.mu.Lock()
		j = b.cur
		b.mu.Unlock()
	}
	c := *j
	c.opt.Tools = v.tools
	return &c
}

func (v *toolView) Render(msgs []Message, addGenerationPrompt bool) (string, error) {
	return v.current().Render(msgs, addGenerationPrompt)
}

// RenderSpans implements SpanRenderer.
func (v *toolView) RenderSpans(msgs []Message, addGenerationPrompt bool) (string, []Span, error) {
	return v.current().RenderSpans(msgs, addGenerationPrompt)
}

// ToolDefinition is one entry of the tools variable in OpenAI's shape,
// {"type": "function", "function": {name, description, parameters}}, with
// the schema's keys in their written order (templates print it with
// tojson, and transformers keeps JSON order).
func ToolDefinition(name, description string, parameters json.RawMessage) (any, error) {
	if len(parameters) == 0 {
		parameters = json.RawMessage(`{"type": "object", "properties": {}}`)
	}
	fn := struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	}{name, description, parameters}
	b, err := json.Marshal(struct {
		Type     string `json:"type"`
		Function any    `json:"function"`
	}{"function", fn})
	if err != nil {
		return nil, fmt.Errorf("tool %s: %w", name, err)
	}
	return jinja.ParseJSON(b)
}
