package grammar

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFormats(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.schema.json")
	os.WriteFile(file, []byte(`{"type":"object","properties":{"n":{"type":"integer","maximum":3}},"required":["n"],"additionalProperties":false}`), 0o644)
	f, err := SchemaFormat(file)
	if err != nil {
		t.Fatal(err)
	}
	if f.String() != "JSON schema p.schema.json" || string(f.Schema) != `{"type":"object","properties":{"n":{"type":"integer","maximum":3}},"required":["n"],"additionalProperties":false}` {
		t.Errorf("%s %s", f, f.Schema)
	}
	for reply, want := range map[string]string{
		`{"n": 2}`:      "",
		`{"n": 7}`:      "does not match the schema",
		`{"n": 2`:       "not valid JSON",
		``:              "empty",
		`{"n":2,"m":1}`: "does not match the schema",
	} {
		err := f.Check(reply)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("Check(%q) = %v, want %q", reply, err, want)
		}
	}
	// Inline, and the grammar really is the schema's.
	in, err := SchemaFormat(` {"enum": ["a", "b"]}`)
	if err != nil || in.String() != "JSON schema (inline)" || !in.grammar.MatchString(`"a"`) || in.grammar.MatchString(`"c"`) {
		t.Fatalf("inline: %v %v", in, err)
	}
	j := JSONFormat()
	if j.Check(`{"any": [1, {"x": null}]}`) != nil || j.Check(`[1]`) == nil || j.String() != "JSON" {
		t.Error("JSONFormat accepts the wrong things")
	}

	gf := filepath.Join(dir, "yn.gbnf")
	os.WriteFile(gf, []byte(`root ::= "yes" | "no"`), 0o644)
	g, err := GrammarFormat(gf)
	if err != nil || g.Schema != nil || g.String() != "grammar yn.gbnf" {
		t.Fatalf("%v %v", g, err)
	}
	if g.Check("yes") != nil {
		t.Error("yes rejected")
	}
	if err := g.Check("yep"); err == nil || !strings.Contains(err.Error(), `from byte 2: "p"`) {
		t.Errorf("yep: %v", err)
	}
	if err := g.Check("ye"); err == nil || !strings.Contains(err.Error(), "ends before") {
		t.Errorf("ye: %v", err)
	}

	// Errors name the file and what is wrong; nothing is fetched.
	big := filepath.Join(dir, "big.json")
	os.WriteFile(big, []byte(strings.Repeat(" ", maxSourceBytes+1)), 0o644)
	notUTF8 := filepath.Join(dir, "bin.gbnf")
	os.WriteFile(notUTF8, []byte("root ::= \"\xff\""), 0o644)
	ext := filepath.Join(dir, "ext.json")
	os.WriteFile(ext, []byte(`{"$ref": "other.json"}`), 0o644)
	for _, c := range []struct {
		f    func() (*Format, error)
		want string
	}{
		{func() (*Format, error) { return SchemaFormat(filepath.Join(dir, "none.json")) }, "no such file"},
		{func() (*Format, error) { return SchemaFormat(dir) }, "not a regular file"},
		{func() (*Format, error) { return SchemaFormat(big) }, "larger than"},
		{func() (*Format, error) { return SchemaFormat(`{"type": `) }, "not valid JSON"},
		{func() (*Format, error) { return SchemaFormat(`{"not": {}}`) }, `"not"`},
		{func() (*Format, error) { return SchemaFormat(ext) }, "ext.json"},
		{func() (*Format, error) { return GrammarFormat(notUTF8) }, "UTF-8"},
		{func() (*Format, error) { return GrammarFormat(gf + ".missing") }, "no such file"},
		{func() (*Format, error) { return SchemaFromJSON("req", []byte(`{"type":"string","pattern":"(?=x)"}`)) }, "req"},
	} {
		if _, err := c.f(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}
}
