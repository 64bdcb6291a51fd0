package eval

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestMeanScore(t *testing.T) {
	for _, tc := range []struct {
		rs   []CaseResult
		want float64
	}{
		{nil, 0},
		{[]CaseResult{{Skipped: true, Score: 1}}, 0},
		{[]CaseResult{{Score: 1}, {Score: 0}, {Score: 0.5}, {Score: 1, Skipped: true}}, 0.5},
		{[]CaseResult{{Score: 0.25}}, 0.25},
	} {
		if got := MeanScore(tc.rs); got != tc.want {
			t.Errorf("MeanScore(%+v) = %v, want %v", tc.rs, got, tc.want)
		}
	}
}

func pass(id string, run int, out string) CaseResult {
	return CaseResult{Case: id, Run: run, Output: out, Pass: true, Score: 1}
}

func fail(id string, run int, out, reason string) CaseResult {
	return CaseResult{Case: id, Run: run, Output: out, Reason: reason}
}

// diffRuns are two runs of which exactly these differ: in cell m1 · p,
// pos-3 got better, neg-1 and pos-1's second run got worse, "gone" is in
// the first run only and "new-1" in the second only, and the model file
// changed; m3's template changed; m2 is in the first run only, m4 in the
// second.
func diffRuns() (*Run, *Run) {
	long := strings.Repeat("é", 300)
	timed := func(r CaseResult, ttft time.Duration, tokens int, decode time.Duration) CaseResult {
		r.TTFT, r.GeneratedTokens, r.DecodeTime = ttft, tokens, decode
		return r
	}
	a := &Run{ID: 1, SuiteHash: "s", Runs: 2, Cells: []CellResult{
		{Cell: Cell{Model: "m1", Persona: "p", ModelHash: "h1", PersonaText: "be kind", Sampling: "{}"}, Results: []CaseResult{
			timed(pass("pos-1", 0, "yes"), 20*time.Millisecond, 10, 100*time.Millisecond),
			pass("pos-1", 1, "yes"),
			timed(fail("pos-2", 0, "no", "wanted yes"), 30*time.Millisecond, 10, 100*time.Millisecond),
			fail("pos-3", 0, "nope", "missing \"yes\""),
			pass("neg-1", 0, "negative"),
			fail("gone", 0, "", "x"),
			{Case: "judged", Output: "meh", Skipped: true},
		}},
		{Cell: Cell{Model: "m2"}, Results: []CaseResult{pass("a", 0, "")}},
		{Cell: Cell{Model: "m3", Template: "t", TemplateText: "T1"}, Results: []CaseResult{pass("a", 0, "")}},
	}}
	b := &Run{ID: 2, SuiteHash: "s", Runs: 2, Cells: []CellResult{
		{Cell: Cell{Model: "m3", Template: "t", TemplateText: "T2"}, Results: []CaseResult{pass("a", 0, "")}},
		{Cell: Cell{Model: "m1", Persona: "p", ModelHash: "h2", PersonaText: "be kind", Sampling: "{}"}, Results: []CaseResult{
			timed(pass("pos-1", 0, "yes"), 10*time.Millisecond, 30, 100*time.Millisecond),
			fail("pos-1", 1, "maybe", "wanted yes"),
			fail("pos-2", 0, "no", "wanted yes"),
			pass("pos-3", 0, long),
			fail("neg-1", 0, "positive", "said positive"),
			pass("new-1", 0, "new"),
			pass("judged", 0, "good"),
		}},
		{Cell: Cell{Model: "m4"}},
	}}
	return a, b
}

func TestDiffFindsExactlyTheChanges(t *testing.T) {
	a, b := diffRuns()
	d := Diff(a, b)
	if d.A != 1 || d.B != 2 || d.SuiteChanged {
		t.Errorf("header: %+v", d)
	}
	if len(d.OnlyA) != 1 || d.OnlyA[0].Model != "m2" || len(d.OnlyB) != 1 || d.OnlyB[0].Model != "m4" {
		t.Errorf("only: %+v / %+v", d.OnlyA, d.OnlyB)
	}
	if len(d.Cells) != 2 || d.Cells[0].A.Model != "m1" || d.Cells[1].A.Model != "m3" {
		t.Fatalf("cells not in A's order: %+v", d.Cells)
	}
	c := d.Cells[0]
	if !reflect.DeepEqual(c.Changed, []string{"model file changed"}) {
		t.Errorf("changed: %q", c.Changed)
	}
	if len(c.Better) != 1 {
		t.Fatalf("better: %+v", c.Better)
	}
	if x := c.Better[0]; x.Case != "pos-3" || x.Run != 0 || x.Before != "nope" || x.Reason != `missing "yes"` ||
		!strings.HasPrefix(x.After, strings.Repeat("é", 200)) || utf8.RuneCountInString(x.After) > 201 {
		t.Errorf("better: %+v", x)
	}
	wantWorse := []CaseChange{
		{Case: "pos-1", Run: 1, Before: "yes", After: "maybe", Reason: "wanted yes"},
		{Case: "neg-1", Run: 0, Before: "negative", After: "positive", Reason: "said positive"},
	}
	if !reflect.DeepEqual(c.Worse, wantWorse) {
		t.Errorf("worse: %+v", c.Worse)
	}
	if !reflect.DeepEqual(c.OnlyA, []string{"gone"}) || !reflect.DeepEqual(c.OnlyB, []string{"new-1"}) {
		t.Errorf("cases only in one: %q / %q", c.OnlyA, c.OnlyB)
	}
	// A: 3 of 6 scored (judged skipped); B: 4 of 7.
	if c.ScoreA != 0.5 || c.ScoredA != 6 || c.ScoreB != 4.0/7 || c.ScoredB != 7 {
		t.Errorf("scores %v (%d) → %v (%d)", c.ScoreA, c.ScoredA, c.ScoreB, c.ScoredB)
	}
	if c.TTFTA != 25*time.Millisecond || c.TTFTB != 10*time.Millisecond || c.DecodeTPSA != 100 || c.DecodeTPSB != 300 {
		t.Errorf("speed: ttft %v → %v, decode %v → %v", c.TTFTA, c.TTFTB, c.DecodeTPSA, c.DecodeTPSB)
	}
	m3 := d.Cells[1]
	if !reflect.DeepEqual(m3.Changed, []string{"template changed"}) || len(m3.Better)+len(m3.Worse) != 0 ||
		m3.ScoreA != 1 || m3.ScoreB != 1 {
		t.Errorf("m3: %+v", m3)
	}

	var out bytes.Buffer
	if err := d.WriteText(&out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"run 1 → run 2\n",
		"\nm1 · p: 50.0% → 57.1% (+7.1)\n",
		"\n  model file changed\n",
		"\n  better  pos-3 (repetition 1): \"éé",
		"\n  worse   pos-1 (repetition 2): \"maybe\" (wanted yes)\n",
		"\n  worse   neg-1 (repetition 1): \"positive\" (said positive)\n",
		"\n  only in run 1: gone\n",
		"\n  only in run 2: new-1\n",
		"\n  speed   decode 100 tok/s → 300 tok/s, first token 25 ms → 10 ms\n",
		"\nm3 · t: 100.0% → 100.0% (+0.0)\n  template changed\n",
		"\nonly in run 1: m2\n",
		"\nonly in run 2: m4\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "no change") || strings.Contains(text, "pos-2") || strings.Contains(text, "judged") {
		t.Errorf("text reports what did not change:\n%s", text)
	}
}

func TestDiffNoChange(t *testing.T) {
	a, _ := diffRuns()
	b := *a
	b.ID = 2
	d := Diff(a, &b)
	if len(d.Cells) != 3 || len(d.OnlyA)+len(d.OnlyB) != 0 || !d.Same() {
		t.Fatalf("%+v", d)
	}
	for _, c := range d.Cells {
		if len(c.Changed)+len(c.Better)+len(c.Worse)+len(c.OnlyA)+len(c.OnlyB) != 0 {
			t.Errorf("cell %s: %+v", c.A.Label(), c)
		}
	}
	var out bytes.Buffer
	d.WriteText(&out)
	text := out.String()
	if !strings.Contains(text, "no change") || !strings.Contains(text, "m1 · p: 50.0% → 50.0% (+0.0)") ||
		strings.Contains(text, "better") || strings.Contains(text, "worse") {
		t.Errorf("text:\n%s", text)
	}

	// The same replies from a changed suite file are a change.
	b.SuiteHash = "other"
	d = Diff(a, &b)
	out.Reset()
	d.WriteText(&out)
	if !d.SuiteChanged || d.Same() || strings.Contains(out.String(), "no change") || !strings.Contains(out.String(), "suite changed") {
		t.Errorf("suite change:\n%s", out.String())
	}
}

func TestDiffCellSettings(t *testing.T) {
	base := Cell{Model: "m", Persona: "p", ModelRef: "/m.gguf", ModelHash: "h", Backend: "llama.cpp",
		PersonaText: "one", TemplateText: "T", Sampling: `{"t":0}`}
	changed := base
	changed.PersonaText, changed.Sampling = "two", `{"t":1}`
	loadFailed := base
	loadFailed.ModelHash, loadFailed.PersonaText = "", ""
	results := []CaseResult{pass("a", 0, "")}
	for _, tc := range []struct {
		name   string
		a, b   CellResult
		want   []string
		scored [2]int
	}{
		{"same", CellResult{Cell: base, Results: results}, CellResult{Cell: base, Results: results}, nil, [2]int{1, 1}},
		{"persona and sampling", CellResult{Cell: base, Results: results}, CellResult{Cell: changed, Results: results},
			[]string{"persona text changed", "sampling changed"}, [2]int{1, 1}},
		// A cell that failed to load has no hash or persona text: only
		// the failure is news.
		{"load failed", CellResult{Cell: base, Results: results}, CellResult{Cell: loadFailed, LoadErr: "out of\nmemory"},
			[]string{"failed to load now: out of memory"}, [2]int{1, 0}},
		{"remote endpoint", CellResult{Cell: Cell{Model: "m", ModelRef: "http://a m", Backend: "remote"}},
			CellResult{Cell: Cell{Model: "m", ModelRef: "http://b m", Backend: "remote"}},
			[]string{"model source changed"}, [2]int{0, 0}},
		{"backend", CellResult{Cell: base}, CellResult{Cell: func() Cell { c := base; c.Backend = "go"; return c }()},
			[]string{"backend changed (llama.cpp → go)"}, [2]int{0, 0}},
	} {
		d := Diff(&Run{Cells: []CellResult{tc.a}}, &Run{Cells: []CellResult{tc.b}})
		if len(d.Cells) != 1 {
			t.Fatalf("%s: not matched: %+v", tc.name, d)
		}
		c := d.Cells[0]
		if !reflect.DeepEqual(c.Changed, tc.want) || c.ScoredA != tc.scored[0] || c.ScoredB != tc.scored[1] {
			t.Errorf("%s: changed %q, scored %d/%d", tc.name, c.Changed, c.ScoredA, c.ScoredB)
		}
	}

	// A score against nothing scored shows no delta.
	d := Diff(&Run{ID: 1, Cells: []CellResult{{Cell: base, Results: results}}},
		&Run{ID: 2, Cells: []CellResult{{Cell: loadFailed, LoadErr: "boom"}}})
	var out bytes.Buffer
	d.WriteText(&out)
	if !strings.Contains(out.String(), "m · p: 100.0% → —\n  failed to load now: boom\n") {
		t.Errorf("text:\n%s", out.String())
	}
}

// The same model twice in a run (two -m of one name) pairs in order.
func TestDiffDuplicateCells(t *testing.T) {
	c := Cell{Model: "m"}
	a := &Run{Cells: []CellResult{
		{Cell: c, Results: []CaseResult{pass("x", 0, "")}},
		{Cell: c, Results: []CaseResult{fail("x", 0, "", "no")}},
	}}
	b := &Run{Cells: []CellResult{
		{Cell: c, Results: []CaseResult{pass("x", 0, "")}},
		{Cell: c, Results: []CaseResult{fail("x", 0, "", "no")}},
		{Cell: c},
	}}
	d := Diff(a, b)
	if len(d.Cells) != 2 || !d.Cells[0].Same() || !d.Cells[1].Same() || len(d.OnlyB) != 1 || len(d.OnlyA) != 0 {
		t.Fatalf("%+v", d)
	}
}

// Two runs of one cell each, of different models (a base, then its tuned
// copy), are compared with each other rather than listed apart.
func TestDiffOneCellEachAcrossModels(t *testing.T) {
	a := &Run{ID: 1, SuiteHash: "s", Runs: 1, Cells: []CellResult{{Cell: Cell{Model: "base", ModelHash: "h1"}, Results: []CaseResult{fail("c1", 0, "no", "wanted yes"), pass("c2", 0, "yes")}}}}
	b := &Run{ID: 2, SuiteHash: "s", Runs: 1, Cells: []CellResult{{Cell: Cell{Model: "tuned", ModelHash: "h2"}, Results: []CaseResult{pass("c1", 0, "yes"), pass("c2", 0, "yes")}}}}
	d := Diff(a, b)
	if len(d.Cells) != 1 || len(d.OnlyA)+len(d.OnlyB) != 0 {
		t.Fatalf("%+v", d)
	}
	c := d.Cells[0]
	if len(c.Better) != 1 || c.Better[0].Case != "c1" || !slices.Contains(c.Changed, "model file changed") || !strings.Contains(c.Changed[0], "base → tuned") {
		t.Fatalf("%+v", c)
	}
	// With two cells in a run, unmatched cells stay apart.
	a.Cells = append(a.Cells, CellResult{Cell: Cell{Model: "other"}})
	if d := Diff(a, b); len(d.Cells) != 0 || len(d.OnlyA) != 2 {
		t.Fatalf("%+v", d)
	}
}
