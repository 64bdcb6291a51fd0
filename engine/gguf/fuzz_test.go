package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds are small valid and nearly-valid images (big seeds make the
// fuzzer spend its time minimizing); testdata/fuzz/FuzzParse holds inputs
// the fuzzer found interesting.
func fuzzSeeds(t testing.TB) [][]byte {
	seeds := [][]byte{smallFile(), largeVocabFile(40), nil, []byte("GGUF"), []byte("GGUF\x03\x00\x00\x00")}
	// A few single-field corruptions of the small file.
	small := smallFile()
	for _, off := range []int{4, 8, 16, 24, 40, 60, len(small) - 400} {
		c := bytes.Clone(small)
		binary.LittleEndian.PutUint32(c[off:], 0xffffffff)
		seeds = append(seeds, c)
	}
	return seeds
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		gf, err := parseBytes(data)
		if err != nil {
			msg := err.Error()
			if msg == "" || strings.Contains(msg, "\n") || len(msg) > 600 {
				t.Fatalf("bad error message %q", msg)
			}
			if !errors.Is(err, ErrNotGGUF) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		checkInvariants(t, gf, len(data))
	})
}

// checkInvariants holds for every file Parse accepts.
func checkInvariants(t *testing.T, f *File, size int) {
	t.Helper()
	if f.FileSize != int64(size) || f.DataOffset < 0 || f.Alignment == 0 || f.Alignment&(f.Alignment-1) != 0 {
		t.Fatalf("size %d data %d alignment %d", f.FileSize, f.DataOffset, f.Alignment)
	}
	if len(f.Tensors) > 0 && f.DataOffset%int64(f.Alignment) != 0 {
		t.Fatalf("data offset %d not aligned to %d", f.DataOffset, f.Alignment)
	}
	keys := map[string]bool{}
	for _, kv := range f.KV {
		if keys[kv.Key] {
			t.Fatalf("duplicate key %q accepted", kv.Key)
		}
		keys[kv.Key] = true
		if v, ok := f.Get(kv.Key); !ok || v == nil {
			t.Fatalf("Get(%q) failed", kv.Key)
		}
	}
	names := map[string]bool{}
	for _, ti := range f.Tensors {
		if names[ti.Name] || len(ti.Dims) < 1 || len(ti.Dims) > 4 || !ti.Type.Known() {
			t.Fatalf("bad tensor accepted: %+v", ti)
		}
		names[ti.Name] = true
		end := uint64(f.DataOffset) + ti.Offset + ti.Size
		if ti.Offset%f.Alignment != 0 || end > uint64(size) || end < ti.Offset {
			t.Fatalf("tensor %q outside the file: %+v", ti.Name, ti)
		}
		if ti.Size != ti.Elements()/ti.Type.BlockSize()*ti.Type.TypeSize() {
			t.Fatalf("tensor %q size %d", ti.Name, ti.Size)
		}
	}
	// The accessors must not panic on anything Parse accepts.
	_ = f.Name()
	_ = f.Arch()
	_ = f.ChatTemplate()
	_ = f.ContextLength()
	_ = f.ParamCount()
	_ = f.Quantization()
	_, _ = f.Uint("general.alignment")
}

// The seeds that are valid stay valid, and the fuzz target's invariants
// hold for them (so a broken invariant check cannot pass silently).
func TestFuzzSeedsValid(t *testing.T) {
	valid := 0
	for _, s := range fuzzSeeds(t) {
		if f, err := parseBytes(s); err == nil {
			checkInvariants(t, f, len(s))
			valid++
		}
	}
	if valid < 3 {
		t.Errorf("only %d valid seeds", valid)
	}
}

// FuzzRead drives Open, the path natter uses, through a real file (the
// Makefile's fuzz target runs this one).
func FuzzRead(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.gguf")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		gf, err := Open(path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), path+": ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error does not name the file on one line: %q", err)
			}
			return
		}
		checkInvariants(t, gf, len(data))
		if gf.Path != path || gf.Name() == "" {
			t.Fatalf("path %q name %q", gf.Path, gf.Name())
		}
	})
}
