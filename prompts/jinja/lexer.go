// Package jinja renders Jinja2 chat templates the way Hugging Face
// transformers does (trim_blocks, lstrip_blocks, loop controls, a tojson that
// keeps non-ASCII, raise_exception, strftime_now). It implements the subset of
// Jinja2 that chat templates use, with Python semantics for values, and bounds
// execution so malformed templates fail with an error instead of hanging.
package jinja

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is a template error with its position.
type Error struct {
	Name string // template name (file name or "gguf")
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Name, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Name, e.Msg)
}

type tokKind int

const (
	tData tokKind = iota
	tVarBegin
	tVarEnd
	tBlockBegin
	tBlockEnd
	tName
	tString
	tInt
	tFloat
	tOp
	tEOF
)

type token struct {
	kind tokKind
	val  string
	line int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of template"
	case tBlockEnd:
		return "end of statement block"
	case tVarEnd:
		return "end of print statement"
	case tString:
		return "string"
	}
	return fmt.Sprintf("'%s'", t.val)
}

type lexer struct {
	name   string
	src    string
	pos    int
	line   int
	toks   []token
	lineSt bool // the previous tag ended with a newline (for lstrip_blocks)
}

func isSpaceNoNL(r rune) bool { return r != '\n' && pyIsSpace(r) }

// tokenize splits source into tokens following Jinja2's lexer with
// trim_blocks and lstrip_blocks enabled.
func tokenize(name, src string) ([]token, error) {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	src = strings.TrimSuffix(src, "\n") // keep_trailing_newline=False
	lx := &lexer{name: name, src: src, line: 1, lineSt: true}
	if err := lx.run(); err != nil {
		return nil, err
	}
	return lx.toks, nil
}

func (lx *lexer) errf(line int, format string, a ...any) error {
	return &Error{Name: lx.name, Line: line, Msg: fmt.Sprintf(format, a...)}
}

func (lx *lexer) emit(k tokKind, v string, line int) {
	lx.toks = append(lx.toks, token{kind: k, val: v, line: line})
}

// nextTag finds the next "{{", "{%" or "{#" at or after pos.
func (lx *lexer) nextTag(from int) int {
	for i := from; i+1 < len(lx.src); i++ {
		if lx.src[i] == '{' {
			c := lx.src[i+1]
			if c == '{' || c == '%' || c == '#' {
				return i
			}
		}
	}
	return -1
}

func (lx *lexer) run() error {
	for lx.pos < len(lx.src) {
		start := lx.nextTag(lx.pos)
		if start < 0 {
			lx.addData(lx.src[lx.pos:], len(lx.src))
			break
		}
		kind := lx.src[start+1]
		sign := byte(0)
		if start+2 < len(lx.src) && (lx.src[start+2] == '-' || lx.src[start+2] == '+') {
			sign = lx.src[start+2]
		}
		text := lx.src[lx.pos:start]
		if sign == '-' {
			text = strings.TrimRightFunc(text, pyIsSpace)
		} else if sign != '+' && kind != '{' {
			lpos := strings.LastIndexByte(text, '\n') + 1
			if lpos > 0 || lx.lineSt {
				rest := text[lpos:]
				if rest != "" && strings.TrimLeftFunc(rest, isSpaceNoNL) == "" {
					text = text[:lpos]
				}
			}
		}
		lx.addData(text, start)
		lx.pos = start + 2
		if sign != 0 {
			lx.pos++
		}
		var err error
		switch kind {
		case '#':
			err = lx.comment(start)
		case '{':
			err = lx.inside(tVarBegin, start)
		case '%':
			if lx.isRaw() {
				err = lx.raw(start)
			} else {
				err = lx.inside(tBlockBegin, start)
			}
		}
		if err != nil {
			return err
		}
	}
	lx.emit(tEOF, "", lx.line)
	return nil
}

// addData emits literal text and advances line counting to end.
func (lx *lexer) addData(text string, end int) {
	if text != "" {
		lx.emit(tData, text, lx.line)
	}
	lx.line += strings.Count(lx.src[lx.pos:end], "\n")
	lx.pos = end
}

// afterClose handles what follows a closing "%}" / "#}": "-" strips all
// following whitespace, otherwise trim_blocks removes one newline.
func (lx *lexer) afterClose(minus bool, trim bool) {
	end := lx.pos
	if minus {
		for end < len(lx.src) {
			r, n := utf8.DecodeRuneInString(lx.src[end:])
			if !pyIsSpace(r) {
				break
			}
			end += n
		}
	} else if trim && end < len(lx.src) && lx.src[end] == '\n' {
		end++
	}
	consumed := lx.src[lx.pos:end]
	lx.line += strings.Count(consumed, "\n")
	lx.pos = end
	lx.lineSt = strings.HasSuffix(consumed, "\n")
}

func (lx *lexer) comment(start int) error {
	i := strings.Index(lx.src[lx.pos:], "#}")
	if i < 0 {
		return lx.errf(lx.line, "missing end of comment tag")
	}
	body := lx.src[lx.pos : lx.pos+i]
	minus := strings.HasSuffix(body, "-")
	plus := strings.HasSuffix(body, "+") // "+#}" keeps the newline
	lx.line += strings.Count(lx.src[start:lx.pos+i+2], "\n")
	lx.pos += i + 2
	lx.afterClose(minus, !plus)
	return nil
}

func (lx *lexer) isRaw() bool {
	s := lx.src[lx.pos:]
	t := strings.TrimLeftFunc(s, pyIsSpace)
	if !strings.HasPrefix(t, "raw") {
		return false
	}
	t = strings.TrimLeftFunc(t[3:], pyIsSpace)
	return strings.HasPrefix(t, "%}") || strings.HasPrefix(t, "-%}")
}

func (lx *lexer) raw(start int) error {
	close := strings.Index(lx.src[lx.pos:], "%}")
	minus := close > 0 && lx.src[lx.pos+close-1] == '-'
	lx.line += strings.Count(lx.src[start:lx.pos+close+2], "\n")
	lx.pos += close + 2
	lx.afterClose(minus, false) // Jinja2 does not trim the newline after {% raw %}
	// find {% endraw %}
	i := lx.pos
	for {
		j := strings.Index(lx.src[i:], "{%")
		if j < 0 {
			return lx.errf(lx.line, "missing end of raw directive")
		}
		k := i + j + 2
		sign := byte(0)
		if k < len(lx.src) && (lx.src[k] == '-' || lx.src[k] == '+') {
			sign = lx.src[k]
			k++
		}
		t := strings.TrimLeftFunc(lx.src[k:], pyIsSpace)
		if strings.HasPrefix(t, "endraw") {
			rest := strings.TrimLeftFunc(t[6:], pyIsSpace)
			if strings.HasPrefix(rest, "%}") || strings.HasPrefix(rest, "-%}") {
				text := lx.src[lx.pos : i+j]
				if sign == '-' {
					text = strings.TrimRightFunc(text, pyIsSpace)
				} else if sign != '+' {
					lpos := strings.LastIndexByte(text, '\n') + 1
					if rest := text[lpos:]; lpos > 0 && rest != "" && strings.TrimLeftFunc(rest, isSpaceNoNL) == "" {
						text = text[:lpos]
					}
				}
				lx.addData(text, i+j)
				endPos := len(lx.src) - len(rest)
				m := strings.HasPrefix(rest, "-")
				if m {
					endPos++
				}
				lx.line += strings.Count(lx.src[lx.pos:endPos+2], "\n")
				lx.pos = endPos + 2
				lx.afterClose(m, true)
				return nil
			}
		}
		i = k
	}
}

// inside tokenizes the expression part of a {{ }} or {% %} tag.
func (lx *lexer) inside(begin tokKind, start int) error {
	lx.emit(begin, "", lx.line)
	depth := 0
	startLine := lx.line
	for {
		if lx.pos >= len(lx.src) {
			if begin == tVarBegin {
				return lx.errf(startLine, "unexpected end of template, expected end of print statement")
			}
			return lx.errf(startLine, "unexpected end of template, expected end of statement block")
		}
		c := lx.src[lx.pos]
		if c == '\n' {
			lx.line++
			lx.pos++
			continue
		}
		if c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' {
			lx.pos++
			continue
		}
		rest := lx.src[lx.pos:]
		if depth == 0 {
			closer := "%}"
			endKind := tBlockEnd
			if begin == tVarBegin {
				closer = "}}"
				endKind = tVarEnd
			}
			if strings.HasPrefix(rest, "-"+closer) {
				lx.emit(endKind, "", lx.line)
				lx.pos += 3
				lx.afterClose(true, false)
				return nil
			}
			if begin == tBlockBegin && strings.HasPrefix(rest, "+"+closer) { // "+%}" keeps the newline
				lx.emit(endKind, "", lx.line)
				lx.pos += 3
				lx.afterClose(false, false)
				return nil
			}
			if strings.HasPrefix(rest, closer) {
				lx.emit(endKind, "", lx.line)
				lx.pos += 2
				lx.afterClose(false, begin == tBlockBegin)
				if begin == tVarBegin {
					lx.lineSt = false
				}
				return nil
			}
		}
		switch {
		case c == '\'' || c == '"':
			s, n, err := lx.str(rest)
			if err != nil {
				return err
			}
			lx.emit(tString, s, lx.line)
			lx.line += strings.Count(rest[:n], "\n")
			lx.pos += n
		case c >= '0' && c <= '9':
			n, isFloat := scanNumber(rest)
			v := strings.ReplaceAll(rest[:n], "_", "")
			if isFloat {
				lx.emit(tFloat, v, lx.line)
			} else {
				lx.emit(tInt, v, lx.line)
			}
			lx.pos += n
		case c == '_' || unicode.IsLetter(rune(c)) || c >= 0x80:
			n := 0
			for n < len(rest) {
				r, sz := utf8.DecodeRuneInString(rest[n:])
				if r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
					n += sz
					continue
				}
				break
			}
			if n == 0 {
				r, _ := utf8.DecodeRuneInString(rest)
				return lx.errf(lx.line, "unexpected char %q at %d", r, lx.pos)
			}
			lx.emit(tName, rest[:n], lx.line)
			lx.pos += n
		default:
			op := ""
			for _, o := range []string{"//", "**", "==", "!=", "<=", ">="} {
				if strings.HasPrefix(rest, o) {
					op = o
					break
				}
			}
			if op == "" {
				if strings.ContainsRune("+-*/%~<>=()[]{},.:|;", rune(c)) {
					op = string(c)
				} else {
					r, _ := utf8.DecodeRuneInString(rest)
					return lx.errf(lx.line, "unexpected char %q at %d", r, lx.pos)
				}
			}
			switch op {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				if depth == 0 {
					return lx.errf(lx.line, "unexpected '%s'", op)
				}
				depth--
			}
			lx.emit(tOp, op, lx.line)
			lx.pos += len(op)
		}
	}
}

func scanNumber(s string) (int, bool) {
	n := 0
	digits := func() {
		for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == '_' && n+1 < len(s) && s[n+1] >= '0' && s[n+1] <= '9') {
			n++
		}
	}
	digits()
	isFloat := false
	if n+1 < len(s) && s[n] == '.' && s[n+1] >= '0' && s[n+1] <= '9' {
		isFloat = true
		n++
		digits()
	}
	if n < len(s) && (s[n] == 'e' || s[n] == 'E') {
		m := n + 1
		if m < len(s) && (s[m] == '+' || s[m] == '-') {
			m++
		}
		if m < len(s) && s[m] >= '0' && s[m] <= '9' {
			isFloat = true
			n = m
			digits()
		}
	}
	return n, isFloat
}

// str scans a quoted string literal and decodes Python-style escapes.
func (lx *lexer) str(s string) (string, int, error) {
	q := s[0]
	var b strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		if c == q {
			return b.String(), i + 1, nil
		}
		if c == '\\' && i+1 < len(s) {
			e := s[i+1]
			i += 2
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\':
				b.WriteByte('\\')
			case '\'':
				b.WriteByte('\'')
			case '"':
				b.WriteByte('"')
			case 'a':
				b.WriteByte(7)
			case 'b':
				b.WriteByte(8)
			case 'f':
				b.WriteByte(12)
			case 'v':
				b.WriteByte(11)
			case '0', '1', '2', '3', '4', '5', '6', '7': // octal, up to 3 digits
				v := rune(e - '0')
				for k := 0; k < 2 && i < len(s) && s[i] >= '0' && s[i] <= '7'; k++ {
					v = v*8 + rune(s[i]-'0')
					i++
				}
				b.WriteRune(v)
			case '\n':
			case 'x', 'u', 'U':
				w := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if i+w > len(s) {
					return "", 0, lx.errf(lx.line, "truncated \\%c escape", e)
				}
				var r rune
				for _, h := range s[i : i+w] {
					d := hexVal(h)
					if d < 0 {
						return "", 0, lx.errf(lx.line, "truncated \\%c escape", e)
					}
					r = r*16 + rune(d)
				}
				if r > unicode.MaxRune {
					return "", 0, lx.errf(lx.line, "illegal Unicode character")
				}
				b.WriteRune(r)
				i += w
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
			continue
		}
		b.WriteByte(c)
		i++
	}
	return "", 0, lx.errf(lx.line, "unexpected end of string")
}

func hexVal(r rune) int {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0')
	case r >= 'a' && r <= 'f':
		return int(r-'a') + 10
	case r >= 'A' && r <= 'F':
		return int(r-'A') + 10
	}
	return -1
}
