package models

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sizes a pull will not take (issue 19, item 10): a 10 TB Content-Length
// is refused before any byte is written, whatever the free space says, and
// a chunked body (no Content-Length) is cut at the size the source
// announced on its redirect.
func TestPullRefusesOversizedBodies(t *testing.T) {
	const announced = 1000
	mux := http.NewServeMux()
	mux.HandleFunc("/huge.gguf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10995116277760") // 10 TiB
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/chunked.gguf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Linked-Size", "1000")
		http.Redirect(w, r, "/body", http.StatusFound)
	})
	mux.HandleFunc("/body", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 50; i++ { // 5000 bytes in chunks, never a Content-Length
			w.Write([]byte(strings.Repeat("x", 100)))
			w.(http.Flusher).Flush()
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, name := range []string{"huge.gguf", "chunked.gguf"} {
		dir := t.TempDir()
		opts := PullOptions{Dir: dir, HeaderTimeout: 5 * time.Second, StallTimeout: 5 * time.Second, Retries: -1,
			FreeSpace: func(string) (uint64, error) { return 1 << 62, nil }}
		_, err := Pull(context.Background(), srv.URL+"/"+name, opts)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%s: got %v, want ErrTooLarge", name, err)
		}
		if fi, err := os.Stat(filepath.Join(dir, name+".part")); err == nil && fi.Size() > announced {
			t.Fatalf("%s: %d bytes written", name, fi.Size())
		}
	}
}

// A URL whose file name climbs out of the models folder is refused and
// writes nothing outside it.
func TestPullRefusesDotDotFileName(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("GGUF")) }))
	defer srv.Close()
	root := t.TempDir()
	dir := filepath.Join(root, "models")
	for _, u := range []string{"/a/..%2F..%2Fevil.gguf", "/..%2Fevil.gguf", "/a/%2E%2E%2Fevil.gguf"} {
		_, err := Pull(context.Background(), srv.URL+u, PullOptions{Dir: dir, Retries: -1})
		if err == nil {
			t.Errorf("%s: pulled", u)
		}
		if m, _ := filepath.Glob(filepath.Join(root, "evil*")); len(m) > 0 {
			t.Fatalf("%s: wrote %v outside the models folder", u, m)
		}
	}
}

// A server that sends its headers and then not one byte of the body is cut
// by the stall timeout with an error saying so, and leaves no bytes it
// never sent ("Also probe" of issue 19).
func TestPullStallAfterHeaders(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	dir := t.TempDir()
	opts := PullOptions{Dir: dir, HeaderTimeout: 5 * time.Second, StallTimeout: 300 * time.Millisecond, Retries: -1,
		FreeSpace: func(string) (uint64, error) { return 1 << 40, nil }}
	_, err := Pull(context.Background(), srv.URL+"/silent.gguf", opts)
	if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "no data for 300ms") {
		t.Fatalf("got %v, want ErrStalled naming the wait", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "silent.gguf.part")); err == nil && fi.Size() != 0 {
		t.Fatalf(".part holds %d bytes the server never sent", fi.Size())
	}
	if _, err := os.Stat(filepath.Join(dir, "silent.gguf")); err == nil {
		t.Fatal("a file was saved from an empty body")
	}
}

// A server that never answers, or answers and never sends a byte, is tried
// twice, not once per retry: each attempt costs a whole timeout (a silent
// server took 134 s to fail, a stalled one 254 s). A server that makes
// progress before each drop is still retried (TestPullRetriesByItself).
func TestPullGivesUpOnAServerThatNeverSends(t *testing.T) {
	for name, silent := range map[string]bool{"no headers": true, "no body": false} {
		t.Run(name, func(t *testing.T) {
			release := make(chan struct{})
			var mu sync.Mutex
			requests := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				requests++
				mu.Unlock()
				if !silent {
					w.Header().Set("Content-Length", "100000")
					w.WriteHeader(http.StatusOK)
					w.(http.Flusher).Flush()
				}
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}))
			defer srv.Close()
			defer close(release)
			opts := PullOptions{Dir: t.TempDir(), HeaderTimeout: 200 * time.Millisecond, StallTimeout: 200 * time.Millisecond,
				Retries: 5, RetryDelay: time.Millisecond, FreeSpace: func(string) (uint64, error) { return 1 << 40, nil }}
			_, err := Pull(context.Background(), srv.URL+"/x.gguf", opts)
			if !errors.Is(err, ErrNoAnswer) && !errors.Is(err, ErrStalled) {
				t.Fatalf("got %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if requests != maxIdleAttempts {
				t.Fatalf("%d requests, want %d", requests, maxIdleAttempts)
			}
		})
	}
}
