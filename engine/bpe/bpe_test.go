package bpe

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"natter/engine/gguf"
	"natter/engine/gguf/synth"
)

// file is GGUF metadata held in memory, enough for New.
func file(kvs ...any) *gguf.File {
	f := &gguf.File{}
	for i := 0; i < len(kvs); i += 2 {
		f.KV = append(f.KV, gguf.KV{Key: kvs[i].(string), Value: kvs[i+1]})
	}
	return f
}

// byteVocab is a qwen35 vocabulary of the 256 byte characters plus extra
// tokens, with the given merges.
func byteVocab(t *testing.T, extra []string, merges []string) *Tokenizer {
	t.Helper()
	var toks []string
	for b := range 256 {
		toks = append(toks, byteChar[b])
	}
	toks = append(toks, extra...)
	tok, err := New(file("tokenizer.ggml.model", "gpt2", "tokenizer.ggml.pre", "qwen35",
		"tokenizer.ggml.tokens", toks, "tokenizer.ggml.merges", merges))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func pieces(tok *Tokenizer, ids []int32) []string {
	var out []string
	for _, id := range ids {
		out = append(out, string(tok.Decode([]int32{id})))
	}
	return out
}

// Of merges with equal rank llama.cpp applies the leftmost first, so
// "!!!!!!" is "!!!!" "!!" (Ollama's tokenizer gives "!!" "!!!!").
func TestEqualRanksMergeLeftmostFirst(t *testing.T) {
	tok := byteVocab(t, []string{"!!", "!!!!", "aa", "aaa"}, []string{"! !", "!! !!", "a a", "aa a"})
	for in, want := range map[string][]string{
		"!!!!!!": {"!!!!", "!!"},
		"!!!":    {"!!", "!"},
		"!!!!!":  {"!!!!", "!"},
		"aaa":    {"aaa"},       // the left "a a", then "aa a"; right-first would leave "a" "aa"
		"aaaa":   {"aa", "aa"},  // every "a a" (rank 2) before any "aa a" (rank 3)
		"aaaaa":  {"aa", "aaa"}, // "aa" "aa" "a", then "aa a"
	} {
		if got := pieces(tok, tok.Encode(in)); !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// Lower ranks merge first wherever they are in the word.
func TestRankOrder(t *testing.T) {
	tok := byteVocab(t, []string{"bc", "ab", "abc"}, []string{"b c", "a b", "a bc"})
	if got := pieces(tok, tok.Encode("abc")); !slices.Equal(got, []string{"abc"}) {
		t.Errorf("abc: got %q", got) // "b c" (rank 0) before "a b", then "a bc"
	}
	tok = byteVocab(t, []string{"bc", "ab", "abc"}, []string{"a b", "b c", "a bc"})
	if got := pieces(tok, tok.Encode("abc")); !slices.Equal(got, []string{"ab", "c"}) {
		t.Errorf("abc: got %q", got) // "a b" first leaves no "a bc"
	}
}

// The Qwen3.5 split as llama.cpp's matcher makes it.
func TestSplitQwen35(t *testing.T) {
	for in, want := range map[string][]string{
		"Hello world":          {"Hello", " world"},
		"a  b":                 {"a", " ", " b"},
		"a   ":                 {"a", "   "},
		"a ":                   {"a", " "},
		"don't I'LL we've":     {"don", "'t", " I", "'LL", " we", "'ve"},
		"'x":                   {"'x"},
		"123 45":               {"1", "2", "3", " ", "4", "5"},
		"x\n\n y":              {"x", "\n\n", " y"},
		"  \n    \n":           {"  \n    \n"},
		"  \n    \n  a":        {"  \n    \n", " ", " a"},
		"a\r\nb":               {"a", "\r\n", "b"},
		"......!!!!!!??????":   {"......!!!!!!??????"},
		"x ...\n\nz":           {"x", " ...\n\n", "z"},
		"''''''```````":        {"''''''```````"},
		"e\u0301t\u00e9":       {"e\u0301t\u00e9"}, // letters take combining marks
		"\u0301a":              {"\u0301a"},
		"(a)":                  {"(a", ")"},
		"\t\tfoo":              {"\t", "\tfoo"},
		"日本語 テスト":              {"日本語", " テスト"},
		"\u3000x":              {"\u3000x"},
		"a\u00a0\u00a0":        {"a", "\u00a0\u00a0"},
		"\U0002EBF0\U0002EBF1": {"\U0002EBF0\U0002EBF1"}, // CJK Ext. I (Unicode 15.1) are letters
	} {
		cps := decode(in, nil)
		var got []string
		at := 0
		var work int
		for _, n := range splitQwen35(cps, nil, &work) {
			got = append(got, string(cps[at:at+n]))
			at += n
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// Bytes that are not UTF-8 become U+FFFD; a lead byte with its continuation
// bytes is taken as the code point it spells, even overlong.
func TestInvalidUTF8(t *testing.T) {
	tok := byteVocab(t, nil, nil)
	for in, want := range map[string]string{
		"a\xffb":               "a\uFFFDb",
		"\x80\x80":             "\uFFFD\uFFFD",
		"\xe6\x97":             "\uFFFD\uFFFD",
		"\xc0\x80":             "\x00",         // overlong NUL
		"\xed\xa0\x80":         "\xed\xa0\x80", // a surrogate stays as it is
		"\xf4\x90\x80\x80":     "\uFFFD\uFFFD\uFFFD\uFFFD",
		"\xf8\x88\x80\x80\x80": "\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD",
	} {
		if got := string(tok.Decode(tok.Encode(in))); got != want {
			t.Errorf("%q: decodes to %q, want %q", in, got, want)
		}
	}
}

// Gemma 4 writes spaces as "▁" and falls back to byte tokens.
func TestGemma4Bytes(t *testing.T) {
	toks := []string{"<pad>", "▁", "a", "▁a", "\n", "\n\n"}
	for b := range 256 {
		toks = append(toks, fmt.Sprintf("<0x%02X>", b))
	}
	tok, err := New(file("tokenizer.ggml.model", "gemma4", "tokenizer.ggml.tokens", toks,
		"tokenizer.ggml.merges", []string{"▁ a"}))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Pre() != "gemma4" {
		t.Errorf("Pre() = %q", tok.Pre())
	}
	for in, want := range map[string][]int32{
		" a":     {3},
		"▁a":     {3},
		"a\n\nb": {2, 5, 6 + 'b'},
		"\n\n\n": {4, 4, 4}, // no "\n\n\n" token and no merges
		"é":      {6 + 0xC3, 6 + 0xA9},
		"a\xffa": {2, 6 + 0xEF, 6 + 0xBF, 6 + 0xBD, 2},
		"  ":     {1, 1},
		"":       nil,
	} {
		if got := tok.Encode(in); !slices.Equal(got, want) {
			t.Errorf("%q: got %v, want %v", in, got, want)
		}
	}
	if got := string(tok.Decode([]int32{3, 6 + 'x', 5})); got != " ax\n\n" {
		t.Errorf("Decode: %q", got)
	}
}

func TestNewErrors(t *testing.T) {
	for _, c := range []struct {
		f           *gguf.File
		unsupported bool
	}{
		{file("tokenizer.ggml.model", "llama"), true},
		{file("tokenizer.ggml.model", "gpt2", "tokenizer.ggml.pre", "qwen2"), true},
		{file("tokenizer.ggml.model", "gpt2"), true},
		{file(), true},
		{file("tokenizer.ggml.model", "gpt2", "tokenizer.ggml.pre", "qwen35"), false},
		{file("tokenizer.ggml.model", "gemma4", "tokenizer.ggml.tokens", []string{"a"}), false},
		{file("tokenizer.ggml.model", "gemma4", "tokenizer.ggml.tokens", []int32{1}, "tokenizer.ggml.merges", []string{}), false},
	} {
		tok, err := New(c.f)
		if err == nil || tok != nil {
			t.Errorf("%v: no error", c.f.KV)
			continue
		}
		if errors.Is(err, ErrUnsupported) != c.unsupported {
			t.Errorf("%v: %v (unsupported %v)", c.f.KV, err, c.unsupported)
		}
	}
}

// synthTokenizers are the tokenizers of natter's generated qwen35 and gemma4
// models.
func synthTokenizers(t testing.TB) map[string]*Tokenizer {
	t.Helper()
	dir := t.TempDir()
	out := map[string]*Tokenizer{}
	for name, write := range map[string]func(string) error{
		"synth-qwen35": synth.Qwen35Tiny().Write,
		"synth-gemma4": synth.Gemma4Tiny().Write,
	} {
		p := filepath.Join(dir, name+".gguf")
		if err := write(p); err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := New(f)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = tok
	}
	return out
}

func TestSynthRoundTrip(t *testing.T) {
	for name, tok := range synthTokenizers(t) {
		for _, in := range []string{"Hello world, the user said: 日本語 é ü!\n\n\tend  ", "<|im_start|>user"} {
			ids := tok.Encode(in)
			if got := string(tok.Decode(ids)); got != in {
				t.Errorf("%s: %q round-trips to %q", name, in, got)
			}
			if len(ids) >= len(in) {
				t.Errorf("%s: %q: %d tokens, no merges applied", name, in, len(ids))
			}
		}
	}
}
