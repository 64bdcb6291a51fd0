package jinja

import (
	"runtime"
	"strings"
	"testing"
)

// Rendering is bounded by work, not only by loop iterations (issue 19,
// item 1): each template here loops and calls fewer times than its step
// budget, so counting those alone let it run, but the work it does on its values
// grows with the square of its loop (a string or list copied each time
// round, a long value scanned each time, a result the size of its
// argument). Every one must stop with the step error, and the memory it
// allocated must stay within a small multiple of the budget (without the
// work charge these ran from one to a hundred seconds and allocated up to
// tens of gigabytes at the default budget).
func TestRenderWorkIsBounded(t *testing.T) {
	const steps = 20000
	big := strings.Repeat("abcdefgh", 1<<15) // 256 KiB
	cases := map[string]string{
		"string ~":       "{% set ns = namespace(x='') %}{% for i in range(15000) %}{% set ns.x = ns.x ~ 'aaaaaaaaaaaaaaaa' %}{% endfor %}",
		"string +":       "{% set ns = namespace(x='') %}{% for i in range(15000) %}{% set ns.x = ns.x + 'aaaaaaaaaaaaaaaa' %}{% endfor %}",
		"list +":         "{% set ns = namespace(l=[]) %}{% for i in range(15000) %}{% set ns.l = ns.l + [i] %}{% endfor %}",
		"dict merge":     "{% set ns = namespace(d={}) %}{% for i in range(3000) %}{% set ns.d = dict(ns.d, **{('k' ~ i): i}) %}{% endfor %}",
		"in scan":        "{% for i in range(15000) %}{% if 'zz' in big %}{% endif %}{% endfor %}",
		"list scan":      "{% set l = range(20000)|list %}{% for i in range(2000) %}{% if 19999 in l %}{% endif %}{% endfor %}",
		"index":          "{% for i in range(2000) %}{% set x = big[5] %}{% endfor %}",
		"slice":          "{% for i in range(2000) %}{% set x = big[1:] %}{% endfor %}",
		"method":         "{% for i in range(15000) %}{% set x = big.upper() %}{% endfor %}",
		"filter":         "{% for i in range(8000) %}{% set x = big|length %}{% endfor %}",
		"tojson":         "{% for i in range(2000) %}{% set x = big|tojson %}{% endfor %}",
		"padding":        "{% for i in range(2000) %}{% set x = 'a'|center(1000000) %}{% endfor %}",
		"repeat":         "{% for i in range(2000) %}{% set x = 'a' * 1000000 %}{% endfor %}",
		"big integer":    "{% set x = 10**4000 %}{% for i in range(8000) %}{% set y = x|string %}{% endfor %}",
		"long condition": "{% for i in range(15000) %}{% if i == 1" + strings.Repeat(" or i == 2", 2000) + " %}{% endif %}{% endfor %}",
		"output":         "{% for i in range(15000) %}{{ big }}{% endfor %}",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			tm, err := Parse("work", src)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err = tm.Render(map[string]any{"big": big}, Options{Limits: Limits{MaxSteps: steps}})
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "exceeded 20000 steps") {
				t.Fatalf("want the step error, got %v", err)
			}
			// A step is workUnit units, a unit at most a few bytes.
			alloc := after.TotalAlloc - before.TotalAlloc
			if bound := uint64(8*steps*workUnit + 4<<20); alloc > bound {
				t.Fatalf("allocated %d bytes, over %d", alloc, bound)
			}
		})
	}
}

// The budget still leaves real templates on long chats far from the limit:
// a template that builds the whole prompt in a namespace string (as
// Reka-Edge's does, quadratic in the chat) renders 200 messages of 2 KB
// within the default budget.
func TestRenderWorkLeavesRealTemplatesAlone(t *testing.T) {
	src := "{% set ns = namespace(out='') %}{% for m in messages %}{% set ns.out = ns.out ~ m.role ~ ': ' ~ m.content ~ '\\n' %}{% endfor %}{{ ns.out }}"
	tm, err := Parse("accumulate", src)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []any
	for i := 0; i < 200; i++ {
		msgs = append(msgs, map[string]any{"role": "user", "content": strings.Repeat("word ", 400)})
	}
	out, err := tm.Render(map[string]any{"messages": msgs}, Options{Limits: Limits{MaxSteps: 250_000}})
	if err != nil || len(out) < 400_000 {
		t.Fatalf("%d bytes, %v", len(out), err)
	}
}
