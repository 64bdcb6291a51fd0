package cli

import (
	"strings"
	"testing"

	"golang.org/x/sys/cpu"
)

func TestSIMDWarning(t *testing.T) {
	// The warning depends on what this CPU can do; both answers are checked
	// against the build info llama.cpp would report.
	without := "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | F16C = 1 |"
	with := without + " AVX2 = 1 | FMA = 1 |"
	if simdWarning(with) != "" {
		t.Fatalf("warned though AVX2 is compiled in")
	}
	got := simdWarning(without)
	if cpu.X86.HasAVX2 != (got != "") {
		t.Fatalf("CPU has AVX2: %v, warning: %q", cpu.X86.HasAVX2, got)
	}
	if got != "" && !strings.Contains(got, "make build") {
		t.Fatalf("warning does not say how to fix it: %q", got)
	}
}
