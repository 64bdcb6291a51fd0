package models

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindProjectorFolder(t *testing.T) {
	dir := t.TempDir()
	put := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("GGUF"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	model := put("gemma-3-4b-it-Q4_K_M.gguf")
	if got := FindProjector(model); got != "" {
		t.Fatalf("no projector beside the model: got %q", got)
	}
	// A folder named like a projector is not one.
	if err := os.Mkdir(filepath.Join(dir, "mmproj-dir.gguf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := FindProjector(model); got != "" {
		t.Fatalf("a folder was taken for a projector: %q", got)
	}
	f32 := put("mmproj-F32.gguf")
	if got := FindProjector(model); got != f32 {
		t.Fatalf("one projector: got %q, want %q", got, f32)
	}
	put("mmproj-model-bf16.gguf")
	f16 := put("MMPROJ-gemma-3-4b-it-f16.gguf")
	if got := FindProjector(model); got != f16 {
		t.Fatalf("F16 should be preferred: got %q, want %q", got, f16)
	}
	put("notes-mmproj.txt")
	if got := FindProjector(filepath.Join(t.TempDir(), "missing.gguf")); got != "" {
		t.Fatalf("a missing folder: got %q", got)
	}
}

func TestFindProjectorOllama(t *testing.T) {
	root := t.TempDir()
	model := strings.Repeat("a", 64)
	proj := strings.Repeat("b", 64)
	other := strings.Repeat("c", 64)
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	blob := func(d string) string { return filepath.Join(root, "blobs", "sha256-"+d) }
	write(blob(model), "GGUF")
	write(blob(other), "GGUF")
	manifest := func(m, p string) string {
		s := `{"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:` + m + `"}`
		if p != "" {
			s += `,{"mediaType":"application/vnd.ollama.image.projector","digest":"sha256:` + p + `"}`
		}
		return s + `]}`
	}
	write(filepath.Join(root, "manifests", "registry.ollama.ai", "library", "other", "latest"), manifest(other, ""))
	write(filepath.Join(root, "manifests", "registry.ollama.ai", "library", "gemma3", "4b"), manifest(model, proj))
	if got := FindProjector(blob(model)); got != "" {
		t.Fatalf("the projector blob is missing, so there is none: got %q", got)
	}
	write(blob(proj), "GGUF")
	if got := FindProjector(blob(model)); got != blob(proj) {
		t.Fatalf("got %q, want %q", got, blob(proj))
	}
	if got := FindProjector(blob(other)); got != "" {
		t.Fatalf("a text-only manifest: got %q", got)
	}
}

func TestFindProjectorSharedFolder(t *testing.T) {
	dir := t.TempDir()
	put := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("GGUF"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gemma := put("gemma-3-4b-it-Q4_K_M.gguf")
	qwen := put("qwen2.5-0.5b-instruct-q8_0.gguf")
	smol := put("SmolVLM-256M-Instruct-Q8_0.gguf")
	g := put("mmproj-gemma-3-4b-it-f16.gguf")
	pulled := put("mmproj-SmolVLM-256M-Instruct-Q8_0.gguf")
	put("mmproj-model-f16.gguf") // names no model: belongs to none here
	if got := FindProjector(gemma); got != g {
		t.Fatalf("gemma: got %q, want %q", got, g)
	}
	if got := FindProjector(smol); got != pulled {
		t.Fatalf("a pulled projector (mmproj-MODEL): got %q, want %q", got, pulled)
	}
	if got := FindProjector(qwen); got != "" {
		t.Fatalf("a text model in a shared folder was given %q", got)
	}
}
