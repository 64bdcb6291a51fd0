package bpe

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

var (
	fuzzOnce sync.Once
	fuzzToks map[string]*Tokenizer
	fuzzSeed []string
)

// allTokenizers are the synth tokenizers and, when present, llama.cpp's
// qwen35 and gemma-4 vocabularies; seeds are their test inputs.
func allTokenizers(t testing.TB) (map[string]*Tokenizer, []string) {
	fuzzOnce.Do(func() {
		fuzzToks = synthTokenizers(t)
		for _, name := range []string{"qwen35", "gemma-4"} {
			f, inputs, _, err := loadVectors(name)
			if err != nil {
				continue
			}
			tok, err := New(f)
			if err != nil {
				t.Fatal(err)
			}
			fuzzToks[name] = tok
			fuzzSeed = append(fuzzSeed, inputs...)
		}
	})
	return fuzzToks, fuzzSeed
}

// canonical is what the tokens of s must decode to: s as llama.cpp reads
// it (bytes that are not UTF-8 as U+FFFD, code points re-encoded), with
// gemma4's "▁" read back as a space.
func canonical(tok *Tokenizer, s string) string {
	var b []byte
	for _, r := range decode(s, nil) {
		b = appendRune(b, r)
	}
	if tok.pre == preGemma4 {
		return strings.ReplaceAll(string(b), "\u2581", " ")
	}
	return string(b)
}

func FuzzEncode(f *testing.F) {
	toks, seeds := allTokenizers(f)
	for _, s := range seeds {
		f.Add(s)
	}
	for _, s := range []string{
		"", " ", "\n", "a\xffb", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf0\x9f\x98",
		"!!!!!!", "  \n    \n", "......!!!!!!??????", "''''''```````", "don't", "I'LL", "\r\n\r\n",
		"<|im_start|>user\nhi<|im_end|>", "<0x41>", "▁▁ ▁", "e\u0301\u0301", "\u3000\u00a0 x", "123456789",
		strings.Repeat("a", 300), strings.Repeat(" ", 300) + "x", strings.Repeat("\n", 40),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, tok := range toks {
			ids := tok.Encode(s)
			for _, id := range ids {
				if id < 0 || int(id) >= tok.VocabSize() {
					t.Fatalf("%s: %q: id %d out of range", name, s, id)
				}
			}
			if again := tok.Encode(s); !slices.Equal(again, ids) {
				t.Fatalf("%s: %q: not deterministic", name, s)
			}
			if got, want := string(tok.Decode(ids)), canonical(tok, s); got != want {
				t.Fatalf("%s: %q decodes to %q, want %q (ids %v)", name, s, got, want, ids)
			}
		}
	})
}
