package jinja

import (
	"strings"
	"testing"
	"time"
)

// parseCost is the work (tokens consumed, nodes visited) Parse does on src.
func parseCost(t *testing.T, src string) int64 {
	t.Helper()
	before := parseWork.Load()
	tm, err := Parse("chain", src)
	if err != nil {
		t.Fatalf("parse %d bytes: %v", len(src), err)
	}
	cost := parseWork.Load() - before
	// Render must finish (with output or an error) on every chain; its
	// recursion is capped by maxExprDepth.
	_, _ = tm.Render(map[string]any{"messages": []any{}}, Options{})
	return cost
}

// Every kind of chain the parser builds with a loop must cost time linear in
// its length: 4x the links may cost at most 5x the work (quadratic is 16x).
func TestChainsAreLinear(t *testing.T) {
	chains := map[string]func(n int) string{
		"attr":      func(n int) string { return "{{ messages" + strings.Repeat(".x", n) + " }}" },
		"subscript": func(n int) string { return "{{ messages" + strings.Repeat("[0]", n) + " }}" },
		"plus":      func(n int) string { return "{{ 0" + strings.Repeat(" + 1", n) + " }}" },
		"concat":    func(n int) string { return "{{ 'a'" + strings.Repeat(" ~ x", n) + " }}" },
		"or":        func(n int) string { return "{{ x" + strings.Repeat(" or x", n) + " }}" },
		"filter":    func(n int) string { return "{{ 'a'" + strings.Repeat("|string", n) + " }}" },
		"strings":   func(n int) string { return "{{ 'a'" + strings.Repeat(" 'bcdefgh'", n) + " }}" },
	}
	for name, mk := range chains {
		t.Run(name, func(t *testing.T) {
			const n = 2000
			small := parseCost(t, mk(n))
			large := parseCost(t, mk(4*n))
			if small < n || large > 5*small {
				t.Fatalf("%d links cost %d units of work, %d links %d: superlinear", n, small, 4*n, large)
			}
		})
	}
}

// A 400 KB chain is refused at parse time with a clear error, and quickly:
// it used to take tens of seconds of quadratic work before failing.
func TestHugeChainRejected(t *testing.T) {
	for _, link := range []string{".x", "[0]", "|e", " + 1"} {
		src := "{{ messages" + strings.Repeat(link, 400_000/len(link)) + " }}"
		start := time.Now()
		_, err := Parse("chain", src)
		took := time.Since(start)
		if err == nil || !strings.Contains(err.Error(), "expression nested too deeply") {
			t.Fatalf("%q chain: want a nesting error, got %v", link, err)
		}
		// Generous: linear work on 400 KB is milliseconds.
		if took > 5*time.Second {
			t.Fatalf("%q chain took %v to reject", link, took)
		}
	}
	// Just under the limit still parses.
	if _, err := Parse("chain", "{{ messages"+strings.Repeat(".x", maxExprDepth-1)+" }}"); err != nil {
		t.Fatalf("chain under the limit: %v", err)
	}
}
