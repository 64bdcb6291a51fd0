package models

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runModels runs ModelsCmd with the flags args names (cobra parses them in
// natter; package cli tests that).
func runModels(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var o ModelsOptions
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--json":
			o.JSON = true
		case "--catalog":
			o.Catalog = true
		case "--paths":
			o.Paths = true
		case "--ctx":
			i++
			if _, err := fmt.Sscan(args[i], &o.Ctx); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("runModels: %q", args[i])
		}
	}
	var out, errb bytes.Buffer
	code := ModelsCmd(o, &out, &errb)
	return code, out.String(), errb.String()
}

func TestModelsCmdJSON(t *testing.T) {
	l := buildLayout(t)
	fakeMemory(t, 8<<30)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	alpha := filepath.Join(l.dirA, "alpha.gguf")
	if err := Remember(alpha); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runModels(t, "--json", "--ctx", "256")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Models []map[string]any `json:"models"`
		Avail  uint64           `json:"available_memory_bytes"`
		Search []string         `json:"searched"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if doc.Avail != 8<<30 || len(doc.Search) == 0 || len(doc.Models) != 16 {
		t.Fatalf("avail %d, %d sources, %d models", doc.Avail, len(doc.Search), len(doc.Models))
	}
	fields := []string{"name", "path", "source", "arch", "params", "quantization", "size_bytes",
		"context_length", "chat_template", "ram_bytes", "ram_context", "fit", "default"}
	var defaults int
	for _, m := range doc.Models {
		for _, f := range fields {
			if _, ok := m[f]; !ok {
				t.Errorf("%v: no field %q", m["name"], f)
			}
		}
		if m["default"] == true {
			defaults++
			if m["path"] != alpha {
				t.Errorf("default is %v", m["path"])
			}
		}
		if m["name"] == "own-chat" {
			if m["arch"] != "llama" || m["chat_template"] != true || m["ram_context"] != float64(256) || m["fit"] != "ok" {
				t.Errorf("own-chat: %v", m)
			}
		}
		if m["name"] == "broken" && m["error"] == nil {
			t.Error("broken file has no error")
		}
	}
	if defaults != 1 {
		t.Errorf("%d defaults", defaults)
	}
}

func TestModelsCmdTable(t *testing.T) {
	buildLayout(t)
	fakeMemory(t, 8<<30)
	code, out, _ := runModels(t, "--paths")
	if code != 0 {
		t.Fatal(code)
	}
	for _, want := range []string{"NAME", "RAM", "qwen2.5:0.5b", "Tiny-Q8_0", "own-chat", "✓", "unreadable", "Free memory now: 8.6 GB", ".ollama/models/blobs/sha256-"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestModelsCmdEmptyAndUsage(t *testing.T) {
	isolate(t)
	fakeMemory(t, 12_000_000_000)
	fakeTotal(t, 16_700_000_000)
	code, out, _ := runModels(t)
	if code != 0 || !strings.Contains(out, "No GGUF models found") || !strings.Contains(out, "natter models --catalog") ||
		!strings.Contains(out, "for this machine: natter pull qwen3.5-9b") {
		t.Errorf("empty: %d %s", code, out)
	}
	if code, _, _ := runModels(t, "--ctx", "-5"); code != ExitUsage {
		t.Errorf("negative ctx: exit %d", code)
	}
}

func TestModelsCmdCatalog(t *testing.T) {
	isolate(t)
	fakeMemory(t, 2_000_000_000)
	fakeTotal(t, 4_000_000_000)
	code, out, _ := runModels(t, "--catalog")
	if code != 0 {
		t.Fatal(code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var rows int
	for _, l := range lines {
		if strings.HasPrefix(l, "✓") || strings.HasPrefix(l, "~") || strings.HasPrefix(l, "✗") {
			rows++
		}
	}
	if rows != len(Catalog()) || !strings.Contains(out, "natter pull NAME") || !strings.Contains(out, "✗") {
		t.Errorf("%d rows:\n%s", rows, out)
	}
	// The recommendation for a 4 GB machine is marked and named.
	if !strings.Contains(out, "qwen3.5-0.8b *") || strings.Count(out, " * ") != 1 ||
		!strings.Contains(out, "* recommended for this machine (4.0 GB of memory): natter pull qwen3.5-0.8b") {
		t.Errorf("recommendation:\n%s", out)
	}
	// Every entry was verified, so none is marked.
	if strings.Contains(out, "unverified") {
		t.Errorf("unverified marks:\n%s", out)
	}

	code, out, _ = runModels(t, "--catalog", "--json")
	var doc struct {
		Catalog []catalogJSON `json:"catalog"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Catalog) != len(Catalog()) {
		t.Fatalf("catalog JSON: %d %s", code, out)
	}
	recs := 0
	for _, e := range doc.Catalog {
		if e.Pull == "" || e.RAMBytes == 0 || e.Fit == FitUnknown || e.Repo == "" || e.License == "" || !e.Verified || e.Source == "" {
			t.Errorf("entry %+v", e)
		}
		if e.Recommended {
			recs++
		}
	}
	if recs != 1 {
		t.Errorf("%d recommended entries", recs)
	}
}

// An entry whose repository or file could not be confirmed says so.
func TestModelsCmdCatalogUnverified(t *testing.T) {
	isolate(t)
	fakeMemory(t, 2_000_000_000)
	fakeTotal(t, 4_000_000_000)
	old := catalog
	catalog = append(append([]CatalogEntry(nil), old...), CatalogEntry{Name: "guess-1b", Description: "a guessed entry",
		Repo: "someone/Guess-GGUF", File: "Guess-Q4_K_M.gguf", Arch: "llama", Params: 1e9, Quant: "Q4_K_M", Size: 600e6,
		Context: 4096, License: "MIT", layers: 16, embd: 2048, heads: 32, kvHeads: 8, headDim: 64, vocab: 32000})
	t.Cleanup(func() { catalog = old })
	code, out, _ := runModels(t, "--catalog")
	if code != 0 || !strings.Contains(out, "a guessed entry [unverified]") || strings.Count(out, "[unverified]") != 2 ||
		!strings.Contains(out, "could not be confirmed") {
		t.Errorf("%d:\n%s", code, out)
	}
	code, out, _ = runModels(t, "--catalog", "--json")
	if code != 0 || !strings.Contains(out, `"name": "guess-1b"`) || strings.Count(out, `"verified": false`) != 1 {
		t.Errorf("JSON: %d %s", code, out)
	}
}

func TestPullCmd(t *testing.T) {
	isolate(t)
	fakeMemory(t, 8<<30)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add(tKey, content)
	t.Setenv("HF_ENDPOINT", srv.URL)

	var out, errb bytes.Buffer
	code := PullCmd(context.Background(), "qwen3.5-0.8b", PullCmdOptions{}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	o := out.String()
	for _, want := range []string{"connecting", "100%", "verifying", "sha256 verified", "natter -m Qwen3.5-0.8B-Q4_K_M"} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
	if strings.Contains(o, "\r") || strings.Contains(o, "\x1b") {
		t.Errorf("terminal codes in piped output: %q", o)
	}
	// The pulled model resolves by catalog name and by file name.
	for _, name := range []string{"qwen3.5-0.8b", "Qwen3.5-0.8B-Q4_K_M"} {
		if p, err := Resolve(name); err != nil || p != filepath.Join(ModelsDir(), tFile) {
			t.Errorf("Resolve(%s) = %q %v", name, p, err)
		}
	}

	// Again: already there.
	out.Reset()
	if code := PullCmd(context.Background(), "qwen3.5-0.8b", PullCmdOptions{Quiet: true}, &out, &errb); code != 0 || !strings.Contains(out.String(), "already on disk") {
		t.Errorf("second pull: %d %s", code, out.String())
	}
}

func TestPullCmdUnverifiedAndOutputDir(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	srv.add("x/tiny.gguf", tinyBytes(t))
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := PullCmd(context.Background(), srv.URL+"/plain/x/tiny.gguf", PullCmdOptions{Dir: dir, Quiet: true}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "could not be verified") {
		t.Errorf("no unverified warning: %s", errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "tiny.gguf")); err != nil {
		t.Error(err)
	}
	if !strings.Contains(out.String(), "natter -m "+filepath.Join(dir, "tiny.gguf")) {
		t.Errorf("hint should give the path outside the models folder: %s", out.String())
	}
}

func TestPullCmdExitCodes(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	t.Setenv("HF_ENDPOINT", srv.URL)
	run := func(ctx context.Context, name string) (int, string) {
		var out, errb bytes.Buffer
		code := PullCmd(ctx, name, PullCmdOptions{}, &out, &errb)
		return code, errb.String()
	}
	if code, msg := run(context.Background(), "qwen3.5-4b"); code != ExitFail || !strings.Contains(msg, "HTTP 404") {
		t.Errorf("404: %d %s", code, msg)
	}
	t.Setenv("NATTER_OFFLINE", "1")
	if code, msg := run(context.Background(), "qwen3.5-4b"); code != ExitFail || !strings.Contains(msg, "NATTER_OFFLINE") {
		t.Errorf("offline: %d %s", code, msg)
	}
	os.Unsetenv("NATTER_OFFLINE")

	srv.add(tKey, tinyBytes(t))
	srv.stallAfter = true
	ctx, cancel := context.WithCancel(context.Background())
	part := filepath.Join(ModelsDir(), tFile+".part")
	go func() {
		for ctx.Err() == nil {
			if fi, err := os.Stat(part); err == nil && fi.Size() > 0 {
				cancel()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	if code, msg := run(ctx, "qwen3.5-0.8b"); code != ExitInterrupt || !strings.Contains(msg, "resume") {
		t.Errorf("interrupted: %d %s", code, msg)
	}
}

func TestProgressPrinter(t *testing.T) {
	var b bytes.Buffer
	pp := NewProgressPrinter(&b, true)
	pp.Update(Progress{File: "m.gguf", Phase: PhaseDownloading, Done: 50_000_000, Total: 100_000_000, Speed: 10_000_000, ETA: 5 * time.Second})
	pp.Finish()
	s := b.String()
	for _, want := range []string{"\r\x1b[K", "m.gguf", " 50%", "50 MB / 100 MB", "10 MB/s", "ETA 0:05", "████████████░░░░░░░░░░░░"} {
		if !strings.Contains(s, want) {
			t.Errorf("bar lacks %q: %q", want, s)
		}
	}

	b.Reset()
	pp = NewProgressPrinter(&b, false)
	for i := int64(0); i <= 100; i++ {
		pp.Update(Progress{File: "m.gguf", Phase: PhaseDownloading, Done: i, Total: 100})
	}
	if n := strings.Count(b.String(), "\n"); n != 11 { // first line, then each 10%
		t.Errorf("%d plain lines:\n%s", n, b.String())
	}
	if FormatETA(3725*time.Second) != "1:02:05" || Bar(-1, 4) != "░░░░" || Bar(2, 4) != "████" {
		t.Error("helpers")
	}
}

func TestPullCmdWarnsWhenTooBig(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add("x/tiny.gguf", content)
	fakeMemory(t, uint64(len(content))) // less than the file plus the runtime
	var out, errb bytes.Buffer
	code := PullCmd(context.Background(), srv.URL+"/plain/x/tiny.gguf", PullCmdOptions{Dir: t.TempDir(), Quiet: true}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// Before the download (file size) and after it (full estimate from the header).
	if !strings.Contains(errb.String(), "will not run well here") || !strings.Contains(errb.String(), "smaller") || strings.Count(errb.String(), "warning:") < 3 {
		t.Errorf("warnings: %s", errb.String())
	}

	// A catalog model is checked before any request.
	fakeMemory(t, 1_000_000_000)
	t.Setenv("HF_ENDPOINT", srv.URL)
	errb.Reset()
	PullCmd(context.Background(), "qwen3.5-4b", PullCmdOptions{Quiet: true}, &out, &errb)
	if !strings.Contains(errb.String(), "warning: this model needs about") || !strings.Contains(errb.String(), "HTTP 404") {
		t.Errorf("catalog warning: %s", errb.String())
	}
}
