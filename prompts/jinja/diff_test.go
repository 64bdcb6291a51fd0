package jinja

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// diffNow is the fixed clock both renderers use for strftime_now.
var diffNow = time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC)

// sharedTemplatesDir finds /work/shared/templates relative to the repo root.
func sharedTemplatesDir(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"../../../shared/templates", "../../shared/templates"} {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			abs, _ := filepath.Abs(p)
			return abs
		}
	}
	t.Skip("shared chat templates not found (../shared/templates from the repo root); skipping differential test")
	return ""
}

type diffCase struct {
	Name string `json:"name"`
}

type diffResult struct {
	Template string `json:"template"`
	Case     string `json:"case"`
	OK       bool   `json:"ok"`
	Output   string `json:"output"`
	Error    string `json:"error"`
}

// renderCase renders one conversation case (raw JSON object) with our engine,
// passing the same variables the Python reference passes.
func renderCase(tmpl *Template, raw Value) (string, error) {
	c := raw.(*Dict)
	get := func(k string, def Value) Value {
		if v, ok := c.Get(k); ok {
			return v
		}
		return def
	}
	vars := map[string]any{}
	if vs, ok := get("vars", nil).(*Dict); ok {
		for _, k := range vs.Keys() {
			v, _ := vs.Get(k)
			vars[k.(string)] = v
		}
	}
	vars["messages"] = get("messages", nil)
	vars["tools"] = get("tools", nil)
	vars["documents"] = nil
	vars["add_generation_prompt"] = get("add_generation_prompt", false)
	vars["bos_token"] = get("bos_token", "")
	vars["eos_token"] = get("eos_token", "")
	return tmpl.Render(vars, Options{Now: func() time.Time { return diffNow }})
}

// TestDifferentialJinja2 renders every shared template with every
// conversation in testdata/conversations.json through both our renderer and
// Python Jinja2 (configured like transformers) and requires byte-identical
// output, or an error from both.
func TestDifferentialJinja2(t *testing.T) {
	convData, err := os.ReadFile("../testdata/conversations.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []json.RawMessage
	if err := json.Unmarshal(convData, &cases); err != nil {
		t.Fatal(err)
	}
	differential(t, cases)
}

// TestDifferentialRandomConversations does the same with generated
// conversations: random roles, whitespace, Unicode and template-like text.
func TestDifferentialRandomConversations(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	n, seed := 25, uint64(2026)
	// Longer ad-hoc runs: NATTER_JINJA_RANDOM=count[,seed].
	if v := os.Getenv("NATTER_JINJA_RANDOM"); v != "" {
		fmt.Sscanf(strings.Replace(v, ",", " ", 1), "%d %d", &n, &seed)
	}
	rng := rand.New(rand.NewPCG(4, seed))
	var cases []json.RawMessage
	for i := 0; i < n; i++ {
		b, _ := json.Marshal(randomCase(rng, i))
		cases = append(cases, b)
	}
	differential(t, cases)
}

var contentPieces = []string{"hello", "world", " ", "  ", "\n", "\n\n", "\t", "é", "日本語", "👍🏽", "{{ x }}", "{% if %}",
	"{#", "#}", "<|im_end|>", "<think>", "</think>", "\"", "'", "\\", "[INST]", "</s>", "%s", "{}", "\u2028", "\r\n", "0", "None", "true"}

func randomContent(rng *rand.Rand) string {
	var b strings.Builder
	for n := rng.IntN(8); n > 0; n-- {
		p := contentPieces[rng.IntN(len(contentPieces))]
		b.WriteString(p)
	}
	return b.String()
}

func randomCase(rng *rand.Rand, i int) map[string]any {
	var msgs []any
	if rng.IntN(2) == 0 {
		msgs = append(msgs, map[string]any{"role": "system", "content": randomContent(rng)})
	}
	turns := 1 + rng.IntN(4)
	for j := 0; j < turns; j++ {
		msgs = append(msgs, map[string]any{"role": "user", "content": randomContent(rng)})
		if j == turns-1 && rng.IntN(2) == 0 {
			break
		}
		a := map[string]any{"role": "assistant", "content": randomContent(rng)}
		if rng.IntN(3) == 0 {
			a["reasoning_content"] = randomContent(rng)
		}
		msgs = append(msgs, a)
	}
	c := map[string]any{"name": fmt.Sprintf("random-%d", i), "messages": msgs,
		"add_generation_prompt": rng.IntN(3) != 0, "bos_token": "<s>", "eos_token": "</s>"}
	if rng.IntN(3) == 0 {
		c["vars"] = map[string]any{"enable_thinking": rng.IntN(2) == 0}
	}
	return c
}

func differential(t *testing.T, cases []json.RawMessage) {
	dir := sharedTemplatesDir(t)
	dirs := []string{dir}
	// More templates can be checked ad hoc: NATTER_JINJA_TEMPLATES=dir1:dir2.
	if extra := os.Getenv("NATTER_JINJA_TEMPLATES"); extra != "" {
		dirs = append(dirs, filepath.SplitList(extra)...)
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed; install python3-jinja2 to run the differential test")
	}
	if err := exec.Command("python3", "-c", "import jinja2").Run(); err != nil {
		t.Skip("python3 jinja2 not installed (apt-get install python3-jinja2); skipping differential test")
	}
	var paths []string
	for _, d := range dirs {
		ps, _ := filepath.Glob(filepath.Join(d, "*.jinja"))
		sort.Strings(ps)
		paths = append(paths, ps...)
	}
	if len(paths) == 0 {
		t.Skip("no templates in " + dir)
	}
	type tref struct {
		Name string `json:"name"`
		Path string `json:"path"`
	}
	var trefs []tref
	for _, p := range paths {
		trefs = append(trefs, tref{p, p})
	}
	req, _ := json.Marshal(map[string]any{"templates": trefs, "cases": cases, "now": diffNow.Format("2006-01-02T15:04:05")})
	cmd := exec.Command("python3", "../testdata/jinja2_render.py")
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference renderer failed: %v\n%s", err, stderr.String())
	}
	var ref []diffResult
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatal(err)
	}
	refBy := map[[2]string]diffResult{}
	for _, r := range ref {
		refBy[[2]string{r.Template, r.Case}] = r
	}
	caseVals := make([]Value, len(cases))
	caseNames := make([]string, len(cases))
	for i, c := range cases {
		v, err := ParseJSON(c)
		if err != nil {
			t.Fatal(err)
		}
		caseVals[i] = v
		n, _ := v.(*Dict).Get("name")
		caseNames[i] = n.(string)
	}
	identical, bothErr, failed := 0, 0, 0
	for _, p := range paths {
		name := p
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, perr := Parse(name, string(src))
		for i, cv := range caseVals {
			want, ok := refBy[[2]string{name, caseNames[i]}]
			if !ok {
				t.Fatalf("no reference result for %s/%s", name, caseNames[i])
			}
			var got string
			err := perr
			if err == nil {
				got, err = renderCase(tmpl, cv)
			}
			switch {
			case !want.OK && err != nil:
				bothErr++
			case !want.OK:
				failed++
				t.Errorf("%s / %s: Jinja2 raised %q but we rendered %q", name, caseNames[i], want.Error, clip(got))
			case err != nil:
				failed++
				t.Errorf("%s / %s: we failed: %v", name, caseNames[i], err)
			case got != want.Output:
				failed++
				t.Errorf("%s / %s: output differs at byte %d\n--- jinja2:\n%s\n--- ours:\n%s", name, caseNames[i], firstDiff(got, want.Output), clip(want.Output), clip(got))
			default:
				identical++
			}
		}
	}
	t.Logf("%d templates x %d conversations: %d byte-identical, %d raise in both, %d mismatches", len(paths), len(cases), identical, bothErr, failed)
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func clip(s string) string {
	if len(s) > 1500 {
		return s[:1500] + "…"
	}
	return strings.ReplaceAll(s, "\x00", `\0`)
}
