package models

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"natter/engine/gguf/synth"
)

const (
	tRepo = "unsloth/Qwen3.5-0.8B-GGUF"
	tFile = "Qwen3.5-0.8B-Q4_K_M.gguf"
	tKey  = tRepo + "/" + tFile
)

// pullOpts are fast-failing options against srv, writing into dir.
func pullOpts(srv *hfServer, dir string) PullOptions {
	return PullOptions{
		Dir:           dir,
		HFBaseURL:     srv.URL,
		HeaderTimeout: 2 * time.Second,
		StallTimeout:  2 * time.Second,
		Retries:       -1,
		RetryDelay:    10 * time.Millisecond,
	}
}

func assertNoPart(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".part") || strings.HasSuffix(e.Name(), ".lock") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestPullCatalogFullVerified(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add(tKey, content)
	dir := t.TempDir()

	var phases []string
	var last Progress
	opts := pullOpts(srv, dir)
	opts.Progress = func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		last = p
	}
	res, err := Pull(context.Background(), "qwen3.5-0.8b", opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != filepath.Join(dir, tFile) || !res.Verified || res.SHA256 != sha(content) || res.Size != int64(len(content)) {
		t.Fatalf("result %+v", res)
	}
	got, err := os.ReadFile(res.Path)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("file differs from served content (err %v)", err)
	}
	assertNoPart(t, dir)
	want := []string{PhaseConnecting, PhaseDownloading, PhaseVerifying, PhaseDone}
	if strings.Join(phases, ",") != strings.Join(want, ",") {
		t.Errorf("phases %v, want %v", phases, want)
	}
	if last.Done != int64(len(content)) || last.Total != int64(len(content)) {
		t.Errorf("last progress %+v", last)
	}
	// The request went to the repository's resolve URL.
	if l := srv.log(); len(l) < 2 || !strings.HasPrefix(l[0], "GET /"+tRepo+"/resolve/main/"+tFile) {
		t.Errorf("requests %v", l)
	}

	// A second pull finds the file and does not touch the network.
	n := len(srv.log())
	res, err = Pull(context.Background(), "qwen3.5-0.8b", opts)
	if err != nil || !res.AlreadyPresent {
		t.Fatalf("second pull: %+v, %v", res, err)
	}
	if len(srv.log()) != n {
		t.Errorf("second pull made requests: %v", srv.log()[n:])
	}
}

func TestPullHFRepoQuantUsesTreeSHA(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	q8 := tinyBytes(t)
	srv.add("someone/Tiny-GGUF/Tiny-Q4_K_M.gguf", []byte("not this one"))
	srv.add("someone/Tiny-GGUF/Tiny-Q8_0.gguf", q8)
	srv.add("someone/Tiny-GGUF/mmproj-Tiny-Q8_0.gguf", []byte("projector"))
	srv.add("someone/Tiny-GGUF/README.md", []byte("hello"))
	srv.noLinkedEtag = true // only the tree listing publishes the sha256
	dir := t.TempDir()

	res, err := Pull(context.Background(), "hf.co/someone/Tiny-GGUF:q8_0", pullOpts(srv, dir))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(res.Path) != "Tiny-Q8_0.gguf" || !res.Verified {
		t.Fatalf("result %+v", res)
	}

	// The tree's sha256 is enforced: publish a wrong one.
	srv.sha["someone/Tiny-GGUF/Tiny-Q8_0.gguf"] = strings.Repeat("ab", 32)
	os.Remove(res.Path)
	_, err = Pull(context.Background(), "https://huggingface.co/someone/Tiny-GGUF:Q8_0", pullOpts(srv, dir))
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("want checksum error, got %v", err)
	}
}

func TestPullHFRepoErrors(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	srv.add("o/r/m-Q4_K_M-00001-of-00002.gguf", []byte("a"))
	srv.add("o/r/m-Q4_K_M-00002-of-00002.gguf", []byte("b"))
	srv.add("o/r/m-Q5_K_M.gguf", []byte("c"))
	srv.add("o/two/a-Q4_K_M.gguf", []byte("a"))
	srv.add("o/two/sub/b-Q4_K_M.gguf", []byte("b"))
	dir := t.TempDir()
	cases := []struct{ spec, want string }{
		{"hf.co/o/r", "split into 2 files"},
		{"hf.co/o/r:Q8_0", "has no Q8_0 file; it has: Q4_K_M, Q5_K_M"},
		{"hf.co/o/missing", "no such repository"},
		{"hf.co/o/two", "several Q4_K_M files"},
		{"hf.co/o", "expected hf.co/OWNER/REPO"},
		{"hf.co/o/r/../../x.gguf", "cannot take a file name"},
		{"not-a-model", "unknown model"},
	}
	for _, c := range cases {
		_, err := Pull(context.Background(), c.spec, pullOpts(srv, dir))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.spec, err, c.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed pulls left files: %v", ents)
	}
}

func TestPullResumeAfterCut(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add(tKey, content)
	srv.cutOnce = 1
	dir := t.TempDir()
	part := filepath.Join(dir, tFile+".part")

	_, err := Pull(context.Background(), "qwen3.5-0.8b", pullOpts(srv, dir))
	if err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("cut download: want an error that mentions resuming, got %v", err)
	}
	fi, err := os.Stat(part)
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(content)) {
		t.Fatalf(".part after cut: %v, %v", fi, err)
	}
	if !bytes.Equal(mustRead(t, part), content[:fi.Size()]) {
		t.Fatal(".part does not hold the start of the file")
	}

	res, err := Pull(context.Background(), "qwen3.5-0.8b", pullOpts(srv, dir))
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != fi.Size() || !res.Verified {
		t.Errorf("resumed %d (want %d), verified %v", res.Resumed, fi.Size(), res.Verified)
	}
	if !bytes.Equal(mustRead(t, res.Path), content) {
		t.Fatal("resumed file differs")
	}
	var sawRange bool
	for _, l := range srv.log() {
		if strings.HasSuffix(l, "bytes="+itoa(fi.Size())+"-") {
			sawRange = true
		}
	}
	if !sawRange {
		t.Errorf("no Range request from %d: %v", fi.Size(), srv.log())
	}
	assertNoPart(t, dir)
}

func TestPullRetriesByItself(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add(tKey, content)
	srv.cutOnce = 2
	dir := t.TempDir()
	opts := pullOpts(srv, dir)
	opts.Retries = 3
	var attempts int
	opts.Progress = func(p Progress) { attempts = max(attempts, p.Attempt) }
	res, err := Pull(context.Background(), "qwen3.5-0.8b", opts)
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 3 || !bytes.Equal(mustRead(t, res.Path), content) {
		t.Fatalf("attempts %d; file equal %v", attempts, bytes.Equal(mustRead(t, res.Path), content))
	}
}

func TestPullServerIgnoresRange(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add(tKey, content)
	srv.ignoreRange = true
	dir := t.TempDir()
	// A stale .part with wrong bytes: a 200 answer must replace, not append.
	mustWrite(t, filepath.Join(dir, tFile+".part"), []byte("stale bytes"))
	res, err := Pull(context.Background(), "qwen3.5-0.8b", pullOpts(srv, dir))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, res.Path), content) {
		t.Fatal("file differs")
	}
}

func TestPullChecksumMismatchRemovesPart(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	srv.add(tKey, tinyBytes(t))
	srv.sha[tKey] = strings.Repeat("0", 64)
	dir := t.TempDir()
	_, err := Pull(context.Background(), "qwen3.5-0.8b", pullOpts(srv, dir))
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), strings.Repeat("0", 64)) {
		t.Fatalf("want checksum error naming the expected sum, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, tFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a file that failed verification was moved into place")
	}
	assertNoPart(t, dir)
}

func TestPullGenericURLVerification(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add("files/tiny.gguf", content)
	url := srv.URL + "/plain/files/tiny.gguf"

	// No published sum: downloaded, but reported as unverified.
	dir := t.TempDir()
	res, err := Pull(context.Background(), url, pullOpts(srv, dir))
	if err != nil || res.Verified || res.SHA256 != sha(content) {
		t.Fatalf("unverified pull: %+v, %v", res, err)
	}

	// --sha256 given and right.
	dir = t.TempDir()
	opts := pullOpts(srv, dir)
	opts.SHA256 = strings.ToUpper(sha(content))
	if res, err = Pull(context.Background(), url, opts); err != nil || !res.Verified {
		t.Fatalf("with --sha256: %+v, %v", res, err)
	}

	// --sha256 given and wrong.
	dir = t.TempDir()
	opts = pullOpts(srv, dir)
	opts.SHA256 = strings.Repeat("1", 64)
	if _, err = Pull(context.Background(), url, opts); !errors.Is(err, ErrChecksum) {
		t.Fatalf("wrong --sha256: %v", err)
	}
	assertNoPart(t, dir)

	// A sha256 ETag is used.
	srv.plainEtag = true
	dir = t.TempDir()
	if res, err = Pull(context.Background(), url, pullOpts(srv, dir)); err != nil || !res.Verified {
		t.Fatalf("with sha256 ETag: %+v, %v", res, err)
	}
	srv.sha["files/tiny.gguf"] = strings.Repeat("2", 64)
	dir = t.TempDir()
	if _, err = Pull(context.Background(), url, pullOpts(srv, dir)); !errors.Is(err, ErrChecksum) {
		t.Fatalf("wrong ETag: %v", err)
	}

	// A malformed --sha256 is refused before any request.
	opts.SHA256 = "xyz"
	if _, err = Pull(context.Background(), url, opts); err == nil || !strings.Contains(err.Error(), "64 hex") {
		t.Fatalf("bad --sha256: %v", err)
	}
}

func TestPullRejectsNonGGUF(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	junk := bytes.Repeat([]byte("not a model "), 1000)
	srv.add(tKey, junk) // published sha256 matches: only the GGUF check can catch it
	dir := t.TempDir()
	_, err := Pull(context.Background(), "qwen3.5-0.8b", pullOpts(srv, dir))
	if !errors.Is(err, ErrNotGGUF) {
		t.Fatalf("want ErrNotGGUF, got %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
	// A well-formed GGUF without tensors is no model either.
	srv.files[tKey] = emptyGGUF()
	if _, err := Pull(context.Background(), "qwen3.5-0.8b", pullOpts(srv, dir)); !errors.Is(err, ErrNotGGUF) || !strings.Contains(err.Error(), "no tensors") {
		t.Fatalf("tensorless GGUF: %v", err)
	}
}

func TestPullHTTPErrors(t *testing.T) {
	isolate(t)
	for _, c := range []struct {
		status int
		want   string
	}{
		{404, "HTTP 404"},
		{500, "HTTP 500"},
		{403, "access denied"},
	} {
		srv := newHFServer(t)
		srv.add(tKey, []byte("x"))
		srv.status = c.status
		opts := pullOpts(srv, t.TempDir())
		if c.status == 500 {
			opts.Retries = 2 // retried, then reported
		}
		start := time.Now()
		_, err := Pull(context.Background(), "qwen3.5-0.8b", opts)
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != c.status || !strings.Contains(err.Error(), c.want) {
			t.Errorf("status %d: got %v", c.status, err)
		}
		if c.status == 500 && len(srv.log()) != 3 {
			t.Errorf("500: %d requests, want 3 (1 + 2 retries)", len(srv.log()))
		}
		if c.status == 404 && len(srv.log()) != 1 {
			t.Errorf("404 was retried: %v", srv.log())
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("status %d took %v", c.status, time.Since(start))
		}
	}
}

func TestPullSlowServerTimesOut(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	srv.add(tKey, tinyBytes(t))
	srv.headerDelay = time.Minute
	opts := pullOpts(srv, t.TempDir())
	opts.HeaderTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err := Pull(context.Background(), "qwen3.5-0.8b", opts)
	if !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("want ErrNoAnswer, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	// The repository listing has the same limit.
	start = time.Now()
	if _, err = Pull(context.Background(), "hf.co/o/r:Q8_0", opts); !errors.Is(err, ErrNoAnswer) || !strings.Contains(err.Error(), "listing o/r") {
		t.Fatalf("listing: want ErrNoAnswer, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("listing took %v", d)
	}
}

func TestPullStalledServer(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add(tKey, content)
	srv.stallAfter = true
	dir := t.TempDir()
	opts := pullOpts(srv, dir)
	opts.StallTimeout = 300 * time.Millisecond
	start := time.Now()
	_, err := Pull(context.Background(), "qwen3.5-0.8b", opts)
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("want a stall error mentioning resume, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	fi, err := os.Stat(filepath.Join(dir, tFile+".part"))
	if err != nil || fi.Size() != int64(len(content)/2) {
		t.Errorf(".part after stall: %v %v (want %d bytes)", fi, err, len(content)/2)
	}
}

func TestPullNoDiskSpaceRefusesBeforeDownloading(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add(tKey, content)
	dir := t.TempDir()
	opts := pullOpts(srv, dir)
	var asked string
	opts.FreeSpace = func(d string) (uint64, error) { asked = d; return uint64(len(content)) - 1, nil }
	var downloaded int64
	opts.Progress = func(p Progress) { downloaded = max(downloaded, p.Done) }
	_, err := Pull(context.Background(), "qwen3.5-0.8b", opts)
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("want ErrNoSpace, got %v", err)
	}
	if asked != dir || downloaded != 0 {
		t.Errorf("free space asked for %q, %d bytes downloaded", asked, downloaded)
	}
	if _, err := os.Stat(filepath.Join(dir, tFile+".part")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a .part was written despite the shortfall")
	}

	// Resuming needs only the rest.
	half := int64(len(content) / 2)
	mustWrite(t, filepath.Join(dir, tFile+".part"), content[:half])
	opts.FreeSpace = func(string) (uint64, error) { return uint64(int64(len(content)) - half), nil }
	if _, err := Pull(context.Background(), "qwen3.5-0.8b", opts); err != nil {
		t.Fatalf("resume with just enough room: %v", err)
	}
}

func TestPullLockedByAnotherPull(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	srv.add(tKey, tinyBytes(t))
	dir := t.TempDir()
	l, err := acquireLock(filepath.Join(dir, tFile+".lock"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Pull(context.Background(), "qwen3.5-0.8b", pullOpts(srv, dir))
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("want ErrLocked, got %v", err)
	}
	if len(srv.log()) != 0 {
		t.Errorf("locked pull made requests: %v", srv.log())
	}
	l.release()
	if _, err := Pull(context.Background(), "qwen3.5-0.8b", pullOpts(srv, dir)); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestPullConcurrentSameFile(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add(tKey, content)
	srv.headerDelay = 300 * time.Millisecond // keep the first pull busy
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Pull(context.Background(), "qwen3.5-0.8b", pullOpts(srv, dir))
		}()
	}
	wg.Wait()
	var ok, locked int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrLocked):
			locked++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok+locked != 2 || ok == 0 {
		t.Errorf("ok %d locked %d", ok, locked)
	}
	if !bytes.Equal(mustRead(t, filepath.Join(dir, tFile)), content) {
		t.Error("file corrupted")
	}
}

func TestPullCancelKeepsPart(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add(tKey, content)
	srv.stallAfter = true
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := pullOpts(srv, dir)
	opts.StallTimeout = time.Minute
	part := filepath.Join(dir, tFile+".part")
	go func() { // like Ctrl+C once bytes have arrived
		for ctx.Err() == nil {
			if fi, err := os.Stat(part); err == nil && fi.Size() > 0 {
				cancel()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	start := time.Now()
	_, err := Pull(ctx, "qwen3.5-0.8b", opts)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("want a cancellation mentioning resume, got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("cancel took %v", time.Since(start))
	}
	if fi, err := os.Stat(part); err != nil || fi.Size() == 0 {
		t.Fatalf(".part not kept: %v %v", fi, err)
	}
	if _, err := os.Stat(part[:len(part)-len(".part")] + ".lock"); !errors.Is(err, os.ErrNotExist) {
		t.Error("lock file left after cancel")
	}
}

func TestPullOfflineRefuses(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	srv.add(tKey, tinyBytes(t))
	t.Setenv("NATTER_OFFLINE", "1")
	_, err := Pull(context.Background(), "qwen3.5-0.8b", pullOpts(srv, t.TempDir()))
	if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "NATTER_OFFLINE") {
		t.Fatalf("want ErrOffline, got %v", err)
	}
	if len(srv.log()) != 0 {
		t.Errorf("offline pull made requests: %v", srv.log())
	}
}

func TestPullUnsafeNamesFromNetwork(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	srv.add("o/evil/../../escape-Q4_K_M.gguf", tinyBytes(t))
	dir := filepath.Join(t.TempDir(), "models")
	for _, spec := range []string{
		"hf.co/o/evil",                           // listing names ../../escape-Q4_K_M.gguf
		srv.URL + "/plain/..%2F..%2Fescape.gguf", // encoded separators
		srv.URL + "/plain/%2Fetc%2Fpasswd",
		srv.URL + "/plain/..%2F..%2F..%2Ftmp%2Fx.gguf",
		srv.URL + "/plain/%C2%9B2Jx.gguf", // U+009B: a terminal's CSI
		srv.URL + "/plain/%1B%5B2Jx.gguf", // ESC [2J
		srv.URL + "/plain/%9Bx.gguf",      // a lone C1 byte, not UTF-8
		srv.URL + "/",
	} {
		_, err := Pull(context.Background(), spec, pullOpts(srv, dir))
		if err == nil {
			t.Errorf("%s: accepted", spec)
			continue
		}
		// The error names the file escaped, never with raw controls.
		if strings.ContainsFunc(err.Error(), func(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f }) {
			t.Errorf("%s: error holds control characters: %q", spec, err)
		}
	}
	for _, path := range srv.log() {
		if strings.Contains(path, "x.gguf") {
			t.Errorf("an unsafe name was requested: %s", path)
		}
	}
	parent := filepath.Dir(dir)
	ents, _ := os.ReadDir(parent)
	if len(ents) != 0 {
		t.Errorf("files written outside the models folder: %v", ents)
	}
}

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/1000", 100, 1000, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes */1000", -1, 1000, true},
		{"bytes -5-10/20", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes 1-2", 0, 0, false},
		{"", 0, 0, false},
	} {
		s, tot, ok := parseContentRange(c.in)
		if ok != c.ok || ok && (s != c.start || tot != c.total) {
			t.Errorf("%q: %d %d %v", c.in, s, tot, ok)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 100-199/1000", "bytes */5", "bytes 0-0/*", "bytes 9999999999999999999-1/2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, total, ok := parseContentRange(s)
		if ok && (start < -1 || total < -1) {
			t.Fatalf("%q: negative %d %d", s, start, total)
		}
	})
}

func TestHasQuantToken(t *testing.T) {
	for _, c := range []struct {
		name, q string
		want    bool
	}{
		{"Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "Q4_K_M", true},
		{"qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M", true},
		{"Model-Q4_K_M.gguf", "Q4_K", false},
		{"Model-Q4_K_L.gguf", "Q4_K_M", false},
		{"Model.Q8_0.gguf", "q8_0", true},
		{"Model-IQ4_XS.gguf", "Q4_XS", false},
		{"m-Q4_K_M-00001-of-00002.gguf", "Q4_K_M", true},
	} {
		if got := hasQuantToken(c.name, c.q); got != c.want {
			t.Errorf("%s %s: %v", c.name, c.q, got)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestPullUnknownLength(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add("x/tiny.gguf", content)
	var last Progress
	opts := pullOpts(srv, t.TempDir())
	opts.Progress = func(p Progress) { last = p }
	res, err := Pull(context.Background(), srv.URL+"/chunked/x/tiny.gguf", opts)
	if err != nil || res.Verified || !bytes.Equal(mustRead(t, res.Path), content) {
		t.Fatalf("%+v %v", res, err)
	}
	if last.Phase != PhaseDone || last.Total != int64(len(content)) {
		t.Errorf("last progress %+v", last)
	}
}

func TestPullCatalogUsesFileAlreadyOnDisk(t *testing.T) {
	home := isolate(t)
	srv := newHFServer(t)
	t.Setenv("HF_ENDPOINT", srv.URL)
	if HasLocalModels() {
		t.Fatal("empty home has models")
	}
	p := filepath.Join(home, ".lmstudio/models/unsloth/Qwen3.5-0.8B-GGUF", tFile)
	tinyModel(t, p, "", true)
	if !HasLocalModels() {
		t.Fatal("LM Studio model not seen")
	}
	res, err := Pull(context.Background(), "qwen3.5-0.8b", PullOptions{})
	if err != nil || !res.AlreadyPresent || res.Path != p {
		t.Fatalf("%+v %v", res, err)
	}
	if len(srv.log()) != 0 {
		t.Errorf("requests made: %v", srv.log())
	}
}

func TestPullRedirectLoopStopsAtTen(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add("x/tiny.gguf", content)
	dir := t.TempDir()
	opts := pullOpts(srv, dir)
	opts.Retries = 3 // a loop must not be retried
	opts.RetryDelay = time.Second
	start := time.Now()
	_, err := Pull(context.Background(), srv.URL+"/loop/tiny.gguf", opts)
	if !errors.Is(err, ErrRedirects) || !strings.Contains(err.Error(), "too many redirects") {
		t.Fatalf("want ErrRedirects, got %v", err)
	}
	if n := len(srv.log()); n != maxRedirects+1 {
		t.Errorf("%d requests, want %d (the first and %d redirects)", n, maxRedirects+1, maxRedirects)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("took %v: retried after a loop", d)
	}
	assertNoPart(t, dir)

	// Exactly maxRedirects hops are still followed.
	res, err := Pull(context.Background(), srv.URL+"/hops/"+itoa(maxRedirects)+"/x/tiny.gguf", opts)
	if err != nil || !bytes.Equal(mustRead(t, res.Path), content) {
		t.Fatalf("%d redirects: %+v %v", maxRedirects, res, err)
	}
}

func TestPullTrickleIsCut(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	opts := pullOpts(srv, t.TempDir())
	opts.StallTimeout = 5 * time.Second // each gap is short: only the rate floor can trip
	opts.ProgressInterval = 200 * time.Millisecond
	opts.MinProgressBytes = 100 // the server sends ~10 per interval
	start := time.Now()
	_, err := Pull(context.Background(), srv.URL+"/trickle/x.gguf", opts)
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "minimum") {
		t.Fatalf("want a rate stall, got %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

// A repository's projector comes with the model, saved as mmproj-MODEL so
// FindProjector pairs them; a broken one leaves the model pulled.
func TestPullBringsProjector(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	srv.add("someone/Vis-GGUF/Vis-Q8_0.gguf", tinyBytes(t))
	proj := filepath.Join(t.TempDir(), "p.gguf")
	if err := synth.TinyVisionProjector(synth.Tiny().NEmbd).Write(proj); err != nil {
		t.Fatal(err)
	}
	pb, _ := os.ReadFile(proj)
	srv.add("someone/Vis-GGUF/mmproj-Vis-F16.gguf", pb)
	srv.add("someone/Vis-GGUF/mmproj-Vis-F32.gguf", []byte("the other precision"))
	dir := t.TempDir()
	res, err := Pull(context.Background(), "hf.co/someone/Vis-GGUF:Q8_0", pullOpts(srv, dir))
	if err != nil {
		t.Fatal(err)
	}
	if res.Projector == nil || filepath.Base(res.Projector.Path) != "mmproj-Vis-Q8_0.gguf" || !res.Projector.Verified {
		t.Fatalf("projector result %+v (error %q)", res.Projector, res.ProjectorError)
	}
	if got := FindProjector(res.Path); got != res.Projector.Path {
		t.Fatalf("FindProjector(%s) = %q, want the pulled %q", res.Path, got, res.Projector.Path)
	}

	srv.add("someone/Bad-GGUF/Bad-Q8_0.gguf", tinyBytes(t))
	srv.add("someone/Bad-GGUF/mmproj-Bad-F16.gguf", []byte("not a projector"))
	res, err = Pull(context.Background(), "hf.co/someone/Bad-GGUF:Q8_0", pullOpts(srv, dir))
	if err != nil || res.Projector != nil || res.ProjectorError == "" {
		t.Fatalf("a broken projector: err %v, result %+v", err, res)
	}
	if _, err := os.Stat(res.Path); err != nil {
		t.Fatalf("the model was not kept: %v", err)
	}
}
