package models

import "fmt"

// CheckContext refuses a requested context (--ctx) that cannot fit in free
// memory before anything is allocated: llama.cpp would otherwise spend tens
// of seconds and gigabytes before failing. It says which context does fit.
// ctx <= 0 (the automatic default) and unknown free memory always pass.
func CheckContext(m *Meta, ctx int) error {
	if ctx <= 0 {
		return nil
	}
	avail, err := AvailableMemory()
	if err != nil || avail == 0 {
		return nil
	}
	need := EstimateMemory(m, ctx)
	if need.Total <= avail {
		return nil
	}
	msg := fmt.Sprintf("--ctx %d needs about %s of memory (%s of it for the KV cache) but %s is free",
		ctx, HumanBytes(need.Total), HumanBytes(need.KVCache), HumanBytes(avail))
	fits := 0
	for c := ctx / 2; c >= 256; c /= 2 {
		if EstimateMemory(m, c).Total <= avail {
			fits = c
			break
		}
	}
	switch {
	case fits > 0:
		msg += fmt.Sprintf("; --ctx %d fits", fits)
	default:
		msg += "; even a 256-token context does not fit: the model itself is too large for free memory"
	}
	if m.TrainCtx > 0 && uint64(ctx) > m.TrainCtx {
		msg += fmt.Sprintf(" (the model was trained for %d tokens)", m.TrainCtx)
	}
	return fmt.Errorf("%s", msg)
}
