package tools

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sanitize makes text safe to print in a terminal. It keeps \n and \t,
// shows other C0 and C1 control characters escaped (ESC as `\x1b`, CR as
// `\r`), so escape sequences can neither move the cursor nor retitle the
// window, replaces invalid UTF-8 with U+FFFD, and shows the bidi override
// and isolate characters (U+202A–U+202E, U+2066–U+2069) escaped, as `\u202e`,
// because they can make text read differently from what it is.
func Sanitize(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f, isBidi(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isBidi(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// clean reports whether s needs no change: the common case, checked cheaply.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return cleanUnicode(s[i:])
		}
		if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func cleanUnicode(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (r < 0x20 && r != '\n' && r != '\t') ||
			(r >= 0x7f && r <= 0x9f) || isBidi(r) {
			return false
		}
		i += size
	}
	return true
}

// oneLine sanitizes s and shows its line breaks escaped, for summaries.
func oneLine(s string) string {
	s = Sanitize(s)
	s = strings.ReplaceAll(s, "\n", `\n`)
	return strings.ReplaceAll(s, "\t", " ")
}

// clipHead keeps the first max bytes of s (cut on a rune boundary) and
// says how much was left out.
func clipHead(s string, max int) (string, bool) {
	if max <= 0 || len(s) <= max {
		return s, false
	}
	cut := runeStart(s, max)
	return s[:cut] + fmt.Sprintf("\n… (output truncated: %d of %d bytes left out)", len(s)-cut, len(s)), true
}

// runeStart moves i back to the start of the rune it falls in.
func runeStart(s string, i int) int {
	if i >= len(s) {
		return len(s)
	}
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

// cutLine shortens one long line for display, saying how much was cut.
func cutLine(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := runeStart(s, max)
	return s[:cut] + "… [line cut: " + strconv.Itoa(len(s)-cut) + " more bytes]"
}

func itoa(n int) string { return strconv.Itoa(n) }
