package goengine

// CancelChecks is how many times the cancel callback has read the engine's
// flag (once per node of each prompt batch's graph), or -1 when the engine
// has no in-graph cancel.
func CancelChecks(e *Engine) int64 {
	if e.cancel == nil {
		return -1
	}
	return e.cancel.Checks()
}

// CancelStops is how many prompt graphs the cancel callback has stopped.
func CancelStops(e *Engine) int64 {
	if e.cancel == nil {
		return -1
	}
	return e.cancel.Stops()
}

// WithoutInGraphCancel makes e stop a cancelled prefill between batches
// only, as before the callback (for benchmarks).
func WithoutInGraphCancel(e *Engine) {
	e.cancel.Free()
	e.cancel = nil
}
