package config

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The check* functions turn an already-typed value into its canonical Text,
// or return what was wanted. They are shared by the file, the environment
// and Set, so all three accept exactly the same values.

func (k *Key) checkString(s string) (string, string) {
	if !utf8.ValidString(s) {
		// Show must be able to write it back as TOML.
		return "", "want valid UTF-8 text"
	}
	if k.Choices == nil {
		return s, ""
	}
	t := strings.TrimSpace(s)
	for _, c := range k.Choices {
		if strings.EqualFold(t, c) {
			return c, ""
		}
	}
	return "", "want " + orList(k.Choices)
}

func (k *Key) checkInt(n int64) (string, string) {
	if !k.inRange(float64(n)) {
		return "", "want " + k.want()
	}
	return strconv.FormatInt(n, 10), ""
}

func (k *Key) checkFloat(f float64) (string, string) {
	if !k.inRange(f) {
		return "", "want " + k.want()
	}
	if f == 0 {
		f = 0 // -0 would print as "-0"
	}
	return strconv.FormatFloat(f, 'g', -1, 64), ""
}

// checkIntFloat takes a float for an Int key: whole numbers pass (4096.0),
// anything else is not an integer.
func (k *Key) checkIntFloat(f float64) (string, string) {
	if f != math.Trunc(f) || math.IsInf(f, 0) || f < -(1<<63) || f >= 1<<63 {
		return "", "want " + k.want()
	}
	return k.checkInt(int64(f))
}

func (k *Key) checkList(l []string) (string, []string, string) {
	for _, s := range l {
		if !utf8.ValidString(s) {
			return "", nil, "want valid UTF-8 text"
		}
	}
	if len(l) == 0 {
		return "", nil, ""
	}
	l = append([]string(nil), l...)
	return joinList(l), l, ""
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// inRange applies Min, Max and notZero; NaN and infinities never pass.
func (k *Key) inRange(f float64) bool {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return false
	}
	if k.Min != nil && f < *k.Min {
		return false
	}
	if k.Max != nil && f > *k.Max {
		return false
	}
	return !(k.notZero && f == 0)
}

// want describes the accepted values of a key, for error messages.
func (k *Key) want() string {
	switch k.Type {
	case String:
		if k.Choices != nil {
			return orList(k.Choices)
		}
		return "a string"
	case Bool:
		return "true or false"
	case List:
		return "a list of strings"
	}
	noun := "a number"
	if k.Type == Int {
		noun = "an integer"
	}
	lo, hi := k.Min, k.Max
	var s string
	switch {
	case lo != nil && hi != nil:
		if k.notZero && *lo == 0 {
			return noun + " > 0 and <= " + fmtBound(*hi)
		}
		s = noun + " from " + fmtBound(*lo) + " to " + fmtBound(*hi)
	case lo != nil:
		if k.notZero && *lo == 0 {
			return noun + " > 0"
		}
		if k.notZero && *lo == -1 && k.Type == Int {
			return "-1 or a positive integer"
		}
		s = noun + " >= " + fmtBound(*lo)
	case hi != nil:
		s = noun + " <= " + fmtBound(*hi)
	default:
		s = noun
	}
	if k.notZero {
		s += " other than 0"
	}
	return s
}

// typeWant is the short form for type mismatches ("want a number, got a
// string"); the range comes up once the type is right.
func (k *Key) typeWant() string {
	switch k.Type {
	case Int:
		return "an integer"
	case Float:
		return "a number"
	case Bool:
		return "true or false"
	case List:
		return "a list of strings"
	}
	return "a string"
}

func fmtBound(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// orList renders "a, b or c".
func orList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// parseText reads a value written as text (the environment, Set) into its
// canonical form. Bool words are the ones natter always took for env vars.
func (k *Key) parseText(s string) (text string, list []string, problem string) {
	switch k.Type {
	case String:
		text, problem = k.checkString(s)
	case Int:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return "", nil, "want " + k.want()
		}
		text, problem = k.checkInt(n)
	case Float:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return "", nil, "want " + k.want()
		}
		text, problem = k.checkFloat(f)
	case Bool:
		b, ok := parseBoolWord(s)
		if !ok {
			return "", nil, "want " + orList(boolWords)
		}
		text = boolText(b)
	case List:
		text, list, problem = k.checkList(splitList(s))
	default:
		problem = "unsupported key type " + k.Type.String()
	}
	return text, list, problem
}

var boolWords = []string{"1", "0", "true", "false", "yes", "no", "on", "off"}

func parseBoolWord(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true, true
	case "0", "false", "no", "off":
		return false, true
	}
	return false, false
}
