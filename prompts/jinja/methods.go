package jinja

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

func strMethod(r *renderer, s string, name string) Value {
	m := func(f func(a callArgs) (Value, error)) Value {
		return callable(func(r *renderer, a callArgs) (Value, error) { return f(a) })
	}
	switch name {
	case "strip", "lstrip", "rstrip":
		return m(func(a callArgs) (Value, error) {
			return pyStrip(s, a.kwarg("chars", 0, nil), name != "rstrip", name != "lstrip"), nil
		})
	case "upper":
		return m(func(a callArgs) (Value, error) { return pyUpper(s), nil })
	case "lower", "casefold":
		return m(func(a callArgs) (Value, error) { return pyLower(s), nil })
	case "title":
		return m(func(a callArgs) (Value, error) { return pyTitle(s), nil })
	case "capitalize":
		return m(func(a callArgs) (Value, error) { return pyCapitalize(s), nil })
	case "swapcase":
		return m(func(a callArgs) (Value, error) {
			return strings.Map(func(c rune) rune {
				if unicode.IsUpper(c) {
					return unicode.ToLower(c)
				}
				return unicode.ToUpper(c)
			}, s), nil
		})
	case "startswith", "endswith":
		return m(func(a callArgs) (Value, error) {
			p := a.kwarg("prefix", 0, nil)
			if name == "endswith" {
				p = a.kwarg("suffix", 0, nil)
			}
			var cands []Value
			switch x := p.(type) {
			case string:
				cands = []Value{x}
			case *List:
				if !x.Tuple {
					return nil, r.errf("%s first arg must be str or a tuple of str, not list", name)
				}
				cands = x.Items
			default:
				return nil, r.errf("%s first arg must be str or a tuple of str, not %s", name, typeName(p))
			}
			for _, c := range cands {
				cs, ok := c.(string)
				if !ok {
					return nil, r.errf("tuple for %s must only contain str", name)
				}
				if name == "startswith" && strings.HasPrefix(s, cs) || name == "endswith" && strings.HasSuffix(s, cs) {
					return true, nil
				}
			}
			return false, nil
		})
	case "split", "rsplit":
		return m(func(a callArgs) (Value, error) {
			sep := a.kwarg("sep", 0, nil)
			maxs, _ := intVal(a.kwarg("maxsplit", 1, int64(-1)))
			var parts []string
			if sep == nil {
				parts = splitWhitespace(s, int(maxs), name == "rsplit")
			} else {
				sp, ok := sep.(string)
				if !ok {
					return nil, r.errf("must be str or None, not %s", typeName(sep))
				}
				if sp == "" {
					return nil, r.errf("empty separator")
				}
				if maxs < 0 {
					parts = strings.Split(s, sp)
				} else if name == "split" {
					parts = strings.SplitN(s, sp, int(maxs)+1)
				} else {
					parts = rsplitN(s, sp, int(maxs))
				}
			}
			l := &List{Items: make([]Value, len(parts))}
			for i, p := range parts {
				l.Items[i] = p
			}
			return l, nil
		})
	case "splitlines":
		return m(func(a callArgs) (Value, error) {
			l := &List{}
			for _, p := range pySplitlines(s) {
				l.Items = append(l.Items, p)
			}
			return l, nil
		})
	case "replace":
		return m(func(a callArgs) (Value, error) {
			old, ok1 := a.kwarg("old", 0, nil).(string)
			nw, ok2 := a.kwarg("new", 1, nil).(string)
			if !ok1 || !ok2 {
				return nil, r.errf("replace() arguments must be str")
			}
			n, _ := intVal(a.kwarg("count", 2, int64(-1)))
			return r.pyReplace(s, old, nw, n)
		})
	case "find", "rfind", "index", "rindex", "count":
		return m(func(a callArgs) (Value, error) {
			sub, ok := a.kwarg("sub", 0, nil).(string)
			if !ok {
				return nil, r.errf("%s() argument must be str", name)
			}
			switch name {
			case "count":
				if sub == "" {
					return int64(len([]rune(s)) + 1), nil
				}
				return int64(strings.Count(s, sub)), nil
			case "find", "index":
				i := strings.Index(s, sub)
				if i < 0 && name == "index" {
					return nil, r.errf("substring not found")
				}
				if i < 0 {
					return int64(-1), nil
				}
				return int64(len([]rune(s[:i]))), nil
			default:
				i := strings.LastIndex(s, sub)
				if i < 0 && name == "rindex" {
					return nil, r.errf("substring not found")
				}
				if i < 0 {
					return int64(-1), nil
				}
				return int64(len([]rune(s[:i]))), nil
			}
		})
	case "join":
		return m(func(a callArgs) (Value, error) {
			items, err := r.iterate(a.kwarg("iterable", 0, nil))
			if err != nil {
				return nil, err
			}
			parts := make([]string, len(items))
			for i, it := range items {
				p, ok := it.(string)
				if !ok {
					return nil, r.errf("sequence item %d: expected str instance, %s found", i, typeName(it))
				}
				parts[i] = p
			}
			out := strings.Join(parts, s)
			return out, r.checkSize(len(out))
		})
	case "isdigit", "isnumeric", "isdecimal", "isalpha", "isalnum", "isspace", "isupper", "islower":
		return m(func(a callArgs) (Value, error) { return strPredicate(s, name), nil })
	case "zfill", "ljust", "rjust", "center":
		return m(func(a callArgs) (Value, error) {
			w, _ := intVal(a.kwarg("width", 0, int64(0)))
			if err := r.checkSize(int(min(max(w, 0), 1<<40))); err != nil {
				return nil, err
			}
			fill := toStr(a.kwarg("fillchar", 1, " "))
			n := int64(len([]rune(s)))
			if w <= n {
				return s, nil
			}
			pad := int(w - n)
			switch name {
			case "zfill":
				if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
					return s[:1] + strings.Repeat("0", pad) + s[1:], nil
				}
				return strings.Repeat("0", pad) + s, nil
			case "ljust":
				return s + strings.Repeat(fill, pad), nil
			case "rjust":
				return strings.Repeat(fill, pad) + s, nil
			}
			return pyCenter(s, int(w), fill), nil
		})
	case "partition", "rpartition":
		return m(func(a callArgs) (Value, error) {
			sep := toStr(a.kwarg("sep", 0, ""))
			if sep == "" {
				return nil, r.errf("empty separator")
			}
			var i int
			if name == "partition" {
				i = strings.Index(s, sep)
			} else {
				i = strings.LastIndex(s, sep)
			}
			if i < 0 {
				if name == "partition" {
					return &List{Items: []Value{s, "", ""}, Tuple: true}, nil
				}
				return &List{Items: []Value{"", "", s}, Tuple: true}, nil
			}
			return &List{Items: []Value{s[:i], sep, s[i+len(sep):]}, Tuple: true}, nil
		})
	case "removeprefix":
		return m(func(a callArgs) (Value, error) { return strings.TrimPrefix(s, toStr(a.kwarg("prefix", 0, ""))), nil })
	case "removesuffix":
		return m(func(a callArgs) (Value, error) { return strings.TrimSuffix(s, toStr(a.kwarg("suffix", 0, ""))), nil })
	case "format":
		return m(func(a callArgs) (Value, error) { return r.braceFormat(s, a) })
	}
	return nil
}

func strPredicate(s, name string) bool {
	if s == "" {
		return false
	}
	cased := false
	for _, c := range s {
		switch name {
		case "isdigit", "isnumeric", "isdecimal":
			if !unicode.IsDigit(c) && !(name == "isnumeric" && unicode.IsNumber(c)) {
				return false
			}
		case "isalpha":
			if !unicode.IsLetter(c) {
				return false
			}
		case "isalnum":
			if !unicode.IsLetter(c) && !unicode.IsNumber(c) {
				return false
			}
		case "isspace":
			if !pyIsSpace(c) {
				return false
			}
		case "isupper":
			if unicode.IsLower(c) {
				return false
			}
			cased = cased || unicode.IsUpper(c)
		case "islower":
			if unicode.IsUpper(c) {
				return false
			}
			cased = cased || unicode.IsLower(c)
		}
	}
	if name == "isupper" || name == "islower" {
		return cased
	}
	return true
}

func splitWhitespace(s string, maxs int, fromRight bool) []string {
	fields := strings.FieldsFunc(s, pyIsSpace)
	if maxs < 0 || len(fields) <= maxs+1 {
		return fields
	}
	if !fromRight {
		// Keep the remainder after the maxs-th split intact.
		rest := s
		var out []string
		for i := 0; i < maxs; i++ {
			rest = strings.TrimLeftFunc(rest, pyIsSpace)
			j := strings.IndexFunc(rest, pyIsSpace)
			out = append(out, rest[:j])
			rest = rest[j:]
		}
		return append(out, strings.TrimLeftFunc(rest, pyIsSpace))
	}
	rest := s
	var out []string
	for i := 0; i < maxs; i++ {
		rest = strings.TrimRightFunc(rest, pyIsSpace)
		j := strings.LastIndexFunc(rest, pyIsSpace)
		out = append([]string{rest[j+1:]}, out...)
		rest = rest[:j+1]
	}
	return append([]string{strings.TrimRightFunc(rest, pyIsSpace)}, out...)
}

func rsplitN(s, sep string, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		j := strings.LastIndex(s, sep)
		if j < 0 {
			break
		}
		out = append([]string{s[j+len(sep):]}, out...)
		s = s[:j]
	}
	return append([]string{s}, out...)
}

// braceFormat is a subset of str.format: {}, {0}, {name}, and {{ }}.
func (r *renderer) braceFormat(f string, a callArgs) (Value, error) {
	var b strings.Builder
	auto := 0
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c == '{' {
			if i+1 < len(f) && f[i+1] == '{' {
				b.WriteByte('{')
				i++
				continue
			}
			j := strings.IndexByte(f[i:], '}')
			if j < 0 {
				return nil, r.errf("Single '{' encountered in format string")
			}
			field := f[i+1 : i+j]
			if k := strings.IndexAny(field, ":!"); k >= 0 {
				return nil, r.errf("format specs are not supported")
			}
			var v Value
			if field == "" {
				if auto >= len(a.pos) {
					return nil, r.errf("Replacement index %d out of range", auto)
				}
				v = a.pos[auto]
				auto++
			} else if n, err := strconv.Atoi(field); err == nil {
				if n >= len(a.pos) {
					return nil, r.errf("Replacement index %d out of range", n)
				}
				v = a.pos[n]
			} else {
				x, ok := a.kw.Get(field)
				if !ok {
					return nil, r.errf("KeyError: '%s'", field)
				}
				v = x
			}
			b.WriteString(toStr(v))
			i += j
			continue
		}
		if c == '}' {
			if i+1 < len(f) && f[i+1] == '}' {
				i++
			} else {
				return nil, r.errf("Single '}' encountered in format string")
			}
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

func dictMethod(r *renderer, d *Dict, name string) Value {
	switch name {
	case "get":
		return callable(func(r *renderer, a callArgs) (Value, error) {
			if len(a.pos) == 0 {
				return nil, r.errf("get expected at least 1 argument, got 0")
			}
			if !hashable(a.pos[0]) {
				return nil, r.errf("unhashable type: '%s'", typeName(a.pos[0]))
			}
			if v, ok := d.Get(a.pos[0]); ok {
				return v, nil
			}
			if len(a.pos) > 1 {
				return a.pos[1], nil
			}
			return nil, nil
		})
	case "items":
		return callable(func(r *renderer, a callArgs) (Value, error) { return dictItems(d), nil })
	case "keys":
		return callable(func(r *renderer, a callArgs) (Value, error) {
			return &List{Items: append([]Value(nil), d.keys...)}, nil
		})
	case "values":
		return callable(func(r *renderer, a callArgs) (Value, error) {
			l := &List{}
			for _, k := range d.keys {
				l.Items = append(l.Items, d.vals[dictKey(k)])
			}
			return l, nil
		})
	case "copy":
		return callable(func(r *renderer, a callArgs) (Value, error) { return d.copy(), nil })
	}
	return nil
}

func listMethod(r *renderer, l *List, name string) Value {
	switch name {
	case "index":
		return callable(func(r *renderer, a callArgs) (Value, error) {
			for i, it := range l.Items {
				if len(a.pos) > 0 && equal(it, a.pos[0]) {
					return int64(i), nil
				}
			}
			return nil, r.errf("value is not in list")
		})
	case "count":
		return callable(func(r *renderer, a callArgs) (Value, error) {
			n := 0
			for _, it := range l.Items {
				if len(a.pos) > 0 && equal(it, a.pos[0]) {
					n++
				}
			}
			return int64(n), nil
		})
	case "copy":
		if l.Tuple {
			return nil
		}
		return callable(func(r *renderer, a callArgs) (Value, error) {
			return &List{Items: append([]Value(nil), l.Items...)}, nil
		})
	}
	return nil
}

func builtinGlobals(r *renderer) map[string]Value {
	return map[string]Value{
		"range": callable(func(r *renderer, a callArgs) (Value, error) {
			var start, stop, step int64 = 0, 0, 1
			ints := make([]int64, len(a.pos))
			for i, v := range a.pos {
				n, ok := intVal(v)
				if !ok {
					return nil, r.errf("'%s' object cannot be interpreted as an integer", typeName(v))
				}
				ints[i] = n
			}
			switch len(ints) {
			case 1:
				stop = ints[0]
			case 2:
				start, stop = ints[0], ints[1]
			case 3:
				start, stop, step = ints[0], ints[1], ints[2]
			default:
				return nil, r.errf("range expected 1 to 3 arguments, got %d", len(ints))
			}
			if step == 0 {
				return nil, r.errf("range() arg 3 must not be zero")
			}
			l := &List{}
			for i := start; step > 0 && i < stop || step < 0 && i > stop; i += step {
				if len(l.Items) >= 100000 { // Jinja2's sandbox MAX_RANGE
					return nil, r.errf("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).")
				}
				l.Items = append(l.Items, i)
			}
			return l, nil
		}),
		"namespace": callable(func(r *renderer, a callArgs) (Value, error) {
			d := NewDict()
			for _, p := range a.pos {
				pd, ok := p.(*Dict)
				if !ok {
					return nil, r.errf("namespace() positional argument must be a mapping")
				}
				for _, k := range pd.keys {
					d.Set(k, pd.vals[dictKey(k)])
				}
			}
			for _, k := range a.kw.keys {
				d.Set(k, a.kw.vals[dictKey(k)])
			}
			return &Namespace{D: d}, nil
		}),
		"dict": callable(func(r *renderer, a callArgs) (Value, error) {
			d := NewDict()
			for _, p := range a.pos {
				switch x := p.(type) {
				case *Dict:
					for _, k := range x.keys {
						d.Set(k, x.vals[dictKey(k)])
					}
				default:
					items, err := r.iterate(p)
					if err != nil {
						return nil, err
					}
					for _, it := range items {
						pair, err := r.iterate(it)
						if err != nil || len(pair) != 2 {
							return nil, r.errf("dictionary update sequence element has wrong length")
						}
						d.Set(pair[0], pair[1])
					}
				}
			}
			for _, k := range a.kw.keys {
				d.Set(k, a.kw.vals[dictKey(k)])
			}
			return d, nil
		}),
		"raise_exception": callable(func(r *renderer, a callArgs) (Value, error) {
			msg := ""
			if len(a.pos) > 0 {
				msg = toStr(a.pos[0])
			}
			return nil, r.errf("%s", msg)
		}),
		"joiner": callable(func(r *renderer, a callArgs) (Value, error) {
			sep := toStr(a.kwarg("sep", 0, ", "))
			used := false
			return callable(func(r *renderer, _ callArgs) (Value, error) {
				if !used {
					used = true
					return "", nil
				}
				return sep, nil
			}), nil
		}),
		"cycler": callable(func(r *renderer, a callArgs) (Value, error) {
			if len(a.pos) == 0 {
				return nil, r.errf("at least one item has to be provided")
			}
			d := NewDict()
			items, pos := a.pos, 0
			d.Set("current", items[0])
			d.Set("next", callable(func(r *renderer, _ callArgs) (Value, error) {
				v := items[pos]
				pos = (pos + 1) % len(items)
				d.Set("current", items[pos])
				return v, nil
			}))
			d.Set("reset", callable(func(r *renderer, _ callArgs) (Value, error) {
				pos = 0
				d.Set("current", items[0])
				return nil, nil
			}))
			return &Namespace{D: d}, nil
		}),
		"strftime_now": callable(func(r *renderer, a callArgs) (Value, error) {
			if len(a.pos) == 0 {
				return nil, r.errf("strftime_now() missing format")
			}
			return strftime(r.opts.Now(), toStr(a.pos[0])), nil
		}),
	}
}

// strftime formats t with Python/C strftime directives (C locale).
func strftime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' || i+1 >= len(f) {
			b.WriteByte(f[i])
			continue
		}
		i++
		c := f[i]
		if c == '-' && i+1 < len(f) { // glibc: no padding
			i++
			switch f[i] {
			case 'd':
				b.WriteString(strconv.Itoa(t.Day()))
			case 'm':
				b.WriteString(strconv.Itoa(int(t.Month())))
			case 'H':
				b.WriteString(strconv.Itoa(t.Hour()))
			case 'I':
				b.WriteString(strconv.Itoa((t.Hour()+11)%12 + 1))
			case 'M':
				b.WriteString(strconv.Itoa(t.Minute()))
			case 'S':
				b.WriteString(strconv.Itoa(t.Second()))
			case 'j':
				b.WriteString(strconv.Itoa(t.YearDay()))
			default:
				b.WriteString("%-" + string(f[i]))
			}
			continue
		}
		switch c {
		case 'a':
			b.WriteString(t.Weekday().String()[:3])
		case 'A':
			b.WriteString(t.Weekday().String())
		case 'b', 'h':
			b.WriteString(t.Month().String()[:3])
		case 'B':
			b.WriteString(t.Month().String())
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'e':
			fmt.Fprintf(&b, "%2d", t.Day())
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'Y':
			fmt.Fprintf(&b, "%d", t.Year())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'p':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'w':
			fmt.Fprintf(&b, "%d", int(t.Weekday()))
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			fmt.Fprintf(&b, "%d", wd)
		case 'f':
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/1000)
		case 'F':
			b.WriteString(t.Format("2006-01-02"))
		case 'T':
			b.WriteString(t.Format("15:04:05"))
		case 'D':
			b.WriteString(t.Format("01/02/06"))
		case 'R':
			b.WriteString(t.Format("15:04"))
		case 'Z':
			name, _ := t.Zone()
			b.WriteString(name)
		case 'z':
			b.WriteString(t.Format("-0700"))
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(c)
		}
	}
	return b.String()
}
