package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Config is the resolved settings: defaults, then the file, then (after
// ApplyEnv) the environment.
type Config struct {
	Path   string // the file read ("" for none)
	Exists bool   // the file was there and read

	values    []Value      // one per Keys entry, same order; nil means all defaults
	endpoints []*Endpoint  // [endpoints.NAME] tables, in file order
	mcp       []*MCPServer // [mcp.NAME] tables, in file order
}

// FileError is any problem with the config file. Unknown parts are zero and
// left out of Error().
type FileError struct {
	Path      string
	Line, Col int
	Key       string // full dotted key ("sampling.temp")
	Msg       string
	Err       error // underlying I/O error, if any

	keyInMsg bool // Msg already names Key (unknown key/section)
}

// Error is "PATH:LINE:COL: KEY: MSG". KEY is left out for unknown keys,
// whose Msg already quotes it (`unknown key "sampling.tmp" ...`).
func (e *FileError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
			if e.Col > 0 {
				b.WriteString(":" + strconv.Itoa(e.Col))
			}
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteString(":" + strconv.Itoa(e.Col))
		}
		b.WriteString(": ")
	}
	if e.Key != "" && !e.keyInMsg {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// Load reads the config file at path. A missing file (or path "") is not an
// error: every key keeps its default and Exists is false. Any other problem
// is a *FileError.
func Load(path string) (*Config, error) {
	c := &Config{Path: path, values: defaults()}
	if path == "" {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error() // the path is already in FileError
		}
		return nil, &FileError{Path: path, Msg: msg, Err: err}
	}
	c.Exists = true
	if err := c.parse(data); err != nil {
		err.Path = path
		return nil, err
	}
	return c, nil
}

func defaults() []Value {
	vs := make([]Value, len(Keys))
	for i := range Keys {
		vs[i] = defaultValue(&Keys[i])
	}
	return vs
}

// parse walks the document with go-toml's parser, which keeps byte offsets,
// so that every error and value gets its line and the full dotted key. It
// then decodes it with go-toml proper, which catches what the walk does not
// check itself (tables defined twice and the like).
func (c *Config) parse(data []byte) *FileError {
	// Editors on Windows like to add a byte-order mark; TOML has no place
	// for it. Cut it without shifting lines.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	// The parser finds offsets by capacity arithmetic; make cap == len.
	data = data[:len(data):len(data)]

	w := &walker{cfg: c, data: data, seen: map[string]int{}}
	w.lines = append(w.lines, 0)
	for i, b := range data {
		if b == '\n' {
			w.lines = append(w.lines, i+1)
		}
	}

	w.p.Reset(data)
	var prefix []string
	for w.p.NextExpression() {
		e := w.p.Expression()
		if e == nil {
			continue
		}
		var ferr *FileError
		switch e.Kind {
		case unstable.Table:
			prefix, ferr = w.table(e)
		case unstable.ArrayTable:
			ferr = w.arrayTable(e)
		case unstable.KeyValue:
			ferr = w.keyValue(prefix, e)
		}
		if ferr != nil {
			return ferr
		}
	}
	if perr := w.p.Error(); perr != nil {
		return w.syntaxError(perr, prefix)
	}
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		return decodeError(err, nil)
	}
	if err := c.checkEndpoints(); err != nil {
		return err
	}
	return c.checkMCP()
}

// syntaxError prefers go-toml's own DecodeError (its position and key); the
// parser's highlight is the fallback should the two ever disagree.
func (w *walker) syntaxError(perr error, prefix []string) *FileError {
	var m map[string]any
	if err := toml.Unmarshal(w.data, &m); err != nil {
		return decodeError(err, prefix)
	}
	fe := &FileError{Msg: perr.Error()}
	var pe *unstable.ParserError
	if errors.As(perr, &pe) {
		off := len(w.data) - cap(pe.Highlight)
		if pe.Highlight == nil || off < 0 || off > len(w.data) {
			off = len(w.data)
		}
		fe.Line, fe.Col = w.pos(off)
	}
	return fe
}

// decodeError converts go-toml's error. Its key is relative to the current
// table for key/value errors, hence the prefix when we know it.
func decodeError(err error, prefix []string) *FileError {
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		return &FileError{Msg: strings.TrimPrefix(err.Error(), "toml: "), Err: err}
	}
	line, col := de.Position()
	fe := &FileError{Line: line, Col: col, Msg: strings.TrimPrefix(de.Error(), "toml: ")}
	if k := de.Key(); len(k) > 0 {
		fe.Key = strings.Join(append(append([]string(nil), prefix...), k...), ".")
	}
	return fe
}

type walker struct {
	cfg   *Config
	p     unstable.Parser
	data  []byte
	lines []int          // offset of each line's first byte
	seen  map[string]int // key name -> line it was set on
}

// pos turns a byte offset into a 1-based line and column (in bytes, as
// go-toml counts).
func (w *walker) pos(off int) (int, int) {
	i := sort.Search(len(w.lines), func(i int) bool { return w.lines[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return i + 1, off - w.lines[i] + 1
}

func (w *walker) nodePos(n *unstable.Node) (int, int) {
	return w.pos(int(n.Raw.Offset))
}

func (w *walker) errAt(n *unstable.Node, key, format string, args ...any) *FileError {
	line, col := w.nodePos(n)
	return &FileError{Line: line, Col: col, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (w *walker) unknown(n *unstable.Node, what, name, hint string) *FileError {
	fe := w.errAt(n, name, "unknown %s %q%s", what, name, hint)
	fe.keyInMsg = true
	return fe
}

// keyParts reads a (possibly dotted) key starting at its first part.
func keyParts(first *unstable.Node) []string {
	var parts []string
	for n := first; n.Valid() && n.Kind == unstable.Key; n = n.Next() {
		parts = append(parts, string(n.Data))
	}
	return parts
}

// known finds the key a path names; a part holding a dot ("a.b" quoted) can
// never match, even though the joined text would.
func known(parts []string) *Key {
	if len(parts) != 2 || strings.Contains(parts[0], ".") || strings.Contains(parts[1], ".") {
		return nil
	}
	k, _ := Lookup(parts[0] + "." + parts[1])
	return k
}

func (w *walker) table(e *unstable.Node) ([]string, *FileError) {
	first := e.Child()
	parts := keyParts(first)
	if len(parts) == 0 {
		return nil, nil
	}
	name := strings.Join(parts, ".")
	if len(parts) == 1 && isSection(parts[0]) {
		return parts, nil
	}
	if parts[0] == "endpoints" {
		if len(parts) == 1 {
			return parts, nil // [endpoints] with inline tables inside
		}
		return w.endpointTable(first, parts)
	}
	if parts[0] == "mcp" {
		if len(parts) == 1 {
			return parts, nil // [mcp] with inline tables inside
		}
		return w.mcpTable(first, parts)
	}
	if k := known(parts); k != nil {
		return nil, w.errAt(first, k.Name, "want %s, got a table", k.typeWant())
	}
	return nil, w.unknown(first, "section", name, suggestSection(name))
}

func (w *walker) arrayTable(e *unstable.Node) *FileError {
	first := e.Child()
	parts := keyParts(first)
	name := strings.Join(parts, ".")
	if len(parts) == 1 && isSection(parts[0]) {
		return w.errAt(first, name, "want a table, got an array of tables")
	}
	if k := known(parts); k != nil {
		return w.errAt(first, k.Name, "want %s, got an array of tables", k.typeWant())
	}
	return w.unknown(first, "section", name, suggestSection(name))
}

func (w *walker) keyValue(prefix []string, kv *unstable.Node) *FileError {
	val := kv.Child()
	if !val.Valid() {
		return nil
	}
	first := val.Next()
	if !first.Valid() {
		return nil
	}
	parts := append(append([]string(nil), prefix...), keyParts(first)...)
	name := strings.Join(parts, ".")
	if parts[0] == "endpoints" {
		return w.endpointValue(parts, val, first)
	}
	if parts[0] == "mcp" {
		return w.mcpValue(parts, val, first)
	}
	if k := known(parts); k != nil {
		line, _ := w.nodePos(first)
		if prev, dup := w.seen[k.Name]; dup {
			return w.errAt(first, k.Name, "set twice (first on line %d)", prev)
		}
		w.seen[k.Name] = line
		return w.setFromNode(k, val, first, line)
	}
	if len(parts) == 1 && isSection(parts[0]) {
		if val.Kind != unstable.InlineTable {
			return w.errAt(first, name, "want a table, got %s", kindName(val.Kind))
		}
		it := val.Children()
		for it.Next() {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				if err := w.keyValue(parts, n); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return w.unknown(first, "key", name, suggestKey(name))
}

func kindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Bool:
		return "a boolean"
	case unstable.Float:
		return "a float"
	case unstable.Integer:
		return "an integer"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	case unstable.LocalDate:
		return "a date"
	case unstable.LocalTime:
		return "a time"
	case unstable.LocalDateTime, unstable.DateTime:
		return "a date-time"
	}
	return "a " + k.String()
}

// setFromNode checks a file value against its key and stores it.
func (w *walker) setFromNode(k *Key, val, keyNode *unstable.Node, line int) *FileError {
	// Arrays carry no byte range of their own; point at the key instead.
	at := val
	if val.Kind == unstable.Array || val.Kind == unstable.InlineTable {
		at = keyNode
	}
	raw := string(w.p.Raw(val.Raw))
	bad := func(problem string) *FileError {
		if strings.HasPrefix(problem, "want ") && raw != "" {
			problem = raw + ": " + problem // show what was written
		}
		return w.errAt(at, k.Name, "%s", problem)
	}
	mismatch := func() *FileError {
		return w.errAt(at, k.Name, "want %s, got %s", k.typeWant(), kindName(val.Kind))
	}

	var text, problem string
	var list []string
	switch k.Type {
	case String:
		if val.Kind != unstable.String {
			return mismatch()
		}
		text, problem = k.checkString(string(val.Data))
	case Int:
		switch val.Kind {
		case unstable.Integer:
			n, err := strconv.ParseInt(raw, 0, 64)
			if err != nil {
				problem = "want " + k.want()
				break
			}
			text, problem = k.checkInt(n)
		case unstable.Float:
			text, problem = k.checkIntFloat(tomlFloat(raw))
		default:
			return mismatch()
		}
	case Float:
		switch val.Kind {
		case unstable.Integer:
			n, err := strconv.ParseInt(raw, 0, 64)
			if err != nil {
				problem = "want " + k.want()
				break
			}
			text, problem = k.checkFloat(float64(n))
		case unstable.Float:
			text, problem = k.checkFloat(tomlFloat(raw))
		default:
			return mismatch()
		}
	case Bool:
		if val.Kind != unstable.Bool {
			return mismatch()
		}
		text = boolText(string(val.Data) == "true")
	case List:
		if val.Kind != unstable.Array {
			return mismatch()
		}
		items := []string{}
		it := val.Children()
		for i := 0; it.Next(); {
			n := it.Node()
			if n.Kind == unstable.Comment {
				continue
			}
			if n.Kind != unstable.String {
				at := keyNode
				if n.Kind != unstable.Array && n.Kind != unstable.InlineTable {
					at = n
				}
				return w.errAt(at, k.Name, "item %d: want a string, got %s", i+1, kindName(n.Kind))
			}
			items = append(items, string(n.Data))
			i++
		}
		text, list, problem = k.checkList(items)
	default:
		problem = "unsupported key type " + k.Type.String()
	}
	if problem != "" {
		return bad(problem)
	}
	i := index[k.Name]
	w.cfg.values[i] = Value{Key: k, Text: text, Source: File, Line: line,
		Origin: w.cfg.Path + ":" + strconv.Itoa(line), list: list}
	return nil
}

// tomlFloat reads a float the parser has already validated: underscores
// are TOML's digit separators, and inf/nan may carry a sign.
func tomlFloat(raw string) float64 {
	s := strings.ReplaceAll(raw, "_", "")
	switch strings.TrimLeft(s, "+-") {
	case "inf":
		if strings.HasPrefix(s, "-") {
			return math.Inf(-1)
		}
		return math.Inf(1)
	case "nan":
		return math.NaN()
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return math.NaN()
	}
	return f // out of range: ±Inf or 0, which the bounds then judge
}
