package bpe

// session holds one Encode call's scratch space.
type session struct {
	t    *Tokenizer
	cps  []rune
	word []byte
	syms []symbol
	heap []bigram
	key  []byte
	work int // merge steps and characters examined (for the linearity test)
}

// symbol is a piece of the word being merged: word[start:start+n], linked
// to its live neighbours; n is 0 once merged into the left neighbour.
type symbol struct {
	start, n   int
	prev, next int
}

// bigram is a candidate merge of syms[left] and syms[right]; size is their
// combined length when it was queued, so a stale entry (either side changed
// since) is recognised in O(1): sides only ever grow.
type bigram struct {
	rank, left, right, size int
}

// before is llama.cpp's queue order: lowest rank first, and of equal ranks
// the leftmost pair.
func (a bigram) before(b bigram) bool {
	return a.rank < b.rank || a.rank == b.rank && a.left < b.left
}

// encodeWord merges one pre-token (s.word) and appends its ids to out.
func (s *session) encodeWord(out []int32) []int32 {
	t, w := s.t, s.word
	if len(w) == 0 {
		return out
	}
	s.syms, s.heap = s.syms[:0], s.heap[:0]
	if t.pre == preGemma4 && allNewlines(w) {
		// llama.cpp takes a run of newlines whole when it is a token
		if id, ok := t.ids[string(w)]; ok {
			return append(out, id)
		}
	}
	for off := 0; off < len(w); {
		n := min(len(w)-off, utf8Len(w[off]))
		s.syms = append(s.syms, symbol{start: off, n: n, prev: len(s.syms) - 1, next: len(s.syms) + 1})
		off += n
	}
	s.syms[len(s.syms)-1].next = -1
	for i := 1; i < len(s.syms); i++ {
		s.push(i-1, i)
	}
	for len(s.heap) > 0 {
		s.work++
		b := s.pop()
		l, r := &s.syms[b.left], &s.syms[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if l.next >= 0 {
			s.syms[l.next].prev = b.left
		}
		s.push(l.prev, b.left)
		s.push(b.left, l.next)
	}
	for _, sym := range s.syms {
		if sym.n == 0 {
			continue
		}
		piece := w[sym.start : sym.start+sym.n]
		if id, ok := t.ids[string(piece)]; ok {
			out = append(out, id)
			continue
		}
		// not a token: one token per byte where the vocabulary has one
		for _, c := range piece {
			if t.pre == preGemma4 {
				if id := t.bytes[c]; id >= 0 {
					out = append(out, id)
				}
			} else if id, ok := t.ids[string([]byte{c})]; ok {
				out = append(out, id)
			}
		}
	}
	return out
}

func (s *session) push(left, right int) {
	if left < 0 || right < 0 {
		return
	}
	l, r := s.syms[left], s.syms[right]
	s.key = append(append(append(s.key[:0], s.word[l.start:l.start+l.n]...), ' '), s.word[r.start:r.start+r.n]...)
	rank, ok := s.t.ranks[string(s.key)]
	if !ok {
		return
	}
	s.work++
	// sift up
	h := append(s.heap, bigram{rank: int(rank), left: left, right: right, size: l.n + r.n})
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].before(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
		s.work++
	}
	s.heap = h
}

func (s *session) pop() bigram {
	h := s.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if c+1 < len(h) && h[c+1].before(h[c]) {
			c++
		}
		if !h[c].before(h[i]) {
			break
		}
		h[i], h[c] = h[c], h[i]
		i = c
		s.work++
	}
	s.heap = h
	return top
}

// utf8Len is the sequence length a lead byte announces, as llama.cpp
// reckons it (continuation bytes count as 1).
func utf8Len(b byte) int {
	switch b >> 4 {
	case 0xC, 0xD:
		return 2
	case 0xE:
		return 3
	case 0xF:
		return 4
	}
	return 1
}

func allNewlines(w []byte) bool {
	for _, c := range w {
		if c != '\n' {
			return false
		}
	}
	return true
}
