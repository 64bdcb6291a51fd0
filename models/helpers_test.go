package models

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"natter/engine/gguf/synth"
)

// isolate points every location natter reads at empty folders under a temp
// home, so tests never see (or write) the developer's real models.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, v := range []string{"XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
		"NATTER_MODELS", "HF_HOME", "HF_HUB_CACHE", "HF_ENDPOINT", "HF_TOKEN", "OLLAMA_MODELS",
		"LLAMA_CACHE", "NATTER_OFFLINE"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	return home
}

// fakeMemory makes AvailableMemory report n bytes for the test.
func fakeMemory(t *testing.T, n uint64) {
	t.Helper()
	old := AvailableMemory
	AvailableMemory = func() (uint64, error) { return n, nil }
	t.Cleanup(func() { AvailableMemory = old })
}

// fakeTotal makes TotalMemory report n bytes for the test.
func fakeTotal(t *testing.T, n uint64) {
	t.Helper()
	old := TotalMemory
	TotalMemory = func() (uint64, error) { return n, nil }
	t.Cleanup(func() { TotalMemory = old })
}

// tinyModel writes a small valid GGUF (synth.Tiny, optionally named and with
// a chat template) to path and returns its bytes.
func tinyModel(t *testing.T, path string, name string, template bool) []byte {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	s := synth.Tiny()
	if name != "" {
		s.Name = name
	}
	if template {
		s.ChatTemplate = synth.ChatML
	}
	if err := synth.Write(path, s); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tinyBytes is a tiny model's content, generated once per test.
func tinyBytes(t *testing.T) []byte {
	t.Helper()
	return tinyModel(t, filepath.Join(t.TempDir(), "m.gguf"), "", true)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
