package models

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

func TestCheckContextRefusesWhatCannotFit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := synth.Write(path, synth.Tiny()); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMeta(path)
	if err != nil {
		t.Fatal(err)
	}
	fakeMemory(t, 512<<20)
	if err := CheckContext(m, 0); err != nil {
		t.Fatalf("the automatic context was refused: %v", err)
	}
	if err := CheckContext(m, 2048); err != nil {
		t.Fatalf("a small context was refused: %v", err)
	}
	err = CheckContext(m, 1_000_000_000)
	if err == nil {
		t.Fatal("--ctx 1000000000 passed with 512 MiB free")
	}
	// The advice follows from the file's numbers: a context that the
	// estimate says fits, and the trained context.
	msg := err.Error()
	if !strings.Contains(msg, "fits") || !strings.Contains(msg, "trained for 512 tokens") {
		t.Fatalf("unhelpful message: %s", msg)
	}
	var fits int
	if i := strings.Index(msg, "; --ctx "); i >= 0 {
		_, _ = fmt.Sscanf(msg[i+len("; --ctx "):], "%d", &fits)
	}
	if fits <= 0 || EstimateMemory(m, fits).Total > 512<<20 || EstimateMemory(m, fits*2).Total <= 512<<20 {
		t.Fatalf("suggested --ctx %d is not the largest halving that fits: %s", fits, msg)
	}
}
