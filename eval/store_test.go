package eval

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTestStore(t *testing.T, path string) *Store {
	t.Helper()
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testRun is a run of two cells with every field of every result set, and
// the texts a store could get wrong: unicode, empty strings, a byte that is
// not UTF-8, a 1 MB reply.
func testRun() *Run {
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
	cellA := CellResult{
		Cell: Cell{Model: "stories260K", ModelRef: "/models/stories260K.gguf", ModelHash: "ab12", Backend: "llama.cpp",
			Persona: "concise", PersonaText: "Be brief.\nReally.", Template: "chatml", TemplateText: "<|im_start|>{{.}}",
			Sampling: `{"temperature":0,"seed":1}`},
		PeakRSS: 123 << 20,
		Results: []CaseResult{
			{Case: "pos-1", Index: 0, Run: 0, Tags: []string{"sentiment", "pos"}, Output: "positive 😀 日本語 — ça va",
				Reasoning: "thinking…", Pass: true, Score: 1, Predicted: "positive", Expected: "positive",
				PromptTokens: 17, CachedTokens: 4, GeneratedTokens: 5, TTFT: 12345678 * time.Nanosecond, PrefillTime: 3 * time.Millisecond,
				DecodeTime: 41*time.Millisecond + 7, StopReason: "stop"},
			{Case: "pos-1", Index: 0, Run: 1, Tags: []string{}, Output: "", Pass: false, Score: 0,
				Reason: "no label in the reply", Expected: "positive", StopReason: "length"},
			{Case: "big", Index: 1, Run: 0, Output: big, Reasoning: "", Pass: true, Score: 0.6180339887498949,
				Reason: "judge: \"fine\"\tmostly", GeneratedTokens: 1 << 20, DecodeTime: time.Hour},
			{Case: "bytes", Index: 2, Run: 0, Output: "broken \xff\xfe bytes\x00 and a NUL", Err: "generation failed: boom"},
			{Case: "judged", Index: 3, Run: 0, Output: "skipped reply", Skipped: true},
		},
	}
	cellB := CellResult{
		Cell: Cell{Model: "gpu:qwen", ModelRef: "https://example.invalid/v1 qwen", Backend: "remote"},
		Results: []CaseResult{
			{Case: "pos-1", Output: "négatif", Pass: false, Reason: "wanted positive, got negative",
				Predicted: "negative", Expected: "positive", TTFT: time.Second},
			{Case: "big", Index: 1, Output: "ok", Pass: true, Score: 1},
		},
	}
	failed := CellResult{Cell: Cell{Model: "missing", ModelRef: "/nope.gguf", Backend: "go"}, LoadErr: "open /nope.gguf: no such file"}
	return &Run{
		Started: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC), Suite: "sentiment ✓",
		SuitePath: "/suites/sentiment.yaml", SuiteHash: "deadbeef", Runs: 2,
		Cells: []CellResult{cellA, cellB, failed},
	}
}

// normalized drops what the database does not keep: the monotonic clock
// and the location.
func normalized(r *Run) *Run {
	c := *r
	norm := func(t time.Time) time.Time {
		if t.IsZero() {
			return time.Time{}
		}
		return time.Unix(0, t.UnixNano())
	}
	c.Started, c.Finished = norm(c.Started), norm(c.Finished)
	return &c
}

func saveRun(t *testing.T, s *Store, r *Run, finish bool) {
	t.Helper()
	ctx := context.Background()
	if err := s.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Cells {
		if err := s.SaveCell(ctx, r.ID, c); err != nil {
			t.Fatal(err)
		}
	}
	if finish {
		if err := s.Finish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStoreRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "eval.db")
	s := openTestStore(t, path)
	want := testRun()
	want.Finished = want.Started.Add(90*time.Second + 1)
	want.Complete = false // a cell failed to load
	saveRun(t, s, want, true)
	if want.ID == 0 {
		t.Fatal("Begin did not set the ID")
	}
	got, err := s.Load(context.Background(), want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, normalized(want)) {
		if len(got.Cells) != len(want.Cells) {
			t.Fatalf("%d cells, want %d", len(got.Cells), len(want.Cells))
		}
		for i := range got.Cells {
			g, w := got.Cells[i], want.Cells[i]
			if !reflect.DeepEqual(g.Cell, w.Cell) || g.PeakRSS != w.PeakRSS || g.LoadErr != w.LoadErr {
				t.Errorf("cell %d: %+v, want %+v", i, g.Cell, w.Cell)
			}
			for j := range w.Results {
				if j >= len(g.Results) || !reflect.DeepEqual(g.Results[j], w.Results[j]) {
					t.Errorf("cell %d result %d differs", i, j)
				}
			}
		}
		t.Fatalf("run differs: %+v", got)
	}
	if got.Started.UnixNano() != want.Started.UnixNano() {
		t.Errorf("started %v, want %v (nanoseconds kept)", got.Started, want.Started)
	}

	// Kept across a reopen, and the file is owner-only.
	s.Close()
	s = openTestStore(t, path)
	again, err := s.Load(context.Background(), want.ID)
	if err != nil || !reflect.DeepEqual(again, got) {
		t.Fatalf("after reopen: %v", err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("file mode: %v %v", st.Mode(), err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode: %v %v", st.Mode(), err)
	}
}

func TestStoreRunWithoutCells(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "eval.db"))
	r := &Run{Suite: "empty"} // zero Started too
	saveRun(t, s, r, false)
	got, err := s.Load(context.Background(), r.ID)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("%+v %v, want %+v", got, err, r)
	}
}

func TestStoreRunsSummaries(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "eval.db"))
	ctx := context.Background()

	first := testRun() // 3 cells, one failed to load
	first.Finished = first.Started.Add(time.Minute)
	saveRun(t, s, first, true)

	second := &Run{Started: first.Started.Add(time.Hour), Suite: "qa", Runs: 1, Complete: true,
		Cells: []CellResult{
			{Cell: Cell{Model: "m1"}, Results: []CaseResult{{Case: "a", Pass: true, Score: 1}, {Case: "b"}}},
			{Cell: Cell{Model: "m2", Persona: "p"}, Results: []CaseResult{{Case: "a", Pass: true, Score: 1}, {Case: "b", Pass: true, Score: 1}, {Case: "c", Skipped: true}}},
		}}
	second.Finished = second.Started.Add(time.Minute)
	saveRun(t, s, second, true)

	// Killed before Finish: one cell saved.
	killed := &Run{Started: first.Started.Add(2 * time.Hour), Suite: "long", Runs: 1,
		Cells: []CellResult{{Cell: Cell{Model: "m1"}, Results: []CaseResult{{Case: "x", Pass: true, Score: 1}}}}}
	saveRun(t, s, killed, false)

	// Interrupted with Ctrl+C: finished, incomplete, nothing failed to load.
	stopped := &Run{Started: first.Started.Add(3 * time.Hour), Suite: "stopped", Runs: 1}
	saveRun(t, s, stopped, false)
	stopped.Finished = stopped.Started.Add(time.Second)
	if err := s.Finish(ctx, stopped); err != nil {
		t.Fatal(err)
	}

	runs, err := s.Runs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 || runs[0].ID != stopped.ID || runs[1].ID != killed.ID || runs[2].ID != second.ID || runs[3].ID != first.ID {
		t.Fatalf("order: %+v", runs)
	}
	st, k, sec, fst := runs[0], runs[1], runs[2], runs[3]
	if !st.Interrupted() || st.Complete || st.Finished.IsZero() || st.Cells != 0 || st.Scored != 0 {
		t.Errorf("stopped: %+v", st)
	}
	if !k.Interrupted() || k.Complete || !k.Finished.IsZero() || k.Cells != 1 || k.Cases != 1 || k.Score != 1 || k.Best != "" {
		t.Errorf("killed: %+v", k)
	}
	// m1 scores 1/2, m2 2/2 (c skipped): 3 of 4 scored replies.
	if sec.Suite != "qa" || !sec.Complete || sec.Interrupted() || sec.Cells != 2 || sec.Cases != 3 ||
		sec.Scored != 4 || sec.Score != 0.75 || sec.Best != "m2 · p" || !sec.Started.Equal(second.Started) ||
		!sec.Finished.Equal(second.Finished) {
		t.Errorf("second: %+v", sec)
	}
	// first: cell A scores 1+0+φ+0 over 4 (one skipped), B 0+1 over 2.
	wantScore := (1 + 0.6180339887498949 + 1) / 6
	if fst.Cells != 3 || fst.FailedCells != 1 || fst.Cases != 4 || fst.Scored != 6 || fst.Score != wantScore ||
		fst.Interrupted() || fst.Best != "gpu:qwen" {
		t.Errorf("first: %+v (score want %v)", fst, wantScore)
	}

	top, err := s.Runs(ctx, 2)
	if err != nil || len(top) != 2 || !reflect.DeepEqual(top, runs[:2]) {
		t.Fatalf("limit 2: %+v %v", top, err)
	}

	var b bytes.Buffer
	if err := WriteRunList(&b, runs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"RUN", "SUITE", "75.0%", "m2 · p", "100.0% (interrupted)", "— (interrupted)", "(1 failed to load)", "sentiment ✓"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
}

func TestStoreUnknownRun(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "eval.db"))
	ctx := context.Background()
	_, err := s.Load(ctx, 42)
	if !errors.Is(err, ErrNoRun) || err.Error() != "no eval run 42 (natter eval list shows them)" {
		t.Fatalf("Load: %v", err)
	}
	if err := s.Delete(ctx, 42); !errors.Is(err, ErrNoRun) {
		t.Errorf("Delete: %v", err)
	}
	if err := s.SaveCell(ctx, 42, CellResult{}); !errors.Is(err, ErrNoRun) {
		t.Errorf("SaveCell: %v", err)
	}
	if err := s.Finish(ctx, &Run{ID: 42}); !errors.Is(err, ErrNoRun) {
		t.Errorf("Finish: %v", err)
	}
	if runs, err := s.Runs(ctx, 0); err != nil || len(runs) != 0 {
		t.Errorf("Runs: %v %v", runs, err)
	}
}

func TestStoreDelete(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "eval.db"))
	ctx := context.Background()
	a, b := testRun(), testRun()
	saveRun(t, s, a, true)
	saveRun(t, s, b, true)
	if err := s.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, a.ID); !errors.Is(err, ErrNoRun) {
		t.Fatalf("deleted run loads: %v", err)
	}
	// Its cells and replies went with it; the other run is whole.
	var cells, results int
	s.db.QueryRow(`SELECT COUNT(*) FROM cells`).Scan(&cells)
	s.db.QueryRow(`SELECT COUNT(*) FROM results`).Scan(&results)
	if cells != 3 || results != 7 {
		t.Errorf("%d cells and %d results left, want 3 and 7", cells, results)
	}
	if got, err := s.Load(ctx, b.ID); err != nil || len(got.Cells) != 3 {
		t.Fatalf("other run: %v", err)
	}
	// A deleted number is not given again.
	if err := s.Delete(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	c := &Run{Suite: "next"}
	saveRun(t, s, c, false)
	if c.ID != b.ID+1 {
		t.Errorf("new run got id %d after deleting %d", c.ID, b.ID)
	}
}

func TestStoreNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eval.db")
	s, err := OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	saveRun(t, s, testRun(), true)
	if _, err := s.db.Exec(`PRAGMA user_version = 7`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = OpenStore(path)
	if !errors.Is(err, errNewerStore) || !strings.Contains(err.Error(), "schema version 7") ||
		!strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
	// Left as it was.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v, n int
	db.QueryRow(`PRAGMA user_version`).Scan(&v)
	db.QueryRow(`SELECT COUNT(*) FROM runs`).Scan(&n)
	if v != 7 || n != 1 {
		t.Errorf("user_version %d, %d runs", v, n)
	}
}

func TestStoreNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eval.db")
	os.WriteFile(path, bytes.Repeat([]byte("not sqlite "), 100), 0o600)
	if s, err := OpenStore(path); err == nil {
		s.Close()
		t.Fatal("opened a file that is not a database")
	}
}

func TestStoreCloseTwice(t *testing.T) {
	s, err := OpenStore(filepath.Join(t.TempDir(), "eval.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Runs(context.Background(), 0); err == nil {
		t.Error("Runs after Close succeeded")
	}
}

func TestStoreCancelledContext(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "eval.db"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := testRun()
	if err := s.Begin(ctx, r); err == nil {
		t.Fatal("Begin with a cancelled context succeeded")
	}
	bg := context.Background()
	if runs, err := s.Runs(bg, 0); err != nil || len(runs) != 0 {
		t.Fatalf("after a cancelled Begin: %v %v", runs, err)
	}
	if err := s.Begin(bg, r); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCell(ctx, r.ID, r.Cells[0]); err == nil {
		t.Fatal("SaveCell with a cancelled context succeeded")
	}
	r.Finished, r.Complete = r.Started.Add(time.Second), true
	if err := s.Finish(ctx, r); err == nil {
		t.Fatal("Finish with a cancelled context succeeded")
	}
	if _, err := s.Load(ctx, r.ID); err == nil {
		t.Fatal("Load with a cancelled context succeeded")
	}
	got, err := s.Load(bg, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Cells) != 0 || got.Complete || !got.Finished.IsZero() {
		t.Fatalf("something was written: %+v", got)
	}
	var results int
	s.db.QueryRow(`SELECT COUNT(*) FROM results`).Scan(&results)
	if results != 0 {
		t.Fatalf("%d results written", results)
	}
}

// Two processes (here two Stores on one file) saving at once: each run's
// cells keep their order.
func TestStoreConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eval.db")
	stores := []*Store{openTestStore(t, path), openTestStore(t, path)}
	ctx := context.Background()
	runs := make([]*Run, len(stores))
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i, s := range stores {
		runs[i] = &Run{Suite: "concurrent"}
		if err := s.Begin(ctx, runs[i]); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for n := range 20 {
				c := CellResult{Cell: Cell{Model: string(rune('a' + n))}, Results: []CaseResult{{Case: "x", Index: n}}}
				if err := s.SaveCell(ctx, runs[i].ID, c); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, r := range runs {
		got, err := stores[0].Load(ctx, r.ID)
		if err != nil || len(got.Cells) != 20 {
			t.Fatalf("run %d: %v", r.ID, err)
		}
		for n, c := range got.Cells {
			if c.Cell.Model != string(rune('a'+n)) || c.Results[0].Index != n {
				t.Fatalf("run %d cell %d is %q", r.ID, n, c.Cell.Model)
			}
		}
	}
}

func TestStoreDefaultPath(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/data/xdg")
	if p, err := DefaultStorePath(); err != nil || p != "/data/xdg/natter/eval.db" {
		t.Errorf("absolute XDG_DATA_HOME: %q %v", p, err)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, v := range []string{"", "relative/dir"} {
		t.Setenv("XDG_DATA_HOME", v)
		if p, err := DefaultStorePath(); err != nil || p != filepath.Join(home, ".local", "share", "natter", "eval.db") {
			t.Errorf("XDG_DATA_HOME=%q: %q %v", v, p, err)
		}
	}
}
