package eval

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"natter/internal/editdist"
	"natter/prompts"
	"natter/prompts/grammar"
)

// Limits of a suite file.
const (
	MaxSuiteBytes = 64 << 20 // a suite file
	MaxCaseBytes  = 1 << 20  // a case's text: input (or messages) and system prompt
)

const (
	maxLineBytes   = 4 * MaxCaseBytes // a JSONL line: a case with its JSON escapes and check
	maxSchemaBytes = 8 << 20          // a schema file
	maxNodes       = 4 << 20          // nodes visited, counting every alias expansion
	maxDepth       = 200              // nesting of JSON values, schemas and merges
	maxErrors      = 10               // errors reported before giving up
	maxVarName     = 64
)

// Load reads, parses and validates a suite file: .yaml, .yml or .json hold
// one suite object, .jsonl one case per line.
func Load(path string) (*Suite, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, not a suite file", path)
	}
	if st.Mode().IsRegular() && st.Size() > MaxSuiteBytes {
		return nil, fmt.Errorf("%s: file is %s; a suite file is limited to %d MiB", path, mibs(st.Size()), MaxSuiteBytes>>20)
	}
	// A pipe or a growing file: read one byte past the limit to know.
	data, err := io.ReadAll(io.LimitReader(f, MaxSuiteBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxSuiteBytes {
		return nil, fmt.Errorf("%s: file is larger than %d MiB, the limit of a suite file", path, MaxSuiteBytes>>20)
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read: path names the file in errors,
// picks the format by its extension and is where schema files are found
// relative to.
func Parse(path string, data []byte) (*Suite, error) {
	if len(data) > MaxSuiteBytes {
		return nil, fmt.Errorf("%s: file is %s; a suite file is limited to %d MiB", path, mibs(int64(len(data))), MaxSuiteBytes>>20)
	}
	p := &parser{
		path:    path,
		size:    len(data),
		schemas: map[string]schemaFile{},
		active:  map[*yaml.Node]bool{},
	}
	s := &Suite{Path: path, Name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))}
	sum := sha256.Sum256(data)
	s.Hash = hex.EncodeToString(sum[:])

	func() {
		defer func() {
			if r := recover(); r != nil {
				if r != errStop {
					panic(r)
				}
			}
		}()
		switch ext := strings.ToLower(filepath.Ext(path)); ext {
		case ".jsonl":
			p.parseJSONL(s, data)
		case ".json":
			p.parseJSONDoc(s, data)
		case ".yaml", ".yml":
			p.parseYAML(s, data)
		default:
			p.fail(0, "", "unknown suite format %q: name the file .yaml, .yml, .json or .jsonl", ext)
		}
		if len(p.errs) == 0 && len(s.Cases) == 0 {
			p.fail(0, "", "no cases")
		}
		if len(p.errs) == 0 {
			p.checkIDs(s)
		}
	}()
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return s, nil
}

// errStop ends a parse that has reported enough (or a fatal) error.
var errStop = errors.New("stop parsing")

type parser struct {
	path    string
	size    int // bytes of the file
	errs    []error
	nodes   int // nodes visited
	work    int // bytes of text processed (substitution, patterns)
	schemas map[string]schemaFile
	// active are the anchored nodes being expanded, to refuse an alias
	// that refers to a node containing it.
	active map[*yaml.Node]bool
}

// schemaFile is a schema file compiled once for every case naming it.
type schemaFile struct {
	schema *jsonschema.Schema
	doc    any // the schema as read, for constrain's grammar
	err    error
}

// fail records an error at a line (0: the whole file), in a case when cs
// is set.
func (p *parser) fail(line int, cs, format string, a ...any) {
	var b strings.Builder
	b.WriteString(p.path)
	if line > 0 {
		b.WriteString(":" + strconv.Itoa(line))
	}
	b.WriteString(": ")
	if cs != "" {
		b.WriteString("case " + strconv.Quote(clip(cs, 60)) + ": ")
	}
	fmt.Fprintf(&b, format, a...)
	p.errs = append(p.errs, errors.New(b.String()))
	if len(p.errs) >= maxErrors {
		p.errs = append(p.errs, fmt.Errorf("%s: too many errors; stopping", p.path))
		panic(errStop)
	}
}

// fatal records an error and stops.
func (p *parser) fatal(line int, cs, format string, a ...any) {
	p.fail(line, cs, format, a...)
	panic(errStop)
}

// visit charges one node to the budget and resolves an alias.
func (p *parser) visit(n *yaml.Node) *yaml.Node {
	p.nodes++
	if p.nodes > maxNodes {
		p.fatal(0, "", "the file has more than %d values, counting each expansion of a YAML alias; split the suite", maxNodes)
	}
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	return n
}

// charge counts text processed; only alias expansion can make it exceed
// a few times the file's size.
func (p *parser) charge(n int) {
	p.work += n
	if p.work > 4*p.size+MaxCaseBytes {
		p.fatal(0, "", "the file expands to too much text (YAML aliases?)")
	}
}

// ---- YAML

func (p *parser) parseYAML(s *Suite, data []byte) {
	if line, msg := badYAMLText(data); msg != "" {
		p.fatal(line, "", "%s", msg)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := safeDecode(dec, &doc); err != nil {
		if err == io.EOF {
			p.fatal(0, "", "no cases")
		}
		p.yamlError(err)
	}
	var extra yaml.Node
	switch err := safeDecode(dec, &extra); {
	case err == io.EOF:
	case err != nil:
		p.yamlError(err)
	default:
		p.fatal(extra.Line, "", "a second YAML document: a suite file holds one")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.fatal(0, "", "no cases")
	}
	p.suite(s, p.visit(doc.Content[0]))
}

func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlError reports a syntax error with the line yaml gives.
func (p *parser) yamlError(err error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.fatal(line, "", "%s", msg[len(m[0]):])
	}
	p.fatal(0, "", "%s", strings.TrimPrefix(msg, "yaml: "))
}

// badYAMLText finds the first byte YAML cannot hold, for an error with a
// line (the yaml package gives none for these).
func badYAMLText(data []byte) (int, string) {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			if i == 0 && len(data) > 1 && (data[0] == 0xfe || data[0] == 0xff) {
				return 1, "the file is UTF-16; save it as UTF-8"
			}
			return line, fmt.Sprintf("invalid UTF-8 (byte 0x%02x)", data[i])
		case r == '\n':
			line++
		case r == '\t' || r == '\r' || r == 0x85 || r == 0xfeff:
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff:
			return line, fmt.Sprintf("control character %U is not allowed (write it as an escape in a double-quoted string)", r)
		}
		i += size
	}
	return 0, ""
}

// ---- JSON and JSONL

// parseJSONDoc reads a .json file: one suite object.
func (p *parser) parseJSONDoc(s *Suite, data []byte) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		off := invalidUTF8(data)
		p.fatal(lineAt(data, off), "", "invalid UTF-8 (byte 0x%02x)", data[off])
	}
	if len(bytes.TrimSpace(data)) == 0 {
		p.fatal(0, "", "no cases")
	}
	c := &jsonConv{p: p, data: data, dec: json.NewDecoder(bytes.NewReader(data)), lines: lineStarts(data)}
	c.dec.UseNumber()
	root, err := c.document()
	if err != nil {
		p.fatal(c.errLine(err), "", "invalid JSON: %v", err)
	}
	p.suite(s, root)
}

// parseJSONL reads one case per line, after an optional suite header line.
func (p *parser) parseJSONL(s *Suite, data []byte) {
	d := &defaults{}
	p.finishDefaults(d)
	s.Cases = make([]Case, 0, min(bytes.Count(data, []byte("\n"))+1, 1<<16))
	lineNo, cases, seenCase, header := 0, 0, false, false
	for rest := data; len(rest) > 0; {
		var ln []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			ln, rest = rest[:i], rest[i+1:]
		} else {
			ln, rest = rest, nil
		}
		lineNo++
		if lineNo == 1 {
			ln = bytes.TrimPrefix(ln, []byte("\xef\xbb\xbf"))
		}
		if len(ln) > maxLineBytes {
			// Not handed to a decoder: a case this long is refused anyway.
			p.fail(lineNo, "#"+strconv.Itoa(cases+1), "line is %s; a case is limited to %d MiB (a JSONL line to %d MiB)",
				mibs(int64(len(ln))), MaxCaseBytes>>20, maxLineBytes>>20)
			cases++
			seenCase = true
			continue
		}
		t := bytes.TrimSpace(ln)
		if len(t) == 0 || bytes.HasPrefix(t, []byte("//")) || t[0] == '#' {
			continue
		}
		name := "#" + strconv.Itoa(cases+1)
		if !utf8.Valid(t) {
			off := invalidUTF8(t)
			p.fail(lineNo, name, "invalid UTF-8 (byte 0x%02x at column %d)", t[off], off+1)
			cases++
			seenCase = true
			continue
		}
		p.nodes = 0 // no aliases in JSON: the budget is per line, whose length is capped
		c := &jsonConv{p: p, data: t, dec: json.NewDecoder(bytes.NewReader(t)), line: lineNo}
		c.dec.UseNumber()
		n, err := c.document()
		if err != nil {
			p.fail(lineNo, name, "invalid JSON: %v", err)
			cases++
			seenCase = true
			continue
		}
		if n.Kind != yaml.MappingNode {
			p.fail(lineNo, "", "want a JSON object: a case, or {\"suite\": {…}} on the first line")
			continue
		}
		if hasKey(n, "suite") {
			if seenCase || header {
				p.fail(lineNo, "", "the suite header {\"suite\": {…}} must be the first line")
				continue
			}
			header = true
			p.jsonlHeader(s, d, n)
			if len(p.errs) > 0 {
				return
			}
			p.finishDefaults(d)
			continue
		}
		seenCase = true
		cases++
		if c, ok := p.caseOf(n, cases, d); ok {
			s.Cases = append(s.Cases, c)
		}
	}
}

func (p *parser) jsonlHeader(s *Suite, d *defaults, n *yaml.Node) {
	kvs, probs := p.pairs(n, 0)
	for _, pr := range probs {
		p.fail(pr.line, "", "%s", pr.msg)
	}
	for _, kv := range kvs {
		if kv.key != "suite" {
			p.fail(kv.line, "", "the header line holds only \"suite\"; %q belongs in it or in a case", clip(kv.key, 40))
			continue
		}
		h := kv.v
		if h.Kind != yaml.MappingNode {
			p.fail(kv.line, "", "suite: want an object of suite settings (name, system, labels, …)")
			continue
		}
		hkvs, hprobs := p.pairs(h, 0)
		for _, pr := range hprobs {
			p.fail(pr.line, "", "suite: %s", pr.msg)
		}
		for _, f := range hkvs {
			if !p.suiteField(s, d, f) {
				p.fail(f.line, "", "suite: unknown field %s", p.unknownHint(f.key, headerFields))
			}
		}
	}
}

func hasKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return true
		}
	}
	return false
}

// jsonConv turns a JSON text into yaml nodes, so JSON and YAML suites are
// read by the same code; numbers keep their literal text, lines are
// computed from offsets.
type jsonConv struct {
	p     *parser
	data  []byte
	dec   *json.Decoder
	line  int   // JSONL: every node is on this line
	lines []int // .json: offsets of line starts
}

func (c *jsonConv) document() (*yaml.Node, error) {
	n, err := c.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := c.dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("more than one JSON value (at column %d)", c.dec.InputOffset())
		}
		return nil, err
	}
	return n, nil
}

// lineOfNext is the line of the token the decoder reads next.
func (c *jsonConv) lineOfNext() int {
	if c.lines == nil {
		return c.line
	}
	off := int(c.dec.InputOffset())
	for off < len(c.data) {
		switch c.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return lineOf(c.lines, off)
}

func (c *jsonConv) errLine(err error) int {
	if c.lines == nil {
		return c.line
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return lineOf(c.lines, int(se.Offset))
	}
	return lineOf(c.lines, int(c.dec.InputOffset()))
}

func (c *jsonConv) value(depth int) (*yaml.Node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("values nested more than %d deep", maxDepth)
	}
	c.p.nodes++
	if c.p.nodes > maxNodes {
		return nil, fmt.Errorf("more than %d values", maxNodes)
	}
	line := c.lineOfNext()
	tok, err := c.dec.Token()
	if err == io.EOF {
		return nil, io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	n := &yaml.Node{Line: line, Kind: yaml.ScalarNode}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n.Kind, n.Tag = yaml.MappingNode, "!!map"
			for c.dec.More() {
				kl := c.lineOfNext()
				kt, err := c.dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				v, err := c.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key, Line: kl}, v)
			}
		case '[':
			n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
			for c.dec.More() {
				v, err := c.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
		default:
			return nil, fmt.Errorf("unexpected %q", rune(t))
		}
		if _, err := c.dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
	case string:
		n.Tag, n.Value, n.Style = "!!str", t, yaml.DoubleQuotedStyle
	case json.Number:
		n.Tag, n.Value = "!!int", string(t)
		if strings.ContainsAny(string(t), ".eE") {
			n.Tag = "!!float"
		}
	case bool:
		n.Tag, n.Value = "!!bool", strconv.FormatBool(t)
	case nil:
		n.Tag, n.Value = "!!null", "null"
	}
	return n, nil
}

func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// lineOf is the 1-based line of an offset.
func lineOf(starts []int, off int) int {
	lo, hi := 0, len(starts)
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if starts[mid] <= off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + 1
}

func lineAt(data []byte, off int) int { return bytes.Count(data[:off], []byte("\n")) + 1 }

func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return 0
}

// ---- mappings

// pair is one field of a mapping: its name, its line, its value (aliases
// resolved).
type pair struct {
	key  string
	line int
	v    *yaml.Node
}

// problem is an error found before the case's name is known.
type problem struct {
	line int
	msg  string
}

// pairs lists a mapping's fields in order, refusing duplicates and
// applying YAML merge keys (<<: *anchor); fields given explicitly win.
func (p *parser) pairs(m *yaml.Node, depth int) ([]pair, []problem) {
	var out []pair
	var probs []problem
	seen := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := p.visit(m.Content[i]), m.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
			probs = append(probs, problem{k.Line, "a field name must be text"})
			continue
		}
		if first, dup := seen[k.Value]; dup {
			probs = append(probs, problem{k.Line, fmt.Sprintf("field %q is given twice (first at line %d)", clip(k.Value, 40), first)})
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{key: k.Value, line: k.Line, v: p.visit(v)})
	}
	for _, mv := range merges {
		line := mv.Line
		mv = p.visit(mv)
		var maps []*yaml.Node
		switch mv.Kind {
		case yaml.MappingNode:
			maps = []*yaml.Node{mv}
		case yaml.SequenceNode:
			for _, x := range mv.Content {
				maps = append(maps, p.visit(x))
			}
		}
		for _, mm := range maps {
			if mm.Kind != yaml.MappingNode {
				probs = append(probs, problem{line, "<<: want a mapping (or a list of them) to merge"})
				continue
			}
			if p.active[mm] || depth >= maxDepth {
				probs = append(probs, problem{line, "<<: the merged mapping contains itself"})
				continue
			}
			p.active[mm] = true
			sub, subProbs := p.pairs(mm, depth+1)
			delete(p.active, mm)
			probs = append(probs, subProbs...)
			for _, kv := range sub {
				if _, ok := seen[kv.key]; !ok {
					seen[kv.key] = kv.line
					out = append(out, kv)
				}
			}
		}
	}
	return out, probs
}

// ---- suite level

var suiteFields = []string{"name", "description", "system", "max_tokens", "labels", "ignore_case", "vars", "cases"}

var headerFields = suiteFields[:len(suiteFields)-1]

// defaults are the suite's settings a case inherits.
type defaults struct {
	system     string
	maxTokens  int
	labels     []string
	labelSet   map[string]string // label → itself
	labelFold  map[string]string // lower-cased label → label
	ignoreCase bool
	vars       map[string]string
}

func (p *parser) suite(s *Suite, root *yaml.Node) {
	if root.Kind != yaml.MappingNode {
		p.fatal(root.Line, "", "want a mapping at the top of the file (name, system, cases: …)")
	}
	d := &defaults{}
	kvs, probs := p.pairs(root, 0)
	for _, pr := range probs {
		p.fail(pr.line, "", "%s", pr.msg)
	}
	var cases *pair
	for i, kv := range kvs {
		if kv.key == "cases" {
			cases = &kvs[i]
			continue
		}
		if !p.suiteField(s, d, kv) {
			p.fail(kv.line, "", "unknown field %s", p.unknownHint(kv.key, suiteFields))
		}
	}
	if len(p.errs) > 0 {
		return
	}
	p.finishDefaults(d)
	if len(p.errs) > 0 {
		return
	}
	if cases == nil {
		p.fatal(0, "", "no cases: list them under cases:")
	}
	seq := cases.v
	if seq.Kind == yaml.ScalarNode && seq.ShortTag() == "!!null" {
		p.fatal(cases.line, "", "no cases")
	}
	if seq.Kind != yaml.SequenceNode {
		p.fatal(cases.line, "", "cases: want a list of cases")
	}
	if len(seq.Content) == 0 {
		p.fatal(cases.line, "", "no cases")
	}
	for i, item := range seq.Content {
		line := item.Line
		item = p.visit(item)
		name := "#" + strconv.Itoa(i+1)
		if item.Kind != yaml.MappingNode {
			p.fail(line, name, "want a mapping (input, a check, …)")
			continue
		}
		if c, ok := p.caseOf(item, i+1, d); ok {
			if line != item.Line {
				c.Line = line // an alias: the line that lists it
			}
			s.Cases = append(s.Cases, c)
		}
	}
}

// suiteField reads one suite-level field; false: not one.
func (p *parser) suiteField(s *Suite, d *defaults, kv pair) bool {
	switch kv.key {
	case "name":
		if v, ok := p.text(kv, ""); ok {
			if strings.TrimSpace(v) == "" {
				p.fail(kv.line, "", "name: is empty")
			}
			s.Name = v
		}
	case "description":
		if v, ok := p.text(kv, ""); ok {
			s.Description = v
		}
	case "system":
		if v, ok := p.text(kv, ""); ok {
			if len(v) > MaxCaseBytes {
				p.fail(kv.line, "", "system is %s; a case is limited to %d MiB", mibs(int64(len(v))), MaxCaseBytes>>20)
			}
			d.system = v
		}
	case "max_tokens":
		if v, ok := p.positive(kv, ""); ok {
			d.maxTokens = v
		}
	case "labels":
		if v, ok := p.labels(kv, ""); ok {
			d.labels = v
		}
	case "ignore_case":
		if v, ok := p.boolean(kv, ""); ok {
			d.ignoreCase = v
		}
	case "vars":
		if v, ok := p.vars(kv, ""); ok {
			d.vars = v
		}
	default:
		return false
	}
	return true
}

func (p *parser) finishDefaults(d *defaults) {
	d.labelSet, d.labelFold = labelMaps(d.labels)
}

func labelMaps(labels []string) (exact, fold map[string]string) {
	exact, fold = make(map[string]string, len(labels)), make(map[string]string, len(labels))
	for _, l := range labels {
		exact[l] = l
		if _, ok := fold[strings.ToLower(l)]; !ok {
			fold[strings.ToLower(l)] = l
		}
	}
	return exact, fold
}

// checkIDs refuses two cases with one id.
func (p *parser) checkIDs(s *Suite) {
	seen := make(map[string]int, len(s.Cases))
	for _, c := range s.Cases {
		if first, dup := seen[c.ID]; dup {
			p.fail(c.Line, c.ID, "duplicate id: case %q is at line %d already", clip(c.ID, 60), first)
			continue
		}
		seen[c.ID] = c.Line
	}
}

// ---- values

// scalarText is a scalar's text when it can stand for a string: YAML's
// 5, true and 2024-01-01 are their text too.
func scalarText(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		return "", false
	}
	switch n.ShortTag() {
	case "!!null", "!!binary":
		return "", false
	}
	return n.Value, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!null":
		return "nothing"
	case "!!bool":
		return n.Value
	case "!!int", "!!float":
		return "the number " + clip(n.Value, 30)
	}
	return strconv.Quote(clip(n.Value, 40))
}

func (p *parser) text(kv pair, cs string) (string, bool) {
	s, ok := scalarText(kv.v)
	if !ok {
		p.fail(kv.line, cs, "%s: want text, got %s", kv.key, kindName(kv.v))
		return "", false
	}
	if !utf8.ValidString(s) {
		p.fail(kv.line, cs, "%s: invalid UTF-8", kv.key)
		return "", false
	}
	return s, true
}

// strList reads a list of non-empty strings; one string is a list of one
// when single is set.
func (p *parser) strList(kv pair, cs string, single bool) ([]string, bool) {
	want := "a list of strings"
	if single {
		want = "a string or a list of strings"
	}
	if s, ok := scalarText(kv.v); ok && single {
		if s == "" {
			p.fail(kv.line, cs, "%s: an empty string", kv.key)
			return nil, false
		}
		return []string{s}, true
	}
	if kv.v.Kind != yaml.SequenceNode {
		p.fail(kv.line, cs, "%s: want %s, got %s", kv.key, want, kindName(kv.v))
		return nil, false
	}
	out := make([]string, 0, len(kv.v.Content))
	for i, x := range kv.v.Content {
		line := x.Line
		x = p.visit(x)
		s, ok := scalarText(x)
		if !ok {
			p.fail(line, cs, "%s: want %s; item %d is %s", kv.key, want, i+1, kindName(x))
			return nil, false
		}
		if strings.TrimSpace(s) == "" {
			p.fail(line, cs, "%s: item %d is empty", kv.key, i+1)
			return nil, false
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		p.fail(kv.line, cs, "%s: the list is empty", kv.key)
		return nil, false
	}
	return out, true
}

func (p *parser) labels(kv pair, cs string) ([]string, bool) {
	l, ok := p.strList(kv, cs, false)
	if !ok {
		return nil, false
	}
	if len(l) < 2 {
		p.fail(kv.line, cs, "labels: want at least 2 labels, got %d", len(l))
		return nil, false
	}
	seen := make(map[string]bool, len(l))
	for _, x := range l {
		if seen[x] {
			p.fail(kv.line, cs, "labels: %q is listed twice", clip(x, 40))
			return nil, false
		}
		seen[x] = true
	}
	return l, true
}

func (p *parser) boolean(kv pair, cs string) (bool, bool) {
	if kv.v.Kind == yaml.ScalarNode && kv.v.ShortTag() == "!!bool" {
		if b, err := strconv.ParseBool(strings.ToLower(kv.v.Value)); err == nil {
			return b, true
		}
	}
	p.fail(kv.line, cs, "%s: want true or false, got %s", kv.key, kindName(kv.v))
	return false, false
}

// numberOf reads a finite number.
func numberOf(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode {
		return 0, false
	}
	v := strings.ReplaceAll(n.Value, "_", "")
	var f float64
	switch n.ShortTag() {
	case "!!int":
		if i, err := strconv.ParseInt(v, 0, 64); err == nil {
			return float64(i), true
		}
		if u, err := strconv.ParseUint(v, 0, 64); err == nil {
			return float64(u), true
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		f = x
	case "!!float":
		if strings.Contains(strings.ToLower(v), "inf") || strings.Contains(strings.ToLower(v), "nan") {
			return 0, false
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		f = x
	default:
		return 0, false
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

func (p *parser) number(kv pair, cs string) (float64, bool) {
	f, ok := numberOf(kv.v)
	if !ok {
		p.fail(kv.line, cs, "%s: want a number, got %s", kv.key, kindName(kv.v))
	}
	return f, ok
}

func (p *parser) positive(kv pair, cs string) (int, bool) {
	f, ok := numberOf(kv.v)
	if !ok || f != math.Trunc(f) || f < 1 || f > 1<<30 {
		p.fail(kv.line, cs, "%s: want a positive whole number, got %s", kv.key, kindName(kv.v))
		return 0, false
	}
	return int(f), true
}

func (p *parser) vars(kv pair, cs string) (map[string]string, bool) {
	if kv.v.Kind != yaml.MappingNode {
		p.fail(kv.line, cs, "vars: want a mapping of names to text, got %s", kindName(kv.v))
		return nil, false
	}
	kvs, probs := p.pairs(kv.v, 0)
	for _, pr := range probs {
		p.fail(pr.line, cs, "vars: %s", pr.msg)
	}
	out := make(map[string]string, len(kvs))
	for _, f := range kvs {
		if !isVarName(f.key) {
			p.fail(f.line, cs, "vars: %q is not a name (letters, digits, _ . -, starting with a letter or _)", clip(f.key, 40))
			return nil, false
		}
		s, ok := scalarText(f.v)
		if !ok {
			p.fail(f.line, cs, "vars: %s: want text, got %s", f.key, kindName(f.v))
			return nil, false
		}
		out[f.key] = s
	}
	return out, len(probs) == 0
}

func isVarName(s string) bool {
	if s == "" || len(s) > maxVarName {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// toAny converts a node to JSON's Go values: map[string]any, []any,
// string, bool, nil, and float64 (json.Number when schema is set, which is
// what the schema compiler reads).
func (p *parser) toAny(n *yaml.Node, schema bool, depth int) (any, error) {
	anchored := n
	for anchored != nil && anchored.Kind == yaml.AliasNode {
		anchored = anchored.Alias
	}
	if anchored != nil && p.active[anchored] {
		return nil, errors.New("an alias refers to a value that contains it")
	}
	n = p.visit(n)
	if depth > maxDepth {
		return nil, fmt.Errorf("nested more than %d deep", maxDepth)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			b, err := strconv.ParseBool(strings.ToLower(n.Value))
			if err != nil {
				return nil, fmt.Errorf("line %d: %q is not true or false", n.Line, clip(n.Value, 30))
			}
			return b, nil
		case "!!int", "!!float":
			f, ok := numberOf(n)
			if !ok {
				return nil, fmt.Errorf("line %d: %s is not a JSON number", n.Line, clip(n.Value, 30))
			}
			if schema {
				if json.Valid([]byte(n.Value)) {
					return json.Number(n.Value), nil
				}
				return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
			}
			return f, nil
		}
		if !utf8.ValidString(n.Value) {
			return nil, fmt.Errorf("line %d: invalid UTF-8", n.Line)
		}
		return n.Value, nil
	case yaml.SequenceNode:
		p.active[n] = true
		defer delete(p.active, n)
		out := make([]any, 0, len(n.Content))
		for _, x := range n.Content {
			v, err := p.toAny(x, schema, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		p.active[n] = true
		defer delete(p.active, n)
		kvs, probs := p.pairs(n, depth)
		if len(probs) > 0 {
			return nil, fmt.Errorf("line %d: %s", probs[0].line, probs[0].msg)
		}
		out := make(map[string]any, len(kvs))
		for _, kv := range kvs {
			v, err := p.toAny(kv.v, schema, depth+1)
			if err != nil {
				return nil, err
			}
			out[kv.key] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("line %d: not a JSON value", n.Line)
}

// ---- cases

var caseFields = []string{"id", "input", "messages", "system", "vars", "tags", "max_tokens", "ignore_case", "labels", "grammar",
	"exact", "contains", "contains_any", "regex", "choice", "json", "number", "tolerance", "judge"}

var checkFields = []string{"exact", "contains", "contains_any", "regex", "choice", "json", "number", "judge"}

// fieldAliases are names people reach for, and the field they mean.
var fieldAliases = map[string]string{
	"prompt": "input", "question": "input", "user": "input", "expected": "exact", "expect": "exact",
	"answer": "exact", "equals": "exact", "want": "exact", "pattern": "regex", "label": "choice",
	"rubric": "judge", "schema": "json", "tag": "tags", "maxtokens": "max_tokens", "max_tokens_": "max_tokens",
	"ignorecase": "ignore_case", "variables": "vars", "messages_": "messages", "tol": "tolerance",
}

// unknownHint quotes an unknown field and suggests the field meant.
func (p *parser) unknownHint(key string, known []string) string {
	q := strconv.Quote(clip(key, 40))
	if s := didYouMean(key, known); s != "" {
		return q + " (did you mean " + strconv.Quote(s) + "?)"
	}
	if slices.Contains(caseFields, key) && !slices.Contains(known, key) {
		if slices.Contains(known, "cases") {
			return q + " (a case field: cases go in a list under cases:)"
		}
		return q + " (a case field: put it in a case)"
	}
	return q
}

// didYouMean is the known field closest to key, if close enough.
func didYouMean(key string, known []string) string {
	if len(key) > 40 {
		return ""
	}
	k := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	if a, ok := fieldAliases[k]; ok && slices.Contains(known, a) {
		return a
	}
	best, bestD := "", 1<<30
	for _, c := range known {
		if d := editdist.Distance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	limit := 1
	switch {
	case len(k) >= 9:
		limit = 3
	case len(k) >= 5:
		limit = 2
	}
	if bestD <= limit && bestD < len(k) {
		return best
	}
	return ""
}

// caseOf reads one case; ok is false when it had errors (reported).
func (p *parser) caseOf(m *yaml.Node, n int, d *defaults) (Case, bool) {
	c := Case{ID: "#" + strconv.Itoa(n), Line: m.Line}
	before := len(p.errs)
	kvs, probs := p.pairs(m, 0)
	f := make(map[string]pair, len(kvs))
	for _, kv := range kvs {
		f[kv.key] = kv
	}
	// The id first, to name the case in every error.
	if kv, ok := f["id"]; ok {
		id, isText := scalarText(kv.v)
		switch {
		case !isText:
			p.fail(kv.line, c.ID, "id: want text, got %s", kindName(kv.v))
		case strings.TrimSpace(id) == "":
			p.fail(kv.line, c.ID, "id: is empty")
		case strings.ContainsAny(id, "\n\r"):
			p.fail(kv.line, c.ID, "id: want one line")
		case len(id) > 200:
			p.fail(kv.line, c.ID, "id: longer than 200 bytes")
		case !utf8.ValidString(id):
			p.fail(kv.line, c.ID, "id: invalid UTF-8")
		default:
			c.ID = id
		}
	}
	name := c.ID
	for _, pr := range probs {
		p.fail(pr.line, name, "%s", pr.msg)
	}

	var (
		input, system        string
		hasInput, hasSystem  bool
		msgs                 []prompts.Message
		hasMsgs              bool
		caseVars             map[string]string
		labels               []string
		hasLabels            bool
		ignoreCase, hasFold  bool
		checks               []pair
		tolerance            float64
		hasTolerance         bool
		contains, containsAn []string
		gram                 string
		hasGram              bool
	)
	for _, kv := range kvs {
		switch kv.key {
		case "id":
		case "input":
			input, hasInput = p.text(kv, name)
			if hasInput && strings.TrimSpace(input) == "" {
				p.fail(kv.line, name, "input is empty")
			}
		case "messages":
			msgs, hasMsgs = p.messageList(kv, name)
		case "system":
			system, hasSystem = p.text(kv, name)
		case "vars":
			caseVars, _ = p.vars(kv, name)
		case "tags":
			c.Tags, _ = p.strList(kv, name, false)
		case "grammar":
			gram, hasGram = p.text(kv, name)
		case "max_tokens":
			c.MaxTokens, _ = p.positive(kv, name)
		case "ignore_case":
			ignoreCase, hasFold = p.boolean(kv, name)
		case "labels":
			labels, hasLabels = p.labels(kv, name)
		case "tolerance":
			tolerance, hasTolerance = p.number(kv, name)
			if hasTolerance && tolerance < 0 {
				p.fail(kv.line, name, "tolerance: want 0 or more, got %s", kv.v.Value)
			}
			hasTolerance = true
		case "contains":
			contains, _ = p.strList(kv, name, true)
			checks = append(checks, kv)
		case "contains_any":
			containsAn, _ = p.strList(kv, name, true)
			checks = append(checks, kv)
		case "exact", "regex", "choice", "json", "number", "judge":
			checks = append(checks, kv)
		default:
			p.fail(kv.line, name, "unknown field %s", p.unknownHint(kv.key, caseFields))
		}
	}
	if len(p.errs) > before {
		return c, false
	}

	// One input.
	switch {
	case hasInput && hasMsgs:
		p.fail(c.Line, name, "has both input and messages: give one")
		return c, false
	case !hasInput && !hasMsgs:
		p.fail(c.Line, name, "no input: give input (a prompt) or messages")
		return c, false
	}
	// One check.
	kind, checkKV := "", pair{}
	var given []string
	for _, kv := range checks {
		k := checkGroup(kv.key)
		if !slices.Contains(given, k) {
			given = append(given, k)
			if kind == "" {
				kind, checkKV = k, kv
			}
		}
	}
	switch len(given) {
	case 0:
		p.fail(c.Line, name, "no check: give one of %s", strings.Join(checkFields, ", "))
		return c, false
	case 1:
	default:
		var names, groups []string
		for _, kv := range checks {
			if g := checkGroup(kv.key); !slices.Contains(groups, g) {
				groups = append(groups, g)
				names = append(names, kv.key)
			}
		}
		line := checks[1].line
		for _, kv := range checks {
			if checkGroup(kv.key) != kind {
				line = kv.line // the first check of another kind
				break
			}
		}
		p.fail(line, name, "has both %s: give one check", andList(names))
		return c, false
	}
	if hasTolerance && kind != CheckNumber {
		p.fail(f["tolerance"].line, name, "tolerance goes with a number check")
		return c, false
	}
	if hasLabels && kind != CheckChoice {
		p.fail(f["labels"].line, name, "labels go with a choice check")
		return c, false
	}
	if hasFold && kind != CheckExact && kind != CheckContains && kind != CheckChoice {
		msg := "ignore_case goes with exact, contains and choice checks"
		if kind == CheckRegex {
			msg += " (for a regex, start it with (?i))"
		}
		p.fail(f["ignore_case"].line, name, "%s", msg)
		return c, false
	}

	// The prompt.
	if !hasSystem {
		system = d.system
		for _, m := range msgs {
			if m.Role == prompts.RoleSystem {
				system = "" // the conversation has its own
			}
		}
	} else if hasMsgs {
		for _, m := range msgs {
			if m.Role == prompts.RoleSystem {
				p.fail(f["system"].line, name, "has both system and a system message: give one")
				return c, false
			}
		}
	}
	size := len(input) + len(system)
	for _, m := range msgs {
		size += len(m.Content)
	}
	if size > MaxCaseBytes {
		p.fail(c.Line, name, "%s %s; a case is limited to %d MiB", textNoun(hasMsgs, system != ""), mibs(int64(size)), MaxCaseBytes>>20)
		return c, false
	}
	vars := d.vars
	if len(caseVars) > 0 {
		p.nodes += len(d.vars) // a copy per case: charged against the budget
		vars = make(map[string]string, len(d.vars)+len(caseVars))
		for k, v := range d.vars {
			vars[k] = v
		}
		for k, v := range caseVars {
			vars[k] = v
		}
	}
	if len(vars) > 0 {
		c.Vars = vars
	}
	sub := func(field, s string, line int, esc func(string) string) (string, bool) {
		out, err := p.substitute(s, vars, esc)
		if err != nil {
			p.fail(line, name, "%s: %v", field, err)
			return "", false
		}
		return out, true
	}
	ok := true
	if hasInput {
		c.Input, ok = sub("input", input, f["input"].line, nil)
	}
	for i := range msgs {
		if !ok {
			break
		}
		msgs[i].Content, ok = sub(fmt.Sprintf("messages[%d]", i+1), msgs[i].Content, f["messages"].line, nil)
	}
	c.Messages = msgs
	if ok {
		line := c.Line
		if hasSystem {
			line = f["system"].line
		}
		c.System, ok = sub("system", system, line, nil)
	}
	if !ok {
		return c, false
	}
	size = len(c.Input) + len(c.System)
	for _, m := range c.Messages {
		size += len(m.Content)
	}
	if size > MaxCaseBytes {
		p.fail(c.Line, name, "with its vars, the case's text is %s; a case is limited to %d MiB", mibs(int64(size)), MaxCaseBytes>>20)
		return c, false
	}
	if c.MaxTokens == 0 {
		c.MaxTokens = d.maxTokens
	}

	// The check.
	ch := Check{Kind: kind}
	if kind == CheckExact || kind == CheckContains || kind == CheckChoice {
		ch.IgnoreCase = d.ignoreCase
		if hasFold {
			ch.IgnoreCase = ignoreCase
		}
	}
	line := checkKV.line
	switch kind {
	case CheckExact:
		w, ok := p.text(checkKV, name)
		if !ok {
			return c, false
		}
		if ch.Want, ok = sub("exact", w, line, nil); !ok {
			return c, false
		}
	case CheckContains:
		for i, s := range contains {
			if contains[i], ok = sub("contains", s, f["contains"].line, nil); !ok {
				return c, false
			}
		}
		for i, s := range containsAn {
			if containsAn[i], ok = sub("contains_any", s, f["contains_any"].line, nil); !ok {
				return c, false
			}
		}
		ch.All, ch.Any = contains, containsAn
	case CheckRegex:
		src, ok := p.text(checkKV, name)
		if !ok {
			return c, false
		}
		if src, ok = sub("regex", src, line, regexp.QuoteMeta); !ok {
			return c, false
		}
		p.charge(len(src))
		re, err := regexp.Compile(src)
		if err != nil {
			p.fail(line, name, "regex: %v", err)
			return c, false
		}
		ch.Pattern = re
	case CheckChoice:
		label, ok := p.text(checkKV, name)
		if !ok {
			return c, false
		}
		if label, ok = sub("choice", label, line, nil); !ok {
			return c, false
		}
		exact, fold := d.labelSet, d.labelFold
		ch.Labels = d.labels
		if hasLabels {
			ch.Labels = labels
			exact, fold = labelMaps(labels)
		}
		if len(ch.Labels) < 2 {
			p.fail(line, name, "choice needs at least 2 labels: give labels in the case or the suite")
			return c, false
		}
		canon, found := exact[label]
		if !found && ch.IgnoreCase {
			canon, found = fold[strings.ToLower(label)]
		}
		if !found {
			p.fail(line, name, "choice: %q is not one of the labels (%s)", clip(label, 40), labelList(ch.Labels))
			return c, false
		}
		ch.Label = canon
	case CheckJSON:
		if !p.jsonCheck(&ch, checkKV, name, n, vars) {
			return c, false
		}
	case CheckNumber:
		if ch.Number, ok = p.number(checkKV, name); !ok {
			return c, false
		}
		ch.Tolerance = tolerance
	case CheckJudge:
		r, ok := p.text(checkKV, name)
		if !ok {
			return c, false
		}
		if strings.TrimSpace(r) == "" {
			p.fail(line, name, "judge: the rubric is empty")
			return c, false
		}
		if ch.Rubric, ok = sub("judge", r, line, nil); !ok {
			return c, false
		}
	}
	c.Check = ch
	if hasGram {
		if ch.Grammar != "" {
			p.fail(f["grammar"].line, name, "has both grammar and json constrain: give one")
			return c, false
		}
		src, err := p.grammarSource(gram)
		if err != nil {
			p.fail(f["grammar"].line, name, "%v", err)
			return c, false
		}
		c.Grammar = src
	}
	return c, true
}

// grammarSource is a case's grammar: GBNF inline (it holds "::="), or a
// file named relative to the suite; it must parse.
func (p *parser) grammarSource(v string) (string, error) {
	src := v
	if !strings.Contains(v, "::=") {
		full := v
		if !filepath.IsAbs(full) {
			base, err := filepath.Abs(p.path)
			if err != nil {
				return "", err
			}
			full = filepath.Join(filepath.Dir(base), v)
		}
		f, err := grammar.GrammarFormat(full)
		if err != nil {
			return "", fmt.Errorf("grammar: %w", err)
		}
		return f.GBNF, nil
	}
	if _, err := grammar.Parse(src); err != nil {
		return "", err
	}
	return src, nil
}

// checkGroup is the check kind a check field gives: contains and
// contains_any are one check.
func checkGroup(key string) string {
	if key == "contains_any" {
		return CheckContains
	}
	return key
}

func textNoun(messages, system bool) string {
	switch {
	case messages && system:
		return "messages and system prompt are"
	case messages:
		return "messages are"
	case system:
		return "input and system prompt are"
	}
	return "input is"
}

func andList(l []string) string {
	if len(l) <= 2 {
		return strings.Join(l, " and ")
	}
	return strings.Join(l[:len(l)-1], ", ") + " and " + l[len(l)-1]
}

func labelList(l []string) string {
	if len(l) > 20 {
		return labelList(l[:20]) + ", …"
	}
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(clip(s, 40))
	}
	return strings.Join(q, ", ")
}

var messageFields = []string{"role", "content"}

// messageList reads messages: [{role, content}, …], the last the user's.
func (p *parser) messageList(kv pair, cs string) ([]prompts.Message, bool) {
	if kv.v.Kind != yaml.SequenceNode || len(kv.v.Content) == 0 {
		p.fail(kv.line, cs, "messages: want a list of {role, content}, got %s", kindName(kv.v))
		return nil, false
	}
	out := make([]prompts.Message, 0, len(kv.v.Content))
	for i, x := range kv.v.Content {
		line := x.Line
		x = p.visit(x)
		where := fmt.Sprintf("messages[%d]", i+1)
		if x.Kind != yaml.MappingNode {
			p.fail(line, cs, "%s: want {role, content}, got %s", where, kindName(x))
			return nil, false
		}
		before := len(p.errs)
		kvs, probs := p.pairs(x, 0)
		for _, pr := range probs {
			p.fail(pr.line, cs, "%s: %s", where, pr.msg)
		}
		var m prompts.Message
		var hasRole, hasContent bool
		for _, f := range kvs {
			switch f.key {
			case "role":
				r, ok := scalarText(f.v)
				switch {
				case !ok:
					p.fail(f.line, cs, "%s: role: want system, user or assistant, got %s", where, kindName(f.v))
				case r != prompts.RoleSystem && r != prompts.RoleUser && r != prompts.RoleAssistant:
					p.fail(f.line, cs, "%s: role %q: want system, user or assistant", where, clip(r, 30))
				default:
					m.Role, hasRole = r, true
				}
			case "content":
				s, ok := scalarText(f.v)
				if !ok {
					p.fail(f.line, cs, "%s: content: want text, got %s", where, kindName(f.v))
				} else if !utf8.ValidString(s) {
					p.fail(f.line, cs, "%s: content: invalid UTF-8", where)
				} else {
					m.Content, hasContent = s, true
				}
			default:
				p.fail(f.line, cs, "%s: unknown field %s", where, p.unknownHint(f.key, messageFields))
			}
		}
		if len(p.errs) > before {
			return nil, false
		}
		if !hasRole || !hasContent {
			missing := "role"
			if hasRole {
				missing = "content"
			}
			p.fail(line, cs, "%s: no %s: want {role, content}", where, missing)
			return nil, false
		}
		if m.Role == prompts.RoleSystem && i > 0 {
			p.fail(line, cs, "%s: a system message must come first", where)
			return nil, false
		}
		out = append(out, m)
	}
	last := out[len(out)-1]
	if last.Role != prompts.RoleUser {
		p.fail(kv.line, cs, "messages: the last message must be the user's, not the %s's", last.Role)
		return nil, false
	}
	if strings.TrimSpace(last.Content) == "" {
		p.fail(kv.line, cs, "messages: the last (user) message is empty")
		return nil, false
	}
	return out, true
}

var jsonFields = []string{"schema", "fields", "constrain"}

// jsonCheck reads json: true or json: {schema, fields}.
func (p *parser) jsonCheck(ch *Check, kv pair, cs string, n int, vars map[string]string) bool {
	v := kv.v
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" {
		if b, _ := strconv.ParseBool(strings.ToLower(v.Value)); b {
			return true
		}
		p.fail(kv.line, cs, "json: false checks nothing; give true or {schema: …, fields: …}")
		return false
	}
	if v.Kind != yaml.MappingNode {
		p.fail(kv.line, cs, "json: want true or a mapping with schema and/or fields, got %s", kindName(v))
		return false
	}
	kvs, probs := p.pairs(v, 0)
	for _, pr := range probs {
		p.fail(pr.line, cs, "json: %s", pr.msg)
	}
	ok := len(probs) == 0
	constrain, constrainLine := false, 0
	var doc any
	for _, f := range kvs {
		switch f.key {
		case "constrain":
			b, err := strconv.ParseBool(strings.ToLower(f.v.Value))
			if f.v.Kind != yaml.ScalarNode || err != nil {
				p.fail(f.line, cs, "json: constrain: want true or false, got %s", kindName(f.v))
				ok = false
				continue
			}
			constrain, constrainLine = b, f.line
		case "schema":
			sch, d, err := p.schema(f.v, n)
			if err != nil {
				p.fail(f.line, cs, "json: schema: %v", err)
				ok = false
				continue
			}
			ch.Schema, doc = sch, d
		case "fields":
			if f.v.Kind != yaml.MappingNode {
				p.fail(f.line, cs, "json: fields: want a mapping of dotted paths (a.b, items.0.name) to values, got %s", kindName(f.v))
				ok = false
				continue
			}
			fkvs, fprobs := p.pairs(f.v, 0)
			for _, pr := range fprobs {
				p.fail(pr.line, cs, "json: fields: %s", pr.msg)
				ok = false
			}
			ch.Fields = make(map[string]any, len(fkvs))
			for _, fk := range fkvs {
				if !dottedPath(fk.key) {
					p.fail(fk.line, cs, "json: fields: %q is not a dotted path (like a.b or items.0.name)", clip(fk.key, 40))
					ok = false
					continue
				}
				val, err := p.toAny(fk.v, false, 0)
				if err != nil {
					p.fail(fk.line, cs, "json: fields: %s: %v", clip(fk.key, 40), err)
					ok = false
					continue
				}
				if s, isStr := val.(string); isStr {
					out, err := p.substitute(s, vars, nil)
					if err != nil {
						p.fail(fk.line, cs, "json: fields: %s: %v", clip(fk.key, 40), err)
						ok = false
						continue
					}
					val = out
				}
				ch.Fields[fk.key] = val
			}
		default:
			p.fail(f.line, cs, "json: unknown field %s", p.unknownHint(f.key, jsonFields))
			ok = false
		}
	}
	if constrain && ok {
		// Generate under the schema's grammar (any JSON object without
		// one), so the case measures content, not the model's JSON syntax.
		f := grammar.JSONFormat()
		if doc != nil {
			raw, err := json.Marshal(doc)
			if err == nil {
				f, err = grammar.SchemaFromJSON("schema", raw)
			}
			if err != nil {
				p.fail(constrainLine, cs, "json: constrain: %v", err)
				return false
			}
		}
		ch.Grammar, ch.GrammarSchema = f.GBNF, f.Schema
	}
	return ok
}

func dottedPath(s string) bool {
	if s == "" {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if strings.TrimSpace(part) == "" {
			return false
		}
	}
	return true
}

// ---- schemas

// schema compiles an inline schema, or the schema file a string names
// (relative to the suite file). Nothing is fetched from the network.
func (p *parser) schema(v *yaml.Node, n int) (*jsonschema.Schema, any, error) {
	base, err := filepath.Abs(p.path)
	if err != nil {
		return nil, nil, err
	}
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
		name := v.Value
		if strings.TrimSpace(name) == "" {
			return nil, nil, errors.New("the file name is empty")
		}
		full := name
		if !filepath.IsAbs(full) {
			full = filepath.Join(filepath.Dir(base), name)
		}
		if sf, ok := p.schemas[full]; ok {
			return sf.schema, sf.doc, sf.err
		}
		sch, doc, err := p.schemaFile(full)
		if err != nil {
			err = fmt.Errorf("%s: %v", name, err)
		}
		p.schemas[full] = schemaFile{sch, doc, err}
		return sch, doc, err
	}
	if v.Kind != yaml.MappingNode && v.ShortTag() != "!!bool" {
		return nil, nil, fmt.Errorf("want a JSON Schema (a mapping) or the name of a schema file, got %s", kindName(v))
	}
	doc, err := p.toAny(v, true, 0)
	if err != nil {
		return nil, nil, err
	}
	// Relative $refs resolve beside the suite file.
	sch, err := compileSchema(fmt.Sprintf("%s.case%d.schema.json", base, n), doc)
	return sch, doc, err
}

func (p *parser) schemaFile(full string) (*jsonschema.Schema, any, error) {
	b, err := readLocal(full)
	if err != nil {
		return nil, nil, err
	}
	var doc any
	switch strings.ToLower(filepath.Ext(full)) {
	case ".yaml", ".yml":
		var n yaml.Node
		if err := yaml.Unmarshal(b, &n); err != nil {
			return nil, nil, err
		}
		if len(n.Content) == 0 {
			return nil, nil, errors.New("the file is empty")
		}
		if doc, err = p.toAny(n.Content[0], true, 0); err != nil {
			return nil, nil, err
		}
	default:
		if doc, err = jsonschema.UnmarshalJSON(bytes.NewReader(b)); err != nil {
			return nil, nil, fmt.Errorf("invalid JSON: %v", err)
		}
	}
	sch, err := compileSchema(full, doc)
	return sch, doc, err
}

// readLocal reads a regular file of at most maxSchemaBytes.
func readLocal(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if st.Size() == 0 {
		// Also keeps away from /proc files, whose size is 0 and some of
		// which block when read.
		return nil, fmt.Errorf("%s is empty", path)
	}
	if st.Size() > maxSchemaBytes {
		return nil, fmt.Errorf("%s is %s; a schema is limited to %d MiB", path, mibs(st.Size()), maxSchemaBytes>>20)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSchemaBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSchemaBytes {
		return nil, fmt.Errorf("%s is larger than %d MiB, the limit of a schema", path, maxSchemaBytes>>20)
	}
	return b, nil
}

func compileSchema(loc string, doc any) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.UseLoader(grammar.LocalLoader{})
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, errors.New(strings.Join(strings.Fields(err.Error()), " "))
	}
	return sch, nil
}

// ---- vars

// substitute replaces {{name}} (spaces allowed inside the braces) with
// vars[name], through esc when set; a name without a var is an error.
// Braces around something that is not a name are left alone. Linear: a
// placeholder is looked for only in a short window after "{{".
func (p *parser) substitute(s string, vars map[string]string, esc func(string) string) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	p.charge(len(s))
	var b strings.Builder
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		after := rest[i+2:]
		window := after
		if len(window) > maxVarName+16 {
			window = window[:maxVarName+16]
		}
		j := strings.Index(window, "}}")
		name := ""
		if j >= 0 {
			name = strings.Trim(window[:j], " \t")
		}
		if !isVarName(name) {
			b.WriteByte('{')
			rest = rest[i+1:]
			continue
		}
		v, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("{{%s}} has no value: add %s to vars", name, name)
		}
		if esc != nil {
			v = esc(v)
		}
		p.charge(len(v))
		if b.Len()+len(v) > MaxCaseBytes {
			return "", fmt.Errorf("with its vars the text is over %d MiB, the limit of a case", MaxCaseBytes>>20)
		}
		b.WriteString(v)
		rest = after[j+2:]
	}
	if b.Len() > MaxCaseBytes {
		return "", fmt.Errorf("with its vars the text is over %d MiB, the limit of a case", MaxCaseBytes>>20)
	}
	return b.String(), nil
}

// ---- small helpers

func mibs(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
