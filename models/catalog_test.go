package models

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCatalogEntries(t *testing.T) {
	c := Catalog()
	if len(c) < 12 {
		t.Fatalf("catalog has %d models, want at least 12", len(c))
	}
	names := map[string]bool{}
	var small, large bool
	for i, e := range c {
		if names[e.Name] {
			t.Errorf("duplicate name %s", e.Name)
		}
		names[e.Name] = true
		if e.Name != strings.ToLower(e.Name) || strings.ContainsAny(e.Name, " :/_") {
			t.Errorf("name %q: want lower case, words joined by - and .", e.Name)
		}
		if !hfRepoRe.MatchString(e.Repo) || !strings.HasSuffix(e.File, ".gguf") || !hasQuantToken(e.File, e.Quant) {
			t.Errorf("%s: repo %q file %q quant %q", e.Name, e.Repo, e.File, e.Quant)
		}
		if _, err := safeFileName(e.File); err != nil {
			t.Errorf("%s: %v", e.Name, err)
		}
		if e.License == "" || e.Description == "" || e.Arch == "" || e.Context == 0 || e.Size <= 0 {
			t.Errorf("%s: missing fields %+v", e.Name, e)
		}
		// A verified entry names the exact download it was confirmed from.
		if e.Verified && e.Source != DefaultHFBaseURL+e.URLPath() {
			t.Errorf("%s: verified from %q, which is not its download %s", e.Name, e.Source, DefaultHFBaseURL+e.URLPath())
		}
		if !e.Verified && e.Source != "" {
			t.Errorf("%s: unverified but has a source", e.Name)
		}
		if e.Params < 500e6 || e.Params > 25e9 {
			t.Errorf("%s: %d params is outside 0.5B..25B", e.Name, e.Params)
		}
		// A Q4_K_M file holds roughly 4.5-6 bits per parameter.
		if bpp := float64(e.Size) * 8 / float64(e.Params); bpp < 4 || bpp > 7 {
			t.Errorf("%s: size %d for %d params is %.1f bits per parameter", e.Name, e.Size, e.Params, bpp)
		}
		if i > 0 && e.Size < c[i-1].Size {
			t.Errorf("%s (%d bytes) after %s (%d): want the smallest download first", e.Name, e.Size, c[i-1].Name, c[i-1].Size)
		}
		m := e.Meta()
		if m.Layers == 0 || m.Heads == 0 || m.KVHeads == 0 || m.KeyLen == 0 || m.Vocab == 0 || m.Embd == 0 {
			t.Errorf("%s: shape missing", e.Name)
		}
		if m.KVLayers >= m.Layers {
			t.Errorf("%s: %d KV layers of %d: leave kvLayers 0 when every layer has a cache", e.Name, m.KVLayers, m.Layers)
		}
		small = small || e.Params < 1e9
		large = large || e.Params > 15e9
		if got, ok := CatalogLookup(strings.ToUpper(e.Name)); !ok || got.Name != e.Name {
			t.Errorf("lookup %s", e.Name)
		}
		if e.URLPath() != "/"+e.Repo+"/resolve/main/"+e.File {
			t.Errorf("URLPath %s", e.URLPath())
		}
	}
	if !small || !large {
		t.Error("catalog should span below 1B to a model for big machines")
	}
	// The hybrids keep a KV cache in their attention layers only.
	for name, kv := range map[string]uint64{"qwen3.5-0.8b": 6, "qwen3.5-4b": 8, "qwen3.5-9b": 8,
		"lfm2.5-1.2b": 6, "granite4-h-micro": 4, "gemma4-e2b": 15, "gemma4-e4b": 24, "llama3.2-3b": 0} {
		if e, ok := CatalogLookup(name); !ok || e.Meta().KVLayers != kv {
			t.Errorf("%s: KV layers %d, want %d", name, e.Meta().KVLayers, kv)
		}
	}
	if e, ok := CatalogLookup("qwen3.5:4b"); !ok || e.Name != "qwen3.5-4b" {
		t.Error("ollama-style name not accepted")
	}
	if _, ok := CatalogLookup("nope"); ok {
		t.Error("unknown name found")
	}
	// Catalog returns a copy.
	c[0].Name = "changed"
	if Catalog()[0].Name == "changed" {
		t.Error("Catalog exposes its backing array")
	}
}

// A hybrid's estimate is far below a dense model's of the same size at a
// long context: Qwen3.5 4B needs less KV cache than Llama 3.2 3B.
func TestCatalogHybridKVCache(t *testing.T) {
	q, _ := CatalogLookup("qwen3.5-4b")
	l, _ := CatalogLookup("llama3.2-3b")
	qm, lm := q.Meta(), l.Meta()
	qe, le := EstimateMemory(&qm, 32768), EstimateMemory(&lm, 32768)
	// 8 layers x 4 KV heads x (256+256) x 2 bytes = 32 KiB a token.
	if qe.KVCache != 32768*8*4*512*2 {
		t.Errorf("qwen3.5-4b KV at 32K: %d", qe.KVCache)
	}
	if qe.KVCache*3 > le.KVCache {
		t.Errorf("qwen3.5-4b KV %d is not well below llama3.2-3b's %d", qe.KVCache, le.KVCache)
	}
}

func TestCatalogWithFit(t *testing.T) {
	isolate(t)
	fakeMemory(t, 2_000_000_000)
	fakeTotal(t, 4_000_000_000)
	var marks = map[string]Fit{}
	var recommended []string
	for _, e := range CatalogWithFit(0) {
		marks[e.Name] = e.Fit
		if e.Estimate.Context != int(min(uint64(DefaultContext), e.Context)) {
			t.Errorf("%s: context %d", e.Name, e.Estimate.Context)
		}
		if e.Downloaded != "" {
			t.Errorf("%s: downloaded in an empty home", e.Name)
		}
		if e.Recommended {
			recommended = append(recommended, e.Name)
		}
	}
	if marks["qwen3.5-0.8b"] != FitOK || marks["qwen3.5-4b"] != FitNo {
		t.Errorf("with 2 GB free: %v", marks)
	}
	if len(recommended) != 1 || recommended[0] != "qwen3.5-0.8b" {
		t.Errorf("recommended on a 4 GB machine: %v", recommended)
	}

	// A file in the models folder is marked downloaded.
	e, _ := CatalogLookup("qwen3.5-0.8b")
	p := filepath.Join(ModelsDir(), e.File)
	tinyModel(t, p, "", false)
	for _, c := range CatalogWithFit(0) {
		if (c.Name == e.Name) != (c.Downloaded == p) {
			t.Errorf("%s: downloaded %q", c.Name, c.Downloaded)
		}
	}
}

// The recommendation follows installed memory and steps down when free
// memory cannot hold the model.
func TestRecommend(t *testing.T) {
	const GB = 1_000_000_000
	for _, c := range []struct {
		total, avail uint64
		want         string
	}{
		{2 * GB, 1 * GB, "qwen3.5-0.8b"},
		{4 * GB, 3 * GB, "qwen3.5-0.8b"},
		{6_300_000_000, 5 * GB, "gemma4-e2b"}, // a 6 GB machine
		{8_200_000_000, 6 * GB, "qwen3.5-4b"}, // an 8 GB machine
		{7_400_000_000, 6 * GB, "qwen3.5-4b"}, // 8 GB less what an integrated GPU takes
		{16_700_000_000, 12 * GB, "qwen3.5-9b"},
		{33_600_000_000, 28 * GB, "gpt-oss-20b"},
		{128 * GB, 100 * GB, "gpt-oss-20b"},
		{0, 0, "qwen3.5-4b"},                     // nothing known
		{0, 12 * GB, "qwen3.5-4b"},               // total unknown: free memory stands in
		{16_700_000_000, 0, "qwen3.5-9b"},        // free memory unknown: by total alone
		{33_600_000_000, 4 * GB, "qwen3.5-4b"},   // a big machine that is busy now
		{16_700_000_000, 1 * GB, "qwen3.5-0.8b"}, // nothing fits: the smallest
	} {
		if got := Recommend(c.total, c.avail); got != c.want {
			t.Errorf("Recommend(%d, %d) = %s, want %s", c.total, c.avail, got, c.want)
		}
	}
	// Every tier names a catalog model, and each fits in its tier's memory.
	for _, r := range recommendTiers {
		e, ok := CatalogLookup(r.name)
		if !ok {
			t.Errorf("tier %s is not in the catalog", r.name)
			continue
		}
		m := e.Meta()
		if r.minTotal > 0 && EstimateMemory(&m, 0).Total > r.minTotal*8/10 {
			t.Errorf("%s needs %d, more than 80%% of its tier's %d", r.name, EstimateMemory(&m, 0).Total, r.minTotal)
		}
	}
}

func TestSafeFileName(t *testing.T) {
	for _, bad := range []string{"", ".", "..", "../x.gguf", "a/b.gguf", `a\b.gguf`, "/etc/passwd", ".hidden.gguf", "a\x00b", "a\nb.gguf", "\u009b2Jx.gguf", "a\u0085b.gguf", "a\x7fb.gguf", "a\x9bb.gguf", strings.Repeat("a", 300)} {
		if _, err := safeFileName(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
		if p := joinInside("/models", bad); p != "" {
			t.Errorf("joinInside accepted %q: %s", bad, p)
		}
	}
	for _, good := range []string{"Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "model..gguf", "a b.gguf", "modèle-ü.gguf"} {
		if _, err := safeFileName(good); err != nil {
			t.Errorf("refused %q: %v", good, err)
		}
	}
}

func FuzzSafeFileName(f *testing.F) {
	for _, s := range []string{"model.gguf", "../x", "a/../../b", "..", "\x00", "C:\\x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		dir := "/models/dir"
		p := joinInside(dir, name)
		if p == "" {
			return
		}
		if filepath.Dir(p) != dir {
			t.Fatalf("%q escapes to %q", name, p)
		}
	})
}
