package kvcache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func seq(seed uint64, n int) []int32 {
	r := rand.New(rand.NewPCG(seed, 1))
	t := make([]int32, n)
	for i := range t {
		t[i] = int32(r.IntN(32000))
	}
	return t
}

func state(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func openCache(t testing.TB, limit int64) *Cache {
	t.Helper()
	c, err := Open(filepath.Join(t.TempDir(), "kvcache"), limit)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func entries(t *testing.T, c *Cache) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(c.Dir(), "*"+ext))
	return m
}

func TestPutLookup(t *testing.T) {
	c := openCache(t, 0)
	toks := seq(1, 300)
	st := state(1, 5000)
	if err := c.Put("model-a", toks[:100], st); err != nil {
		t.Fatal(err)
	}
	// The saved sequence is a prefix of the new prompt.
	h, ok := c.Lookup("model-a", toks[:150])
	if !ok || h.PrefixLen != 100 || !equalTokens(h.Tokens, toks[:100]) || !bytes.Equal(h.State, st) {
		t.Fatalf("prefix lookup: ok=%v prefix=%d tokens=%d", ok, h.PrefixLen, len(h.Tokens))
	}
	// Exactly the saved sequence.
	if h, ok = c.Lookup("model-a", toks[:100]); !ok || h.PrefixLen != 100 {
		t.Errorf("exact lookup: %v %d", ok, h.PrefixLen)
	}
	// The prompt diverges from the saved sequence at 80.
	q := append([]int32(nil), toks[:150]...)
	q[80] = -1
	if h, ok = c.Lookup("model-a", q); !ok || h.PrefixLen != 80 || len(h.Tokens) != 100 {
		t.Errorf("diverging lookup: %v prefix=%d tokens=%d", ok, h.PrefixLen, len(h.Tokens))
	}
	// Shorter prompt than the saved sequence.
	if h, ok = c.Lookup("model-a", toks[:50]); !ok || h.PrefixLen != 50 {
		t.Errorf("short lookup: %v %d", ok, h.PrefixLen)
	}
	// Another model file, a too-short shared prefix, nothing shared.
	if _, ok = c.Lookup("model-b", toks[:150]); ok {
		t.Error("hit for another model")
	}
	q[10] = -1
	if _, ok = c.Lookup("model-a", q); ok {
		t.Error("hit with only 10 shared tokens")
	}
	if _, ok = c.Lookup("model-a", seq(9, 100)); ok {
		t.Error("hit for an unrelated sequence")
	}
	c.SetMinPrefix(5)
	if h, ok = c.Lookup("model-a", q); !ok || h.PrefixLen != 10 {
		t.Errorf("min prefix 5: %v %d", ok, h.PrefixLen)
	}
	if err := c.Discard(h); err != nil {
		t.Fatal(err)
	}
	if _, ok = c.Lookup("model-a", toks); ok || len(entries(t, c)) != 0 {
		t.Error("discarded entry still there")
	}
}

func TestLongestPrefixWinsAndSuperseded(t *testing.T) {
	c := openCache(t, 0)
	x := seq(1, 400)
	y := append(append([]int32(nil), x[:40]...), seq(2, 200)...) // shares 40 with x
	c.Put("m", y, state(2, 1000))
	c.Put("m", x[:100], state(3, 1000))
	h, ok := c.Lookup("m", x[:300])
	if !ok || h.PrefixLen != 100 || !bytes.Equal(h.State, state(3, 1000)) {
		t.Fatalf("longest prefix: %v %d", ok, h.PrefixLen)
	}
	if h, ok = c.Lookup("m", y); !ok || h.PrefixLen != len(y) {
		t.Fatalf("other sequence: %v %d", ok, h.PrefixLen)
	}
	// The next turn of x supersedes its previous state; y stays.
	c.Put("m", x[:250], state(4, 1000))
	if n := len(entries(t, c)); n != 2 {
		t.Errorf("%d entries after superseding put, want 2", n)
	}
	if h, ok = c.Lookup("m", x[:300]); !ok || h.PrefixLen != 250 || !bytes.Equal(h.State, state(4, 1000)) {
		t.Errorf("after next turn: %v %d", ok, h.PrefixLen)
	}
	// Same key again overwrites.
	c.Put("m", x[:250], state(5, 1000))
	if h, _ = c.Lookup("m", x[:250]); !bytes.Equal(h.State, state(5, 1000)) || len(entries(t, c)) != 2 {
		t.Error("overwrite of the same key")
	}
}

func TestDamagedFilesIgnoredAndRemoved(t *testing.T) {
	x := seq(1, 300)
	for name, damage := range map[string]func(path string){
		"flipped state byte": func(p string) {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o600)
		},
		"flipped token": func(p string) {
			b, _ := os.ReadFile(p)
			b[30] ^= 0x01
			os.WriteFile(p, b, 0o600)
		},
		"truncated": func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-100], 0o600)
		},
		"trailer only cut": func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-1], 0o600)
		},
		"empty":   func(p string) { os.WriteFile(p, nil, 0o600) },
		"garbage": func(p string) { os.WriteFile(p, bytes.Repeat([]byte("garbage!"), 1000), 0o600) },
		"huge token count": func(p string) {
			b, _ := os.ReadFile(p)
			off := 12 + len("m") + 4 // after the model id and the empty tag
			copy(b[off:], []byte{0xff, 0xff, 0xff, 0x7f})
			os.WriteFile(p, b, 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := openCache(t, 0)
			c.Put("m", x[:60], state(1, 3000))                                              // fallback
			c.Put("m", append(append([]int32{}, x[:60]...), seq(7, 40)...), state(2, 3000)) // diverges at 60
			c.Put("m", x[:200], state(3, 3000))                                             // best; supersedes x[:60]? no: not a prefix
			best := filepath.Join(c.Dir(), entryName("m", x[:200]))
			damage(best)
			h, ok := c.Lookup("m", x[:250])
			if !ok || h.PrefixLen != 60 {
				t.Fatalf("fallback after damage: %v %d", ok, h.PrefixLen)
			}
			if _, err := os.Stat(best); !errors.Is(err, os.ErrNotExist) {
				t.Error("damaged file not removed")
			}
		})
	}
}

func TestLRUEviction(t *testing.T) {
	const size = 10_000
	c := openCache(t, 3*size+size/2)
	seqs := [][]int32{seq(1, 100), seq(2, 100), seq(3, 100)}
	for i, s := range seqs {
		if err := c.Put("m", s, state(uint64(i), size)); err != nil {
			t.Fatal(err)
		}
		// Distinct, increasing use times regardless of clock resolution.
		old := time.Now().Add(time.Duration(i-10) * time.Minute)
		os.Chtimes(filepath.Join(c.Dir(), entryName("m", s)), old, old)
	}
	if _, ok := c.Lookup("m", seqs[0]); !ok { // seqs[0] is now the most recent
		t.Fatal("miss")
	}
	if err := c.Put("m", seq(4, 100), state(4, size)); err != nil {
		t.Fatal(err)
	}
	if c.Size() > 3*size+size/2 {
		t.Errorf("cache size %d over its limit", c.Size())
	}
	if _, ok := c.Lookup("m", seqs[1]); ok {
		t.Error("least recently used entry survived")
	}
	for _, s := range [][]int32{seqs[0], seqs[2], seq(4, 100)} {
		if _, ok := c.Lookup("m", s); !ok {
			t.Error("a recently used entry was evicted")
		}
	}
	if err := c.Put("m", seq(5, 100), state(5, 4*size)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized state: %v", err)
	}
	if err := c.PutFunc("m", "", seq(6, 100), func(w io.Writer) error { _, err := w.Write(state(6, 4*size)); return err }); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized streamed state: %v", err)
	}
	tmps, _ := filepath.Glob(filepath.Join(c.Dir(), "*.tmp"))
	if len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}

func TestRemoveTag(t *testing.T) {
	c := openCache(t, 0)
	put := func(tag string, s []int32) {
		t.Helper()
		if err := c.PutTagged("m", tag, s, []byte("state")); err != nil {
			t.Fatal(err)
		}
	}
	a1, a2, b := seq(1, 50), seq(2, 50), seq(3, 50)
	put("chat:1", a1)
	put("chat:1", a2)
	put("chat:2", b)
	c.Put("m", seq(4, 50), []byte("untagged"))
	if n, err := c.RemoveTag("chat:1"); n != 2 || err != nil {
		t.Errorf("RemoveTag = %d, %v", n, err)
	}
	for _, s := range [][]int32{a1, a2} {
		if _, ok := c.Lookup("m", s); ok {
			t.Error("state of a removed chat still found")
		}
	}
	if h, ok := c.Lookup("m", b); !ok || string(h.State) != "state" {
		t.Error("another chat's state removed")
	}
	if _, ok := c.Lookup("m", seq(4, 50)); !ok {
		t.Error("untagged state removed")
	}
	if _, err := c.RemoveTag(""); err == nil {
		t.Error("empty tag accepted")
	}
}

func TestBadPuts(t *testing.T) {
	c := openCache(t, 0)
	if err := c.Put("m", nil, []byte{1}); err == nil {
		t.Error("no tokens accepted")
	}
	if err := c.Put("", []int32{1}, []byte{1}); err == nil {
		t.Error("empty model id accepted")
	}
	if err := c.Put("m", []int32{1}, nil); err == nil {
		t.Error("empty state accepted")
	}
	failing := errors.New("engine failed")
	if err := c.PutFunc("m", "", []int32{1}, func(w io.Writer) error { w.Write([]byte("part")); return failing }); !errors.Is(err, failing) {
		t.Errorf("writer error: %v", err)
	}
	if n := len(entries(t, c)); n != 0 {
		t.Errorf("failed puts left %d entries", n)
	}
	tmps, _ := filepath.Glob(filepath.Join(c.Dir(), "*.tmp"))
	if len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}

func TestStaleTempsRemovedOnOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kv")
	os.MkdirAll(dir, 0o700)
	old, fresh := filepath.Join(dir, ".put-1.tmp"), filepath.Join(dir, ".put-2.tmp")
	os.WriteFile(old, []byte("x"), 0o600)
	os.WriteFile(fresh, []byte("x"), 0o600)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(old, past, past)
	if _, err := Open(dir, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("stale temporary file kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a temporary file being written by another process was removed")
	}
}

func TestModelIdentity(t *testing.T) {
	p := filepath.Join(t.TempDir(), "model.gguf")
	data := state(1, 3<<20)
	os.WriteFile(p, data, 0o600)
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(p, mt, mt)
	id1, err := ModelIdentity(p)
	if err != nil {
		t.Fatal(err)
	}
	if id2, _ := ModelIdentity(p); id2 != id1 {
		t.Error("identity not stable")
	}
	// Same size and mtime, different first MiB.
	data[100] ^= 1
	os.WriteFile(p, data, 0o600)
	os.Chtimes(p, mt, mt)
	idContent, _ := ModelIdentity(p)
	// Changed mtime only.
	os.Chtimes(p, mt.Add(time.Second), mt.Add(time.Second))
	idTime, _ := ModelIdentity(p)
	// Changed size only.
	os.WriteFile(p, append(data, 0), 0o600)
	os.Chtimes(p, mt, mt)
	idSize, _ := ModelIdentity(p)
	seen := map[string]bool{id1: true}
	for _, id := range []string{idContent, idTime, idSize} {
		if seen[id] {
			t.Errorf("identity %q repeated after a change", id)
		}
		seen[id] = true
	}
	if _, err := ModelIdentity(filepath.Join(t.TempDir(), "absent.gguf")); err == nil {
		t.Error("missing file has an identity")
	}
}

// Two caches (as in two processes) sharing a directory.
func TestConcurrentCaches(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kv")
	a, _ := Open(dir, 200_000)
	b, _ := Open(dir, 200_000)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w, c := range []*Cache{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				s := seq(uint64(w*100+i%5), 80)
				want := state(uint64(w*100+i%5), 20_000)
				if err := c.Put("m", s, want); err != nil {
					errs <- err
				}
				if h, ok := c.Lookup("m", s); ok && h.PrefixLen == len(s) && !bytes.Equal(h.State, want) {
					errs <- fmt.Errorf("worker %d got a wrong state", w)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if a.Size() > 200_000 {
		t.Errorf("size %d over limit", a.Size())
	}
}

// Whatever bytes a cache file holds, Lookup must not panic or return them.
func FuzzLookupFile(f *testing.F) {
	dir := f.TempDir()
	c, _ := Open(dir, 0)
	toks := seq(1, 40)
	c.Put("m", toks, []byte("a valid state"))
	valid, _ := os.ReadFile(filepath.Join(dir, entryName("m", toks)))
	f.Add(valid)
	f.Add(valid[:20])
	f.Add([]byte("NTKV"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := t.TempDir()
		c, _ := Open(d, 0)
		p := filepath.Join(d, entryName("m", toks))
		os.WriteFile(p, data, 0o600)
		h, ok := c.Lookup("m", toks)
		if !ok {
			return
		}
		// Only a well-formed file may be accepted: re-encoding what was
		// returned must give back exactly the file.
		d2 := t.TempDir()
		c2, _ := Open(d2, 0)
		if err := c2.Put("m", toks, h.State); err != nil {
			t.Fatal(err)
		}
		again, _ := os.ReadFile(filepath.Join(d2, entryName("m", toks)))
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted a malformed file")
		}
	})
}

func BenchmarkPut(b *testing.B) {
	c := openCache(b, 1<<40)
	st := state(1, 32<<20)
	toks := seq(1, 2000)
	b.SetBytes(int64(len(st)))
	for b.Loop() {
		if err := c.Put("m", toks, st); err != nil {
			b.Fatal(err)
		}
	}
}

// Lookup of a 2,000-token conversation's state (32 MiB) among 8 entries:
// the cost the engine pays before llama_state_seq_set_data on resume.
func BenchmarkLookup(b *testing.B) {
	c := openCache(b, 1<<40)
	st := state(1, 32<<20)
	for i := 2; i < 9; i++ {
		c.Put("m", seq(uint64(i), 2000), st[:1<<20])
	}
	toks := seq(1, 2000)
	c.Put("m", toks, st)
	q := append(toks, 1, 2, 3)
	b.SetBytes(int64(len(st)))
	for b.Loop() {
		if h, ok := c.Lookup("m", q); !ok || h.PrefixLen != 2000 {
			b.Fatal("miss")
		}
	}
}
