package jinja

import (
	"fmt"
	"strings"
	"testing"
)

// benchTemplate is shaped like current Qwen/Llama templates: a namespace
// scan backwards, string methods, tojson of tools and per-message branches.
const benchTemplate = `{%- if tools %}<|im_start|>system
{%- if messages[0].role == 'system' %}{{ messages[0].content + '\n\n' }}{% endif %}# Tools
{%- for tool in tools %}
{{ tool | tojson }}
{%- endfor %}<|im_end|>
{% endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and not(message.content.startswith('<tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.role == "assistant" and '</think>' in message.content %}
        {%- set content = message.content.split('</think>')[-1].lstrip('\n') %}
        {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>' + message.role + '\n' + message.content | trim + '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}`

func benchVars(n int) map[string]any {
	var msgs []any
	msgs = append(msgs, map[string]any{"role": "system", "content": "You are helpful."})
	for i := 0; i < n; i++ {
		msgs = append(msgs, map[string]any{"role": "user", "content": fmt.Sprintf("Question %d: %s", i, strings.Repeat("word ", 40))})
		msgs = append(msgs, map[string]any{"role": "assistant", "content": fmt.Sprintf("<think>hmm</think>\n\nAnswer %d: %s", i, strings.Repeat("text ", 60))})
	}
	tools := []any{map[string]any{"type": "function", "function": map[string]any{"name": "f", "description": "d", "parameters": map[string]any{"type": "object"}}}}
	return map[string]any{"messages": msgs, "tools": tools, "add_generation_prompt": true}
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse("bench", benchTemplate); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	for _, turns := range []int{1, 20, 200} {
		b.Run(fmt.Sprintf("turns=%d", turns), func(b *testing.B) {
			tm, err := Parse("bench", benchTemplate)
			if err != nil {
				b.Fatal(err)
			}
			vars := benchVars(turns)
			for b.Loop() {
				if _, err := tm.Render(vars, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
