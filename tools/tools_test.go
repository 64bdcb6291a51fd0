package tools

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// newBox makes a Set rooted in a fresh temporary directory.
func newBox(t *testing.T, b Box) (*Set, string) {
	t.Helper()
	if b.Root == "" {
		b.Root = t.TempDir()
	}
	s, err := New(b)
	if err != nil {
		t.Fatal(err)
	}
	return s, s.Box().Root
}

func prepare(t *testing.T, s *Set, tool, args string) *Call {
	t.Helper()
	tl, ok := s.Lookup(tool)
	if !ok {
		t.Fatalf("no tool %q", tool)
	}
	c, err := tl.Prepare(args)
	if err != nil {
		t.Fatalf("%s %s: %v", tool, args, err)
	}
	return c
}

func run(t *testing.T, s *Set, tool, args string) Result {
	t.Helper()
	return prepare(t, s, tool, args).Run(context.Background())
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func wantArgError(t *testing.T, err error, tool, field string) *ArgError {
	t.Helper()
	var ae *ArgError
	if !errors.As(err, &ae) {
		t.Fatalf("want *ArgError on %s, got %T %v", field, err, err)
	}
	if ae.Tool != tool || ae.Field != field {
		t.Fatalf("want ArgError %s/%s, got %s/%s: %v", tool, field, ae.Tool, ae.Field, ae)
	}
	return ae
}

func TestNewDefaultsAndOrder(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	s, err := New(Box{Root: link})
	if err != nil {
		t.Fatal(err)
	}
	b := s.Box()
	real, _ := filepath.EvalSymlinks(dir)
	if b.Root != real {
		t.Errorf("Root = %q, want the resolved %q", b.Root, real)
	}
	if b.MaxOutput != 16<<10 || b.MaxRead != 1<<20 || b.Timeout.Seconds() != 60 || b.Env != nil {
		t.Errorf("defaults not filled: %+v", b)
	}
	var names []string
	for _, tl := range s.Builtin() {
		names = append(names, tl.Spec().Name)
	}
	want := []string{"read_file", "list_dir", "grep", "run_command", "write_file", "edit_file"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("Builtin = %v", names)
	}
	names = nil
	for _, tl := range s.ReadOnly() {
		names = append(names, tl.Spec().Name)
	}
	if !reflect.DeepEqual(names, want[:3]) {
		t.Errorf("ReadOnly = %v", names)
	}
	if _, ok := s.Lookup("rm_rf"); ok {
		t.Error("Lookup found a tool that does not exist")
	}
	if _, err := New(Box{Root: filepath.Join(dir, "missing")}); err == nil {
		t.Error("New accepted a missing root")
	}
}

// The schemas are what the model is told; they must agree with Prepare.
func TestSpecsAreValidSchemas(t *testing.T) {
	s, _ := newBox(t, Box{})
	required := map[string][]string{
		"read_file": {"path"}, "list_dir": nil, "grep": {"pattern"},
		"run_command": {"command"}, "write_file": {"path", "content"},
		"edit_file": {"path", "old_string", "new_string"},
	}
	for _, tl := range s.Builtin() {
		sp := tl.Spec()
		var schema struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
			Required   []string                   `json:"required"`
			Additional *bool                      `json:"additionalProperties"`
		}
		if err := json.Unmarshal(sp.Parameters, &schema); err != nil {
			t.Fatalf("%s: %v", sp.Name, err)
		}
		if schema.Type != "object" || schema.Additional == nil || *schema.Additional {
			t.Errorf("%s: want an object schema with additionalProperties false", sp.Name)
		}
		if !reflect.DeepEqual(schema.Required, required[sp.Name]) {
			t.Errorf("%s: required = %v", sp.Name, schema.Required)
		}
		for _, r := range schema.Required {
			if _, ok := schema.Properties[r]; !ok {
				t.Errorf("%s: required %s is not a property", sp.Name, r)
			}
		}
		// An empty object is missing exactly the first required field.
		_, err := tl.Prepare("{}")
		if len(schema.Required) > 0 {
			wantArgError(t, err, sp.Name, schema.Required[0])
		}
		if sp.Description == "" || len(sp.Description) > 400 {
			t.Errorf("%s: description length %d", sp.Name, len(sp.Description))
		}
		j := sp.JSON()
		fn, _ := j["function"].(map[string]any)
		if j["type"] != "function" || fn["name"] != sp.Name || fn["description"] != sp.Description {
			t.Errorf("%s: JSON() = %v", sp.Name, j)
		}
		if p, ok := fn["parameters"].(map[string]any); !ok || p["type"] != "object" {
			t.Errorf("%s: parameters not decoded: %#v", sp.Name, fn["parameters"])
		}
		if tl.ReadOnly() != (sp.Name == "read_file" || sp.Name == "list_dir" || sp.Name == "grep") {
			t.Errorf("%s: ReadOnly = %v", sp.Name, tl.ReadOnly())
		}
	}
}

func TestBadArguments(t *testing.T) {
	s, root := newBox(t, Box{})
	write(t, filepath.Join(root, "a.txt"), "hello\n")
	cases := []struct{ tool, args, field, reason string }{
		{"read_file", `{}`, "path", "required"},
		{"read_file", `{"path": ""}`, "path", "required"},
		{"read_file", `{"path": 7}`, "path", "must be a string, not a number"},
		{"read_file", `{"path": "a.txt", "offset": "3"}`, "offset", "must be an integer, not a string"},
		{"read_file", `{"path": "a.txt", "offset": 1.5}`, "offset", "must be an integer"},
		{"read_file", `{"path": "a.txt", "limit": 0}`, "limit", "must be at least 1"},
		{"read_file", `{"path": "a.txt", "lines": 3}`, "lines", "unknown field; allowed: path, offset, limit"},
		{"read_file", `[1]`, "", "arguments must be a JSON object"},
		{"read_file", `{"path": "a.txt"`, "", "arguments must be a JSON object"},
		{"list_dir", `{"path": ["."]}`, "path", "must be a string, not an array"},
		{"grep", `{"pattern": "a(b"}`, "pattern", "not a valid RE2 regular expression: error parsing regexp: missing closing ): `a(b`"},
		{"grep", `{"pattern": "x", "glob": "[a"}`, "glob", "bad pattern"},
		{"grep", `{"pattern": "x", "recursive": true}`, "recursive", "unknown field"},
		{"run_command", `{"command": "  "}`, "command", "must not be empty"},
		{"run_command", `{"command": "ls", "timeout_seconds": -1}`, "timeout_seconds", "must be at least 1"},
		{"write_file", `{"path": "b.txt"}`, "content", "required"},
		{"write_file", `{"path": "b.txt", "content": null}`, "content", "required"},
		{"edit_file", `{"path": "a.txt", "old_string": "hello", "new_string": "bye", "replace_all": "yes"}`, "replace_all", "must be true or false, not a string"},
		{"edit_file", `{"path": "a.txt", "old_string": "", "new_string": "x"}`, "old_string", "must not be empty"},
		{"edit_file", `{"path": "a.txt", "old_string": "hello", "new_string": "hello"}`, "new_string", "is the same as old_string"},
		{"edit_file", `{"path": "nope.txt", "old_string": "a", "new_string": "b"}`, "path", "does not exist"},
	}
	for _, c := range cases {
		tl, _ := s.Lookup(c.tool)
		call, err := tl.Prepare(c.args)
		if call != nil {
			t.Errorf("%s %s: got a call", c.tool, c.args)
		}
		ae := wantArgError(t, err, c.tool, c.field)
		if !strings.Contains(ae.Reason, c.reason) {
			t.Errorf("%s %s: reason %q, want it to contain %q", c.tool, c.args, ae.Reason, c.reason)
		}
	}
	e := &ArgError{Tool: "read_file", Field: "path", Reason: "required"}
	if e.Error() != "read_file: path: required" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestArgsNormalized(t *testing.T) {
	s, root := newBox(t, Box{})
	write(t, filepath.Join(root, "a.txt"), "x\n")
	c := prepare(t, s, "read_file", ` { "limit": 2.0, "path": "a.txt", "offset": null } `)
	if c.Args != `{"path":"a.txt","limit":2}` {
		t.Errorf("Args = %s", c.Args)
	}
	// Arguments sent as a JSON string holding the object are accepted.
	c = prepare(t, s, "read_file", mustJSON(`{"path":"a.txt"}`))
	if c.Args != `{"path":"a.txt"}` {
		t.Errorf("Args = %s", c.Args)
	}
	c = prepare(t, s, "write_file", `{"path":"b.go","content":"if a < b && c > d {}"}`)
	if !strings.Contains(c.Args, `a < b && c > d`) {
		t.Errorf("Args escaped HTML: %s", c.Args)
	}
}

func TestPathPolicy(t *testing.T) {
	s, root := newBox(t, Box{})
	out := t.TempDir()
	outReal, _ := filepath.EvalSymlinks(out)
	write(t, filepath.Join(root, "in.txt"), "inside\n")
	write(t, filepath.Join(out, "secret.txt"), "outside\n")
	if err := os.Symlink(out, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(out, "secret.txt"), filepath.Join(root, "secret-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(out, "not-yet.txt"), filepath.Join(root, "dangling")); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(root, filepath.Join(outReal, "secret.txt"))
	if err != nil {
		t.Fatal(err)
	}

	inside := prepare(t, s, "read_file", `{"path": "in.txt"}`)
	if len(inside.Outside) != 0 || inside.NeedsApproval(true) || !inside.NeedsApproval(false) {
		t.Errorf("read inside: Outside=%v approval(yolo)=%v approval(no yolo)=%v",
			inside.Outside, inside.NeedsApproval(true), inside.NeedsApproval(false))
	}
	if inside.Summary != "read_file in.txt" {
		t.Errorf("Summary = %q", inside.Summary)
	}
	if got := prepare(t, s, "read_file", mustJSON(map[string]string{"path": filepath.Join(root, "sub", "..", "in.txt")})); len(got.Outside) != 0 || got.Summary != "read_file in.txt" {
		t.Errorf("absolute path inside: Outside=%v Summary=%q", got.Outside, got.Summary)
	}

	outsiders := map[string]string{
		"dot-dot":          rel,
		"absolute":         filepath.Join(out, "secret.txt"),
		"symlinked dir":    "escape/secret.txt",
		"symlinked file":   "secret-link",
		"dangling symlink": "dangling",
	}
	for name, p := range outsiders {
		for _, tool := range []string{"read_file", "list_dir", "grep", "write_file"} {
			args := map[string]any{"path": p}
			switch tool {
			case "grep":
				args["pattern"] = "x"
			case "write_file":
				args["content"] = "x"
			}
			c := prepare(t, s, tool, mustJSON(args))
			if len(c.Outside) != 1 || !strings.HasPrefix(c.Outside[0], outReal) {
				t.Errorf("%s %s (%s): Outside = %v", tool, name, p, c.Outside)
			}
			if !c.NeedsApproval(true) || !c.NeedsApproval(false) {
				t.Errorf("%s %s: an outside call must always need approval", tool, name)
			}
		}
	}
	// The summary shows where a link really leads.
	if c := prepare(t, s, "read_file", `{"path":"secret-link"}`); !strings.Contains(c.Summary, "secret-link -> "+outReal) {
		t.Errorf("Summary = %q", c.Summary)
	}
	// Outside reads are not refused: once approved they run.
	if r := prepare(t, s, "read_file", `{"path":"escape/secret.txt"}`).Run(context.Background()); r.IsError || r.Output != "1\toutside" {
		t.Errorf("approved outside read: %+v", r)
	}

	for _, c := range []*Call{
		prepare(t, s, "run_command", `{"command":"true"}`),
		prepare(t, s, "write_file", `{"path":"in.txt","content":"x"}`),
		prepare(t, s, "edit_file", `{"path":"in.txt","old_string":"inside","new_string":"x"}`),
	} {
		if !c.NeedsApproval(true) || !c.NeedsApproval(false) || c.ReadOnly {
			t.Errorf("%s must always need approval", c.Tool)
		}
	}
	var nilCall *Call
	if !nilCall.NeedsApproval(true) || nilCall.Run(context.Background()).IsError != true {
		t.Error("a nil call must need approval and fail to run")
	}
}

// A symlink swapped in between approval and Run must not redirect the call.
func TestRunRechecksPaths(t *testing.T) {
	s, root := newBox(t, Box{})
	out := t.TempDir()
	write(t, filepath.Join(out, "secret.txt"), "outside\n")
	write(t, filepath.Join(root, "d", "secret.txt"), "inside\n")
	c := prepare(t, s, "read_file", `{"path":"d/secret.txt"}`)
	if err := os.RemoveAll(filepath.Join(root, "d")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(out, filepath.Join(root, "d")); err != nil {
		t.Fatal(err)
	}
	r := c.Run(context.Background())
	if !r.IsError || strings.Contains(r.Output, "outside\n") || !strings.Contains(r.Output, "prepare the call again") {
		t.Errorf("swapped link was followed: %+v", r)
	}
}

func TestSanitize(t *testing.T) {
	cases := map[string]string{
		"plain\ttext\n":      "plain\ttext\n",
		"\x1b[31mred\x1b[0m": `\x1b[31mred\x1b[0m`,
		"\x1b]0;pwn\x07":     `\x1b]0;pwn\x07`,
		"a\rb\x00c\x7f":      `a\rb\x00c\x7f`,
		"bad \xff\xfe utf8":  "bad \ufffd\ufffd utf8",
		"c1 \u009b31m":       `c1 \u009b31m`,
		"evil\u202etxt.exe":  `evil\u202etxt.exe`,
		"iso\u2066x\u2069":   `iso\u2066x\u2069`,
		"héllo wörld — ✓ 世界": "héllo wörld — ✓ 世界",
		"mark\u200f stays":   "mark\u200f stays",
	}
	for in, want := range cases {
		got := Sanitize(in)
		if got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
		if Sanitize(got) != got {
			t.Errorf("Sanitize is not idempotent on %q", got)
		}
	}
}

func TestRunRecoversAndHonoursCancelledContext(t *testing.T) {
	s, root := newBox(t, Box{})
	write(t, filepath.Join(root, "a.txt"), "x\n")
	c := prepare(t, s, "read_file", `{"path":"a.txt"}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := c.Run(ctx); !r.IsError || r.Output != "stopped by the user" {
		t.Errorf("cancelled: %+v", r)
	}
	c.run = func(context.Context) outcome { panic("boom") }
	if r := c.Run(context.Background()); !r.IsError || !strings.Contains(r.Output, "boom") {
		t.Errorf("panic: %+v", r)
	}
	if r := (&Call{}).Run(context.Background()); !r.IsError {
		t.Errorf("unprepared call ran: %+v", r)
	}
}
