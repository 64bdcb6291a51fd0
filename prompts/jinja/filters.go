package jinja

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
)

type filterFunc func(r *renderer, v Value, a callArgs) (Value, error)
type testFunc func(r *renderer, v Value, a callArgs) (bool, error)

var filters map[string]filterFunc
var tests map[string]testFunc

func init() {
	filters = map[string]filterFunc{
		"abs":         fAbs,
		"attr":        fAttr,
		"capitalize":  strFilter(pyCapitalize),
		"center":      fCenter,
		"count":       fLength,
		"d":           fDefault,
		"default":     fDefault,
		"dictsort":    fDictsort,
		"e":           fEscape,
		"escape":      fEscape,
		"first":       fFirst,
		"float":       fFloat,
		"forceescape": fEscape,
		"indent":      fIndent,
		"int":         fInt,
		"items":       fItems,
		"join":        fJoin,
		"last":        fLast,
		"length":      fLength,
		"list":        fList,
		"lower":       strFilter(pyLower),
		"map":         fMap,
		"max":         fMinMax(1),
		"min":         fMinMax(-1),
		"reject":      fSelect(false, false),
		"rejectattr":  fSelect(false, true),
		"replace":     fReplace,
		"reverse":     fReverse,
		"round":       fRound,
		"safe":        func(r *renderer, v Value, a callArgs) (Value, error) { return toStr(v), nil },
		"select":      fSelect(true, false),
		"selectattr":  fSelect(true, true),
		"sort":        fSort,
		"string":      func(r *renderer, v Value, a callArgs) (Value, error) { return toStr(v), nil },
		"sum":         fSum,
		"title":       strFilter(jinjaTitle),
		"tojson":      fToJSON,
		"trim":        fTrim,
		"truncate":    fTruncate,
		"unique":      fUnique,
		"upper":       strFilter(pyUpper),
		"wordcount": func(r *renderer, v Value, a callArgs) (Value, error) {
			// Jinja2 counts matches of \w+.
			return int64(len(strings.FieldsFunc(toStr(v), func(c rune) bool {
				return !(c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c) || unicode.Is(unicode.Mn, c))
			}))), nil
		},
		"batch":  fBatch,
		"format": fFormat,
	}
	tests = map[string]testFunc{
		"defined":   func(r *renderer, v Value, a callArgs) (bool, error) { return !isUndef(v), nil },
		"undefined": func(r *renderer, v Value, a callArgs) (bool, error) { return isUndef(v), nil },
		"none":      func(r *renderer, v Value, a callArgs) (bool, error) { return v == nil, nil },
		"boolean":   func(r *renderer, v Value, a callArgs) (bool, error) { _, ok := v.(bool); return ok, nil },
		"true":      func(r *renderer, v Value, a callArgs) (bool, error) { b, ok := v.(bool); return ok && b, nil },
		"false":     func(r *renderer, v Value, a callArgs) (bool, error) { b, ok := v.(bool); return ok && !b, nil },
		"integer":   func(r *renderer, v Value, a callArgs) (bool, error) { _, b := v.(bool); return isInt(v) && !b, nil },
		"float":     func(r *renderer, v Value, a callArgs) (bool, error) { _, ok := v.(float64); return ok, nil },
		"number":    func(r *renderer, v Value, a callArgs) (bool, error) { _, ok := num(v); return ok, nil },
		"string":    func(r *renderer, v Value, a callArgs) (bool, error) { _, ok := v.(string); return ok, nil },
		"mapping":   func(r *renderer, v Value, a callArgs) (bool, error) { _, ok := v.(*Dict); return ok, nil },
		"iterable": func(r *renderer, v Value, a callArgs) (bool, error) {
			switch v.(type) {
			case string, *List, *Dict, Undefined:
				return true, nil
			}
			return false, nil
		},
		"sequence": func(r *renderer, v Value, a callArgs) (bool, error) {
			if l, ok := v.(*List); ok && l.Gen {
				return false, nil
			}
			switch v.(type) {
			case string, *List, *Dict, Undefined:
				return true, nil
			}
			return false, nil
		},
		"callable": func(r *renderer, v Value, a callArgs) (bool, error) {
			switch v.(type) {
			case callable, *macro, Undefined, *loopObj: // Undefined and LoopContext define __call__
				return true, nil
			}
			return false, nil
		},
		"odd":         intTest(func(n int64) bool { return n%2 != 0 }),
		"even":        intTest(func(n int64) bool { return n%2 == 0 }),
		"divisibleby": tDivisible,
		"sameas": func(r *renderer, v Value, a callArgs) (bool, error) {
			o := a.kwarg("other", 0, nil)
			switch v.(type) {
			case nil, bool:
				return v == o, nil
			}
			return equal(v, o) && typeName(v) == typeName(o), nil
		},
		"escaped": func(r *renderer, v Value, a callArgs) (bool, error) { return false, nil }, // see evalTest
		"lower": func(r *renderer, v Value, a callArgs) (bool, error) {
			s := toStr(v)
			return pyLower(s) == s && hasCased(s), nil
		},
		"upper": func(r *renderer, v Value, a callArgs) (bool, error) {
			s := toStr(v)
			return pyUpper(s) == s && hasCased(s), nil
		},
		"in": func(r *renderer, v Value, a callArgs) (bool, error) {
			return r.contains(a.kwarg("seq", 0, nil), v)
		},
		"filter": func(r *renderer, v Value, a callArgs) (bool, error) { _, ok := filters[toStr(v)]; return ok, nil },
		"test":   func(r *renderer, v Value, a callArgs) (bool, error) { _, ok := tests[toStr(v)]; return ok, nil },
	}
	for _, names := range [][]string{{"eq", "equalto", "=="}, {"ne", "!="}, {"lt", "lessthan", "<"}, {"le", "<="}, {"gt", "greaterthan", ">"}, {"ge", ">="}} {
		op := names[len(names)-1]
		if op == "eq" {
			op = "=="
		}
		for _, n := range names {
			tests[n] = cmpTest(op)
		}
	}
}

// filterArity is the most positional arguments each filter takes (after
// the value), as in Jinja2's signatures; absent means any number.
var filterArity = map[string]int{"abs": 0, "attr": 1, "capitalize": 0, "center": 1, "count": 0, "d": 2, "default": 2,
	"dictsort": 3, "e": 0, "escape": 0, "forceescape": 0, "first": 0, "float": 1, "indent": 3, "int": 2, "items": 0,
	"join": 2, "last": 0, "length": 0, "list": 0, "lower": 0, "max": 2, "min": 2, "replace": 3, "reverse": 0,
	"round": 2, "safe": 0, "sort": 3, "string": 0, "sum": 2, "title": 0, "tojson": 4, "trim": 1, "truncate": 4,
	"unique": 2, "upper": 0, "wordcount": 0, "batch": 2}

// testArity is the number of arguments each test takes besides the value.
var testArity = map[string]int{"divisibleby": 1, "sameas": 1, "in": 1, "filter": 0, "test": 0,
	"eq": 1, "equalto": 1, "==": 1, "ne": 1, "!=": 1, "lt": 1, "lessthan": 1, "<": 1, "le": 1, "<=": 1,
	"gt": 1, "greaterthan": 1, ">": 1, "ge": 1, ">=": 1}

func cmpTest(op string) testFunc {
	return func(r *renderer, v Value, a callArgs) (bool, error) {
		return r.cmp(op, v, a.kwarg("other", 0, nil))
	}
}

func intTest(f func(int64) bool) testFunc {
	return func(r *renderer, v Value, a callArgs) (bool, error) {
		n, ok := intVal(v)
		if !ok {
			if fl, ok := v.(float64); ok {
				return fl == math.Trunc(fl) && f(int64(fl)), nil
			}
			return false, r.errf("unsupported operand type for odd/even: '%s'", typeName(v))
		}
		return f(n), nil
	}
}

func tDivisible(r *renderer, v Value, a callArgs) (bool, error) {
	m, err := r.binop("%", v, a.kwarg("num", 0, nil))
	if err != nil {
		return false, err
	}
	return equal(m, int64(0)), nil
}

func hasCased(s string) bool {
	for _, c := range s {
		if unicode.IsUpper(c) || unicode.IsLower(c) || unicode.IsTitle(c) {
			return true
		}
	}
	return false
}

func strFilter(f func(string) string) filterFunc {
	return func(r *renderer, v Value, a callArgs) (Value, error) { return f(toStr(v)), nil }
}

func fAbs(r *renderer, v Value, a callArgs) (Value, error) {
	switch x := v.(type) {
	case int64:
		if x == math.MinInt64 {
			return new(big.Int).Neg(big.NewInt(x)), nil
		}
		if x < 0 {
			return -x, nil
		}
		return x, nil
	case *big.Int:
		return normInt(new(big.Int).Abs(x)), nil
	case float64:
		return math.Abs(x), nil
	case bool:
		n, _ := intVal(x)
		return n, nil
	}
	return nil, r.errf("bad operand type for abs(): '%s'", typeName(v))
}

func fAttr(r *renderer, v Value, a callArgs) (Value, error) {
	return r.getAttrOnly(v, toStr(a.kwarg("name", 0, "")))
}

func fCenter(r *renderer, v Value, a callArgs) (Value, error) {
	w, _ := intVal(a.kwarg("width", 0, int64(80)))
	if err := r.checkSize(int(min(max(w, 0), 1<<40))); err != nil {
		return nil, err
	}
	return pyCenter(toStr(v), int(w), " "), nil
}

func fLength(r *renderer, v Value, a callArgs) (Value, error) {
	switch x := v.(type) {
	case string:
		return int64(len([]rune(x))), nil
	case *List:
		if x.Gen {
			return nil, r.errf("object of type 'generator' has no len()")
		}
		return int64(len(x.Items)), nil
	case *Dict:
		return int64(x.Len()), nil
	case *Namespace:
		return nil, r.errf("object of type 'Namespace' has no len()")
	case Undefined:
		return int64(0), nil
	}
	return nil, r.errf("object of type '%s' has no len()", typeName(v))
}

func fDefault(r *renderer, v Value, a callArgs) (Value, error) {
	def := a.kwarg("default_value", 0, "")
	boolean := truthy(a.kwarg("boolean", 1, false))
	if isUndef(v) || boolean && !truthy(v) {
		return def, nil
	}
	return v, nil
}

func fDictsort(r *renderer, v Value, a callArgs) (Value, error) {
	d, ok := v.(*Dict)
	if !ok {
		return nil, r.errf("dictsort requires a mapping")
	}
	cs := truthy(a.kwarg("case_sensitive", 0, false))
	by := toStr(a.kwarg("by", 1, "key"))
	rev := truthy(a.kwarg("reverse", 2, false))
	items := make([]Value, 0, d.Len())
	for _, k := range d.keys {
		items = append(items, &List{Items: []Value{k, d.vals[dictKey(k)]}, Tuple: true})
	}
	pos := 0
	if by == "value" {
		pos = 1
	} else if by != "key" {
		return nil, r.errf("You can only sort by either \"key\" or \"value\"")
	}
	err := sortValues(items, func(it Value) (Value, error) {
		k := it.(*List).Items[pos]
		if s, ok := k.(string); ok && !cs {
			return pyLower(s), nil
		}
		return k, nil
	}, rev)
	if err != nil {
		return nil, r.errf("%v", err)
	}
	return &List{Items: items}, nil
}

func fEscape(r *renderer, v Value, a callArgs) (Value, error) {
	s := toStr(v)
	s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
	return s, nil
}

func fFirst(r *renderer, v Value, a callArgs) (Value, error) {
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return Undefined{Hint: "No first item, sequence was empty."}, nil
	}
	return items[0], nil
}

func fLast(r *renderer, v Value, a callArgs) (Value, error) {
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return Undefined{Hint: "No last item, sequence was empty."}, nil
	}
	return items[len(items)-1], nil
}

func fFloat(r *renderer, v Value, a callArgs) (Value, error) {
	if u, ok := v.(Undefined); ok { // int(Undefined) raises in Jinja2
		return nil, r.undefinedErr(u)
	}
	def := a.kwarg("default", 0, 0.0)
	switch x := v.(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	case *big.Int:
		if f, ok := bigFloat(x); ok {
			return f, nil
		}
		return nil, r.errf("int too large to convert to float")
	case bool:
		n, _ := intVal(x)
		return float64(n), nil
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(strings.ReplaceAll(x, "_", "")), 64); err == nil {
			return f, nil
		}
	}
	return def, nil
}

// floatToInt truncates f (finite) toward zero, exactly, as Python's int().
func floatToInt(f float64) Value {
	if f > -(1<<63) && f < 1<<63 {
		return int64(f)
	}
	n, _ := new(big.Float).SetFloat64(math.Trunc(f)).Int(nil)
	return normInt(n)
}

func fInt(r *renderer, v Value, a callArgs) (Value, error) {
	if u, ok := v.(Undefined); ok { // int(Undefined) raises in Jinja2
		return nil, r.undefinedErr(u)
	}
	def := a.kwarg("default", 0, int64(0))
	base, _ := intVal(a.kwarg("base", 1, int64(10)))
	switch x := v.(type) {
	case int64, *big.Int:
		return x, nil
	case bool:
		n, _ := intVal(x)
		return n, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return def, nil
		}
		return floatToInt(x), nil
	case string:
		s := strings.TrimSpace(x)
		if n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), int(base), 64); err == nil {
			return n, nil
		}
		if len(s) <= MaxIntDigits && base >= 2 && base <= 36 {
			if n, ok := new(big.Int).SetString(strings.ReplaceAll(s, "_", ""), int(base)); ok {
				return normInt(n), nil
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return floatToInt(f), nil
		}
	}
	return def, nil
}

func fIndent(r *renderer, v Value, a callArgs) (Value, error) {
	w := a.kwarg("width", 0, int64(4))
	first := truthy(a.kwarg("first", 1, false))
	blank := truthy(a.kwarg("blank", 2, false))
	ind := ""
	if s, ok := w.(string); ok {
		ind = s
	} else if n, ok := intVal(w); ok {
		ind = strings.Repeat(" ", int(max(0, min(n, 1<<16))))
	}
	str, ok := v.(string)
	if !ok { // Jinja2 appends "\n" to the value itself
		return nil, r.errf("unsupported operand type(s) for +=: '%s' and 'str'", typeName(v))
	}
	s := str + "\n"
	lines := pySplitlines(s)
	var rv string
	if blank {
		rv = strings.Join(lines, "\n"+ind)
	} else {
		rv = lines[0]
		if len(lines) > 1 {
			rest := make([]string, len(lines)-1)
			for i, l := range lines[1:] {
				if l != "" {
					l = ind + l
				}
				rest[i] = l
			}
			rv += "\n" + strings.Join(rest, "\n")
		}
	}
	if first {
		rv = ind + rv
	}
	return rv, r.checkSize(len(rv))
}

// pySplitlines is str.splitlines() without keepends.
func pySplitlines(s string) []string {
	var out []string
	rs := []rune(s)
	start := 0
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			out = append(out, string(rs[start:i]))
			if rs[i] == '\r' && i+1 < len(rs) && rs[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(rs) {
		out = append(out, string(rs[start:]))
	}
	return out
}

func fItems(r *renderer, v Value, a callArgs) (Value, error) {
	switch x := v.(type) {
	case Undefined:
		return &List{Gen: true}, nil
	case *Dict:
		l := dictItems(x)
		l.Gen = true
		return l, nil
	}
	return nil, r.errf("Can only get item pairs from a mapping.")
}

func dictItems(d *Dict) *List {
	l := &List{Items: make([]Value, 0, d.Len())}
	for _, k := range d.keys {
		l.Items = append(l.Items, &List{Items: []Value{k, d.vals[dictKey(k)]}, Tuple: true})
	}
	return l
}

// attrGetter follows a dotted attribute path ("a.b", "0").
func (r *renderer) attrGetter(v Value, path string, def Value) (Value, error) {
	for _, part := range strings.Split(path, ".") {
		var key Value = part
		if n, err := strconv.ParseInt(part, 10, 64); err == nil {
			key = n
		}
		var err error
		if v, err = r.getItem(v, key); err != nil {
			return nil, err
		}
		if isUndef(v) && def != nil {
			return def, nil
		}
	}
	return v, nil
}

func fJoin(r *renderer, v Value, a callArgs) (Value, error) {
	sep := toStr(a.kwarg("d", 0, ""))
	attr := a.kwarg("attribute", 1, nil)
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	parts := make([]string, len(items))
	n := 0
	for i, it := range items {
		if attr != nil {
			if it, err = r.attrGetter(it, toStr(attr), nil); err != nil {
				return nil, err
			}
		}
		parts[i] = toStr(it)
		n += len(parts[i]) + len(sep)
		if err := r.checkSize(n); err != nil {
			return nil, err
		}
	}
	return r.join(parts, sep), nil
}

func fList(r *renderer, v Value, a callArgs) (Value, error) {
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	return &List{Items: append([]Value(nil), items...)}, nil
}

func fMap(r *renderer, v Value, a callArgs) (Value, error) {
	out := &List{Gen: true}
	if !truthy(v) { // Jinja2: "if value: for item in value ..."
		return out, nil
	}
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	if attr, ok := a.kw.Get("attribute"); ok {
		def, _ := a.kw.Get("default")
		for _, it := range items {
			x, err := r.attrGetter(it, toStr(attr), def)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, x)
		}
		return out, nil
	}
	if len(a.pos) == 0 {
		return nil, r.errf("map requires a filter argument")
	}
	name := toStr(a.pos[0])
	f, ok := filters[name]
	if !ok {
		return nil, r.errf("No filter named '%s'.", name)
	}
	rest := callArgs{pos: a.pos[1:], kw: a.kw}
	for _, it := range items {
		x, err := f(r, it, rest)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, x)
	}
	return out, nil
}

func fMinMax(sign int) filterFunc {
	return func(r *renderer, v Value, a callArgs) (Value, error) {
		items, err := r.iterate(v)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return Undefined{Hint: "No aggregated item, sequence was empty."}, nil
		}
		cs := truthy(a.kwarg("case_sensitive", 0, false))
		attr := a.kwarg("attribute", 1, nil)
		key := func(x Value) (Value, error) {
			if attr != nil {
				var err error
				if x, err = r.attrGetter(x, toStr(attr), nil); err != nil {
					return nil, err
				}
			}
			if s, ok := x.(string); ok && !cs {
				return pyLower(s), nil
			}
			return x, nil
		}
		best := items[0]
		bk, err := key(best)
		if err != nil {
			return nil, err
		}
		for _, it := range items[1:] {
			k, err := key(it)
			if err != nil {
				return nil, err
			}
			c, ok := compare(k, bk)
			if !ok {
				return nil, r.errf("'<' not supported between instances of '%s' and '%s'", typeName(k), typeName(bk))
			}
			if c*sign > 0 {
				best, bk = it, k
			}
		}
		return best, nil
	}
}

func fSelect(keep, byAttr bool) filterFunc {
	return func(r *renderer, v Value, a callArgs) (Value, error) {
		out := &List{Gen: true}
		if !truthy(v) {
			return out, nil
		}
		items, err := r.iterate(v)
		if err != nil {
			return nil, err
		}
		args := a.pos
		attr := ""
		if byAttr {
			if len(args) == 0 {
				return nil, r.errf("Missing parameter for attribute name")
			}
			attr = toStr(args[0])
			args = args[1:]
		}
		var test testFunc
		if len(args) > 0 {
			name := toStr(args[0])
			t, ok := tests[name]
			if !ok {
				return nil, r.errf("No test named '%s'.", name)
			}
			test = t
			args = args[1:]
		}
		for _, it := range items {
			x := it
			if byAttr {
				if x, err = r.attrGetter(it, attr, nil); err != nil {
					return nil, err
				}
			}
			var ok bool
			if test != nil {
				if ok, err = test(r, x, callArgs{pos: args, kw: a.kw}); err != nil {
					return nil, err
				}
			} else {
				ok = truthy(x)
			}
			if ok == keep {
				out.Items = append(out.Items, it)
			}
		}
		return out, nil
	}
}

func fReplace(r *renderer, v Value, a callArgs) (Value, error) {
	s := toStr(v)
	old := toStr(a.kwarg("old", 0, ""))
	nw := toStr(a.kwarg("new", 1, ""))
	n := int64(-1)
	if c := a.kwarg("count", 2, nil); c != nil {
		n, _ = intVal(c)
	}
	return r.pyReplace(s, old, nw, n)
}

func (r *renderer) pyReplace(s, old, nw string, n int64) (Value, error) {
	if n < 0 {
		n = -1
	}
	if old == "" {
		// Python inserts at every code point boundary.
		count := int64(len([]rune(s)) + 1)
		if n >= 0 && n < count {
			count = n
		}
		if err := r.checkSize(len(s) + int(count)*len(nw)); err != nil {
			return nil, err
		}
		var b strings.Builder
		i := int64(0)
		for _, c := range s {
			if i < count {
				b.WriteString(nw)
				i++
			}
			b.WriteRune(c)
		}
		if i < count {
			b.WriteString(nw)
		}
		return b.String(), nil
	}
	cnt := strings.Count(s, old)
	if n >= 0 && int64(cnt) > n {
		cnt = int(n)
	}
	if err := r.checkSize(len(s) + cnt*(len(nw)-len(old))); err != nil {
		return nil, err
	}
	return strings.Replace(s, old, nw, int(n)), nil
}

func fReverse(r *renderer, v Value, a callArgs) (Value, error) {
	if s, ok := v.(string); ok {
		rs := []rune(s)
		for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
			rs[i], rs[j] = rs[j], rs[i]
		}
		return string(rs), nil
	}
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	out := &List{Items: make([]Value, len(items)), Gen: true}
	for i, it := range items {
		out.Items[len(items)-1-i] = it
	}
	return out, nil
}

func fRound(r *renderer, v Value, a callArgs) (Value, error) {
	prec, _ := intVal(a.kwarg("precision", 0, int64(0)))
	method := toStr(a.kwarg("method", 1, "common"))
	f, ok := num(v)
	if !ok {
		return nil, r.errf("type %s doesn't define __round__ method", typeName(v))
	}
	if n, isInt := intVal(v); isInt && method == "common" && prec >= 0 {
		return n, nil // round(int, n) stays an int
	}
	p := math.Pow(10, float64(prec))
	switch method {
	case "common": // Python's round(): correctly rounded, ties to even
		if prec >= 0 && prec < 300 {
			x, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', int(prec), 64), 64)
			return x, nil
		}
		return math.RoundToEven(f*p) / p, nil
	case "ceil":
		return math.Ceil(f*p) / p, nil
	case "floor":
		return math.Floor(f*p) / p, nil
	}
	return nil, r.errf("method must be common, ceil or floor")
}

func fSort(r *renderer, v Value, a callArgs) (Value, error) {
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	rev := truthy(a.kwarg("reverse", 0, false))
	cs := truthy(a.kwarg("case_sensitive", 1, false))
	attr := a.kwarg("attribute", 2, nil)
	out := append([]Value(nil), items...)
	err = sortValues(out, func(x Value) (Value, error) {
		if attr != nil {
			var err error
			if x, err = r.attrGetter(x, toStr(attr), nil); err != nil {
				return nil, err
			}
		}
		if s, ok := x.(string); ok && !cs {
			return pyLower(s), nil
		}
		return x, nil
	}, rev)
	if err != nil {
		return nil, r.errf("%v", err)
	}
	return &List{Items: out}, nil
}

func fSum(r *renderer, v Value, a callArgs) (Value, error) {
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	attr := a.kwarg("attribute", 0, nil)
	total := a.kwarg("start", 1, int64(0))
	for _, it := range items {
		if attr != nil {
			if it, err = r.attrGetter(it, toStr(attr), nil); err != nil {
				return nil, err
			}
		}
		if total, err = r.binop("+", total, it); err != nil {
			return nil, err
		}
	}
	return total, nil
}

func fToJSON(r *renderer, v Value, a callArgs) (Value, error) {
	o := jsonOpts{itemSep: ", ", keySep: ": "}
	o.asciiOnly = truthy(a.kwarg("ensure_ascii", 0, false))
	if ind := a.kwarg("indent", 1, nil); ind != nil {
		o.hasIndent = true
		o.itemSep = ","
		switch x := ind.(type) {
		case string:
			o.indent = x
		default:
			n, ok := intVal(x)
			if !ok {
				return nil, r.errf("indent must be int or str")
			}
			o.indent = strings.Repeat(" ", int(max(0, min(n, 1<<10))))
		}
	}
	if sep := a.kwarg("separators", 2, nil); sep != nil {
		l, ok := sep.(*List)
		if !ok || len(l.Items) != 2 {
			return nil, r.errf("separators must be a pair")
		}
		o.itemSep, o.keySep = toStr(l.Items[0]), toStr(l.Items[1])
	}
	o.sortKeys = truthy(a.kwarg("sort_keys", 3, false))
	s, err := toJSON(v, o)
	if err != nil {
		return nil, r.errf("%v", err)
	}
	if err := r.charge(8 * len(s)); err != nil { // escaping goes rune by rune
		return nil, err
	}
	return s, r.checkSize(len(s))
}

func fTrim(r *renderer, v Value, a callArgs) (Value, error) {
	chars := a.kwarg("chars", 0, nil)
	return pyStrip(toStr(v), chars, true, true), nil
}

// pyStrip is str.strip/lstrip/rstrip.
func pyStrip(s string, chars Value, left, right bool) string {
	var f func(rune) bool
	if chars == nil || isUndef(chars) {
		f = pyIsSpace
	} else {
		cs := toStr(chars)
		f = func(c rune) bool { return strings.ContainsRune(cs, c) }
	}
	if left {
		s = strings.TrimLeftFunc(s, f)
	}
	if right {
		s = strings.TrimRightFunc(s, f)
	}
	return s
}

func fTruncate(r *renderer, v Value, a callArgs) (Value, error) {
	s := toStr(v)
	length, _ := intVal(a.kwarg("length", 0, int64(255)))
	killwords := truthy(a.kwarg("killwords", 1, false))
	end := toStr(a.kwarg("end", 2, "..."))
	leeway, _ := intVal(a.kwarg("leeway", 3, int64(5)))
	rs := []rune(s)
	if int64(len(rs)) <= length+leeway {
		return s, nil
	}
	keep := int(length) - len([]rune(end))
	if keep < 0 {
		keep = 0
	}
	if killwords {
		return string(rs[:keep]) + end, nil
	}
	cut := string(rs[:keep])
	if i := strings.LastIndex(cut, " "); i >= 0 {
		cut = cut[:i]
	} else {
		cut = ""
	}
	return cut + end, nil
}

func fUnique(r *renderer, v Value, a callArgs) (Value, error) {
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	cs := truthy(a.kwarg("case_sensitive", 0, false))
	attr := a.kwarg("attribute", 1, nil)
	seen := NewDict()
	out := &List{Gen: true}
	for _, it := range items {
		k := it
		if attr != nil {
			if k, err = r.attrGetter(it, toStr(attr), nil); err != nil {
				return nil, err
			}
		}
		if s, ok := k.(string); ok && !cs {
			k = pyLower(s)
		}
		if !hashable(k) {
			return nil, r.errf("unhashable type: '%s'", typeName(k))
		}
		if _, ok := seen.Get(k); ok {
			continue
		}
		seen.Set(k, true)
		out.Items = append(out.Items, it)
	}
	return out, nil
}

func fBatch(r *renderer, v Value, a callArgs) (Value, error) {
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	n, _ := intVal(a.kwarg("linecount", 0, int64(1)))
	if n <= 0 {
		return nil, r.errf("batch size must be positive")
	}
	fill := a.kwarg("fill_with", 1, nil)
	out := &List{Gen: true}
	for i := 0; i < len(items); i += int(n) {
		end := min(i+int(n), len(items))
		row := &List{Items: append([]Value(nil), items[i:end]...)}
		if fill != nil {
			for len(row.Items) < int(n) {
				row.Items = append(row.Items, fill)
			}
		}
		out.Items = append(out.Items, row)
	}
	return out, nil
}

func fFormat(r *renderer, v Value, a callArgs) (Value, error) {
	if a.kw.Len() > 0 {
		return r.percentFormat(toStr(v), a.kw)
	}
	return r.percentFormat(toStr(v), &List{Items: a.pos, Tuple: true})
}

// percentFormat is a subset of Python's "%" string formatting.
func (r *renderer) percentFormat(f string, arg Value) (Value, error) {
	var args []Value
	var mapping *Dict
	switch x := arg.(type) {
	case *List:
		if x.Tuple {
			args = x.Items
		} else {
			args = []Value{x}
		}
	case *Dict:
		mapping = x
		args = []Value{x}
	default:
		args = []Value{x}
	}
	var b strings.Builder
	ai := 0
	rs := []rune(f)
	for i := 0; i < len(rs); i++ {
		if rs[i] != '%' {
			b.WriteRune(rs[i])
			continue
		}
		i++
		if i >= len(rs) {
			return nil, r.errf("incomplete format")
		}
		var val Value
		haveVal := false
		if rs[i] == '(' {
			j := i + 1
			for j < len(rs) && rs[j] != ')' {
				j++
			}
			if j >= len(rs) || mapping == nil {
				return nil, r.errf("format requires a mapping")
			}
			v, ok := mapping.Get(string(rs[i+1 : j]))
			if !ok {
				return nil, r.errf("KeyError: '%s'", string(rs[i+1:j]))
			}
			val, haveVal = v, true
			i = j + 1
		}
		spec := ""
		for i < len(rs) && strings.ContainsRune("-+ #0123456789.", rs[i]) {
			spec += string(rs[i])
			i++
		}
		if i >= len(rs) {
			return nil, r.errf("incomplete format")
		}
		for _, part := range strings.FieldsFunc(spec, func(c rune) bool { return c < '0' || c > '9' }) {
			if w, _ := strconv.Atoi(part); w > 1<<16 || len(part) > 6 {
				return nil, r.errf("format width too large")
			}
		}
		c := rs[i]
		if c == '%' {
			b.WriteByte('%')
			continue
		}
		if !haveVal {
			if ai >= len(args) {
				return nil, r.errf("not enough arguments for format string")
			}
			val = args[ai]
			ai++
		}
		switch c {
		case 's':
			b.WriteString(fmt.Sprintf("%"+spec+"s", toStr(val)))
		case 'r':
			b.WriteString(fmt.Sprintf("%"+spec+"s", reprValue(val)))
		case 'd', 'i':
			fv, ok := num(val)
			if !ok {
				return nil, r.errf("%%d format: a real number is required, not %s", typeName(val))
			}
			b.WriteString(fmt.Sprintf("%"+spec+"d", int64(fv)))
		case 'f', 'F', 'e', 'E', 'g', 'G':
			fv, ok := num(val)
			if !ok {
				return nil, r.errf("must be real number, not %s", typeName(val))
			}
			if !strings.Contains(spec, ".") && c != 'g' && c != 'G' {
				spec += ".6"
			}
			b.WriteString(fmt.Sprintf("%"+spec+string(c), fv))
		case 'x', 'X', 'o':
			n, ok := intVal(val)
			if !ok {
				return nil, r.errf("%%%c format: an integer is required", c)
			}
			b.WriteString(fmt.Sprintf("%"+spec+string(c), n))
		default:
			return nil, r.errf("unsupported format character '%c'", c)
		}
		if err := r.checkSize(b.Len()); err != nil {
			return nil, err
		}
	}
	// Python treats a non-tuple argument with __getitem__ (dict, list) as
	// a mapping and does not complain about it being unused.
	l, isList := arg.(*List)
	if mapping == nil && !(isList && !l.Tuple) && !isUndef(arg) && ai < len(args) {
		return nil, r.errf("not all arguments converted during string formatting")
	}
	return b.String(), nil
}

// jinjaTitle is Jinja2's title filter: capitalize each word, where words
// start after whitespace, dashes and opening brackets.
func jinjaTitle(s string) string {
	var b strings.Builder
	start := true
	for _, c := range s {
		if pyIsSpace(c) || strings.ContainsRune("-({[<", c) {
			b.WriteRune(c)
			start = true
			continue
		}
		if start {
			b.WriteString(pyUpper(string(c)))
		} else {
			b.WriteString(pyLower(string(c)))
		}
		start = false
	}
	return b.String()
}

// pyTitle is Python's str.title.
func pyTitle(s string) string {
	var b strings.Builder
	prevCased := false
	for _, c := range s {
		cased := unicode.IsUpper(c) || unicode.IsLower(c) || unicode.IsTitle(c)
		if cased {
			if prevCased {
				b.WriteRune(unicode.ToLower(c))
			} else {
				b.WriteRune(unicode.ToTitle(c))
			}
		} else {
			b.WriteRune(c)
		}
		prevCased = cased
	}
	return b.String()
}

func pyCapitalize(s string) string {
	rs := []rune(s)
	if len(rs) == 0 {
		return s
	}
	return string(unicode.ToTitle(rs[0])) + pyLower(string(rs[1:]))
}

func pyCenter(s string, width int, fill string) string {
	n := len([]rune(s))
	if width <= n {
		return s
	}
	pad := width - n
	left := pad/2 + (pad & width & 1)
	return strings.Repeat(fill, left) + s + strings.Repeat(fill, pad-left)
}
