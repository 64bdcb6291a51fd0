package jinja

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Value is a template value: nil (None), Undefined, bool, int64, float64,
// string, *List, *Dict, *Namespace or a callable.
type Value = any

// Undefined is a missing variable or attribute. Printing it gives "", using
// it in arithmetic or attribute access is an error, as in Jinja2.
type Undefined struct{ Hint string }

// List is a Python list or tuple.
type List struct {
	Items []Value
	Tuple bool
	// Gen marks a lazy iterator (what Jinja2's map, select, reverse, ...
	// return): iterable and always truthy, but without len, index or JSON.
	Gen bool
}

// Dict is an insertion-ordered Python dict.
type Dict struct {
	keys []Value
	vals map[string]Value
}

// Markup is a string marked safe (Jinja2's |safe, |escape). Adding a plain
// string to it HTML-escapes that string, as markupsafe does.
type Markup string

func unmark(v Value) Value {
	if m, ok := v.(Markup); ok {
		return string(m)
	}
	return v
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}

// Namespace is the mutable object made by namespace().
type Namespace struct{ D *Dict }

// NewDict makes an empty dict.
func NewDict() *Dict { return &Dict{vals: map[string]Value{}} }

func dictKey(k Value) string {
	switch v := k.(type) {
	case Markup:
		return "s" + string(v)
	case string:
		return "s" + v
	case bool:
		if v {
			return "n1"
		}
		return "n0"
	case int64:
		return "n" + strconv.FormatInt(v, 10)
	case *big.Int:
		return "n" + v.String()
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e18 {
			return "n" + strconv.FormatInt(int64(v), 10)
		}
		return "f" + strconv.FormatFloat(v, 'g', -1, 64)
	case nil:
		return "N"
	}
	return "r" + reprValue(k)
}

// Set stores k, keeping the original position of an existing key.
func (d *Dict) Set(k, v Value) {
	dk := dictKey(k)
	if _, ok := d.vals[dk]; !ok {
		d.keys = append(d.keys, k)
	}
	d.vals[dk] = v
}

// Get looks k up.
func (d *Dict) Get(k Value) (Value, bool) {
	v, ok := d.vals[dictKey(k)]
	return v, ok
}

// Keys returns the keys in insertion order.
func (d *Dict) Keys() []Value { return d.keys }

// Len is the number of entries.
func (d *Dict) Len() int { return len(d.keys) }

func (d *Dict) copy() *Dict {
	n := NewDict()
	for _, k := range d.keys {
		n.Set(k, d.vals[dictKey(k)])
	}
	return n
}

func isUndef(v Value) bool { _, ok := v.(Undefined); return ok }

// truthy is Python's bool().
func truthy(v Value) bool {
	switch x := v.(type) {
	case nil, Undefined:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case *big.Int:
		return x.Sign() != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case Markup:
		return x != ""
	case *List:
		return x.Gen || len(x.Items) > 0
	case *Dict:
		return x.Len() > 0
	}
	return true
}

func typeName(v Value) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case Undefined:
		return "Undefined"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case Markup:
		return "Markup"
	case *List:
		if x.Gen {
			return "generator"
		}
		if x.Tuple {
			return "tuple"
		}
		return "list"
	case *Dict:
		return "dict"
	case *Namespace:
		return "Namespace"
	case *loopObj:
		return "LoopContext"
	}
	return "function"
}

// toStr is Python's str().
func toStr(v Value) string {
	switch x := v.(type) {
	case string:
		return x
	case Markup:
		return string(x)
	case Undefined:
		return ""
	case nil:
		return "None"
	}
	return reprValue(v)
}

// reprValue is Python's repr().
func reprValue(v Value) string {
	var b strings.Builder
	writeRepr(&b, v, 0)
	return b.String()
}

func writeRepr(b *strings.Builder, v Value, depth int) {
	if depth > 100 {
		b.WriteString("...")
		return
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case Undefined:
		b.WriteString("Undefined")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case *big.Int:
		b.WriteString(x.String())
	case float64:
		b.WriteString(pyFloat(x))
	case string:
		b.WriteString(pyStrRepr(x))
	case Markup:
		b.WriteString("Markup(" + pyStrRepr(string(x)) + ")")
	case *List:
		if x.Gen {
			b.WriteString("<generator object>")
			return
		}
		open, close := "[", "]"
		if x.Tuple {
			open, close = "(", ")"
		}
		b.WriteString(open)
		for i, it := range x.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, it, depth+1)
		}
		if x.Tuple && len(x.Items) == 1 {
			b.WriteString(",")
		}
		b.WriteString(close)
	case *Dict:
		b.WriteString("{")
		for i, k := range x.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, k, depth+1)
			b.WriteString(": ")
			writeRepr(b, x.vals[dictKey(k)], depth+1)
		}
		b.WriteString("}")
	case *Namespace:
		b.WriteString("<Namespace ")
		writeRepr(b, x.D, depth+1)
		b.WriteString(">")
	default:
		fmt.Fprintf(b, "<%s>", typeName(v))
	}
}

// pyFloat formats like Python's float repr.
func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expS, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expS)
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimPrefix(mant, "-")
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	if exp < -4 || exp >= 16 {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		out = fmt.Sprintf("%se%s%02d", m, sign, exp)
	} else if exp < 0 {
		out = "0." + strings.Repeat("0", -exp-1) + digits
	} else {
		if len(digits) <= exp+1 {
			out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
		} else {
			out = digits[:exp+1] + "." + digits[exp+1:]
		}
	}
	if neg {
		out = "-" + out
	}
	return out
}

func pyStrRepr(s string) string {
	q := byte('\'')
	if strings.ContainsRune(s, '\'') && !strings.ContainsRune(s, '"') {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError:
			b.WriteString(`\ufffd`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x80 || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// equal is Python ==.
func equal(a, b Value) bool {
	a, b = unmark(a), unmark(b)
	switch x := a.(type) {
	case nil:
		return b == nil
	case Undefined:
		return isUndef(b)
	case bool, int64, float64, *big.Int:
		if x, ok := x.(int64); ok { // the common case, without big.Int
			if y, ok := b.(int64); ok {
				return x == y
			}
		}
		if isInt(a) && isInt(b) {
			return toBig(a).Cmp(toBig(b)) == 0
		}
		fa, ok1 := num(a)
		fb, ok2 := num(b)
		if ok1 && ok2 {
			return fa == fb
		}
		return false
	case string:
		y, ok := b.(string)
		return ok && x == y
	case *List:
		y, ok := b.(*List)
		if x.Gen || !ok || y.Gen || x.Tuple != y.Tuple || len(x.Items) != len(y.Items) {
			if ok && x == y {
				return true
			}
			return false
		}
		for i := range x.Items {
			if !equal(x.Items[i], y.Items[i]) {
				return false
			}
		}
		return true
	case *Dict:
		y, ok := b.(*Dict)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for _, k := range x.keys {
			v2, ok := y.Get(k)
			if !ok || !equal(x.vals[dictKey(k)], v2) {
				return false
			}
		}
		return true
	}
	return a == b
}

// num converts bool/int/float to float64 for comparison.
func num(v Value) (float64, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case int64:
		return float64(x), true
	case *big.Int:
		f, _ := bigFloat(x) // ±Inf past float range: still ordered right
		return f, true
	case float64:
		return x, true
	}
	return 0, false
}

// compare is Python's ordering; ok is false for unorderable types.
func compare(a, b Value) (int, bool) {
	a, b = unmark(a), unmark(b)
	if fa, ok := num(a); ok {
		if fb, ok := num(b); ok {
			ia, aInt := a.(int64)
			ib, bInt := b.(int64)
			if aInt && bInt {
				return cmpInt(ia, ib), true
			}
			if isInt(a) && isInt(b) {
				return toBig(a).Cmp(toBig(b)), true
			}
			switch {
			case fa < fb:
				return -1, true
			case fa > fb:
				return 1, true
			}
			return 0, true
		}
		return 0, false
	}
	if sa, ok := a.(string); ok {
		if sb, ok := b.(string); ok {
			return strings.Compare(sa, sb), true
		}
		return 0, false
	}
	la, ok1 := a.(*List)
	lb, ok2 := b.(*List)
	if ok1 && ok2 && la.Tuple == lb.Tuple {
		for i := 0; i < len(la.Items) && i < len(lb.Items); i++ {
			if equal(la.Items[i], lb.Items[i]) {
				continue
			}
			return compare(la.Items[i], lb.Items[i])
		}
		return cmpInt(int64(len(la.Items)), int64(len(lb.Items))), true
	}
	return 0, false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortValues(items []Value, key func(Value) (Value, error), reverse bool) error {
	var err error
	keys := make([]Value, len(items))
	for i, it := range items {
		if keys[i], err = key(it); err != nil {
			return err
		}
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool {
		c, ok := compare(keys[idx[i]], keys[idx[j]])
		if !ok && err == nil {
			err = fmt.Errorf("'<' not supported between instances of '%s' and '%s'", typeName(keys[idx[i]]), typeName(keys[idx[j]]))
		}
		if reverse {
			return c > 0
		}
		return c < 0
	})
	if err != nil {
		return err
	}
	out := make([]Value, len(items))
	for i, k := range idx {
		out[i] = items[k]
	}
	copy(items, out)
	return nil
}

// FromGo converts plain Go values (as produced by encoding/json or built by
// callers) into template values.
func FromGo(v any) Value {
	switch x := v.(type) {
	case nil:
		return nil
	case Value:
		switch y := x.(type) {
		case int:
			return int64(y)
		case int32:
			return int64(y)
		case float32:
			return float64(y)
		case []any:
			l := &List{Items: make([]Value, len(y))}
			for i, it := range y {
				l.Items[i] = FromGo(it)
			}
			return l
		case []string:
			l := &List{Items: make([]Value, len(y))}
			for i, it := range y {
				l.Items[i] = it
			}
			return l
		case map[string]any:
			d := NewDict()
			keys := make([]string, 0, len(y))
			for k := range y {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				d.Set(k, FromGo(y[k]))
			}
			return d
		}
	}
	return v
}

// pyIsSpace is Python's str.isspace for one character (it also counts the
// ASCII separators 0x1c-0x1f, which Go's unicode.IsSpace does not).
func pyIsSpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

func pyFields(s string) []string { return strings.FieldsFunc(s, pyIsSpace) }

// Full case mappings Python applies that Go's simple mappings lack.
var upperSpecial = strings.NewReplacer("ß", "SS", "ﬀ", "FF", "ﬁ", "FI", "ﬂ", "FL", "ﬃ", "FFI", "ﬄ", "FFL", "ﬅ", "ST", "ﬆ", "ST", "ŉ", "ʼN")

func pyUpper(s string) string {
	if !isASCII(s) {
		s = upperSpecial.Replace(s)
	}
	return strings.ToUpper(s)
}

func pyLower(s string) string {
	if !isASCII(s) {
		s = strings.ReplaceAll(s, "İ", "i\u0307")
	}
	return strings.ToLower(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
