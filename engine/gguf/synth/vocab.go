package synth

import (
	"fmt"
	"unicode/utf8"
)

// Fixed ids of the synthetic vocabulary.
const (
	TokUnk       = 0 // <unk>, UNKNOWN
	TokBOS       = 1 // <s>, CONTROL
	TokEOS       = 2 // </s>, CONTROL
	TokImStart   = 3 // <|im_start|>, CONTROL
	TokImEnd     = 4 // <|im_end|>, CONTROL
	TokFirstByte = 5 // <0x00>; byte b is TokFirstByte+b (BYTE)
	TokFirstText = TokFirstByte + 256
)

// llama.cpp token types (LLAMA_TOKEN_TYPE_*).
const (
	TypeNormal  int32 = 1
	TypeUnknown int32 = 2
	TypeControl int32 = 3
	TypeByte    int32 = 6
)

// Space is SentencePiece's word-boundary marker (U+2581).
const Space = "▁"

// words become "▁word" pieces. Every prefix of every piece is in the vocab
// too, so SentencePiece merges (which only join adjacent pairs that form a
// vocab entry) can always grow a known word from its first letter.
var words = []string{
	"the", "a", "an", "and", "once", "upon", "time", "there", "was", "were",
	"is", "are", "be", "been", "hello", "world", "little", "girl", "boy",
	"named", "lily", "tom", "ben", "she", "he", "it", "they", "we", "you",
	"i", "me", "my", "to", "of", "in", "on", "at", "for", "with", "his",
	"her", "big", "small", "happy", "sad", "day", "night", "sun", "moon",
	"dog", "cat", "bird", "tree", "house", "play", "played", "run", "ran",
	"see", "saw", "said", "went", "go", "come", "came", "look", "looked",
	"good", "bad", "friend", "friends", "mom", "dad", "love", "loved", "fun",
	"red", "blue", "green", "yes", "no", "not", "can", "could", "would",
	"will", "what", "who", "how", "why", "when", "where", "this", "that",
	"these", "those", "one", "two", "three", "four", "five", "all", "some",
	"many", "very", "so", "but", "or", "if", "then", "than", "from", "by",
	"up", "down", "out", "about", "into", "over", "after", "before",
	"because", "like", "know", "think", "want", "help", "make", "made",
	"year", "people", "way", "thing", "things", "man", "woman", "child",
	"water", "food", "book", "ball", "park", "school", "home", "new", "old",
	"first", "last", "long", "great", "right", "left", "hand", "head",
	"name", "story", "chat", "model", "assistant", "user", "system",
	"question", "answer", "please", "thank", "thanks", "sorry", "okay",
	"test", "code", "file", "line", "word", "text", "number", "write",
	"read", "tell", "ask", "give", "take", "find", "get", "put", "keep",
	"Once", "The", "Hello", "I", "It", "She", "He", "They", "One", "What",
	"How", "Why", "Yes", "No", "Lily", "Tom", "Ben", "Thank", "Please",
}

// suffixes are word-internal pieces (no ▁), also prefix-closed.
var suffixes = []string{
	"ing", "ed", "er", "est", "ly", "s", "es", "ion", "ful", "ness", "'s",
	"n't", "'m", "'re", "'ll", "'ve",
}

// roles are ChatML role names as they follow <|im_start|> (no space).
// Appended last so the ids of earlier pieces stay stable.
var roles = []string{"user", "assistant", "system", "tool"}

// multibyte pieces exercise UTF-8 handling; anything else outside the
// vocab falls back to byte tokens.
var multibyte = []string{"é", "ü", "ñ", "ö", "日", "本", "語", "日本", "日本語", "▁é"}

// Vocab returns the synthetic SentencePiece vocabulary: ids 0-4 are the
// special tokens above, 5-260 the byte tokens <0x00>..<0xFF>, then normal
// pieces: "▁", printable ASCII characters, multi-byte characters,
// "▁"-prefixed English words, suffixes, and ChatML role names, each with all
// its prefixes. A piece's
// score is its length in characters, so longer pieces win SPM merges.
func Vocab() (tokens []string, scores []float32, types []int32) {
	add := func(tok string, score float32, typ int32) {
		tokens = append(tokens, tok)
		scores = append(scores, score)
		types = append(types, typ)
	}
	add("<unk>", 0, TypeUnknown)
	add("<s>", 0, TypeControl)
	add("</s>", 0, TypeControl)
	add("<|im_start|>", 0, TypeControl)
	add("<|im_end|>", 0, TypeControl)
	for b := 0; b < 256; b++ {
		add(fmt.Sprintf("<0x%02X>", b), 0, TypeByte)
	}
	seen := map[string]bool{}
	for _, t := range tokens {
		seen[t] = true
	}
	text := func(piece string) {
		// Add the piece's prefixes first (by whole characters).
		for i := range piece {
			if i == 0 {
				continue
			}
			p := piece[:i]
			if !seen[p] {
				seen[p] = true
				add(p, float32(utf8.RuneCountInString(p)), TypeNormal)
			}
		}
		if !seen[piece] {
			seen[piece] = true
			add(piece, float32(utf8.RuneCountInString(piece)), TypeNormal)
		}
	}
	text(Space)
	for c := byte('!'); c <= '~'; c++ {
		text(string(c))
	}
	for _, m := range multibyte {
		text(m)
	}
	for _, w := range words {
		text(Space + w)
	}
	for _, s := range suffixes {
		text(s)
	}
	for _, r := range roles {
		text(r)
	}
	return tokens, scores, types
}
