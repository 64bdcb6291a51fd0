package ggmlops

// #include "cancel.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// ggml's CPU backend asks an abort callback after each node of a graph and,
// when it answers yes, stops the graph and returns GGML_STATUS_ABORTED.
// Cancel is a request's flag for that callback. The callback is installed
// once on the CPU backend (InstallCancel) and reads the flag of whichever
// Cancel the computing thread is running (Run), so graphs that no Cancel
// runs — a cache's own copies, another model's — are never stopped.

// Cancel is a cancel flag in C memory, which ggml's threads read.
type Cancel struct{ c *C.natter_cancel }

// NewCancel allocates a cleared flag; Free releases it.
func NewCancel() *Cancel {
	c := C.natter_cancel_new()
	if c == nil {
		return nil
	}
	return &Cancel{c: c}
}

// Free releases the flag. No Run of it may be in progress.
func (c *Cancel) Free() {
	if c != nil && c.c != nil {
		C.natter_cancel_free(c.c)
		c.c = nil
	}
}

// Set asks the graph that Run is computing (and any later one) to stop.
// It is safe to call from any goroutine.
func (c *Cancel) Set() { C.natter_cancel_set(c.c, 1) }

// Clear withdraws Set.
func (c *Cancel) Clear() { C.natter_cancel_set(c.c, 0) }

// Checks is how many times the callback has read this flag: once per node
// of the graphs Run computed.
func (c *Cancel) Checks() int64 { return int64(C.natter_cancel_checks(c.c)) }

// Stops is how many graphs the callback has stopped for this flag.
func (c *Cancel) Stops() int64 { return int64(C.natter_cancel_stops(c.c)) }

// Run calls f with the calling thread's graph computes watching c. ggml
// calls the callback on the thread that started the compute, so the
// goroutine stays on its thread meanwhile. A panic in f passes through
// after the watch ends.
func (c *Cancel) Run(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	C.natter_cancel_watch(c.c)
	defer C.natter_cancel_watch(nil)
	f()
}

// InstallCancel sets the callback on a ggml CPU backend (a ggml_backend_t)
// and reports whether it could: false for other backends. Installing it
// again is harmless.
func InstallCancel(backend unsafe.Pointer) bool {
	return C.natter_cancel_install(backend) != 0
}

// ResetScheduler synchronises and resets a ggml_backend_sched_t, as its
// owner does after a successful compute: after a failed one the scheduler
// still holds the failed graph's allocation and would compute that graph
// again in place of the next.
func ResetScheduler(sched unsafe.Pointer) {
	if sched != nil {
		C.natter_sched_reset(sched)
	}
}
