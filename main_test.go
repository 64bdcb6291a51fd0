package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"natter/engine/gguf/synth"
)

// These tests run the real binary, built once with the same cgo flags the
// test itself was built with (make test exports them).

var (
	natterBin string
	tinyModel string
	chatModel string
	testHome  string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "natter-main-test")
	if err != nil {
		panic(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		natterBin = filepath.Join(dir, "natter")
		build := exec.Command("go", "build", "-o", natterBin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			println("building natter failed:", err.Error())
			return 1
		}
		tinyModel = filepath.Join(dir, "tiny.gguf")
		if err := synth.Write(tinyModel, synth.Tiny()); err != nil {
			println(err.Error())
			return 1
		}
		spec := synth.Tiny()
		spec.Name, spec.ChatTemplate = "synth-chat", synth.ChatML
		chatModel = filepath.Join(dir, "synth-chat.gguf")
		if err := synth.Write(chatModel, spec); err != nil {
			println(err.Error())
			return 1
		}
		testHome = filepath.Join(dir, "home")
		return m.Run()
	}()
	os.Exit(code)
}

// natter runs the binary with an isolated environment.
func natter(t *testing.T, stdin string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := natterCmd(args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	status = 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running natter: %v", err)
	}
	return o.String(), e.String(), status
}

func natterCmd(args ...string) *exec.Cmd {
	// One thread unless a test says otherwise: go test runs packages in
	// parallel, and llama.cpp's spinning threads crawl on an oversubscribed CPU.
	if len(args) > 0 && (args[0] == "ask" || args[0] == "bench") && !slices.Contains(args, "-t") {
		args = append([]string{args[0], "-t", "1"}, args[1:]...)
	}
	cmd := exec.Command(natterBin, args...)
	cmd.Env = append(os.Environ(),
		"HOME="+testHome,
		"XDG_STATE_HOME="+filepath.Join(testHome, "state"),
		"XDG_DATA_HOME="+filepath.Join(testHome, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(testHome, "config"),
		"NATTER_MODEL=",
		"NATTER_NO_HISTORY=1",
	)
	return cmd
}

// sharedModel returns a file from ../shared/models, or skips saying so.
func sharedModel(t *testing.T, name string) string {
	t.Helper()
	p, _ := filepath.Abs(filepath.Join("..", "shared", "models", name))
	if _, err := os.Stat(p); err != nil {
		t.Skipf("DID NOT RUN: %s is absent (%v)", p, err)
	}
	return p
}

func TestAskStories260KMatchesUpstreamGreedy(t *testing.T) {
	model := sharedModel(t, "stories260K.gguf")
	out, errOut, st := natter(t, "", "ask", "--raw", "--temp", "0", "-n", "40", "-m", model, "Once upon a time")
	if st != 0 {
		t.Fatalf("exit %d: %s", st, errOut)
	}
	// What upstream llama.cpp prints greedily for this model and prompt.
	want := ", there was a little girl named Lily. She loved to play outside in the park"
	if !strings.HasPrefix(out, want) {
		t.Fatalf("greedy continuation differs from upstream llama.cpp:\n got %q\nwant %q…", out, want)
	}
}

func TestAskStreamsAnswerWithStats(t *testing.T) {
	out, errOut, st := natter(t, "", "ask", "-m", chatModel, "--temp", "0", "-n", "12", "--stats", "Hello", "world")
	if st != 0 {
		t.Fatalf("exit %d: %s", st, errOut)
	}
	if strings.TrimSpace(out) == "" {
		t.Fatal("no answer printed")
	}
	for _, w := range []string{"prompt:", "tok/s", "context:"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("--stats output lacks %q:\n%s", w, errOut)
		}
	}
	// Greedy answers are reproducible across processes.
	out2, _, _ := natter(t, "", "ask", "-m", chatModel, "--temp", "0", "-n", "12", "Hello", "world")
	if out2 != out {
		t.Fatalf("greedy answers differ: %q vs %q", out, out2)
	}
}

func TestAskReadsPipedStdin(t *testing.T) {
	// With arguments, piped stdin is added as context: a different prompt,
	// so (greedy) a different answer than the question alone in most cases;
	// check the prompt itself through --stats' token count instead.
	_, e1, st := natter(t, "", "ask", "-m", chatModel, "--temp", "0", "-n", "4", "--stats", "review this")
	if st != 0 {
		t.Fatal(e1)
	}
	_, e2, st := natter(t, "diff --git a/x b/x\n+hello world\n", "ask", "-m", chatModel, "--temp", "0", "-n", "4", "--stats", "review this")
	if st != 0 {
		t.Fatal(e2)
	}
	if promptTokens(t, e2) <= promptTokens(t, e1)+5 {
		t.Fatalf("piped input was not included: %d vs %d prompt tokens", promptTokens(t, e2), promptTokens(t, e1))
	}
	// "ask -" takes the prompt from stdin; invalid UTF-8 is no problem.
	out, e3, st := natter(t, "tell me a story \xff\xfe", "ask", "-m", chatModel, "--temp", "0", "-n", "4", "-")
	if st != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("ask - failed: %d %q %s", st, out, e3)
	}
}

func promptTokens(t *testing.T, stats string) int {
	t.Helper()
	i := strings.Index(stats, "prompt: ")
	if i < 0 {
		t.Fatalf("no prompt stats in %q", stats)
	}
	f := strings.Fields(stats[i+len("prompt: "):])
	n, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUsageErrorsExit2(t *testing.T) {
	cases := [][]string{
		{"ask", "-m", tinyModel, "--ctx", "-5", "hi"},
		{"ask", "-m", tinyModel, "--temp", "-1", "hi"},
		{"ask", "-m", tinyModel, "-t", "5000", "hi"},
		{"ask", "-m", tinyModel, "--top-p", "1.5", "hi"},
		{"ask", "-m", tinyModel, "--no-such-flag", "hi"},
		{"ask", "-m", tinyModel, "-n", "0", "hi"},
		{"ask", "-m", tinyModel},
		{"bench", "-m", tinyModel, "-r", "0"},
		{"frobnicate"},
	}
	for _, args := range cases {
		_, errOut, st := natter(t, "", args...)
		if st != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, st, errOut)
		}
		if !strings.Contains(errOut, "--help' for usage") {
			t.Errorf("%v: no pointer to the usage: %s", args, errOut)
		}
	}
}

// Help shows float defaults as typed (0.8), not as float32 noise; natter -h
// lists the commands and the chat's flags.
func TestHelpShowsDecimalDefaults(t *testing.T) {
	out, _, st := natter(t, "", "-h")
	if st != 0 || !strings.Contains(out, "SETUP") || !strings.Contains(out, "--fullscreen") {
		t.Fatalf("natter -h (exit %d) lacks the commands or the chat flags:\n%s", st, out)
	}
	_, errOut, _ := natter(t, "", "--bogus")
	if !strings.HasPrefix(errOut, "natter: unknown flag: --bogus") {
		t.Errorf("chat flag error: %q", errOut)
	}
	for _, cmd := range []string{"ask", "-h"} {
		out, errOut, _ := natter(t, "", cmd, "-h")
		help := out + errOut
		if !strings.Contains(help, "(default 0.8)") || !strings.Contains(help, "(default 0.95)") {
			t.Errorf("%s -h lacks the decimal defaults:\n%s", cmd, help)
		}
		if strings.Contains(help, "00000") || strings.Contains(help, "99999") {
			t.Errorf("%s -h shows float noise:\n%s", cmd, help)
		}
	}
}

func TestBadModelFilesExit1WithOneLine(t *testing.T) {
	data, err := os.ReadFile(tinyModel)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	flipped := append([]byte(nil), data...)
	flipped[len(flipped)/2] ^= 0x55 // tensor data: still loads, so corrupt the header instead
	copy(flipped[16:24], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	paths := []string{
		filepath.Join(dir, "missing.gguf"),
		dir,
		write("empty.gguf", nil),
		write("trunc-header.gguf", data[:40]),
		write("trunc-data.gguf", data[:len(data)-100]),
		write("corrupt.gguf", flipped),
		write("text.gguf", []byte("#!/bin/sh\necho not a model\n")),
	}
	for _, p := range paths {
		_, errOut, st := natter(t, "", "ask", "-m", p, "hi")
		if st != 1 {
			t.Errorf("%s: exit %d, want 1 (%q)", p, st, errOut)
		}
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if len(lines) != 1 || !strings.Contains(lines[0], filepath.Base(p)) {
			t.Errorf("%s: want one line naming the file, got %q", p, errOut)
		}
	}
}

func TestAskInterruptKeepsPartialAnswer(t *testing.T) {
	cmd := natterCmd("ask", "--raw", "-m", tinyModel, "--temp", "1", "--ignore-eos", "--ctx", "8192", "Once upon a time")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	first := make([]byte, 1)
	if _, err := r.Read(first); err != nil {
		t.Fatalf("no output before interrupt: %v (%s)", err, errOut.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	rest, _ := r.ReadString(0)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		// It may have finished before the signal landed (context full).
		if err == nil {
			t.Skip("generation finished before the interrupt arrived")
		}
		t.Fatalf("want exit 130 after SIGINT, got %v (%s)", err, errOut.String())
	}
	if len(first)+len(rest) == 0 {
		t.Fatal("partial answer lost")
	}
}

func TestBenchJSON(t *testing.T) {
	out, errOut, st := natter(t, "", "bench", "-m", tinyModel, "-p", "32", "-n", "16", "-r", "2", "-t", "1", "--json")
	if st != 0 {
		t.Fatalf("exit %d: %s", st, errOut)
	}
	var tests []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		for _, k := range []string{"test", "tokens_per_second", "stddev", "threads", "model_bytes"} {
			if _, ok := r[k]; !ok {
				t.Errorf("missing %q in %s", k, line)
			}
		}
		if tps, _ := r["tokens_per_second"].(float64); tps <= 0 {
			t.Errorf("non-positive speed in %s", line)
		}
		if th, _ := r["threads"].(float64); th != 1 {
			t.Errorf("threads %v, want 1", r["threads"])
		}
		tests = append(tests, r["test"].(string))
	}
	if strings.Join(tests, ",") != "pp32,tg16" {
		t.Fatalf("tests %v, want pp32,tg16", tests)
	}
	// The table form carries the same tests.
	out, _, st = natter(t, "", "bench", "-m", tinyModel, "-p", "32", "-n", "16", "-r", "1")
	if st != 0 || !strings.Contains(out, "pp32") || !strings.Contains(out, "tg16") || !strings.Contains(out, "system_info") {
		t.Fatalf("table output:\n%s", out)
	}
}

func TestVersionShowsSystemInfo(t *testing.T) {
	out, _, st := natter(t, "", "version")
	if st != 0 || !strings.Contains(out, "llama.cpp:") || !strings.Contains(out, "CPU") {
		t.Fatalf("version output:\n%s", out)
	}
	if runtime.GOARCH == "amd64" && strings.Contains(out, "AVX2 = 1") && strings.Contains(out, "warning") {
		t.Fatalf("warns about AVX2 though it is compiled in:\n%s", out)
	}
}

func TestLogsStayOffStderr(t *testing.T) {
	_, errOut, st := natter(t, "", "ask", "-m", tinyModel, "--raw", "-n", "3", "hello")
	if st != 0 {
		t.Fatal(errOut)
	}
	if strings.Contains(errOut, "llama_") || strings.Contains(errOut, "load_tensors") {
		t.Fatalf("llama.cpp logs leaked to stderr:\n%s", errOut)
	}
	log, err := os.ReadFile(filepath.Join(testHome, "state", "natter", "llama.log"))
	if err != nil || !bytes.Contains(log, []byte("llama")) {
		t.Fatalf("no llama.cpp log in the state dir: %v", err)
	}
}

func TestAskPeakRSSWithinBudget(t *testing.T) {
	spec := synth.Spec{NLayer: 8, NEmbd: 768, NFF: 2048, NHead: 12, NHeadKV: 4, NCtxTrain: 2048, Type: synth.Q8_0, Seed: 3, Name: "rss"}
	path := filepath.Join(t.TempDir(), "rss.gguf")
	if err := synth.Write(path, spec); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := natterCmd("ask", "-m", path, "--ctx", "2048", "--raw", "-n", "16", "Once upon a time")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Skip("DID NOT RUN: no rusage on this platform")
	}
	peak := ru.Maxrss * 1024 // kilobytes on Linux
	// f16 K and V: 2 * layers * ctx * kv_heads * head_dim * 2 bytes.
	kv := int64(2 * spec.NLayer * 2048 * spec.NHeadKV * (spec.NEmbd / spec.NHead) * 2)
	budget := st.Size() + kv + 150<<20
	t.Logf("peak RSS %.1f MiB; model %.1f MiB + KV %.1f MiB + 150 MiB = %.1f MiB", float64(peak)/(1<<20), float64(st.Size())/(1<<20), float64(kv)/(1<<20), float64(budget)/(1<<20))
	if peak > budget {
		t.Fatalf("peak RSS %d bytes exceeds model + KV cache + 150 MiB = %d", peak, budget)
	}
}

func TestAskSavesToHistoryOnlyWithSave(t *testing.T) {
	home := t.TempDir()
	run := func(args ...string) (string, int) {
		cmd := natterCmd(args...)
		cmd.Env = append(cmd.Env, "NATTER_NO_HISTORY=", "XDG_DATA_HOME="+home, "XDG_STATE_HOME="+home)
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out) + string(ee.Stderr), ee.ExitCode()
		}
		return string(out), 0
	}
	if out, st := run("ask", "-m", chatModel, "--temp", "0", "-n", "6", "--save", "what is a zebra"); st != 0 {
		t.Fatalf("ask --save: %d %s", st, out)
	}
	if out, st := run("ask", "-m", chatModel, "--temp", "0", "-n", "6", "secret question"); st != 0 {
		t.Fatalf("ask: %d %s", st, out)
	}
	if out, st := run("ask", "-m", chatModel, "--temp", "0", "-n", "6", "--save", "--no-save", "secret question"); st != 0 {
		t.Fatalf("ask --save --no-save: %d %s", st, out)
	}
	out, st := run("history", "list", "--json")
	if st != 0 {
		t.Fatalf("history: %d %s", st, out)
	}
	var chats []map[string]any
	if err := json.Unmarshal([]byte(out), &chats); err != nil {
		t.Fatalf("history --json: %v\n%s", err, out)
	}
	if len(chats) != 1 || !strings.Contains(fmt.Sprint(chats[0]["title"]), "zebra") {
		t.Fatalf("want exactly the saved zebra chat, got %v", chats)
	}
	found, _ := run("history", "search", "zebra")
	if !strings.Contains(found, "zebra") {
		t.Fatalf("search did not find the question: %s", found)
	}
	if secret, _ := run("history", "search", "secret"); strings.Contains(secret, "secret question") {
		t.Fatalf("an ask without --save was saved: %s", secret)
	}
}

// A context that cannot fit in memory is refused before llama.cpp allocates
// anything, and more threads than CPUs are capped with a note.
func TestAskExtremeCtxAndThreads(t *testing.T) {
	_, errOut, st := natter(t, "", "ask", "-m", chatModel, "--ctx", "1000000000", "--no-save", "hi")
	if st != 1 || !strings.Contains(errOut, "--ctx 1000000000 needs about") || !strings.Contains(errOut, "fits") {
		t.Fatalf("exit %d, stderr:\n%s", st, errOut)
	}
	out, errOut, st := natter(t, "", "ask", "-m", chatModel, "-t", "1000", "--temp", "0", "-n", "3", "--no-save", "hi")
	if st != 0 || strings.TrimSpace(out) == "" {
		t.Fatalf("-t 1000: exit %d, stderr:\n%s", st, errOut)
	}
	if !strings.Contains(errOut, "logical CPUs; using") {
		t.Fatalf("-t 1000 was not capped with a note:\n%s", errOut)
	}
}

// natter ask warns when the model has no chat template (suggesting --raw)
// and when the template drops the system prompt; never for --raw or a
// model with a template that keeps it.
func TestAskTemplateWarnings(t *testing.T) {
	_, errOut, st := natter(t, "", "ask", "-m", tinyModel, "--temp", "0", "-n", "3", "--no-save", "hi")
	if st != 0 || !strings.Contains(errOut, "tiny has no chat template, so the prompt is formatted with") || !strings.Contains(errOut, "--raw") {
		t.Fatalf("no warning for a model without a template: %d %s", st, errOut)
	}
	if _, errOut, _ := natter(t, "", "ask", "-m", tinyModel, "--raw", "-n", "3", "--no-save", "hi"); strings.Contains(errOut, "warning") {
		t.Fatalf("--raw warned: %s", errOut)
	}
	if _, errOut, _ := natter(t, "", "ask", "-m", chatModel, "-n", "3", "--system", "be brief", "--no-save", "hi"); strings.Contains(errOut, "warning") {
		t.Fatalf("a model with a template warned: %s", errOut)
	}
	tmpl := filepath.Join(t.TempDir(), "nosys.jinja")
	src := "{% for m in messages %}{% if m['role'] != 'system' %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
	if err := os.WriteFile(tmpl, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, st = natter(t, "", "ask", "-m", chatModel, "-n", "3", "--chat-template", tmpl, "--system", "be a pirate", "--no-save", "hi")
	if st != 0 || !strings.Contains(errOut, "leaves the system prompt out, so it has no effect") {
		t.Fatalf("no warning for a dropped system prompt: %d %s", st, errOut)
	}
}
