package eval

import (
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func schema(t *testing.T, src string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("mem://s.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("mem://s.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGrade(t *testing.T) {
	person := schema(t, `{"type":"object","required":["name","age"],"properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}}}`)
	labels := []string{"positive", "negative", "neutral"}
	cases := []struct {
		name   string
		check  Check
		reply  string
		pass   bool
		reason string // substring of the reason when it fails
		pred   string
	}{
		{"exact", Check{Kind: CheckExact, Want: "Paris"}, "  Paris\n", true, "", ""},
		{"exact case", Check{Kind: CheckExact, Want: "Paris"}, "paris", false, `want "Paris", got "paris"`, ""},
		{"exact ignore case", Check{Kind: CheckExact, Want: "Paris", IgnoreCase: true}, "PARIS", true, "", ""},
		{"exact long differs", Check{Kind: CheckExact, Want: strings.Repeat("a", 50)}, strings.Repeat("a", 45) + "b", false, "differ from character 46", ""},
		{"contains all", Check{Kind: CheckContains, All: []string{"Paris", "France"}}, "Paris is in France.", true, "", ""},
		{"contains missing", Check{Kind: CheckContains, All: []string{"Paris", "France"}}, "Paris is nice.", false, `missing "France"`, ""},
		{"contains any", Check{Kind: CheckContains, Any: []string{"Lyon", "Paris"}}, "Paris.", true, "", ""},
		{"contains any none", Check{Kind: CheckContains, Any: []string{"Lyon", "Nice"}}, "Paris.", false, `none of "Lyon", "Nice"`, ""},
		{"contains all and any", Check{Kind: CheckContains, All: []string{"is"}, Any: []string{"x", "Paris"}}, "Paris is.", true, "", ""},
		{"contains fold", Check{Kind: CheckContains, All: []string{"PARIS"}, IgnoreCase: true}, "paris", true, "", ""},
		{"regex", Check{Kind: CheckRegex, Pattern: regexp.MustCompile(`^\d+$`)}, " 42 ", true, "", ""},
		{"regex no", Check{Kind: CheckRegex, Pattern: regexp.MustCompile(`^\d+$`)}, "forty-two", false, `no match for /^\d+$/`, ""},
		{"choice", Check{Kind: CheckChoice, Label: "positive", Labels: labels}, "Positive.", false, `the reply names no label`, ""},
		{"choice fold", Check{Kind: CheckChoice, Label: "positive", Labels: labels, IgnoreCase: true}, "Positive.", true, "", "positive"},
		{"choice first wins", Check{Kind: CheckChoice, Label: "negative", Labels: labels}, "negative, not positive", true, "", "negative"},
		{"choice wrong", Check{Kind: CheckChoice, Label: "negative", Labels: labels}, "it is positive", false, `want "negative", got "positive"`, "positive"},
		{"choice whole word", Check{Kind: CheckChoice, Label: "neutral", Labels: labels}, "nonpositive neutral", true, "", "neutral"},
		{"json any", Check{Kind: CheckJSON}, `{"a":1}`, true, "", ""},
		{"json fenced", Check{Kind: CheckJSON, Fields: map[string]any{"a": 1}}, "Here:\n```json\n{\"a\": 1.0}\n```\nDone.", true, "", ""},
		{"json embedded", Check{Kind: CheckJSON, Fields: map[string]any{"items.1.name": "b"}}, `Sure! {"items":[{"name":"a"},{"name":"b"}]} hope it helps`, true, "", ""},
		{"json none", Check{Kind: CheckJSON}, "no json here", false, "no JSON value", ""},
		{"json truncated", Check{Kind: CheckJSON}, `{"a": [1, 2`, false, "no JSON value", ""},
		{"json schema", Check{Kind: CheckJSON, Schema: person}, `{"name":"Ada","age":36}`, true, "", ""},
		{"json schema fails", Check{Kind: CheckJSON, Schema: person}, `{"name":"Ada","age":-1}`, false, "does not match the schema", ""},
		{"json field differs", Check{Kind: CheckJSON, Fields: map[string]any{"name": "Ada"}}, `{"name":"Bob"}`, false, `name: want "Ada", got "Bob"`, ""},
		{"json field missing", Check{Kind: CheckJSON, Fields: map[string]any{"x.y": true}}, `{"x":{}}`, false, "no field x.y", ""},
		{"number", Check{Kind: CheckNumber, Number: 42}, "The answer is 42.", true, "", ""},
		{"number thousands", Check{Kind: CheckNumber, Number: 1234.5}, "about 1,234.5 km", true, "", ""},
		{"number negative", Check{Kind: CheckNumber, Number: -3}, "x = -3", true, "", ""},
		{"number tolerance", Check{Kind: CheckNumber, Number: 3.14, Tolerance: 0.01}, "pi is 3.1416", true, "", ""},
		{"number off", Check{Kind: CheckNumber, Number: 3.14, Tolerance: 0.001}, "pi is 3.15", false, "want 3.14 ± 0.001, got 3.15", ""},
		{"number none", Check{Kind: CheckNumber, Number: 1}, "one", false, "no number", ""},
		{"number not an exponent", Check{Kind: CheckNumber, Number: 5}, "see e5 then 5", true, "", ""},
		{"unknown", Check{Kind: "vibes"}, "x", false, `unknown check "vibes"`, ""},
	}
	for _, c := range cases {
		v := Grade(c.check, c.reply)
		if v.Pass != c.pass {
			t.Errorf("%s: pass = %v, want %v (reason %q)", c.name, v.Pass, c.pass, v.Reason)
			continue
		}
		if !c.pass && !strings.Contains(v.Reason, c.reason) {
			t.Errorf("%s: reason %q, want it to contain %q", c.name, v.Reason, c.reason)
		}
		if c.pass && v.Reason != "" {
			t.Errorf("%s: passed with a reason %q", c.name, v.Reason)
		}
		if c.pred != "" && v.Predicted != c.pred {
			t.Errorf("%s: predicted %q, want %q", c.name, v.Predicted, c.pred)
		}
	}
}

func TestFindLabelPrefersLongerAtSamePlace(t *testing.T) {
	if got := FindLabel("very positive indeed", []string{"positive", "very positive"}, false); got != "very positive" {
		t.Fatalf("got %q", got)
	}
	if got := FindLabel("", []string{"a"}, false); got != "" {
		t.Fatalf("empty reply: %q", got)
	}
}

func TestJudgeVerdict(t *testing.T) {
	for reply, want := range map[string]float64{
		"PASS\nIt names Paris.":    1,
		"Verdict: fail — wrong.":   0,
		"passable but FAIL":        0, // "passable" is not the word PASS
		"I think it is fine":       -1,
		"FAIL. It should PASS? no": 0,
	} {
		v, score, err := judgeVerdict(reply)
		if err != nil {
			t.Fatal(err)
		}
		switch want {
		case -1:
			if v.Pass || !strings.Contains(v.Reason, "no verdict") {
				t.Errorf("%q: %+v", reply, v)
			}
		default:
			if score != want || v.Pass != (want == 1) {
				t.Errorf("%q: score %v pass %v, want %v", reply, score, v.Pass, want)
			}
		}
	}
}

func TestSummarize(t *testing.T) {
	c := CellResult{Cell: Cell{Model: "m", Persona: "p"}, PeakRSS: 3 << 20, Results: []CaseResult{
		{Case: "a", Tags: []string{"x"}, Pass: true, Score: 1, Expected: "pos", Predicted: "pos", PromptTokens: 10, GeneratedTokens: 4, TTFT: 10e6, PrefillTime: 5e6, DecodeTime: 40e6},
		{Case: "b", Tags: []string{"x", "y"}, Score: 0, Expected: "neg", Predicted: "pos", Reason: "want neg", PromptTokens: 10, CachedTokens: 6, GeneratedTokens: 6, TTFT: 30e6, PrefillTime: 5e6, DecodeTime: 60e6},
		{Case: "c", Tags: []string{"y"}, Skipped: true},
		{Case: "d", Expected: "neg", Predicted: "", Reason: "none"},
	}}
	s := Summarize(c)
	if s.Scored != 3 || s.Passed != 1 || s.Skipped != 1 || len(s.Failures) != 2 {
		t.Fatalf("%+v", s)
	}
	if s.Score != 1.0/3 {
		t.Fatalf("score %v", s.Score)
	}
	if len(s.Tags) != 2 || s.Tags[0] != (TagScore{"x", 0.5, 2}) || s.Tags[1] != (TagScore{"y", 0, 1}) {
		t.Fatalf("tags %+v", s.Tags)
	}
	if s.TTFT != 20e6 || s.DecodeTPS != 100 || s.PrefillTPS != 1400 /* 14 tokens processed (6 cached) in 10 ms */ || s.GeneratedTokens != 10 {
		t.Fatalf("speed: ttft %v decode %v prefill %v", s.TTFT, s.DecodeTPS, s.PrefillTPS)
	}
	cf := s.Confusion
	if cf == nil || cf.Counts["neg"]["pos"] != 1 || cf.Counts["neg"][""] != 1 || cf.Counts["pos"]["pos"] != 1 || cf.Accuracy != 1.0/3 {
		t.Fatalf("confusion %+v", cf)
	}
	if s.Label != "m · p" {
		t.Fatalf("label %q", s.Label)
	}
}
