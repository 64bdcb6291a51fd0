package eval

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"natter/prompts"
)

// fullYAML uses every field and every check kind.
const fullYAML = `name: everything
description: one case of each check
system: Answer briefly.
max_tokens: 16
labels: [positive, negative, neutral]
ignore_case: true
vars: {lang: French, city: Paris}
cases:
  - id: exact-1
    input: "Capital of France, in {{ lang }}?"
    exact: "{{city}}"
    tags: [geo, easy]
  - input: Name the capital and the country.
    contains: [Paris, France]
    contains_any: [capital, city]
    ignore_case: false
  - id: contains-one
    input: Say hello
    contains: hello
  - id: regex-1
    input: A number, digits only
    regex: '^\d+$'
    max_tokens: 4
  - id: choice-1
    input: I loved it
    choice: Positive
  - id: choice-own
    input: Is water wet?
    labels: ["yes", "no"]
    choice: "yes"
    ignore_case: false
  - id: json-1
    input: Give JSON
    json: true
  - id: json-2
    input: "Extract {{city}}"
    json:
      schema: {type: object, required: [name], properties: {name: {type: string}, pop: {type: integer, minimum: 0}}}
      fields: {name: "{{city}}", "loc.0": 48.85, ok: true, none: null}
  - id: number-1
    input: 6 times 7?
    number: 42
    tolerance: 0.5
  - id: number-2
    input: pi?
    number: 3.14
  - id: judge-1
    system: You are a poet.
    vars: {city: Lyon}
    messages:
      - {role: user, content: "Write about {{city}}"}
      - {role: assistant, content: "Which season?"}
      - {role: user, content: "Spring in {{ city }}"}
    judge: "A short poem about {{city}} in spring."
`

// fullHeader and fullLines are fullYAML as JSONL.
const fullHeader = `{"suite": {"name": "everything", "description": "one case of each check", "system": "Answer briefly.", "max_tokens": 16, "labels": ["positive", "negative", "neutral"], "ignore_case": true, "vars": {"lang": "French", "city": "Paris"}}}`

var fullLines = []string{
	`{"id": "exact-1", "input": "Capital of France, in {{ lang }}?", "exact": "{{city}}", "tags": ["geo", "easy"]}`,
	`{"input": "Name the capital and the country.", "contains": ["Paris", "France"], "contains_any": ["capital", "city"], "ignore_case": false}`,
	`{"id": "contains-one", "input": "Say hello", "contains": "hello"}`,
	`{"id": "regex-1", "input": "A number, digits only", "regex": "^\\d+$", "max_tokens": 4}`,
	`{"id": "choice-1", "input": "I loved it", "choice": "Positive"}`,
	`{"id": "choice-own", "input": "Is water wet?", "labels": ["yes", "no"], "choice": "yes", "ignore_case": false}`,
	`{"id": "json-1", "input": "Give JSON", "json": true}`,
	`{"id": "json-2", "input": "Extract {{city}}", "json": {"schema": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "pop": {"type": "integer", "minimum": 0}}}, "fields": {"name": "{{city}}", "loc.0": 48.85, "ok": true, "none": null}}}`,
	`{"id": "number-1", "input": "6 times 7?", "number": 42, "tolerance": 0.5}`,
	`{"id": "number-2", "input": "pi?", "number": 3.14}`,
	`{"id": "judge-1", "system": "You are a poet.", "vars": {"city": "Lyon"}, "messages": [{"role": "user", "content": "Write about {{city}}"}, {"role": "assistant", "content": "Which season?"}, {"role": "user", "content": "Spring in {{ city }}"}], "judge": "A short poem about {{city}} in spring."}`,
}

func fullJSONL() string {
	return fullHeader + "\n// the cases\n\n" + strings.Join(fullLines, "\n") + "\n"
}

// fullJSON is the suite as one .json object, its cases on lines 2 to 12.
func fullJSON() string {
	h := strings.TrimSuffix(strings.TrimPrefix(fullHeader, `{"suite": `), "}")
	return strings.TrimSuffix(h, "}") + `, "cases": [` + "\n" + strings.Join(fullLines, ",\n") + "\n]}\n"
}

var fullVars = map[string]string{"lang": "French", "city": "Paris"}

var fullLabels = []string{"positive", "negative", "neutral"}

// fullCases is what every form of the suite parses to, but Line, Pattern
// and Schema (checked apart).
var fullCases = []Case{
	{ID: "exact-1", Input: "Capital of France, in French?", System: "Answer briefly.", Vars: fullVars, Tags: []string{"geo", "easy"}, MaxTokens: 16,
		Check: Check{Kind: CheckExact, IgnoreCase: true, Want: "Paris"}},
	{ID: "#2", Input: "Name the capital and the country.", System: "Answer briefly.", Vars: fullVars, MaxTokens: 16,
		Check: Check{Kind: CheckContains, All: []string{"Paris", "France"}, Any: []string{"capital", "city"}}},
	{ID: "contains-one", Input: "Say hello", System: "Answer briefly.", Vars: fullVars, MaxTokens: 16,
		Check: Check{Kind: CheckContains, IgnoreCase: true, All: []string{"hello"}}},
	{ID: "regex-1", Input: "A number, digits only", System: "Answer briefly.", Vars: fullVars, MaxTokens: 4,
		Check: Check{Kind: CheckRegex}},
	{ID: "choice-1", Input: "I loved it", System: "Answer briefly.", Vars: fullVars, MaxTokens: 16,
		Check: Check{Kind: CheckChoice, IgnoreCase: true, Label: "positive", Labels: fullLabels}},
	{ID: "choice-own", Input: "Is water wet?", System: "Answer briefly.", Vars: fullVars, MaxTokens: 16,
		Check: Check{Kind: CheckChoice, Label: "yes", Labels: []string{"yes", "no"}}},
	{ID: "json-1", Input: "Give JSON", System: "Answer briefly.", Vars: fullVars, MaxTokens: 16,
		Check: Check{Kind: CheckJSON}},
	{ID: "json-2", Input: "Extract Paris", System: "Answer briefly.", Vars: fullVars, MaxTokens: 16,
		Check: Check{Kind: CheckJSON, Fields: map[string]any{"name": "Paris", "loc.0": 48.85, "ok": true, "none": nil}}},
	{ID: "number-1", Input: "6 times 7?", System: "Answer briefly.", Vars: fullVars, MaxTokens: 16,
		Check: Check{Kind: CheckNumber, Number: 42, Tolerance: 0.5}},
	{ID: "number-2", Input: "pi?", System: "Answer briefly.", Vars: fullVars, MaxTokens: 16,
		Check: Check{Kind: CheckNumber, Number: 3.14}},
	{ID: "judge-1", System: "You are a poet.", Vars: map[string]string{"lang": "French", "city": "Lyon"}, MaxTokens: 16,
		Messages: []prompts.Message{
			{Role: "user", Content: "Write about Lyon"},
			{Role: "assistant", Content: "Which season?"},
			{Role: "user", Content: "Spring in Lyon"},
		},
		Check: Check{Kind: CheckJudge, Rubric: "A short poem about Lyon in spring."}},
}

// checkFull compares a parsed suite with fullCases; lines are the
// expected Case.Line of each case.
func checkFull(t *testing.T, s *Suite, lines []int) {
	t.Helper()
	if s.Name != "everything" || s.Description != "one case of each check" {
		t.Errorf("name %q, description %q", s.Name, s.Description)
	}
	if len(s.Cases) != len(fullCases) {
		t.Fatalf("%d cases, want %d", len(s.Cases), len(fullCases))
	}
	for i, got := range s.Cases {
		want := fullCases[i]
		if got.Line != lines[i] {
			t.Errorf("case %s: line %d, want %d", got.ID, got.Line, lines[i])
		}
		switch got.ID {
		case "regex-1":
			if got.Check.Pattern == nil || got.Check.Pattern.String() != `^\d+$` {
				t.Errorf("regex-1: pattern %v", got.Check.Pattern)
			}
		case "json-2":
			sch := got.Check.Schema
			if sch == nil {
				t.Fatal("json-2: no schema")
			}
			for doc, valid := range map[string]bool{`{"name": "Paris", "pop": 2}`: true, `{"pop": 2}`: false, `{"name": "Paris", "pop": -1}`: false} {
				v, _ := jsonschema.UnmarshalJSON(strings.NewReader(doc))
				if err := sch.Validate(v); (err == nil) != valid {
					t.Errorf("json-2: schema on %s: %v", doc, err)
				}
			}
		default:
			if got.Check.Pattern != nil || got.Check.Schema != nil {
				t.Errorf("%s: pattern %v, schema %v", got.ID, got.Check.Pattern, got.Check.Schema)
			}
		}
		got.Line, got.Check.Pattern, got.Check.Schema = 0, nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("case %d:\n got %#v\nwant %#v", i+1, got, want)
		}
	}
}

func TestParseSuiteYAML(t *testing.T) {
	s, err := Parse("dir/full.yaml", []byte(fullYAML))
	if err != nil {
		t.Fatal(err)
	}
	checkFull(t, s, []int{9, 13, 17, 20, 24, 27, 32, 35, 40, 44, 47})
	if s.Path != "dir/full.yaml" || len(s.Hash) != 64 {
		t.Errorf("path %q, hash %q", s.Path, s.Hash)
	}
}

func TestParseSuiteJSONL(t *testing.T) {
	s, err := Parse("full.jsonl", []byte(fullJSONL()))
	if err != nil {
		t.Fatal(err)
	}
	checkFull(t, s, []int{4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14})
}

func TestParseSuiteJSON(t *testing.T) {
	s, err := Parse("full.json", []byte(fullJSON()))
	if err != nil {
		t.Fatal(err)
	}
	checkFull(t, s, []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	// Lines of a .json file are the lines of its fields.
	_, err = Parse("s.json", []byte("{\n  \"cases\": [\n    {\"input\": \"a\",\n     \"exakt\": \"b\"}\n  ]\n}\n"))
	if want := `s.json:4: case "#1": unknown field "exakt" (did you mean "exact"?)`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

func TestParseSuiteDefaults(t *testing.T) {
	s, err := Parse("some/where/my-suite.yml", []byte("cases:\n  - input: hi\n    exact: hello\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Cases[0]
	if s.Name != "my-suite" || c.ID != "#1" || c.Line != 2 || c.System != "" || c.MaxTokens != 0 || c.Vars != nil || c.Check.IgnoreCase {
		t.Errorf("%+v %+v", s, c)
	}
	// The hash is of the bytes.
	s2, _ := Parse("x.yaml", []byte("cases:\n  - input: hi\n    exact: hello\n"))
	s3, _ := Parse("x.yaml", []byte("cases:\n  - input: hi\n    exact: hello \n"))
	if s.Hash != s2.Hash || s.Hash == s3.Hash {
		t.Error("hash is not of the file's bytes")
	}
}

func TestParseSuiteVars(t *testing.T) {
	cases := []struct{ body, input, want string }{
		{"input: 'a {{x}} b {{ x }} c {{\tx\t}}'", "a 1 b 1 c 1", ""},
		{"input: 'no braces here'", "no braces here", ""},
		{"input: 'json {\"a\": {\"b\": 1}} and {{ not a name }} and {{}}'", `json {"a": {"b": 1}} and {{ not a name }} and {{}}`, ""},
		{"input: '{{{x}}}'", "{1}", ""},
		{"input: '{{x}}{{y}}'", "", `s.yaml:4: case "#1": input: {{y}} has no value: add y to vars`},
	}
	for _, c := range cases {
		_, err := Parse("s.yaml", []byte("vars: {x: 1}\ncases:\n  - exact: ok\n    "+c.body+"\n"))
		s, _ := Parse("s.yaml", []byte("vars: {x: 1}\ncases:\n  - exact: ok\n    "+c.body+"\n"))
		if c.want != "" {
			if err == nil || err.Error() != c.want {
				t.Errorf("%s: error %v, want %s", c.body, err, c.want)
			}
			continue
		}
		if err != nil || s.Cases[0].Input != c.input {
			t.Errorf("%s: %v %q, want %q", c.body, err, s.Cases[0].Input, c.input)
		}
	}
	// In a regex a var is literal text.
	s, err := Parse("s.yaml", []byte("cases:\n  - input: q\n    vars: {v: 'a.b*'}\n    regex: '^{{v}}$'\n"))
	if err != nil {
		t.Fatal(err)
	}
	if re := s.Cases[0].Check.Pattern; !re.MatchString("a.b*") || re.MatchString("axbb") {
		t.Errorf("pattern %s", re)
	}
}

func TestParseSuiteMergeKeys(t *testing.T) {
	s, err := Parse("s.yaml", []byte(`cases:
  - &base {id: one, input: hi, exact: hello, tags: [a]}
  - <<: *base
    id: two
    input: bye
`))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Cases[1]
	if c.ID != "two" || c.Input != "bye" || c.Check.Want != "hello" || !reflect.DeepEqual(c.Tags, []string{"a"}) {
		t.Errorf("%+v", c)
	}
}

// TestParseSuiteErrors: every error names the file, the line and the case.
func TestParseSuiteErrors(t *testing.T) {
	cases := []struct{ file, body, want string }{
		// unknown fields
		{"s.yaml", "cases:\n  - input: a\n    contian: [x]\n", `s.yaml:3: case "#1": unknown field "contian" (did you mean "contains"?)`},
		{"s.yaml", "cases:\n  - id: pos-1\n    input: a\n    exakt: b\n", `s.yaml:4: case "pos-1": unknown field "exakt" (did you mean "exact"?)`},
		{"s.yaml", "cases:\n  - input: a\n    prompt: b\n    exact: c\n", `s.yaml:3: case "#1": unknown field "prompt" (did you mean "input"?)`},
		{"s.yaml", "cases:\n  - input: a\n    exact: c\n    zzzzzzzz: 1\n", `s.yaml:4: case "#1": unknown field "zzzzzzzz"`},
		{"s.yaml", "nmae: x\ncases:\n  - {input: a, exact: b}\n", `s.yaml:1: unknown field "nmae" (did you mean "name"?)`},
		{"s.yaml", "input: x\ncases:\n  - {input: a, exact: b}\n", `s.yaml:1: unknown field "input" (a case field: cases go in a list under cases:)`},
		{"s.yaml", "cases:\n  - input: a\n    input: b\n    exact: c\n", `s.yaml:3: case "#1": field "input" is given twice (first at line 2)`},
		{"s.yaml", "cases:\n  - input: a\n    json: {schema: {type: object}, feilds: {a: 1}}\n", `s.yaml:3: case "#1": json: unknown field "feilds" (did you mean "fields"?)`},
		// the check
		{"s.yaml", "cases:\n  - input: a\n", `s.yaml:2: case "#1": no check: give one of exact, contains, contains_any, regex, choice, json, number, judge`},
		{"s.yaml", "cases:\n  - input: a\n    exact: b\n    regex: c\n", `s.yaml:4: case "#1": has both exact and regex: give one check`},
		{"s.yaml", "cases:\n  - input: a\n    contains: b\n    contains_any: c\n    judge: d\n", `s.yaml:5: case "#1": has both contains and judge: give one check`},
		{"s.yaml", "cases:\n  - input: a\n    contains_any: b\n    contains: c\n    exact: d\n", `s.yaml:5: case "#1": has both contains_any and exact: give one check`},
		{"s.yaml", "cases:\n  - input: a\n    exact: b\n    tolerance: 1\n", `s.yaml:4: case "#1": tolerance goes with a number check`},
		{"s.yaml", "cases:\n  - input: a\n    regex: b\n    ignore_case: true\n", `s.yaml:4: case "#1": ignore_case goes with exact, contains and choice checks (for a regex, start it with (?i))`},
		// grammars
		{"s.yaml", "cases:\n  - input: a\n    grammar: 'root ::= root \"a\"'\n    regex: x\n", `s.yaml:3: case "#1": grammar: rule "root" is left-recursive`},
		{"s.yaml", "cases:\n  - input: a\n    grammar: none.gbnf\n    regex: x\n", `s.yaml:3: case "#1": grammar: open `},
		{"s.yaml", "cases:\n  - input: a\n    grammar: 'root ::= \"{}\"'\n    json: {constrain: true}\n", `s.yaml:3: case "#1": has both grammar and json constrain: give one`},
		{"s.yaml", "cases:\n  - input: a\n    json: {constrain: maybe}\n", `s.yaml:3: case "#1": json: constrain: want true or false`},
		{"s.yaml", "cases:\n  - input: a\n    json: {schema: {type: object, not: {required: [a]}}, constrain: true}\n", `s.yaml:3: case "#1": json: constrain: schema: unsupported JSON Schema keyword "not"`},
		// the input
		{"s.yaml", "cases:\n  - exact: b\n", `s.yaml:2: case "#1": no input: give input (a prompt) or messages`},
		{"s.yaml", "cases:\n  - input: a\n    messages: [{role: user, content: a}]\n    exact: b\n", `s.yaml:2: case "#1": has both input and messages: give one`},
		{"s.yaml", "cases:\n  - input: \"  \"\n    exact: b\n", `s.yaml:2: case "#1": input is empty`},
		{"s.yaml", "cases:\n  - input: ~\n    exact: b\n", `s.yaml:2: case "#1": input: want text, got nothing`},
		// types
		{"s.yaml", "cases:\n  - input: a\n    tags: 5\n    exact: b\n", `s.yaml:3: case "#1": tags: want a list of strings, got the number 5`},
		{"s.yaml", "cases:\n  - input: a\n    tags: [x, [y]]\n    exact: b\n", `s.yaml:3: case "#1": tags: want a list of strings; item 2 is a list`},
		{"s.yaml", "cases:\n  - input: a\n    max_tokens: -1\n    exact: b\n", `s.yaml:3: case "#1": max_tokens: want a positive whole number, got the number -1`},
		{"s.yaml", "cases:\n  - input: a\n    max_tokens: 2.5\n    exact: b\n", `max_tokens: want a positive whole number, got the number 2.5`},
		{"s.yaml", "cases:\n  - input: a\n    number: 1\n    tolerance: -1\n", `s.yaml:4: case "#1": tolerance: want 0 or more, got -1`},
		{"s.yaml", "cases:\n  - input: a\n    number: \"abc\"\n", `s.yaml:3: case "#1": number: want a number, got "abc"`},
		{"s.yaml", "cases:\n  - input: a\n    number: .inf\n", `s.yaml:3: case "#1": number: want a number, got the number .inf`},
		{"s.yaml", "cases:\n  - input: a\n    exact: b\n    ignore_case: yes please\n", `s.yaml:4: case "#1": ignore_case: want true or false, got "yes please"`},
		{"s.yaml", "max_tokens: 0\ncases:\n  - {input: a, exact: b}\n", `s.yaml:1: max_tokens: want a positive whole number, got the number 0`},
		{"s.yaml", "labels: {a: 1}\ncases:\n  - {input: a, exact: b}\n", `s.yaml:1: labels: want a list of strings, got a mapping`},
		{"s.yaml", "vars: [a]\ncases:\n  - {input: a, exact: b}\n", `s.yaml:1: vars: want a mapping of names to text, got a list`},
		{"s.yaml", "vars: {'a b': 1}\ncases:\n  - {input: a, exact: b}\n", `s.yaml:1: vars: "a b" is not a name`},
		{"s.yaml", "cases:\n  - id: [1]\n    input: a\n    exact: b\n", `s.yaml:2: case "#1": id: want text, got a list`},
		{"s.yaml", "cases: 5\n", `s.yaml:1: cases: want a list of cases`},
		{"s.yaml", "cases:\n  - just text\n", `s.yaml:2: case "#1": want a mapping (input, a check, …)`},
		{"s.yaml", "- input: a\n", `s.yaml:1: want a mapping at the top of the file (name, system, cases: …)`},
		// regex, schema
		{"s.yaml", "cases:\n  - id: r\n    input: a\n    regex: '('\n", "s.yaml:4: case \"r\": regex: error parsing regexp: missing closing ): `(`"},
		{"s.yaml", "cases:\n  - input: a\n    json: {schema: {type: 5}}\n", `s.yaml:3: case "#1": json: schema: `},
		{"s.yaml", "cases:\n  - input: a\n    json: {schema: missing.json}\n", `s.yaml:3: case "#1": json: schema: missing.json: stat `},
		{"s.yaml", "cases:\n  - input: a\n    json: {schema: [1]}\n", `json: schema: want a JSON Schema (a mapping) or the name of a schema file, got a list`},
		{"s.yaml", "cases:\n  - input: a\n    json: false\n", `s.yaml:3: case "#1": json: false checks nothing`},
		{"s.yaml", "cases:\n  - input: a\n    json: {fields: {'a..b': 1}}\n", `s.yaml:3: case "#1": json: fields: "a..b" is not a dotted path (like a.b or items.0.name)`},
		{"s.yaml", "cases:\n  - input: a\n    json: {fields: {'': 1}}\n", `json: fields: "" is not a dotted path`},
		{"s.yaml", "cases:\n  - input: a\n    json: {fields: [a]}\n", `json: fields: want a mapping of dotted paths`},
		// choice
		{"s.yaml", "labels: [a, b]\ncases:\n  - id: c1\n    input: a\n    choice: c\n", `s.yaml:5: case "c1": choice: "c" is not one of the labels ("a", "b")`},
		{"s.yaml", "labels: [a, b]\ncases:\n  - input: a\n    choice: A\n", `choice: "A" is not one of the labels`},
		{"s.yaml", "cases:\n  - input: a\n    labels: [a]\n    choice: a\n", `s.yaml:3: case "#1": labels: want at least 2 labels, got 1`},
		{"s.yaml", "labels: [a]\ncases:\n  - {input: a, choice: a}\n", `s.yaml:1: labels: want at least 2 labels, got 1`},
		{"s.yaml", "cases:\n  - input: a\n    choice: a\n", `s.yaml:3: case "#1": choice needs at least 2 labels: give labels in the case or the suite`},
		{"s.yaml", "cases:\n  - input: a\n    labels: [a, b]\n    exact: a\n", `s.yaml:3: case "#1": labels go with a choice check`},
		{"s.yaml", "cases:\n  - input: a\n    labels: [a, a]\n    choice: a\n", `labels: "a" is listed twice`},
		// ids
		{"s.yaml", "cases:\n  - id: x\n    input: a\n    exact: b\n  - id: x\n    input: a\n    exact: b\n", `s.yaml:5: case "x": duplicate id: case "x" is at line 2 already`},
		{"s.yaml", "cases:\n  - {input: a, exact: b}\n  - {id: '#1', input: a, exact: b}\n", `s.yaml:3: case "#1": duplicate id: case "#1" is at line 2 already`},
		// messages
		{"s.yaml", "cases:\n  - messages: [{role: robot, content: a}]\n    exact: b\n", `s.yaml:2: case "#1": messages[1]: role "robot": want system, user or assistant`},
		{"s.yaml", "cases:\n  - messages: [{role: user, content: a}, {role: assistant, content: b}]\n    exact: b\n", `s.yaml:2: case "#1": messages: the last message must be the user's, not the assistant's`},
		{"s.yaml", "cases:\n  - messages: [{role: user, content: a}, {role: system, content: b}, {role: user, content: c}]\n    exact: b\n", `messages[2]: a system message must come first`},
		{"s.yaml", "cases:\n  - messages: [{role: user}]\n    exact: b\n", `s.yaml:2: case "#1": messages[1]: no content: want {role, content}`},
		{"s.yaml", "cases:\n  - messages: [{role: user, text: a}]\n    exact: b\n", `messages[1]: unknown field "text"`},
		{"s.yaml", "cases:\n  - messages: []\n    exact: b\n", `messages: want a list of {role, content}, got a list`},
		{"s.yaml", "cases:\n  - system: s\n    messages: [{role: system, content: a}, {role: user, content: b}]\n    exact: b\n", `s.yaml:2: case "#1": has both system and a system message: give one`},
		// vars
		{"s.yaml", "cases:\n  - input: 'hi {{name}}'\n    exact: b\n", `s.yaml:2: case "#1": input: {{name}} has no value: add name to vars`},
		{"s.yaml", "cases:\n  - input: 'hi'\n    exact: '{{ who }}'\n", `s.yaml:3: case "#1": exact: {{who}} has no value`},
		// the file
		{"s.yaml", "cases:\n  - input: [a\n", `s.yaml:1: did not find expected ',' or ']'`},
		{"s.yaml", "cases:\n\t- input: a\n", `s.yaml:2: found character that cannot start any token`},
		{"s.yaml", "cases: []\n", `s.yaml:1: no cases`},
		{"s.yaml", "name: x\n", `s.yaml: no cases: list them under cases:`},
		{"s.yaml", "", `s.yaml: no cases`},
		{"s.yaml", "# nothing\n", `s.yaml: no cases`},
		{"s.yaml", "cases:\n  - {input: a, exact: b}\n---\ncases: []\n", `s.yaml:3: a second YAML document: a suite file holds one`},
		{"s.yaml", "cases:\n  - input: \"caf\xe9\"\n    exact: b\n", `s.yaml:2: invalid UTF-8 (byte 0xe9)`},
		{"s.yaml", "cases:\n  - input: \"a\x01\"\n    exact: b\n", `s.yaml:2: control character U+0001 is not allowed`},
		{"s.txt", "cases: []\n", `s.txt: unknown suite format ".txt": name the file .yaml, .yml, .json or .jsonl`},
		// JSONL
		{"s.jsonl", "{\"input\": \"a\"}\n", `s.jsonl:1: case "#1": no check: give one of`},
		{"s.jsonl", "\n// c\n{\"input\": \"a\", \"exakt\": \"b\"}\n", `s.jsonl:3: case "#1": unknown field "exakt" (did you mean "exact"?)`},
		{"s.jsonl", "{\"input\": \"a\", \"exact\": \"b\"}\n{\"suite\": {\"name\": \"x\"}}\n", `s.jsonl:2: the suite header {"suite": {…}} must be the first line`},
		{"s.jsonl", "{\"suite\": {\"name\": \"x\", \"cases\": []}}\n{\"input\": \"a\", \"exact\": \"b\"}\n", `s.jsonl:1: suite: unknown field "cases"`},
		{"s.jsonl", "{\"suite\": {\"lables\": [\"a\", \"b\"]}}\n", `s.jsonl:1: suite: unknown field "lables" (did you mean "labels"?)`},
		{"s.jsonl", "{\"suite\": {\"name\": \"x\"}, \"input\": \"a\"}\n", `s.jsonl:1: the header line holds only "suite"`},
		{"s.jsonl", "{\"input\": \"a\", \"exact\": \"b\"}\nnot json\n", `s.jsonl:2: case "#2": invalid JSON: invalid character 'o' in literal null (expecting 'u')`},
		{"s.jsonl", "{\"input\": \"a\", \"exact\": \"b\"} {}\n", `s.jsonl:1: case "#1": invalid JSON: more than one JSON value`},
		{"s.jsonl", "[1, 2]\n", `s.jsonl:1: want a JSON object`},
		{"s.jsonl", "{\"input\": \"caf\xe9\", \"exact\": \"b\"}\n", `s.jsonl:1: case "#1": invalid UTF-8 (byte 0xe9 at column 15)`},
		{"s.jsonl", "{\"input\": \"a\", \"input\": \"b\", \"exact\": \"c\"}\n", `s.jsonl:1: case "#1": field "input" is given twice`},
		{"s.jsonl", "{\"input\": \"a\", \"number\": \"42\"}\n", `s.jsonl:1: case "#1": number: want a number, got "42"`},
		{"s.jsonl", "{\"id\": \"a\", \"input\": \"a\", \"exact\": \"b\"}\n{\"id\": \"a\", \"input\": \"a\", \"exact\": \"b\"}\n", `s.jsonl:2: case "a": duplicate id: case "a" is at line 1 already`},
		{"s.jsonl", "# only a comment\n\n", `s.jsonl: no cases`},
		{"s.json", "{\"cases\": [{\"input\": \"a\", \"exact\": \"b\"},]}", `s.json:1: invalid JSON: invalid character ']' looking for beginning of value`},
		{"s.json", "[]", `s.json:1: want a mapping at the top of the file`},
	}
	for _, c := range cases {
		_, err := Parse(c.file, []byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q:\n error %v\n  want %s", c.file, c.body, err, c.want)
		}
	}
}

func TestParseSuiteSeveralErrors(t *testing.T) {
	_, err := Parse("s.yaml", []byte("cases:\n  - {input: a, exakt: b}\n  - {input: a}\n  - {input: a, exact: b}\n"))
	want := "s.yaml:2: case \"#1\": unknown field \"exakt\" (did you mean \"exact\"?)\n" +
		"s.yaml:3: case \"#2\": no check: give one of exact, contains, contains_any, regex, choice, json, number, judge"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	// Ten errors, then it stops.
	_, err = Parse("s.yaml", []byte("cases:\n"+strings.Repeat("  - {input: a}\n", 100)))
	if n := strings.Count(err.Error(), "\n"); n != 10 || !strings.HasSuffix(err.Error(), "too many errors; stopping") {
		t.Errorf("%d lines:\n%v", n+1, err)
	}
}

func TestLoadSuiteHugeCase(t *testing.T) {
	big := strings.Repeat("a", 50<<20)
	dir := t.TempDir()
	y := filepath.Join(dir, "big.yaml")
	yb := "cases:\n  - input: ok\n    exact: b\n  - id: huge\n    input: " + big + "\n    exact: b\n"
	if err := os.WriteFile(y, []byte(yb), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(y); err == nil || err.Error() != y+`:4: case "huge": input is 50.0 MiB; a case is limited to 1 MiB` {
		t.Errorf("yaml: %v", err)
	}
	// Messages and the system prompt count too.
	half := strings.Repeat("b", 600<<10)
	_, err := Parse("s.yaml", []byte("system: "+half+"\ncases:\n  - {input: ok, exact: b}\n  - messages: [{role: user, content: "+half+"}]\n    exact: b\n"))
	if err == nil || err.Error() != `s.yaml:4: case "#2": messages and system prompt are 1.2 MiB; a case is limited to 1 MiB` {
		t.Errorf("messages: %v", err)
	}
	// So does what vars make of the input.
	_, err = Parse("s.yaml", []byte("vars: {h: "+half+"}\ncases:\n  - {input: '{{h}}{{h}}', exact: b}\n"))
	if err == nil || err.Error() != `s.yaml:3: case "#1": input: with its vars the text is over 1 MiB, the limit of a case` {
		t.Errorf("vars: %v", err)
	}

	j := filepath.Join(dir, "big.jsonl")
	jb := "{\"input\":\"ok\",\"exact\":\"b\"}\n\n{\"input\":\"" + big + "\",\"exact\":\"b\"}\n{\"input\":\"ok2\",\"exact\":\"b\"}\n"
	if err := os.WriteFile(j, []byte(jb), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(j)
	if err == nil || err.Error() != j+`:3: case "#2": line is 50.0 MiB; a case is limited to 1 MiB (a JSONL line to 4 MiB)` {
		t.Errorf("jsonl: %v", err)
	}
	// A line under the line limit but over the case limit.
	_, err = Parse("s.jsonl", []byte("{\"id\": \"x\", \"input\":\""+strings.Repeat("c", 2<<20)+"\",\"exact\":\"b\"}\n"))
	if err == nil || err.Error() != `s.jsonl:1: case "x": input is 2.0 MiB; a case is limited to 1 MiB` {
		t.Errorf("jsonl 2 MiB: %v", err)
	}
}

func TestLoadSuiteTooBig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.yaml")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no 65 MiB are written, and none must be read.
	if err := f.Truncate(MaxSuiteBytes + 1<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Load(p)
	if err == nil || err.Error() != p+": file is 65.0 MiB; a suite file is limited to 64 MiB" {
		t.Errorf("%v", err)
	}
	if _, err := Parse("x.yaml", make([]byte, MaxSuiteBytes+1)); err == nil || !strings.Contains(err.Error(), "limited to 64 MiB") {
		t.Errorf("Parse: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil || !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadSuiteSchemaFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("schemas/person.json", `{"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "age": {"$ref": "age.json"}}}`)
	write("schemas/age.json", `{"type": "integer", "minimum": 0}`)
	write("schemas/city.yaml", "type: object\nrequired: [city]\n")
	write("schemas/remote.json", `{"$ref": "http://127.0.0.1:9/never.json"}`)
	write("schemas/bad.json", `{"type": "object",}`)
	write("suite.yaml", `cases:
  - id: person
    input: a
    json: {schema: schemas/person.json}
  - id: person-again
    input: b
    json: {schema: schemas/person.json, fields: {name: Ada}}
  - id: city
    input: c
    json: {schema: schemas/city.yaml}
`)
	s, err := Load(filepath.Join(dir, "suite.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	valid := func(sch *jsonschema.Schema, doc string) bool {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		return sch.Validate(v) == nil
	}
	person := s.Cases[0].Check.Schema
	if person == nil || s.Cases[1].Check.Schema != person {
		t.Fatal("schema file not compiled once for both cases")
	}
	if !valid(person, `{"name": "Ada", "age": 36}`) || valid(person, `{"age": 36}`) || valid(person, `{"name": "Ada", "age": -1}`) {
		t.Error("person.json (with its local $ref) not applied")
	}
	if city := s.Cases[2].Check.Schema; !valid(city, `{"city": "Paris"}`) || valid(city, `{}`) {
		t.Error("city.yaml not applied")
	}

	for _, c := range []struct{ schema, want string }{
		{"schemas/remote.json", `not fetching http://127.0.0.1:9/never.json: schemas are never loaded from the network`},
		{"{$ref: 'https://example.com/s.json'}", `not fetching https://example.com/s.json: schemas are never loaded from the network`},
		{"{$schema: 'http://example.com/meta', type: object}", `not fetching http://example.com/meta`},
		{"schemas/bad.json", `json: schema: schemas/bad.json: invalid JSON: `},
		{"schemas/none.json", `json: schema: schemas/none.json: stat `},
		{"schemas", `json: schema: schemas: ` + filepath.Join(dir, "schemas") + ` is not a regular file`},
	} {
		write("bad.yaml", "cases:\n  - id: r\n    input: a\n    json: {schema: "+c.schema+"}\n")
		_, err := Load(filepath.Join(dir, "bad.yaml"))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `bad.yaml:4: case "r": json: schema: `) {
			t.Errorf("%s: error %v, want %s", c.schema, err, c.want)
		}
	}
}

// TestParseSuiteAliasBombs: aliases are expanded under a budget, so a
// small file cannot make the parser do (or allocate) a lot.
func TestParseSuiteAliasBombs(t *testing.T) {
	var b strings.Builder
	b.WriteString("cases:\n  - input: x\n    json:\n      fields:\n        a: &a [x, x, x, x, x, x, x, x, x, x]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		b.WriteString("        " + n + ": &" + n + " [*" + prev + strings.Repeat(", *"+prev, 9) + "]\n")
		prev = n
	}
	long := strings.Repeat("y", 100<<10)
	texts := "vars: {v: 1}\ncases:\n  - &c {input: &s '{{v}}" + long + "', exact: z}\n" + strings.Repeat("  - {input: *s, exact: z}\n", 2000)
	for _, c := range []struct{ name, body, want string }{
		{"laughs", b.String(), "the file has more than 4194304 values, counting each expansion of a YAML alias; split the suite"},
		{"texts", texts, "the file expands to too much text"},
		{"cycle", "cases:\n  - input: x\n    json: {fields: {a: &a [1, *a]}}\n", "an alias refers to a value that contains it"},
		{"merge", "cases:\n  - &c {input: x, exact: y, <<: *c}\n", ""},
	} {
		_, err := Parse("s.yaml", []byte(c.body))
		if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestParseSuiteLinear(t *testing.T) {
	// Inputs that are slow for a naive parser: many "{{" with no "}}", a
	// long key, many cases.
	for name, body := range map[string]string{
		"braces": "cases:\n  - {input: '" + strings.Repeat("{{", 1<<17) + "', exact: b}\n",
		"key":    "cases:\n  - {input: a, exact: b, " + strings.Repeat("k", 1<<20) + ": 1}\n",
		"cases":  "cases:\n" + strings.Repeat("  - {input: a, exact: b}\n", 20000),
		"labels": "labels: [" + strings.Repeat("l, ", 5000) + "m]\n",
	} {
		if name == "labels" {
			var cs strings.Builder
			for i := range 5000 {
				cs.WriteString("  - {id: c" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + ", input: a, choice: m}\n")
			}
			body += "cases:\n" + cs.String()
		}
		// Speed is not asserted here (no timed tests); a quadratic path
		// shows as a test timeout, and the outcome must still be right.
		s, err := Parse("s.yaml", []byte(body))
		switch name {
		case "braces":
			if err != nil || len(s.Cases) != 1 {
				t.Errorf("%s: %v", name, err)
			}
		case "key":
			if err == nil { // yaml refuses a key this long, or natter an unknown one
				t.Errorf("%s: accepted", name)
			}
		case "cases":
			if err != nil || len(s.Cases) != 20000 {
				t.Errorf("%s: %v", name, err)
			}
		case "labels":
			// The label list repeats "l", so the suite is refused for that.
			if err == nil || !strings.Contains(err.Error(), `"l" is listed twice`) {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

func TestLoadSuiteExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/eval/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		switch filepath.Ext(f) {
		case ".yaml", ".yml", ".jsonl":
		default:
			continue // the README, schema files
		}
		n++
		s, err := Load(f)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if len(s.Cases) < 6 {
			t.Errorf("%s: only %d cases", f, len(s.Cases))
		}
	}
	if n < 4 {
		t.Errorf("%d example suites, want at least 4", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(".yaml", fullYAML)
	f.Add(".jsonl", fullJSONL())
	f.Add(".json", fullJSON())
	f.Add(".yaml", "cases:\n  - input: x\n    exact: y\n")
	f.Add(".yaml", "labels: [a, b]\nvars: {v: '1'}\ncases:\n  - {id: a, input: '{{v}}', choice: a, ignore_case: true}\n  - {messages: [{role: user, content: q}], regex: '(?i)x{2}'}\n")
	f.Add(".yaml", "cases:\n  - &c {input: x, json: {schema: {type: array, items: {type: number}}, fields: {'a.0': [1, {b: ~}]}}}\n  - <<: *c\n    id: two\n")
	f.Add(".yaml", "a: &a [*a]\ncases: [*a]\n")
	f.Add(".yaml", "cases:\n  - {input: x, number: 0x1F, tolerance: 1e-3}\n  - {input: y, number: -.5}\n")
	f.Add(".yaml", "cases:\n  - input: x\n    json: {fields: {'': 1}}\n")
	f.Add(".yaml", "cases:\n- input: \"\\u00e9{{ x }}\"\n  vars: {x: \"}}\"}\n  contains: ['{{x}}']\n")
	f.Add(".jsonl", "{\"suite\": 1}\n")
	f.Add(".jsonl", "# c\n{\"suite\": {\"labels\": [\"a\", \"b\"], \"max_tokens\": 3}}\n{\"input\": \"x\", \"choice\": \"b\"}\n{\"input\": \"\\ud83d\\ude00\", \"contains_any\": [\"y\"]}\n")
	f.Add(".jsonl", "{\"input\": \"x\", \"json\": {\"schema\": {\"$ref\": \"#/$defs/a\", \"$defs\": {\"a\": {\"type\": \"string\"}}}}}\n")
	f.Add(".json", "{\"cases\": [{\"input\": \"x\", \"judge\": \"ok\"}]}")
	f.Fuzz(func(t *testing.T, ext, body string) {
		switch ext {
		case ".jsonl", ".json", ".yml":
		default:
			ext = ".yaml"
		}
		s, err := Parse("fuzz"+ext, []byte(body))
		if err != nil {
			if s != nil {
				t.Fatal("a suite with an error")
			}
			if !strings.HasPrefix(err.Error(), "fuzz"+ext) {
				t.Fatalf("error not naming the file: %v", err)
			}
			return
		}
		if len(s.Cases) == 0 {
			t.Fatal("no cases and no error")
		}
		ids := map[string]bool{}
		for _, c := range s.Cases {
			if c.ID == "" || ids[c.ID] {
				t.Fatalf("id %q", c.ID)
			}
			ids[c.ID] = true
			if c.Line < 1 {
				t.Fatalf("case %q: line %d", c.ID, c.Line)
			}
			if (c.Input == "") == (len(c.Messages) == 0) {
				t.Fatalf("case %q: input %q and %d messages", c.ID, c.Input, len(c.Messages))
			}
			ch := c.Check
			var ok bool
			switch ch.Kind {
			case CheckExact, CheckJudge, CheckNumber:
				ok = true
			case CheckContains:
				ok = len(ch.All)+len(ch.Any) > 0
			case CheckRegex:
				ok = ch.Pattern != nil
			case CheckChoice:
				ok = len(ch.Labels) >= 2 && bytes.Contains([]byte("\x00"+strings.Join(ch.Labels, "\x00")+"\x00"), []byte("\x00"+ch.Label+"\x00"))
			case CheckJSON:
				ok = true
			}
			if !ok {
				t.Fatalf("case %q: check %+v", c.ID, ch)
			}
		}
	})
}
