package bpe

import "unicode"

// Character classes as llama.cpp's pre-tokenizer sees them. llama.cpp's
// tables are generated from Unicode 15.1; Go's unicode package is 15.0, so
// the few code points 15.1 added are filled in by hand (checked against
// llama.cpp's table for every code point while this was written).
type class uint8

const (
	clsLetter class = 1 << iota // \p{L}
	clsMark                     // \p{M}
	clsNumber                   // \p{N}
	clsSpace                    // \s
	clsOther                    // any other code point, assigned or not
)

// maxRune bounds the code points llama.cpp has flags for; beyond it a code
// point is "undefined", which still counts as a character (clsOther).
const maxRune = 0x110000

func classOf(r rune) class {
	if r < 0x80 {
		return asciiClass[r]
	}
	var c class
	switch {
	case r >= 0x2EBF0 && r <= 0x2EE5D: // CJK Extension I (Unicode 15.1)
		c = clsLetter
	case r >= maxRune || r < 0:
		return clsOther
	case unicode.IsLetter(r):
		c = clsLetter
	case unicode.IsMark(r):
		c = clsMark
	case unicode.IsNumber(r):
		c = clsNumber
	default:
		c = clsOther
	}
	if isSpace(r) {
		c |= clsSpace
	}
	return c
}

// isSpace is Unicode's White_Space property, the set llama.cpp uses for \s.
func isSpace(r rune) bool {
	switch {
	case r >= 0x09 && r <= 0x0D, r == 0x20, r == 0x85, r == 0xA0, r == 0x1680,
		r >= 0x2000 && r <= 0x200A, r == 0x2028, r == 0x2029, r == 0x202F, r == 0x205F, r == 0x3000:
		return true
	}
	return false
}

var asciiClass [0x80]class

func init() {
	for r := range rune(0x80) {
		var c class
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			c = clsLetter
		case r >= '0' && r <= '9':
			c = clsNumber
		default:
			c = clsOther
		}
		if isSpace(r) {
			c |= clsSpace
		}
		asciiClass[r] = c
	}
}
