package jinja

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// edgeSnippets exercise one construct each. They are rendered by both
// Jinja2 and our engine (TestEdgeCasesAgainstJinja2); the vars are JSON.
var edgeSnippets = []struct{ name, src, vars string }{
	{"bigint", "{{ 10**20 }} {{ 2**64 }} {{ 2**64 - 2**64 + 1 }} {{ 2**64 // 3 }} {{ -(2**64) // 7 }} {{ -(2**64) % 7 }} {{ 9223372036854775807 + 1 }} {{ -9223372036854775807 - 2 }} {{ 123456789012345678901234567890 }} {{ 2**100 > 2**99 }} {{ 2**64 == 18446744073709551616 }} {{ 10**20 / 10**10 }} {{ 2**64 * 1.5 }} {{ (2**64) | tojson }} {{ 1 ** (10**10) }} {{ (-1) ** (10**10 + 1) }} {{ -(2**63) }} {{ (-(2**63)) | abs }} {{ '12345678901234567890123' | int }} {{ 1e20 | int }} {{ (2**70) | float }} {{ 3**40 is integer }} {{ {2**64: 'k'}[18446744073709551616] }} {{ 2**64 * 2**64 }} {{ [1,2,3][2**64 // 2**64] }}", ``},
	{"trim-lstrip", "a\n  {% if true %}\n    b\n  {% endif %}\nc\n", ``},
	{"minus-plus", "x  \n  {%- if true -%}  \n y {%+ if true %}z{% endif %}\n{{- ' w ' -}}\n v", ``},
	{"plus-close", "{% if true +%}\nx{% endif %}{# c +#}\ny {%+ if true +%}  \n  z{% endif +%}\n", ``},
	{"comment-lstrip", "a\n   {# c #}\nb {#- c -#} d", ``},
	{"var-no-trim", "{{ 1 }}\n{{ 2 }}\n", ``},
	{"raw", "{% raw %}{{ x }}{% endraw %}\n{%- raw -%} {% y %} {%- endraw %}", ``},
	{"raw-whitespace", "a\n  {% raw %}\n  x {{ y }}\n  {% endraw %}\nb|{%- raw -%}  x  {%- endraw -%}  c", ``},
	{"joiner-cycler-changed", "{% set j = joiner(' | ') %}{% set c = cycler('odd', 'even') %}{% for x in [1, 1, 2, 3, 3] %}{{ j() }}{{ c.next() }}{% if loop.changed(x) %}*{{ x }}{% endif %}{% endfor %}{{ c.current }}", ``},
	{"recursive-loop", "{% for n in tree recursive %}<{{ n.name }}:{{ loop.depth }}{% if n.kids %}[{{ loop(n.kids) }}]{% endif %}>{% endfor %}", `{"tree":[{"name":"a","kids":[{"name":"b","kids":[{"name":"c"}]},{"name":"d"}]},{"name":"e"}]}`},
	{"string-line-continuation", "{%- set m = \"first \\\nsecond\\\n\\\nthird \\\"q\\\"\" %}{{ m }}|{{ m == user[-1] }}", `{"user":[{"a":1},"first second\n\nthird \"q\""]}`},
	{"octal-escapes", "{{ 'a\\101\\0b\\12c\\1234' | tojson }}", ``},
	{"trailing-newline", "abc\n", ``},
	{"crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", ``},
	{"loop-vars", "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('a','b') }};{% endfor %}", `{"xs":["p","q","r"]}`},
	{"loop-else-filter", "{% for x in xs if x > 1 %}{{ x }}{{ loop.length }}{% else %}none{% endfor %}|{% for x in [] %}y{% else %}empty{% endfor %}", `{"xs":[1,2,3]}`},
	{"break-continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x > 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", ``},
	{"nested-loop", "{% for a in [1,2] %}{% for b in 'xy' %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}|{% endfor %}", ``},
	{"scoping", "{% set y = 5 %}{% for x in [1,2] %}{% if loop.first %}{% set y = 1 %}{% endif %}[{{ y }}]{% endfor %}{{ y }}{% if true %}{% set z = 3 %}{% endif %}{{ z }}", ``},
	{"namespace", "{% set ns = namespace(n=0, s='') %}{% for x in [1,2,3] %}{% set ns.n = ns.n + x %}{% set ns.s = ns.s ~ x %}{% endfor %}{{ ns.n }} {{ ns.s }}", ``},
	{"macro", "{% macro m(a, b='B', c=none) %}{{ a }}{{ b }}{{ c }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1) }}|{{ m(1, 2, 3) }}|{{ m(a=4, c=5) }}", ``},
	{"macro-recursive", "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(4) }}", ``},
	{"macro-sees-later-global", "{% macro m() %}{{ z }}{% endmacro %}{% set z = 3 %}{{ m() }}", ``},
	{"call-block", "{% macro w(t) %}<{{ t }}>{{ caller() }}</{{ t }}>{% endmacro %}{% call w('b') %}inner{% endcall %}", ``},
	{"call-args", "{% macro l(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(v) l([1,2]) %}[{{ v }}]{% endcall %}", ``},
	{"filter-block", "{% filter upper %}hello {{ 'x' }}{% endfilter %}|{% filter trim %}  a  {% endfilter %}", ``},
	{"set-block", "{% set s %}  body {{ 1 + 1 }}\n{% endset %}[{{ s }}]{% set t | trim %}  x  {% endset %}[{{ t }}]", ``},
	{"slicing", "{{ xs[1:] }}{{ xs[:-1] }}{{ xs[::-1] }}{{ xs[::2] }}{{ s[1:3] }}{{ s[::-1] }}{{ xs[-1] }}{{ s[0] }}{{ xs[10:] }}{{ xs[-10:2] }}", `{"xs":[1,2,3,4],"s":"héllo"}`},
	{"string-methods", "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s.strip(' h') }}|{{ s.split() }}|{{ s.split('l') }}|{{ s.split('l', 1) }}|{{ s.rsplit('l', 1) }}|{{ s.upper() }}|{{ s.title() }}|{{ s.capitalize() }}|{{ s.replace('l', 'L') }}|{{ s.replace('l', 'L', 1) }}|{{ s.startswith(' he') }}|{{ s.endswith(('x', 'd ')) }}|{{ s.find('o') }}|{{ s.count('l') }}", `{"s":" hello world "}`},
	{"more-string-methods", "{{ 'a,b'.partition(',') }}{{ '42'.isdigit() }}{{ 'ab'.isalpha() }}{{ '7'.zfill(3) }}{{ 'x'.center(5, '*') }}{{ '-'.join(['a','b']) }}{{ 'a\\nb\\r\\nc'.splitlines() }}{{ 'Hi {}, {name}'.format('A', name='B') }}{{ \"it's\" }}", ``},
	{"python-repr", "{{ [1, 'a', none, true, 1.5, {'k': 'v'}, (1,), ()] }}|{{ {'a': [1, 2]} }}|{{ \"it's\" }}|{{ ['it\\'s', \"q\\\"\", 'a\\nb', 'ü'] }}", ``},
	{"floats", "{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e16 }} {{ 1e15 }} {{ 1.5e-7 }} {{ 0.0001 }} {{ 3 / 2 }} {{ 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -0.0 }}", ``},
	{"tojson", "{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ d | tojson(sort_keys=true) }}|{{ d | tojson(separators=(',', ':')) }}|{{ 'é\"\\n\\u0001' | tojson }}|{{ [] | tojson(indent=2) }}|{{ d | tojson(ensure_ascii=true) }}", `{"d":{"z":1,"a":[1.0,2.5,"ü"],"n":null,"t":true,"e":{}}}`},
	{"filters-1", "{{ xs | length }}{{ 'abc' | length }}{{ xs | join(',') }}{{ xs | first }}{{ xs | last }}{{ xs | sum }}{{ xs | max }}{{ xs | min }}{{ xs | reverse | list }}{{ xs | sort(reverse=true) }}{{ 'ab' | list }}{{ xs | unique | list }}", `{"xs":[3,1,2,3]}`},
	{"filters-2", "{{ '  x  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ 'a b' | upper }}|{{ 'A B' | lower }}|{{ 'hello wORLD-foo (bar' | title }}|{{ 'hELLO' | capitalize }}|{{ 'aXa' | replace('a', 'b') }}|{{ none | string }}|{{ 12 | string }}|{{ '5' | int + 1 }}|{{ 'x' | int }}|{{ '3.5' | float }}|{{ 3.7 | int }}|{{ -3 | abs }}|{{ 2.5 | round }}|{{ 3.14159 | round(2) }}|{{ 'a b c' | wordcount }}", ``},
	{"default", "{{ x | default('d') }}|{{ '' | default('d') }}|{{ '' | default('d', true) }}|{{ none | default('d') }}|{{ x | d('e') }}", ``},
	{"indent", "{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent('> ', blank=true) }}", ``},
	{"select-map", "{{ ms | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}|{{ ms | rejectattr('role', 'eq', 'user') | list | length }}|{{ [1,2,3,4] | select('odd') | list }}|{{ [1,2,3] | reject('even') | list }}|{{ ['a','B'] | map('upper') | list }}|{{ ms | map(attribute='x', default='-') | list }}|{{ ms | selectattr('content') | list | length }}", `{"ms":[{"role":"user","content":"a"},{"role":"bot","content":""},{"role":"user","content":"c"}]}`},
	{"dict", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.keys() | list }}{{ d.values() | list }}{{ d.get('a') }}{{ d.get('zz', 'no') }}{{ d.get('zz') }}{{ d['b'] }}{{ d.b }}{{ 'a' in d }}{% for k in d %}{{ k }}{% endfor %}{{ d | dictsort }}{{ d | items | list }}", `{"d":{"b":2,"a":1,"C":3}}`},
	{"dict-literal", "{% set d = {'x': 1, 'y': [1, 2]} %}{{ d }}{{ dict(a=1, b=2) }}{{ d.x }}{{ d['y'][1] }}", ``},
	{"tests", "{{ x is defined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ 1 is integer }}{{ 1.0 is float }}{{ d is mapping }}{{ xs is iterable }}{{ xs is sequence }}{{ 'a' is sequence }}{{ true is boolean }}{{ false is false }}{{ 3 is odd }}{{ 4 is even }}{{ 6 is divisibleby 3 }}{{ 1 is eq 1 }}{{ 2 is gt 1 }}{{ 'a' is in 'abc' }}{{ 'ab' is lower }}{{ x is undefined }}{{ xs is not none }}{{ none is sameas none }}", `{"d":{},"xs":[1]}`},
	{"compare-ops", "{{ 1 < 2 < 3 }}{{ 1 < 3 < 2 }}{{ 'a' < 'b' }}{{ [1,2] == [1,2] }}{{ 1 == 1.0 }}{{ 'a' != 'b' }}{{ 'x' not in 'abc' }}{{ 2 in [1,2] }}{{ true == 1 }}{{ none == none }}", ``},
	{"logic", "{{ 0 or 'x' }}{{ 1 and 'y' }}{{ '' and 'z' }}{{ not 0 }}{{ not none and 1 }}{{ 'a' if false }}{{ 'a' if true else 'b' }}{{ 1 if 0 else 2 if 0 else 3 }}", ``},
	{"concat", "{{ 'a' ~ 1 ~ none ~ true }}{{ 'a' + 'b' }}{{ [1] + [2] }}{{ 'ab' * 3 }}{{ 2 * 'c' }}{{ x ~ 'u' }}", ``},
	{"unicode-content", "{{ s }}|{{ s | length }}|{{ s[1] }}|{{ s.upper() }}|{{ s | tojson }}|{{ s | reverse }}", `{"s":"añ😀日本\u2028"}`},
	{"undefined-printing", "[{{ x }}][{{ d.missing }}][{{ d['nope'] }}][{{ xs[5] }}]", `{"d":{},"xs":[]}`},
	{"strftime", "{{ strftime_now('%Y-%m-%d %H:%M:%S %b %B %a %A %d %j %p %I %y') }}|{{ strftime_now('%-d %B') }}", ``},
	{"range", "{{ range(3) | list }}{{ range(1, 7, 2) | list }}{{ range(5, 0, -2) | list }}", ``},
	{"whitespace-control-mixed", "{%- for m in ms -%}\n  {{- m -}}\n  {% if not loop.last %}, {% endif %}\n{%- endfor %}\nend", `{"ms":["a","b"]}`},
	{"markup", "{{ ('<'|safe) + '<' }}|{{ '<' ~ ('<'|safe) }}|{{ '<b>' | e }}|{{ ('<'|safe) | e }}|{{ (('x'|safe) + '&').strip() + '>' }}", ``},
	{"generator-errors", "{{ xs | map('string') | list | tojson }}|{{ (xs | reverse) is sequence }}", `{"xs":[1,2]}`},
	{"tuple-unpack", "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% for x, (y) in [[1, 2], [3, 4]] %}{{ x }}{{ y }}{% endfor %}", ``},
	{"is-and-filter-precedence", "{{ -1 | abs }}{{ 1 + 2 | string }}{{ not x is defined }}{{ xs | length > 1 }}", `{"xs":[1,2]}`},
	{"string-escapes", "{{ 'tab\\there' }}|{{ \"nl\\nx\" }}|{{ '\\u00e9\\x41' }}|{{ 'a' 'b' }}", ``},
	{"loop-over-string-and-dict-items-filter", "{% for c in 'héj' %}{{ c }}.{% endfor %}{% for k, v in d | dictsort %}{{ k }}{{ v }}{% endfor %}", `{"d":{"b":1,"a":2}}`},
	{"with-block", "{% set a = 1 %}{% with a = 2, b = a %}{{ a }}{{ b }}{% endwith %}{{ a }}{% block body %}[{{ a }}]{% endblock %}", ``},
	{"python-case-and-space", "{{ 'straße'.upper() }}|{{ 'İx'.lower() | length }}|{{ '\x1cab\x1f'.strip() }}|{{ 'a\x1cb'.split() }}|{{ 'ǆemal'.title() }}|{{ 'ß' | upper }}", ``},
	// Errors: both engines must fail.
	{"err-raise", "{{ raise_exception('boom') }}", ``},
	{"err-undefined-attr", "{{ x.y }}", ``},
	{"err-undefined-add", "{{ x + 1 }}", ``},
	{"err-syntax", "{% if %}", ``},
	{"err-unclosed", "{% for x in y %}", ``},
	{"err-unknown-tag", "{% frobnicate %}", ``},
	{"err-unknown-filter", "{{ 1 | nosuchfilter }}", ``},
	{"err-list-append", "{% set xs = [] %}{{ xs.append(1) }}", ``},
	{"err-dict-pop", "{{ {'a': 1}.pop('a') }}", ``},
	{"err-div-zero", "{{ 1 / 0 }}", ``},
	{"err-str-plus-int", "{{ 'a' + 1 }}", ``},
	{"err-not-iterable", "{% for x in 5 %}{% endfor %}", ``},
	{"err-unexpected-end", "{{ 1 + }}", ``},
	{"err-generator-len", "{{ [1] | map('string') | length }}", ``},
	{"err-generator-json", "{{ [1] | select | tojson }}", ``},
	{"err-lt-mixed", "{{ 1 < 'a' }}", ``},
	{"err-endfor-mismatch", "{% if true %}{% endfor %}", ``},
	{"ok-unknown-filter-in-if", "{% if false %}{{ x | nosuchfilter }}{% endif %}ok", ``},
}

// TestEdgeCasesAgainstJinja2 renders each edge snippet with Jinja2 and
// with our engine and requires identical output, or an error from both.
// Integers are exact up to MaxIntDigits; past it, a clear error, at once
// (10**(10**10) would need 4 GB).
func TestBigIntegerBound(t *testing.T) {
	for _, src := range []string{"{{ 10**(10**10) }}", "{{ 10**5000 }}", "{{ (10**4000) * (10**4000) }}", "{{ 2**14300 * 2**14300 }}"} {
		tm, err := Parse("t", src)
		if err != nil {
			t.Fatal(err)
		}
		out, err := tm.Render(nil, Options{})
		if err == nil || !strings.Contains(err.Error(), "over 4300 digits") {
			t.Fatalf("%s: got %.40q, %v; want the digit bound", src, out, err)
		}
	}
	if _, err := Parse("t", "{{ "+strings.Repeat("9", 5000)+" }}"); err == nil || !strings.Contains(err.Error(), "4300 digits") {
		t.Fatalf("a 5000-digit literal: %v", err)
	}
	tm, _ := Parse("t", "{{ 10**4299 > 0 }} {{ (10**4299) | string | length }}")
	if out, err := tm.Render(nil, Options{}); err != nil || out != "True 4300" {
		t.Fatalf("at the bound: %q, %v", out, err)
	}
}

func TestEdgeCasesAgainstJinja2(t *testing.T) {
	if err := exec.Command("python3", "-c", "import jinja2").Run(); err != nil {
		t.Skip("python3 with jinja2 not installed (apt-get install python3-jinja2); skipping")
	}
	type snip struct {
		Name   string          `json:"name"`
		Source string          `json:"source"`
		Vars   json.RawMessage `json:"vars,omitempty"`
	}
	var snips []snip
	for _, s := range edgeSnippets {
		sn := snip{Name: s.name, Source: s.src}
		if s.vars != "" {
			sn.Vars = json.RawMessage(s.vars)
		}
		snips = append(snips, sn)
	}
	req, _ := json.Marshal(map[string]any{"snippets": snips, "now": diffNow.Format("2006-01-02T15:04:05")})
	cmd := exec.Command("python3", "../testdata/jinja2_render.py")
	cmd.Stdin = bytes.NewReader(req)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference renderer: %v", err)
	}
	var ref []diffResult
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatal(err)
	}
	for i, s := range edgeSnippets {
		want := ref[i]
		vars := map[string]any{}
		if s.vars != "" {
			v, err := ParseJSON([]byte(s.vars))
			if err != nil {
				t.Fatalf("%s: bad vars: %v", s.name, err)
			}
			d := v.(*Dict)
			for _, k := range d.Keys() {
				vars[k.(string)], _ = d.Get(k)
			}
		}
		got, err := renderString(s.name, s.src, vars)
		switch {
		case !want.OK && err == nil:
			t.Errorf("%s: Jinja2 raised %q, we rendered %q", s.name, want.Error, got)
		case want.OK && err != nil:
			t.Errorf("%s: we failed: %v (Jinja2: %q)", s.name, err, want.Output)
		case want.OK && got != want.Output:
			t.Errorf("%s:\n jinja2: %q\n ours:   %q", s.name, want.Output, got)
		}
		if strings.HasPrefix(s.name, "err-") && want.OK {
			t.Errorf("%s: expected Jinja2 to fail", s.name)
		}
	}
}

func renderString(name, src string, vars map[string]any) (string, error) {
	t, err := Parse(name, src)
	if err != nil {
		return "", err
	}
	return t.Render(vars, Options{Now: func() time.Time { return diffNow }})
}

func TestErrorsCarryLine(t *testing.T) {
	_, err := renderString("t.jinja", "line1\n{% if x %}\n{{ raise_exception('bad role') }}\n{% endif %}", map[string]any{"x": true})
	var te *Error
	if !errors.As(err, &te) || te.Line != 3 || te.Name != "t.jinja" || !strings.Contains(te.Msg, "bad role") {
		t.Fatalf("got %v", err)
	}
	if err.Error() != "t.jinja:3: bad role" {
		t.Fatalf("message %q", err.Error())
	}
	_, err = Parse("p.jinja", "a\nb\n{% for x in %}")
	if !errors.As(err, &te) || te.Line != 3 {
		t.Fatalf("parse error line: %v", err)
	}
}

func TestLimits(t *testing.T) {
	cases := map[string]string{
		"steps":     "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
		"recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
		"output":    "{% for a in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
		"repeat":    "{{ 'x' * 100000000000 }}",
		"nesting":   strings.Repeat("(", 5000) + "1" + strings.Repeat(")", 5000),
	}
	for name, src := range cases {
		if name == "nesting" {
			src = "{{ " + src + " }}"
		}
		tm, err := Parse(name, src)
		if err != nil {
			continue // rejected at parse time is fine too
		}
		_, err = tm.Render(nil, Options{Limits: Limits{MaxOutput: 1 << 20, MaxSteps: 100000}})
		if err == nil {
			t.Errorf("%s: expected a limit error", name)
		}
	}
}

func TestParseJSONKeepsOrderAndTypes(t *testing.T) {
	v, err := ParseJSON([]byte(`{"z": 1, "a": 1.0, "m": [true, null, "x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := toJSON(v, jsonOpts{itemSep: ", ", keySep: ": "})
	if err != nil {
		t.Fatal(err)
	}
	if s != `{"z": 1, "a": 1.0, "m": [true, null, "x"]}` {
		t.Fatalf("got %s", s)
	}
	for _, bad := range []string{`{`, `{"a":}`, `[1,]`, `{} {}`, `{"a": 1e999999}`} {
		if _, err := ParseJSON([]byte(bad)); err == nil && bad != `{"a": 1e999999}` {
			t.Errorf("%s: expected error", bad)
		}
	}
}

func TestMacroRecursionDepth(t *testing.T) {
	// 150 nested macro calls fit the default limit (200), as in Jinja2
	// where templates recurse over deep JSON schemas.
	src := "{% macro f(n) %}{% if n > 0 %}({{ f(n - 1) }}){% endif %}{% endmacro %}{{ f(150) }}"
	out, err := renderString("deep", src, nil)
	if err != nil || len(out) != 300 {
		t.Fatalf("%d %v", len(out), err)
	}
	if _, err := renderString("deeper", strings.Replace(src, "150", "5000", 1), nil); err == nil || !strings.Contains(err.Error(), "recursion") {
		t.Fatalf("want recursion error, got %v", err)
	}
}

func TestConcurrentRenders(t *testing.T) {
	tm, err := Parse("c", benchTemplate)
	if err != nil {
		t.Fatal(err)
	}
	vars := benchVars(3)
	want, err := tm.Render(vars, Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for i := 0; i < 8; i++ {
		go func() {
			out, _ := tm.Render(vars, Options{})
			done <- out
		}()
	}
	for i := 0; i < 8; i++ {
		if got := <-done; got != want {
			t.Fatal("concurrent render differs")
		}
	}
}
