package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// natter ask --json-schema on a real trained model: stdout is JSON a
// program can read, valid against the schema; a reply cut by -n exits 1
// saying why; a bad schema or grammar exits 1 before the model loads.
func TestAskStructuredOutput(t *testing.T) {
	model := sharedModel(t, "stories260K.gguf")
	dir := t.TempDir()
	schema := filepath.Join(dir, "kid.schema.json")
	os.WriteFile(schema, []byte(`{
	  "type": "object",
	  "properties": {
	    "name": {"type": "string", "minLength": 1, "maxLength": 16},
	    "age": {"type": "integer", "minimum": 3, "maximum": 12},
	    "likes": {"type": "array", "items": {"enum": ["park", "cat", "ball"]}, "minItems": 1, "maxItems": 2}
	  },
	  "required": ["name", "age", "likes"],
	  "additionalProperties": false
	}`), 0o644)
	for _, seed := range []string{"1", "2", "3"} {
		out, errOut, st := natter(t, "", "ask", "--raw", "--temp", "1", "--seed", seed, "-n", "200", "-m", model, "--json-schema", schema, "Once upon a time, a kid")
		if st != 0 {
			t.Fatalf("seed %s: exit %d: %s\n%s", seed, st, errOut, out)
		}
		var v struct {
			Name  string
			Age   int
			Likes []string
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Name == "" || v.Age < 3 || v.Age > 12 || len(v.Likes) == 0 {
			t.Errorf("seed %s: %q (%v)", seed, out, err)
		}
	}
	// Cut short: the partial JSON is printed, the exit status and the
	// message say why it is not valid.
	out, errOut, st := natter(t, "", "ask", "--raw", "--temp", "0", "-n", "3", "-m", model, "--json-schema", schema, "Once")
	if st != 1 || !strings.Contains(errOut, "not valid JSON") || !strings.Contains(errOut, "token limit after 3 tokens") || !strings.HasPrefix(out, "{") {
		t.Errorf("cut reply: exit %d, stdout %q, stderr %q", st, out, errOut)
	}
	// --json: any object.
	out, errOut, st = natter(t, "", "ask", "--raw", "--temp", "0", "-n", "120", "-m", model, "--json", "Once")
	var obj map[string]any
	if st == 0 && json.Unmarshal([]byte(out), &obj) != nil {
		t.Errorf("--json printed %q", out)
	} else if st != 0 && !strings.Contains(errOut, "token limit") {
		t.Errorf("--json: exit %d: %s", st, errOut)
	}
	// A grammar file.
	gbnf := filepath.Join(dir, "answer.gbnf")
	os.WriteFile(gbnf, []byte("root ::= (\"yes\" | \"no\") \", because \" [a-z ]{1,30} \".\"\n"), 0o644)
	out, errOut, st = natter(t, "", "ask", "--raw", "--temp", "0.8", "--seed", "5", "-n", "60", "-m", model, "--grammar", gbnf, "Is the sky blue?")
	if st != 0 || !(strings.HasPrefix(out, "yes, because ") || strings.HasPrefix(out, "no, because ")) || !strings.HasSuffix(strings.TrimSpace(out), ".") {
		t.Errorf("--grammar: exit %d, %q, %s", st, out, errOut)
	}

	bad := filepath.Join(dir, "bad.schema.json")
	os.WriteFile(bad, []byte(`{"type":"object","properties":{"a":{"not":{"type":"null"}}}}`), 0o644)
	badG := filepath.Join(dir, "bad.gbnf")
	os.WriteFile(badG, []byte("root ::= root \"a\"\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--json-schema", bad}, `"not"`},
		{[]string{"--json-schema", `{"type": "object", "properties": {"a": {"$ref": "https://example.com/a.json"}}}`}, "nothing is fetched"},
		{[]string{"--json-schema", `{"type": "objekt"}`}, "objekt"},
		{[]string{"--json-schema", filepath.Join(dir, "missing.json")}, "no such file"},
		{[]string{"--grammar", badG}, "left-recursive"},
	} {
		// A model path that does not exist: the format must fail first.
		args := append([]string{"ask", "-m", filepath.Join(dir, "absent.gguf")}, c.args...)
		_, errOut, st := natter(t, "", append(args, "hi")...)
		if st != 1 || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "absent.gguf") {
			t.Errorf("%v: exit %d, stderr %q (want the format's error, before the model)", c.args, st, errOut)
		}
	}
	_, errOut, st = natter(t, "", "ask", "-m", model, "--json", "--grammar", gbnf, "hi")
	if st != 1 || !strings.Contains(errOut, "exclude each other") {
		t.Errorf("two formats: exit %d, %q", st, errOut)
	}
	_, errOut, st = natter(t, "", "ask", "-m", model, "--json", "--think", "on", "hi")
	if st != 2 || !strings.Contains(errOut, "--think on") {
		t.Errorf("--json --think on: exit %d, %q", st, errOut)
	}
}
