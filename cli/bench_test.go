package cli

import (
	"strings"
	"testing"
	"unicode/utf8"

	"natter/engine/api"
)

// Every row of the bench table has the same width and its cells line up,
// however long the test name (-d) or the model name.
func TestBenchTableAligned(t *testing.T) {
	mi := api.ModelInfo{Description: "qwen35 0.8B Q8_0 with a rather long description"}
	rs := []benchResult{
		{Test: "pp512 @ d4096", Threads: 2, ModelBytes: 812 << 20, ModelParams: 752_000_000, TokensPerSecond: 155.91, Stddev: 1.2},
		{Test: "tg128 @ d4096", Threads: 2, ModelBytes: 812 << 20, ModelParams: 752_000_000, TokensPerSecond: 44.2, Stddev: 0.3},
		{Test: "pp8", Threads: 12, TokensPerSecond: 123456.78, Stddev: 9999.99},
	}
	var b strings.Builder
	printBenchTable(&b, mi, rs)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2+len(rs) {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	bars := func(s string) []int {
		var at []int
		for i, r := range []rune(s) {
			if r == '|' {
				at = append(at, i)
			}
		}
		return at
	}
	want := bars(lines[0])
	for _, l := range lines {
		if utf8.RuneCountInString(l) != utf8.RuneCountInString(lines[0]) {
			t.Errorf("row width differs:\n%s\n%s", lines[0], l)
		}
		if got := bars(l); len(got) != len(want) || got[len(got)-1] != want[len(want)-1] || got[6] != want[6] {
			t.Errorf("columns misaligned:\n%s\n%s", lines[0], l)
		}
	}
	for _, s := range []string{"pp512 @ d4096", mi.Description, "123456.78 ± 9999.99", "| ----"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
}
