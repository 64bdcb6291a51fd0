package main

import (
	"strings"
	"testing"
)

// The Go engine runs llama-architecture files too; on the same file and
// prompt its greedy answer must be llama.cpp's, through the whole ask path
// (template, tokenization, streaming, stats).
func TestAskGoBackendMatchesLlamaCpp(t *testing.T) {
	args := []string{"ask", "-m", chatModel, "--temp", "0", "-n", "16", "--no-save", "--stats", "Tell me a story"}
	outL, errL, st := natter(t, "", append(args, "--backend", "llama.cpp")...)
	if st != 0 {
		t.Fatalf("llama.cpp: exit %d\n%s", st, errL)
	}
	outG, errG, st := natter(t, "", append(args, "--backend", "go")...)
	if st != 0 {
		t.Fatalf("go: exit %d\n%s", st, errG)
	}
	if outL == "" || outL != outG {
		t.Fatalf("answers differ:\nllama.cpp: %q\ngo:        %q", outL, outG)
	}
	if promptTokens(t, errL) != promptTokens(t, errG) {
		t.Fatalf("prompt token counts differ:\n%s\n%s", errL, errG)
	}
	// Ollama's engine logs through slog: that goes to the log file.
	if strings.Contains(errG, "level=") || strings.Contains(errG, "offloading") {
		t.Fatalf("Go engine logs leaked to stderr:\n%s", errG)
	}
}

func TestBackendFlagErrors(t *testing.T) {
	_, errOut, st := natter(t, "", "ask", "-m", chatModel, "--backend", "vulkan", "hi")
	if st != 2 || !strings.Contains(errOut, `--backend "vulkan"`) {
		t.Fatalf("exit %d, stderr:\n%s", st, errOut)
	}
	// The Go engine refuses what it cannot do instead of ignoring it.
	_, errOut, st = natter(t, "", "ask", "-m", chatModel, "--backend", "go", "--cache-type", "q8_0", "--no-save", "hi")
	if st != 1 || !strings.Contains(errOut, "f16") {
		t.Fatalf("exit %d, stderr:\n%s", st, errOut)
	}
}

func TestVersionNamesBackends(t *testing.T) {
	out, _, st := natter(t, "", "version")
	for _, want := range []string{"llama.cpp", "Go engine", "qwen35", "gemma4", "github.com/ollama/ollama v"} {
		if st != 0 || !strings.Contains(out, want) {
			t.Fatalf("version output lacks %q:\n%s", want, out)
		}
	}
}

func TestThinkFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{{"--think", "maybe"}, {"--reasoning-budget", "-2"}} {
		_, errOut, st := natter(t, "", append([]string{"ask", "-m", chatModel, "--no-save"}, append(args, "hi")...)...)
		if st != 2 || !strings.Contains(errOut, args[0]) {
			t.Fatalf("%v: exit %d, stderr:\n%s", args, st, errOut)
		}
	}
}
