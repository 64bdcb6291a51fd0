package goengine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"unsafe"

	"github.com/ollama/ollama/kvcache"
	"github.com/ollama/ollama/ml"

	"natter/engine/ggmlops"
)

// A prompt batch is one ggml graph of up to 512 tokens, seconds of compute
// on a laptop, and Ollama's API has no way to stop one. ggml's CPU backend
// does (an abort callback it asks after each node), so the engine installs
// natter's (ggmlops.Cancel) on the CPU backend of Ollama's scheduler, which
// it reaches through the unexported fields of ml/backend/ggml.Backend, and
// sets its flag when a Prefill's context ends.
//
// A stopped graph is a failed compute: Ollama's Context.Compute panics on
// it, before resetting its scheduler, and the cache holds part of the batch
// (some layers' keys and values, a recurrent state updated by some layers).
// forward recovers, resets the scheduler (ggml would otherwise compute the
// stopped graph again in place of the next one) and discard drops what the
// batch left in the cache, so the next request reads it again.
//
// When the fields are not found (another Ollama version), cancel stays nil
// and a cancelled Prefill stops between batches, as before.

// errStopped is forward's error for a batch whose graph the cancel flag
// stopped; Prefill returns the context's error in its place.
var errStopped = errors.New("the batch was stopped by its cancel")

// schedHandle is what the engine needs of Ollama's scheduler.
type schedHandle struct {
	sched unsafe.Pointer // ggml_backend_sched_t
	mu    *sync.Mutex    // Backend.schedMu: one compute at a time
}

// setupCancel installs the callback on the scheduler's CPU backends and
// gives the engine its flag, or leaves cancellation between batches.
func (e *Engine) setupCancel(b ml.Backend) {
	h, backends, ok := reachScheduler(b)
	if !ok {
		return
	}
	e.sched = h // a failed compute resets it whether or not a cancel stopped it
	installed := false
	for _, p := range backends {
		if ggmlops.InstallCancel(p) {
			installed = true
		}
	}
	if installed {
		e.cancel = ggmlops.NewCancel()
	}
}

// reachScheduler finds the scheduler, its lock and its backends in the
// fields of Ollama's ggml Backend (sched, schedMu, schedBackends), under the
// layout wrapper if there is one.
func reachScheduler(b ml.Backend) (schedHandle, []unsafe.Pointer, bool) {
	if lb, ok := b.(*layoutBackend); ok {
		b = lb.Backend // the file's names mapped over Ollama's backend
	}
	v := reflect.ValueOf(b)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return schedHandle{}, nil, false
	}
	s := v.Elem()
	sched, mu, list := s.FieldByName("sched"), s.FieldByName("schedMu"), s.FieldByName("schedBackends")
	if !sched.IsValid() || sched.Kind() != reflect.Pointer || sched.IsNil() ||
		!mu.IsValid() || mu.Type() != reflect.TypeFor[sync.Mutex]() || !mu.CanAddr() ||
		!list.IsValid() || list.Kind() != reflect.Slice || list.Type().Elem().Kind() != reflect.Pointer {
		return schedHandle{}, nil, false
	}
	var backends []unsafe.Pointer
	for i := range list.Len() {
		if p := list.Index(i); !p.IsNil() {
			backends = append(backends, unsafe.Pointer(p.Pointer()))
		}
	}
	h := schedHandle{sched: unsafe.Pointer(sched.Pointer()), mu: (*sync.Mutex)(unsafe.Pointer(mu.UnsafeAddr()))}
	return h, backends, true
}

// resetSched undoes what a failed compute left in the scheduler h.
func resetSched(h schedHandle) {
	if h.sched == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ggmlops.ResetScheduler(h.sched)
}

// watch sets the cancel flag when ctx ends, until the function it returns
// is called; that function waits for a flag being set to be set and clears
// it, so no later graph (a Decode) sees a cancel meant for this request.
func (e *Engine) watch(ctx context.Context) (stop func()) {
	if e.cancel == nil || ctx.Done() == nil || e.watching {
		// Already watching: an image encode inside a Prefill's batches
		// runs under the Prefill's watch.
		return func() {}
	}
	e.watching = true
	e.cancel.Clear()
	set := make(chan struct{})
	unregister := context.AfterFunc(ctx, func() {
		e.cancel.Set()
		close(set)
	})
	return func() {
		if !unregister() {
			<-set
		}
		e.cancel.Clear()
		e.watching = false
	}
}

// compute runs the graph of out. With cancellable it watches the cancel
// flag and reports errStopped when the flag stopped it; any other failure
// of the compute is an error. Either way the scheduler is reset.
func (e *Engine) compute(mctx ml.Context, out ml.Tensor, cancellable bool) (err error) {
	return e.computeOn(e.sched, mctx, out, cancellable)
}

// computeOn is compute for a graph of the backend whose scheduler is h.
func (e *Engine) computeOn(h schedHandle, mctx ml.Context, out ml.Tensor, cancellable bool) (err error) {
	if !cancellable || e.cancel == nil {
		defer func() {
			if r := recover(); r != nil {
				resetSched(h)
				err = fmt.Errorf("the Go engine failed: %v", r)
			}
		}()
		mctx.Compute(out)
		return nil
	}
	stops := e.cancel.Stops()
	var failure any
	e.cancel.Run(func() {
		defer func() { failure = recover() }()
		mctx.Compute(out)
	})
	if failure == nil {
		return nil
	}
	resetSched(h)
	if e.cancel.Stops() > stops {
		return errStopped
	}
	return fmt.Errorf("the Go engine failed: %v", failure)
}

// discard drops what a failed batch at pos (the number of cached tokens)
// may have left in the cache. A causal cache goes back to pos: the batch
// wrote only its own new cells, and those before are whole. A recurrent
// state is updated in place, so a hybrid cache's sequence goes whole; its
// snapshots are other sequences, with their own cells and slots (the batch
// wrote a private copy of a shared slot), and stay.
func (e *Engine) discard(pos int) {
	e.cached = e.cached[:min(pos, len(e.cached))]
	if e.cache == nil {
		return
	}
	if _, hybrid := e.cache.(kvcache.CheckpointCache); !hybrid && pos > 0 {
		if e.cache.Remove(0, int32(pos), math.MaxInt32) == nil && e.cache.CanResume(0, int32(pos)) {
			return
		}
	}
	e.cached = e.cached[:0]
	_ = e.cache.Remove(0, 0, math.MaxInt32)
}
