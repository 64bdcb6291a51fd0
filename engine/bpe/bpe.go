// Package bpe is a pure-Go BPE tokenizer that encodes plain text exactly as
// upstream llama.cpp does for the pre-tokenizers it implements: "qwen35"
// (GPT-2 byte-level BPE after the Qwen3.5 split) and "gemma4" (BPE on raw
// UTF-8 with spaces written as "▁", split only at newlines, byte tokens
// <0xXX> as the fallback). It reads the vocabulary and merges from a GGUF
// file's metadata and does no special-token parsing: callers split control
// tokens out first.
package bpe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"natter/engine/gguf"
)

// ErrUnsupported is returned by New for tokenizers this package does not
// implement; match it with errors.Is.
var ErrUnsupported = errors.New("tokenizer not implemented")

type preType int

const (
	preQwen35 preType = iota + 1
	preGemma4
)

// Tokenizer encodes text with one file's vocabulary. It is safe for
// concurrent use.
type Tokenizer struct {
	pre    preType
	tokens []string
	ids    map[string]int32 // token text -> id; the last of equal texts wins, as in llama.cpp
	ranks  map[string]int32 // "left right" -> merge rank; the first of equal merges wins
	bytes  [256]int32       // gemma4: id of <0xXX>, or -1
}

// New builds the tokenizer for f's metadata. It returns an error wrapping
// ErrUnsupported when f's tokenizer is not one this package implements, and
// a plain error when the metadata is unusable.
func New(f *gguf.File) (*Tokenizer, error) {
	model, pre := f.String("tokenizer.ggml.model"), f.String("tokenizer.ggml.pre")
	t := &Tokenizer{}
	switch {
	case model == "gpt2" && pre == "qwen35":
		t.pre = preQwen35
	case model == "gemma4", model == "gpt2" && pre == "gemma4":
		t.pre = preGemma4
	default:
		return nil, fmt.Errorf("bpe: tokenizer model %q with pre-tokenizer %q: %w", model, pre, ErrUnsupported)
	}
	v, _ := f.Get("tokenizer.ggml.tokens")
	tokens, ok := v.([]string)
	if !ok || len(tokens) == 0 {
		return nil, errors.New("bpe: tokenizer.ggml.tokens is missing or not a string array")
	}
	v, _ = f.Get("tokenizer.ggml.merges")
	merges, ok := v.([]string)
	if !ok {
		return nil, errors.New("bpe: tokenizer.ggml.merges is missing or not a string array")
	}
	t.tokens = make([]string, len(tokens))
	t.ids = make(map[string]int32, len(tokens))
	for i, s := range tokens {
		if s == "" {
			s = "[EMPTY_" + strconv.Itoa(i) + "]" // llama.cpp's name for it
		}
		t.tokens[i] = s
		t.ids[s] = int32(i)
	}
	t.ranks = make(map[string]int32, len(merges))
	for i, m := range merges {
		// llama.cpp splits at the first space after the first byte; pairs
		// it looks up never hold a space, so only such merges can match
		// and the merge text itself serves as the key.
		p := strings.IndexByte(m[min(1, len(m)):], ' ')
		if len(m) == 0 || m[0] == ' ' || p < 0 {
			continue
		}
		if _, dup := t.ranks[m]; !dup {
			t.ranks[m] = int32(i)
		}
	}
	for b := range 256 {
		t.bytes[b] = -1
		if id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]; ok {
			t.bytes[b] = id
		}
	}
	return t, nil
}

// Pre is the pre-tokenizer's name ("qwen35" or "gemma4").
func (t *Tokenizer) Pre() string {
	if t.pre == preQwen35 {
		return "qwen35"
	}
	return "gemma4"
}

// VocabSize is the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// Encode tokenizes text as plain text (no special tokens, no BOS). Any
// byte string is accepted; bytes that are not UTF-8 are encoded as U+FFFD,
// as llama.cpp does.
func (t *Tokenizer) Encode(text string) []int32 {
	return t.encode(text, &session{t: t})
}

func (t *Tokenizer) encode(text string, s *session) []int32 {
	if t.pre == preGemma4 {
		text = strings.ReplaceAll(text, " ", "\u2581")
	}
	s.cps = decode(text, s.cps)
	var lens []int
	if t.pre == preQwen35 {
		lens = splitQwen35(s.cps, nil, &s.work)
	} else {
		lens = splitNewlines(s.cps, nil)
		s.work += len(s.cps)
	}
	var out []int32
	at := 0
	for _, n := range lens {
		s.word = s.word[:0]
		for _, r := range s.cps[at : at+n] {
			if t.pre == preQwen35 {
				// GPT-2 byte-level: every UTF-8 byte becomes one character
				var u [4]byte
				for _, b := range appendRune(u[:0], r) {
					s.word = append(s.word, byteChar[b]...)
				}
			} else {
				s.word = appendRune(s.word, r)
			}
		}
		at += n
		out = s.encodeWord(out)
	}
	return out
}

// Decode is the bytes the tokens stand for: byte-level characters mapped
// back to bytes (qwen35), or "▁" as a space and <0xXX> as its byte (gemma4).
// Ids out of range are skipped.
func (t *Tokenizer) Decode(ids []int32) []byte {
	var out []byte
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.tokens) {
			continue
		}
		s := t.tokens[id]
		if t.pre == preQwen35 {
			for _, r := range s {
				if b, ok := charByte[r]; ok {
					out = append(out, b)
				} else {
					out = utf8.AppendRune(out, r)
				}
			}
			continue
		}
		if len(s) == 6 && strings.HasPrefix(s, "<0x") && s[5] == '>' {
			if b, err := strconv.ParseUint(s[3:5], 16, 8); err == nil && t.bytes[b] == id {
				out = append(out, byte(b))
				continue
			}
		}
		out = append(out, strings.ReplaceAll(s, "\u2581", " ")...)
	}
	return out
}

// byteChar is GPT-2's byte-to-character table: printable Latin-1 bytes stand
// for themselves, the other 68 take the code points from U+0100 on in order.
var (
	byteChar [256]string
	charByte = map[rune]byte{}
)

func init() {
	next := rune(0x100)
	for b := range 256 {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE) {
			r = next
			next++
		}
		byteChar[b] = string(r)
		charByte[r] = byte(b)
	}
}
