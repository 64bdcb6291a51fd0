package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hfServer imitates the parts of Hugging Face natter uses: the tree API,
// /OWNER/REPO/resolve/main/FILE answering 302 with X-Linked-Etag and
// X-Linked-Size to a CDN path that serves the bytes with Range support.
// Fault knobs make it cut, stall, delay or fail.
type hfServer struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string][]byte // "OWNER/REPO/FILE" -> content
	// sha overrides the published sha256 per key ("" publishes none).
	sha map[string]string

	noLinkedEtag bool          // publish no X-Linked-Etag
	plainEtag    bool          // generic server: ETag holds the sha256
	cutOnce      int           // cut this many first body responses halfway
	stallAfter   bool          // send half the body, then nothing
	headerDelay  time.Duration // wait before answering (slow server)
	status       int           // answer every file request with this status
	ignoreRange  bool          // always answer 200 with the whole file

	requests []string // "METHOD PATH RANGE"
	release  chan struct{}
}

func newHFServer(t testing.TB) *hfServer {
	s := &hfServer{files: map[string][]byte{}, sha: map[string]string{}, release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.release)
		s.Server.CloseClientConnections()
		s.Server.Close()
	})
	return s
}

func (s *hfServer) add(key string, b []byte) { s.set(func() { s.files[key] = b }) }

// set changes knobs while requests may be in flight.
func (s *hfServer) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

func (s *hfServer) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func (s *hfServer) published(key string) string {
	if v, ok := s.sha[key]; ok {
		return v
	}
	return sha(s.files[key])
}

func (s *hfServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.Path+" "+r.Header.Get("Range"))
	s.mu.Unlock()

	if s.headerDelay > 0 {
		select {
		case <-time.After(s.headerDelay):
		case <-r.Context().Done():
			return
		case <-s.release:
			return
		}
	}
	if s.status != 0 {
		http.Error(w, "failing on purpose", s.status)
		return
	}

	p := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case strings.HasPrefix(p, "api/models/"):
		s.serveTree(w, strings.TrimPrefix(p, "api/models/"))
	case strings.HasPrefix(p, "cdn/"):
		s.serveFile(w, r, strings.TrimPrefix(p, "cdn/"))
	case strings.Contains(p, "/resolve/main/"):
		repo, file, _ := strings.Cut(p, "/resolve/main/")
		key := repo + "/" + file
		if _, ok := s.files[key]; !ok {
			http.NotFound(w, r)
			return
		}
		if h := s.published(key); h != "" && !s.noLinkedEtag {
			w.Header().Set("X-Linked-Etag", `"`+h+`"`)
		}
		w.Header().Set("X-Linked-Size", fmt.Sprint(len(s.files[key])))
		http.Redirect(w, r, "/cdn/"+key, http.StatusFound)
	case strings.HasPrefix(p, "chunked/"): // no length: the size is unknown until the end
		b, ok := s.files[strings.TrimPrefix(p, "chunked/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		for i := 0; i < len(b); i += 4096 {
			w.Write(b[i:min(i+4096, len(b))])
			w.(http.Flusher).Flush()
		}
	case strings.HasPrefix(p, "trickle/"): // one byte every 20 ms, forever
		w.Header().Set("Content-Length", "1000000")
		for {
			if _, err := w.Write([]byte{0}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-time.After(20 * time.Millisecond):
			case <-r.Context().Done():
				return
			case <-s.release:
				return
			}
		}
	case strings.HasPrefix(p, "loop/"): // redirects to itself, forever
		http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
	case strings.HasPrefix(p, "hops/"): // hops/N/KEY: N redirects, then KEY
		rest := strings.TrimPrefix(p, "hops/")
		n, key, _ := strings.Cut(rest, "/")
		if n == "0" {
			s.serveFile(w, r, key)
			return
		}
		var k int
		fmt.Sscan(n, &k)
		http.Redirect(w, r, fmt.Sprintf("/hops/%d/%s", k-1, key), http.StatusFound)
	case strings.HasPrefix(p, "plain/"):
		s.serveFile(w, r, strings.TrimPrefix(p, "plain/"))
	default:
		http.NotFound(w, r)
	}
}

func (s *hfServer) serveTree(w http.ResponseWriter, p string) {
	repo, ok := strings.CutSuffix(p, "/tree/main")
	if !ok {
		http.NotFound(w, nil)
		return
	}
	var out []map[string]any
	for key, b := range s.files {
		if !strings.HasPrefix(key, repo+"/") {
			continue
		}
		out = append(out, map[string]any{
			"type": "file", "path": strings.TrimPrefix(key, repo+"/"), "size": len(b),
			"oid": "0123456789abcdef0123456789abcdef01234567",
			"lfs": map[string]any{"oid": s.published(key), "size": len(b), "pointerSize": 134},
		})
	}
	if out == nil {
		http.Error(w, `{"error":"Repository not found"}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (s *hfServer) serveFile(w http.ResponseWriter, r *http.Request, key string) {
	s.mu.Lock()
	b, ok := s.files[key]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if s.plainEtag {
		if h := s.published(key); h != "" {
			w.Header().Set("ETag", `"`+h+`"`)
		}
	}
	if s.ignoreRange {
		r.Header.Del("Range")
	}
	s.mu.Lock()
	cut := s.cutOnce > 0
	if cut {
		s.cutOnce--
	}
	stall := s.stallAfter
	s.mu.Unlock()
	if cut || stall {
		start := 0
		if rng := r.Header.Get("Range"); rng != "" {
			fmt.Sscanf(rng, "bytes=%d-", &start)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(b)-1, len(b)))
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)-start))
		if start > 0 {
			w.WriteHeader(http.StatusPartialContent)
		}
		half := start + (len(b)-start)/2
		w.Write(b[start:half])
		w.(http.Flusher).Flush()
		if stall {
			select {
			case <-r.Context().Done():
			case <-s.release:
			}
		}
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	http.ServeContent(w, r, key, time.Time{}, bytes.NewReader(b))
}
