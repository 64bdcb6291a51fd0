package toolcall

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// LFM2 writes calls as a Python list of calls between its markers:
//
//	<|tool_call_start|>[get_weather(city="Paris", days=3)]<|tool_call_end|>
//
// (LFM2.5's template writes strings in single quotes and lists/booleans the
// way Python prints them.) When the system prompt asks for JSON, the same
// markers hold a JSON list of {"name", "arguments"} objects instead.

const (
	lfmOpen  = "<|tool_call_start|>"
	lfmClose = "<|tool_call_end|>"
)

func lfm2Format() *Format {
	return &Format{
		Name:     "lfm2",
		openers:  []string{lfmOpen},
		markers:  []string{lfmOpen},
		parse:    parseLFM2,
		grammarF: lfm2Grammar,
	}
}

func parseLFM2(c *collector, s string) {
	opens, closes := newFinder(s, lfmOpen), newFinder(s, lfmClose)
	pos := 0
	for {
		i := opens.next(pos)
		if i < 0 {
			c.text(s[pos:])
			return
		}
		c.text(s[pos:i])
		bodyStart := i + len(lfmOpen)
		end, next := closes.next(bodyStart), opens.next(bodyStart)
		if end < 0 || (next >= 0 && next < end) {
			stop := len(s)
			if next >= 0 {
				stop = next
			}
			c.fail(s[i:stop], "the call is not closed with "+lfmClose)
			pos = stop
			continue
		}
		raw := s[i : end+len(lfmClose)]
		pos = end + len(lfmClose)
		t := strings.TrimSpace(s[bodyStart:end])
		if strings.HasPrefix(t, "{") || strings.HasPrefix(strings.TrimLeft(strings.TrimPrefix(t, "["), spaces), "{") {
			callsFromJSON(c, raw, []byte(t))
			continue
		}
		p := &pyParser{s: t}
		calls, err := p.callList()
		if err != nil {
			c.fail(raw, "the call is not valid Python call syntax: "+err.Error())
			continue
		}
		for _, pc := range calls {
			r := raw
			if len(calls) > 1 {
				r = pc.raw
			}
			c.call(r, "", pc.name, pc.args)
		}
	}
}

// pyBuiltinCall reads Llama 3.1's built-in tool call after <|python_tag|>,
// e.g. brave_search.call(query="x"); text after it is content.
func pyBuiltinCall(c *collector, s string) {
	p := &pyParser{s: s}
	pc, err := p.call()
	if err != nil {
		c.fail(s, "the call is neither JSON nor a Python call: "+err.Error())
		return
	}
	c.call(pc.raw, "", strings.TrimSuffix(pc.name, ".call"), pc.args)
	c.text(s[p.i:])
}

type pyCall struct{ name, args, raw string }

// pyParser reads the Python literal subset models write in calls and
// turns values into JSON text.
type pyParser struct {
	s     string
	i     int
	depth int
}

const maxDepth = 200 // deeper nesting is hostile input, not a call

var errTooDeep = errors.New("nested too deeply")

func (p *pyParser) ws() {
	for p.i < len(p.s) && strings.IndexByte(spaces, p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *pyParser) errf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *pyParser) expect(b byte) error {
	p.ws()
	if p.peek() != b {
		if p.i >= len(p.s) {
			return p.errf("cut off, expected %q", b)
		}
		return p.errf("expected %q, found %q", b, p.s[p.i])
	}
	p.i++
	return nil
}

// callList reads "[call, call]" or "call, call" filling the whole text.
func (p *pyParser) callList() ([]pyCall, error) {
	p.ws()
	bracket := p.peek() == '['
	if bracket {
		p.i++
	}
	var out []pyCall
	for {
		p.ws()
		if bracket && p.peek() == ']' && len(out) > 0 {
			p.i++
			break
		}
		pc, err := p.call()
		if err != nil {
			return nil, err
		}
		out = append(out, pc)
		p.ws()
		if p.peek() == ',' {
			p.i++
			continue
		}
		if bracket {
			if err := p.expect(']'); err != nil {
				return nil, err
			}
		}
		break
	}
	p.ws()
	if p.i < len(p.s) {
		return nil, p.errf("unexpected text after the calls")
	}
	return out, nil
}

func isIdentByte(b byte, first bool) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= 0x80 || !first && (b >= '0' && b <= '9' || b == '-')
}

func (p *pyParser) ident() string {
	start := p.i
	for p.i < len(p.s) && isIdentByte(p.s[p.i], p.i == start) {
		p.i++
	}
	return p.s[start:p.i]
}

// call reads name(key=value, …); a dotted name is kept whole.
func (p *pyParser) call() (pyCall, error) {
	p.ws()
	start := p.i
	name := p.ident()
	for name != "" && p.peek() == '.' {
		p.i++
		part := p.ident()
		if part == "" {
			return pyCall{}, p.errf("a dotted name ends with '.'")
		}
		name = p.s[start:p.i]
	}
	if name == "" {
		return pyCall{}, p.errf("expected a function name")
	}
	if err := p.expect('('); err != nil {
		return pyCall{}, err
	}
	var b strings.Builder
	b.WriteByte('{')
	for n := 0; ; n++ {
		p.ws()
		if p.peek() == ')' {
			p.i++
			break
		}
		if n > 0 {
			if err := p.expect(','); err != nil {
				return pyCall{}, err
			}
			p.ws()
			if p.peek() == ')' { // trailing comma
				p.i++
				break
			}
		}
		p.ws()
		key := p.ident()
		if key == "" {
			return pyCall{}, p.errf("expected a keyword argument name (positional arguments have no name)")
		}
		if err := p.expect('='); err != nil {
			return pyCall{}, err
		}
		v, err := p.value()
		if err != nil {
			return pyCall{}, err
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonQuote(key))
		b.WriteByte(':')
		b.WriteString(v)
	}
	b.WriteByte('}')
	return pyCall{name: name, args: b.String(), raw: p.s[start:p.i]}, nil
}

// value reads one literal and returns it as JSON text.
func (p *pyParser) value() (string, error) {
	p.ws()
	if p.i >= len(p.s) {
		return "", p.errf("cut off, expected a value")
	}
	switch c := p.s[p.i]; {
	case c == '\'' || c == '"':
		s, err := p.str()
		if err != nil {
			return "", err
		}
		return jsonQuote(s), nil
	case c == '[' || c == '(':
		return p.seq(c)
	case c == '{':
		return p.dict()
	case c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9':
		return p.number()
	}
	switch w := p.ident(); w {
	case "True", "true":
		return "true", nil
	case "False", "false":
		return "false", nil
	case "None", "null":
		return "null", nil
	case "":
		return "", p.errf("unexpected %q", p.s[p.i])
	default:
		return "", p.errf("%q is not a literal", w)
	}
}

func (p *pyParser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return errTooDeep
	}
	return nil
}

func (p *pyParser) seq(open byte) (string, error) {
	if err := p.enter(); err != nil {
		return "", err
	}
	defer func() { p.depth-- }()
	closer := byte(']')
	if open == '(' {
		closer = ')'
	}
	p.i++
	var b strings.Builder
	b.WriteByte('[')
	for n := 0; ; n++ {
		p.ws()
		if p.peek() == closer {
			p.i++
			break
		}
		if n > 0 {
			if err := p.expect(','); err != nil {
				return "", err
			}
			p.ws()
			if p.peek() == closer {
				p.i++
				break
			}
			b.WriteByte(',')
		}
		v, err := p.value()
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	b.WriteByte(']')
	return b.String(), nil
}

func (p *pyParser) dict() (string, error) {
	if err := p.enter(); err != nil {
		return "", err
	}
	defer func() { p.depth-- }()
	p.i++
	var b strings.Builder
	b.WriteByte('{')
	for n := 0; ; n++ {
		p.ws()
		if p.peek() == '}' {
			p.i++
			break
		}
		if n > 0 {
			if err := p.expect(','); err != nil {
				return "", err
			}
			p.ws()
			if p.peek() == '}' {
				p.i++
				break
			}
			b.WriteByte(',')
		}
		p.ws()
		var key string
		switch c := p.peek(); {
		case c == '\'' || c == '"':
			k, err := p.str()
			if err != nil {
				return "", err
			}
			key = k
		default:
			v, err := p.value() // JSON keys are strings; 1: "x" becomes "1"
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(v, "[") || strings.HasPrefix(v, "{") {
				return "", p.errf("a dictionary key must be a string or number")
			}
			key = v
		}
		if err := p.expect(':'); err != nil {
			return "", err
		}
		v, err := p.value()
		if err != nil {
			return "", err
		}
		b.WriteString(jsonQuote(key))
		b.WriteByte(':')
		b.WriteString(v)
	}
	b.WriteByte('}')
	return b.String(), nil
}

// str reads a quoted string with Python's escapes.
func (p *pyParser) str() (string, error) {
	q := p.s[p.i]
	start := p.i
	p.i++
	var b strings.Builder
	for {
		if p.i >= len(p.s) {
			p.i = start
			return "", p.errf("a string is not closed")
		}
		c := p.s[p.i]
		switch {
		case c == q && p.closes(p.i+1):
			p.i++
			return b.String(), nil
		case c != '\\':
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			p.i = start
			return "", p.errf("a string is not closed")
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case '0':
			b.WriteByte(0)
		case '\\', '\'', '"':
			b.WriteByte(e)
		case '\n':
			// a line continuation writes nothing
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if p.i+n > len(p.s) {
				return "", p.errf("a \\%c escape is cut off", e)
			}
			v, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
			if err != nil {
				return "", p.errf("a bad \\%c escape", e)
			}
			b.WriteRune(rune(v)) // out-of-range values become U+FFFD
			p.i += n
		default: // Python keeps unknown escapes as written
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
}

// closes reports whether a quote followed by s[i:] ends its string.
// LFM2.5's template writes strings in quotes without escaping them
// ('it's'), so a quote that is not followed by what may follow a value is
// taken as part of the string.
func (p *pyParser) closes(i int) bool {
	for i < len(p.s) && strings.IndexByte(spaces, p.s[i]) >= 0 {
		i++
	}
	return i == len(p.s) || strings.IndexByte(",)]}:", p.s[i]) >= 0
}

// number reads a Python number and writes it as a JSON number.
func (p *pyParser) number() (string, error) {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c >= '0' && c <= '9' || c == '.' || c == '_' || c == 'e' || c == 'E' ||
			(c == '-' || c == '+') && (p.i == start || p.s[p.i-1] == 'e' || p.s[p.i-1] == 'E') {
			p.i++
			continue
		}
		break
	}
	text := strings.ReplaceAll(p.s[start:p.i], "_", "")
	if t := strings.TrimPrefix(text, "+"); t != "" && isJSONNumber(t) {
		return t, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", fmt.Errorf("at byte %d: %q is not a number", start, p.s[start:p.i])
	}
	return strconv.FormatFloat(f, 'g', -1, 64), nil
}

// isJSONNumber reports whether s is a number in JSON's grammar.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
