package models

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"natter/internal/units"
)

// DefaultContext is the context length natter uses when the user sets none
// (capped by the model's trained context).
const DefaultContext = 4096

// Meta is what natter needs to know about a model file, read from its GGUF
// header (or, for catalog entries, from the catalog).
type Meta struct {
	Arch         string `json:"arch"`
	Name         string `json:"general_name,omitempty"`
	Quantization string `json:"quantization"`
	Params       uint64 `json:"params"`
	TrainCtx     uint64 `json:"context_length"`
	HasTemplate  bool   `json:"chat_template"`
	FileSize     int64  `json:"size_bytes"`

	// Shape, for the KV-cache and compute estimates; 0 when unknown.
	Layers  uint64 `json:"-"`
	Embd    uint64 `json:"-"`
	Heads   uint64 `json:"-"`
	KVHeads uint64 `json:"-"`
	// KVLayers is how many layers keep a KV cache when that is fewer than
	// Layers (0: all of them): hybrid models (Qwen3.5's Gated DeltaNet,
	// LFM2's convolutions, Granite 4.0 H's Mamba2) hold a fixed-size
	// recurrent state in the other layers, and Gemma 4's last layers
	// reuse an earlier layer's cache.
	KVLayers uint64 `json:"-"`
	// TensorLayers is how many blocks (blk.N.*) the file holds tensors
	// for; 0 when it names none.
	TensorLayers uint64 `json:"-"`
	// Warnings are metadata problems llama.cpp works around silently.
	Warnings []string `json:"-"`
	KeyLen   uint64   `json:"-"` // per-head K width
	ValLen   uint64   `json:"-"` // per-head V width
	Vocab    uint64   `json:"-"`
}

// ContextFor is the context natter would use for this model when the user
// asks for want tokens (0: the default), capped by the trained context.
func (m *Meta) ContextFor(want int) int {
	if want <= 0 {
		want = DefaultContext
	}
	if m.TrainCtx > 0 && uint64(want) > m.TrainCtx {
		return int(m.TrainCtx)
	}
	return want
}

// Estimate is an approximate memory need, in bytes.
type Estimate struct {
	Context int    `json:"context"`
	Weights uint64 `json:"weights_bytes"`
	KVCache uint64 `json:"kv_cache_bytes"`
	Compute uint64 `json:"compute_bytes"`
	Total   uint64 `json:"total_bytes"`
}

// computeBatch is llama.cpp's default micro-batch; compute buffers scale with it.
const computeBatch = 512

// runtimeOverhead covers the process, the tokenizer and llama.cpp's bookkeeping.
const runtimeOverhead = 96 << 20

// EstimateMemory approximates what loading m with a context of ctx tokens
// needs: the weights (the file is mmapped and all of it is touched), an
// F16 KV cache in the layers that have one (m.KVLayers), and llama.cpp's
// compute buffers (logits and attention scores for one micro-batch). It
// errs on the high side: sliding-window layers and flash attention would
// need less. The recurrent state of hybrid models (tens of MB in all,
// independent of the context) is not counted.
func EstimateMemory(m *Meta, ctx int) Estimate {
	if ctx <= 0 {
		ctx = m.ContextFor(0)
	}
	e := Estimate{Context: ctx, Weights: uint64(max(m.FileSize, 0))}
	c := uint64(ctx)
	layers := m.Layers
	if m.TensorLayers > 0 && m.TensorLayers < layers {
		layers = m.TensorLayers // the metadata claims blocks the file does not have
	}

	k, v := m.KeyLen, m.ValLen
	if (k == 0 || v == 0) && m.Heads > 0 && m.Embd > 0 {
		k, v = m.Embd/m.Heads, m.Embd/m.Heads
	}
	kvHeads := m.KVHeads
	if kvHeads == 0 {
		kvHeads = m.Heads
	}
	if m.KVLayers > 0 && m.KVLayers < layers {
		layers = m.KVLayers
	}
	switch {
	case layers > 0 && kvHeads > 0 && k > 0:
		e.KVCache = layers * c * kvHeads * (k + v) * 2
	case layers > 0 && m.Embd > 0:
		e.KVCache = layers * c * m.Embd * 2 * 2
	}

	b := uint64(computeBatch)
	e.Compute = 4 * b * (m.Vocab + 4*m.Embd)
	if m.Heads > 0 {
		e.Compute += 4 * b * m.Heads * c
	}
	e.Total = e.Weights + e.KVCache + e.Compute + runtimeOverhead
	return e
}

// Fit says whether an estimate fits in the available memory.
type Fit int

const (
	FitUnknown Fit = iota // free memory could not be read
	FitOK                 // comfortably (within 80% of what is available)
	FitTight              // fits, with little room to spare
	FitNo                 // does not fit
)

// Mark is a one-character symbol for tables.
func (f Fit) Mark() string {
	switch f {
	case FitOK:
		return "✓"
	case FitTight:
		return "~"
	case FitNo:
		return "✗"
	}
	return "?"
}

func (f Fit) String() string {
	switch f {
	case FitOK:
		return "fits"
	case FitTight:
		return "tight"
	case FitNo:
		return "too big"
	}
	return "unknown"
}

// MarshalText keeps --json output stable and readable.
func (f Fit) MarshalText() ([]byte, error) {
	switch f {
	case FitOK:
		return []byte("ok"), nil
	case FitTight:
		return []byte("tight"), nil
	case FitNo:
		return []byte("no"), nil
	}
	return []byte("unknown"), nil
}

// UnmarshalText reads what MarshalText writes.
func (f *Fit) UnmarshalText(b []byte) error {
	switch string(b) {
	case "ok":
		*f = FitOK
	case "tight":
		*f = FitTight
	case "no":
		*f = FitNo
	case "unknown":
		*f = FitUnknown
	default:
		return fmt.Errorf("unknown fit %q", b)
	}
	return nil
}

// FitFor classifies need against available bytes (0 available: unknown).
func FitFor(need, available uint64) Fit {
	switch {
	case available == 0:
		return FitUnknown
	case need <= available/10*8:
		return FitOK
	case need <= available:
		return FitTight
	}
	return FitNo
}

// AvailableMemory returns the bytes this machine can give a new process
// without swapping. Tests replace it.
var AvailableMemory = readMemAvailable

func readMemAvailable() (uint64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("reading free memory: %w", err)
	}
	defer f.Close()
	return parseMemInfo(f)
}

// parseMemInfo reads MemAvailable (kB) from /proc/meminfo text, falling
// back to MemFree+Cached on old kernels that lack it.
func parseMemInfo(r io.Reader) (uint64, error) {
	vals := memInfoValues(r)
	if v, ok := vals["MemAvailable"]; ok {
		return v, nil
	}
	if v, ok := vals["MemFree"]; ok {
		return v + vals["Cached"], nil
	}
	return 0, errors.New("reading free memory: no MemAvailable in /proc/meminfo")
}

// TotalMemory returns this machine's installed memory (MemTotal), which
// picks the recommended model. Tests replace it.
var TotalMemory = readMemTotal

func readMemTotal() (uint64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("reading total memory: %w", err)
	}
	defer f.Close()
	return parseMemTotal(f)
}

// parseMemTotal reads MemTotal (kB) from /proc/meminfo text.
func parseMemTotal(r io.Reader) (uint64, error) {
	if v, ok := memInfoValues(r)["MemTotal"]; ok && v > 0 {
		return v, nil
	}
	return 0, errors.New("reading total memory: no MemTotal in /proc/meminfo")
}

// memInfoValues parses "Name: N kB" lines into bytes, skipping the rest.
func memInfoValues(r io.Reader) map[string]uint64 {
	sc := bufio.NewScanner(r)
	vals := map[string]uint64{}
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		vals[name] = n * 1024
	}
	return vals
}

// FitReport is the result of a fit check before loading or downloading.
type FitReport struct {
	Estimate  Estimate `json:"estimate"`
	Available uint64   `json:"available_bytes"`
	Fit       Fit      `json:"fit"`
	// Suggestions say what to change when it does not fit (empty otherwise).
	Suggestions []string `json:"suggestions,omitempty"`
	// Problem: the file's numbers contradict each other, so the estimate
	// (and llama.cpp's load) cannot be trusted.
	Problem string `json:"problem,omitempty"`
}

// Warning is a one-paragraph message for the user, or "" when the model fits
// (or free memory is unknown).
func (r FitReport) Warning() string {
	if r.Fit != FitNo && r.Fit != FitTight {
		return r.Problem
	}
	var b strings.Builder
	if r.Problem != "" {
		b.WriteString(r.Problem + "; ")
	}
	if r.Fit == FitNo {
		fmt.Fprintf(&b, "this model needs about %s at a %d-token context, but only %s of memory is free",
			HumanBytes(r.Estimate.Total), r.Estimate.Context, HumanBytes(r.Available))
	} else {
		fmt.Fprintf(&b, "this model needs about %s at a %d-token context, close to the %s of memory that is free",
			HumanBytes(r.Estimate.Total), r.Estimate.Context, HumanBytes(r.Available))
	}
	for _, s := range r.Suggestions {
		b.WriteString("; ")
		b.WriteString(s)
	}
	return b.String()
}

// CheckFit estimates m at ctx tokens against this machine's free memory and,
// when it does not fit, suggests a context or a smaller quantization that would.
func CheckFit(m *Meta, ctx int) FitReport {
	ctx = m.ContextFor(ctx)
	r := FitReport{Estimate: EstimateMemory(m, ctx), Problem: metaProblem(m)}
	avail, err := AvailableMemory()
	if err != nil {
		return r
	}
	r.Available = avail
	r.Fit = FitFor(r.Estimate.Total, avail)
	if r.Fit != FitNo {
		return r
	}
	for c := ctx / 2; c >= 512; c /= 2 {
		if EstimateMemory(m, c).Total <= avail {
			r.Suggestions = append(r.Suggestions, fmt.Sprintf("try a smaller context (--ctx %d)", c))
			break
		}
	}
	if len(r.Suggestions) > 0 {
		return r
	}
	// Even the smallest context does not fit: say which part is too big,
	// from the file's own numbers.
	least := EstimateMemory(m, min(ctx, 512))
	if least.Weights+runtimeOverhead > avail/10*8 {
		r.Suggestions = append(r.Suggestions, fmt.Sprintf("its weights alone are %s: choose a smaller quantization (Q4_K_M or below) or a smaller model", HumanBytes(least.Weights)))
		if s := smallerCatalogModel(avail, uint64(max(m.FileSize, 0))); s != "" {
			r.Suggestions = append(r.Suggestions, "for example "+s+" (natter pull "+s+")")
		}
	} else {
		r.Suggestions = append(r.Suggestions, fmt.Sprintf("the weights are only %s, but even at %d tokens the KV cache and compute buffers need %s (from the file's layer, head and vocabulary sizes)",
			HumanBytes(least.Weights), least.Context, HumanBytes(least.KVCache+least.Compute)))
	}
	return r
}

// metaProblem says when the file's numbers contradict each other.
func metaProblem(m *Meta) string {
	if m.TensorLayers > 0 && m.Layers != m.TensorLayers {
		return fmt.Sprintf("the file's metadata does not match its contents: %s.block_count says %d layers but it holds tensors for %d, so llama.cpp will not load it as it is", m.Arch, m.Layers, m.TensorLayers)
	}
	return ""
}

// CheckFitPath reads the model file's header and runs CheckFit: the check
// to run before loading a model with a context of ctx tokens (0: default).
func CheckFitPath(path string, ctx int) (FitReport, error) {
	m, err := ReadMeta(path)
	if err != nil {
		return FitReport{}, err
	}
	return CheckFit(m, ctx), nil
}

// smallerCatalogModel names the largest catalog model that fits comfortably
// and is smaller than a file of size bytes (0: any).
func smallerCatalogModel(avail, size uint64) string {
	best, bestParams := "", uint64(0)
	for _, e := range Catalog() {
		m := e.Meta()
		if size > 0 && uint64(max(m.FileSize, 0)) >= size {
			continue
		}
		if FitFor(EstimateMemory(&m, 0).Total, avail) == FitOK && e.Params > bestParams {
			best, bestParams = e.Name, e.Params
		}
	}
	return best
}

// HumanBytes formats n as e.g. "398 MB" or "1.9 GB" (units.Bytes).
func HumanBytes(n uint64) string { return units.Bytes(int64(min(n, 1<<62))) }

// HumanParams formats a parameter count as e.g. "494M" or "1.5B".
func HumanParams(n uint64) string {
	switch {
	case n == 0:
		return "?"
	case n < 1e6:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1fB", float64(n)/1e9)
}
