package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"natter/engine/gguf/synth"
)

func craftedModel(t *testing.T, edit func(s *synth.Spec)) string {
	t.Helper()
	s := synth.Tiny()
	s.Name = "crafted"
	edit(&s)
	p := filepath.Join(t.TempDir(), "crafted.gguf")
	if err := synth.Write(p, s); err != nil {
		t.Fatal(err)
	}
	return p
}

// Silent fallbacks are said (issue 19, item 5): a model template that fails
// to render, and a special-token id llama.cpp replaces.
func TestAskWarnsAboutFallbacks(t *testing.T) {
	m := craftedModel(t, func(s *synth.Spec) {
		s.ChatTemplate = "{% for i in range(100000000) %}{% endfor %}"
		s.KV = map[string]any{"tokenizer.ggml.bos_token_id": uint32(1_000_000_000)}
	})
	_, stderr, status := natter(t, "", "ask", "-m", m, "-n", "2", "--temp", "0", "hi")
	if status != 0 {
		t.Fatalf("ask failed (%d): %s", status, stderr)
	}
	if !strings.Contains(stderr, "warning: the chat template failed") || !strings.Contains(stderr, "instead") {
		t.Errorf("no fallback warning: %q", stderr)
	}
	if !strings.Contains(stderr, "tokenizer.ggml.bos_token_id is 1000000000") {
		t.Errorf("no bad-id warning: %q", stderr)
	}
	// A model whose template works gets neither.
	_, stderr, _ = natter(t, "", "ask", "-m", chatModel, "-n", "2", "--temp", "0", "hi")
	if strings.Contains(stderr, "warning") {
		t.Errorf("sound model warned: %q", stderr)
	}
}

// A wrongly typed key or a huge template is refused before llama.cpp sees
// the file, naming the file and the key.
func TestAskNamesTheBadKey(t *testing.T) {
	for key, v := range map[string]any{
		"llama.block_count":       "many",
		"tokenizer.chat_template": strings.Repeat("{{ 1 }}", 200000),
	} {
		m := craftedModel(t, func(s *synth.Spec) { s.KV = map[string]any{key: v} })
		_, stderr, status := natter(t, "", "ask", "-m", m, "-n", "1", "hi")
		if status == 0 || !strings.Contains(stderr, key) || !strings.Contains(stderr, m) || strings.Contains(stderr, "see the log") {
			t.Errorf("%s: status %d, stderr %q", key, status, stderr)
		}
	}
}

// A 5 MB prompt on stdin gets a clear error (the context bound), found
// before the whole text is tokenized.
func TestAskHugeStdinPrompt(t *testing.T) {
	big := strings.Repeat("lorem ipsum dolor sit amet ", 5<<20/27)
	for _, raw := range []bool{false, true} {
		args := []string{"ask", "-m", chatModel, "-n", "1", "-"}
		if raw { // plain completion: refused before tokenizing as well
			args = append(args, "--raw")
		}
		_, stderr, status := natter(t, big, args...)
		if status != 1 || !strings.Contains(stderr, "more tokens than the context holds") {
			t.Fatalf("raw %v: status %d, stderr %q", raw, status, stderr)
		}
	}
}

// Every numeric flag of ask, the chat and bench at its extremes: a value
// out of range is a usage error (exit 2) naming the flag, never a wrap-
// around, a panic or a long wait ("Also probe" of issue 19). --ctx and
// --top-k stop at 2147483647, as llama.cpp counts them in 32 bits (a
// --top-k of 1<<32+1 used to become 1, and bench -p 1<<62 -n 1<<62
// overflowed into a panic).
func TestNumericFlagExtremesExit2(t *testing.T) {
	const huge = "9223372036854775807"
	model := []string{"-m", chatModel}
	cases := map[string][]string{
		"--ctx":              {"--ctx", "-1"},
		"--ctx ":             {"--ctx", "2147483648"},
		"--ctx  ":            {"--ctx", huge},
		"--threads":          {"-t", "-1"},
		"--threads ":         {"-t", "1025"},
		"--batch":            {"--batch", "-1"},
		"--temp":             {"--temp", "-0.5"},
		"--temp ":            {"--temp", "1e308"},
		"--top-k":            {"--top-k", "-1"},
		"--top-k ":           {"--top-k", "4294967297"},
		"--top-p":            {"--top-p", "-1"},
		"--min-p":            {"--min-p", "-1"},
		"--repeat-penalty":   {"--repeat-penalty", "-1"},
		"--seed":             {"--seed", "-2"},
		"--seed ":            {"--seed", "4294967295"},
		"--max-tokens":       {"-n", "-2"},
		"--reasoning-budget": {"--reasoning-budget", "-2"},
	}
	check := func(args []string, flag string) {
		t.Helper()
		_, errOut, st := natter(t, "", args...)
		if st != 2 || !strings.Contains(errOut, strings.TrimSpace(flag)) || !strings.Contains(errOut, "--help' for usage") {
			t.Errorf("%v: exit %d, want 2 naming %s: %q", args, st, flag, errOut)
		}
		if strings.Contains(errOut, "panic") || strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
			t.Errorf("%v: not one clear error: %q", args, errOut)
		}
	}
	for flag, v := range cases {
		check(append(append([]string{"ask"}, model...), append(v, "hi")...), flag)
		check(append(model, v...), flag) // the chat checks before it opens
		if !strings.Contains("--temp --top-k --top-p --min-p --repeat-penalty --seed --max-tokens --reasoning-budget", strings.TrimSpace(flag)) {
			check(append(append([]string{"bench"}, model...), v...), flag)
		}
	}
	for _, v := range [][]string{
		{"-p", "-1"}, {"-n", "-1"}, {"-d", "-1"}, {"-r", "-1"}, {"-r", "0"},
		{"-p", huge}, {"-n", huge}, {"-d", huge},
		{"-p", "4611686018427387904", "-n", "4611686018427387904"},
		{"-d", "2147483647", "-p", "1"},
		// A context too small for the test would measure a truncated run.
		{"--ctx", "16", "-d", "100", "-p", "8"},
	} {
		check(append(append([]string{"bench"}, model...), v...), v[0])
	}
	for _, args := range [][]string{
		{"history", "--limit", "-5"}, {"history", "list", "--limit", "-1"}, {"history", "search", "x", "--limit", "-1"},
		{"serve", "-m", chatModel, "--max-queue", "0"}, {"serve", "-m", chatModel, "--max-body", "-1"},
	} {
		check(args, args[len(args)-2])
	}
}

// The largest values that mean something still run: a batch larger than
// the context is cut to it, and -n and --reasoning-budget at the top of
// int are no cap.
func TestHugeButMeaningfulFlagsRun(t *testing.T) {
	const huge = "9223372036854775807"
	out, errOut, st := natter(t, "", "ask", "-m", chatModel, "--raw", "--ctx", "32", "--batch", huge, "-n", huge,
		"--reasoning-budget", huge, "--top-k", "2147483647", "--seed", "4294967294", "Once upon")
	if st != 0 || out == "" {
		t.Fatalf("exit %d, out %q, stderr %q", st, out, errOut)
	}
}

// A model whose chat template is a 400 KB attribute or subscript chain (a
// CPU denial of service while parsing was quadratic: past 60 s) answers,
// saying the template was refused and which one stood in (issue 19, item
// 1; the parse's linear bound itself is counted in prompts/jinja's
// TestChainsAreLinear and FuzzRender).
func TestAskModelWithHugeChainTemplate(t *testing.T) {
	for _, link := range []string{".x", "[0]", "|e", " + 1"} {
		m := craftedModel(t, func(s *synth.Spec) {
			s.ChatTemplate = "{{ messages" + strings.Repeat(link, 400_000/len(link)) + " }}"
		})
		out, errOut, st := natter(t, "", "ask", "-m", m, "-n", "3", "--temp", "0", "hi")
		if st != 0 || out == "" || !strings.Contains(errOut, "expression nested too deeply") || !strings.Contains(errOut, "instead") {
			t.Errorf("%q chain: exit %d, out %q, stderr %q", link, st, out, errOut)
		}
	}
}

// The largest prompt ask reads from stdin (just under its 64 MiB bound)
// gets the context error without holding many copies of itself: an ask
// that saves nothing used to index the whole prompt into an in-memory
// history first (21x the input in peak memory, and seconds).
func TestAskLargestStdinPromptMemory(t *testing.T) {
	big := strings.Repeat("lorem ipsum dolor sit amet ", (60<<20)/27)
	for _, args := range [][]string{
		{"ask", "-m", chatModel, "-n", "1", "-"},
		{"ask", "-m", chatModel, "-n", "1", "summarize this"},
		{"ask", "-m", chatModel, "-n", "1", "--raw", "-"},
	} {
		cmd := natterCmd(args...)
		cmd.Stdin = strings.NewReader(big)
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "more tokens than the context holds") {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
		ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		if !ok {
			t.Skip("DID NOT RUN: no rusage on this platform")
		}
		peak := ru.Maxrss * 1024 // kilobytes on Linux
		t.Logf("%v: peak RSS %.0f MiB for %.0f MiB of stdin", args[len(args)-1], float64(peak)/(1<<20), float64(len(big))/(1<<20))
		if peak > 12*int64(len(big)) {
			t.Errorf("%v: peak RSS %d bytes, over 12 times the %d-byte prompt", args, peak, len(big))
		}
	}
}

// Ctrl+C during natter bench (here a run of a billion repetitions, which
// bench takes as asked) ends it with status 130 and one line; it used to
// panic on the cancelled measurement.
func TestBenchInterruptExits130(t *testing.T) {
	cmd := natterCmd("bench", "-m", tinyModel, "-r", "1000000000", "-p", "8", "-n", "0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The system_info line comes once interrupts are handled.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "system_info:") {
		cmd.Process.Kill()
		t.Fatalf("first line %q (%v)", line, err)
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if st := cmd.ProcessState.ExitCode(); st != 130 || strings.TrimSpace(stderr.String()) != "natter bench: interrupted" {
		t.Fatalf("exit %d, stderr %q", st, stderr.String())
	}
}
