package jinja

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Statement nodes.
type (
	node interface{}

	textNode   struct{ s string }
	outputNode struct {
		e    expr
		line int
	}
	ifNode struct {
		conds  []expr
		bodies [][]node
		els    []node
	}
	forNode struct {
		recursive bool
		targets   []string
		iter      expr
		cond      expr
		body      []node
		els       []node
		line      int
	}
	setNode struct {
		targets []string // one name, or several for tuple unpacking
		nsAttr  string   // set ns.attr = ...
		e       expr
		line    int
	}
	setBlockNode struct {
		target  string
		nsAttr  string
		filters []*filterExpr
		body    []node
		line    int
	}
	macroNode struct {
		name     string
		params   []string
		defaults []expr // aligned to the end of params
		body     []node
		line     int
	}
	callBlockNode struct {
		call     *callExpr
		params   []string
		defaults []expr
		body     []node
		line     int
	}
	filterBlockNode struct {
		filters []*filterExpr
		body    []node
		line    int
	}
	withNode struct { // {% with %} and {% block %}: a body in its own scope
		names []string
		vals  []expr
		body  []node
		line  int
	}
	breakNode    struct{}
	continueNode struct{}
)

// Expression nodes.
type (
	expr interface{ lineNo() int }

	constExpr struct {
		v    Value
		line int
	}
	nameExpr struct {
		name string
		line int
	}
	attrExpr struct {
		obj  expr
		name string
		line int
	}
	itemExpr struct {
		obj, key expr
		line     int
	}
	sliceExpr struct {
		obj, lo, hi, step expr
		line              int
	}
	callExpr struct {
		fn     expr
		args   []expr
		kwargs []kwarg
		star   expr
		dstar  expr
		line   int
	}
	filterExpr struct {
		x      expr // nil inside filter blocks
		name   string
		args   []expr
		kwargs []kwarg
		line   int
	}
	testExpr struct {
		x      expr
		name   string
		args   []expr
		kwargs []kwarg
		neg    bool
		line   int
	}
	binExpr struct {
		op   string
		l, r expr
		line int
	}
	unaryExpr struct {
		op   string
		x    expr
		line int
	}
	compareExpr struct {
		first expr
		ops   []string
		rest  []expr
		line  int
	}
	condExpr struct {
		test, yes, no expr // no may be nil
		line          int
	}
	listExpr struct {
		items []expr
		tuple bool
		line  int
	}
	dictExpr struct {
		keys, vals []expr
		line       int
	}
	foldExpr struct{ x expr } // a constant subexpression Jinja2 folds at compile time
	kwarg    struct {
		name string
		e    expr
	}
)

func (e *constExpr) lineNo() int   { return e.line }
func (e *nameExpr) lineNo() int    { return e.line }
func (e *attrExpr) lineNo() int    { return e.line }
func (e *itemExpr) lineNo() int    { return e.line }
func (e *sliceExpr) lineNo() int   { return e.line }
func (e *callExpr) lineNo() int    { return e.line }
func (e *filterExpr) lineNo() int  { return e.line }
func (e *testExpr) lineNo() int    { return e.line }
func (e *binExpr) lineNo() int     { return e.line }
func (e *unaryExpr) lineNo() int   { return e.line }
func (e *compareExpr) lineNo() int { return e.line }
func (e *condExpr) lineNo() int    { return e.line }
func (e *listExpr) lineNo() int    { return e.line }
func (e *dictExpr) lineNo() int    { return e.line }
func (e *foldExpr) lineNo() int    { return e.x.lineNo() }

const maxParseDepth = 200

type parser struct {
	name  string
	toks  []token
	pos   int
	depth int
}

func (p *parser) cur() token  { return p.toks[p.pos] }
func (p *parser) peek() token { return p.toks[min(p.pos+1, len(p.toks)-1)] }
func (p *parser) next() token {
	parseWork.Add(1)
	t := p.toks[p.pos]
	if p.pos < len(p.toks)-1 {
		p.pos++
	}
	return t
}

func (p *parser) errf(line int, format string, a ...any) error {
	return &Error{Name: p.name, Line: line, Msg: fmt.Sprintf(format, a...)}
}

func (p *parser) isOp(v string) bool   { t := p.cur(); return t.kind == tOp && t.val == v }
func (p *parser) isName(v string) bool { t := p.cur(); return t.kind == tName && t.val == v }

func (p *parser) expectOp(v string) error {
	if !p.isOp(v) {
		return p.errf(p.cur().line, "expected token '%s', got %s", v, p.cur())
	}
	p.next()
	return nil
}

func (p *parser) expectName() (string, error) {
	t := p.cur()
	if t.kind != tName {
		return "", p.errf(t.line, "expected name, got %s", t)
	}
	p.next()
	return t.val, nil
}

func (p *parser) expectBlockEnd() error {
	if p.cur().kind != tBlockEnd {
		return p.errf(p.cur().line, "expected end of statement block, got %s", p.cur())
	}
	p.next()
	return nil
}

func parse(name string, toks []token) ([]node, error) {
	p := &parser{name: name, toks: toks}
	body, endTag, err := p.subparse(nil)
	if err != nil {
		return nil, err
	}
	if endTag != "" {
		return nil, p.errf(p.cur().line, "unexpected '%s'", endTag)
	}
	return body, nil
}

// subparse parses statements until one of the end tags (returned, with the
// parser positioned after the tag name) or EOF.
func (p *parser) subparse(ends []string) ([]node, string, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxParseDepth {
		return nil, "", p.errf(p.cur().line, "template nested too deeply")
	}
	var body []node
	for {
		t := p.cur()
		switch t.kind {
		case tEOF:
			if len(ends) > 0 {
				return nil, "", p.errf(t.line, "unexpected end of template; expected '%s'", ends[len(ends)-1])
			}
			return body, "", nil
		case tData:
			p.next()
			body = append(body, &textNode{t.val})
		case tVarBegin:
			p.next()
			e, err := p.parseTuple(true, false)
			if err != nil {
				return nil, "", err
			}
			if p.cur().kind != tVarEnd {
				return nil, "", p.errf(p.cur().line, "expected end of print statement, got %s", p.cur())
			}
			p.next()
			body = append(body, &outputNode{e, t.line})
		case tBlockBegin:
			p.next()
			nt := p.cur()
			if nt.kind != tName {
				return nil, "", p.errf(nt.line, "tag name expected")
			}
			for _, e := range ends {
				if nt.val == e {
					p.next()
					return body, e, nil
				}
			}
			n, err := p.statement()
			if err != nil {
				return nil, "", err
			}
			body = append(body, n)
		default:
			return nil, "", p.errf(t.line, "unexpected %s", t)
		}
	}
}

func (p *parser) statement() (node, error) {
	t := p.next()
	switch t.val {
	case "if":
		return p.parseIf()
	case "for":
		return p.parseFor(t.line)
	case "set":
		return p.parseSet(t.line)
	case "macro":
		return p.parseMacro(t.line)
	case "call":
		return p.parseCallBlock(t.line)
	case "filter":
		return p.parseFilterBlock(t.line)
	case "break", "continue":
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		if t.val == "break" {
			return &breakNode{}, nil
		}
		return &continueNode{}, nil
	case "with":
		return p.parseWith(t.line)
	case "block": // without inheritance a block just renders in place
		if _, err := p.expectName(); err != nil {
			return nil, err
		}
		if p.isName("scoped") || p.isName("required") {
			p.next()
		}
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		body, _, err := p.subparse([]string{"endblock"})
		if err != nil {
			return nil, err
		}
		if p.cur().kind == tName {
			p.next()
		}
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		return &withNode{body: body}, nil
	case "generation": // transformers' assistant-mask extension: renders its body
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		body, _, err := p.subparse([]string{"endgeneration"})
		if err != nil {
			return nil, err
		}
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		return &ifNode{conds: []expr{&constExpr{v: true}}, bodies: [][]node{body}}, nil
	}
	return nil, p.errf(t.line, "encountered unknown tag '%s'", t.val)
}

func (p *parser) parseWith(line int) (node, error) {
	n := &withNode{line: line}
	for !p.cur().isBlockEnd() {
		if len(n.names) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
		name, err := p.expectName()
		if err != nil {
			return nil, err
		}
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		e, err := p.parseExpr(true)
		if err != nil {
			return nil, err
		}
		n.names = append(n.names, name)
		n.vals = append(n.vals, e)
	}
	p.next()
	body, _, err := p.subparse([]string{"endwith"})
	if err != nil {
		return nil, err
	}
	n.body = body
	return n, p.expectBlockEnd()
}

func (t token) isBlockEnd() bool { return t.kind == tBlockEnd || t.kind == tEOF }

func (p *parser) parseIf() (node, error) {
	n := &ifNode{}
	for {
		c, err := p.parseTuple(false, false)
		if err != nil {
			return nil, err
		}
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		body, end, err := p.subparse([]string{"elif", "else", "endif"})
		if err != nil {
			return nil, err
		}
		n.conds = append(n.conds, c)
		n.bodies = append(n.bodies, body)
		switch end {
		case "elif":
			continue
		case "else":
			if err := p.expectBlockEnd(); err != nil {
				return nil, err
			}
			n.els, _, err = p.subparse([]string{"endif"})
			if err != nil {
				return nil, err
			}
		}
		return n, p.expectBlockEnd()
	}
}

func (p *parser) parseTargets() ([]string, error) {
	var names []string
	paren := false
	if p.isOp("(") {
		paren = true
		p.next()
	}
	for {
		if p.isOp("(") {
			inner, err := p.parseTargets()
			if err != nil {
				return nil, err
			}
			if len(inner) != 1 {
				return nil, p.errf(p.cur().line, "nested tuple unpacking is not supported")
			}
			names = append(names, inner[0])
		} else {
			n, err := p.expectName()
			if err != nil {
				return nil, err
			}
			names = append(names, n)
		}
		if !p.isOp(",") {
			break
		}
		p.next()
		if paren && p.isOp(")") || p.isName("in") || p.isOp("=") {
			break
		}
	}
	if paren {
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
	}
	return names, nil
}

func (p *parser) parseFor(line int) (node, error) {
	n := &forNode{line: line}
	var err error
	if n.targets, err = p.parseTargets(); err != nil {
		return nil, err
	}
	if !p.isName("in") {
		return nil, p.errf(p.cur().line, "expected 'in', got %s", p.cur())
	}
	p.next()
	if n.iter, err = p.parseTuple(false, true); err != nil {
		return nil, err
	}
	if p.isName("if") {
		p.next()
		if n.cond, err = p.parseExpr(true); err != nil {
			return nil, err
		}
	}
	if p.isName("recursive") {
		p.next()
		n.recursive = true
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	body, end, err := p.subparse([]string{"endfor", "else"})
	if err != nil {
		return nil, err
	}
	n.body = body
	if end == "else" {
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		if n.els, _, err = p.subparse([]string{"endfor"}); err != nil {
			return nil, err
		}
	}
	return n, p.expectBlockEnd()
}

func (p *parser) parseSet(line int) (node, error) {
	first, err := p.expectName()
	if err != nil {
		return nil, err
	}
	nsAttr := ""
	targets := []string{first}
	if p.isOp(".") {
		p.next()
		if nsAttr, err = p.expectName(); err != nil {
			return nil, err
		}
	} else if p.isOp(",") {
		p.next()
		more, err := p.parseTargets()
		if err != nil {
			return nil, err
		}
		targets = append(targets, more...)
	}
	if p.isOp("=") {
		p.next()
		e, err := p.parseTuple(false, false)
		if err != nil {
			return nil, err
		}
		return &setNode{targets: targets, nsAttr: nsAttr, e: e, line: line}, p.expectBlockEnd()
	}
	if len(targets) > 1 {
		return nil, p.errf(p.cur().line, "expected token '=', got %s", p.cur())
	}
	n := &setBlockNode{target: first, nsAttr: nsAttr, line: line}
	for p.isOp("|") {
		p.next()
		f, err := p.parseFilterCall(nil)
		if err != nil {
			return nil, err
		}
		n.filters = append(n.filters, f)
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	if n.body, _, err = p.subparse([]string{"endset"}); err != nil {
		return nil, err
	}
	return n, p.expectBlockEnd()
}

func (p *parser) parseSignature() ([]string, []expr, error) {
	var params []string
	var defaults []expr
	if err := p.expectOp("("); err != nil {
		return nil, nil, err
	}
	for !p.isOp(")") {
		if len(params) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, nil, err
			}
			if p.isOp(")") {
				break
			}
		}
		name, err := p.expectName()
		if err != nil {
			return nil, nil, err
		}
		params = append(params, name)
		if p.isOp("=") {
			p.next()
			d, err := p.parseExpr(true)
			if err != nil {
				return nil, nil, err
			}
			defaults = append(defaults, d)
		} else if len(defaults) > 0 {
			return nil, nil, p.errf(p.cur().line, "non-default argument follows default argument")
		}
	}
	p.next()
	return params, defaults, nil
}

func (p *parser) parseMacro(line int) (node, error) {
	name, err := p.expectName()
	if err != nil {
		return nil, err
	}
	n := &macroNode{name: name, line: line}
	if n.params, n.defaults, err = p.parseSignature(); err != nil {
		return nil, err
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	if n.body, _, err = p.subparse([]string{"endmacro"}); err != nil {
		return nil, err
	}
	if p.cur().kind == tName { // {% endmacro name %}
		p.next()
	}
	return n, p.expectBlockEnd()
}

func (p *parser) parseCallBlock(line int) (node, error) {
	n := &callBlockNode{line: line}
	var err error
	if p.isOp("(") {
		if n.params, n.defaults, err = p.parseSignature(); err != nil {
			return nil, err
		}
	}
	e, err := p.parseExpr(true)
	if err != nil {
		return nil, err
	}
	c, ok := e.(*callExpr)
	if !ok {
		return nil, p.errf(line, "expected call")
	}
	n.call = c
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	if n.body, _, err = p.subparse([]string{"endcall"}); err != nil {
		return nil, err
	}
	return n, p.expectBlockEnd()
}

func (p *parser) parseFilterBlock(line int) (node, error) {
	n := &filterBlockNode{line: line}
	for {
		f, err := p.parseFilterCall(nil)
		if err != nil {
			return nil, err
		}
		n.filters = append(n.filters, f)
		if !p.isOp("|") {
			break
		}
		p.next()
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	var err error
	if n.body, _, err = p.subparse([]string{"endfilter"}); err != nil {
		return nil, err
	}
	return n, p.expectBlockEnd()
}

// parseTuple parses an expression, or a tuple when commas follow.
func (p *parser) parseTuple(withCond, noCondInFirst bool) (expr, error) {
	line := p.cur().line
	var items []expr
	isTuple := false
	for {
		if len(items) > 0 {
			if !p.isOp(",") {
				break
			}
			p.next()
			isTuple = true
		}
		if len(items) > 0 && p.atTupleEnd() {
			break
		}
		e, err := p.parseExpr(!noCondInFirst)
		if err != nil {
			return nil, err
		}
		items = append(items, e)
	}
	if !isTuple {
		return items[0], nil
	}
	return &listExpr{items: items, tuple: true, line: line}, nil
}

func (p *parser) atTupleEnd() bool {
	t := p.cur()
	return t.kind == tVarEnd || t.kind == tBlockEnd || t.kind == tEOF ||
		t.kind == tOp && (t.val == ")" || t.val == "]" || t.val == "}") ||
		t.kind == tName && (t.val == "in" || t.val == "if" || t.val == "recursive")
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxParseDepth {
		return p.errf(p.cur().line, "expression nested too deeply")
	}
	return nil
}

func (p *parser) parseExpr(withCond bool) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if !withCond {
		return p.parseOr()
	}
	line := p.cur().line
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	for p.isName("if") {
		p.next()
		test, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		var no expr
		if p.isName("else") {
			p.next()
			if no, err = p.parseExpr(true); err != nil {
				return nil, err
			}
		}
		e = &condExpr{test: test, yes: e, no: no, line: line}
	}
	return e, nil
}

func (p *parser) parseOr() (expr, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.isName("or") {
		line := p.next().line
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = &binExpr{op: "or", l: l, r: r, line: line}
	}
	return l, nil
}

func (p *parser) parseAnd() (expr, error) {
	l, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.isName("and") {
		line := p.next().line
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		l = &binExpr{op: "and", l: l, r: r, line: line}
	}
	return l, nil
}

func (p *parser) parseNot() (expr, error) {
	if p.isName("not") {
		line := p.next().line
		if err := p.enter(); err != nil {
			return nil, err
		}
		x, err := p.parseNot()
		p.depth--
		if err != nil {
			return nil, err
		}
		return &unaryExpr{op: "not", x: x, line: line}, nil
	}
	return p.parseCompare()
}

func (p *parser) parseCompare() (expr, error) {
	line := p.cur().line
	first, err := p.parseMath1()
	if err != nil {
		return nil, err
	}
	var ops []string
	var rest []expr
	for {
		t := p.cur()
		var op string
		switch {
		case t.kind == tOp && (t.val == "==" || t.val == "!=" || t.val == "<" || t.val == ">" || t.val == "<=" || t.val == ">="):
			op = t.val
			p.next()
		case p.isName("in"):
			op = "in"
			p.next()
		case p.isName("not") && p.peek().kind == tName && p.peek().val == "in":
			op = "notin"
			p.next()
			p.next()
		}
		if op == "" {
			break
		}
		r, err := p.parseMath1()
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
		rest = append(rest, r)
	}
	if len(ops) == 0 {
		return first, nil
	}
	return &compareExpr{first: first, ops: ops, rest: rest, line: line}, nil
}

func (p *parser) binLoop(ops []string, sub func() (expr, error)) (expr, error) {
	l, err := sub()
	if err != nil {
		return nil, err
	}
	for {
		t := p.cur()
		found := ""
		if t.kind == tOp {
			for _, o := range ops {
				if t.val == o {
					found = o
				}
			}
		}
		if found == "" {
			return l, nil
		}
		p.next()
		r, err := sub()
		if err != nil {
			return nil, err
		}
		l = &binExpr{op: found, l: l, r: r, line: t.line}
	}
}

func (p *parser) parseMath1() (expr, error) { return p.binLoop([]string{"+", "-"}, p.parseConcat) }
func (p *parser) parseConcat() (expr, error) {
	return p.binLoop([]string{"~"}, p.parseMath2)
}
func (p *parser) parseMath2() (expr, error) {
	return p.binLoop([]string{"*", "/", "//", "%"}, p.parsePow)
}
func (p *parser) parsePow() (expr, error) { return p.binLoop([]string{"**"}, p.parseUnaryF) }
func (p *parser) parseUnaryF() (expr, error) {
	return p.parseUnary(true)
}

func (p *parser) parseUnary(withFilter bool) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	t := p.cur()
	var e expr
	var err error
	if t.kind == tOp && (t.val == "-" || t.val == "+") {
		p.next()
		x, err := p.parseUnary(false)
		if err != nil {
			return nil, err
		}
		e = &unaryExpr{op: t.val, x: x, line: t.line}
	} else if e, err = p.parsePrimary(); err != nil {
		return nil, err
	}
	if e, err = p.parsePostfix(e); err != nil {
		return nil, err
	}
	if withFilter {
		return p.parseFilterExpr(e)
	}
	return e, nil
}

func (p *parser) parsePrimary() (expr, error) {
	t := p.cur()
	switch t.kind {
	case tName:
		p.next()
		switch t.val {
		case "true", "True":
			return &constExpr{v: true, line: t.line}, nil
		case "false", "False":
			return &constExpr{v: false, line: t.line}, nil
		case "none", "None":
			return &constExpr{v: nil, line: t.line}, nil
		}
		return &nameExpr{name: t.val, line: t.line}, nil
	case tString:
		p.next()
		if p.cur().kind != tString {
			return &constExpr{v: t.val, line: t.line}, nil
		}
		// Adjacent literals concatenate; a builder keeps long runs linear.
		var b strings.Builder
		b.WriteString(t.val)
		for p.cur().kind == tString {
			b.WriteString(p.next().val)
		}
		return &constExpr{v: b.String(), line: t.line}, nil
	case tInt:
		p.next()
		n, err := strconv.ParseInt(t.val, 10, 64)
		if err != nil {
			b, ok := new(big.Int).SetString(t.val, 10)
			if !ok {
				return nil, p.errf(t.line, "bad integer %s", t.val)
			}
			if b.BitLen() > maxIntBits {
				return nil, p.errf(t.line, "integer literal over %d digits", MaxIntDigits)
			}
			return &constExpr{v: b, line: t.line}, nil
		}
		return &constExpr{v: n, line: t.line}, nil
	case tFloat:
		p.next()
		f, err := strconv.ParseFloat(t.val, 64)
		if err != nil && f == 0 {
			return nil, p.errf(t.line, "bad number %s", t.val)
		}
		return &constExpr{v: f, line: t.line}, nil
	case tOp:
		switch t.val {
		case "(":
			p.next()
			if p.isOp(")") {
				p.next()
				return &listExpr{tuple: true, line: t.line}, nil
			}
			e, err := p.parseTuple(true, false)
			if err != nil {
				return nil, err
			}
			return e, p.expectOp(")")
		case "[":
			p.next()
			l := &listExpr{line: t.line}
			for !p.isOp("]") {
				if len(l.items) > 0 {
					if err := p.expectOp(","); err != nil {
						return nil, err
					}
					if p.isOp("]") {
						break
					}
				}
				e, err := p.parseExpr(true)
				if err != nil {
					return nil, err
				}
				l.items = append(l.items, e)
			}
			p.next()
			return l, nil
		case "{":
			p.next()
			d := &dictExpr{line: t.line}
			for !p.isOp("}") {
				if len(d.keys) > 0 {
					if err := p.expectOp(","); err != nil {
						return nil, err
					}
					if p.isOp("}") {
						break
					}
				}
				k, err := p.parseExpr(true)
				if err != nil {
					return nil, err
				}
				if err := p.expectOp(":"); err != nil {
					return nil, err
				}
				v, err := p.parseExpr(true)
				if err != nil {
					return nil, err
				}
				d.keys = append(d.keys, k)
				d.vals = append(d.vals, v)
			}
			p.next()
			return d, nil
		}
	}
	return nil, p.errf(t.line, "unexpected %s", t)
}

func (p *parser) parsePostfix(e expr) (expr, error) {
	for {
		t := p.cur()
		if t.kind != tOp {
			return e, nil
		}
		switch t.val {
		case ".":
			p.next()
			nt := p.next()
			switch nt.kind {
			case tName:
				e = &attrExpr{obj: e, name: nt.val, line: t.line}
			case tInt:
				n, _ := strconv.ParseInt(nt.val, 10, 64)
				e = &itemExpr{obj: e, key: &constExpr{v: n}, line: t.line}
			default:
				return nil, p.errf(t.line, "expected name or number after '.'")
			}
		case "[":
			p.next()
			var err error
			if e, err = p.parseSubscript(e, t.line); err != nil {
				return nil, err
			}
		case "(":
			var err error
			if e, err = p.parseCall(e); err != nil {
				return nil, err
			}
		default:
			return e, nil
		}
	}
}

func (p *parser) parseSubscript(obj expr, line int) (expr, error) {
	var parts [3]expr
	idx := 0
	isSlice := false
	for {
		if p.isOp(":") {
			isSlice = true
			idx++
			if idx > 2 {
				return nil, p.errf(line, "invalid slice")
			}
			p.next()
			continue
		}
		if p.isOp("]") {
			p.next()
			break
		}
		if parts[idx] != nil {
			return nil, p.errf(p.cur().line, "expected ']', got %s", p.cur())
		}
		e, err := p.parseTuple(true, false)
		if err != nil {
			return nil, err
		}
		parts[idx] = e
	}
	if !isSlice {
		if parts[0] == nil { // x[] subscripts with an empty tuple, as in Jinja2
			parts[0] = &listExpr{tuple: true, line: line}
		}
		return &itemExpr{obj: obj, key: parts[0], line: line}, nil
	}
	return &sliceExpr{obj: obj, lo: parts[0], hi: parts[1], step: parts[2], line: line}, nil
}

func (p *parser) parseArgs() (args []expr, kwargs []kwarg, star, dstar expr, err error) {
	if err = p.expectOp("("); err != nil {
		return
	}
	for !p.isOp(")") {
		if len(args)+len(kwargs) > 0 || star != nil || dstar != nil {
			if err = p.expectOp(","); err != nil {
				return
			}
			if p.isOp(")") {
				break
			}
		}
		if p.isOp("*") {
			p.next()
			if star, err = p.parseExpr(true); err != nil {
				return
			}
			continue
		}
		if p.isOp("**") {
			p.next()
			if dstar, err = p.parseExpr(true); err != nil {
				return
			}
			continue
		}
		if p.cur().kind == tName && p.peek().kind == tOp && p.peek().val == "=" {
			name := p.next().val
			p.next()
			var e expr
			if e, err = p.parseExpr(true); err != nil {
				return
			}
			kwargs = append(kwargs, kwarg{name, e})
			continue
		}
		if len(kwargs) > 0 {
			err = p.errf(p.cur().line, "positional argument follows keyword argument")
			return
		}
		var e expr
		if e, err = p.parseExpr(true); err != nil {
			return
		}
		args = append(args, e)
	}
	p.next()
	return
}

func (p *parser) parseCall(fn expr) (expr, error) {
	line := p.cur().line
	args, kwargs, star, dstar, err := p.parseArgs()
	if err != nil {
		return nil, err
	}
	return &callExpr{fn: fn, args: args, kwargs: kwargs, star: star, dstar: dstar, line: line}, nil
}

func (p *parser) parseFilterCall(x expr) (*filterExpr, error) {
	t := p.cur()
	name, err := p.expectName()
	if err != nil {
		return nil, err
	}
	for p.isOp(".") {
		p.next()
		n, err := p.expectName()
		if err != nil {
			return nil, err
		}
		name += "." + n
	}
	f := &filterExpr{x: x, name: name, line: t.line}
	if p.isOp("(") {
		args, kwargs, _, _, err := p.parseArgs()
		if err != nil {
			return nil, err
		}
		f.args, f.kwargs = args, kwargs
	}
	return f, nil
}

func (p *parser) parseFilterExpr(e expr) (expr, error) {
	for {
		if p.isOp("|") {
			p.next()
			f, err := p.parseFilterCall(e)
			if err != nil {
				return nil, err
			}
			e = f
			continue
		}
		if p.isName("is") {
			line := p.next().line
			neg := false
			if p.isName("not") {
				p.next()
				neg = true
			}
			name, err := p.expectName()
			if err != nil {
				return nil, err
			}
			for p.isOp(".") {
				p.next()
				n, err := p.expectName()
				if err != nil {
					return nil, err
				}
				name += "." + n
			}
			te := &testExpr{x: e, name: name, neg: neg, line: line}
			t := p.cur()
			if p.isOp("(") {
				args, kwargs, _, _, err := p.parseArgs()
				if err != nil {
					return nil, err
				}
				te.args, te.kwargs = args, kwargs
			} else if (t.kind == tName && t.val != "else" && t.val != "or" && t.val != "and") ||
				t.kind == tString || t.kind == tInt || t.kind == tFloat ||
				t.kind == tOp && (t.val == "[" || t.val == "{") {
				if t.kind == tName && t.val == "is" {
					return nil, p.errf(t.line, "You cannot chain multiple tests with is")
				}
				arg, err := p.parsePrimary()
				if err != nil {
					return nil, err
				}
				if arg, err = p.parsePostfix(arg); err != nil {
					return nil, err
				}
				te.args = []expr{arg}
			}
			e = te
			continue
		}
		return e, nil
	}
}
