package goengine

import (
	"math"
	"math/rand/v2"
	"sort"
)

// Sampler picks tokens from logits with llama.cpp's default chain order
// (top-k, top-p, min-p, temperature, then a seeded draw). Temperature 0 is
// greedy. Ollama's own sampler package cannot be built from the module zip.
type Sampler struct {
	Temperature float32
	TopK        int
	TopP, MinP  float32
	// RepeatPenalty (1 = off) divides positive and multiplies negative
	// logits of the tokens among the last RepeatLastN accepted, once per
	// token whatever its count, as llama.cpp's penalties sampler does.
	RepeatPenalty float32
	RepeatLastN   int
	recent        []int32 // ring of accepted tokens, at most RepeatLastN
	next          int
	rng           *rand.Rand
}

// Accept records a generated token for the repeat penalty (llama.cpp
// counts generated tokens only, not the prompt).
func (s *Sampler) Accept(tok int32) {
	if s.RepeatLastN <= 0 || s.RepeatPenalty == 1 || s.RepeatPenalty <= 0 {
		return
	}
	if len(s.recent) < s.RepeatLastN {
		s.recent = append(s.recent, tok)
		return
	}
	s.recent[s.next] = tok
	s.next = (s.next + 1) % s.RepeatLastN
}

func (s *Sampler) penalize(logits []float32) {
	if len(s.recent) == 0 {
		return
	}
	seen := make(map[int32]bool, len(s.recent))
	for _, t := range s.recent {
		if seen[t] || t < 0 || int(t) >= len(logits) {
			continue
		}
		seen[t] = true
		if logits[t] <= 0 {
			logits[t] *= s.RepeatPenalty
		} else {
			logits[t] /= s.RepeatPenalty
		}
	}
}

// NewSampler returns a sampler drawing from a PCG stream seeded by seed.
func NewSampler(temp float32, topK int, topP, minP float32, seed uint64) *Sampler {
	return &Sampler{Temperature: temp, TopK: topK, TopP: topP, MinP: minP, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

type cand struct {
	id int32
	l  float32
}

// Sample returns the chosen token id; it may change logits (the penalty). Ties in greedy mode go to the lowest
// id, as in llama.cpp's argmax.
func (s *Sampler) Sample(logits []float32) int32 {
	s.penalize(logits)
	return s.choose(logits)
}

// SampleConstrained samples as Sample does but only among tokens a grammar
// allows: valid checks the drawn token, and only when it fails does mask
// (which sets every disallowed logit to -Inf and reports how many remain)
// run over the whole vocabulary before a second draw. Drawing from p and
// redrawing from p restricted to the valid set on a miss samples exactly p
// conditioned on validity, for the price of a full mask only on misses.
// It returns -1 when mask leaves no token.
func (s *Sampler) SampleConstrained(logits []float32, valid func(int32) bool, mask func([]float32) int) int32 {
	s.penalize(logits)
	tok := s.choose(logits)
	if valid(tok) {
		return tok
	}
	if mask(logits) == 0 {
		return -1
	}
	return s.choose(logits)
}

func (s *Sampler) choose(logits []float32) int32 {
	if s.Temperature <= 0 {
		best := 0
		for i, l := range logits {
			if l > logits[best] {
				best = i
			}
		}
		return int32(best)
	}
	cs := make([]cand, len(logits))
	for i, l := range logits {
		cs[i] = cand{int32(i), l}
	}
	sort.SliceStable(cs, func(a, b int) bool { return cs[a].l > cs[b].l })
	if s.TopK > 0 && s.TopK < len(cs) {
		cs = cs[:s.TopK]
	}
	p := softmax(cs, 1)
	if s.TopP > 0 && s.TopP < 1 {
		var sum float64
		for i := range p {
			sum += p[i]
			if sum >= float64(s.TopP) {
				cs, p = cs[:i+1], p[:i+1]
				break
			}
		}
	}
	if s.MinP > 0 {
		limit := p[0] * float64(s.MinP)
		k := len(p)
		for k > 1 && p[k-1] < limit {
			k--
		}
		cs = cs[:k]
	}
	p = softmax(cs, s.Temperature)
	r := s.rng.Float64()
	var acc float64
	for i := range p {
		acc += p[i]
		if r < acc {
			return cs[i].id
		}
	}
	return cs[len(cs)-1].id
}

func softmax(cs []cand, temp float32) []float64 {
	p := make([]float64, len(cs))
	maxL := float64(cs[0].l) / float64(temp)
	var sum float64
	for i, c := range cs {
		p[i] = math.Exp(float64(c.l)/float64(temp) - maxL)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}
