// Package grammar holds natter's output constraints: a parser for
// llama.cpp's GBNF grammar format, a matcher that runs a grammar over bytes
// and over a model's vocabulary (for the Go engine, and to check a grammar
// before llama.cpp sees it: its parser aborts or loops on some inputs), and
// a JSON Schema → GBNF converter.
package grammar

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits that keep a hostile grammar from exhausting memory while it is
// expanded (repetitions become rules).
const (
	maxElements = 1 << 20
	maxRepeat   = 10000
)

type elemKind uint8

const (
	eEnd   elemKind = iota // end of a rule
	eAlt                   // start of the next alternative
	eRef                   // v: rule index
	eClass                 // v: class index; matches one code point
)

type elem struct {
	kind elemKind
	v    int32
}

type runeRange struct{ lo, hi rune }

// class is a character class: a literal char, [a-z…], [^…] or "." (a
// negated class with no ranges).
type class struct {
	neg    bool
	ranges []runeRange
}

func (c *class) match(r rune) bool {
	in := false
	for _, rg := range c.ranges {
		if rg.lo <= r && r <= rg.hi {
			in = true
			break
		}
	}
	return in != c.neg
}

// matchAny reports whether some code point in [lo, hi] matches (a UTF-8
// sequence is half read, so only its range is known).
func (c *class) matchAny(lo, hi rune) bool {
	if !c.neg {
		for _, rg := range c.ranges {
			if rg.lo <= hi && lo <= rg.hi {
				return true
			}
		}
		return false
	}
	// Negated: some r in [lo, hi] lies outside every range. Walk up from lo
	// skipping covered stretches.
	r := lo
	for changed := true; changed && r <= hi; {
		changed = false
		for _, rg := range c.ranges {
			if rg.lo <= r && r <= rg.hi {
				r = rg.hi + 1
				changed = true
			}
		}
	}
	return r <= hi
}

// Grammar is a parsed GBNF grammar. It is immutable; Matchers run it.
type Grammar struct {
	names   []string
	rules   [][]elem // each alternatives separated by eAlt, ending with eEnd
	classes []class
	root    int
}

// Rules returns the number of rules (generated ones for repetitions included).
func (g *Grammar) Rules() int { return len(g.rules) }

// Error is a grammar syntax or structure error at a line and column
// (Line 0 when it concerns the whole grammar).
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return "grammar: " + e.Msg
	}
	return fmt.Sprintf("grammar:%d:%d: %s", e.Line, e.Col, e.Msg)
}

type parser struct {
	src    string
	pos    int
	g      *Grammar
	ids    map[string]int
	used   map[int]int // rule → offset of its first use (for undefined-rule errors)
	def    map[int]bool
	nelems int
}

// Parse reads a grammar in llama.cpp's GBNF format: `name ::= alternatives`
// rules, "literals", [classes], [^negated], ".", groups, and the repetitions
// * + ? {m} {m,} {m,n}; # starts a comment. The rule "root" is where
// matching starts. Token references (<…>, !<…>) are not supported.
func Parse(src string) (*Grammar, error) {
	if !utf8.ValidString(src) {
		return nil, &Error{Msg: "the grammar is not valid UTF-8"}
	}
	p := &parser{src: src, g: &Grammar{}, ids: map[string]int{}, used: map[int]int{}, def: map[int]bool{}}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.g, nil
}

func (p *parser) errAt(off int, format string, args ...any) error {
	line, col := 1, 1
	for i, r := range p.src[:min(off, len(p.src))] {
		_ = i
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &Error{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) id(name string) int {
	if i, ok := p.ids[name]; ok {
		return i
	}
	i := len(p.g.rules)
	p.ids[name] = i
	p.g.names = append(p.g.names, name)
	p.g.rules = append(p.g.rules, nil)
	return i
}

// fresh makes a rule for a repetition, named after the rule it came from.
func (p *parser) fresh(base string) int {
	for n := len(p.g.rules); ; n++ {
		name := base + "_" + strconv.Itoa(n)
		if _, ok := p.ids[name]; !ok {
			i := p.id(name)
			p.def[i] = true
			return i
		}
	}
}

func (p *parser) setRule(i int, body []elem) error {
	p.nelems += len(body)
	if p.nelems > maxElements {
		return &Error{Msg: fmt.Sprintf("the grammar expands to more than %d elements (repetition counts too large?)", maxElements)}
	}
	p.g.rules[i] = body
	return nil
}

func isWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// space skips blanks and comments; newlines only when newlineOK.
func (p *parser) space(newlineOK bool) {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' && p.src[p.pos] != '\r' {
				p.pos++
			}
		case (c == '\n' || c == '\r') && newlineOK:
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) name() string {
	start := p.pos
	for p.pos < len(p.src) && isWordChar(p.src[p.pos]) {
		p.pos++
	}
	return p.src[start:p.pos]
}

func (p *parser) parse() error {
	p.space(true)
	for p.pos < len(p.src) {
		start := p.pos
		name := p.name()
		if name == "" {
			return p.errAt(p.pos, "expected a rule name, found %q", p.peekText())
		}
		p.space(false)
		if !strings.HasPrefix(p.src[p.pos:], "::=") {
			return p.errAt(p.pos, "expected ::= after rule name %q", name)
		}
		p.pos += 3
		p.space(true)
		i := p.id(name)
		if p.def[i] {
			return p.errAt(start, "rule %q is defined twice", name)
		}
		p.def[i] = true
		body, err := p.alternates(name, false)
		if err != nil {
			return err
		}
		if err := p.setRule(i, append(body, elem{kind: eEnd})); err != nil {
			return err
		}
		if p.pos < len(p.src) && p.src[p.pos] != '\n' && p.src[p.pos] != '\r' {
			return p.errAt(p.pos, "expected the end of rule %q, found %q", name, p.peekText())
		}
		p.space(true)
	}
	if len(p.g.rules) == 0 {
		return &Error{Msg: "the grammar is empty"}
	}
	for i, name := range p.g.names {
		if !p.def[i] {
			return p.errAt(p.used[i], "rule %q is used but never defined", name)
		}
	}
	root, ok := p.ids["root"]
	if !ok {
		return &Error{Msg: `the grammar has no "root" rule`}
	}
	p.g.root = root
	return p.g.checkLeftRecursion()
}

func (p *parser) peekText() string {
	rest := p.src[p.pos:]
	if len(rest) > 12 {
		rest = rest[:12] + "…"
	}
	if rest == "" {
		return "the end"
	}
	return rest
}

// alternates parses seq ( "|" seq )* up to the end of the rule (or the ")"
// of a group when nested).
func (p *parser) alternates(rule string, nested bool) ([]elem, error) {
	var out []elem
	for {
		seq, err := p.sequence(rule, nested)
		if err != nil {
			return nil, err
		}
		out = append(out, seq...)
		if p.pos < len(p.src) && p.src[p.pos] == '|' {
			p.pos++
			p.space(true)
			out = append(out, elem{kind: eAlt})
			continue
		}
		return out, nil
	}
}

func (p *parser) sequence(rule string, nested bool) ([]elem, error) {
	var out []elem
	last := -1 // start of the last item, for a repetition after it
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		start := p.pos
		switch {
		case c == '"':
			p.pos++
			last = len(out)
			for {
				if p.pos >= len(p.src) {
					return nil, p.errAt(start, "unterminated literal")
				}
				if p.src[p.pos] == '"' {
					p.pos++
					break
				}
				if p.src[p.pos] == '\n' || p.src[p.pos] == '\r' {
					return nil, p.errAt(start, "unterminated literal (a newline inside quotes; write \\n)")
				}
				r, err := p.char()
				if err != nil {
					return nil, err
				}
				out = append(out, p.classElem(class{ranges: []runeRange{{r, r}}}))
			}
			if p.pos-start == 2 && last == len(out) {
				last = -1 // "" matches nothing; a repetition of it is empty too
			}
		case c == '[':
			p.pos++
			cl := class{}
			if p.pos < len(p.src) && p.src[p.pos] == '^' {
				cl.neg = true
				p.pos++
			}
			for {
				if p.pos >= len(p.src) {
					return nil, p.errAt(start, "unterminated character class")
				}
				if p.src[p.pos] == ']' {
					p.pos++
					break
				}
				lo, err := p.char()
				if err != nil {
					return nil, err
				}
				hi := lo
				if p.pos+1 < len(p.src) && p.src[p.pos] == '-' && p.src[p.pos+1] != ']' {
					p.pos++
					if hi, err = p.char(); err != nil {
						return nil, err
					}
					if hi < lo {
						return nil, p.errAt(start, "character range %q-%q is backwards", lo, hi)
					}
				}
				cl.ranges = append(cl.ranges, runeRange{lo, hi})
			}
			last = len(out)
			out = append(out, p.classElem(cl))
		case c == '.':
			p.pos++
			last = len(out)
			out = append(out, p.classElem(class{neg: true}))
		case isWordChar(c):
			name := p.name()
			i := p.id(name)
			if _, ok := p.used[i]; !ok {
				p.used[i] = start
			}
			last = len(out)
			out = append(out, elem{kind: eRef, v: int32(i)})
		case c == '(':
			p.pos++
			p.space(true)
			body, err := p.alternates(rule, true)
			if err != nil {
				return nil, err
			}
			if p.pos >= len(p.src) || p.src[p.pos] != ')' {
				return nil, p.errAt(start, "unclosed parenthesis")
			}
			p.pos++
			sub := p.fresh(rule)
			if err := p.setRule(sub, append(body, elem{kind: eEnd})); err != nil {
				return nil, err
			}
			last = len(out)
			out = append(out, elem{kind: eRef, v: int32(sub)})
		case c == '*' || c == '+' || c == '?' || c == '{':
			if last < 0 {
				return nil, p.errAt(start, "%q has nothing before it to repeat", c)
			}
			lo, hi, err := p.repetition()
			if err != nil {
				return nil, err
			}
			rep, err := p.repeat(rule, out[last:], lo, hi)
			if err != nil {
				return nil, err
			}
			out = append(out[:last], rep...)
			last = -1 // "a**" is an error, as in llama.cpp
		case c == '<' || c == '!':
			return nil, p.errAt(start, "token references (<…>) are not supported; write the token's text as a literal")
		case c == ')' && nested, c == '|', c == '\n' || c == '\r':
			return out, nil
		default:
			return nil, p.errAt(start, "unexpected %q", p.peekText())
		}
		p.space(nested)
	}
	return out, nil
}

func (p *parser) classElem(c class) elem {
	p.g.classes = append(p.g.classes, c)
	return elem{kind: eClass, v: int32(len(p.g.classes) - 1)}
}

// repetition reads * + ? or {m} {m,} {m,n}; hi < 0 is unbounded.
func (p *parser) repetition() (lo, hi int, err error) {
	start := p.pos
	c := p.src[p.pos]
	p.pos++
	switch c {
	case '*':
		return 0, -1, nil
	case '+':
		return 1, -1, nil
	case '?':
		return 0, 1, nil
	}
	p.space(false)
	num := func() (int, bool) {
		s := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		if s == p.pos {
			return 0, false
		}
		n, err := strconv.Atoi(p.src[s:p.pos])
		if err != nil || n > maxRepeat {
			return maxRepeat + 1, true
		}
		return n, true
	}
	lo, ok := num()
	if !ok {
		return 0, 0, p.errAt(start, "expected a number after {")
	}
	hi = lo
	p.space(false)
	if p.pos < len(p.src) && p.src[p.pos] == ',' {
		p.pos++
		p.space(false)
		if n, ok := num(); ok {
			hi = n
		} else {
			hi = -1
		}
		p.space(false)
	}
	if p.pos >= len(p.src) || p.src[p.pos] != '}' {
		return 0, 0, p.errAt(start, "expected } to close the repetition")
	}
	p.pos++
	if lo > maxRepeat || hi > maxRepeat {
		return 0, 0, p.errAt(start, "repetition counts above %d are not allowed", maxRepeat)
	}
	if hi >= 0 && hi < lo {
		return 0, 0, p.errAt(start, "repetition {%d,%d} has its maximum below its minimum", lo, hi)
	}
	return lo, hi, nil
}

// repeat expands item{lo,hi} into item…item followed by generated rules:
// `r ::= item r |` for an unbounded tail, nested optionals for a bounded one.
func (p *parser) repeat(rule string, item []elem, lo, hi int) ([]elem, error) {
	item = append([]elem(nil), item...)
	var out []elem
	for range lo {
		out = append(out, item...)
		if len(out) > maxElements {
			return nil, &Error{Msg: "a repetition expands past the grammar size limit"}
		}
	}
	switch {
	case hi < 0:
		r := p.fresh(rule)
		body := append(append(append([]elem(nil), item...), elem{kind: eRef, v: int32(r)}), elem{kind: eAlt}, elem{kind: eEnd})
		if err := p.setRule(r, body); err != nil {
			return nil, err
		}
		out = append(out, elem{kind: eRef, v: int32(r)})
	case hi > lo:
		// opt_k ::= item opt_{k-1} | ; built from the innermost out.
		next := -1
		for range hi - lo {
			r := p.fresh(rule)
			body := append([]elem(nil), item...)
			if next >= 0 {
				body = append(body, elem{kind: eRef, v: int32(next)})
			}
			body = append(body, elem{kind: eAlt}, elem{kind: eEnd})
			if err := p.setRule(r, body); err != nil {
				return nil, err
			}
			next = r
		}
		out = append(out, elem{kind: eRef, v: int32(next)})
	}
	return out, nil
}

// char reads one (possibly escaped) character of a literal or class.
func (p *parser) char() (rune, error) {
	start := p.pos
	if p.src[p.pos] != '\\' {
		r, n := utf8.DecodeRuneInString(p.src[p.pos:])
		p.pos += n
		return r, nil
	}
	if p.pos+1 >= len(p.src) {
		return 0, p.errAt(start, "a backslash at the end of the grammar")
	}
	c := p.src[p.pos+1]
	p.pos += 2
	hex := 0
	switch c {
	case 'x':
		hex = 2
	case 'u':
		hex = 4
	case 'U':
		hex = 8
	case 't':
		return '\t', nil
	case 'r':
		return '\r', nil
	case 'n':
		return '\n', nil
	case '\\', '"', '[', ']': // what the llama.cpp natter links knows; \- came later
		return rune(c), nil
	default:
		return 0, p.errAt(start, "unknown escape \\%c", c)
	}
	if p.pos+hex > len(p.src) {
		return 0, p.errAt(start, "escape \\%c needs %d hex digits", c, hex)
	}
	v, err := strconv.ParseUint(p.src[p.pos:p.pos+hex], 16, 32)
	if err != nil {
		return 0, p.errAt(start, "escape \\%c needs %d hex digits", c, hex)
	}
	p.pos += hex
	if v > utf8.MaxRune {
		return 0, p.errAt(start, "escape \\%c names no character", c)
	}
	return rune(v), nil
}

// alternatives splits a rule body into its alternatives.
func alternatives(body []elem) [][]elem {
	var out [][]elem
	start := 0
	for i, e := range body {
		if e.kind == eAlt || e.kind == eEnd {
			out = append(out, body[start:i])
			start = i + 1
		}
	}
	return out
}

// checkLeftRecursion refuses rules that can reach themselves without
// consuming a character: matching them would never end.
func (g *Grammar) checkLeftRecursion() error {
	nullable := make([]bool, len(g.rules))
	for changed := true; changed; {
		changed = false
		for i, body := range g.rules {
			if nullable[i] {
				continue
			}
			for _, alt := range alternatives(body) {
				all := true
				for _, e := range alt {
					if e.kind == eClass || !nullable[e.v] {
						all = false
						break
					}
				}
				if all {
					nullable[i] = true
					changed = true
					break
				}
			}
		}
	}
	// first[i]: rules that rule i can start with.
	first := make([][]int, len(g.rules))
	for i, body := range g.rules {
		for _, alt := range alternatives(body) {
			for _, e := range alt {
				if e.kind == eClass {
					break
				}
				first[i] = append(first[i], int(e.v))
				if !nullable[e.v] {
					break
				}
			}
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(g.rules))
	var visit func(i int, path []int) error
	visit = func(i int, path []int) error {
		color[i] = grey
		path = append(path, i)
		for _, j := range first[i] {
			switch color[j] {
			case grey:
				return &Error{Msg: fmt.Sprintf("rule %q is left-recursive (it can reach itself before matching a character)", g.userName(j))}
			case white:
				if err := visit(j, path); err != nil {
					return err
				}
			}
		}
		color[i] = black
		return nil
	}
	for i := range g.rules {
		if color[i] == white {
			if err := visit(i, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// userName strips the _N suffix of a generated rule.
func (g *Grammar) userName(i int) string {
	n := g.names[i]
	if k := strings.LastIndexByte(n, '_'); k > 0 {
		if _, err := strconv.Atoi(n[k+1:]); err == nil {
			return n[:k]
		}
	}
	return n
}
