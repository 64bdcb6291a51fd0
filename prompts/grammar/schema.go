package grammar

// JSON Schema → GBNF.
//
// Supported: type (also arrays of types; without type, the types that the
// keywords present constrain), enum, const, boolean and empty schemas;
// strings with minLength/maxLength, format (date, time, date-time, uuid) and
// pattern (a regex subset, see parseRegex); integer and number bounds
// (minimum, maximum, exclusive*); properties, required, additionalProperties,
// minProperties/maxProperties (without properties); items, prefixItems
// (draft-7 items arrays and additionalItems too), minItems, maxItems; anyOf,
// oneOf, allOf (merged keyword by keyword) and $ref inside the document,
// recursion included. Annotations are ignored. Everything else is an error,
// as is a schema no value satisfies (parts that cannot match, such as a
// false property or an empty anyOf branch, are just left out).
//
// The grammar accepts only JSON texts valid against the schema. It is
// tighter than the schema on purpose (a grammar steers generation, so one
// spelling per value is enough, and bounded output lets a finished value
// stop):
//   - whitespace between tokens is bounded (ws) and there is none around the
//     root value;
//   - object properties come in declared order: required ones first, then
//     any subset of the optional ones, then additional ones (llama.cpp's
//     order);
//   - integers have at most 16 digits where the schema leaves a side
//     unbounded, fractions at most 16 digits, exponents at most 3; bounded
//     numbers have no exponent, integers no fraction, and -0 is not produced
//     for integers;
//   - enum/const values, pattern literals and property names have one
//     spelling (raw, or the short JSON escape), and lone surrogate escapes
//     are never produced;
//   - date/time/date-time follow RFC 3339 without leap seconds, with
//     upper-case T and Z.
//
// One loosening is documented rather than refused: oneOf is treated as anyOf
// (a grammar cannot say "exactly one").

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// AnyJSONObject accepts any JSON value whose top level is an object (what
// `--json` means; like llama.cpp's json.gbnf). It is what FromJSONSchema
// gives for {"type":"object"}; a test keeps the two in step.
const AnyJSONObject = `root ::= object
value ::= object | array | string | number | boolean | "null"
object ::= "{" ws (string ws ":" ws value (ws "," ws string ws ":" ws value)* ws)? "}"
array ::= "[" ws (value (ws "," ws value)* ws)? "]"
string ::= "\"" char* "\""
char ::= [^"\\\x00-\x1F\x7F] | "\\" (["\\/bfnrt] | "u" ([0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} | [dD] [89abAB] [0-9a-fA-F]{2} "\\u" [dD] [c-fC-F] [0-9a-fA-F]{2}))
number ::= "-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?
boolean ::= "true" | "false"
ws ::= | " " | "\n" [ \t]{0,20}
`

// Limits that keep a hostile schema from producing an unusable grammar.
const (
	maxRepeatCount = 10000   // the GBNF parser's own repetition limit
	maxAlternates  = 64      // allOf × anyOf combinations
	maxMergeDepth  = 32      // nested allOf/$ref merging
	maxGrammarSize = 4 << 20 // bytes of grammar text
	maxJSONDepth   = 1000
)

// builtins are the fixed rules, in output order. Schema-derived rules never
// take these names.
var builtins = []struct{ name, body string }{
	{"value", `object | array | string | number | boolean | "null"`},
	{"object", `"{" ws (string ws ":" ws value (ws "," ws string ws ":" ws value)* ws)? "}"`},
	{"array", `"[" ws (value (ws "," ws value)* ws)? "]"`},
	{"string", `"\"" char* "\""`},
	// A surrogate pair is one char (so lengths count code points, as JSON
	// Schema does); lone surrogates are not produced.
	{"char", `[^"\\\x00-\x1F\x7F] | "\\" (["\\/bfnrt] | "u" ([0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} | [dD] [89abAB] [0-9a-fA-F]{2} "\\u" [dD] [c-fC-F] [0-9a-fA-F]{2}))`},
	{"number", `"-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?`},
	{"integer", `"0" | "-"? [1-9] [0-9]{0,15}`},
	{"boolean", `"true" | "false"`},
	{"date-time", `date "T" time`},
	// Day counts per month, and 29 February only in leap years.
	{"date", `[0-9]{4} "-" (("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] [0-9] | "3" [01]) | ("0" [469] | "11") "-" ("0" [1-9] | [12] [0-9] | "30") | "02-" ("0" [1-9] | "1" [0-9] | "2" [0-8])) | leap-year "-02-29"`},
	{"leap-year", `[0-9]{2} ([02468] [48] | [13579] [26] | [2468] "0") | ([02468] [048] | [13579] [26]) "00"`},
	{"time", `([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,9})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])`},
	{"uuid", `[0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12}`},
	{"ws", `| " " | "\n" [ \t]{0,20}`},
}

// formats maps a supported string format to its rule and the range of its
// lengths in characters (for checking minLength/maxLength against it).
var formats = map[string]struct {
	rule     string
	min, max int
}{
	"date":      {"date", 10, 10},
	"time":      {"time", 9, 24},
	"date-time": {"date-time", 20, 35},
	"uuid":      {"uuid", 36, 36},
}

// Keyword families.
var (
	annotationKeywords = set("title", "description", "$schema", "$id", "examples", "default",
		"$comment", "deprecated", "readOnly", "writeOnly",
		"$defs", "definitions") // containers: only read through $ref
	compositionKeywords = set("$ref", "allOf", "anyOf", "oneOf")
	// assertion keywords we enforce, by the type they constrain.
	typedKeywords = map[string]string{
		"minLength": "string", "maxLength": "string", "pattern": "string", "format": "string",
		"minimum": "number", "maximum": "number", "exclusiveMinimum": "number", "exclusiveMaximum": "number",
		"properties": "object", "required": "object", "additionalProperties": "object",
		"minProperties": "object", "maxProperties": "object",
		"items": "array", "prefixItems": "array", "additionalItems": "array",
		"minItems": "array", "maxItems": "array", "uniqueItems": "array",
	}
	typeNames = []string{"object", "array", "string", "number", "integer", "boolean", "null"}
)

// isTrivial reports whether s accepts every value (true, or only annotations).
func isTrivial(s *jval) bool {
	if s.kind == jBool {
		return s.b
	}
	if s.kind != jObj {
		return false
	}
	for _, k := range s.keys {
		if !annotationKeywords[k] {
			return false
		}
	}
	return true
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// FromJSONSchema converts a JSON Schema (JSON text) into a GBNF grammar whose
// root rule accepts the JSON texts valid against it (see the tightenings at
// the top of this file). Unsupported keywords are an error naming the keyword
// and its JSON pointer, never a silently looser grammar. $ref is resolved
// only inside the document (#, #/$defs/…, any #/pointer); nothing is fetched.
func FromJSONSchema(schema []byte) (string, error) {
	doc, err := parseJSON(schema)
	if err != nil {
		return "", fmt.Errorf("invalid JSON Schema: %w", err)
	}
	c := &converter{
		doc:       doc,
		byName:    map[string]*rule{},
		byBody:    map[string]string{},
		refs:      map[string]string{},
		refErr:    map[string]error{},
		unguarded: map[string]bool{},
	}
	for _, b := range builtins {
		c.byName[b.name] = &rule{name: b.name, body: b.body}
	}
	c.refs[""] = c.reserve("root")
	c.unguarded[""] = true
	body, err := c.visitBody(doc, "")
	if err != nil {
		var u *unsatError
		if errors.As(err, &u) {
			return "", fmt.Errorf("the schema can never be satisfied: %s", u.msg)
		}
		return "", err
	}
	c.define("root", body)
	out := c.format()
	if len(out) > maxGrammarSize {
		return "", fmt.Errorf("the grammar for this schema would be %d bytes, over the %d limit", len(out), maxGrammarSize)
	}
	return out, nil
}

// ---- ordered JSON ----

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNum
	jStr
	jArr
	jObj
)

// jval is a parsed JSON value that keeps object key order (property order
// is the order of the generated object) and its JSON pointer for errors.
type jval struct {
	kind jkind
	ptr  string
	b    bool
	s    string // string value, or number text
	keys []string
	vals []*jval // object values, or array items
}

func (v *jval) get(k string) *jval {
	if v == nil || v.kind != jObj {
		return nil
	}
	for i, key := range v.keys {
		if key == k {
			return v.vals[i]
		}
	}
	return nil
}

func (v *jval) has(k string) bool { return v.get(k) != nil }

func (v *jval) set(k string, x *jval) {
	for i, key := range v.keys {
		if key == k {
			v.vals[i] = x
			return
		}
	}
	v.keys = append(v.keys, k)
	v.vals = append(v.vals, x)
}

func (v *jval) del(k string) {
	for i, key := range v.keys {
		if key == k {
			v.keys = slices.Delete(v.keys, i, i+1)
			v.vals = slices.Delete(v.vals, i, i+1)
			return
		}
	}
}

func newObj(ptr string) *jval { return &jval{kind: jObj, ptr: ptr} }

func parseJSON(data []byte) (*jval, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readJSON(dec, "", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the top-level value")
	}
	return v, nil
}

func readJSON(dec *json.Decoder, ptr string, depth int) (*jval, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("unexpected end of JSON input")
		}
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &jval{kind: jNull, ptr: ptr}, nil
	case bool:
		return &jval{kind: jBool, ptr: ptr, b: t}, nil
	case json.Number:
		return &jval{kind: jNum, ptr: ptr, s: string(t)}, nil
	case string:
		return &jval{kind: jStr, ptr: ptr, s: t}, nil
	case json.Delim:
		if t == '[' {
			v := &jval{kind: jArr, ptr: ptr}
			for dec.More() {
				item, err := readJSON(dec, ptr+"/"+strconv.Itoa(len(v.vals)), depth+1)
				if err != nil {
					return nil, err
				}
				v.vals = append(v.vals, item)
			}
			_, err := dec.Token()
			return v, err
		}
		v := newObj(ptr)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			if v.has(k) {
				return nil, fmt.Errorf("duplicate key %q at %s", k, showPtr(ptr))
			}
			item, err := readJSON(dec, ptr+"/"+escapePtr(k), depth+1)
			if err != nil {
				return nil, err
			}
			v.keys = append(v.keys, k)
			v.vals = append(v.vals, item)
		}
		_, err := dec.Token()
		return v, err
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

func escapePtr(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// showPtr renders a JSON pointer for messages; "/" stands for the root.
func showPtr(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// jsonQuote is the canonical JSON spelling of s: only the escapes JSON
// requires (plus DEL), short forms where they exist.
func jsonQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		b.WriteString(jsonEscapeRune(r))
	}
	b.WriteByte('"')
	return b.String()
}

func jsonEscapeRune(r rune) string {
	switch r {
	case '"':
		return `\"`
	case '\\':
		return `\\`
	case '\b':
		return `\b`
	case '\f':
		return `\f`
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	if r < 0x20 || r == 0x7f {
		return fmt.Sprintf(`\u%04x`, r)
	}
	return string(r)
}

// jsonText is the compact JSON text of v.
func jsonText(v *jval) string {
	switch v.kind {
	case jNull:
		return "null"
	case jBool:
		return strconv.FormatBool(v.b)
	case jNum:
		return v.s
	case jStr:
		return jsonQuote(v.s)
	case jArr:
		parts := make([]string, len(v.vals))
		for i, x := range v.vals {
			parts[i] = jsonText(x)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	parts := make([]string, len(v.keys))
	for i, k := range v.keys {
		parts[i] = jsonQuote(k) + ":" + jsonText(v.vals[i])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// jsonEqual is JSON Schema equality: numbers by value, objects unordered.
func jsonEqual(a, b *jval) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case jNull:
		return true
	case jBool:
		return a.b == b.b
	case jNum:
		x, err1 := parseRat(a.s)
		y, err2 := parseRat(b.s)
		if err1 != nil || err2 != nil {
			return a.s == b.s
		}
		return x.Cmp(y) == 0
	case jStr:
		return a.s == b.s
	case jArr:
		if len(a.vals) != len(b.vals) {
			return false
		}
		for i := range a.vals {
			if !jsonEqual(a.vals[i], b.vals[i]) {
				return false
			}
		}
		return true
	}
	if len(a.keys) != len(b.keys) {
		return false
	}
	for i, k := range a.keys {
		y := b.get(k)
		if y == nil || !jsonEqual(a.vals[i], y) {
			return false
		}
	}
	return true
}

// parseRat reads a JSON number exactly, refusing exponents that would make
// big.Rat allocate without bound.
func parseRat(s string) (*big.Rat, error) {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e > 400 || e < -400 {
			return nil, fmt.Errorf("number %s is out of the supported range", s)
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("bad number %s", s)
	}
	return r, nil
}

// ---- GBNF text helpers ----

// Literal is a GBNF string literal matching exactly the text s.
func Literal(s string) string { return quoteLit(s) }

// quoteLit is a GBNF literal for the raw text s.
func quoteLit(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		default:
			b.WriteString(gbnfRune(r))
		}
	}
	b.WriteByte('"')
	return b.String()
}

// gbnfRune spells one code point inside a literal or class; invisible ones
// are hex-escaped so the grammar stays readable and byte-safe.
func gbnfRune(r rune) string {
	switch r {
	case '\n':
		return `\n`
	case '\r':
		return `\r`
	case '\t':
		return `\t`
	}
	switch {
	case r < 0x20 || r == 0x7f:
		return fmt.Sprintf(`\x%02X`, r)
	case r < 0x80 || unicode.IsPrint(r):
		return string(r)
	case r <= 0xffff:
		return fmt.Sprintf(`\u%04X`, r)
	}
	return fmt.Sprintf(`\U%08X`, r)
}

func classRune(r rune) string {
	switch r {
	case '\\', ']', '[', '"':
		return `\` + string(r)
	case '^', '-':
		// Hex: the llama.cpp that natter links knows no \- escape.
		return fmt.Sprintf(`\x%02X`, r)
	}
	return gbnfRune(r)
}

var (
	nameRE    = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)
	litRE     = regexp.MustCompile(`^"(?:[^"\\]|\\.)*"$`)
	classRE   = regexp.MustCompile(`^\[(?:[^\]\\]|\\.)*\]$`)
	invalidRE = regexp.MustCompile(`[^a-zA-Z0-9-]+`)
)

// isPrimary reports whether a GBNF expression is one element, safe to
// quantify or put in a sequence without parentheses.
func isPrimary(e string) bool {
	return nameRE.MatchString(e) || litRE.MatchString(e) || classRE.MatchString(e) || isGroup(e)
}

// isGroup reports whether e is one parenthesized group.
func isGroup(e string) bool {
	if !strings.HasPrefix(e, "(") || !strings.HasSuffix(e, ")") {
		return false
	}
	depth := 0
	for i := 0; i < len(e); i++ {
		switch e[i] {
		case '"', '[':
			end := byte('"')
			if e[i] == '[' {
				end = ']'
			}
			for i++; i < len(e) && e[i] != end; i++ {
				if e[i] == '\\' {
					i++
				}
			}
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 && i != len(e)-1 {
				return false
			}
		}
	}
	return depth == 0
}

// prim makes an expression a primary.
func prim(e string) string {
	if isPrimary(e) || e == "" {
		return e
	}
	return "(" + e + ")"
}

func sanitize(s string) string {
	s = strings.Trim(invalidRE.ReplaceAllString(s, "-"), "-")
	if s == "" {
		return "p"
	}
	return s
}

// childHint names a sub-rule after its parent's rule.
func childHint(parent, child string) string {
	if parent == "" {
		return sanitize(child)
	}
	return parent + "-" + sanitize(child)
}

func isRuleChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// refNames lists the rule names a GBNF body refers to.
func refNames(body string) []string {
	var out []string
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '"' || c == '[':
			end := byte('"')
			if c == '[' {
				end = ']'
			}
			i++
			for i < len(body) && body[i] != end {
				if body[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case c == '{':
			for i < len(body) && body[i] != '}' {
				i++
			}
		case isRuleChar(c):
			j := i
			for j < len(body) && isRuleChar(body[j]) {
				j++
			}
			out = append(out, body[i:j])
			i = j
		default:
			i++
		}
	}
	return out
}

// ---- converter ----

type rule struct{ name, body string }

// unsatError marks a (sub)schema no value can satisfy; unions drop such
// alternatives, and optional properties or items are left out.
type unsatError struct{ msg string }

func (e *unsatError) Error() string { return e.msg }

func unsat(ptr, format string, args ...any) error {
	return &unsatError{msg: fmt.Sprintf(format, args...) + " at " + showPtr(ptr)}
}

func isUnsat(err error) bool {
	var u *unsatError
	return errors.As(err, &u)
}

type converter struct {
	doc    *jval
	rules  []*rule // schema-derived rules in creation order; root first
	byName map[string]*rule
	byBody map[string]string
	refs   map[string]string // target pointer → rule name
	refErr map[string]error  // target pointer → why it is unsatisfiable
	// unguarded holds the $ref targets being expanded since the last "{" or
	// "[": meeting one again would be left recursion (an endless rule).
	unguarded map[string]bool
}

func (c *converter) reserve(hint string) string {
	name := sanitize(hint)
	if hint == "root" && c.byName["root"] == nil {
		name = "root"
	} else {
		for n := 1; c.byName[name] != nil || name == "root"; n++ {
			name = sanitize(hint) + "-" + strconv.Itoa(n)
		}
	}
	r := &rule{name: name}
	c.byName[name] = r
	c.rules = append(c.rules, r)
	return name
}

func (c *converter) define(name, body string) {
	r := c.byName[name]
	r.body = body
	if _, ok := c.byBody[body]; !ok {
		c.byBody[body] = name
	}
}

// addRule names body, reusing an existing rule with the same body.
func (c *converter) addRule(hint, body string) string {
	if name, ok := c.byBody[body]; ok {
		return name
	}
	name := c.reserve(hint)
	c.define(name, body)
	return name
}

// format writes the rules reachable from root: derived ones in creation
// order, then the builtins in their fixed order.
func (c *converter) format() string {
	seen := map[string]bool{"root": true}
	queue := []string{"root"}
	for len(queue) > 0 {
		r := c.byName[queue[0]]
		queue = queue[1:]
		for _, n := range refNames(r.body) {
			if !seen[n] && c.byName[n] != nil {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	var b strings.Builder
	for _, r := range c.rules {
		if seen[r.name] {
			b.WriteString(r.name + " ::= " + r.body + "\n")
		}
	}
	for _, bi := range builtins {
		if seen[bi.name] {
			b.WriteString(bi.name + " ::= " + bi.body + "\n")
		}
	}
	return b.String()
}

// guarded runs f after a token was consumed, so $ref recursion is fine.
func (c *converter) guarded(f func() error) error {
	saved := c.unguarded
	c.unguarded = map[string]bool{}
	err := f()
	c.unguarded = saved
	return err
}

// visitExpr converts a schema into a primary expression, naming a rule for
// it unless it is a single element already.
func (c *converter) visitExpr(s *jval, hint string) (string, error) {
	body, err := c.visitBody(s, hint)
	if err != nil {
		return "", err
	}
	if isPrimary(body) {
		return body, nil
	}
	if hint == "" {
		hint = "root-value"
	}
	return c.addRule(hint, body), nil
}

func (c *converter) visitBody(s *jval, hint string) (string, error) {
	switch s.kind {
	case jBool:
		if !s.b {
			return "", unsat(s.ptr, "schema false")
		}
		return "value", nil
	case jObj:
	default:
		return "", fmt.Errorf("schema at %s must be an object or a boolean", showPtr(s.ptr))
	}
	if err := checkKeywords(s); err != nil {
		return "", err
	}
	assertions, comps := 0, 0
	for _, k := range s.keys {
		switch {
		case compositionKeywords[k]:
			comps++
		case !annotationKeywords[k]:
			assertions++
		}
	}
	if comps == 0 {
		flat, err := normalize(s)
		if err != nil {
			return "", err
		}
		return c.flat(flat, hint)
	}
	if comps == 1 && assertions == 0 {
		if r := s.get("$ref"); r != nil {
			return c.ref(s, r, hint)
		}
		for _, k := range []string{"anyOf", "oneOf"} {
			if alts := s.get(k); alts != nil {
				if alts.kind != jArr || len(alts.vals) == 0 {
					return "", fmt.Errorf("%q at %s must be a non-empty array", k, showPtr(s.ptr))
				}
				return c.union(alts.vals, hint, func(alt *jval, h string) (string, error) {
					return c.visitExpr(alt, h)
				})
			}
		}
	}
	// Composition with more than a plain union: distribute into a union of
	// merged flat schemas.
	alts, err := c.expand(s, 0)
	if err != nil {
		return "", err
	}
	if len(alts) == 0 {
		return "", unsat(s.ptr, "no combination of allOf/anyOf/$ref can be satisfied")
	}
	if len(alts) == 1 {
		return c.flat(alts[0], hint)
	}
	return c.union(alts, hint, func(alt *jval, h string) (string, error) {
		body, err := c.flat(alt, h)
		if err != nil || isPrimary(body) {
			return body, err
		}
		return c.addRule(h, body), nil
	})
}

// union joins alternatives, dropping the unsatisfiable ones.
func (c *converter) union(alts []*jval, hint string, visit func(*jval, string) (string, error)) (string, error) {
	var exprs []string
	var firstUnsat error
	for i, alt := range alts {
		h := childHint(hint, strconv.Itoa(i))
		if hint == "" {
			h = "alt-" + strconv.Itoa(i)
		}
		e, err := visit(alt, h)
		if isUnsat(err) {
			if firstUnsat == nil {
				firstUnsat = err
			}
			continue
		}
		if err != nil {
			return "", err
		}
		if !slices.Contains(exprs, e) {
			exprs = append(exprs, e)
		}
	}
	if len(exprs) == 0 {
		return "", firstUnsat
	}
	return strings.Join(exprs, " | "), nil
}

func checkKeywords(s *jval) error {
	for i, k := range s.keys {
		switch {
		case annotationKeywords[k], compositionKeywords[k], k == "type", k == "enum", k == "const":
		case k == "uniqueItems":
			if v := s.vals[i]; v.kind != jBool || v.b {
				return fmt.Errorf(`unsupported JSON Schema keyword "uniqueItems" at %s: a grammar cannot enforce unique items`, showPtr(s.ptr))
			}
		case k == "format":
			if f := s.vals[i]; f.kind != jStr {
				return fmt.Errorf(`"format" at %s must be a string`, showPtr(s.ptr))
			} else if _, ok := formats[f.s]; !ok {
				// Also for non-strings: OpenAPI's int32 and the like would
				// otherwise be dropped without a word.
				return fmt.Errorf("unsupported format %q at %s (supported: date, time, date-time, uuid)", f.s, showPtr(s.ptr))
			}
		case k == "multipleOf":
			return fmt.Errorf(`unsupported JSON Schema keyword "multipleOf" at %s: a grammar cannot enforce divisibility`, showPtr(s.ptr))
		case typedKeywords[k] != "":
		default:
			return fmt.Errorf("unsupported JSON Schema keyword %q at %s", k, showPtr(s.ptr))
		}
	}
	return nil
}

// ---- $ref ----

func (c *converter) resolve(s, r *jval) (*jval, error) {
	if r.kind != jStr {
		return nil, fmt.Errorf(`"$ref" at %s must be a string`, showPtr(s.ptr))
	}
	ref := r.s
	if !strings.HasPrefix(ref, "#") {
		return nil, fmt.Errorf("$ref %q at %s is not supported: only references inside the schema (#/…) are, nothing is fetched", ref, showPtr(s.ptr))
	}
	frag := ref[1:]
	if frag != "" && !strings.HasPrefix(frag, "/") {
		return nil, fmt.Errorf("$ref %q at %s is not supported: anchors are not, only JSON pointers (#/…)", ref, showPtr(s.ptr))
	}
	cur := c.doc
	if frag != "" {
		for _, tok := range strings.Split(frag[1:], "/") {
			tok = percentDecode(tok)
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			switch cur.kind {
			case jObj:
				cur = cur.get(tok)
			case jArr:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(cur.vals) {
					cur = nil
				} else {
					cur = cur.vals[i]
				}
			default:
				cur = nil
			}
			if cur == nil {
				return nil, fmt.Errorf("$ref %q at %s does not resolve", ref, showPtr(s.ptr))
			}
		}
	}
	return cur, nil
}

func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s)+0 && i+2 <= len(s)-1 {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ref gives each $ref target one rule, so recursive schemas become
// recursive rules.
func (c *converter) ref(s, r *jval, hint string) (string, error) {
	target, err := c.resolve(s, r)
	if err != nil {
		return "", err
	}
	key := target.ptr
	if c.unguarded[key] {
		return "", fmt.Errorf("$ref %q at %s refers back to itself without any JSON in between (left recursion)", r.s, showPtr(s.ptr))
	}
	if err := c.refErr[key]; err != nil {
		return "", err
	}
	if name, ok := c.refs[key]; ok {
		return name, nil
	}
	rhint := "ref"
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		rhint = strings.ReplaceAll(strings.ReplaceAll(key[i+1:], "~1", "/"), "~0", "~")
	}
	name := c.reserve(rhint)
	c.refs[key] = name
	c.unguarded[key] = true
	body, err := c.visitBody(target, name)
	delete(c.unguarded, key)
	if err != nil {
		if isUnsat(err) {
			c.refErr[key] = err
		}
		return "", err
	}
	c.define(name, body)
	return name, nil
}

// ---- allOf / anyOf / $ref with siblings: distribution and merging ----

// normalize copies the assertion keywords of a schema object, in one form:
// const becomes enum, draft-4 boolean exclusive bounds and draft-7 items
// arrays become their 2020-12 spellings, annotations go.
func normalize(s *jval) (*jval, error) {
	out := newObj(s.ptr)
	for i, k := range s.keys {
		if annotationKeywords[k] || compositionKeywords[k] {
			continue
		}
		out.set(k, s.vals[i])
	}
	if cv := out.get("const"); cv != nil {
		out.del("const")
		if ev := out.get("enum"); ev != nil {
			if ev.kind != jArr {
				return nil, fmt.Errorf(`"enum" at %s must be an array`, showPtr(s.ptr))
			}
			kept := &jval{kind: jArr, ptr: ev.ptr}
			for _, x := range ev.vals {
				if jsonEqual(x, cv) {
					kept.vals = append(kept.vals, x)
				}
			}
			out.set("enum", kept)
		} else {
			out.set("enum", &jval{kind: jArr, ptr: cv.ptr, vals: []*jval{cv}})
		}
	}
	for _, p := range [][2]string{{"exclusiveMinimum", "minimum"}, {"exclusiveMaximum", "maximum"}} {
		ex := out.get(p[0])
		if ex == nil || ex.kind != jBool {
			continue
		}
		out.del(p[0])
		if ex.b {
			if m := out.get(p[1]); m != nil {
				out.del(p[1])
				out.set(p[0], m)
			}
		}
	}
	if u := out.get("uniqueItems"); u != nil {
		out.del("uniqueItems") // only false gets here
	}
	if it := out.get("items"); it != nil && it.kind == jArr {
		if out.has("prefixItems") {
			return nil, fmt.Errorf(`"items" as an array together with "prefixItems" at %s`, showPtr(s.ptr))
		}
		out.set("prefixItems", it)
		out.del("items")
		if ai := out.get("additionalItems"); ai != nil {
			out.set("items", ai)
		}
	}
	out.del("additionalItems") // without an items array it has no effect
	return out, nil
}

// expand turns a schema into the list of flat (composition-free) schemas
// whose union it is: allOf and $ref siblings are conjunctions, anyOf/oneOf
// disjunctions.
func (c *converter) expand(s *jval, depth int) ([]*jval, error) {
	if depth > maxMergeDepth {
		return nil, fmt.Errorf("allOf/$ref merging nests too deeply at %s (a recursive $ref inside allOf is not supported)", showPtr(s.ptr))
	}
	switch s.kind {
	case jBool:
		if s.b {
			return []*jval{newObj(s.ptr)}, nil
		}
		return nil, nil
	case jObj:
	default:
		return nil, fmt.Errorf("schema at %s must be an object or a boolean", showPtr(s.ptr))
	}
	if err := checkKeywords(s); err != nil {
		return nil, err
	}
	base, err := normalize(s)
	if err != nil {
		return nil, err
	}
	conj := [][]*jval{}
	if r := s.get("$ref"); r != nil {
		target, err := c.resolve(s, r)
		if err != nil {
			return nil, err
		}
		alts, err := c.expand(target, depth+1)
		if err != nil {
			return nil, err
		}
		conj = append(conj, alts)
	}
	if all := s.get("allOf"); all != nil {
		if all.kind != jArr || len(all.vals) == 0 {
			return nil, fmt.Errorf(`"allOf" at %s must be a non-empty array`, showPtr(s.ptr))
		}
		for _, sub := range all.vals {
			alts, err := c.expand(sub, depth+1)
			if err != nil {
				return nil, err
			}
			conj = append(conj, alts)
		}
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		any := s.get(k)
		if any == nil {
			continue
		}
		if any.kind != jArr || len(any.vals) == 0 {
			return nil, fmt.Errorf("%q at %s must be a non-empty array", k, showPtr(s.ptr))
		}
		var union []*jval
		for _, sub := range any.vals {
			alts, err := c.expand(sub, depth+1)
			if err != nil {
				return nil, err
			}
			union = append(union, alts...)
		}
		conj = append(conj, union)
	}
	result := []*jval{base}
	for _, alts := range conj {
		var next []*jval
		for _, r := range result {
			for _, a := range alts {
				m, ok, err := mergeFlat(r, a)
				if err != nil {
					return nil, err
				}
				if ok {
					next = append(next, m)
				}
			}
		}
		if len(next) > maxAlternates {
			return nil, fmt.Errorf("allOf/anyOf at %s combine into more than %d alternatives", showPtr(s.ptr), maxAlternates)
		}
		result = next
	}
	return result, nil
}

// allOfOf is the conjunction of two sub-schemas (nil means absent).
func allOfOf(x, y *jval) *jval {
	switch {
	case x == nil:
		return y
	case y == nil:
		return x
	case x.kind == jBool && x.b, jsonEqual(x, y):
		return y
	case y.kind == jBool && y.b:
		return x
	case x.kind == jBool:
		return x // false
	case y.kind == jBool:
		return y
	}
	s := newObj(x.ptr)
	s.set("allOf", &jval{kind: jArr, ptr: x.ptr, vals: []*jval{x, y}})
	return s
}

// mergeFlat is the conjunction of two flat schemas; ok is false when no
// value can satisfy both.
func mergeFlat(a, b *jval) (*jval, bool, error) {
	out := newObj(a.ptr)
	for i, k := range a.keys {
		out.set(k, a.vals[i])
	}
	objectKeys := false
	for i, k := range b.keys {
		vb := b.vals[i]
		va := out.get(k)
		if k == "properties" || k == "additionalProperties" || k == "items" || k == "prefixItems" {
			objectKeys = true
			continue
		}
		if va == nil {
			out.set(k, vb)
			continue
		}
		switch k {
		case "type":
			ta, err := typeList(a)
			if err != nil {
				return nil, false, err
			}
			tb, err := typeList(b)
			if err != nil {
				return nil, false, err
			}
			var both []*jval
			for _, t := range ta {
				switch {
				case slices.Contains(tb, t):
				case t == "integer" && slices.Contains(tb, "number"):
				case t == "number" && slices.Contains(tb, "integer"):
					t = "integer"
				default:
					continue
				}
				both = append(both, &jval{kind: jStr, ptr: va.ptr, s: t})
			}
			if len(both) == 0 {
				return nil, false, nil
			}
			out.set("type", &jval{kind: jArr, ptr: va.ptr, vals: both})
		case "enum":
			if va.kind != jArr || vb.kind != jArr {
				return nil, false, fmt.Errorf(`"enum" at %s must be an array`, showPtr(vb.ptr))
			}
			kept := &jval{kind: jArr, ptr: va.ptr}
			for _, x := range va.vals {
				for _, y := range vb.vals {
					if jsonEqual(x, y) {
						kept.vals = append(kept.vals, x)
						break
					}
				}
			}
			if len(kept.vals) == 0 {
				return nil, false, nil
			}
			out.set("enum", kept)
		case "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum":
			x, err1 := numArg(va, k)
			y, err2 := numArg(vb, k)
			if err := errors.Join(err1, err2); err != nil {
				return nil, false, err
			}
			lower := k == "minimum" || k == "exclusiveMinimum"
			if (x.Cmp(y) < 0) == lower {
				out.set(k, vb)
			}
		case "minLength", "minItems", "minProperties", "maxLength", "maxItems", "maxProperties":
			x, err1 := countArg(va, k)
			y, err2 := countArg(vb, k)
			if err := errors.Join(err1, err2); err != nil {
				return nil, false, err
			}
			if (x < y) == strings.HasPrefix(k, "min") {
				out.set(k, vb)
			}
		case "required":
			if va.kind != jArr || vb.kind != jArr {
				return nil, false, fmt.Errorf(`"required" at %s must be an array`, showPtr(vb.ptr))
			}
			u := &jval{kind: jArr, ptr: va.ptr, vals: slices.Clone(va.vals)}
			for _, y := range vb.vals {
				if !slices.ContainsFunc(u.vals, func(x *jval) bool { return jsonEqual(x, y) }) {
					u.vals = append(u.vals, y)
				}
			}
			out.set("required", u)
		case "pattern", "format":
			if !jsonEqual(va, vb) {
				return nil, false, fmt.Errorf("cannot combine two different %q values (at %s and %s) in allOf", k, showPtr(va.ptr), showPtr(vb.ptr))
			}
		default:
			return nil, false, fmt.Errorf("cannot combine keyword %q at %s with another schema in allOf", k, showPtr(vb.ptr))
		}
	}
	if objectKeys {
		if err := mergeContainers(out, a, b); err != nil {
			return nil, false, err
		}
	}
	return out, true, nil
}

// mergeContainers merges properties/additionalProperties and
// prefixItems/items: each key (index) must satisfy what both schemas say
// about it, including the other's additionalProperties (items).
func mergeContainers(out, a, b *jval) error {
	for _, x := range []*jval{a, b} {
		if p := x.get("properties"); p != nil && p.kind != jObj {
			return fmt.Errorf(`"properties" at %s must be an object`, showPtr(x.ptr))
		}
		if p := x.get("prefixItems"); p != nil && p.kind != jArr {
			return fmt.Errorf(`"prefixItems" at %s must be an array`, showPtr(x.ptr))
		}
	}
	pa, pb := a.get("properties"), b.get("properties")
	aa, ab := a.get("additionalProperties"), b.get("additionalProperties")
	if pa != nil || pb != nil {
		props := newObj(a.ptr + "/properties")
		var names []string
		for _, p := range []*jval{pa, pb} {
			if p != nil {
				for _, k := range p.keys {
					if !slices.Contains(names, k) {
						names = append(names, k)
					}
				}
			}
		}
		propOf := func(p, addl *jval, k string) *jval {
			if v := p.get(k); v != nil {
				return v
			}
			return addl
		}
		for _, k := range names {
			if v := allOfOf(propOf(pa, aa, k), propOf(pb, ab, k)); v != nil {
				props.set(k, v)
			}
		}
		out.set("properties", props)
	}
	out.del("additionalProperties")
	if v := allOfOf(aa, ab); v != nil {
		out.set("additionalProperties", v)
	}
	xa, xb := a.get("prefixItems"), b.get("prefixItems")
	ia, ib := a.get("items"), b.get("items")
	if xa != nil || xb != nil {
		n := 0
		for _, x := range []*jval{xa, xb} {
			if x != nil {
				n = max(n, len(x.vals))
			}
		}
		at := func(x, items *jval, i int) *jval {
			if x != nil && i < len(x.vals) {
				return x.vals[i]
			}
			return items
		}
		pre := &jval{kind: jArr, ptr: a.ptr + "/prefixItems"}
		for i := 0; i < n; i++ {
			v := allOfOf(at(xa, ia, i), at(xb, ib, i))
			if v == nil {
				v = &jval{kind: jBool, b: true, ptr: pre.ptr}
			}
			pre.vals = append(pre.vals, v)
		}
		out.set("prefixItems", pre)
	}
	out.del("items")
	if v := allOfOf(ia, ib); v != nil {
		out.set("items", v)
	}
	return nil
}

// ---- flat schemas ----

func typeList(s *jval) ([]string, error) {
	t := s.get("type")
	if t == nil {
		return nil, nil
	}
	var vals []*jval
	switch t.kind {
	case jStr:
		vals = []*jval{t}
	case jArr:
		vals = t.vals
	default:
		return nil, fmt.Errorf(`"type" at %s must be a string or an array of strings`, showPtr(s.ptr))
	}
	var out []string
	for _, v := range vals {
		if v.kind != jStr || !slices.Contains(typeNames, v.s) {
			return nil, fmt.Errorf("unknown type %s at %s", jsonText(v), showPtr(s.ptr))
		}
		if !slices.Contains(out, v.s) {
			out = append(out, v.s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf(`"type" at %s is an empty array`, showPtr(s.ptr))
	}
	return out, nil
}

// flat converts a composition-free schema.
func (c *converter) flat(s *jval, hint string) (string, error) {
	types, err := typeList(s)
	if err != nil {
		return "", err
	}
	explicit := types != nil
	if !explicit {
		// No "type": the keywords present say which types are constrained.
		// Other types would be valid too, but a grammar that offers them
		// would let the model dodge the constraints; we generate only the
		// constrained types (as llama.cpp does).
		for _, k := range s.keys {
			if t := typedKeywords[k]; t != "" && !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	if ev := s.get("enum"); ev != nil {
		return c.enum(s, ev, types, explicit)
	}
	if len(types) == 0 {
		return "value", nil
	}
	if slices.Contains(types, "number") {
		types = slices.DeleteFunc(types, func(t string) bool { return t == "integer" })
	}
	if !explicit {
		sort.Slice(types, func(i, j int) bool {
			return slices.Index(typeNames, types[i]) < slices.Index(typeNames, types[j])
		})
	}
	var bodies []string
	var firstUnsat error
	for _, t := range types {
		var body string
		var err error
		h := hint
		if len(types) > 1 {
			h = childHint(hint, t)
		}
		switch t {
		case "object":
			body, err = c.object(s, h)
		case "array":
			body, err = c.array(s, h)
		case "string":
			body, err = c.str(s, h)
		case "number", "integer":
			body, err = c.number(s, t == "integer")
		case "boolean":
			body = "boolean"
		case "null":
			body = `"null"`
		}
		if isUnsat(err) {
			if firstUnsat == nil {
				firstUnsat = err
			}
			continue
		}
		if err != nil {
			return "", err
		}
		if len(types) > 1 && !isPrimary(body) {
			body = c.addRule(h, body)
		}
		bodies = append(bodies, body)
	}
	if len(bodies) == 0 {
		return "", firstUnsat
	}
	return strings.Join(bodies, " | "), nil
}

// enum emits each allowed value as literal JSON, with ws between tokens.
func (c *converter) enum(s, ev *jval, types []string, explicit bool) (string, error) {
	if ev.kind != jArr {
		return "", fmt.Errorf(`"enum" at %s must be an array`, showPtr(s.ptr))
	}
	for _, k := range s.keys {
		switch k {
		case "enum", "type", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		default:
			if typedKeywords[k] != "" {
				return "", fmt.Errorf("keyword %q alongside enum/const at %s is not supported", k, showPtr(s.ptr))
			}
		}
	}
	var alts []string
	for _, v := range ev.vals {
		ok, err := enumAllowed(s, v, types, explicit)
		if err != nil {
			return "", err
		}
		if !ok {
			continue
		}
		if lit := literalGrammar(v); !slices.Contains(alts, lit) {
			alts = append(alts, lit)
		}
	}
	if len(alts) == 0 {
		return "", unsat(s.ptr, "no enum/const value satisfies the schema")
	}
	return strings.Join(alts, " | "), nil
}

func jsonType(v *jval) string {
	switch v.kind {
	case jNull:
		return "null"
	case jBool:
		return "boolean"
	case jNum:
		return "number"
	case jStr:
		return "string"
	case jArr:
		return "array"
	}
	return "object"
}

// enumAllowed checks an enum value against the keywords kept beside it.
func enumAllowed(s, v *jval, types []string, explicit bool) (bool, error) {
	t := jsonType(v)
	if explicit {
		ok := slices.Contains(types, t)
		if !ok && t == "number" && slices.Contains(types, "integer") {
			r, err := parseRat(v.s)
			ok = err == nil && r.IsInt()
		}
		if !ok {
			return false, nil
		}
	}
	switch t {
	case "string":
		n := utf8.RuneCountInString(v.s)
		for _, k := range []string{"minLength", "maxLength"} {
			if a := s.get(k); a != nil {
				m, err := countArg(a, k)
				if err != nil {
					return false, err
				}
				if (k == "minLength" && int64(n) < m) || (k == "maxLength" && int64(n) > m) {
					return false, nil
				}
			}
		}
	case "number":
		x, err := parseRat(v.s)
		if err != nil {
			return false, err
		}
		lo, hi, err := numBounds(s)
		if err != nil {
			return false, err
		}
		if lo != nil {
			if cmp := x.Cmp(lo.v); cmp < 0 || (cmp == 0 && !lo.incl) {
				return false, nil
			}
		}
		if hi != nil {
			if cmp := x.Cmp(hi.v); cmp > 0 || (cmp == 0 && !hi.incl) {
				return false, nil
			}
		}
	}
	return true, nil
}

func literalGrammar(v *jval) string {
	switch v.kind {
	case jArr:
		if len(v.vals) == 0 {
			return `"[" ws "]"`
		}
		parts := []string{`"[" ws`}
		for i, x := range v.vals {
			if i > 0 {
				parts = append(parts, `ws "," ws`)
			}
			parts = append(parts, prim(literalGrammar(x)))
		}
		return strings.Join(append(parts, `ws "]"`), " ")
	case jObj:
		if len(v.keys) == 0 {
			return `"{" ws "}"`
		}
		parts := []string{`"{" ws`}
		for i, k := range v.keys {
			if i > 0 {
				parts = append(parts, `ws "," ws`)
			}
			parts = append(parts, quoteLit(jsonQuote(k)), `ws ":" ws`, prim(literalGrammar(v.vals[i])))
		}
		return strings.Join(append(parts, `ws "}"`), " ")
	}
	return quoteLit(jsonText(v))
}

func numArg(v *jval, k string) (*big.Rat, error) {
	if v.kind != jNum {
		return nil, fmt.Errorf("%q at %s must be a number", k, showPtr(v.ptr))
	}
	return parseRat(v.s)
}

// countArg reads a non-negative integer keyword; huge values saturate.
func countArg(v *jval, k string) (int64, error) {
	if v.kind == jNum {
		if r, err := parseRat(v.s); err == nil && r.IsInt() && r.Sign() >= 0 {
			if !r.Num().IsInt64() || r.Num().Int64() > 1<<40 {
				return 1 << 40, nil
			}
			return r.Num().Int64(), nil
		}
	}
	return 0, fmt.Errorf("%q at %s must be a non-negative integer", k, showPtr(v.ptr))
}

// counts reads a min/max pair (max -1 when absent) and checks it against
// the repetition limit.
func counts(s *jval, minK, maxK string) (int, int, error) {
	lo, hi := int64(0), int64(-1)
	if v := s.get(minK); v != nil {
		n, err := countArg(v, minK)
		if err != nil {
			return 0, 0, err
		}
		lo = n
	}
	if v := s.get(maxK); v != nil {
		n, err := countArg(v, maxK)
		if err != nil {
			return 0, 0, err
		}
		hi = n
	}
	if hi >= 0 && lo > hi {
		return 0, 0, unsat(s.ptr, "%s is above %s", minK, maxK)
	}
	if lo > maxRepeatCount {
		return 0, 0, fmt.Errorf("%q %d at %s is above the supported %d", minK, lo, showPtr(s.ptr), maxRepeatCount)
	}
	if hi > maxRepeatCount {
		return 0, 0, fmt.Errorf("%q %d at %s is above the supported %d", maxK, hi, showPtr(s.ptr), maxRepeatCount)
	}
	return int(lo), int(hi), nil
}

// ---- numbers ----

func numBounds(s *jval) (lo, hi *bound, err error) {
	tighter := func(cur *bound, k string, incl, lower bool) (*bound, error) {
		v := s.get(k)
		if v == nil {
			return cur, nil
		}
		r, err := numArg(v, k)
		if err != nil {
			return nil, err
		}
		b := &bound{v: r, incl: incl}
		if cur == nil {
			return b, nil
		}
		cmp := r.Cmp(cur.v)
		if (lower && cmp > 0) || (!lower && cmp < 0) || (cmp == 0 && !incl) {
			return b, nil
		}
		return cur, nil
	}
	if lo, err = tighter(nil, "minimum", true, true); err != nil {
		return
	}
	if lo, err = tighter(lo, "exclusiveMinimum", false, true); err != nil {
		return
	}
	if hi, err = tighter(nil, "maximum", true, false); err != nil {
		return
	}
	hi, err = tighter(hi, "exclusiveMaximum", false, false)
	return
}

func (c *converter) number(s *jval, integer bool) (string, error) {
	lo, hi, err := numBounds(s)
	if err != nil {
		return "", err
	}
	if lo == nil && hi == nil {
		if integer {
			return "integer", nil
		}
		return "number", nil
	}
	var body string
	var ok bool
	if integer {
		body, ok = integerRange(lo, hi)
	} else {
		body, ok = numberRange(lo, hi)
	}
	if !ok {
		return "", unsat(s.ptr, "no number satisfies the bounds")
	}
	return body, nil
}

// ---- strings ----

func (c *converter) str(s *jval, hint string) (string, error) {
	minL, maxL, err := counts(s, "minLength", "maxLength")
	if err != nil {
		return "", err
	}
	lengths := minL > 0 || maxL >= 0
	pat, fmtv := s.get("pattern"), s.get("format")
	if pat != nil && fmtv != nil {
		return "", fmt.Errorf(`"pattern" together with "format" at %s is not supported`, showPtr(s.ptr))
	}
	// within reports whether every length in [lo, hi] (hi -1: unbounded)
	// already satisfies minLength/maxLength, or errors.
	within := func(what string, lo, hi int) (bool, error) {
		if lo >= minL && (maxL < 0 || (hi >= 0 && hi <= maxL)) {
			return true, nil
		}
		if (maxL >= 0 && lo > maxL) || (hi >= 0 && hi < minL) {
			return false, unsat(s.ptr, "no %s satisfies minLength/maxLength", what)
		}
		return false, nil
	}
	if fmtv != nil {
		if fmtv.kind != jStr {
			return "", fmt.Errorf(`"format" at %s must be a string`, showPtr(s.ptr))
		}
		f, ok := formats[fmtv.s]
		if !ok {
			return "", fmt.Errorf("unsupported format %q at %s (supported: date, time, date-time, uuid)", fmtv.s, showPtr(s.ptr))
		}
		if ok, err := within("format "+fmtv.s+" string", f.min, f.max); err != nil || !ok {
			if err == nil {
				err = fmt.Errorf(`minLength/maxLength together with format %q at %s is not supported`, fmtv.s, showPtr(s.ptr))
			}
			return "", err
		}
		return `"\"" ` + f.rule + ` "\""`, nil
	}
	if pat != nil {
		if pat.kind != jStr {
			return "", fmt.Errorf(`"pattern" at %s must be a string`, showPtr(s.ptr))
		}
		re, err := parseRegex(pat.s)
		if err != nil {
			return "", fmt.Errorf("pattern %q at %s: %v", pat.s, showPtr(s.ptr), err)
		}
		if lengths {
			lo, hi := re.lengths()
			ok, err := within("string matching the pattern", lo, hi)
			if err != nil {
				return "", err
			}
			if !ok && !re.clampLength(minL, maxL) {
				return "", fmt.Errorf(`minLength/maxLength together with pattern at %s is only supported when the pattern is one repeated character class`, showPtr(s.ptr))
			}
		}
		h := childHint(hint, "char")
		if hint == "" {
			h = "pattern-char"
		}
		return seq(`"\""`, re.grammar(func(body string) string { return c.addRule(h, body) }), `"\""`), nil
	}
	if !lengths {
		return "string", nil
	}
	return seq(`"\""`, repeat("char", minL, maxL), `"\""`), nil
}

// ---- objects ----

type prop struct {
	name     string
	schema   *jval // nil: any value
	required bool
}

func (c *converter) object(s *jval, hint string) (string, error) {
	props := s.get("properties")
	if props != nil && props.kind != jObj {
		return "", fmt.Errorf(`"properties" at %s must be an object`, showPtr(s.ptr))
	}
	var required []string
	if r := s.get("required"); r != nil {
		if r.kind != jArr {
			return "", fmt.Errorf(`"required" at %s must be an array of strings`, showPtr(s.ptr))
		}
		for _, v := range r.vals {
			if v.kind != jStr {
				return "", fmt.Errorf(`"required" at %s must be an array of strings`, showPtr(s.ptr))
			}
			if !slices.Contains(required, v.s) {
				required = append(required, v.s)
			}
		}
	}
	addl := s.get("additionalProperties")
	if addl != nil && addl.kind != jBool && addl.kind != jObj {
		return "", fmt.Errorf(`"additionalProperties" at %s must be a schema`, showPtr(s.ptr))
	}
	minP, maxP, err := counts(s, "minProperties", "maxProperties")
	if err != nil {
		return "", err
	}
	hasProps := (props != nil && len(props.keys) > 0) || len(required) > 0
	if hasProps && (s.has("minProperties") || s.has("maxProperties")) {
		return "", fmt.Errorf(`"minProperties"/"maxProperties" together with properties or required at %s are not supported`, showPtr(s.ptr))
	}
	if !hasProps && (addl == nil || isTrivial(addl)) && minP == 0 && maxP < 0 {
		return "object", nil
	}

	var list []prop
	var names []string // every declared name: never an additional key
	if props != nil {
		for i, k := range props.keys {
			list = append(list, prop{name: k, schema: props.vals[i], required: slices.Contains(required, k)})
			names = append(names, k)
		}
	}
	for _, k := range required {
		if !slices.Contains(names, k) {
			// Required but not declared: its value is an additional one.
			list = append(list, prop{name: k, schema: addl, required: true})
			names = append(names, k)
		}
	}

	var reqKV, optKV []string
	var addlKV string
	err = c.guarded(func() error {
		for _, p := range list {
			h := childHint(hint, p.name)
			var val string
			var err error
			if p.schema == nil {
				val = "value"
			} else {
				val, err = c.visitExpr(p.schema, h)
			}
			if isUnsat(err) && !p.required {
				continue // it can never be present
			}
			if err != nil {
				return err
			}
			kv := c.addRule(h+"-kv", seq(quoteLit(jsonQuote(p.name)), `ws ":" ws`, val))
			if p.required {
				reqKV = append(reqKV, kv)
			} else {
				optKV = append(optKV, kv)
			}
		}
		if addl != nil && addl.kind == jBool && !addl.b {
			return nil
		}
		h := childHint(hint, "additional")
		val := "value"
		if addl != nil {
			v, err := c.visitExpr(addl, h)
			if isUnsat(err) {
				return nil
			}
			if err != nil {
				return err
			}
			val = v
		}
		key := "string"
		if len(names) > 0 {
			key = c.addRule(h+"-key", c.notKeys(names, h+"-key"))
		}
		addlKV = c.addRule(h+"-kv", seq(key, `ws ":" ws`, val))
		return nil
	})
	if err != nil {
		return "", err
	}

	if !hasProps {
		if addlKV == "" {
			if minP > 0 {
				return "", unsat(s.ptr, "minProperties needs properties, but none are allowed")
			}
			return `"{" ws "}"`, nil
		}
		if maxP == 0 {
			return `"{" ws "}"`, nil
		}
		more := -1
		if maxP > 0 {
			more = maxP - 1
		}
		inner := seq(addlKV, repeat(`(ws "," ws `+addlKV+`)`, max(minP-1, 0), more), "ws")
		if minP == 0 {
			inner = "(" + inner + ")?"
		}
		return seq(`"{" ws`, inner, `"}"`), nil
	}

	// Optional properties: any subset in declared order, then any number of
	// additional ones. rest[i] is "the optional part from i on", each item
	// led by a comma; named rules keep the grammar linear in size.
	opts := slices.Clone(optKV)
	if addlKV != "" {
		opts = append(opts, addlKV)
	}
	star := func(i int) bool { return addlKV != "" && i == len(opts)-1 }
	rest := make([]string, len(opts)+1)
	for i := len(opts) - 1; i >= 0; i-- {
		item := `(ws "," ws ` + opts[i] + `)`
		if star(i) {
			item += "*"
		} else {
			item += "?"
		}
		body := seq(item, rest[i+1])
		if rest[i+1] == "" {
			rest[i] = body
		} else {
			rest[i] = c.addRule(strings.TrimSuffix(opts[i], "-kv")+"-rest", body)
		}
	}
	var inner string
	if len(reqKV) > 0 {
		parts := []string{reqKV[0]}
		for _, kv := range reqKV[1:] {
			parts = append(parts, `ws "," ws`, kv)
		}
		inner = seq(seq(parts...), rest[0], "ws")
	} else if len(opts) > 0 {
		var alts []string
		for i, kv := range opts {
			first := kv
			if star(i) {
				first = seq(kv, rest[i])
			} else {
				first = seq(kv, rest[i+1])
			}
			alts = append(alts, first)
		}
		inner = "(" + seq(group(alts), "ws") + ")?"
	}
	return seq(`"{" ws`, inner, `"}"`), nil
}

// notKeys matches a JSON string that is none of names. It walks a trie of
// the names: while the key still spells a prefix of some name, the next
// character must be literal (an escape could spell a name another way);
// once it has left every name, anything goes.
func (c *converter) notKeys(names []string, hint string) string {
	type trie struct {
		kids     map[rune]*trie
		terminal bool
	}
	root := &trie{kids: map[rune]*trie{}}
	for _, n := range names {
		t := root
		for _, r := range n {
			if t.kids[r] == nil {
				t.kids[r] = &trie{kids: map[rune]*trie{}}
			}
			t = t.kids[r]
		}
		t.terminal = true
	}
	var walk func(t *trie, depth int) []string
	walk = func(t *trie, depth int) []string {
		if len(t.kids) == 0 {
			return []string{"char+"} // a whole name: anything longer differs
		}
		runes := make([]rune, 0, len(t.kids))
		for r := range t.kids {
			runes = append(runes, r)
		}
		slices.Sort(runes)
		var alts []string
		excluded := newRuneSet(runes...).union(jsonSpecials)
		for _, r := range runes {
			next := group(walk(t.kids[r], depth+1))
			if depth%32 == 31 && !isPrimary(next) {
				// Long names: a rule now and then keeps groups from nesting
				// deeper than parsers like.
				next = c.addRule(hint+"-"+strconv.Itoa(depth+1), next)
			}
			alts = append(alts, seq(quoteLit(jsonEscapeRune(r)), next))
		}
		alts = append(alts, seq(excluded.negate().class(), "char*"))
		if !t.terminal {
			alts = append(alts, "") // a proper prefix of a name is a different key
		}
		return alts
	}
	return seq(`"\""`, group(walk(root, 0)), `"\""`)
}

// ---- arrays ----

func (c *converter) array(s *jval, hint string) (string, error) {
	minI, maxI, err := counts(s, "minItems", "maxItems")
	if err != nil {
		return "", err
	}
	var prefix []*jval
	if p := s.get("prefixItems"); p != nil {
		if p.kind != jArr {
			return "", fmt.Errorf(`"prefixItems" at %s must be an array`, showPtr(s.ptr))
		}
		prefix = p.vals
	}
	items := s.get("items")
	if items != nil && items.kind != jBool && items.kind != jObj {
		return "", fmt.Errorf(`"items" at %s must be a schema`, showPtr(s.ptr))
	}
	anyItems := items == nil || isTrivial(items)
	if len(prefix) == 0 && anyItems && minI == 0 && maxI < 0 {
		return "array", nil
	}
	limit := func(n int) {
		if maxI < 0 || n < maxI {
			maxI = n
		}
	}
	var pre []string
	item := ""
	err = c.guarded(func() error {
		for i, p := range prefix {
			if maxI >= 0 && i >= maxI {
				break
			}
			e, err := c.visitExpr(p, childHint(hint, strconv.Itoa(i)))
			if isUnsat(err) {
				limit(i)
				return nil
			}
			if err != nil {
				return err
			}
			pre = append(pre, e)
		}
		if anyItems {
			item = "value"
			return nil
		}
		e, err := c.visitExpr(items, childHint(hint, "item"))
		if isUnsat(err) {
			return nil
		}
		item = e
		return err
	})
	if err != nil {
		return "", err
	}
	if item == "" {
		limit(len(pre))
	}
	if maxI >= 0 && minI > maxI {
		return "", unsat(s.ptr, "minItems cannot be met by the allowed items")
	}
	if maxI == 0 {
		return `"[" ws "]"`, nil
	}
	// tail: items after the prefix, each led by a comma.
	tail := ""
	if item != "" && (maxI < 0 || maxI > len(pre)) {
		more := -1
		if maxI >= 0 {
			more = maxI - len(pre)
		}
		tail = repeat(`(ws "," ws `+item+`)`, max(minI-len(pre), 0), more)
	}
	var inner string
	if len(pre) == 0 {
		more := -1
		if maxI >= 0 {
			more = maxI - 1
		}
		inner = seq(item, repeat(`(ws "," ws `+item+`)`, max(minI-1, 0), more))
	} else {
		// e0 (ws "," ws e1 (… tail)?)? with the first minItems required.
		inner = tail
		for i := len(pre) - 1; i >= 0; i-- {
			if i == 0 {
				inner = seq(pre[0], inner)
				break
			}
			part := seq(`ws "," ws`, pre[i], inner)
			if i >= minI {
				part = "(" + part + ")?"
			} else {
				part = "(" + part + ")"
			}
			inner = part
		}
	}
	if minI == 0 {
		return seq(`"[" ws`, "("+inner+" ws)?", `"]"`), nil
	}
	return seq(`"[" ws`, inner, `ws "]"`), nil
}

// ---- code point sets ----

type rspan struct{ lo, hi rune }

// runeSet is a sorted list of disjoint code point ranges, never holding
// surrogates (they cannot occur in a decoded JSON string).
type runeSet []rspan

var (
	jsonSpecials = runeSet{{0, 0x1f}, {'"', '"'}, {'\\', '\\'}, {0x7f, 0x7f}}
	digitSet     = runeSet{{'0', '9'}}
	wordSet      = runeSet{{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}
	spaceSet     = runeSet{{'\t', '\r'}, {' ', ' '}, {0xa0, 0xa0}, {0x1680, 0x1680}, {0x2000, 0x200a},
		{0x2028, 0x2029}, {0x202f, 0x202f}, {0x205f, 0x205f}, {0x3000, 0x3000}, {0xfeff, 0xfeff}}
	// ECMAScript's "." excludes line terminators.
	dotSet = runeSet{{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}}.negate()
)

func newRuneSet(rs ...rune) runeSet {
	var s runeSet
	for _, r := range rs {
		s = append(s, rspan{r, r})
	}
	return s.norm()
}

func (s runeSet) norm() runeSet {
	var in runeSet
	for _, sp := range s {
		// Cut out the surrogates.
		if sp.lo < 0xd800 && sp.hi >= 0xd800 {
			in = append(in, rspan{sp.lo, 0xd7ff})
			sp.lo = 0xe000
		}
		if sp.lo >= 0xd800 && sp.lo <= 0xdfff {
			sp.lo = 0xe000
		}
		if sp.hi > unicode.MaxRune {
			sp.hi = unicode.MaxRune
		}
		if sp.lo <= sp.hi {
			in = append(in, sp)
		}
	}
	sort.Slice(in, func(i, j int) bool { return in[i].lo < in[j].lo })
	var out runeSet
	for _, sp := range in {
		if n := len(out); n > 0 && sp.lo <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, sp.hi)
			continue
		}
		out = append(out, sp)
	}
	return out
}

func (s runeSet) union(t runeSet) runeSet {
	return append(slices.Clone(s), t...).norm()
}

func (s runeSet) negate() runeSet {
	var out runeSet
	next := rune(0)
	for _, sp := range s.norm() {
		if sp.lo > next {
			out = append(out, rspan{next, sp.lo - 1})
		}
		next = sp.hi + 1
	}
	if next <= unicode.MaxRune {
		out = append(out, rspan{next, unicode.MaxRune})
	}
	return out.norm()
}

func (s runeSet) minus(t runeSet) runeSet { return s.negate().union(t).negate() }

func (s runeSet) has(r rune) bool {
	for _, sp := range s {
		if sp.lo <= r && r <= sp.hi {
			return true
		}
	}
	return false
}

// class renders the set as a GBNF class, negated when that is shorter.
func (s runeSet) class() string {
	spans := func(set runeSet) string {
		var b strings.Builder
		for _, sp := range set {
			b.WriteString(classRune(sp.lo))
			if sp.hi > sp.lo {
				if sp.hi > sp.lo+1 {
					b.WriteByte('-')
				}
				b.WriteString(classRune(sp.hi))
			}
		}
		return b.String()
	}
	if neg := s.negate(); len(neg) < len(s) {
		return "[^" + spans(neg) + "]"
	}
	return "[" + spans(s) + "]"
}

// jsonChars matches one character of the set as it appears inside a JSON
// string: plain characters raw, the ones JSON must escape as escapes.
func (s runeSet) jsonChars() string {
	var alts []string
	if plain := s.minus(jsonSpecials); len(plain) > 0 {
		if len(plain) == 1 && plain[0].lo == plain[0].hi {
			alts = append(alts, quoteLit(string(plain[0].lo)))
		} else {
			alts = append(alts, plain.class())
		}
	}
	for _, r := range []rune{'"', '\\'} {
		if s.has(r) {
			alts = append(alts, quoteLit(`\`+string(r)))
		}
	}
	short := ""
	for _, e := range []struct {
		r rune
		c string
	}{{'\b', "b"}, {'\t', "t"}, {'\n', "n"}, {'\f', "f"}, {'\r', "r"}} {
		if s.has(e.r) {
			short += e.c
		}
	}
	switch len(short) {
	case 0:
	case 1:
		alts = append(alts, quoteLit(`\`+short))
	default:
		alts = append(alts, quoteLit(`\`)+" ["+short+"]")
	}
	// \u00XX for every control character (and DEL), either hex case.
	for _, hi := range []rune{0, 1, 7} {
		var lows []string
		for lo := rune(0); lo < 16; lo++ {
			r := hi<<4 | lo
			if (r < 0x20 || r == 0x7f) && s.has(r) {
				d := strconv.FormatInt(int64(lo), 16)
				lows = append(lows, d)
				if lo >= 10 {
					lows = append(lows, strings.ToUpper(d))
				}
			}
		}
		if len(lows) == 0 {
			continue
		}
		cls := quoteLit(lows[0])
		if len(lows) > 1 {
			cls = newRuneSet([]rune(strings.Join(lows, ""))...).class()
		}
		alts = append(alts, seq(quoteLit(`\u00`+strconv.Itoa(int(hi))), cls))
	}
	return group(alts)
}

// ---- patterns ----

// A practical subset of ECMAScript regular expressions, matched against
// code points (as with the u flag): literals, ".", classes with ranges and
// \d \w \s (and negations), groups (capturing, (?:…), (?<name>…)),
// alternation, * + ? {m} {m,} {m,n} (lazy forms too), ^ and $ at the ends of
// the pattern or of its top-level alternatives. Without ^ (or $) the match
// may start (end) anywhere, as JSON Schema's pattern is a search.

type rop uint8

const (
	rSet rop = iota
	rSeq
	rAlt
	rRep
	rBegin
	rEnd
)

type rnode struct {
	op       rop
	set      runeSet
	subs     []*rnode
	min, max int // rRep; max -1: unbounded
}

type reAlt struct {
	begin, end bool
	body       *rnode
}

type regexSpec struct{ alts []reAlt }

type reParser struct {
	src   []rune
	pos   int
	depth int
}

func parseRegex(pattern string) (*regexSpec, error) {
	p := &reParser{src: []rune(pattern)}
	top, err := p.alternation()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.src) {
		return nil, errors.New("unbalanced parenthesis")
	}
	branches := []*rnode{top}
	if top.op == rAlt {
		branches = top.subs
	}
	spec := &regexSpec{}
	for _, b := range branches {
		items := []*rnode{b}
		if b.op == rSeq {
			items = b.subs
		}
		var a reAlt
		if len(items) > 0 && items[0].op == rBegin {
			a.begin, items = true, items[1:]
		}
		if len(items) > 0 && items[len(items)-1].op == rEnd {
			a.end, items = true, items[:len(items)-1]
		}
		a.body = &rnode{op: rSeq, subs: items}
		if len(items) == 1 {
			a.body = items[0]
		}
		if hasAnchor(a.body) {
			return nil, errors.New("^ and $ are only supported at the start and end of the pattern")
		}
		spec.alts = append(spec.alts, a)
	}
	return spec, nil
}

func hasAnchor(n *rnode) bool {
	if n.op == rBegin || n.op == rEnd {
		return true
	}
	return slices.ContainsFunc(n.subs, hasAnchor)
}

func (p *reParser) peek(r rune) bool { return p.pos < len(p.src) && p.src[p.pos] == r }

func (p *reParser) alternation() (*rnode, error) {
	var branches []*rnode
	for {
		s, err := p.sequence()
		if err != nil {
			return nil, err
		}
		branches = append(branches, s)
		if !p.peek('|') {
			break
		}
		p.pos++
	}
	if len(branches) == 1 {
		return branches[0], nil
	}
	return &rnode{op: rAlt, subs: branches}, nil
}

func (p *reParser) sequence() (*rnode, error) {
	var items []*rnode
	for p.pos < len(p.src) && !p.peek('|') && !p.peek(')') {
		a, err := p.atom()
		if err != nil {
			return nil, err
		}
		quantified := false
		for {
			lo, hi, ok, err := p.quantifier()
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			if quantified || a.op == rBegin || a.op == rEnd {
				return nil, errors.New("nothing to repeat")
			}
			quantified = true
			a = &rnode{op: rRep, subs: []*rnode{a}, min: lo, max: hi}
		}
		items = append(items, a)
	}
	if len(items) == 1 {
		return items[0], nil
	}
	return &rnode{op: rSeq, subs: items}, nil
}

// quantifier reads * + ? {m} {m,} {m,n} and a lazy "?" after it; a "{"
// that does not start a valid quantifier is a literal (as in browsers).
func (p *reParser) quantifier() (int, int, bool, error) {
	if p.pos >= len(p.src) {
		return 0, 0, false, nil
	}
	lo, hi := 0, 0
	switch p.src[p.pos] {
	case '*':
		lo, hi = 0, -1
		p.pos++
	case '+':
		lo, hi = 1, -1
		p.pos++
	case '?':
		lo, hi = 0, 1
		p.pos++
	case '{':
		var ok bool
		var err error
		lo, hi, ok, err = p.braces()
		if !ok || err != nil {
			return 0, 0, false, err
		}
	default:
		return 0, 0, false, nil
	}
	if p.peek('?') {
		p.pos++ // lazy: the same strings match
	}
	return lo, hi, true, nil
}

func (p *reParser) braces() (int, int, bool, error) {
	i := p.pos + 1
	num := func() (int, bool, error) {
		start := i
		for i < len(p.src) && p.src[i] >= '0' && p.src[i] <= '9' {
			i++
		}
		if i == start {
			return 0, false, nil
		}
		n, err := strconv.Atoi(string(p.src[start:i]))
		if err != nil || n > maxRepeatCount {
			return 0, true, fmt.Errorf("repetition count %s is above the supported %d", string(p.src[start:i]), maxRepeatCount)
		}
		return n, true, nil
	}
	lo, ok, err := num()
	if !ok || err != nil {
		return 0, 0, false, err
	}
	hi := lo
	if i < len(p.src) && p.src[i] == ',' {
		i++
		n, ok, err := num()
		if err != nil {
			return 0, 0, false, err
		}
		hi = -1
		if ok {
			hi = n
		}
	}
	if i >= len(p.src) || p.src[i] != '}' {
		return 0, 0, false, nil
	}
	if hi >= 0 && lo > hi {
		return 0, 0, false, errors.New("numbers out of order in {} quantifier")
	}
	p.pos = i + 1
	return lo, hi, true, nil
}

func (p *reParser) atom() (*rnode, error) {
	c := p.src[p.pos]
	switch c {
	case '(':
		p.pos++
		if p.peek('?') {
			switch {
			case p.pos+1 < len(p.src) && p.src[p.pos+1] == ':':
				p.pos += 2
			case p.pos+2 < len(p.src) && p.src[p.pos+1] == '<' && p.src[p.pos+2] != '=' && p.src[p.pos+2] != '!':
				end := slices.Index(p.src[p.pos:], '>')
				if end < 0 {
					return nil, errors.New("unterminated group name")
				}
				p.pos += end + 1
			default:
				return nil, errors.New("lookahead, lookbehind and other (?…) groups are not supported")
			}
		}
		p.depth++
		if p.depth > 100 {
			return nil, errors.New("groups nest too deeply")
		}
		sub, err := p.alternation()
		if err != nil {
			return nil, err
		}
		if !p.peek(')') {
			return nil, errors.New("unbalanced parenthesis")
		}
		p.pos++
		p.depth--
		return sub, nil
	case '[':
		return p.class()
	case '.':
		p.pos++
		return &rnode{op: rSet, set: dotSet}, nil
	case '^':
		p.pos++
		return &rnode{op: rBegin}, nil
	case '$':
		p.pos++
		return &rnode{op: rEnd}, nil
	case '\\':
		set, err := p.escape(false)
		if err != nil {
			return nil, err
		}
		return &rnode{op: rSet, set: set}, nil
	case '*', '+', '?':
		return nil, errors.New("nothing to repeat")
	case '{':
		if _, _, ok, err := p.braces(); ok || err != nil {
			return nil, errors.New("nothing to repeat")
		}
	}
	p.pos++
	return &rnode{op: rSet, set: newRuneSet(c)}, nil
}

// escape reads a backslash escape; inClass: inside [...] (\b is backspace).
func (p *reParser) escape(inClass bool) (runeSet, error) {
	p.pos++
	if p.pos >= len(p.src) {
		return nil, errors.New("trailing backslash")
	}
	e := p.src[p.pos]
	p.pos++
	switch e {
	case 'd':
		return digitSet, nil
	case 'D':
		return digitSet.negate(), nil
	case 'w':
		return wordSet, nil
	case 'W':
		return wordSet.negate(), nil
	case 's':
		return spaceSet, nil
	case 'S':
		return spaceSet.negate(), nil
	case 'b':
		if inClass {
			return newRuneSet('\b'), nil
		}
		return nil, errors.New(`word boundaries (\b, \B) are not supported`)
	case 'B':
		return nil, errors.New(`word boundaries (\b, \B) are not supported`)
	case 'n':
		return newRuneSet('\n'), nil
	case 'r':
		return newRuneSet('\r'), nil
	case 't':
		return newRuneSet('\t'), nil
	case 'f':
		return newRuneSet('\f'), nil
	case 'v':
		return newRuneSet('\v'), nil
	case '0':
		if p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			return nil, errors.New("octal escapes are not supported")
		}
		return newRuneSet(0), nil
	case 'x':
		r, err := p.hex(2)
		return newRuneSet(r), err
	case 'u':
		if p.peek('{') {
			end := slices.Index(p.src[p.pos:], '}')
			if end < 2 {
				return nil, errors.New(`bad \u{…} escape`)
			}
			v, err := strconv.ParseUint(string(p.src[p.pos+1:p.pos+end]), 16, 32)
			if err != nil || v > unicode.MaxRune {
				return nil, errors.New(`bad \u{…} escape`)
			}
			p.pos += end + 1
			return newRuneSet(rune(v)), nil
		}
		r, err := p.hex(4)
		if err != nil {
			return nil, err
		}
		// A surrogate pair spelled as two escapes is one code point.
		if r >= 0xd800 && r < 0xdc00 && p.pos+1 < len(p.src) && p.src[p.pos] == '\\' && p.src[p.pos+1] == 'u' {
			save := p.pos
			p.pos += 2
			if lo, err := p.hex(4); err == nil && lo >= 0xdc00 && lo <= 0xdfff {
				return newRuneSet((r-0xd800)<<10 | (lo - 0xdc00) + 0x10000), nil
			}
			p.pos = save
		}
		if r >= 0xd800 && r <= 0xdfff {
			return nil, errors.New("lone surrogate escapes are not supported")
		}
		return newRuneSet(r), nil
	case 'c':
		if p.pos < len(p.src) && unicode.IsLetter(p.src[p.pos]) && p.src[p.pos] < 0x80 {
			r := p.src[p.pos] % 32
			p.pos++
			return newRuneSet(r), nil
		}
		return nil, errors.New(`bad \c escape`)
	case 'p', 'P':
		return nil, errors.New(`Unicode property escapes (\p, \P) are not supported`)
	case 'k':
		return nil, errors.New("backreferences are not supported")
	}
	if e >= '1' && e <= '9' {
		return nil, errors.New("backreferences are not supported")
	}
	if strings.ContainsRune(`^$\.*+?()[]{}|/-`, e) {
		return newRuneSet(e), nil
	}
	return nil, fmt.Errorf(`unsupported escape \%c`, e)
}

func (p *reParser) hex(n int) (rune, error) {
	if p.pos+n > len(p.src) {
		return 0, errors.New("bad hex escape")
	}
	v, err := strconv.ParseUint(string(p.src[p.pos:p.pos+n]), 16, 32)
	if err != nil {
		return 0, errors.New("bad hex escape")
	}
	p.pos += n
	return rune(v), nil
}

func (p *reParser) class() (*rnode, error) {
	p.pos++
	neg := p.peek('^')
	if neg {
		p.pos++
	}
	var set runeSet
	item := func() (runeSet, rune, bool, error) {
		if p.src[p.pos] == '\\' {
			s, err := p.escape(true)
			if err != nil {
				return nil, 0, false, err
			}
			if len(s) == 1 && s[0].lo == s[0].hi {
				return s, s[0].lo, true, nil
			}
			return s, 0, false, nil
		}
		r := p.src[p.pos]
		p.pos++
		return newRuneSet(r), r, true, nil
	}
	for {
		if p.pos >= len(p.src) {
			return nil, errors.New("unterminated character class")
		}
		if p.src[p.pos] == ']' {
			p.pos++
			break
		}
		s, lo, single, err := item()
		if err != nil {
			return nil, err
		}
		if p.peek('-') && p.pos+1 < len(p.src) && p.src[p.pos+1] != ']' {
			p.pos++
			_, hi, single2, err := item()
			if err != nil {
				return nil, err
			}
			if !single || !single2 {
				return nil, errors.New(`a range with \d, \w or \s in a character class is not supported`)
			}
			if lo > hi {
				return nil, errors.New("range out of order in character class")
			}
			s = runeSet{{lo, hi}}.norm()
		}
		set = set.union(s)
	}
	if neg {
		set = set.negate()
	}
	if len(set) == 0 {
		return nil, errors.New("a character class that matches nothing is not supported")
	}
	return &rnode{op: rSet, set: set}, nil
}

func nullable(n *rnode) bool {
	switch n.op {
	case rSet:
		return false
	case rSeq:
		for _, s := range n.subs {
			if !nullable(s) {
				return false
			}
		}
		return true
	case rAlt:
		return slices.ContainsFunc(n.subs, nullable)
	case rRep:
		return n.min == 0 || nullable(n.subs[0])
	}
	return true
}

// nonEmpty is n without the empty string (nil if that leaves nothing).
// Repeating something that can match empty would be left recursion in GBNF,
// so X* with nullable X is written nonEmpty(X)*, the same language.
func nonEmpty(n *rnode) *rnode {
	if !nullable(n) {
		return n
	}
	switch n.op {
	case rSeq:
		if len(n.subs) == 0 {
			return nil
		}
		rest := &rnode{op: rSeq, subs: n.subs[1:]}
		var alts []*rnode
		if h := nonEmpty(n.subs[0]); h != nil {
			alts = append(alts, &rnode{op: rSeq, subs: append([]*rnode{h}, n.subs[1:]...)})
		}
		if t := nonEmpty(rest); t != nil {
			alts = append(alts, t)
		}
		return altOf(alts)
	case rAlt:
		var alts []*rnode
		for _, s := range n.subs {
			if ne := nonEmpty(s); ne != nil {
				alts = append(alts, ne)
			}
		}
		return altOf(alts)
	case rRep:
		if n.max == 0 {
			return nil
		}
		sub := n.subs[0]
		if nullable(sub) {
			if sub = nonEmpty(sub); sub == nil {
				return nil
			}
		}
		return &rnode{op: rRep, subs: []*rnode{sub}, min: 1, max: n.max}
	}
	return nil
}

func altOf(alts []*rnode) *rnode {
	switch len(alts) {
	case 0:
		return nil
	case 1:
		return alts[0]
	}
	return &rnode{op: rAlt, subs: alts}
}

// lengths is the range of string lengths n matches (hi -1: unbounded).
func lengths(n *rnode) (int, int) {
	switch n.op {
	case rSet:
		return 1, 1
	case rSeq:
		lo, hi := 0, 0
		for _, s := range n.subs {
			l, h := lengths(s)
			lo = min(lo+l, 1<<40)
			if hi >= 0 {
				hi = addLen(hi, h)
			}
		}
		return lo, hi
	case rAlt:
		lo, hi := -1, 0
		for _, s := range n.subs {
			l, h := lengths(s)
			if lo < 0 || l < lo {
				lo = l
			}
			if hi >= 0 && (h < 0 || h > hi) {
				hi = h
			}
		}
		return lo, hi
	case rRep:
		l, h := lengths(n.subs[0])
		lo := satMul(l, n.min)
		switch {
		case h == 0:
			return lo, 0
		case h < 0 || n.max < 0:
			return lo, -1
		}
		return lo, satMul(h, n.max)
	}
	return 0, 0
}

func addLen(a, b int) int {
	if a < 0 || b < 0 {
		return -1
	}
	return min(a+b, 1<<40)
}

// satMul keeps nested counts like (a{9999}){9999}{9999} from overflowing.
func satMul(a, b int) int {
	if a != 0 && b > (1<<40)/a {
		return 1 << 40
	}
	return a * b
}

func (r *regexSpec) lengths() (int, int) {
	lo, hi := -1, 0
	for _, a := range r.alts {
		l, h := lengths(a.body)
		if !a.begin || !a.end {
			h = -1
		}
		if lo < 0 || l < lo {
			lo = l
		}
		if hi >= 0 && (h < 0 || h > hi) {
			hi = h
		}
	}
	return lo, hi
}

// clampLength folds minLength/maxLength into a pattern that is one
// repeated class, like ^[a-z]+$; it reports false for other patterns.
func (r *regexSpec) clampLength(minL, maxL int) bool {
	if len(r.alts) != 1 || !r.alts[0].begin || !r.alts[0].end {
		return false
	}
	n := r.alts[0].body
	if n.op != rRep || n.subs[0].op != rSet {
		return false
	}
	n.min = max(n.min, minL)
	if maxL >= 0 && (n.max < 0 || n.max > maxL) {
		n.max = maxL
	}
	return true
}

// grammar is the pattern as a GBNF sequence over the inside of a JSON string.
// Character sets that take more than one element become rules via name.
func (r *regexSpec) grammar(name func(body string) string) string {
	var alts []string
	for _, a := range r.alts {
		body := renderRegex(a.body, name)
		if !a.begin && !a.end && body == "" {
			alts = append(alts, "char*")
			continue
		}
		pre, post := "", ""
		if !a.begin {
			pre = "char*"
		}
		if !a.end {
			post = "char*"
		}
		alts = append(alts, seq(pre, body, post))
	}
	return group(alts)
}

func renderRegex(n *rnode, name func(string) string) string {
	switch n.op {
	case rSet:
		if e := n.set.jsonChars(); !nameRE.MatchString(e) && !litRE.MatchString(e) && !classRE.MatchString(e) {
			return name(e)
		} else {
			return e
		}
	case rSeq:
		var parts []string
		lit := ""
		for _, s := range n.subs {
			if s.op == rSet && len(s.set) == 1 && s.set[0].lo == s.set[0].hi && !jsonSpecials.has(s.set[0].lo) {
				lit += string(s.set[0].lo)
				continue
			}
			if lit != "" {
				parts = append(parts, quoteLit(lit))
				lit = ""
			}
			parts = append(parts, renderRegex(s, name))
		}
		if lit != "" {
			parts = append(parts, quoteLit(lit))
		}
		return seq(parts...)
	case rAlt:
		alts := make([]string, len(n.subs))
		for i, s := range n.subs {
			alts[i] = renderRegex(s, name)
		}
		return group(alts)
	case rRep:
		sub, lo := n.subs[0], n.min
		if nullable(sub) {
			if sub = nonEmpty(sub); sub == nil {
				return ""
			}
			lo = 0
		}
		return repeat(prim(renderRegex(sub, name)), lo, n.max)
	}
	return ""
}
