package bpe

import "unicode"

// decode turns text into code points the way llama.cpp does before
// pre-tokenizing: a lead byte and the continuation bytes it announces make one
// code point without further checks (overlong forms and surrogates pass and
// are re-encoded canonically later); a byte that starts no complete sequence
// becomes U+FFFD on its own. llama.cpp aborts on a sequence that decodes past
// U+10FFFF (it cannot re-encode it); here its lead byte becomes U+FFFD too.
func decode(s string, out []rune) []rune {
	out = out[:0]
	for i := 0; i < len(s); {
		r, n := decodeOne(s, i)
		out = append(out, r)
		i += n
	}
	return out
}

func decodeOne(s string, i int) (rune, int) {
	b := s[i]
	cont := func(k int) bool { return i+k < len(s) && s[i+k]&0xC0 == 0x80 }
	switch {
	case b < 0x80:
		return rune(b), 1
	case b < 0xC0:
	case b < 0xE0:
		if cont(1) {
			return rune(b&0x1F)<<6 | rune(s[i+1]&0x3F), 2
		}
	case b < 0xF0:
		if cont(1) && cont(2) {
			return rune(b&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F), 3
		}
	case b < 0xF8:
		if cont(1) && cont(2) && cont(3) {
			r := rune(b&0x07)<<18 | rune(s[i+1]&0x3F)<<12 | rune(s[i+2]&0x3F)<<6 | rune(s[i+3]&0x3F)
			if r < maxRune {
				return r, 4
			}
		}
	}
	return 0xFFFD, 1
}

// appendRune is UTF-8 encoding without Go's replacement of surrogates,
// which llama.cpp encodes like any other code point.
func appendRune(b []byte, r rune) []byte {
	switch {
	case r < 0x80:
		return append(b, byte(r))
	case r < 0x800:
		return append(b, 0xC0|byte(r>>6), 0x80|byte(r)&0x3F)
	case r < 0x10000:
		return append(b, 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
	default:
		return append(b, 0xF0|byte(r>>18), 0x80|byte(r>>12)&0x3F, 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
	}
}

// splitQwen35 cuts cps into pre-tokens, returning each one's length in code
// points. It follows llama.cpp's hand-written matcher for the Qwen3.5 regex
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// rather than the regex itself, because that matcher is what llama.cpp runs
// and it differs from a backtracking engine in places (a letter run may
// start with any one character but CR, LF or a digit; a whitespace run that
// holds a newline always ends at its last newline).
//
// work counts the characters examined (for the linearity test).
func splitQwen35(cps []rune, out []int, work *int) []int {
	out = out[:0]
	n := len(cps)
	cls := func(i int) class {
		*work++
		if i < 0 || i >= n {
			return 0
		}
		return classOf(cps[i])
	}
	const word = clsLetter | clsMark
	for pos := 0; pos < n; {
		*work++
		start := pos
		c := cps[pos]
		f := classOf(c)
		switch {
		case c == '\'' && pos+1 < n && contraction(cps[pos+1:]) > 0:
			pos += contraction(cps[pos+1:]) + 1
		case c != '\r' && c != '\n' && f&clsNumber == 0 && (f&word != 0 || cls(pos+1)&word != 0):
			pos++
			for cls(pos)&word != 0 {
				pos++
			}
		case f&clsNumber != 0:
			pos++
		case punctStart(c, f, cls(pos+1)):
			if c == ' ' {
				pos++
			}
			for f2 := cls(pos); f2 != 0 && f2&(clsSpace|word|clsNumber) == 0; f2 = cls(pos) {
				pos++
			}
			for pos < n && (cps[pos] == '\r' || cps[pos] == '\n') {
				pos++
			}
		default:
			k, lastNL := 0, -1
			for cls(pos+k)&clsSpace != 0 {
				if r := cps[pos+k]; r == '\r' || r == '\n' {
					lastNL = pos + k + 1
				}
				k++
			}
			switch {
			case lastNL >= 0: // \s*[\r\n]+
				pos = lastNL
			case k > 1 && pos+k < n: // \s+(?!\S): leave the last space to what follows
				pos += k - 1
			case k > 0:
				pos += k
			default: // matches nothing: one character alone
				pos++
			}
		}
		out = append(out, pos-start)
	}
	return out
}

// contraction is the length after the apostrophe of 's 't 'm 'd 're 've 'll
// (any case) at the start of rest, or 0.
func contraction(rest []rune) int {
	c1 := unicode.ToLower(rest[0])
	switch c1 {
	case 's', 't', 'm', 'd':
		return 1
	}
	if len(rest) < 2 {
		return 0
	}
	c2 := unicode.ToLower(rest[1])
	if (c1 == 'r' || c1 == 'v') && c2 == 'e' || c1 == 'l' && c2 == 'l' {
		return 2
	}
	return 0
}

// punctStart reports whether " ?[^\s\p{L}\p{M}\p{N}]+" starts here. Like
// llama.cpp's matcher it also takes a lone space at the very end (next is 0
// there), which yields the same one-space pre-token as the whitespace rule.
func punctStart(c rune, f, next class) bool {
	f2 := f
	if c == ' ' {
		f2 = next
	}
	return f != 0 && f2&(clsSpace|clsLetter|clsMark|clsNumber) == 0
}

// splitNewlines cuts cps into runs of LF and runs of anything else.
func splitNewlines(cps []rune, out []int) []int {
	out = out[:0]
	for pos := 0; pos < len(cps); {
		start, nl := pos, cps[pos] == '\n'
		for pos < len(cps) && (cps[pos] == '\n') == nl {
			pos++
		}
		out = append(out, pos-start)
	}
	return out
}
