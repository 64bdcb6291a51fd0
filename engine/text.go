package engine

import (
	"strings"
	"unicode/utf8"
)

// utf8Assembler turns token bytes into valid UTF-8 text. A multi-byte
// character split across tokens is held back until its last byte arrives;
// bytes that can never form a character become U+FFFD.
type utf8Assembler struct{ pending []byte }

// push adds token bytes and returns the text that is complete.
func (a *utf8Assembler) push(b []byte) string {
	a.pending = append(a.pending, b...)
	var out strings.Builder
	p := a.pending
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		if r != utf8.RuneError || size > 1 {
			out.Write(p[:size])
			p = p[size:]
			continue
		}
		// Invalid here: maybe an incomplete sequence at the end?
		if incompleteTail(p) {
			break
		}
		out.WriteRune(utf8.RuneError)
		p = p[1:]
	}
	a.pending = append(a.pending[:0], p...)
	return out.String()
}

// flush returns whatever is held back, invalid bytes replaced.
func (a *utf8Assembler) flush() string {
	if len(a.pending) == 0 {
		return ""
	}
	s := strings.ToValidUTF8(string(a.pending), "\uFFFD")
	a.pending = a.pending[:0]
	return s
}

// incompleteTail reports whether p is a proper prefix of a valid UTF-8
// encoding (a lead byte followed by fewer continuation bytes than it needs).
func incompleteTail(p []byte) bool {
	if len(p) == 0 || len(p) >= utf8.UTFMax {
		return false
	}
	need := 0
	switch c := p[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 2
	case c >= 0xE0 && c <= 0xEF:
		need = 3
	case c >= 0xF0 && c <= 0xF4:
		need = 4
	default:
		return false
	}
	if len(p) >= need {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i]&0xC0 != 0x80 {
			return false
		}
	}
	// Reject prefixes that are already known to be overlong or out of range.
	if len(p) >= 2 {
		switch p[0] {
		case 0xE0:
			return p[1] >= 0xA0
		case 0xED:
			return p[1] < 0xA0
		case 0xF0:
			return p[1] >= 0x90
		case 0xF4:
			return p[1] < 0x90
		}
	}
	return true
}

// stopMatcher holds back text that could be the start of a stop sequence,
// so a stop sequence never reaches the caller, even partially.
type stopMatcher struct {
	stops   []string
	pending string
}

// push adds text and returns what is safe to emit; stopped reports that a
// stop sequence matched (the text before it is returned, the rest dropped).
func (m *stopMatcher) push(s string) (out string, stopped bool) {
	if len(m.stops) == 0 {
		return s, false
	}
	m.pending += s
	first := -1
	for _, st := range m.stops {
		if i := strings.Index(m.pending, st); i >= 0 && (first < 0 || i < first) {
			first = i
		}
	}
	if first >= 0 {
		out = m.pending[:first]
		m.pending = ""
		return out, true
	}
	// Keep the longest suffix that is a prefix of some stop sequence.
	keep := 0
	for _, st := range m.stops {
		for k := min(len(st)-1, len(m.pending)); k > keep; k-- {
			if strings.HasSuffix(m.pending, st[:k]) {
				keep = k
				break
			}
		}
	}
	out = m.pending[:len(m.pending)-keep]
	m.pending = m.pending[len(m.pending)-keep:]
	return out, false
}

// flush returns the held-back text at the end of generation.
func (m *stopMatcher) flush() string {
	s := m.pending
	m.pending = ""
	return s
}
