package goengine

import (
	"errors"
	"math"
	"slices"
)

// Recurrent (hybrid) models cannot roll their state back: a follow-up turn
// whose prompt leaves the cached tokens anywhere (a re-tokenized reply, a
// template that drops old <think> blocks, regenerate, undo, edit) would
// re-read the whole chat. So after each prompt is read, the engine keeps a
// snapshot of the state at its end in a spare cache sequence. The cache
// shares cells and recurrent slots between sequences (copy on write), so a
// snapshot costs one recurrent state, not a copy of the attention cache.
const (
	maxSnapshots = 3
	// snapSeqs is how many cache sequences to ask for: seq 0 runs, seqs
	// 1..maxSnapshots hold snapshots, and one more recurrent slot is kept
	// free for the copy on write when seq 0 shares a snapshot's slot.
	snapSeqs = maxSnapshots + 2
)

type snapshot struct {
	seq    int
	toks   []int32
	logits []float32 // after the last token, so a regenerate needs no forward
	used   uint64
}

// recurrent reports whether the cache is a hybrid one kept with snapshots
// (Load sets snapshotsOn only for checkpoint caches).
func (e *Engine) recurrent() bool { return e.snapshotsOn }

// bestSnapshot is the longest snapshot whose tokens begin toks.
func (e *Engine) bestSnapshot(toks []int32) *snapshot {
	var best *snapshot
	for i := range e.snaps {
		s := &e.snaps[i]
		if len(s.toks) <= len(toks) && slices.Equal(s.toks, toks[:len(s.toks)]) && (best == nil || len(s.toks) > len(best.toks)) {
			best = s
		}
	}
	return best
}

// restore makes seq 0 the snapshot's state.
func (e *Engine) restore(s *snapshot) {
	e.tick++
	s.used = e.tick
	e.cache.CopyPrefix(s.seq, 0, int32(len(s.toks)))
	e.cached = append(e.cached[:0], s.toks...)
}

// takeSnapshot records the state of seq 0 (which holds exactly e.cached).
func (e *Engine) takeSnapshot(logits []float32) {
	if !e.recurrent() || len(e.cached) == 0 {
		return
	}
	e.tick++
	for i := range e.snaps {
		if slices.Equal(e.snaps[i].toks, e.cached) {
			e.snaps[i].used = e.tick
			return
		}
	}
	var s *snapshot
	if len(e.snaps) < maxSnapshots {
		e.snaps = append(e.snaps, snapshot{seq: len(e.snaps) + 1})
		s = &e.snaps[len(e.snaps)-1]
	} else {
		s = &e.snaps[0]
		for i := range e.snaps {
			if e.snaps[i].used < s.used {
				s = &e.snaps[i]
			}
		}
	}
	e.cache.CopyPrefix(0, s.seq, int32(len(e.cached)))
	s.toks = append(s.toks[:0], e.cached...)
	s.logits = append(s.logits[:0], logits...)
	s.used = e.tick
}

// dropSnapshots frees every snapshot's cells and slot.
func (e *Engine) dropSnapshots() {
	for _, s := range e.snaps {
		_ = e.cache.Remove(s.seq, 0, math.MaxInt32)
	}
	e.snaps = e.snaps[:0]
}

// errCacheFull is forward's error when the cache had no room; nothing was
// written, so the caller may free snapshots and try again.
var errCacheFull = errors.New("the cache is full")
