package models

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

func TestEstimateKVCache(t *testing.T) {
	m := &Meta{FileSize: 1000, Layers: 2, Embd: 64, Heads: 4, KVHeads: 2, KeyLen: 16, ValLen: 8, Vocab: 100}
	e := EstimateMemory(m, 100)
	// F16 K and V per layer, per token, per KV head.
	if want := uint64(2 * 100 * 2 * (16 + 8) * 2); e.KVCache != want {
		t.Errorf("KV %d, want %d", e.KVCache, want)
	}
	if e.Weights != 1000 || e.Total != e.Weights+e.KVCache+e.Compute+runtimeOverhead || e.Context != 100 {
		t.Errorf("estimate %+v", e)
	}
	// Without key/value widths the head size is embd/heads.
	m.KeyLen, m.ValLen = 0, 0
	if e := EstimateMemory(m, 100); e.KVCache != 2*100*2*(16+16)*2 {
		t.Errorf("fallback KV %d", e.KVCache)
	}
	// Without head_count_kv every head has its own K and V.
	m.KVHeads = 0
	if e := EstimateMemory(m, 100); e.KVCache != 2*100*4*(16+16)*2 {
		t.Errorf("no-GQA KV %d", e.KVCache)
	}
}

func TestEstimateGrowsWithContext(t *testing.T) {
	for _, c := range Catalog() {
		m := c.Meta()
		a, b := EstimateMemory(&m, 2048), EstimateMemory(&m, 4096)
		if b.KVCache != 2*a.KVCache || b.Compute <= a.Compute || b.Weights != a.Weights || a.Weights != uint64(c.Size) {
			t.Errorf("%s: %+v vs %+v", c.Name, a, b)
		}
		// A real model at 4k context needs more than its file, but not absurdly more.
		if b.Total < uint64(c.Size) || b.Total > 3*uint64(c.Size)+(1<<30) {
			t.Errorf("%s: total %s for a %s file", c.Name, HumanBytes(b.Total), HumanBytes(uint64(c.Size)))
		}
	}
}

func TestContextFor(t *testing.T) {
	m := &Meta{TrainCtx: 2048}
	if m.ContextFor(0) != 2048 || m.ContextFor(1000) != 1000 || m.ContextFor(1<<20) != 2048 {
		t.Error("trained context should cap the request")
	}
	m.TrainCtx = 0
	if m.ContextFor(0) != DefaultContext {
		t.Error("unknown trained context: use the default")
	}
}

func TestFitFor(t *testing.T) {
	for _, c := range []struct {
		need, avail uint64
		want        Fit
	}{
		{100, 0, FitUnknown},
		{80, 100, FitOK},
		{81, 100, FitTight},
		{100, 100, FitTight},
		{101, 100, FitNo},
	} {
		if got := FitFor(c.need, c.avail); got != c.want {
			t.Errorf("FitFor(%d, %d) = %v, want %v", c.need, c.avail, got, c.want)
		}
	}
}

func TestCheckFitSuggestsSmallerContext(t *testing.T) {
	e, _ := CatalogLookup("llama3.2-3b")
	m := e.Meta()
	// Enough for the weights and a 4k context, not for the full 128k.
	avail := EstimateMemory(&m, 4096).Total + 1
	fakeMemory(t, avail)
	r := CheckFit(&m, 131072)
	if r.Fit != FitNo || r.Available != avail || len(r.Suggestions) == 0 {
		t.Fatalf("report %+v", r)
	}
	if !strings.Contains(r.Suggestions[0], "--ctx ") {
		t.Errorf("suggestion %q", r.Suggestions[0])
	}
	w := r.Warning()
	if !strings.Contains(w, "131072-token context") || !strings.Contains(w, "--ctx") {
		t.Errorf("warning %q", w)
	}
	// The suggested context really fits.
	var ctx int
	for _, f := range strings.Fields(r.Suggestions[0]) {
		if n, err := parseIntTrim(f); err == nil {
			ctx = n
		}
	}
	if ctx < 512 || EstimateMemory(&m, ctx).Total > avail {
		t.Errorf("suggested context %d does not fit", ctx)
	}
}

func TestCheckFitSuggestsSmallerModel(t *testing.T) {
	e, _ := CatalogLookup("qwen3.5-4b")
	m := e.Meta()
	fakeMemory(t, 2_000_000_000) // 2 GB: below the 4B's weights
	r := CheckFit(&m, 0)
	if r.Fit != FitNo {
		t.Fatalf("fit %v", r.Fit)
	}
	joined := strings.Join(r.Suggestions, " | ")
	if !strings.Contains(joined, "smaller quantization") || !strings.Contains(joined, "natter pull ") {
		t.Fatalf("suggestions %q", joined)
	}
	// The suggested model fits comfortably.
	name := joined[strings.LastIndex(joined, "natter pull ")+len("natter pull "):]
	name = strings.TrimSuffix(name, ")")
	s, ok := CatalogLookup(name)
	if !ok {
		t.Fatalf("suggested %q is not in the catalog", name)
	}
	sm := s.Meta()
	if FitFor(EstimateMemory(&sm, 0).Total, 2_000_000_000) != FitOK {
		t.Errorf("suggested %s does not fit", name)
	}
}

func TestCheckFitUnknownMemory(t *testing.T) {
	old := AvailableMemory
	AvailableMemory = func() (uint64, error) { return 0, errors.New("no /proc") }
	defer func() { AvailableMemory = old }()
	e, _ := CatalogLookup("qwen3.5-4b")
	m := e.Meta()
	r := CheckFit(&m, 0)
	if r.Fit != FitUnknown || r.Warning() != "" || r.Estimate.Total == 0 {
		t.Errorf("report %+v", r)
	}
}

func TestParseMemInfo(t *testing.T) {
	n, err := parseMemInfo(strings.NewReader("MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n"))
	if err != nil || n != 20000000*1024 {
		t.Errorf("%d %v", n, err)
	}
	n, err = parseMemInfo(strings.NewReader("MemFree: 1000 kB\nCached: 500 kB\n"))
	if err != nil || n != 1500*1024 {
		t.Errorf("old kernel: %d %v", n, err)
	}
	if _, err = parseMemInfo(strings.NewReader("garbage\n\x00\xff")); err == nil {
		t.Error("garbage accepted")
	}
	// This machine's real value is readable.
	if n, err := readMemAvailable(); err != nil || n == 0 {
		t.Errorf("readMemAvailable: %d %v", n, err)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 999: "999 B", 1500: "1.5 kB", 398_000_000: "398 MB", 1_930_000_000: "1.9 GB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	if HumanParams(494_000_000) != "494M" || HumanParams(1_540_000_000) != "1.5B" || HumanParams(0) != "?" {
		t.Error("HumanParams")
	}
}

func parseIntTrim(s string) (int, error) { return strconv.Atoi(strings.Trim(s, "()")) }

func TestCheckFitPath(t *testing.T) {
	isolate(t)
	p := t.TempDir() + "/m.gguf"
	tinyModel(t, p, "", false)
	fakeMemory(t, 1<<30)
	r, err := CheckFitPath(p, 0)
	if err != nil || r.Fit != FitOK || r.Estimate.Context != 512 || r.Estimate.KVCache == 0 {
		t.Fatalf("%+v %v", r, err)
	}
	fakeMemory(t, 1<<20) // 1 MiB free: the weights alone do not fit
	if r, _ = CheckFitPath(p, 0); r.Fit != FitNo || !strings.Contains(r.Warning(), "smaller") {
		t.Errorf("%+v", r)
	}
	if _, err := CheckFitPath(p+".missing", 0); err == nil {
		t.Error("missing file accepted")
	}
}

// The advice follows from the file's real numbers (issue 19, item 6): a
// 1 MB file whose metadata claims 10^6 layers gets no "smaller
// quantization… natter pull" advice, but a note that its metadata and
// tensors disagree.
func TestFitAdviceFollowsTheFile(t *testing.T) {
	fakeMemory(t, 2<<30)
	s := synth.Tiny()
	s.KV = map[string]any{"llama.block_count": uint32(1_000_000)}
	p := filepath.Join(t.TempDir(), "claims.gguf")
	if err := synth.Write(p, s); err != nil {
		t.Fatal(err)
	}
	r, err := CheckFitPath(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := r.Warning()
	if strings.Contains(w, "quantization") || strings.Contains(w, "natter pull") || !strings.Contains(w, "block_count says 1000000 layers but it holds tensors for 2") {
		t.Fatalf("warning %q", w)
	}
	if r.Estimate.Total > 1<<30 {
		t.Fatalf("estimate %d bytes for a tiny file", r.Estimate.Total)
	}

	// Weights that really are too big: then a smaller quantization is the
	// advice, and only a smaller catalog model is named.
	big := Meta{Arch: "llama", FileSize: 8 << 30, Layers: 32, Embd: 4096, Heads: 32, KVHeads: 8, Vocab: 32000, TrainCtx: 4096}
	r = CheckFit(&big, 0)
	if w := r.Warning(); !strings.Contains(w, "weights alone are") || !strings.Contains(w, "smaller quantization") {
		t.Fatalf("big weights: %q", w)
	}
	for _, e := range Catalog() {
		if strings.Contains(r.Warning(), "natter pull "+e.Name+")") && e.Size >= big.FileSize {
			t.Fatalf("suggested %s (%d bytes), not smaller than the file", e.Name, e.Size)
		}
	}
	// A KV cache that cannot fit while the weights can: no quantization advice.
	kv := Meta{Arch: "llama", FileSize: 100 << 20, Layers: 200, TensorLayers: 200, Embd: 65536, Heads: 512, KVHeads: 512, Vocab: 32000, TrainCtx: 4096}
	r = CheckFit(&kv, 0)
	if w := r.Warning(); strings.Contains(w, "quantization") || !strings.Contains(w, "KV cache") {
		t.Fatalf("KV-bound: %q", w)
	}
}
