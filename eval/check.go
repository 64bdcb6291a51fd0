package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Verdict is what a check says of one reply.
type Verdict struct {
	Pass      bool
	Reason    string // why it failed ("" when it passed)
	Predicted string // choice: the label found
}

// Grade applies every check kind but judge (which needs a model: see
// judge.go) to a reply.
func Grade(c Check, reply string) Verdict {
	out := strings.TrimSpace(reply)
	switch c.Kind {
	case CheckExact:
		want := strings.TrimSpace(c.Want)
		if out == want || c.IgnoreCase && strings.EqualFold(out, want) {
			return Verdict{Pass: true}
		}
		return Verdict{Reason: "want " + quote(want) + ", got " + quote(out) + firstDifference(want, out)}
	case CheckContains:
		for _, s := range c.All {
			if !contains(out, s, c.IgnoreCase) {
				return Verdict{Reason: "missing " + quote(s) + " in " + quote(out)}
			}
		}
		if len(c.Any) > 0 {
			for _, s := range c.Any {
				if contains(out, s, c.IgnoreCase) {
					return Verdict{Pass: true}
				}
			}
			return Verdict{Reason: "none of " + quoteList(c.Any) + " in " + quote(out)}
		}
		return Verdict{Pass: true}
	case CheckRegex:
		if c.Pattern.MatchString(out) {
			return Verdict{Pass: true}
		}
		return Verdict{Reason: "no match for /" + c.Pattern.String() + "/ in " + quote(out)}
	case CheckChoice:
		got := FindLabel(out, c.Labels, c.IgnoreCase)
		if got == c.Label || c.IgnoreCase && got != "" && strings.EqualFold(got, c.Label) {
			return Verdict{Pass: true, Predicted: got}
		}
		if got == "" {
			return Verdict{Reason: "want " + quote(c.Label) + ", the reply names no label: " + quote(out)}
		}
		return Verdict{Predicted: got, Reason: "want " + quote(c.Label) + ", got " + quote(got)}
	case CheckJSON:
		return gradeJSON(c, out)
	case CheckNumber:
		n, ok := FirstNumber(out)
		if !ok {
			return Verdict{Reason: "no number in " + quote(out)}
		}
		if math.Abs(n-c.Number) <= c.Tolerance {
			return Verdict{Pass: true}
		}
		r := fmt.Sprintf("want %s, got %s", fmtNum(c.Number), fmtNum(n))
		if c.Tolerance > 0 {
			r = fmt.Sprintf("want %s ± %s, got %s", fmtNum(c.Number), fmtNum(c.Tolerance), fmtNum(n))
		}
		return Verdict{Reason: r}
	}
	return Verdict{Reason: "unknown check " + quote(c.Kind)}
}

func contains(s, sub string, fold bool) bool {
	if fold {
		return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
	}
	return strings.Contains(s, sub)
}

// FindLabel returns the label that occurs first in s as a whole word (a
// longer label wins at the same place: "very positive" over "positive"),
// or "" when none does.
func FindLabel(s string, labels []string, fold bool) string {
	hay := s
	if fold {
		hay = strings.ToLower(s)
	}
	best, bestAt := "", len(hay)+1
	for _, l := range labels {
		needle := l
		if fold {
			needle = strings.ToLower(l)
		}
		if needle == "" {
			continue
		}
		for from := 0; from < len(hay); {
			i := strings.Index(hay[from:], needle)
			if i < 0 {
				break
			}
			i += from
			if wordEdge(hay, i, i+len(needle)) {
				if i < bestAt || i == bestAt && len(l) > len(best) {
					best, bestAt = l, i
				}
				break
			}
			from = i + 1
		}
	}
	return best
}

// wordEdge reports whether s[i:j] is not part of a longer word.
func wordEdge(s string, i, j int) bool {
	if i > 0 {
		r, _ := utf8.DecodeLastRuneInString(s[:i])
		if isWord(r) {
			return false
		}
	}
	if j < len(s) {
		r, _ := utf8.DecodeRuneInString(s[j:])
		if isWord(r) {
			return false
		}
	}
	return true
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

// numberRE finds a decimal number; thousands separators are allowed in the
// integer part ("1,234.5").
var numberRE = regexp.MustCompile(`[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?`)

// FirstNumber returns the first number written in s.
func FirstNumber(s string) (float64, bool) {
	for _, loc := range numberRE.FindAllStringIndex(s, -1) {
		m := s[loc[0]:loc[1]]
		if !strings.ContainsAny(m, "0123456789") {
			continue
		}
		// An exponent with no mantissa ("e5" in "see5") is not a number.
		if t := strings.TrimLeft(m, "+-"); t[0] == 'e' || t[0] == 'E' {
			continue
		}
		if f, err := strconv.ParseFloat(strings.ReplaceAll(m, ",", ""), 64); err == nil {
			return f, true
		}
	}
	return 0, false
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// gradeJSON finds the JSON value in a reply, then applies the schema and
// the field checks.
func gradeJSON(c Check, out string) Verdict {
	raw, ok := ExtractJSON(out)
	if !ok {
		return Verdict{Reason: "no JSON value in " + quote(out)}
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return Verdict{Reason: "invalid JSON: " + err.Error()}
	}
	if c.Schema != nil {
		if err := c.Schema.Validate(v); err != nil {
			return Verdict{Reason: "does not match the schema: " + oneLine(err.Error())}
		}
	}
	for _, path := range slices.Sorted(maps.Keys(c.Fields)) {
		got, ok := lookup(v, path)
		if !ok {
			return Verdict{Reason: "no field " + path}
		}
		want := normalize(c.Fields[path])
		if !reflect.DeepEqual(normalize(got), want) {
			return Verdict{Reason: fmt.Sprintf("%s: want %s, got %s", path, jsonText(want), jsonText(normalize(got)))}
		}
	}
	return Verdict{Pass: true}
}

// ExtractJSON returns the JSON value of a reply: the whole reply, else the
// first ```json (or ```) fenced block, else the first value starting at a
// '{' or '['.
func ExtractJSON(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if json.Valid([]byte(s)) && s != "" {
		return []byte(s), true
	}
	if i := strings.Index(s, "```"); i >= 0 {
		body := s[i+3:]
		if nl := strings.IndexByte(body, '\n'); nl >= 0 && !strings.ContainsAny(body[:nl], "{[") {
			body = body[nl+1:] // the fence's language tag
		}
		if j := strings.Index(body, "```"); j >= 0 {
			if b := strings.TrimSpace(body[:j]); json.Valid([]byte(b)) {
				return []byte(b), true
			}
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '{' && s[i] != '[' {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(s[i:]))
		var m json.RawMessage
		if dec.Decode(&m) == nil {
			return m, true
		}
	}
	return nil, false
}

// lookup follows a dotted path ("items.0.name") through decoded JSON.
func lookup(v any, path string) (any, bool) {
	for _, part := range strings.Split(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = t[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// normalize makes numbers of every Go type float64, so a YAML 3 equals a
// JSON 3.0.
func normalize(v any) any {
	switch t := v.(type) {
	case json.Number:
		f, _ := t.Float64()
		return f
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case uint64:
		return float64(t)
	case float32:
		return float64(t)
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = normalize(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = normalize(x)
		}
		return s
	}
	return v
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return clip(string(b), 80)
}

// quote shows a reply in a reason: quoted, on one line, clipped.
func quote(s string) string { return strconv.Quote(clip(s, 120)) }

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

func oneLine(s string) string {
	return clip(strings.Join(strings.Fields(s), " "), 200)
}

// firstDifference says where two texts part, for long exact answers.
func firstDifference(want, got string) string {
	if len(want) < 40 && len(got) < 40 {
		return ""
	}
	w, g := []rune(want), []rune(got)
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	return fmt.Sprintf(" (they differ from character %d)", i+1)
}
