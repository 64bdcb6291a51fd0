package grammar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaVector is one entry of testdata/schema_vectors.json (see its
// "source" header for the format and where the vectors come from).
type schemaVector struct {
	Name     string          `json:"name"`
	Source   string          `json:"source"`
	Schema   json.RawMessage `json:"schema"`
	Draft    int             `json:"draft"`
	Llama    string          `json:"llama"`
	Pass     []string        `json:"pass"`
	Fail     []string        `json:"fail"`
	Error    string          `json:"error"`
	Reason   string          `json:"reason"`
	Excluded []struct {
		String string `json:"string"`
		Llama  string `json:"llama"`
		Reason string `json:"reason"`
	} `json:"excluded"`
}

func loadVectors(t testing.TB) []schemaVector {
	t.Helper()
	data, err := os.ReadFile("testdata/schema_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Source struct {
			Release string   `json:"release"`
			Files   []string `json:"files"`
		} `json:"source"`
		Vectors []schemaVector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if f.Source.Release == "" || len(f.Source.Files) == 0 || len(f.Vectors) == 0 {
		t.Fatal("schema_vectors.json: missing source header or vectors")
	}
	return f.Vectors
}

// compileGrammar converts and parses, failing the test on either error.
func compileGrammar(t testing.TB, schema string) (*Grammar, string) {
	t.Helper()
	text, err := FromJSONSchema([]byte(schema))
	if err != nil {
		t.Fatalf("FromJSONSchema(%s): %v", schema, err)
	}
	g, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse of the grammar for %s: %v\n%s", schema, err, text)
	}
	return g, text
}

// validator compiles a schema with a real JSON Schema implementation, with
// format assertions on.
func validator(t testing.TB, schema []byte, draft int) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		t.Fatalf("validator: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if draft == 7 {
		c.DefaultDraft(jsonschema.Draft7)
	}
	if err := c.AddResource("mem://schema.json", doc); err != nil {
		t.Fatalf("validator: %v", err)
	}
	sch, err := c.Compile("mem://schema.json")
	if err != nil {
		t.Fatalf("validator: %v", err)
	}
	return sch
}

func validates(sch *jsonschema.Schema, instance string) error {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(instance))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

func TestSchemaVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			for _, ex := range v.Excluded {
				if ex.Reason == "" {
					t.Errorf("excluded string %q has no reason", ex.String)
				}
			}
			if v.Error != "" {
				if v.Llama == "SUCCESS" && v.Reason == "" {
					t.Error("llama.cpp converts this schema; say why we do not")
				}
				_, err := FromJSONSchema(v.Schema)
				if err == nil || !strings.Contains(err.Error(), v.Error) {
					t.Fatalf("want an error containing %q, got %v", v.Error, err)
				}
				return
			}
			g, text := compileGrammar(t, string(v.Schema))
			for _, s := range v.Pass {
				if !g.MatchString(s) {
					t.Errorf("rejects %q\n%s", s, text)
				}
			}
			for _, s := range v.Fail {
				if g.MatchString(s) {
					t.Errorf("accepts %q\n%s", s, text)
				}
			}
			sch := validator(t, v.Schema, v.Draft)
			for _, s := range v.Pass {
				if err := validates(sch, s); err != nil {
					t.Errorf("the validator rejects passing string %q: %v", s, err)
				}
			}
		})
	}
}

// schemaCase: pass must be accepted (and be valid), fail rejected and
// invalid, tight rejected although valid (our documented tightenings).
type schemaCase struct {
	name              string
	schema            string
	pass, fail, tight []string
}

var schemaCases = []schemaCase{
	{name: "whitespace is bounded, none around the root",
		schema: `{"type":"array","items":{"type":"integer"}}`,
		pass:   []string{`[1,2]`, `[ 1 , 2 ]`, "[\n  1,\n\t2\n]", `[]`, `[ ]`},
		fail:   []string{`[1,]`, `[,1]`, `[01]`},
		tight:  []string{` [1]`, `[1] `, "[1]\n", `[` + strings.Repeat(" ", 2) + `1]`, "[\n" + strings.Repeat(" ", 21) + "1]", "[\n\n1]", `[1.0]`}},
	{name: "string escapes",
		schema: `{"type":"string"}`,
		pass:   []string{`"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\u00E9"`, `"\ud83d\ude00"`, `"😀 é"`, `""`},
		fail:   []string{"\"a\nb\"", `"\x"`, `"\u12"`, `"abc`, `abc`},
		tight:  []string{`"\ud83d"`, "\"\x7f\""}},
	{name: "lengths count code points and surrogate pairs",
		schema: `{"type":"string","minLength":2,"maxLength":3}`,
		pass:   []string{`"ab"`, `"abc"`, `"😀😀"`, `"\ud83d\ude00\n"`, `"éé"`},
		fail:   []string{`"a"`, `"abcd"`, `"\ud83d\ude00"`, `"😀"`}},
	{name: "formats",
		schema: `{"type":"array","prefixItems":[{"format":"date"},{"format":"time"},{"format":"date-time"},{"format":"uuid"}],"items":false,"minItems":4}`,
		pass: []string{`["2024-02-29","23:59:59Z","2000-02-29T00:00:00.5+05:30","123e4567-e89b-12d3-a456-426614174000"]`,
			`["1999-12-31","00:00:00-23:59","2023-04-30T12:00:00Z","123E4567-E89B-12D3-A456-426614174000"]`},
		fail: []string{`["2023-02-29","23:59:59Z","2000-02-29T00:00:00Z","123e4567-e89b-12d3-a456-426614174000"]`,
			`["1900-02-29","23:59:59Z","2000-02-29T00:00:00Z","123e4567-e89b-12d3-a456-426614174000"]`,
			`["2023-04-31","23:59:59Z","2000-02-29T00:00:00Z","123e4567-e89b-12d3-a456-426614174000"]`,
			`["2023-01-01","24:00:00Z","2000-02-29T00:00:00Z","123e4567-e89b-12d3-a456-426614174000"]`,
			`["2023-01-01","12:00:00","2000-02-29T00:00:00Z","123e4567-e89b-12d3-a456-426614174000"]`,
			`["2023-01-01","12:00:00Z","2000-02-29T00:00:00Z","123e4567e89b12d3a456426614174000"]`},
		tight: []string{`["2023-01-01","12:00:00z","2000-02-29t00:00:00Z","123e4567-e89b-12d3-a456-426614174000"]`}},
	{name: "anchored pattern",
		schema: `{"type":"string","pattern":"^[A-Z][a-z]+(-[A-Z][a-z]+)?$"}`,
		pass:   []string{`"Anne"`, `"Anne-Marie"`},
		fail:   []string{`"anne"`, `"Anne-"`, `"A"`, `"Anne Marie"`}},
	{name: "unanchored pattern is a search",
		schema: `{"type":"string","pattern":"\\d{3}"}`,
		pass:   []string{`"123"`, `"ab1234"`, `"x 999 y"`, `"\n123\""`},
		fail:   []string{`"12"`, `"1a2b3"`, `""`}},
	{name: "pattern anchored at one end",
		schema: `{"type":"string","pattern":"^ab|cd$"}`,
		pass:   []string{`"ab"`, `"abzz"`, `"cd"`, `"zzcd"`},
		fail:   []string{`"zab"`, `"cdz"`, `"ac"`}},
	{name: "pattern with quotes, escapes and classes",
		schema: `{"type":"string","pattern":"^\"[^\"\\\\]*\"\\.[\\w-]+\\s?\\/$"}`,
		pass:   []string{`"\"hello world\".a_b-c/"`, `"\"\".x /"`, `"\"\".x\t/"`},
		fail:   []string{`"\"a\\b\".x/"`, `"\"a\".x"`, `"\"a\"x/"`, `"\"a\".x  /"`},
		tight:  []string{`"\u0022a\".x/"`}},
	{name: "pattern with dot and nested nullable repetition",
		schema: `{"type":"string","pattern":"^(a?b*)*.c{2,}$"}`,
		pass:   []string{`"xcc"`, `"aabbbaxccc"`, `"\"cc"`, `"\tcc"`},
		fail:   []string{`"cc"`, `"aab"`, `"\ncc"`, `"xc"`}},
	{name: "pattern with lengths folded in",
		schema: `{"type":"string","pattern":"^[a-z]+$","maxLength":4}`,
		pass:   []string{`"a"`, `"abcd"`},
		fail:   []string{`""`, `"abcde"`, `"ab1"`}},
	{name: "pattern whose lengths already satisfy minLength/maxLength",
		schema: `{"type":"string","pattern":"^[0-9]{3}-[0-9]{2}$","minLength":6,"maxLength":6}`,
		pass:   []string{`"123-45"`},
		fail:   []string{`"123-4"`}},
	{name: "bounded integers",
		schema: `{"type":"integer","minimum":-20,"exclusiveMaximum":100}`,
		pass:   []string{`-20`, `-1`, `0`, `7`, `99`},
		fail:   []string{`-21`, `100`, `1000`, `-200`, `1.5`, `007`},
		tight:  []string{`-0`, `1e1`, `5.0`}},
	{name: "bounded numbers, fractional bounds",
		schema: `{"type":"number","exclusiveMinimum":-1.5,"maximum":2.25}`,
		pass:   []string{`-1.4999`, `-1`, `-0.5`, `0`, `0.0`, `-0.0`, `2`, `2.25`, `2.2499`, `2.250`, `1.999`},
		fail:   []string{`-1.5`, `-1.50`, `-2`, `2.26`, `2.2501`, `3`},
		tight:  []string{`1e0`, `-0`, `0.1e1`}},
	{name: "exclusive zero lower bound",
		schema: `{"type":"number","exclusiveMinimum":0}`,
		pass:   []string{`0.5`, `0.001`, `1`, `12.50`, `9999999999999999`},
		fail:   []string{`0`, `0.0`, `0.000`, `-0.5`, `-1`},
		tight:  []string{`10000000000000000`}},
	{name: "enum of any JSON values",
		schema: `{"enum":["a\"b",1.5,null,true,[1,{"k":"v"}],{}]}`,
		pass:   []string{`"a\"b"`, `1.5`, `null`, `true`, `[1,{"k":"v"}]`, `[ 1 , { "k" : "v" } ]`, `{}`, `{ }`},
		fail:   []string{`"ab"`, `false`, `[1]`, `{"k":"v"}`},
		tight:  []string{`"a\u0022b"`, `1.50`, `15e-1`}},
	{name: "enum filtered by type and bounds",
		schema: `{"type":"integer","enum":[1,2.5,"3",40],"maximum":10}`,
		pass:   []string{`1`},
		fail:   []string{`2.5`, `"3"`, `40`}},
	{name: "const",
		schema: `{"const":{"a":[1,2]}}`,
		pass:   []string{`{"a":[1,2]}`, `{ "a" : [ 1, 2 ] }`},
		fail:   []string{`{"a":[2,1]}`, `{"a":[1,2],"b":1}`}},
	{name: "type arrays and inferred types",
		schema: `{"type":["string","null","integer"],"maxLength":2,"minimum":5}`,
		pass:   []string{`"ab"`, `null`, `5`, `123`},
		fail:   []string{`"abc"`, `4`, `true`, `[]`}},
	{name: "types inferred from keywords",
		schema: `{"minLength":1,"maximum":3}`,
		pass:   []string{`"a"`, `3`, `-7`, `2.5`},
		fail:   []string{`""`, `4`},
		tight:  []string{`true`, `null`, `{}`}},
	{name: "empty schema and true",
		schema: `{"type":"object","properties":{"a":{},"b":true}}`,
		pass:   []string{`{"a":[1,{"x":null}],"b":"s"}`, `{}`, `{"b":false}`}},
	{name: "additional properties exclude declared names, also spelled with escapes",
		schema: `{"type":"object","properties":{"ab":{"type":"integer"},"a\"":{"type":"integer"}},"additionalProperties":{"type":"string"}}`,
		pass:   []string{`{"ab":1}`, `{"a\"":2}`, `{"a":"x"}`, `{"abc":"x"}`, `{"b":"x","c":"y"}`, `{"":"x"}`, `{"ab":1,"zz":"x"}`},
		fail:   []string{`{"ab":"x"}`, `{"a\"":"x"}`, `{"x":1}`, `{"a\u0062":"x"}`},
		tight:  []string{`{"\u0061b":1}`, `{"zz":"x","ab":1}`}},
	{name: "additionalProperties false",
		schema: `{"properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"required":["b"],"additionalProperties":false}`,
		pass:   []string{`{"b":1}`, `{"b":1,"a":2}`},
		fail:   []string{`{}`, `{"a":2}`, `{"b":1,"c":3}`, `{"b":"x"}`},
		tight:  []string{`{"a":2,"b":1}`}},
	{name: "required without a property schema, property false",
		schema: `{"properties":{"x":false,"y":{"type":"null"}},"required":["z"],"additionalProperties":{"type":"boolean"}}`,
		pass:   []string{`{"z":true}`, `{"z":true,"y":null}`, `{"z":false,"w":true}`},
		fail:   []string{`{}`, `{"z":1}`, `{"z":true,"x":1}`, `{"z":true,"x":true}`}},
	{name: "min/maxProperties",
		schema: `{"type":"object","additionalProperties":{"type":"integer"},"minProperties":1,"maxProperties":2}`,
		pass:   []string{`{"a":1}`, `{"a":1,"b":2}`},
		fail:   []string{`{}`, `{"a":1,"b":2,"c":3}`, `{"a":"x"}`}},
	{name: "tuples",
		schema: `{"prefixItems":[{"type":"string"},{"type":"integer"}],"items":{"type":"boolean"},"minItems":1,"maxItems":3}`,
		pass:   []string{`["a"]`, `["a",1]`, `["a",1,true]`},
		fail:   []string{`[]`, `[1]`, `["a","b"]`, `["a",1,2]`, `["a",1,true,false]`}},
	{name: "tuple without more items",
		schema: `{"type":"array","prefixItems":[{"const":1},{"const":2}],"items":false}`,
		pass:   []string{`[]`, `[1]`, `[1,2]`},
		fail:   []string{`[2]`, `[1,2,3]`}},
	{name: "allOf merges objects, additionalProperties of each part applies",
		schema: `{"allOf":[{"properties":{"a":{"type":"integer","minimum":0}},"additionalProperties":false},{"properties":{"a":{"maximum":5},"b":{"type":"string"}},"required":["a"]}]}`,
		pass:   []string{`{"a":0}`, `{"a":5}`},
		fail:   []string{`{}`, `{"a":6}`, `{"a":-1}`, `{"a":1,"b":"x"}`}},
	{name: "allOf of scalars",
		schema: `{"allOf":[{"type":["integer","string"]},{"type":"integer","minimum":3},{"maximum":4}]}`,
		pass:   []string{`3`, `4`},
		fail:   []string{`2`, `5`, `"x"`}},
	{name: "anyOf with sibling keywords distributes",
		schema: `{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}},"additionalProperties":false,"anyOf":[{"required":["a"]},{"required":["b"]}]}`,
		pass:   []string{`{"a":1}`, `{"b":1}`, `{"a":1,"b":2}`},
		fail:   []string{`{}`, `{"c":1}`}},
	{name: "oneOf is treated as anyOf",
		schema: `{"oneOf":[{"type":"integer"},{"type":"string"}]}`,
		pass:   []string{`1`, `"x"`},
		fail:   []string{`true`}},
	{name: "recursive $ref",
		schema: `{"$defs":{"tree":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/tree"}}},"required":["v"],"additionalProperties":false}},"$ref":"#/$defs/tree"}`,
		pass:   []string{`{"v":1}`, `{"v":1,"kids":[{"v":2},{"v":3,"kids":[]}]}`},
		fail:   []string{`{"v":1,"kids":[{}]}`, `{"kids":[]}`}},
	{name: "$ref to the root and pointer escapes",
		schema: `{"type":"object","properties":{"a/b":{"type":"integer"},"self":{"$ref":"#"},"alias":{"$ref":"#/properties/a~1b"}},"additionalProperties":false}`,
		pass:   []string{`{"a/b":1,"self":{"self":{},"alias":2}}`},
		fail:   []string{`{"alias":"x"}`, `{"self":{"x":1}}`}},
	{name: "$ref with siblings",
		schema: `{"$defs":{"s":{"type":"string","maxLength":3}},"$ref":"#/$defs/s","minLength":2}`,
		pass:   []string{`"ab"`, `"abc"`},
		fail:   []string{`"a"`, `"abcd"`}},
	{name: "draft-7 items array with additionalItems",
		schema: `{"items":[{"type":"integer"}],"additionalItems":{"type":"string"}}`,
		pass:   []string{`[]`, `[1]`, `[1,"a","b"]`},
		fail:   []string{`["a"]`, `[1,2]`}},
	{name: "annotations are ignored",
		schema: `{"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://example.com/x","title":"T","description":"D","examples":[1],"default":1,"$comment":"c","deprecated":true,"readOnly":true,"writeOnly":false,"type":"integer"}`,
		pass:   []string{`1`},
		fail:   []string{`"1"`}},
	{name: "uniqueItems false is fine",
		schema: `{"type":"array","uniqueItems":false,"items":{"type":"null"},"maxItems":2}`,
		pass:   []string{`[null,null]`},
		fail:   []string{`[null,null,null]`}},
	{name: "long property names next to additional properties",
		schema: `{"properties":{"` + strings.Repeat("x", 100) + `":{"type":"string"}},"additionalProperties":{"type":"integer"},"items":{}}`,
		pass:   []string{`{"` + strings.Repeat("x", 100) + `":"s"}`, `{"x":1}`, `{"` + strings.Repeat("x", 101) + `":1}`, `{"` + strings.Repeat("x", 99) + `y":1}`},
		fail:   []string{`{"` + strings.Repeat("x", 100) + `":1}`}},
	{name: "unicode property names and enum strings",
		schema: `{"properties":{"名前":{"enum":["é\n","\u0001"]}},"required":["名前"],"additionalProperties":false}`,
		pass:   []string{`{"名前":"é\n"}`, `{"名前":"\u0001"}`},
		fail:   []string{`{"名前":"e"}`}},
}

func TestSchemaCases(t *testing.T) {
	for _, tc := range schemaCases {
		t.Run(tc.name, func(t *testing.T) {
			g, text := compileGrammar(t, tc.schema)
			draft := 0
			if strings.Contains(tc.name, "draft-7") {
				draft = 7
			}
			sch := validator(t, []byte(tc.schema), draft)
			for _, s := range tc.pass {
				if !g.MatchString(s) {
					t.Errorf("rejects %q\n%s", s, text)
				}
				if err := validates(sch, s); err != nil {
					t.Errorf("test bug: %q is invalid: %v", s, err)
				}
			}
			for _, s := range tc.fail {
				if g.MatchString(s) {
					t.Errorf("accepts %q\n%s", s, text)
				}
				if validates(sch, s) == nil {
					t.Errorf("test bug: %q is valid (tight, not fail?)", s)
				}
			}
			for _, s := range tc.tight {
				if g.MatchString(s) {
					t.Errorf("accepts %q\n%s", s, text)
				}
				if err := validates(sch, s); err != nil {
					t.Errorf("test bug: %q is invalid (fail, not tight?): %v", s, err)
				}
			}
		})
	}
}

// TestGrammarSoundness mutates accepted strings: whatever the grammar
// still accepts must be valid against the schema.
func TestGrammarSoundness(t *testing.T) {
	type subject struct {
		name   string
		schema []byte
		draft  int
		seeds  []string
	}
	var subjects []subject
	for _, v := range loadVectors(t) {
		if v.Error == "" && len(v.Pass) > 0 {
			subjects = append(subjects, subject{v.Name, v.Schema, v.Draft, v.Pass})
		}
	}
	for _, tc := range schemaCases {
		draft := 0
		if strings.Contains(tc.name, "draft-7") {
			draft = 7
		}
		subjects = append(subjects, subject{tc.name, []byte(tc.schema), draft, tc.pass})
	}
	rng := rand.New(rand.NewSource(1))
	alphabet := []string{`"`, `\`, `,`, `:`, `{`, `}`, `[`, `]`, `0`, `1`, `9`, `-`, `.`, `e`, `a`, ` `, `u`, `n`, `é`}
	for _, sub := range subjects {
		g, text := compileGrammar(t, string(sub.schema))
		sch := validator(t, sub.schema, sub.draft)
		for _, seed := range sub.seeds {
			for i := 0; i < 60; i++ {
				m := []rune(seed)
				for k := 0; k <= rng.Intn(2); k++ {
					p := rng.Intn(len(m) + 1)
					switch rng.Intn(3) {
					case 0:
						if p < len(m) {
							m = append(m[:p], m[p+1:]...)
						}
					case 1:
						m = append(m[:p], append([]rune(alphabet[rng.Intn(len(alphabet))]), m[p:]...)...)
					case 2:
						if p < len(m) {
							m[p] = []rune(alphabet[rng.Intn(len(alphabet))])[0]
						}
					}
				}
				s := string(m)
				if g.MatchString(s) {
					if err := validates(sch, s); err != nil {
						t.Errorf("%s: the grammar accepts %q, which is invalid: %v\n%s", sub.name, s, err, text)
					}
				}
			}
		}
	}
}

// ---- integer and number ranges ----

func randomBound(rng *rand.Rand) *big.Int {
	switch rng.Intn(4) {
	case 0:
		return big.NewInt(int64(rng.Intn(41) - 20))
	case 1:
		return big.NewInt(int64(rng.Intn(4001) - 2000))
	case 2: // near a power of ten
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(rng.Intn(19))), nil)
		p.Add(p, big.NewInt(int64(rng.Intn(7)-3)))
		if rng.Intn(2) == 0 {
			p.Neg(p)
		}
		return p
	}
	n := new(big.Int).Rand(rng, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(1+rng.Intn(18))), nil))
	if rng.Intn(2) == 0 {
		n.Neg(n)
	}
	return n
}

func TestIntegerRanges(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	limit := new(big.Int).Sub(new(big.Int).Exp(big.NewInt(10), big.NewInt(16), nil), big.NewInt(1))
	for n := 0; n < 400; n++ {
		lo, hi := randomBound(rng), randomBound(rng)
		if lo.Cmp(hi) > 0 {
			lo, hi = hi, lo
		}
		var loP, hiP *big.Int = lo, hi
		switch rng.Intn(5) {
		case 0:
			loP = nil
		case 1:
			hiP = nil
		}
		if loP == nil && hiP == nil {
			continue
		}
		schema := `{"type":"integer"`
		if loP != nil {
			if rng.Intn(2) == 0 {
				schema += `,"minimum":` + loP.String()
			} else {
				schema += `,"exclusiveMinimum":` + new(big.Int).Sub(loP, big.NewInt(1)).String()
			}
		}
		if hiP != nil {
			if rng.Intn(2) == 0 {
				schema += `,"maximum":` + hiP.String()
			} else {
				schema += `,"exclusiveMaximum":` + new(big.Int).Add(hiP, big.NewInt(1)).String()
			}
		}
		schema += "}"
		g, text := compileGrammar(t, schema)
		inside := func(x *big.Int) bool {
			if loP != nil && x.Cmp(loP) < 0 || hiP != nil && x.Cmp(hiP) > 0 {
				return false
			}
			// Unbounded sides stop at 16 digits (more when a bound is longer).
			return loP != nil && hiP != nil || new(big.Int).Abs(x).Cmp(limit) <= 0 ||
				(loP != nil && len(new(big.Int).Abs(x).String()) <= len(new(big.Int).Abs(loP).String())) ||
				(hiP != nil && len(new(big.Int).Abs(x).String()) <= len(new(big.Int).Abs(hiP).String()))
		}
		var probes []*big.Int
		for _, b := range []*big.Int{loP, hiP, big.NewInt(0), limit, new(big.Int).Neg(limit)} {
			if b == nil {
				continue
			}
			for d := -25; d <= 25; d++ {
				probes = append(probes, new(big.Int).Add(b, big.NewInt(int64(d))))
			}
		}
		if loP != nil && hiP != nil {
			span := new(big.Int).Sub(hiP, loP)
			for k := 0; k < 30 && span.Sign() > 0; k++ {
				probes = append(probes, new(big.Int).Add(loP, new(big.Int).Rand(rng, span)))
			}
		}
		for _, x := range probes {
			if got, want := g.MatchString(x.String()), inside(x); got != want {
				t.Fatalf("%s: %s accepted=%v, want %v\n%s", schema, x, got, want, text)
			}
			if x.Sign() > 0 && g.MatchString("0"+x.String()) {
				t.Fatalf("%s: accepts a leading zero: 0%s", schema, x)
			}
		}
		if g.MatchString("-0") {
			t.Fatalf("%s: accepts -0", schema)
		}
	}
}

func TestIntRangeSmall(t *testing.T) {
	// Every range within [-130, 130]: exhaustive.
	for lo := -130; lo <= 130; lo += 7 {
		for hi := lo; hi <= 130; hi += 11 {
			body := intRange(big.NewInt(int64(lo)), big.NewInt(int64(hi)))
			g, err := Parse("root ::= " + body + "\n")
			if err != nil {
				t.Fatalf("[%d,%d]: %v\n%s", lo, hi, err, body)
			}
			for x := -300; x <= 300; x++ {
				if got := g.MatchString(strconv.Itoa(x)); got != (lo <= x && x <= hi) {
					t.Fatalf("[%d,%d]: %d accepted=%v\n%s", lo, hi, x, got, body)
				}
			}
		}
	}
}

func TestNumberRanges(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	dec := func() string { // a decimal with up to 3 fraction digits
		n := rng.Intn(4001) - 2000
		if rng.Intn(3) == 0 {
			n = rng.Intn(41) - 20
		}
		s := strconv.FormatFloat(float64(n)/1000*float64(1+rng.Intn(3)*9), 'f', -1, 64)
		return s
	}
	for n := 0; n < 300; n++ {
		lo, hi := dec(), dec()
		lr, _ := new(big.Rat).SetString(lo)
		hr, _ := new(big.Rat).SetString(hi)
		if lr.Cmp(hr) > 0 {
			lo, hi, lr, hr = hi, lo, hr, lr
		}
		loIncl, hiIncl := rng.Intn(2) == 0, rng.Intn(2) == 0
		hasLo, hasHi := rng.Intn(6) > 0, rng.Intn(6) > 0
		if !hasLo && !hasHi {
			hasLo = true
		}
		schema := `{"type":"number"`
		if hasLo {
			schema += map[bool]string{true: `,"minimum":`, false: `,"exclusiveMinimum":`}[loIncl] + lo
		}
		if hasHi {
			schema += map[bool]string{true: `,"maximum":`, false: `,"exclusiveMaximum":`}[hiIncl] + hi
		}
		schema += "}"
		text, err := FromJSONSchema([]byte(schema))
		if err != nil {
			if strings.Contains(err.Error(), "never be satisfied") && lr.Cmp(hr) == 0 && !(loIncl && hiIncl) && hasLo && hasHi {
				continue
			}
			t.Fatalf("%s: %v", schema, err)
		}
		g, err := Parse(text)
		if err != nil {
			t.Fatalf("%s: %v\n%s", schema, err, text)
		}
		inside := func(x *big.Rat) bool {
			if hasLo {
				if c := x.Cmp(lr); c < 0 || c == 0 && !loIncl {
					return false
				}
			}
			if hasHi {
				if c := x.Cmp(hr); c > 0 || c == 0 && !hiIncl {
					return false
				}
			}
			return true
		}
		var probes []string
		for _, b := range []*big.Rat{lr, hr, new(big.Rat)} {
			for k := 0; k < 40; k++ {
				d := new(big.Rat).SetFrac64(int64(rng.Intn(4001)-2000), int64([]int{1, 10, 100, 1000, 10000}[rng.Intn(5)]))
				x := new(big.Rat).Add(b, d)
				probes = append(probes, x.FloatString(rng.Intn(6)))
			}
			probes = append(probes, b.FloatString(0), b.FloatString(3), b.FloatString(5))
		}
		for _, p := range probes {
			p = strings.TrimPrefix(p, "+")
			x, _ := new(big.Rat).SetString(p)
			if p == "-0" {
				continue // not a spelling we produce
			}
			if got, want := g.MatchString(p), inside(x); got != want {
				t.Fatalf("%s: %s accepted=%v, want %v\n%s", schema, p, got, want, text)
			}
		}
	}
}

// ---- errors ----

func TestSchemaErrors(t *testing.T) {
	cases := []struct{ schema, want string }{
		{`{"properties":{"a":{"not":{}}}}`, `unsupported JSON Schema keyword "not" at /properties/a`},
		{`{"if":{},"then":{},"else":{}}`, `unsupported JSON Schema keyword "if" at /`},
		{`{"then":{}}`, `unsupported JSON Schema keyword "then" at /`},
		{`{"type":"object","patternProperties":{"^a":{}}}`, `unsupported JSON Schema keyword "patternProperties" at /`},
		{`{"dependentRequired":{"a":["b"]}}`, `unsupported JSON Schema keyword "dependentRequired" at /`},
		{`{"dependentSchemas":{"a":{}}}`, `unsupported JSON Schema keyword "dependentSchemas" at /`},
		{`{"dependencies":{"a":["b"]}}`, `unsupported JSON Schema keyword "dependencies" at /`},
		{`{"items":{"contains":{"type":"integer"}}}`, `unsupported JSON Schema keyword "contains" at /items`},
		{`{"propertyNames":{"maxLength":3}}`, `unsupported JSON Schema keyword "propertyNames" at /`},
		{`{"unevaluatedProperties":false}`, `unsupported JSON Schema keyword "unevaluatedProperties" at /`},
		{`{"prefixItems":[{"unevaluatedItems":false}]}`, `unsupported JSON Schema keyword "unevaluatedItems" at /prefixItems/0`},
		{`{"type":"integer","multipleOf":2}`, `unsupported JSON Schema keyword "multipleOf" at /`},
		{`{"type":"array","uniqueItems":true}`, `unsupported JSON Schema keyword "uniqueItems" at /: a grammar cannot enforce unique items`},
		{`{"$anchor":"x"}`, `unsupported JSON Schema keyword "$anchor" at /`},
		{`{"$dynamicRef":"#x"}`, `unsupported JSON Schema keyword "$dynamicRef" at /`},
		{`{"anyOf":[{"type":"string"},{"frobnicate":1}]}`, `unsupported JSON Schema keyword "frobnicate" at /anyOf/1`},
		{`{"$defs":{"a b":{"not":{}}},"$ref":"#/$defs/a%20b"}`, `unsupported JSON Schema keyword "not" at /$defs/a b`},
		{`{"properties":{"x/y":{"nullable":true}}}`, `unsupported JSON Schema keyword "nullable" at /properties/x~1y`},
		{`{"$ref":"https://example.com/schema.json"}`, `is not supported: only references inside the schema`},
		{`{"$ref":"other.json#/a"}`, `is not supported: only references inside the schema`},
		{`{"$ref":"#anchor"}`, `anchors are not`},
		{`{"$ref":"#/$defs/missing"}`, `does not resolve`},
		{`{"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`, `left recursion`},
		{`{"type":"string","format":"email"}`, `unsupported format "email" at /`},
		{`{"type":"integer","format":"int32"}`, `unsupported format "int32" at /`},
		{`{"type":"string","pattern":"^(?=a)a$"}`, `lookahead`},
		{`{"type":"string","pattern":"^(a)\\1$"}`, `backreferences`},
		{`{"type":"string","pattern":"\\bword"}`, `word boundaries`},
		{`{"type":"string","pattern":"a^b"}`, `^ and $ are only supported`},
		{`{"type":"string","pattern":"^\\p{L}$"}`, `Unicode property`},
		{`{"type":"string","pattern":"^(a$"}`, `unbalanced parenthesis`},
		{`{"type":"string","pattern":"^a)$"}`, `unbalanced parenthesis`},
		{`{"type":"string","pattern":"^a{2}+$"}`, `nothing to repeat`},
		{`{"type":"string","pattern":"^(a|b)+$","maxLength":3}`, `only supported when the pattern is one repeated character class`},
		{`{"type":"string","pattern":"^a$","format":"date"}`, `"pattern" together with "format"`},
		{`false`, `can never be satisfied: schema false at /`},
		{`{"type":"integer","minimum":5,"maximum":4}`, `can never be satisfied`},
		{`{"type":"object","properties":{"a":false},"required":["a"]}`, `can never be satisfied`},
		{`{"type":"array","minItems":2,"items":false}`, `can never be satisfied`},
		{`{"allOf":[{"type":"string"},{"type":"integer"}]}`, `can never be satisfied`},
		{`{"allOf":[{"pattern":"^a"},{"pattern":"^b"}]}`, `cannot combine two different "pattern"`},
		{`{"type":"object","properties":{"a":{}},"minProperties":1}`, `"minProperties"/"maxProperties" together with properties`},
		{`{"type":"kaboom"}`, `unknown type "kaboom" at /`},
		{`{"type":123}`, `"type" at / must be a string or an array of strings`},
		{`{"type":"string","maxLength":100000}`, `"maxLength" 100000 at / is above the supported 10000`},
		{`{"type":"number","minimum":1e9999}`, `out of the supported range`},
		{`[1]`, `schema at / must be an object or a boolean`},
		{`{"a":1,"a":2}`, `duplicate key "a"`},
		{`{"type":"string"} x`, `invalid JSON Schema`},
	}
	for _, tc := range cases {
		_, err := FromJSONSchema([]byte(tc.schema))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("FromJSONSchema(%s) = %v, want an error containing %q", tc.schema, err, tc.want)
		}
	}
}

func TestAnyJSONObject(t *testing.T) {
	got, err := FromJSONSchema([]byte(`{"type":"object"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got != AnyJSONObject {
		t.Fatalf("AnyJSONObject is out of date; FromJSONSchema gives\n%s", got)
	}
	g, err := Parse(AnyJSONObject)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`{}`, `{"a":[1,2.5e-3,{"b":null}],"c":true,"d":"\u00e9"}`, "{\n  \"a\": 1\n}"} {
		if !g.MatchString(s) {
			t.Errorf("rejects %q", s)
		}
	}
	for _, s := range []string{`[]`, `1`, `"x"`, `{"a":}`, `{} `, `{"a":1,}`} {
		if g.MatchString(s) {
			t.Errorf("accepts %q", s)
		}
	}
}

func TestDeterministic(t *testing.T) {
	for _, v := range loadVectors(t) {
		a, errA := FromJSONSchema(v.Schema)
		b, errB := FromJSONSchema(v.Schema)
		if a != b || fmt.Sprint(errA) != fmt.Sprint(errB) {
			t.Errorf("%s: two conversions differ", v.Name)
		}
	}
}

func TestRuleNamesSanitized(t *testing.T) {
	_, text := compileGrammar(t, `{"type":"object","properties":{"a b.c/d":{"type":"object","properties":{"ü_x":{"type":"string","minLength":1}}},"root":{"type":"string","maxLength":1},"ws":{"type":"string","maxLength":2},"":{"type":"string","maxLength":3}},"additionalProperties":false}`)
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		name, _, _ := strings.Cut(line, " ::= ")
		if !nameRE.MatchString(name) {
			t.Errorf("bad rule name %q", name)
		}
	}
	if strings.Count(text, "\nroot ::= ")+strings.Count(text[:10], "root ::= ") != 1 {
		t.Errorf("root defined more than once:\n%s", text)
	}
}

func FuzzFromJSONSchema(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add([]byte(v.Schema))
	}
	for _, tc := range schemaCases {
		f.Add([]byte(tc.schema))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		text, err := FromJSONSchema(data)
		if err != nil {
			return
		}
		if _, err := Parse(text); err != nil {
			t.Fatalf("the grammar for %q does not parse: %v\n%s", data, err, text)
		}
		if again, _ := FromJSONSchema(data); again != text {
			t.Fatalf("not deterministic for %q", data)
		}
	})
}
