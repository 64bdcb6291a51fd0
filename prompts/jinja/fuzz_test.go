package jinja

import (
	"strings"
	"testing"
	"time"
)

// FuzzRender feeds arbitrary template source to the parser and renderer:
// they must return output or an error, never panic or hang.
func FuzzRender(f *testing.F) {
	seeds := []string{
		"{% for m in messages %}<|{{ m.role }}|>{{ m.content | trim }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
		"{%- set ns = namespace(x=0) -%}{%- for m in messages[::-1] -%}{%- set ns.x = ns.x + 1 -%}{%- endfor -%}{{ ns.x }}",
		"{% macro f(n) %}{% if n %}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}",
		"{{ messages[0]['content'].split('x')[-1].strip() | tojson(indent=2) }}",
		"{% if messages[0].role == 'system' %}{{ raise_exception('no') }}{% endif %}",
		"{{ tools | selectattr('type', 'equalto', 'function') | map(attribute='function') | list | tojson }}",
		"{% set x %}{{ bos_token }}{% endset %}{{ x ~ eos_token }}{# c #}{% raw %}{{ {% endraw %}",
		"{% filter upper %}{{ 'a' * 3 }}{% endfilter %}{{ '%s-%d' % ('a', 1) }}{{ strftime_now('%d %b %Y') }}",
		"{{ {'a': [1, 2.5, none, true]}.items() | list }}{{ (1, 2)[0] }}{{ 'é'[0:1] }}",
		"{% for a, b in [[1, 2]] if a %}{{ loop.cycle(1, 2) }}{% else %}{% endfor %}{% call(x) m() %}{% endcall %}",
		"{% for n in tools recursive %}{{ loop.depth }}{{ loop(n.function.items() | list) if n is mapping }}{% endfor %}",
		"  {%- raw %} {{ x }} {% endraw -%}\n{%+ if true +%}\n{#- c -#}{% endif %}{% with a = 1 %}{{ a }}{% endwith %}",
		"{{ ('<'|safe + '<') ~ ('%s-%s' % (1, none)) ~ 'x'.center(3) ~ (1 // 0.1) ~ [1, 2][::-1] | join }}",
	}
	// Long chains: the parser builds them in loops, not recursion.
	seeds = append(seeds, "{{ messages"+strings.Repeat(".x[0]", 300)+strings.Repeat("|e", 300)+strings.Repeat(" + 1", 300)+" }}")
	for _, s := range seeds {
		f.Add(s)
	}
	msgs := []any{
		map[string]any{"role": "system", "content": "sys"},
		map[string]any{"role": "user", "content": "hi {{ x }}"},
	}
	tools := []any{map[string]any{"type": "function", "function": map[string]any{"name": "f"}}}
	f.Fuzz(func(t *testing.T, src string) {
		before := parseWork.Load()
		tm, err := Parse("fuzz", src)
		checkLinearParse(t, src, parseWork.Load()-before, err == nil)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz") {
				t.Fatalf("error without template name: %v", err)
			}
			return
		}
		vars := map[string]any{"messages": msgs, "tools": tools, "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"}
		out, err := tm.Render(vars, Options{
			Limits: Limits{MaxOutput: 1 << 16, MaxSteps: 20000, MaxDepth: 50},
			Now:    func() time.Time { return time.Unix(0, 0) },
		})
		if err == nil && len(out) > 1<<16 {
			t.Fatalf("output %d bytes exceeds the limit", len(out))
		}
	})
}

// Parse work must stay linear in the template's size: a model file's
// template is untrusted input, and quadratic parsing was a CPU denial of
// service (a 400 KB chain ran past a minute). Work is counted in units
// (tokens consumed, nodes visited), not seconds, so the check is exact and
// independent of machine load. The densest real constructs cost under 4
// units per byte; real templates cost under 1.
func checkLinearParse(t *testing.T, src string, work int64, parsed bool) {
	t.Helper()
	const perByte, slack = 16, 256
	if work > perByte*int64(len(src))+slack {
		t.Fatalf("parsing %d bytes cost %d units of work (bound %d per byte)", len(src), work, perByte)
	}
	if !parsed || len(src) > 1<<16 {
		return
	}
	// The same template twice must cost about twice as much: superlinear
	// growth shows up here long before it is slow.
	before := parseWork.Load()
	if _, err := Parse("fuzz", src+src); err != nil {
		return
	}
	if twice := parseWork.Load() - before; twice > 3*work+slack {
		t.Fatalf("parsing the template twice over cost %d units, once %d: superlinear", twice, work)
	}
}
