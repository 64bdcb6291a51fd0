package models

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCatalogEntries(t *testing.T) {
	c := Catalog()
	if len(c) < 8 {
		t.Fatalf("catalog has %d models, want at least 8", len(c))
	}
	names := map[string]bool{}
	var small, large bool
	for _, e := range c {
		if names[e.Name] {
			t.Errorf("duplicate name %s", e.Name)
		}
		names[e.Name] = true
		if !hfRepoRe.MatchString(e.Repo) || !strings.HasSuffix(e.File, ".gguf") || !hasQuantToken(e.File, e.Quant) {
			t.Errorf("%s: repo %q file %q quant %q", e.Name, e.Repo, e.File, e.Quant)
		}
		if _, err := safeFileName(e.File); err != nil {
			t.Errorf("%s: %v", e.Name, err)
		}
		if e.License == "" || e.Description == "" || e.Arch == "" || e.Context == 0 || e.Size <= 0 {
			t.Errorf("%s: missing fields %+v", e.Name, e)
		}
		if e.Params < 400e6 || e.Params > 4.5e9 {
			t.Errorf("%s: %d params is outside 0.5B..4B", e.Name, e.Params)
		}
		// A Q4_K_M file holds roughly 4.5-6 bits per parameter.
		if bpp := float64(e.Size) * 8 / float64(e.Params); bpp < 4 || bpp > 7 {
			t.Errorf("%s: size %d for %d params is %.1f bits per parameter", e.Name, e.Size, e.Params, bpp)
		}
		m := e.Meta()
		if m.Layers == 0 || m.Heads == 0 || m.KVHeads == 0 || m.KeyLen == 0 || m.Vocab == 0 {
			t.Errorf("%s: shape missing", e.Name)
		}
		small = small || e.Params < 700e6
		large = large || e.Params > 3.5e9
		if got, ok := CatalogLookup(strings.ToUpper(e.Name)); !ok || got.Name != e.Name {
			t.Errorf("lookup %s", e.Name)
		}
		if e.URLPath() != "/"+e.Repo+"/resolve/main/"+e.File {
			t.Errorf("URLPath %s", e.URLPath())
		}
	}
	if !small || !large {
		t.Error("catalog should span ~0.5B to ~4B")
	}
	if e, ok := CatalogLookup("qwen3:1.7b"); !ok || e.Name != "qwen3-1.7b" {
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

func TestCatalogWithFit(t *testing.T) {
	isolate(t)
	fakeMemory(t, 2_000_000_000)
	var marks = map[string]Fit{}
	for _, e := range CatalogWithFit(0) {
		marks[e.Name] = e.Fit
		if e.Estimate.Context != int(min(uint64(DefaultContext), e.Context)) {
			t.Errorf("%s: context %d", e.Name, e.Estimate.Context)
		}
		if e.Downloaded != "" {
			t.Errorf("%s: downloaded in an empty home", e.Name)
		}
	}
	if marks["qwen2.5-0.5b"] != FitOK || marks["qwen3-4b"] != FitNo {
		t.Errorf("with 2 GB free: %v", marks)
	}

	// A file in the models folder is marked downloaded.
	e, _ := CatalogLookup("qwen2.5-0.5b")
	p := filepath.Join(ModelsDir(), e.File)
	tinyModel(t, p, "", false)
	for _, c := range CatalogWithFit(0) {
		if (c.Name == e.Name) != (c.Downloaded == p) {
			t.Errorf("%s: downloaded %q", c.Name, c.Downloaded)
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
