package synth

import (
	"strings"
	"unicode/utf8"
)

// byteRunes is GPT-2's byte-level alphabet: printable Latin-1 bytes stand for
// themselves, the others for code points from U+0100 on, in byte order.
var byteRunes = func() [256]rune {
	var m [256]rune
	n := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE {
			m[b] = rune(b)
		} else {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}()

// byteLevel spells s in the byte-level alphabet, as GPT-2 vocabularies
// store their tokens (a space becomes "Ġ", a newline "Ċ").
func byteLevel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteRunes[s[i]])
	}
	return b.String()
}

// Special tokens of the BPE vocabulary, after its normal tokens (as in a
// Qwen vocabulary, whose control tokens follow the merged pieces).
const (
	BPEEndOfText = "<|endoftext|>"
	BPEImStart   = "<|im_start|>"
	BPEImEnd     = "<|im_end|>"
)

// BPEVocab returns a synthetic GPT-2-style byte-level BPE vocabulary (the
// kind Qwen3.5 files carry as tokenizer.ggml.model "gpt2"): the 256 byte
// tokens, then the same words, suffixes, multi-byte characters and role names
// as Vocab (words with a leading space), each with all its prefixes, then the
// control tokens <|endoftext|>, <|im_start|>, <|im_end|>. Every multi-symbol
// token has the merge "prefix last-symbol", ranked in token order, so merges
// can always grow a known token from its first byte.
func BPEVocab() (tokens []string, types []int32, merges []string) {
	seen := map[string]bool{}
	add := func(tok string, typ int32) {
		if !seen[tok] {
			seen[tok] = true
			tokens = append(tokens, tok)
			types = append(types, typ)
		}
	}
	for b := 0; b < 256; b++ {
		add(string(byteRunes[b]), TypeNormal)
	}
	piece := func(text string) {
		p := byteLevel(text)
		for i := range p {
			if i == 0 {
				continue
			}
			if !seen[p[:i]] {
				_, n := utf8.DecodeLastRuneInString(p[:i])
				merges = append(merges, p[:i-n]+" "+p[i-n:i])
				add(p[:i], TypeNormal)
			}
		}
		if !seen[p] {
			_, n := utf8.DecodeLastRuneInString(p)
			merges = append(merges, p[:len(p)-n]+" "+p[len(p)-n:])
			add(p, TypeNormal)
		}
	}
	for _, m := range multibyte {
		piece(strings.ReplaceAll(m, Space, " "))
	}
	for _, w := range words {
		piece(" " + w)
	}
	for _, s := range suffixes {
		piece(s)
	}
	for _, r := range roles {
		piece(r)
	}
	piece("\n\n")
	add(BPEEndOfText, TypeControl)
	add(BPEImStart, TypeControl)
	add(BPEImEnd, TypeControl)
	return tokens, types, merges
}

// spmMerges returns BPE merges for the SentencePiece vocabulary of Vocab
// (for tokenizers such as Gemma 4's, which run BPE merges over
// "▁"-for-space text): "prefix last-character" for every normal piece of
// two or more characters, in token order.
func spmMerges(tokens []string, types []int32) []string {
	var merges []string
	for i, t := range tokens {
		if types[i] != TypeNormal || utf8.RuneCountInString(t) < 2 {
			continue
		}
		_, n := utf8.DecodeLastRuneInString(t)
		merges = append(merges, t[:len(t)-n]+" "+t[len(t)-n:])
	}
	return merges
}
