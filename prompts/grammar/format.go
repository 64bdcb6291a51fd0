package grammar

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// maxSourceBytes bounds a schema or grammar file: real ones are kilobytes.
const maxSourceBytes = 4 << 20

// Format is a reply format a user asked for: the grammar the local engines
// sample under, the JSON Schema it came from (what remote servers get, as
// response_format), and a check of the finished reply, since a reply cut
// short by the token limit is valid so far but not complete.
type Format struct {
	Kind   string // "json", "json-schema" or "grammar"
	Source string // the file it came from, or "inline"
	GBNF   string
	Schema json.RawMessage // nil for a plain grammar

	grammar *Grammar
	schema  *jsonschema.Schema
}

// String names the format for notes and the status line.
func (f *Format) String() string {
	switch f.Kind {
	case "json":
		return "JSON"
	case "json-schema":
		if f.Source == "inline" {
			return "JSON schema (inline)"
		}
		return "JSON schema " + filepath.Base(f.Source)
	}
	return "grammar " + filepath.Base(f.Source)
}

// JSONFormat is any JSON object (--json, response_format json_object).
func JSONFormat() *Format {
	f, err := newSchemaFormat("json", "inline", []byte(`{"type":"object"}`), "")
	if err != nil {
		panic("grammar: the built-in JSON object schema failed: " + err.Error()) // a bug, caught by tests
	}
	return f
}

// SchemaFormat reads a JSON Schema from a file, or takes arg itself when it
// is inline JSON (it starts with "{"). Unsupported keywords are an error here,
// before any model runs; $ref is resolved only within local files.
func SchemaFormat(arg string) (*Format, error) {
	if t := strings.TrimSpace(arg); strings.HasPrefix(t, "{") {
		return newSchemaFormat("json-schema", "inline", []byte(t), "")
	}
	b, err := readSource(arg)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(arg)
	if err != nil {
		return nil, err
	}
	return newSchemaFormat("json-schema", arg, b, abs)
}

// SchemaFromJSON is SchemaFormat for a schema that arrived in a request
// (serve's response_format); name says where it came from.
func SchemaFromJSON(name string, schema []byte) (*Format, error) {
	return newSchemaFormat("json-schema", name, schema, "")
}

func newSchemaFormat(kind, source string, b []byte, file string) (*Format, error) {
	where := source
	if where == "inline" {
		where = "the inline schema"
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: not valid JSON: %v", where, err)
	}
	gbnf, err := FromJSONSchema(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	g, err := Parse(gbnf)
	if err != nil {
		return nil, fmt.Errorf("%s: natter made a grammar it cannot read (a bug): %w", where, err)
	}
	loc := "inline.json"
	if file != "" {
		loc = "file://" + filepath.ToSlash(file)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(LocalLoader{})
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", where, strings.Join(strings.Fields(err.Error()), " "))
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		return nil, fmt.Errorf("%s: not valid JSON: %v", where, err)
	}
	return &Format{Kind: kind, Source: source, GBNF: gbnf, Schema: compact.Bytes(), grammar: g, schema: sch}, nil
}

// FromGrammar is the Format of an already parsed grammar text.
func FromGrammar(source, src string, g *Grammar) *Format {
	return &Format{Kind: "grammar", Source: source, GBNF: src, grammar: g}
}

// GrammarFormat reads a GBNF grammar file.
func GrammarFormat(path string) (*Format, error) {
	b, err := readSource(path)
	if err != nil {
		return nil, err
	}
	g, err := Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return FromGrammar(path, string(b), g), nil
}

func readSource(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSourceBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSourceBytes {
		return nil, fmt.Errorf("%s: larger than %d MiB; a schema or grammar is never that big", path, maxSourceBytes>>20)
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%s: not UTF-8 text", path)
	}
	return b, nil
}

// Check validates a finished reply: whole-text grammar match, then JSON and
// the schema. The error says what is wrong, for the user.
func (f *Format) Check(reply string) error {
	if f.schema == nil {
		if !f.grammar.MatchString(reply) {
			return errors.New("the reply does not match the grammar" + f.stuckAt(reply))
		}
		return nil
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(reply))
	if err != nil {
		if strings.TrimSpace(reply) == "" {
			return errors.New("the reply is empty, not JSON")
		}
		return fmt.Errorf("the reply is not valid JSON: %v", err)
	}
	if err := f.schema.Validate(v); err != nil {
		return fmt.Errorf("the reply does not match the schema: %s", strings.Join(strings.Fields(err.Error()), " "))
	}
	return nil
}

// stuckAt says where a reply leaves the grammar.
func (f *Format) stuckAt(reply string) string {
	m := NewMatcher(f.grammar)
	st := m.Start()
	for i := 0; i < len(reply); i++ {
		if st = m.Step(st, reply[i]); st == Dead {
			return fmt.Sprintf(" (from byte %d: %q)", i, clip(reply[i:], 24))
		}
	}
	return " (it ends before the grammar is complete)"
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// LocalLoader is a jsonschema loader that resolves $ref within local files
// only: schemas are never fetched from the network. (The JSON Schema
// meta-schemas are built into the compiler.)
type LocalLoader struct{}

// Load implements jsonschema.URLLoader.
func (LocalLoader) Load(u string) (any, error) {
	if !strings.HasPrefix(u, "file://") {
		return nil, fmt.Errorf("not fetching %s: schemas are never loaded from the network; save it to a local file and $ref that", u)
	}
	path, err := jsonschema.FileLoader{}.ToFile(u)
	if err != nil {
		return nil, err
	}
	b, err := readSource(path)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}
