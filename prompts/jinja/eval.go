package jinja

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"
)

// Template is a parsed Jinja template, safe for concurrent Render calls.
type Template struct {
	name string
	body []node
}

// Limits bound a render so hostile or broken templates cannot hang or
// exhaust memory. Zero fields take the defaults.
type Limits struct {
	MaxOutput int // bytes of output and of any one string value (default 64 MiB)
	// MaxSteps bounds the work of a render (default 1M, about a second):
	// loop iterations and macro, function and filter calls are a step
	// each, and work on values adds steps too (expressions evaluated, and
	// the size of every string, list or dict an operator, call or write
	// touches; see workUnit), so a template that copies or scans a growing
	// value in a loop, quadratic in its own length, is stopped as a long
	// loop is.
	MaxSteps int
	MaxDepth int // macro call nesting (default 200)
}

// Options configure a render.
type Options struct {
	Limits
	// Now is strftime_now's clock; nil means time.Now.
	Now func() time.Time
}

// Parse compiles template source. name is used in error messages.
func Parse(name, src string) (*Template, error) {
	if !utf8.ValidString(src) {
		src = strings.ToValidUTF8(src, "\uFFFD")
	}
	toks, err := tokenize(name, src)
	if err != nil {
		return nil, err
	}
	body, err := parse(name, toks)
	if err != nil {
		return nil, err
	}
	if err := checkDepth(name, body); err != nil {
		return nil, err
	}
	if err := checkNames(name, body, false); err != nil {
		return nil, err
	}
	foldStatements(body)
	return &Template{name: name, body: body}, nil
}

// Name is the name given to Parse.
func (t *Template) Name() string { return t.name }

type scope struct {
	vars   map[string]Value
	parent *scope
}

func newScope(parent *scope) *scope { return &scope{parent: parent} }

// set binds name in this scope (the map is made on first use: most loop
// iterations only bind the loop variables).
func (s *scope) set(name string, v Value) {
	if s.vars == nil {
		s.vars = make(map[string]Value, 4)
	}
	s.vars[name] = v
}

func (s *scope) lookup(name string) (Value, bool) {
	for c := s; c != nil; c = c.parent {
		if v, ok := c.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

type renderer struct {
	t          *Template
	opts       Options
	globals    map[string]Value
	out        *strings.Builder
	steps      int
	units      int // work not yet counted as a step (< workUnit)
	depth      int // expression nesting
	macroDepth int
	line       int
	// folding: evaluating a constant {{ }} expression, which Jinja2's
	// code generator evaluates at compile time through getitem.
	folding bool
	// tr follows tracked strings into the output (nil: not tracking).
	tr *tracker
}

var (
	errBreak    = errors.New("break outside loop")
	errContinue = errors.New("continue outside loop")
)

// Render executes the template with vars (converted with FromGo).
func (t *Template) Render(vars map[string]any, opts Options) (out string, err error) {
	return t.render(vars, opts, nil)
}

func (t *Template) render(vars map[string]any, opts Options, tr *tracker) (out string, err error) {
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = 64 << 20
	}
	if opts.MaxSteps <= 0 {
		opts.MaxSteps = 1_000_000
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = 200
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &renderer{t: t, opts: opts, out: &strings.Builder{}, globals: map[string]Value{}, tr: tr}
	for k, v := range builtinGlobals(r) {
		r.globals[k] = v
	}
	for k, v := range vars {
		r.globals[k] = FromGo(v)
	}
	defer func() {
		if p := recover(); p != nil { // last line of defence: never crash the caller
			out, err = "", r.errf("internal error: %v", p)
		}
	}()
	if err := r.exec(t.body, newScope(nil)); err != nil {
		if err == errBreak || err == errContinue {
			return "", r.errf("%v", err)
		}
		var te *Error
		if errors.As(err, &te) {
			return "", err
		}
		return "", r.errf("%v", err)
	}
	return r.out.String(), nil
}

func (r *renderer) errf(format string, a ...any) error {
	return &Error{Name: r.t.name, Line: r.line, Msg: fmt.Sprintf(format, a...)}
}

func (r *renderer) at(line int) {
	if line > 0 {
		r.line = line
	}
}

func (r *renderer) step() error {
	r.steps++
	if r.steps > r.opts.MaxSteps {
		return r.errf("template exceeded %d steps", r.opts.MaxSteps)
	}
	return nil
}

// Work units, about a nanosecond each on a laptop core: a step is
// workUnit of them, so the default budget is about a second of work. An
// evaluated expression costs exprUnits; a value touched costs its size: a
// unit per byte of a string, listUnits per list item, dictUnits per dict
// entry, and for a big integer the square of its machine words (its
// products and decimal conversions are quadratic).
const (
	workUnit  = 1 << 10
	exprUnits = 64
	listUnits = 64
	dictUnits = 512
)

// sizeOf is the work units of touching v (copying, scanning, converting).
func sizeOf(v Value) int {
	switch x := v.(type) {
	case string:
		return len(x)
	case Markup:
		return len(x)
	case *List:
		return listUnits * len(x.Items)
	case *Dict:
		return dictUnits * len(x.keys)
	case *big.Int:
		w := len(x.Bits())
		return w * w
	}
	return 0
}

// charge counts units of work against the step budget.
func (r *renderer) charge(units int) error {
	r.units += units
	if r.units < workUnit {
		return nil
	}
	r.steps += r.units / workUnit
	r.units %= workUnit
	if r.steps > r.opts.MaxSteps {
		return r.errf("template exceeded %d steps", r.opts.MaxSteps)
	}
	return nil
}

// chargeValues charges the sizes of a and b (a variadic form would
// allocate on every operator).
func (r *renderer) chargeValues(a, b Value) error {
	return r.charge(sizeOf(a) + sizeOf(b))
}

func (r *renderer) checkSize(n int) error {
	if n > r.opts.MaxOutput {
		return r.errf("template output exceeds %d bytes", r.opts.MaxOutput)
	}
	return nil
}

// maxListLen bounds lists built by + and *, which cost far more memory per
// item than output bytes.
const maxListLen = 1 << 20

func (r *renderer) checkLen(n int) error {
	if n > maxListLen || n > r.opts.MaxOutput {
		return r.errf("list would exceed %d items", min(maxListLen, r.opts.MaxOutput))
	}
	return r.charge(listUnits * n)
}

func (r *renderer) write(s string) error {
	if err := r.checkSize(r.out.Len() + len(s)); err != nil {
		return err
	}
	if err := r.charge(len(s)); err != nil {
		return err
	}
	r.tr.wrote(s, r.out.Len())
	r.out.WriteString(s)
	return nil
}

// capture renders body into a string.
func (r *renderer) capture(body []node, sc *scope) (string, error) {
	return r.captureWith(func() error { return r.exec(body, sc) })
}

// captureWith runs f with the output going to a new string, keeping the
// provenance of what f wrote.
func (r *renderer) captureWith(f func() error) (string, error) {
	saved := r.out
	r.out = &strings.Builder{}
	var savedSpans []Span
	if r.tr != nil {
		savedSpans, r.tr.out = r.tr.out, nil
	}
	err := f()
	s := r.out.String()
	r.out = saved
	if r.tr != nil {
		r.tr.recordSpans(s, r.tr.out)
		r.tr.out = savedSpans
	}
	return s, err
}

func (r *renderer) exec(body []node, sc *scope) error {
	for _, n := range body {
		if err := r.execNode(n, sc); err != nil {
			return err
		}
	}
	return nil
}

func (r *renderer) execNode(n node, sc *scope) error {
	switch n := n.(type) {
	case *textNode:
		return r.write(n.s)
	case *outputNode:
		r.at(n.line)
		r.folding = isConstExpr(n.e)
		v, err := r.eval(n.e, sc)
		r.folding = false
		if err != nil {
			return err
		}
		return r.write(toStr(v))
	case *ifNode:
		for i, c := range n.conds {
			v, err := r.eval(c, sc)
			if err != nil {
				return err
			}
			if truthy(v) {
				return r.exec(n.bodies[i], sc)
			}
		}
		return r.exec(n.els, sc)
	case *forNode:
		return r.execFor(n, sc)
	case *setNode:
		r.at(n.line)
		v, err := r.eval(n.e, sc)
		if err != nil {
			return err
		}
		return r.assign(sc, n.targets, n.nsAttr, v)
	case *setBlockNode:
		r.at(n.line)
		s, err := r.capture(n.body, newScope(sc))
		if err != nil {
			return err
		}
		var v Value = s
		for _, f := range n.filters {
			if v, err = r.applyFilter(f, v, sc); err != nil {
				return err
			}
		}
		return r.assign(sc, []string{n.target}, n.nsAttr, v)
	case *macroNode:
		sc.set(n.name, &macro{name: n.name, params: n.params, defaults: n.defaults, body: n.body, scope: sc})
		return nil
	case *callBlockNode:
		r.at(n.line)
		caller := &macro{name: "caller", params: n.params, defaults: n.defaults, body: n.body, scope: sc}
		c := *n.call
		c.kwargs = append(append([]kwarg{}, c.kwargs...), kwarg{"caller", &constExpr{v: caller}})
		v, err := r.eval(&c, sc)
		if err != nil {
			return err
		}
		return r.write(toStr(v))
	case *filterBlockNode:
		r.at(n.line)
		s, err := r.capture(n.body, sc)
		if err != nil {
			return err
		}
		var v Value = s
		for _, f := range n.filters {
			if v, err = r.applyFilter(f, v, sc); err != nil {
				return err
			}
		}
		return r.write(toStr(v))
	case *withNode:
		r.at(n.line)
		inner := newScope(sc)
		for i, name := range n.names {
			v, err := r.eval(n.vals[i], sc)
			if err != nil {
				return err
			}
			inner.set(name, v)
		}
		return r.exec(n.body, inner)
	case *breakNode:
		return errBreak
	case *continueNode:
		return errContinue
	}
	return r.errf("unknown node %T", n)
}

func (r *renderer) assign(sc *scope, targets []string, nsAttr string, v Value) error {
	if nsAttr != "" {
		obj, ok := sc.lookup(targets[0])
		if !ok {
			obj, ok = r.globals[targets[0]]
		}
		ns, isNS := obj.(*Namespace)
		if !ok || !isNS {
			return r.errf("cannot assign attribute on non-namespace object")
		}
		ns.D.Set(nsAttr, v)
		return nil
	}
	if len(targets) == 1 {
		sc.set(targets[0], v)
		return nil
	}
	items, err := r.iterate(v)
	if err != nil {
		return err
	}
	if len(items) != len(targets) {
		return r.errf("cannot unpack %d values into %d names", len(items), len(targets))
	}
	for i, t := range targets {
		sc.set(t, items[i])
	}
	return nil
}

// loopObj is the "loop" variable inside for loops.
type loopObj struct {
	depth       int                        // recursion depth of a recursive loop
	recurse     func(Value) (Value, error) // loop(...) in a recursive loop
	index       int
	items       []Value
	lastChanged Value // for loop.changed()
	changedSet  bool
}

func (r *renderer) execFor(n *forNode, sc *scope) error {
	r.at(n.line)
	seq, err := r.eval(n.iter, sc)
	if err != nil {
		return err
	}
	return r.runLoop(n, sc, seq, 0)
}

// runLoop runs a for loop over seq; depth counts recursive loop(...) calls.
func (r *renderer) runLoop(n *forNode, sc *scope, seq Value, depth int) error {
	items, err := r.iterate(seq)
	if err != nil {
		return err
	}
	if n.cond != nil {
		var kept []Value
		for _, it := range items {
			isc := newScope(sc)
			if err := r.bindTargets(isc, n.targets, it); err != nil {
				return err
			}
			v, err := r.eval(n.cond, isc)
			if err != nil {
				return err
			}
			if truthy(v) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	if len(items) == 0 {
		return r.exec(n.els, sc)
	}
	lp := &loopObj{items: items, depth: depth}
	if n.recursive {
		lp.recurse = func(v Value) (Value, error) {
			r.macroDepth++
			defer func() { r.macroDepth-- }()
			if r.macroDepth > r.opts.MaxDepth {
				return nil, r.errf("maximum recursion depth exceeded in recursive loop")
			}
			return r.captureWith(func() error { return r.runLoop(n, sc, v, depth+1) })
		}
	}
	for i, it := range items {
		if err := r.step(); err != nil {
			return err
		}
		lp.index = i
		isc := newScope(sc)
		isc.set("loop", lp)
		if err := r.bindTargets(isc, n.targets, it); err != nil {
			return err
		}
		err := r.exec(n.body, isc)
		if err == errBreak {
			break
		}
		if err != nil && err != errContinue {
			return err
		}
	}
	return nil
}

func (r *renderer) bindTargets(sc *scope, targets []string, it Value) error {
	if len(targets) == 1 {
		sc.set(targets[0], it)
		return nil
	}
	parts, err := r.iterate(it)
	if err != nil {
		return err
	}
	if len(parts) != len(targets) {
		if len(parts) > len(targets) {
			return r.errf("too many values to unpack (expected %d)", len(targets))
		}
		return r.errf("not enough values to unpack (expected %d, got %d)", len(targets), len(parts))
	}
	for i, t := range targets {
		sc.set(t, parts[i])
	}
	return nil
}

// iterate lists the items Python's iter() would produce.
func (r *renderer) iterate(v Value) ([]Value, error) {
	v = unmark(v)
	switch x := v.(type) {
	case *List:
		return x.Items, nil
	case *Dict:
		return append([]Value(nil), x.keys...), nil
	case string:
		out := make([]Value, 0, len(x))
		for _, c := range x {
			out = append(out, string(c))
		}
		return out, nil
	case Undefined:
		return nil, nil
	}
	return nil, r.errf("'%s' object is not iterable", typeName(v))
}

func (r *renderer) undefinedErr(u Undefined) error {
	if u.Hint == "" {
		return r.errf("value is undefined")
	}
	return r.errf("%s", u.Hint)
}

func (r *renderer) eval(e expr, sc *scope) (Value, error) {
	r.depth++
	defer func() { r.depth-- }()
	if r.depth > r.opts.MaxDepth*50 {
		return nil, r.errf("expression nested too deeply")
	}
	if r.units += exprUnits; r.units >= workUnit {
		if err := r.charge(0); err != nil {
			return nil, err
		}
	}
	switch e := e.(type) {
	case *constExpr:
		return e.v, nil
	case *nameExpr:
		if v, ok := sc.lookup(e.name); ok {
			return v, nil
		}
		if v, ok := r.globals[e.name]; ok {
			return v, nil
		}
		return Undefined{Hint: fmt.Sprintf("'%s' is undefined", e.name)}, nil
	case *attrExpr:
		obj, err := r.eval(e.obj, sc)
		if err != nil {
			return nil, err
		}
		r.at(e.line)
		return r.getAttr(obj, e.name)
	case *itemExpr:
		obj, err := r.eval(e.obj, sc)
		if err != nil {
			return nil, err
		}
		key, err := r.eval(e.key, sc)
		if err != nil {
			return nil, err
		}
		r.at(e.line)
		return r.getItem(obj, key)
	case *sliceExpr:
		return r.evalSlice(e, sc)
	case *callExpr:
		return r.evalCall(e, sc)
	case *filterExpr:
		v, err := r.eval(e.x, sc)
		if err != nil {
			return nil, err
		}
		return r.applyFilter(e, v, sc)
	case *testExpr:
		return r.evalTest(e, sc)
	case *binExpr:
		l, err := r.eval(e.l, sc)
		if err != nil {
			return nil, err
		}
		switch e.op {
		case "and":
			if !truthy(l) {
				return l, nil
			}
			return r.eval(e.r, sc)
		case "or":
			if truthy(l) {
				return l, nil
			}
			return r.eval(e.r, sc)
		}
		rv, err := r.eval(e.r, sc)
		if err != nil {
			return nil, err
		}
		r.at(e.line)
		return r.binop(e.op, l, rv)
	case *unaryExpr:
		x, err := r.eval(e.x, sc)
		if err != nil {
			return nil, err
		}
		r.at(e.line)
		switch e.op {
		case "not":
			return !truthy(x), nil
		case "-":
			switch v := x.(type) {
			case int64:
				if v == math.MinInt64 {
					return new(big.Int).Neg(big.NewInt(v)), nil
				}
				return -v, nil
			case *big.Int:
				return normInt(new(big.Int).Neg(v)), nil
			case float64:
				return -v, nil
			case bool:
				if v {
					return int64(-1), nil
				}
				return int64(0), nil
			case Undefined:
				return nil, r.undefinedErr(v)
			}
			return nil, r.errf("bad operand type for unary -: '%s'", typeName(x))
		case "+":
			switch v := x.(type) {
			case int64, float64, *big.Int:
				return v, nil
			case bool:
				if v {
					return int64(1), nil
				}
				return int64(0), nil
			case Undefined:
				return nil, r.undefinedErr(v)
			}
			return nil, r.errf("bad operand type for unary +: '%s'", typeName(x))
		}
	case *compareExpr:
		l, err := r.eval(e.first, sc)
		if err != nil {
			return nil, err
		}
		for i, op := range e.ops {
			rv, err := r.eval(e.rest[i], sc)
			if err != nil {
				return nil, err
			}
			r.at(e.line)
			ok, err := r.cmp(op, l, rv)
			if err != nil {
				return nil, err
			}
			if !ok {
				return false, nil
			}
			l = rv
		}
		return true, nil
	case *foldExpr:
		// Jinja2's optimizer evaluates constant expressions at compile
		// time and keeps the result only if it is a plain constant.
		saved := r.folding
		r.folding = true
		v, err := r.eval(e.x, sc)
		r.folding = saved
		if err == nil && (saved || safeConst(v)) {
			return v, nil
		}
		return r.eval(e.x, sc)
	case *condExpr:
		t, err := r.eval(e.test, sc)
		if err != nil {
			return nil, err
		}
		if truthy(t) {
			return r.eval(e.yes, sc)
		}
		if e.no == nil {
			return Undefined{Hint: "the inline if-expression evaluated to false and no else section was defined."}, nil
		}
		return r.eval(e.no, sc)
	case *listExpr:
		l := &List{Tuple: e.tuple, Items: make([]Value, 0, len(e.items))}
		for _, it := range e.items {
			v, err := r.eval(it, sc)
			if err != nil {
				return nil, err
			}
			l.Items = append(l.Items, v)
		}
		return l, nil
	case *dictExpr:
		d := NewDict()
		for i := range e.keys {
			k, err := r.eval(e.keys[i], sc)
			if err != nil {
				return nil, err
			}
			v, err := r.eval(e.vals[i], sc)
			if err != nil {
				return nil, err
			}
			if !hashable(k) {
				return nil, r.errf("unhashable type: '%s'", typeName(k))
			}
			d.Set(k, v)
		}
		return d, nil
	}
	return nil, r.errf("cannot evaluate %T", e)
}

func hashable(v Value) bool {
	switch x := v.(type) {
	case *Dict, *Namespace:
		return false
	case *List:
		if !x.Tuple {
			return false
		}
		for _, it := range x.Items {
			if !hashable(it) {
				return false
			}
		}
	}
	return true
}

func (r *renderer) cmp(op string, l, rv Value) (bool, error) {
	l, rv = unmark(l), unmark(rv)
	if err := r.chargeValues(l, rv); err != nil {
		return false, err
	}
	switch op {
	case "==":
		return equal(l, rv), nil
	case "!=":
		return !equal(l, rv), nil
	case "in", "notin":
		in, err := r.contains(rv, l)
		if err != nil {
			return false, err
		}
		return in == (op == "in"), nil
	}
	if u, ok := l.(Undefined); ok {
		return false, r.undefinedErr(u)
	}
	if u, ok := rv.(Undefined); ok {
		return false, r.undefinedErr(u)
	}
	c, ok := compare(l, rv)
	if !ok {
		return false, r.errf("'%s' not supported between instances of '%s' and '%s'", op, typeName(l), typeName(rv))
	}
	switch op {
	case "<":
		return c < 0, nil
	case ">":
		return c > 0, nil
	case "<=":
		return c <= 0, nil
	case ">=":
		return c >= 0, nil
	}
	return false, r.errf("unknown operator %s", op)
}

// contains is Python's "needle in hay".
func (r *renderer) contains(hay, needle Value) (bool, error) {
	hay, needle = unmark(hay), unmark(needle)
	switch h := hay.(type) {
	case string:
		n, ok := needle.(string)
		if !ok {
			return false, r.errf("'in <string>' requires string as left operand, not %s", typeName(needle))
		}
		return strings.Contains(h, n), nil
	case *List:
		for _, it := range h.Items {
			if equal(it, needle) {
				return true, nil
			}
		}
		return false, nil
	case *Dict:
		if !hashable(needle) {
			return false, r.errf("unhashable type: '%s'", typeName(needle))
		}
		_, ok := h.Get(needle)
		return ok, nil
	case Undefined:
		return false, nil
	case *Namespace:
		return false, r.errf("argument of type 'Namespace' is not iterable")
	}
	return false, r.errf("argument of type '%s' is not iterable", typeName(hay))
}

func (r *renderer) binop(op string, l, rv Value) (Value, error) {
	if err := r.chargeValues(l, rv); err != nil {
		return nil, err
	}
	if op == "~" {
		a, b := toStr(l), toStr(rv)
		s := a + b
		r.tr.record(s, a, b)
		return s, r.checkSize(len(s))
	}
	if s, ok := l.(string); ok && op == "%" {
		return r.percentFormat(s, rv) // an undefined argument acts as an empty mapping
	}
	if u, ok := l.(Undefined); ok {
		return nil, r.undefinedErr(u)
	}
	if u, ok := rv.(Undefined); ok {
		return nil, r.undefinedErr(u)
	}
	if op == "+" {
		lm, lIsM := l.(Markup)
		rm, rIsM := rv.(Markup)
		switch {
		case lIsM && rIsM:
			return lm + rm, nil
		case lIsM:
			if s, ok := rv.(string); ok {
				return lm + Markup(htmlEscape(s)), nil
			}
		case rIsM:
			if s, ok := l.(string); ok {
				return Markup(htmlEscape(s)) + rm, nil
			}
		}
	}
	l, rv = unmark(l), unmark(rv)
	bad := func() (Value, error) {
		return nil, r.errf("unsupported operand type(s) for %s: '%s' and '%s'", op, typeName(l), typeName(rv))
	}
	switch op {
	case "+":
		switch a := l.(type) {
		case string:
			if b, ok := rv.(string); ok {
				if err := r.checkSize(len(a) + len(b)); err != nil {
					return nil, err
				}
				s := a + b
				r.tr.record(s, a, b)
				return s, nil
			}
			return nil, r.errf("can only concatenate str (not \"%s\") to str", typeName(rv))
		case *List:
			if b, ok := rv.(*List); ok && a.Tuple == b.Tuple && !a.Gen && !b.Gen {
				if err := r.checkLen(len(a.Items) + len(b.Items)); err != nil {
					return nil, err
				}
				items := append(append(make([]Value, 0, len(a.Items)+len(b.Items)), a.Items...), b.Items...)
				return &List{Items: items, Tuple: a.Tuple}, nil
			}
			return bad()
		}
	case "*":
		if s, n, ok := seqTimes(l, rv); ok {
			return r.repeat(s, n)
		}
		if s, n, ok := seqTimes(rv, l); ok {
			return r.repeat(s, n)
		}
	case "%":
		if s, ok := l.(string); ok {
			return r.percentFormat(s, rv)
		}
	}
	ai, aInt := intVal(l)
	bi, bInt := intVal(rv)
	af, aNum := num(l)
	bf, bNum := num(rv)
	if !aNum || !bNum {
		return bad()
	}
	if aInt && bInt {
		switch op {
		case "+":
			if s := ai + bi; (s > ai) == (bi > 0) {
				return s, nil
			}
		case "-":
			if s := ai - bi; (s < ai) == (bi > 0) {
				return s, nil
			}
		case "*":
			if ai == 0 || bi == 0 {
				return int64(0), nil
			}
			if p := ai * bi; p/bi == ai && !(ai == -1 && bi == math.MinInt64) && !(bi == -1 && ai == math.MinInt64) {
				return p, nil
			}
		case "%":
			if bi > 0 && ai >= 0 {
				return ai % bi, nil
			}
		case "//":
			if bi > 0 && ai >= 0 {
				return ai / bi, nil
			}
		}
	}
	if isInt(l) && isInt(rv) {
		v, handled, err := r.intArith(op, l, rv)
		if handled || err != nil {
			return v, err
		}
		if op == "/" && toBig(rv).Sign() != 0 {
			// Python divides ints exactly, then rounds once.
			q, _ := new(big.Rat).SetFrac(toBig(l), toBig(rv)).Float64()
			if math.IsInf(q, 0) {
				return nil, r.errf("integer division result too large for a float")
			}
			return q, nil
		}
	}
	if math.IsInf(af, 0) && isBig(l) || math.IsInf(bf, 0) && isBig(rv) {
		return nil, r.errf("int too large to convert to float")
	}
	switch op {
	case "+":
		return af + bf, nil
	case "-":
		return af - bf, nil
	case "*":
		return af * bf, nil
	case "/":
		if bf == 0 {
			return nil, r.errf("division by zero")
		}
		return af / bf, nil
	case "//":
		if bf == 0 {
			return nil, r.errf("float floor division by zero")
		}
		return pyFloorDiv(af, bf), nil
	case "%":
		if bf == 0 {
			return nil, r.errf("float modulo")
		}
		m := math.Mod(af, bf)
		if m != 0 && (m < 0) != (bf < 0) {
			m += bf
		}
		return m, nil
	case "**":
		if af == 0 && bf < 0 {
			return nil, r.errf("0.0 cannot be raised to a negative power")
		}
		if af < 0 && bf != math.Trunc(bf) {
			return nil, r.errf("complex results are not supported")
		}
		return math.Pow(af, bf), nil
	}
	return bad()
}

func intVal(v Value) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func seqTimes(a, b Value) (Value, int64, bool) {
	n, ok := intVal(b)
	if !ok {
		return nil, 0, false
	}
	switch a.(type) {
	case string, *List:
		return a, n, true
	}
	return nil, 0, false
}

func (r *renderer) repeat(s Value, n int64) (Value, error) {
	if n < 0 {
		n = 0
	}
	switch x := s.(type) {
	case string:
		if err := r.checkSize(len(x) * int(min(n, 1<<40))); err != nil {
			return nil, err
		}
		if err := r.charge(len(x) * int(n)); err != nil {
			return nil, err
		}
		return strings.Repeat(x, int(n)), nil
	case *List:
		if err := r.checkLen(len(x.Items) * int(min(n, 1<<40))); err != nil {
			return nil, err
		}
		out := &List{Tuple: x.Tuple}
		for i := int64(0); i < n; i++ {
			out.Items = append(out.Items, x.Items...)
		}
		return out, nil
	}
	return nil, r.errf("cannot repeat")
}

func (r *renderer) evalSlice(e *sliceExpr, sc *scope) (Value, error) {
	obj, err := r.eval(e.obj, sc)
	if err != nil {
		return nil, err
	}
	var bounds [3]*int64
	for i, x := range []expr{e.lo, e.hi, e.step} {
		if x == nil {
			continue
		}
		v, err := r.eval(x, sc)
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		n, ok := intVal(v)
		if !ok {
			return nil, r.errf("slice indices must be integers or None")
		}
		bounds[i] = &n
	}
	r.at(e.line)
	obj = unmark(obj)
	// A string slice works rune by rune: more than a unit per byte.
	if err := r.charge(32 * sizeOf(obj)); err != nil {
		return nil, err
	}
	var n int
	var runes []rune
	switch x := obj.(type) {
	case string:
		runes = []rune(x)
		n = len(runes)
	case *List:
		if x.Gen {
			return nil, r.errf("'generator' object is not subscriptable")
		}
		n = len(x.Items)
	case Undefined:
		return nil, r.undefinedErr(x)
	default:
		// Jinja2 compiles slices to a plain Python subscript (TypeError), but
		// its optimizer folds constant ones through getitem, which yields
		// an undefined value instead.
		if r.folding {
			return Undefined{Hint: fmt.Sprintf("'%s' object is not subscriptable", typeName(obj))}, nil
		}
		return nil, r.errf("'%s' object is not subscriptable", typeName(obj))
	}
	idx, err := sliceIndices(n, bounds)
	if err != nil {
		return nil, r.errf("%v", err)
	}
	switch x := obj.(type) {
	case string:
		var b strings.Builder
		for _, i := range idx {
			b.WriteRune(runes[i])
		}
		return b.String(), nil
	case *List:
		out := &List{Tuple: x.Tuple, Items: make([]Value, 0, len(idx))}
		for _, i := range idx {
			out.Items = append(out.Items, x.Items[i])
		}
		return out, nil
	}
	return nil, nil
}

// sliceIndices implements Python's slice.indices for a sequence of length n.
func sliceIndices(n int, b [3]*int64) ([]int, error) {
	step := int64(1)
	if b[2] != nil {
		step = *b[2]
		if step == 0 {
			return nil, errors.New("slice step cannot be zero")
		}
	}
	ln := int64(n)
	clamp := func(p *int64, def int64) int64 {
		if p == nil {
			return def
		}
		v := *p
		if v < 0 {
			v += ln
			if v < 0 {
				if step < 0 {
					return -1
				}
				return 0
			}
		} else if v >= ln {
			if step < 0 {
				return ln - 1
			}
			return ln
		}
		return v
	}
	var start, stop int64
	if step > 0 {
		start, stop = clamp(b[0], 0), clamp(b[1], ln)
	} else {
		start, stop = clamp(b[0], ln-1), clamp(b[1], -1)
	}
	var out []int
	if step > 0 {
		for i := start; i < stop; i += step {
			out = append(out, int(i))
		}
	} else {
		for i := start; i > stop; i += step {
			out = append(out, int(i))
		}
	}
	return out, nil
}

func (r *renderer) getItem(obj, key Value) (Value, error) {
	obj, key = unmark(obj), unmark(key)
	switch x := obj.(type) {
	case *Dict:
		if hashable(key) {
			if v, ok := x.Get(key); ok {
				return v, nil
			}
		}
	case *List:
		if x.Gen {
			return Undefined{Hint: "'generator' object is not subscriptable"}, nil
		}
		if i, ok := intVal(key); ok {
			if i < 0 {
				i += int64(len(x.Items))
			}
			if i >= 0 && i < int64(len(x.Items)) {
				return x.Items[i], nil
			}
			return Undefined{Hint: fmt.Sprintf("%s object has no element %d", typeName(obj), i)}, nil
		}
	case string:
		if i, ok := intVal(key); ok {
			if err := r.charge(8 * len(x)); err != nil {
				return nil, err
			}
			rs := []rune(x)
			if i < 0 {
				i += int64(len(rs))
			}
			if i >= 0 && i < int64(len(rs)) {
				return string(rs[i]), nil
			}
			return Undefined{Hint: fmt.Sprintf("str object has no element %d", i)}, nil
		}
	case Undefined:
		return nil, r.undefinedErr(x)
	}
	if s, ok := key.(string); ok {
		return r.getAttrOnly(obj, s)
	}
	return Undefined{Hint: fmt.Sprintf("'%s object' has no attribute '%s'", typeName(obj), toStr(key))}, nil
}

func (r *renderer) getAttr(obj Value, name string) (Value, error) {
	return r.getAttrOnly(obj, name)
}

// getAttrOnly resolves Python attributes: methods of builtin types,
// namespace and loop fields, then (for dicts) keys.
func (r *renderer) getAttrOnly(obj Value, name string) (Value, error) {
	missing := func() Value {
		return Undefined{Hint: fmt.Sprintf("'%s object' has no attribute '%s'", typeName(obj), name)}
	}
	switch x := obj.(type) {
	case Undefined:
		return nil, r.undefinedErr(x)
	case *Namespace:
		if v, ok := x.D.Get(name); ok {
			return v, nil
		}
		return missing(), nil
	case *loopObj:
		return x.attr(r, name), nil
	case *Dict:
		if m := dictMethod(r, x, name); m != nil {
			return m, nil
		}
		if v, ok := x.Get(name); ok {
			return v, nil
		}
		return missing(), nil
	case string:
		if m := strMethod(r, x, name); m != nil {
			return m, r.charge(len(x)) // str methods scan or copy the string
		}
	case Markup:
		if m, ok := strMethod(r, string(x), name).(callable); ok {
			if err := r.charge(len(x)); err != nil {
				return nil, err
			}
			return callable(func(r *renderer, a callArgs) (Value, error) {
				v, err := m(r, a)
				switch x := v.(type) {
				case string:
					return Markup(x), err
				case *List: // split, partition, ...: parts stay Markup
					for i, it := range x.Items {
						if s, ok := it.(string); ok {
							x.Items[i] = Markup(s)
						}
					}
				}
				return v, err
			}), nil
		}
	case *List:
		if m := listMethod(r, x, name); m != nil {
			return m, nil
		}
	}
	if unsafeMethod(obj, name) {
		return Undefined{Hint: fmt.Sprintf("access to attribute '%s' of '%s' object is unsafe.", name, typeName(obj))}, nil
	}
	return missing(), nil
}

func unsafeMethod(obj Value, name string) bool {
	switch obj.(type) {
	case *Dict:
		switch name {
		case "clear", "pop", "popitem", "setdefault", "update":
			return true
		}
	case *List:
		switch name {
		case "append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort":
			return true
		}
	}
	return false
}

func (l *loopObj) attr(r *renderer, name string) Value {
	n := len(l.items)
	switch name {
	case "index":
		return int64(l.index + 1)
	case "index0":
		return int64(l.index)
	case "revindex":
		return int64(n - l.index)
	case "revindex0":
		return int64(n - l.index - 1)
	case "first":
		return l.index == 0
	case "last":
		return l.index == n-1
	case "length":
		return int64(n)
	case "depth":
		return int64(l.depth + 1)
	case "depth0":
		return int64(l.depth)
	case "previtem":
		if l.index > 0 {
			return l.items[l.index-1]
		}
		return Undefined{Hint: "there is no previous item"}
	case "nextitem":
		if l.index < n-1 {
			return l.items[l.index+1]
		}
		return Undefined{Hint: "there is no next item"}
	case "changed":
		return callable(func(r *renderer, a callArgs) (Value, error) {
			v := &List{Items: a.pos, Tuple: true}
			if l.changedSet && equal(l.lastChanged, v) {
				return false, nil
			}
			l.lastChanged, l.changedSet = v, true
			return true, nil
		})
	case "cycle":
		return callable(func(r *renderer, a callArgs) (Value, error) {
			if len(a.pos) == 0 {
				return nil, r.errf("no items for cycling given")
			}
			return a.pos[l.index%len(a.pos)], nil
		})
	}
	return Undefined{Hint: fmt.Sprintf("'LoopContext object' has no attribute '%s'", name)}
}

// callable is a builtin function or bound method value.
type callable func(r *renderer, a callArgs) (Value, error)

type callArgs struct {
	pos []Value
	kw  *Dict
}

func (a callArgs) kwarg(name string, pos int, def Value) Value {
	if a.kw != nil {
		if v, ok := a.kw.Get(name); ok {
			return v
		}
	}
	if pos >= 0 && pos < len(a.pos) {
		return a.pos[pos]
	}
	return def
}

type macro struct {
	name     string
	params   []string
	defaults []expr
	body     []node
	scope    *scope
}

func (r *renderer) evalCall(e *callExpr, sc *scope) (Value, error) {
	fn, err := r.eval(e.fn, sc)
	if err != nil {
		return nil, err
	}
	a := callArgs{kw: NewDict()}
	for _, x := range e.args {
		v, err := r.eval(x, sc)
		if err != nil {
			return nil, err
		}
		a.pos = append(a.pos, v)
	}
	if e.star != nil {
		v, err := r.eval(e.star, sc)
		if err != nil {
			return nil, err
		}
		items, err := r.iterate(v)
		if err != nil {
			return nil, err
		}
		a.pos = append(a.pos, items...)
	}
	for _, kw := range e.kwargs {
		v, err := r.eval(kw.e, sc)
		if err != nil {
			return nil, err
		}
		a.kw.Set(kw.name, v)
	}
	if e.dstar != nil {
		v, err := r.eval(e.dstar, sc)
		if err != nil {
			return nil, err
		}
		d, ok := v.(*Dict)
		if !ok {
			return nil, r.errf("argument after ** must be a mapping")
		}
		for _, k := range d.keys {
			a.kw.Set(k, d.vals[dictKey(k)])
		}
	}
	r.at(e.line)
	return r.call(fn, a)
}

func (r *renderer) call(fn Value, a callArgs) (Value, error) {
	if err := r.step(); err != nil {
		return nil, err
	}
	switch f := fn.(type) {
	case callable:
		if err := r.chargeArgs(a); err != nil {
			return nil, err
		}
		v, err := f(r, a)
		if err != nil {
			return v, err
		}
		return v, r.charge(sizeOf(v))
	case *macro:
		return r.callMacro(f, a)
	case Undefined:
		return nil, r.undefinedErr(f)
	case *loopObj:
		if f.recurse == nil {
			return nil, r.errf("Tried to call non recursive loop.  Maybe you forgot the 'recursive' modifier.")
		}
		if len(a.pos) != 1 {
			return nil, r.errf("loop() takes exactly one argument")
		}
		return f.recurse(a.pos[0])
	}
	return nil, r.errf("'%s' object is not callable", typeName(fn))
}

func (r *renderer) callMacro(m *macro, a callArgs) (Value, error) {
	r.macroDepth++
	defer func() { r.macroDepth-- }()
	if r.macroDepth > r.opts.MaxDepth {
		return nil, r.errf("maximum recursion depth exceeded in macro '%s'", m.name)
	}
	sc := newScope(m.scope)
	nDefaults := len(m.defaults)
	firstDefault := len(m.params) - nDefaults
	kw := a.kw.copy()
	for i, p := range m.params {
		if i < len(a.pos) {
			if _, dup := kw.Get(p); dup {
				return nil, r.errf("macro '%s' got multiple values for argument '%s'", m.name, p)
			}
			sc.set(p, a.pos[i])
			continue
		}
		if v, ok := kw.Get(p); ok {
			sc.set(p, v)
			delete(kw.vals, dictKey(p))
			kw.keys = removeKey(kw.keys, p)
			continue
		}
		if i >= firstDefault {
			v, err := r.eval(m.defaults[i-firstDefault], sc)
			if err != nil {
				return nil, err
			}
			sc.set(p, v)
			continue
		}
		sc.set(p, Undefined{Hint: fmt.Sprintf("parameter '%s' was not provided", p)})
	}
	var extra []Value
	if len(a.pos) > len(m.params) {
		extra = a.pos[len(m.params):]
	}
	sc.set("varargs", &List{Items: extra, Tuple: true})
	if c, ok := kw.Get("caller"); ok {
		sc.set("caller", c)
		delete(kw.vals, dictKey("caller"))
		kw.keys = removeKey(kw.keys, "caller")
	}
	sc.set("kwargs", kw)
	s, err := r.capture(m.body, sc)
	if err == errBreak || err == errContinue {
		return nil, r.errf("%v", err)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func removeKey(keys []Value, k string) []Value {
	out := keys[:0:0]
	for _, x := range keys {
		if s, ok := x.(string); ok && s == k {
			continue
		}
		out = append(out, x)
	}
	return out
}

func (r *renderer) evalArgs(args []expr, kwargs []kwarg, sc *scope) (callArgs, error) {
	a := callArgs{kw: NewDict()}
	for _, x := range args {
		v, err := r.eval(x, sc)
		if err != nil {
			return a, err
		}
		a.pos = append(a.pos, v)
	}
	for _, kw := range kwargs {
		v, err := r.eval(kw.e, sc)
		if err != nil {
			return a, err
		}
		a.kw.Set(kw.name, v)
	}
	return a, nil
}

func (r *renderer) applyFilter(f *filterExpr, v Value, sc *scope) (Value, error) {
	a, err := r.evalArgs(f.args, f.kwargs, sc)
	if err != nil {
		return nil, err
	}
	r.at(f.line)
	fn, ok := filters[f.name]
	if !ok {
		return nil, r.errf("No filter named '%s'.", f.name)
	}
	if err := r.step(); err != nil {
		return nil, err
	}
	if n, ok := filterArity[f.name]; ok && len(a.pos) > n {
		return nil, r.errf("filter '%s' takes at most %d arguments, got %d", f.name, n, len(a.pos))
	}
	return r.callFilter(f.name, fn, v, a)
}

// markupFilters keep a Markup input marked, like markupsafe's str methods.
var markupFilters = map[string]bool{"string": true, "trim": true, "upper": true, "lower": true,
	"title": true, "capitalize": true, "replace": true, "center": true, "indent": true, "format": true}

// chargeArgs charges a call's arguments.
func (r *renderer) chargeArgs(a callArgs) error {
	n := 0
	for _, v := range a.pos {
		n += sizeOf(v)
	}
	if a.kw == nil {
		return r.charge(n)
	}
	for _, v := range a.kw.vals {
		n += sizeOf(v)
	}
	return r.charge(n)
}

func (r *renderer) callFilter(name string, fn filterFunc, v Value, a callArgs) (Value, error) {
	if err := r.charge(sizeOf(v)); err != nil {
		return nil, err
	}
	if err := r.chargeArgs(a); err != nil {
		return nil, err
	}
	m, isM := v.(Markup)
	switch name {
	case "safe":
		return Markup(toStr(v)), nil
	case "e", "escape", "forceescape":
		if isM && name != "forceescape" {
			return m, nil
		}
		return Markup(htmlEscape(toStr(v))), nil
	}
	for i, p := range a.pos {
		a.pos[i] = unmark(p)
	}
	res, err := fn(r, unmark(v), a)
	if err == nil {
		err = r.charge(sizeOf(res))
	}
	if s, ok := res.(string); ok && isM && markupFilters[name] {
		return Markup(s), err
	}
	return res, err
}

func (r *renderer) evalTest(e *testExpr, sc *scope) (Value, error) {
	v, err := r.eval(e.x, sc)
	if err != nil {
		return nil, err
	}
	a, err := r.evalArgs(e.args, e.kwargs, sc)
	if err != nil {
		return nil, err
	}
	r.at(e.line)
	fn, ok := tests[e.name]
	if !ok {
		return nil, r.errf("No test named '%s'.", e.name)
	}
	if want := testArity[e.name]; len(a.pos)+a.kw.Len() > want && e.name != "filter" && e.name != "test" {
		return nil, r.errf("test '%s' takes %d arguments, got %d", e.name, want, len(a.pos)+a.kw.Len())
	}
	if e.name == "escaped" {
		_, isM := v.(Markup)
		return isM != e.neg, nil
	}
	res, err := fn(r, unmark(v), a)
	if err != nil {
		return nil, err
	}
	return res != e.neg, nil
}

// checkNames reports unknown filters and tests at parse time, as Jinja2
// does, except inside if blocks where Jinja2 defers the check.
func checkNames(name string, body []node, soft bool) error {
	var walkExpr func(e expr) error
	walkExpr = func(e expr) error {
		parseWork.Add(1)
		if e == nil {
			return nil
		}
		switch e := e.(type) {
		case *attrExpr:
			return walkExpr(e.obj)
		case *itemExpr:
			if err := walkExpr(e.obj); err != nil {
				return err
			}
			return walkExpr(e.key)
		case *sliceExpr:
			for _, x := range []expr{e.obj, e.lo, e.hi, e.step} {
				if err := walkExpr(x); err != nil {
					return err
				}
			}
		case *callExpr:
			for _, x := range append([]expr{e.fn, e.star, e.dstar}, e.args...) {
				if err := walkExpr(x); err != nil {
					return err
				}
			}
			for _, k := range e.kwargs {
				if err := walkExpr(k.e); err != nil {
					return err
				}
			}
		case *filterExpr:
			if _, ok := filters[e.name]; !ok && !soft {
				return &Error{Name: name, Line: e.line, Msg: fmt.Sprintf("No filter named '%s'.", e.name)}
			}
			for _, x := range append([]expr{e.x}, e.args...) {
				if err := walkExpr(x); err != nil {
					return err
				}
			}
		case *testExpr:
			if _, ok := tests[e.name]; !ok && !soft {
				return &Error{Name: name, Line: e.line, Msg: fmt.Sprintf("No test named '%s'.", e.name)}
			}
			for _, x := range append([]expr{e.x}, e.args...) {
				if err := walkExpr(x); err != nil {
					return err
				}
			}
		case *binExpr:
			if err := walkExpr(e.l); err != nil {
				return err
			}
			return walkExpr(e.r)
		case *unaryExpr:
			return walkExpr(e.x)
		case *compareExpr:
			for _, x := range append([]expr{e.first}, e.rest...) {
				if err := walkExpr(x); err != nil {
					return err
				}
			}
		case *condExpr:
			for _, x := range []expr{e.test, e.yes, e.no} {
				if err := walkExpr(x); err != nil {
					return err
				}
			}
		case *listExpr:
			for _, x := range e.items {
				if err := walkExpr(x); err != nil {
					return err
				}
			}
		case *dictExpr:
			for _, x := range append(append([]expr{}, e.keys...), e.vals...) {
				if err := walkExpr(x); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, n := range body {
		var err error
		switch n := n.(type) {
		case *outputNode:
			err = walkExpr(n.e)
		case *ifNode:
			for i, c := range n.conds {
				if err = walkExpr(c); err != nil {
					return err
				}
				if err = checkNames(name, n.bodies[i], true); err != nil {
					return err
				}
			}
			err = checkNames(name, n.els, true)
		case *forNode:
			if err = walkExpr(n.iter); err == nil {
				if err = walkExpr(n.cond); err == nil {
					if err = checkNames(name, n.body, soft); err == nil {
						err = checkNames(name, n.els, soft)
					}
				}
			}
		case *setNode:
			err = walkExpr(n.e)
		case *setBlockNode:
			err = checkNames(name, n.body, soft)
		case *macroNode:
			err = checkNames(name, n.body, soft)
		case *callBlockNode:
			if err = walkExpr(n.call); err == nil {
				err = checkNames(name, n.body, soft)
			}
		case *filterBlockNode:
			err = checkNames(name, n.body, soft)
		case *withNode:
			for _, v := range n.vals {
				if err = walkExpr(v); err != nil {
					return err
				}
			}
			err = checkNames(name, n.body, soft)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// safeConst is Jinja2's has_safe_repr: values the optimizer may inline.
func safeConst(v Value) bool {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, Markup:
		return true
	case *List:
		if x.Gen {
			return false
		}
		for _, it := range x.Items {
			if !safeConst(it) {
				return false
			}
		}
		return true
	case *Dict:
		for _, k := range x.keys {
			if !safeConst(k) || !safeConst(x.vals[dictKey(k)]) {
				return false
			}
		}
		return true
	}
	return false
}

// isConstExpr reports whether Jinja2's optimizer would fold e to a constant.
func isConstExpr(e expr) bool {
	parseWork.Add(1)
	switch x := e.(type) {
	case nil:
		return true
	case *constExpr:
		return true
	case *listExpr:
		for _, it := range x.items {
			if !isConstExpr(it) {
				return false
			}
		}
		return true
	case *dictExpr:
		for i := range x.keys {
			if !isConstExpr(x.keys[i]) || !isConstExpr(x.vals[i]) {
				return false
			}
		}
		return true
	case *unaryExpr:
		return isConstExpr(x.x)
	case *condExpr:
		return isConstExpr(x.test) && isConstExpr(x.yes) && isConstExpr(x.no)
	case *compareExpr:
		if !isConstExpr(x.first) {
			return false
		}
		for _, r := range x.rest {
			if !isConstExpr(r) {
				return false
			}
		}
		return true
	case *binExpr:
		return isConstExpr(x.l) && isConstExpr(x.r)
	case *sliceExpr:
		return isConstExpr(x.obj) && isConstExpr(x.lo) && isConstExpr(x.hi) && isConstExpr(x.step)
	case *itemExpr:
		return isConstExpr(x.obj) && isConstExpr(x.key)
	case *attrExpr:
		return isConstExpr(x.obj)
	case *testExpr:
		for _, a := range x.args {
			if !isConstExpr(a) {
				return false
			}
		}
		return len(x.kwargs) == 0 && isConstExpr(x.x)
	case *filterExpr:
		for _, a := range x.args {
			if !isConstExpr(a) {
				return false
			}
		}
		for _, k := range x.kwargs {
			if !isConstExpr(k.e) {
				return false
			}
		}
		return x.x != nil && isConstExpr(x.x)
	case *foldExpr:
		return true
	}
	return false
}

// hasSlice reports whether e contains a slice, the one place where folding
// changes the result.
func hasSlice(e expr) bool {
	found := false
	walkExprs(e, func(x expr) {
		if _, ok := x.(*sliceExpr); ok {
			found = true
		}
	})
	return found
}

// foldConstants wraps maximal constant subexpressions that contain a slice
// in foldExpr nodes.
func foldConstants(e expr) expr {
	e, c, sl := fold(e)
	if c && sl {
		return &foldExpr{x: e}
	}
	return e
}

// fold is foldConstants in one bottom-up pass: it reports whether e is
// constant (as isConstExpr would) and contains a slice (as hasSlice would),
// and wraps the constant sliced children of non-constant nodes. Asking
// isConstExpr at every level instead re-walks each chain from every link,
// which is quadratic in the length of a.b.c… or a+b+c….
func fold(e expr) (out expr, isConst, slice bool) {
	parseWork.Add(1)
	if e == nil {
		return nil, true, false
	}
	type kid struct {
		p *expr
		c bool
	}
	var kids []kid
	allConst, anySlice := true, false
	// visit folds the child at p and notes whether it is constant and sliced.
	visit := func(p *expr) {
		var c, s bool
		*p, c, s = fold(*p)
		kids = append(kids, kid{p, c && s})
		allConst = allConst && c
		anySlice = anySlice || s
	}
	switch x := e.(type) {
	case *constExpr:
		return e, true, false
	case *foldExpr:
		return e, true, hasSlice(x.x)
	case *attrExpr:
		visit(&x.obj)
	case *itemExpr:
		visit(&x.obj)
		visit(&x.key)
	case *sliceExpr:
		visit(&x.obj)
		visit(&x.lo)
		visit(&x.hi)
		visit(&x.step)
		anySlice = true
	case *callExpr:
		visit(&x.fn)
		visit(&x.star)
		visit(&x.dstar)
		for i := range x.args {
			visit(&x.args[i])
		}
		for i := range x.kwargs {
			visit(&x.kwargs[i].e)
		}
		allConst = false
	case *filterExpr:
		if x.x == nil {
			allConst = false
		} else {
			visit(&x.x)
		}
		for i := range x.args {
			visit(&x.args[i])
		}
		for i := range x.kwargs {
			visit(&x.kwargs[i].e)
		}
	case *testExpr:
		visit(&x.x)
		for i := range x.args {
			visit(&x.args[i])
		}
		if len(x.kwargs) > 0 {
			allConst = false
		}
	case *binExpr:
		visit(&x.l)
		visit(&x.r)
	case *unaryExpr:
		visit(&x.x)
	case *compareExpr:
		visit(&x.first)
		for i := range x.rest {
			visit(&x.rest[i])
		}
	case *condExpr:
		visit(&x.test)
		visit(&x.yes)
		visit(&x.no)
	case *listExpr:
		for i := range x.items {
			visit(&x.items[i])
		}
	case *dictExpr:
		for i := range x.keys {
			visit(&x.keys[i])
			visit(&x.vals[i])
		}
	default: // names and anything else are not constant
		allConst = false
	}
	if allConst {
		return e, true, anySlice
	}
	for _, k := range kids {
		if k.c {
			*k.p = &foldExpr{x: *k.p}
		}
	}
	return e, false, anySlice
}

// walkExprs calls f on e and every subexpression.
func walkExprs(e expr, f func(expr)) {
	parseWork.Add(1)
	if e == nil {
		return
	}
	f(e)
	switch x := e.(type) {
	case *attrExpr:
		walkExprs(x.obj, f)
	case *itemExpr:
		walkExprs(x.obj, f)
		walkExprs(x.key, f)
	case *sliceExpr:
		for _, c := range []expr{x.obj, x.lo, x.hi, x.step} {
			walkExprs(c, f)
		}
	case *callExpr:
		for _, c := range append([]expr{x.fn, x.star, x.dstar}, x.args...) {
			walkExprs(c, f)
		}
		for _, k := range x.kwargs {
			walkExprs(k.e, f)
		}
	case *filterExpr:
		for _, c := range append([]expr{x.x}, x.args...) {
			walkExprs(c, f)
		}
		for _, k := range x.kwargs {
			walkExprs(k.e, f)
		}
	case *testExpr:
		for _, c := range append([]expr{x.x}, x.args...) {
			walkExprs(c, f)
		}
	case *binExpr:
		walkExprs(x.l, f)
		walkExprs(x.r, f)
	case *unaryExpr:
		walkExprs(x.x, f)
	case *compareExpr:
		for _, c := range append([]expr{x.first}, x.rest...) {
			walkExprs(c, f)
		}
	case *condExpr:
		for _, c := range []expr{x.test, x.yes, x.no} {
			walkExprs(c, f)
		}
	case *listExpr:
		for _, c := range x.items {
			walkExprs(c, f)
		}
	case *dictExpr:
		for i := range x.keys {
			walkExprs(x.keys[i], f)
			walkExprs(x.vals[i], f)
		}
	case *foldExpr:
		walkExprs(x.x, f)
	}
}

// foldStatements applies foldConstants to every expression of body.
func foldStatements(body []node) {
	for _, n := range body {
		switch n := n.(type) {
		case *outputNode:
			n.e = foldConstants(n.e)
		case *ifNode:
			for i := range n.conds {
				n.conds[i] = foldConstants(n.conds[i])
				foldStatements(n.bodies[i])
			}
			foldStatements(n.els)
		case *forNode:
			n.iter, n.cond = foldConstants(n.iter), foldConstants(n.cond)
			foldStatements(n.body)
			foldStatements(n.els)
		case *setNode:
			n.e = foldConstants(n.e)
		case *setBlockNode:
			foldStatements(n.body)
		case *macroNode:
			for i := range n.defaults {
				n.defaults[i] = foldConstants(n.defaults[i])
			}
			foldStatements(n.body)
		case *callBlockNode:
			foldStatements(n.body)
		case *filterBlockNode:
			foldStatements(n.body)
		case *withNode:
			for i := range n.vals {
				n.vals[i] = foldConstants(n.vals[i])
			}
			foldStatements(n.body)
		}
	}
}

// pyFloorDiv is CPython's float floor division (exact via fmod, so that
// 1 // 0.1 == 9.0).
func pyFloorDiv(vx, wx float64) float64 {
	mod := math.Mod(vx, wx)
	div := (vx - mod) / wx
	if mod != 0 && (wx < 0) != (mod < 0) {
		div -= 1.0
	}
	if div == 0 {
		return math.Copysign(0, vx/wx)
	}
	fd := math.Floor(div)
	if div-fd > 0.5 {
		fd += 1.0
	}
	return fd
}
