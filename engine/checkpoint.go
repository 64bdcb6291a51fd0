package engine

/*
#include <stdlib.h>
#include "llama.h"
#include "guard.h"

*/
import "C"

import (
	"slices"
	"unsafe"
)

// Recurrent and hybrid models (LFM2, Granite 4 H, Nemotron-H, Mamba) keep
// one running state per sequence, which llama.cpp cannot roll back: when a
// prompt leaves the cached tokens anywhere but at the end (a re-tokenized
// reply, regenerate, undo, an edited turn), llama_memory_seq_rm fails and
// the whole chat would be read again. So after each prompt is read the
// engine keeps a checkpoint: the recurrent part of seq 0's state (the
// attention part stays in the cache, and is cut back with seq_rm), the
// tokens it stands for, and the logits of the last one, so a prompt that
// ends exactly there needs no forward pass.
const maxCheckpoints = 3

type checkpoint struct {
	toks   []Token
	state  []byte // llama_state_seq_get_data_ext(..., PARTIAL_ONLY)
	logits []float32
	used   uint64
}

type checkpoints struct {
	list []checkpoint
	tick uint64
}

// hybridMemory reports whether the model's memory cannot drop a partial tail.
func (m *model) hybridMemory() bool {
	return bool(C.llama_model_is_recurrent(m.c)) || bool(C.llama_model_is_hybrid(m.c))
}

func (e *Engine) checkpointsOn() bool { return !e.opts.NoSnapshots && e.model.hybridMemory() }

// takeCheckpoint records the state of seq 0, which holds exactly e.cached
// and whose last decode was of e.cached's last token.
func (e *Engine) takeCheckpoint() {
	if !e.checkpointsOn() || len(e.cached) == 0 {
		return
	}
	cp := &e.ckpts
	cp.tick++
	for i := range cp.list {
		if slices.Equal(cp.list[i].toks, e.cached) {
			cp.list[i].used = cp.tick
			return
		}
	}
	state := e.lc.partialStateGet()
	logits := e.lc.lastLogits(e.model.nVocab())
	if state == nil || logits == nil {
		return
	}
	var k *checkpoint
	if len(cp.list) < maxCheckpoints {
		cp.list = append(cp.list, checkpoint{})
		k = &cp.list[len(cp.list)-1]
	} else {
		k = &cp.list[0]
		for i := range cp.list {
			if cp.list[i].used < k.used {
				k = &cp.list[i]
			}
		}
	}
	k.toks = append(k.toks[:0], e.cached...)
	k.state, k.logits, k.used = state, logits, cp.tick
}

// restoreCheckpoint is the fallback when the cache could not be cut back to
// the prompt's common prefix c with it. It restores the longest checkpoint
// that begins toks and lies within c (the attention part of the cache is
// valid only there), cuts the attention part back to it, and returns its
// length, with its logits when it is the whole prompt. With none usable,
// the cache is cleared and n is 0.
func (e *Engine) restoreCheckpoint(toks []Token, c int) (n int, logits []float32) {
	var best *checkpoint
	if e.checkpointsOn() {
		for i := range e.ckpts.list {
			k := &e.ckpts.list[i]
			if len(k.toks) <= c && len(k.toks) <= len(toks) && slices.Equal(k.toks, toks[:len(k.toks)]) &&
				(best == nil || len(k.toks) > len(best.toks)) {
				best = k
			}
		}
	}
	// The recurrent state goes first: llama_memory_hybrid::seq_rm tries the
	// recurrent part first, and that refuses to cut inside its state until
	// the state ends at the checkpoint.
	if best == nil || !e.lc.partialStateSet(best.state) || !e.lc.removeFrom(e.posAt(len(best.toks))) {
		e.lc.clear()
		return 0, nil
	}
	e.ckpts.tick++
	best.used = e.ckpts.tick
	if len(best.toks) == len(toks) {
		logits = best.logits
	}
	return len(best.toks), logits
}

// partialStateGet serialises the recurrent part of seq 0's state.
func (lc *llamaContext) partialStateGet() []byte {
	n := C.llama_state_seq_get_size_ext(lc.c, 0, C.LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY)
	if n == 0 {
		return nil
	}
	buf := make([]byte, int(n))
	got := C.llama_state_seq_get_data_ext(lc.c, (*C.uint8_t)(unsafe.Pointer(&buf[0])), n, 0, C.LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY)
	if got == 0 {
		return nil
	}
	return buf[:got]
}

// partialStateSet replaces the recurrent part of seq 0's state.
func (lc *llamaContext) partialStateSet(data []byte) bool {
	if len(data) == 0 {
		return false
	}
	p := C.CBytes(data)
	defer C.free(p)
	return C.llama_state_seq_set_data_ext(lc.c, (*C.uint8_t)(p), C.size_t(len(data)), 0, C.LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY) != 0
}

// lastLogits copies the logits of the last decoded token.
func (lc *llamaContext) lastLogits(nVocab int) []float32 {
	p := C.llama_get_logits_ith(lc.c, -1)
	if p == nil || nVocab <= 0 {
		return nil
	}
	return slices.Clone(unsafe.Slice((*float32)(unsafe.Pointer(p)), nVocab))
}

// next samples a token: from *saved once when it is set (a restored
// checkpoint's logits), else from the context's last decode.
func (s *sampler) next(lc *llamaContext, saved *[]float32) (Token, error) {
	if l := *saved; l != nil {
		*saved = nil
		t := Token(C.natter_sample_logits(s.c, (*C.float)(unsafe.Pointer(&l[0])), C.int(len(l))))
		if t < 0 {
			return 0, errGrammarStuck
		}
		return t, nil
	}
	return s.sample(lc)
}
