package engine

import (
	"strings"
	"testing"
)

func TestChooseBackend(t *testing.T) {
	for _, c := range []struct{ arch, want, got, err string }{
		{"llama", "", BackendLlama, ""},
		{"llama", "auto", BackendLlama, ""},
		{"qwen35", "auto", BackendGo, ""},
		{"qwen35moe", "", BackendGo, ""},
		{"gemma4", "", BackendGo, ""},
		{"llama", "go", BackendGo, ""},
		{"qwen35", "llama.cpp", "", "--backend go"},
		{"phi3", "go", "", "does not run"},
		{"llama", "cuda", "", "want auto"},
	} {
		got, err := ChooseBackend(c.arch, c.want)
		if got != c.got || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("ChooseBackend(%q, %q) = %q, %v; want %q, error with %q", c.arch, c.want, got, err, c.got, c.err)
		}
	}
}
