package engine

// M-RoPE on the llama.cpp backend (Qwen2-VL, Qwen2.5-VL, Qwen3-VL): an
// image's embeddings share one time position, with their row and column
// added on the other axes, and the text after the image resumes at that
// time position plus the longer side of its grid, as upstream's mtmd
// places them. Token indexes and positions part at each image, by its
// embeddings minus that side; posGap records it, so every decode and cut
// of the cache goes through posAt.

// posGap: from token index at on, positions lag the index by shrink more.
type posGap struct{ at, shrink int }

// posAt is the position of cached token index n.
func (e *Engine) posAt(n int) int {
	for _, g := range e.gaps {
		if g.at <= n {
			n -= g.shrink
		}
	}
	return n
}

// trimGaps forgets the images past a cache cut at n.
func (e *Engine) trimGaps(n int) {
	k := 0
	for _, g := range e.gaps {
		if g.at <= n {
			e.gaps[k] = g
			k++
		}
	}
	e.gaps = e.gaps[:k]
}

// addGap records an image decoded with M-RoPE positions.
func (e *Engine) addGap(ms mediaSpan) {
	if e.proj == nil || !e.proj.mrope {
		return
	}
	nx, ny := ms.grid()
	if nx*ny == ms.n && nx > 0 {
		e.gaps = append(e.gaps, posGap{at: ms.start + ms.n, shrink: ms.n - max(nx, ny)})
	}
}
