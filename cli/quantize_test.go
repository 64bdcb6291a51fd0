package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"natter/engine"
	"natter/engine/gguf"
	"natter/engine/gguf/synth"
)

// quantizeEnv isolates an in-process run from this machine's config and logs.
func quantizeEnv(t *testing.T) {
	t.Helper()
	withConfig(t, "")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
}

func writeSynth(t *testing.T, dir string, spec synth.Spec) string {
	t.Helper()
	p := filepath.Join(dir, spec.Name+".gguf")
	if err := synth.Write(p, spec); err != nil {
		t.Fatal(err)
	}
	return p
}

// Bad invocations exit 2 with the reason and a pointer to --help, and
// write nothing.
func TestQuantizeUsageErrors(t *testing.T) {
	quantizeEnv(t)
	dir := t.TempDir()
	in := writeSynth(t, dir, synth.Tiny())
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "want IN OUT TYPE, got 0 argument(s)"},
		{[]string{in, "out.gguf"}, "want IN OUT TYPE, got 2 argument(s)"},
		{[]string{in, "out.gguf", "Q4_0", "extra"}, "got 4 argument(s)"},
		{[]string{in, "out.gguf", "Q9_X"}, `unknown quantization type "Q9_X": valid types are F32, F16, BF16, Q8_0`},
		{[]string{in, "out.gguf", "iq2_xxs"}, "IQ2_XXS needs an importance matrix"},
		{[]string{in, in, "Q4_0"}, "same file"},
		{[]string{"--threads", "-2", in, "out.gguf", "Q4_0"}, "--threads -2"},
		{[]string{"--allow-requant", in, "out.gguf", "Q4_0"}, "did you mean --allow-requantize?"},
	} {
		_, errOut, code := run(t, append([]string{"quantize"}, c.args...)...)
		if code != exitUsage || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "natter quantize --help") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("folder holds %d files", len(ents))
	}
}

// Failures that are not usage exit 1 with one line; a quantized input
// says how to go ahead.
func TestQuantizeFailuresExit1(t *testing.T) {
	quantizeEnv(t)
	dir := t.TempDir()
	spec := synth.Tiny()
	spec.Type, spec.Name = synth.Q8_0, "tiny-q8"
	in := writeSynth(t, dir, spec)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{in, filepath.Join(dir, "q4.gguf"), "Q4_0"}, "is already quantized (Q8_0): quantizing it again to Q4_0 rounds weights that were rounded once already"},
		{[]string{in, filepath.Join(dir, "nope", "q4.gguf"), "Q4_0"}, "does not exist"},
		{[]string{filepath.Join(dir, "nope.gguf"), filepath.Join(dir, "q4.gguf"), "Q4_0"}, "no such file"},
	} {
		out, errOut, code := run(t, append([]string{"quantize"}, c.args...)...)
		if code != exitError || !strings.Contains(errOut, c.want) || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 1 and %q", c.args, code, out, errOut, c.want)
		}
	}
	_, errOut, _ := run(t, "quantize", in, filepath.Join(dir, "q4.gguf"), "Q4_0")
	if !strings.Contains(errOut, "(--allow-requantize)") {
		t.Errorf("no hint at the flag: %q", errOut)
	}
	out, errOut, code := run(t, "quantize", "--allow-requantize", in, filepath.Join(dir, "f32.gguf"), "f32")
	if code != 0 || !strings.Contains(out, "wrote "+filepath.Join(dir, "f32.gguf")+": F32, ") || !strings.Contains(out, "× larger") {
		t.Errorf("--allow-requantize to F32: exit %d, %q %q", code, out, errOut)
	}
}

// TYPE completes to the types with their descriptions, IN and OUT to GGUF
// files.
func TestQuantizeCompletion(t *testing.T) {
	quantizeEnv(t)
	out, _, _ := run(t, "__complete", "quantize", "a.gguf", "b.gguf", "Q4")
	for _, want := range []string{"Q4_K_M\t4.5 bpw k-quant mix", "Q4_0\t", "IQ4_NL\t", "F32\t", ":4"} {
		if !strings.Contains(out, want) {
			t.Errorf("TYPE completion lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = run(t, "__complete", "quantize", "")
	if !strings.HasPrefix(out, "gguf\n:8") {
		t.Errorf("IN completion: %q", out)
	}
}

func TestQuantizeHelpListsTypes(t *testing.T) {
	out, _, _ := run(t, "quantize", "--help")
	for _, q := range engine.QuantTypes() {
		if !regexp.MustCompile(`(?m)^\s+` + q.Name + `\s+` + regexp.QuoteMeta(q.Description) + `$`).MatchString(out) {
			t.Errorf("help lacks %s: %s", q.Name, q.Description)
		}
	}
}

func TestQuantizeReport(t *testing.T) {
	for _, c := range []struct {
		r    engine.QuantizeResult
		want string
	}{
		{engine.QuantizeResult{InBytes: 12_300_000, OutBytes: 3_600_000, Type: "Q4_0", Elapsed: 1200 * time.Millisecond},
			"wrote m.gguf: Q4_0, 12.3 MB → 3.6 MB (3.4× smaller) in 1.2 s"},
		{engine.QuantizeResult{InBytes: 1_500_000_000, OutBytes: 3_000_000_000, Type: "F32", Elapsed: 95 * time.Second},
			"wrote m.gguf: F32, 1.5 GB → 3.0 GB (2.0× larger) in 1m35s"},
		{engine.QuantizeResult{InBytes: 774_784, OutBytes: 774_848, Type: "F32", Elapsed: 20 * time.Millisecond},
			"wrote m.gguf: F32, 774.8 kB → 774.8 kB (same size) in 0.0 s"},
	} {
		if got := quantizeReport("m.gguf", c.r); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

// The built binary quantizes a model end to end: plain progress lines on
// a pipe, the report on stdout, a file that validates; Ctrl+C midway
// exits 130 and leaves only the input.
func TestQuantizeBinary(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("DID NOT RUN: no go command to build natter with")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "natter")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	home := filepath.Join(tmp, "home")
	env := append(os.Environ(), "HOME="+home, "XDG_STATE_HOME="+filepath.Join(home, "state"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"), "NATTER_CONFIG=")
	natter := func(args ...string) *exec.Cmd {
		c := exec.Command(bin, append([]string{"quantize", "-t", "1"}, args...)...)
		c.Env = env
		return c
	}

	t.Run("report", func(t *testing.T) {
		dir := t.TempDir()
		spec := synth.Tiny()
		spec.NEmbd, spec.NFF = 256, 512
		in := writeSynth(t, dir, spec)
		out := filepath.Join(dir, "q8.gguf")
		var stdout, stderr strings.Builder
		c := natter(in, out, "q8_0")
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Run(); err != nil {
			t.Fatalf("%v: %s", err, stderr.String())
		}
		f, err := gguf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		n := len(f.Tensors)
		re := regexp.MustCompile(`^wrote ` + regexp.QuoteMeta(out) + `: Q8_0, [\d.]+ MB → [\d.]+ MB \(3\.[5-9]× smaller\) in [\d.]+ s\n$`)
		if !re.MatchString(stdout.String()) {
			t.Errorf("report %q", stdout.String())
		}
		if !strings.HasSuffix(stderr.String(), fmt.Sprintf("quantize: %d/%d tensors\n", n, n)) || strings.Contains(stderr.String(), "\r") {
			t.Errorf("progress on a pipe: %q", stderr.String())
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 2 {
			t.Errorf("folder holds %d files", len(ents))
		}
	})

	t.Run("usage", func(t *testing.T) {
		var stderr strings.Builder
		c := natter("a.gguf", "b.gguf")
		c.Stderr = &stderr
		var ee *exec.ExitError
		if err := c.Run(); !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
			t.Errorf("exit %v, want 2: %s", err, stderr.String())
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		dir := t.TempDir()
		// Large enough that IQ3_S on one thread takes seconds.
		in := writeSynth(t, dir, synth.Spec{NLayer: 6, NEmbd: 512, NFF: 1536, NHead: 8, NHeadKV: 4, NCtxTrain: 512, Type: synth.F32, Seed: 5, Name: "medium"})
		c := natter(in, filepath.Join(dir, "iq3.gguf"), "IQ3_S")
		pipe, err := c.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(pipe)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.HasPrefix(sc.Text(), "quantize: ") && len(lines) == 1 {
				c.Process.Signal(os.Interrupt)
			}
		}
		err = c.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
			t.Errorf("exit %v, want 130; stderr %q", err, lines)
		}
		if last := lines[len(lines)-1]; !strings.Contains(last, "interrupted; "+filepath.Join(dir, "iq3.gguf")+" was not written") {
			t.Errorf("stderr %q", lines)
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 {
			t.Errorf("folder holds %d files after the interrupt", len(ents))
		}
	})
}
