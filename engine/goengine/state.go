package goengine

import "math"

// Reset empties the cache, so the next Prefill starts cold.
func (e *Engine) Reset() error {
	e.cached = e.cached[:0]
	if e.cache == nil {
		return nil
	}
	e.dropSnapshots()
	return e.cache.Remove(0, 0, math.MaxInt32)
}

// VocabSize is the number of tokens in the vocabulary.
func (e *Engine) VocabSize() int { return len(e.tok.Vocabulary().Values) }
