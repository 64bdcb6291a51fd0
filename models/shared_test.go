package models

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// sharedModels is ../shared/models from the repository root, or "" (skip).
func sharedModels(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root not found")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "models")
	if _, err := os.Stat(filepath.Join(d, "stories260K.gguf")); err != nil {
		t.Skipf("real test models not present at %s", d)
	}
	return d
}

// Real GGUF files (see shared/models/README.md) are listed with the
// metadata their README records.
func TestDiscoverRealModels(t *testing.T) {
	d := sharedModels(t)
	isolate(t)
	t.Setenv("NATTER_MODELS", d)
	got := map[string]Model{}
	for _, m := range Discover() {
		got[m.Name] = m
	}
	s := got["stories260K"]
	if s.Arch != "llama" || s.Params != 292_800 || s.TrainCtx != 2048 || s.HasTemplate || s.Quantization != "F32" || s.FileSize != 1_185_376 {
		t.Errorf("stories260K: %+v", s)
	}
	r := got["llama-2-tiny-random"]
	if r.Arch != "llama" || r.Params != 513_048 || r.TrainCtx != 4096 || r.Quantization != "F16" || r.Vocab != 32000 {
		t.Errorf("llama-2-tiny-random: %+v", r)
	}
	// Tokenizer-only files are listed as not runnable.
	if v, ok := got["ggml-vocab-phi-3"]; ok && v.Err == "" {
		t.Errorf("vocab-only file listed as a model: %+v", v)
	}
	// Compare real paths: shared/ may be reached through a symlink.
	want, _ := filepath.EvalSymlinks(filepath.Join(d, "stories260K.gguf"))
	p, err := Resolve("stories260K")
	if real, _ := filepath.EvalSymlinks(p); err != nil || real != want {
		t.Errorf("Resolve: %q %v, want %q", p, err, want)
	}
}

// A real model pulled from a local server passes the sha256 its README
// records and the GGUF check.
func TestPullRealModel(t *testing.T) {
	d := sharedModels(t)
	isolate(t)
	b, err := os.ReadFile(filepath.Join(d, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	srv := newHFServer(t)
	srv.add("x/stories260K.gguf", b)
	opts := pullOpts(srv, t.TempDir())
	opts.SHA256 = "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d"
	res, err := Pull(context.Background(), srv.URL+"/plain/x/stories260K.gguf", opts)
	if err != nil || !res.Verified {
		t.Fatalf("%+v %v", res, err)
	}
}
