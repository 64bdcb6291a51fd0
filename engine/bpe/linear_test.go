package bpe

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// linearInputs are text shapes that stress one part of the tokenizer each:
// long runs of one character (one huge pre-token, many equal-rank merges),
// long whitespace runs with and without newlines, contractions, digits,
// marks, invalid bytes, and random mixtures.
func linearInputs() map[string]string {
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "!", " ", "\n", "\t", "'s", "é", "\u0301", "日", "7", "\xff", "▁", "\r\n", "  ", ".", "ab", "aa"}
	var mix strings.Builder
	for mix.Len() < 4096 {
		mix.WriteString(pieces[r.IntN(len(pieces))])
	}
	return map[string]string{
		"letters":  strings.Repeat("a", 4096),
		"bangs":    strings.Repeat("!", 4096),
		"spaces":   strings.Repeat(" ", 4096) + "x",
		"blank":    strings.Repeat("  \n    \n", 512),
		"newlines": strings.Repeat("\n", 4096),
		"apos":     strings.Repeat("'", 4096),
		"digits":   strings.Repeat("1234567890", 410),
		"marks":    "e" + strings.Repeat("\u0301", 2048),
		"invalid":  strings.Repeat("\xff\xc0", 2048),
		"words":    strings.Repeat("the quick brown fox, don't jump! ", 128),
		"mix":      mix.String(),
	}
}

// doublingVocab is a qwen35 vocabulary whose merges build runs of 2, 4, …,
// 256 "a" or "!" and equal-rank chains: the worst case for the merge queue.
func doublingVocab(t *testing.T) *Tokenizer {
	var extra, merges []string
	for _, c := range []string{"a", "!", "Ġ", "Ċ"} {
		for n := 1; n < 256; n *= 2 {
			extra = append(extra, strings.Repeat(c, 2*n))
			merges = append(merges, strings.Repeat(c, n)+" "+strings.Repeat(c, n))
		}
	}
	return byteVocab(t, extra, merges)
}

// Work (characters examined, queue operations and sift steps) grows with
// the input's size, not its square: 8 times the input may cost at most 16
// times the work (the queue adds a log factor; quadratic would be 64).
func TestLinearWork(t *testing.T) {
	toks, _ := allTokenizers(t)
	toks["doubling"] = doublingVocab(t)
	worst, worstAt := 0.0, ""
	for name, tok := range toks {
		for shape, in := range linearInputs() {
			small := &session{t: tok}
			tok.encode(in, small)
			big := &session{t: tok}
			tok.encode(strings.Repeat(in, 8), big)
			if small.work == 0 {
				t.Fatalf("%s/%s: no work counted", name, shape)
			}
			ratio := float64(big.work) / float64(small.work)
			if ratio > worst {
				worst, worstAt = ratio, name+"/"+shape
			}
			if ratio > 16 {
				t.Errorf("%s/%s: 8x the input cost %.1fx the work (%d vs %d)", name, shape, ratio, big.work, small.work)
			}
		}
	}
	t.Logf("largest ratio %.2f (%s)", worst, worstAt)
}

func BenchmarkEncode(b *testing.B) {
	toks, seeds := allTokenizers(b)
	text := strings.Repeat(strings.Join(seeds, "\n"), 4)
	if len(seeds) == 0 {
		text = strings.Repeat(linearInputs()["words"], 16)
	}
	inputs := linearInputs()
	inputs["vectors"] = text
	for _, name := range []string{"qwen35", "gemma-4", "synth-qwen35", "synth-gemma4"} {
		tok := toks[name]
		if tok == nil {
			continue
		}
		for _, shape := range []string{"vectors", "words", "letters", "mix"} {
			in := inputs[shape]
			b.Run(name+"/"+shape, func(b *testing.B) {
				b.SetBytes(int64(len(in)))
				for b.Loop() {
					tok.Encode(in)
				}
			})
		}
	}
}
