package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// evalReport is the part of `natter eval --json` these tests read.
type evalReport struct {
	ID       int64  `json:"id"`
	Complete bool   `json:"complete"`
	Cases    int    `json:"cases"`
	Best     string `json:"best"`
	Cells    []struct {
		Label     string  `json:"label"`
		Score     float64 `json:"score"`
		Passed    int     `json:"passed"`
		Scored    int     `json:"scored"`
		DecodeTPS float64 `json:"decode_tps"`
		PeakRSS   int64   `json:"peak_rss_bytes"`
		Confusion *struct {
			Counts map[string]map[string]int `json:"counts"`
		} `json:"confusion"`
	} `json:"cells"`
}

// The "done when": the repo's sentiment suite against two models
// and two personas, read from one table; the JSON agrees; the run is saved
// and a second run diffs against it.
func TestEvalSentimentSuiteTwoModelsTwoPersonas(t *testing.T) {
	stories := sharedModel(t, "stories260K.gguf")
	_, env := isolatedEnv(t, "NATTER_NO_HISTORY=")
	suite := filepath.Join("examples", "eval", "sentiment.yaml")
	args := []string{"eval", suite, "-m", stories, "-m", chatModel, "--prompt", "none", "--prompt", "concise", "-t", "2", "-n", "8"}
	out, errOut, st := runEnv(t, env, args...)
	if st != 0 {
		t.Fatalf("exit %d\n%s\n%s", st, out, errOut)
	}
	for _, want := range []string{"MODEL · PERSONA · TEMPLATE", "SCORE", "DECODE", "PEAK RSS", "stories260K · concise", "synth-chat ", "confusion — "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "saved as run 1") {
		t.Errorf("stderr: %s", errOut)
	}
	rows := 0
	for _, l := range strings.Split(out, "\n") {
		if regexp.MustCompile(`^(stories260K|synth-chat)( · concise)?\s+\d+\.\d%`).MatchString(l) {
			rows++
			if !regexp.MustCompile(`\d+ tok/s .*\d+ MiB`).MatchString(l) {
				t.Errorf("row lacks speed or memory: %q", l)
			}
		}
	}
	if rows != 4 {
		t.Fatalf("%d rows, want 4 (2 models × 2 personas):\n%s", rows, out)
	}

	js, errOut, st := runEnv(t, env, append(args, "--json")...)
	var rep evalReport
	if st != 0 || json.Unmarshal([]byte(js), &rep) != nil {
		t.Fatalf("--json: exit %d: %s %s", st, js, errOut)
	}
	if rep.ID != 2 || !rep.Complete || len(rep.Cells) != 4 {
		t.Fatalf("report %+v", rep)
	}
	for _, c := range rep.Cells {
		row := ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, c.Label+"  ") {
				row = l
			}
		}
		if !strings.Contains(row, fmt.Sprintf("%.1f%%", 100*c.Score)) || !strings.Contains(row, fmt.Sprintf("%d/%d", c.Passed, c.Scored)) {
			t.Errorf("table row %q disagrees with JSON %+v", row, c)
		}
		if c.Scored != rep.Cases || c.DecodeTPS <= 0 || c.PeakRSS <= 0 || c.Confusion == nil {
			t.Errorf("cell %+v", c)
		}
	}

	list, _, st := runEnv(t, env, "eval", "list")
	if st != 0 || !strings.Contains(list, "sentiment") || len(regexp.MustCompile(`(?m)^\s*[12]\s`).FindAllString(list, -1)) != 2 {
		t.Errorf("eval list: exit %d\n%s", st, list)
	}
	// Greedy runs repeat: nothing got better or worse.
	diff, errOut, st := runEnv(t, env, "eval", "diff", "1", "2")
	if st != 0 || !strings.Contains(diff, "no change") {
		t.Errorf("eval diff: exit %d\n%s%s", st, diff, errOut)
	}
	show, _, st := runEnv(t, env, "eval", "show", "1")
	if st != 0 || !strings.Contains(show, "stories260K · concise") {
		t.Errorf("eval show: exit %d\n%s", st, show)
	}
	md, _, st := runEnv(t, env, "eval", "show", "1", "--markdown")
	if st != 0 || !strings.Contains(md, "| model · persona · template | score |") {
		t.Errorf("markdown: exit %d\n%s", st, md)
	}
	if _, errOut, st := runEnv(t, env, "eval", "diff", "1", "9"); st != 1 || !strings.Contains(errOut, "no eval run 9") {
		t.Errorf("unknown run: exit %d %s", st, errOut)
	}
}

// A bad suite is refused before any model loads: the model here does not
// even exist, and the error is still the suite's, with file, line and case.
func TestEvalBadSuiteBeforeModel(t *testing.T) {
	_, env := isolatedEnv(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("cases:\n  - id: one\n    input: hi\n    regex: '('\n"), 0o600)
	_, errOut, st := runEnv(t, env, "eval", bad, "-m", "/no/such/model.gguf")
	if st != 2 || !strings.Contains(errOut, "bad.yaml:") || !strings.Contains(errOut, `case "one"`) {
		t.Fatalf("exit %d: %s", st, errOut)
	}
	if _, errOut, st := runEnv(t, env, "eval", "-m", chatModel); st != 2 || !strings.Contains(errOut, "give a suite") {
		t.Errorf("no suite: exit %d %s", st, errOut)
	}
	good := filepath.Join("examples", "eval", "qa.jsonl")
	if _, errOut, st := runEnv(t, env, "eval", good, "-m", chatModel, "--prompt", "no-such-persona"); st != 2 || !strings.Contains(errOut, "no-such-persona") {
		t.Errorf("unknown persona: exit %d %s", st, errOut)
	}
}

// Ctrl+C during a run stops it, prints the table of what finished, and
// keeps the run as incomplete.
func TestEvalInterruptInTerminal(t *testing.T) {
	p := newPane(t, "NATTER_NO_HISTORY=")
	suite := filepath.Join(p.home, "long.yaml")
	var b strings.Builder
	b.WriteString("name: long\ncases:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "  - input: \"Story number %d begins\"\n    regex: .\n", i)
	}
	os.WriteFile(suite, []byte(b.String()), 0o600)
	p.launch("eval", suite, "-m", chatModel, "-t", "1", "-n", "48")
	p.waitFor("progress", func(s string) bool { return regexp.MustCompile(`case [1-9]\d*/1000`).MatchString(s) })
	p.keys("C-c")
	screen := p.waitFor("partial table", func(s string) bool { return strings.Contains(s, "interrupted") })
	if !strings.Contains(screen, "long: 1000 cases — incomplete") || !regexp.MustCompile(`synth-chat\s+100\.0%\s+\d+/\d+`).MatchString(screen) {
		t.Fatalf("screen:\n%s", screen)
	}
	if st := p.exited(); st != 130 {
		t.Fatalf("exit %d", st)
	}
	p.launch("eval", "list")
	p.waitFor("list", func(s string) bool { return strings.Contains(s, "interrupted") && strings.Contains(s, "long") })
}
