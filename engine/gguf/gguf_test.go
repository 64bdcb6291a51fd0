package gguf

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

func parseBytes(b []byte) (*File, error) { return Parse(bytes.NewReader(b), int64(len(b))) }

func TestSmallFile(t *testing.T) {
	f, err := parseBytes(smallFile())
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || f.Alignment != 32 || len(f.KV) != 20 || len(f.Tensors) != 3 {
		t.Fatalf("version %d alignment %d kv %d tensors %d", f.Version, f.Alignment, len(f.KV), len(f.Tensors))
	}
	want := map[string]any{
		"t.u8": uint8(200), "t.i8": int8(-5), "t.u16": uint16(60000), "t.i16": int16(-30000),
		"t.i32": int32(-7), "t.f32": float32(1.5), "t.bool": true, "t.u64": uint64(1) << 40,
		"t.i64": int64(-1) << 40, "t.f64": 2.25, "t.nested": []any{[]int32{1, 2}, []string{"x"}},
		"tokenizer.ggml.tokens": []string{"<unk>", "a", "é"}, "tokenizer.ggml.scores": []float32{0, -1, -2},
	}
	for k, v := range want {
		got, ok := f.Get(k)
		if !ok || !reflect.DeepEqual(got, v) {
			t.Errorf("%s = %#v (%v), want %#v", k, got, ok, v)
		}
	}
	if _, ok := f.Get("missing"); ok {
		t.Error("missing key found")
	}
	if f.Arch() != "llama" || f.Name() != "small" || f.ChatTemplate() != "{{ messages }}" || f.ContextLength() != 128 {
		t.Errorf("arch %q name %q template %q ctx %d", f.Arch(), f.Name(), f.ChatTemplate(), f.ContextLength())
	}
	if f.Quantization() != "Q8_0" {
		t.Errorf("quantization %q", f.Quantization())
	}
	if n := f.ParamCount(); n != 8+64+256 {
		t.Errorf("params %d", n)
	}
	if u, ok := f.Uint("t.i8"); ok {
		t.Errorf("negative int8 as uint: %d", u)
	}
	if u, ok := f.Uint("t.u16"); !ok || u != 60000 {
		t.Errorf("Uint(t.u16) = %d %v", u, ok)
	}
	if _, ok := f.Uint("t.f32"); ok {
		t.Error("float reported as integer")
	}
	wantT := []TensorInfo{
		{"a", []uint64{8}, TypeF32, 0, 32},
		{"b.weight", []uint64{32, 2}, TypeQ8_0, 32, 68},
		{"c", []uint64{256, 1, 1, 1}, TypeQ4_K, 128, 144},
	}
	if !reflect.DeepEqual(f.Tensors, wantT) {
		t.Errorf("tensors %+v", f.Tensors)
	}
	last := f.Tensors[2]
	if f.DataOffset%32 != 0 || f.DataOffset+int64(last.Offset+last.Size) != f.FileSize {
		t.Errorf("data offset %d, size %d", f.DataOffset, f.FileSize)
	}
}

// Every prefix of a valid file is an error, never a panic, and the error
// says truncated (or not GGUF, for fewer than 4 bytes).
func TestEveryTruncation(t *testing.T) {
	full := smallFile()
	for n := 0; n < len(full); n++ {
		_, err := parseBytes(full[:n])
		if err == nil {
			t.Fatalf("prefix of %d/%d bytes parsed", n, len(full))
		}
		if !errors.Is(err, ErrTruncated) && !(n < 4 && errors.Is(err, ErrNotGGUF)) {
			t.Fatalf("prefix %d: %v", n, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error: %q", err)
		}
	}
}

func TestEveryTruncationOfSynthHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := synth.Write(path, synth.Tiny()); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseBytes(full)
	if err != nil {
		t.Fatal(err)
	}
	// Every byte of the header's start and end (KVs, tensor infos), a
	// prime stride through the vocabulary arrays and the tensor data
	// (TestEveryTruncation covers every byte of a smaller file).
	step := func(n int) int {
		switch {
		case n < 2048 || (n > int(f.DataOffset)-4096 && n < int(f.DataOffset)+64):
			return 1
		case n < int(f.DataOffset):
			return 7
		}
		return 997
	}
	for n := 0; n < len(full); n += step(n) {
		if _, err := parseBytes(full[:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes parsed", n, len(full))
		}
	}
}

func TestTruncatedMessage(t *testing.T) {
	full := smallFile()
	dir := t.TempDir()
	path := filepath.Join(dir, "model.gguf")
	if err := os.WriteFile(path, full[:len(full)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	want := path + `: truncated: tensor 2 ("c") data ends at byte ` + strconv.Itoa(len(full)) + " but the file has " + strconv.Itoa(len(full)-10) + " bytes"
	if err == nil || err.Error() != want || !errors.Is(err, ErrTruncated) {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	// Cut inside the tensor infos.
	f, _ := parseBytes(full)
	cut := int(f.DataOffset) - 40
	_, err = parseBytes(full[:cut])
	if err == nil || !strings.HasPrefix(err.Error(), `truncated: tensor info 2 ("c") ends at byte `) || !strings.HasSuffix(err.Error(), " but the file has "+strconv.Itoa(cut)+" bytes") {
		t.Fatalf("got %v", err)
	}
}

// corrupt builds a file from parts so each case breaks exactly one thing.
type corruptCase struct {
	name  string
	build func(b *builder)
	kind  error
	msg   string // substring of the error
}

func validKVs(b *builder) {
	b.kv("general.architecture", "llama")
	b.kv("general.alignment", uint32(32))
}

func TestCorruptions(t *testing.T) {
	cases := []corruptCase{
		{"bad magic", func(b *builder) { b.raw([]byte("GGUG")); b.u32(3); b.u64(0); b.u64(0) }, ErrNotGGUF, `starts with "GGUG"`},
		{"html", func(b *builder) { b.raw([]byte("<!DOCTYPE html><html>")) }, ErrNotGGUF, "not a GGUF file"},
		{"version 1", func(b *builder) { b.header(1, 0, 0) }, ErrVersion, "version 1 is no longer supported"},
		{"version 4", func(b *builder) { b.header(4, 0, 0) }, ErrVersion, "version 4"},
		{"version 0", func(b *builder) { b.header(0, 0, 0) }, ErrVersion, ""},
		{"big endian", func(b *builder) { b.header(3<<24, 0, 0) }, ErrVersion, "big-endian"},
		{"huge kv count", func(b *builder) { b.header(3, 0, 1<<62) }, ErrTruncated, "key-value pairs"},
		{"huge tensor count", func(b *builder) { b.header(3, math.MaxUint64, 0) }, ErrTruncated, "tensors"},
		{"huge string length", func(b *builder) {
			b.header(3, 0, 1)
			b.u64(1 << 62)
			b.raw([]byte("general.name and some more bytes"))
		}, ErrTruncated, "string of 4611686018427387904 bytes"},
		{"huge value string", func(b *builder) {
			b.header(3, 0, 1)
			b.str("general.name")
			b.u32(vString)
			b.u64(math.MaxUint64)
			b.fill(64, 'x')
		}, ErrTruncated, `key 0 ("general.name"): string of`},
		{"huge array length", func(b *builder) {
			b.header(3, 0, 1)
			b.str("tokenizer.ggml.scores")
			b.u32(vArray)
			b.u32(vFloat32)
			b.u64(1 << 61)
			b.fill(64, 0)
		}, ErrTruncated, "array of 2305843009213693952 float32 values"},
		{"huge string array", func(b *builder) {
			b.header(3, 0, 1)
			b.str("tokenizer.ggml.tokens")
			b.u32(vArray)
			b.u32(vString)
			b.u64(1000)
			b.fill(64, 0)
		}, ErrTruncated, "array of 1000 string values"},
		{"unknown value type", func(b *builder) {
			b.header(3, 0, 1)
			b.str("x")
			b.u32(13)
			b.fill(16, 0)
		}, ErrCorrupt, `key 0 ("x") has unknown value type 13`},
		{"unknown array element type", func(b *builder) {
			b.header(3, 0, 1)
			b.str("x")
			b.u32(vArray)
			b.u32(99)
			b.u64(1)
			b.fill(16, 0)
		}, ErrCorrupt, "unknown value type 99"},
		{"duplicate key", func(b *builder) {
			b.header(3, 0, 2)
			b.kv("general.name", "a")
			b.kv("general.name", "b")
		}, ErrCorrupt, `duplicate key "general.name"`},
		{"long key in message", func(b *builder) {
			b.header(3, 0, 2)
			b.kv(strings.Repeat("k", 5000), "a")
			b.kv(strings.Repeat("k", 5000), "b")
		}, ErrCorrupt, `duplicate key "` + strings.Repeat("k", 80) + `"… (5000 bytes) (entries 0 and 1)`},
		{"alignment not power of two", func(b *builder) {
			b.header(3, 0, 1)
			b.kv("general.alignment", uint32(48))
		}, ErrCorrupt, "alignment 48 is not a power of two"},
		{"alignment zero", func(b *builder) {
			b.header(3, 0, 1)
			b.kv("general.alignment", uint32(0))
		}, ErrCorrupt, "not a power of two"},
		{"alignment wrong type", func(b *builder) {
			b.header(3, 0, 1)
			b.kv("general.alignment", uint64(32))
		}, ErrCorrupt, "general.alignment is a uint64, must be uint32"},
		{"unknown tensor type", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor("w", []uint64{32}, 40, 0)
			b.align(32)
			b.fill(256, 0)
		}, ErrCorrupt, `tensor info 0 ("w") has unknown tensor type 40`},
		{"removed tensor type", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor("w", []uint64{32}, 31, 0)
			b.align(32)
			b.fill(256, 0)
		}, ErrCorrupt, "Q4_0_4_4"},
		{"misaligned offset", func(b *builder) {
			b.header(3, 2, 2)
			validKVs(b)
			b.tensor("a", []uint64{4}, TypeF32, 0)
			b.tensor("b", []uint64{4}, TypeF32, 16)
			b.align(32)
			b.fill(64, 0)
		}, ErrCorrupt, `tensor info 1 ("b"): data offset 16 is not a multiple of the alignment 32`},
		{"tensor beyond EOF", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor("a", []uint64{64, 64}, TypeF32, 0)
			b.align(32)
			b.fill(100, 0)
		}, ErrTruncated, `tensor 0 ("a") data ends at byte`},
		{"tensor offset huge", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor("a", []uint64{4}, TypeF32, math.MaxUint64-31)
			b.align(32)
			b.fill(100, 0)
		}, ErrTruncated, "past byte 2^64"},
		{"overlapping tensors", func(b *builder) {
			b.header(3, 2, 2)
			validKVs(b)
			b.tensor("a", []uint64{16}, TypeF32, 0)
			b.tensor("b", []uint64{16}, TypeF32, 32)
			b.align(32)
			b.fill(128, 0)
		}, ErrCorrupt, `tensors 0 ("a", bytes 0-64) and 1 ("b", from byte 32) overlap`},
		{"tensors out of file order", func(b *builder) {
			b.header(3, 2, 0)
			b.tensor("a", []uint64{4}, TypeF32, 32)
			b.tensor("b", []uint64{4}, TypeF32, 0)
			b.align(32)
			b.fill(48, 0)
		}, ErrCorrupt, `tensor 0 ("a") data is at offset 32 but llama.cpp requires 0`},
		{"gap between tensors", func(b *builder) {
			b.header(3, 2, 0)
			b.tensor("a", []uint64{4}, TypeF32, 0)
			b.tensor("b", []uint64{4}, TypeF32, 64)
			b.align(32)
			b.fill(80, 0)
		}, ErrCorrupt, `tensor 1 ("b") data is at offset 64 but llama.cpp requires 32`},
		{"NUL in tensor name", func(b *builder) {
			b.header(3, 1, 0)
			b.tensor("a\x00b", []uint64{4}, TypeF32, 0)
			b.align(32)
			b.fill(16, 0)
		}, ErrCorrupt, "NUL byte"},
		{"duplicate tensor", func(b *builder) {
			b.header(3, 2, 2)
			validKVs(b)
			b.tensor("a", []uint64{8}, TypeF32, 0)
			b.tensor("a", []uint64{8}, TypeF32, 32)
			b.align(32)
			b.fill(64, 0)
		}, ErrCorrupt, `duplicate tensor name "a"`},
		{"n_dims 0", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor("a", nil, TypeF32, 0)
			b.fill(64, 0)
		}, ErrCorrupt, "has 0 dimensions, must be 1 to 4"},
		{"n_dims 5", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor("a", []uint64{1, 1, 1, 1, 1}, TypeF32, 0)
			b.fill(64, 0)
		}, ErrCorrupt, "has 5 dimensions"},
		{"zero dim", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor("a", []uint64{4, 0}, TypeF32, 0)
			b.fill(64, 0)
		}, ErrCorrupt, "dimension 1 is zero"},
		{"element count overflow", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor("a", []uint64{1 << 32, 1 << 32}, TypeF32, 0)
			b.fill(64, 0)
		}, ErrCorrupt, "too many elements"},
		{"element count above int64", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor("a", []uint64{1 << 62, 2}, TypeI8, 0)
			b.fill(64, 0)
		}, ErrCorrupt, "too many elements"},
		{"byte size overflow", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor("a", []uint64{1 << 62}, TypeF32, 0)
			b.fill(64, 0)
		}, ErrCorrupt, "data size overflows"},
		{"row not a block multiple", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor("a", []uint64{33, 2}, TypeQ8_0, 0)
			b.align(32)
			b.fill(256, 0)
		}, ErrCorrupt, "rows of 33 elements are not a multiple of its block size 32"},
		{"empty tensor name", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor("", []uint64{8}, TypeF32, 0)
			b.fill(64, 0)
		}, ErrCorrupt, "empty name"},
		{"long tensor name", func(b *builder) {
			b.header(3, 1, 2)
			validKVs(b)
			b.tensor(strings.Repeat("n", 64), []uint64{8}, TypeF32, 0)
			b.fill(64, 0)
		}, ErrCorrupt, "longer than ggml's limit of 63"},
		{"data section beyond EOF", func(b *builder) {
			b.header(3, 1, 1)
			b.kv("general.alignment", uint32(1<<20))
			b.tensor("a", []uint64{8}, TypeF32, 0)
		}, ErrTruncated, "tensor data section starts at byte 1048576"},
		{"nested arrays too deep", func(b *builder) {
			b.header(3, 0, 1)
			b.str("x")
			b.u32(vArray)
			for range 20 {
				b.u32(vArray)
				b.u64(1)
			}
			b.u32(vUint8)
			b.u64(0)
		}, ErrCorrupt, "nested more than 8 deep"},
		{"scores shorter than tokens", func(b *builder) {
			b.header(3, 0, 2)
			b.kv("tokenizer.ggml.tokens", []string{"a", "b", "c"})
			b.kv("tokenizer.ggml.scores", []float32{0, 0})
		}, ErrCorrupt, "tokenizer.ggml.scores is a array of float32 of 2, must be 3 float32 values"},
		{"token types wrong type", func(b *builder) {
			b.header(3, 0, 2)
			b.kv("tokenizer.ggml.tokens", []string{"a", "b"})
			b.kv("tokenizer.ggml.token_type", []uint8{1, 1})
		}, ErrCorrupt, "token_type is a array of uint8"},
		{"tokens not strings", func(b *builder) {
			b.header(3, 0, 1)
			b.kv("tokenizer.ggml.tokens", []int32{1, 2})
		}, ErrCorrupt, "must be an array of strings"},
		{"merges not strings", func(b *builder) {
			b.header(3, 0, 1)
			b.kv("tokenizer.ggml.merges", "a b")
		}, ErrCorrupt, "merges is a string"},
		{"duplicate token", func(b *builder) {
			b.header(3, 0, 1)
			b.kv("tokenizer.ggml.tokens", []string{"a", "b", "a"})
		}, ErrCorrupt, `tokens 0 and 2 are both "a"`},
		{"unknown rope scaling", func(b *builder) {
			b.header(3, 0, 2)
			b.kv("general.architecture", "llama")
			b.kv("llama.rope.scaling.type", "su")
		}, ErrCorrupt, `llama.rope.scaling.type "su" is not one llama.cpp knows`},
		{"too many experts", func(b *builder) {
			b.header(3, 0, 3)
			b.kv("general.architecture", "qwen3moe")
			b.kv("qwen3moe.expert_count", uint32(1024))
			b.kv("qwen3moe.expert_used_count", uint32(8))
		}, ErrCorrupt, "expert_count 1024 is more than llama.cpp's limit of 512"},
		{"more experts used than exist", func(b *builder) {
			b.header(3, 0, 3)
			b.kv("general.architecture", "llama")
			b.kv("llama.expert_count", uint32(8))
			b.kv("llama.expert_used_count", uint32(9))
		}, ErrCorrupt, "expert_used_count 9 is more than expert_count 8"},
		{"experts but none used", func(b *builder) {
			b.header(3, 0, 2)
			b.kv("general.architecture", "llama")
			b.kv("llama.expert_count", uint32(8))
		}, ErrCorrupt, "expert_used_count is 0"},
		{"experts used without experts", func(b *builder) {
			b.header(3, 0, 2)
			b.kv("general.architecture", "llama")
			b.kv("llama.expert_used_count", uint32(2))
		}, ErrCorrupt, "expert_used_count 2 is more than expert_count 0"},
		{"expert count of the wrong type", func(b *builder) {
			b.header(3, 0, 3)
			b.kv("general.architecture", "qwen35moe")
			b.kv("qwen35moe.expert_count", "4")
			b.kv("qwen35moe.expert_used_count", uint32(2))
		}, ErrCorrupt, "qwen35moe.expert_count is a string"},
		{"bad expert groups", func(b *builder) {
			b.header(3, 0, 5)
			b.kv("general.architecture", "deepseek2")
			b.kv("deepseek2.expert_count", uint32(256))
			b.kv("deepseek2.expert_used_count", uint32(8))
			b.kv("deepseek2.expert_group_count", uint32(6))
			b.kv("deepseek2.expert_group_used_count", uint32(4))
		}, ErrCorrupt, "256 experts in 6 groups"},
		{"empty tokens collide after renaming", func(b *builder) {
			b.header(3, 0, 1)
			b.kv("tokenizer.ggml.tokens", []string{"[EMPTY_1]", ""})
		}, ErrCorrupt, "both"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b builder
			c.build(&b)
			f, err := parseBytes(b.b)
			if err == nil {
				t.Fatalf("parsed: %+v", f)
			}
			if !errors.Is(err, c.kind) {
				t.Errorf("error %q is not %v", err, c.kind)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not contain %q", err, c.msg)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
		})
	}
}

func TestHeaderLimit(t *testing.T) {
	defer func(old uint64) { maxHeaderBytes = old }(maxHeaderBytes)
	maxHeaderBytes = 1 << 20
	var b builder
	b.header(3, 0, 2)
	b.kv("a", strings.Repeat("x", 600<<10))
	b.kv("b", make([]uint8, 600<<10))
	_, err := parseBytes(b.b)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), `key 1 ("b") at byte`) || !strings.Contains(err.Error(), "limit of 1 MiB") {
		t.Fatalf("got %v", err)
	}
	b = builder{}
	b.header(3, 0, 1)
	b.kv("a", strings.Repeat("x", 2<<20))
	if _, err := parseBytes(b.b); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "limit of 1 MiB") {
		t.Fatalf("got %v", err)
	}
	// Tensor data does not count.
	b = builder{}
	b.header(3, 1, 0)
	b.tensor("w", []uint64{1 << 20}, TypeF32, 0)
	b.align(32)
	b.fill(4<<20, 0)
	if _, err := parseBytes(b.b); err != nil {
		t.Fatal(err)
	}
}

// The same checks pass for what they should accept.
func TestAcceptedVariants(t *testing.T) {
	cases := map[string]func(b *builder){
		"version 2": func(b *builder) { b.header(2, 0, 0) },
		"no alignment key, default 32": func(b *builder) {
			b.header(3, 2, 0)
			b.tensor("a", []uint64{4}, TypeF32, 0)
			b.tensor("b", []uint64{4}, TypeF32, 32)
			b.align(32)
			b.fill(64, 0)
		},
		"alignment 1": func(b *builder) {
			b.header(3, 2, 1)
			b.kv("general.alignment", uint32(1))
			b.tensor("a", []uint64{3}, TypeF32, 0)
			b.tensor("b", []uint64{3}, TypeI8, 12)
			b.fill(15, 0)
		},
		"empty array": func(b *builder) {
			b.header(3, 0, 1)
			b.kv("x", []string{})
		},
		"one empty token": func(b *builder) {
			b.header(3, 0, 1)
			b.kv("tokenizer.ggml.tokens", []string{"a", ""})
		},
		"valid experts": func(b *builder) {
			b.header(3, 0, 6)
			b.kv("general.architecture", "deepseek2")
			b.kv("deepseek2.expert_count", uint32(256))
			b.kv("deepseek2.expert_used_count", uint32(8))
			b.kv("deepseek2.expert_group_count", uint32(8))
			b.kv("deepseek2.expert_group_used_count", uint32(4))
			b.kv("deepseek2.rope.scaling.type", "yarn")
		},
		"invalid UTF-8 in a token": func(b *builder) {
			b.header(3, 0, 1)
			b.kv("tokenizer.ggml.tokens", []string{"\xff\xfe", "a"})
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			var b builder
			build(&b)
			if _, err := parseBytes(b.b); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.gguf")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.gguf")
	cases := []struct {
		path string
		kind error
		msg  string
	}{
		{missing, fs.ErrNotExist, missing + ": no such file"},
		{dir, ErrNotGGUF, dir + ": is a directory, not a GGUF model file"},
		{empty, ErrNotGGUF, empty + ": empty file (0 bytes), not a GGUF model"},
	}
	if runtime.GOOS != "windows" && os.Geteuid() != 0 {
		unreadable := filepath.Join(dir, "secret.gguf")
		if err := os.WriteFile(unreadable, smallFile(), 0o000); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, struct {
			path string
			kind error
			msg  string
		}{unreadable, fs.ErrPermission, unreadable + ": cannot open: permission denied"})
	}
	for _, c := range cases {
		_, err := Open(c.path)
		if err == nil || !errors.Is(err, c.kind) || err.Error() != c.msg {
			t.Errorf("Open(%s) = %v; want %q (%v)", c.path, err, c.msg, c.kind)
		}
	}
	good := filepath.Join(dir, "My-Model.Q8_0.gguf")
	b := smallFile()
	if err := os.WriteFile(good, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != good || f.FileSize != int64(len(b)) {
		t.Errorf("path %q size %d", f.Path, f.FileSize)
	}
	// Name falls back to the file name.
	f.KV = f.KV[:0]
	f.index = nil
	if f.Name() != "My-Model.Q8_0" {
		t.Errorf("name %q", f.Name())
	}
}

func TestQuantizationFallback(t *testing.T) {
	var b builder
	b.header(3, 3, 0)
	b.tensor("n", []uint64{256}, TypeF32, 0)        // 1024 bytes
	b.tensor("w", []uint64{256, 8}, TypeQ4_K, 1024) // 1152 bytes
	b.tensor("v", []uint64{256, 2}, TypeQ6_K, 2176) // 420 bytes
	b.align(32)
	b.fill(2176+420, 0)
	f, err := parseBytes(b.b)
	if err != nil {
		t.Fatal(err)
	}
	if q := f.Quantization(); q != "Q4_K" {
		t.Errorf("quantization %q, want Q4_K", q)
	}
}

func TestTypeTable(t *testing.T) {
	// Spot checks against ggml-common.h's static_asserts.
	want := map[GGMLType][2]uint64{
		TypeF32: {1, 4}, TypeF16: {1, 2}, TypeBF16: {1, 2}, TypeQ4_0: {32, 18}, TypeQ4_1: {32, 20},
		TypeQ5_0: {32, 22}, TypeQ5_1: {32, 24}, TypeQ8_0: {32, 34}, TypeQ8_1: {32, 36},
		TypeQ2_K: {256, 84}, TypeQ3_K: {256, 110}, TypeQ4_K: {256, 144}, TypeQ5_K: {256, 176},
		TypeQ6_K: {256, 210}, TypeQ8_K: {256, 292}, TypeIQ2_XXS: {256, 66}, TypeIQ2_XS: {256, 74},
		TypeIQ3_XXS: {256, 98}, TypeIQ1_S: {256, 50}, TypeIQ4_NL: {32, 18}, TypeIQ3_S: {256, 110},
		TypeIQ2_S: {256, 82}, TypeIQ4_XS: {256, 136}, TypeIQ1_M: {256, 56}, TypeTQ1_0: {256, 54},
		TypeTQ2_0: {256, 66}, TypeMXFP4: {32, 17}, TypeI8: {1, 1}, TypeI16: {1, 2}, TypeI32: {1, 4},
		TypeI64: {1, 8}, TypeF64: {1, 8},
	}
	if len(want) != len(typeTable) {
		t.Errorf("table has %d types, test knows %d", len(typeTable), len(want))
	}
	for typ, w := range want {
		if typ.BlockSize() != w[0] || typ.TypeSize() != w[1] || !typ.Known() {
			t.Errorf("%v: block %d size %d", typ, typ.BlockSize(), typ.TypeSize())
		}
	}
	for id := GGMLType(0); id < 64; id++ {
		_, removed := removedTypes[id]
		if removed == id.Known() && (removed || id < 40) {
			t.Errorf("type %d: known %v removed %v", id, id.Known(), removed)
		}
	}
	if TypeQ4_K.String() != "Q4_K" || GGMLType(4).String() != "Q4_2(removed)" || GGMLType(99).String() != "GGMLType(99)" {
		t.Error("String")
	}
}

// sharedDir finds /work/shared/<sub> relative to the repository root.
func sharedDir(t testing.TB, sub string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("repository root (go.mod) not found")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("real model files not present at %s (../shared/%s from the repo root); skipping", p, sub)
	}
	return p
}

func TestRealFiles(t *testing.T) {
	models := sharedDir(t, "models")
	paths, _ := filepath.Glob(filepath.Join(models, "*.gguf"))
	vocabs, _ := filepath.Glob(filepath.Join(models, "vocab", "*.gguf"))
	if len(paths) == 0 {
		t.Skipf("no .gguf files in %s", models)
	}
	for _, p := range append(paths, vocabs...) {
		f, err := Open(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if f.Arch() == "" || len(f.KV) == 0 {
			t.Errorf("%s: arch %q, %d keys", p, f.Arch(), len(f.KV))
		}
		if w := f.Warnings(); len(w) > 0 {
			t.Errorf("%s: %q", p, w)
		}
		if toks, ok := f.Get("tokenizer.ggml.tokens"); !ok || len(toks.([]string)) < 500 {
			t.Errorf("%s: no vocabulary", p)
		}
		var end uint64
		for _, ti := range f.Tensors {
			end = max(end, uint64(f.DataOffset)+ti.Offset+ti.Size)
		}
		if len(f.Tensors) > 0 && end != uint64(f.FileSize) {
			t.Errorf("%s: tensor data ends at %d, file has %d bytes", p, end, f.FileSize)
		}
		if len(f.Tensors) == 0 && f.DataOffset > f.FileSize {
			t.Errorf("%s: data offset %d past the end", p, f.DataOffset)
		}
	}
	f, err := Open(filepath.Join(models, "stories260K.gguf"))
	if err != nil {
		t.Skip("stories260K.gguf absent")
	}
	if f.ParamCount() != 292800 || f.Quantization() != "F32" || f.ContextLength() != 2048 || len(f.Tensors) != 48 {
		t.Errorf("stories260K: params %d quant %s ctx %d tensors %d", f.ParamCount(), f.Quantization(), f.ContextLength(), len(f.Tensors))
	}
	f, err = Open(filepath.Join(models, "llama-2-tiny-random.gguf"))
	if err == nil && (f.Quantization() != "F16" || f.ParamCount() != 513048 || f.Name() != "LLaMA v2") {
		t.Errorf("llama-2-tiny-random: quant %s params %d name %q", f.Quantization(), f.ParamCount(), f.Name())
	}
}

// largeVocabFile is a vocab-only image with n tokens, like a real
// tokenizer: tokens, scores, types and merges.
func largeVocabFile(n int) []byte {
	toks := make([]string, n)
	scores := make([]float32, n)
	types := make([]int32, n)
	merges := make([]string, n)
	for i := range toks {
		toks[i] = "▁tok" + strconv.Itoa(i)
		scores[i] = -float32(i)
		types[i] = 1
		merges[i] = "a" + strconv.Itoa(i) + " b"
	}
	var b builder
	b.header(3, 0, 6)
	b.kv("general.architecture", "llama")
	b.kv("tokenizer.ggml.model", "gpt2")
	b.kv("tokenizer.ggml.tokens", toks)
	b.kv("tokenizer.ggml.scores", scores)
	b.kv("tokenizer.ggml.token_type", types)
	b.kv("tokenizer.ggml.merges", merges)
	return b.b
}

func BenchmarkParseVocab32k(b *testing.B) {
	img := largeVocabFile(32000)
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		if _, err := parseBytes(img); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseVocab150k(b *testing.B) {
	img := largeVocabFile(150000)
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		if _, err := parseBytes(img); err != nil {
			b.Fatal(err)
		}
	}
}

// Real tokenizers: Llama 2 (32k tokens with scores) and DeepSeek LLM
// (102k tokens plus merges).
func BenchmarkOpenReal(b *testing.B) {
	models := sharedDir(b, "models")
	for _, name := range []string{"llama-2-tiny-random.gguf", "vocab/ggml-vocab-deepseek-llm.gguf"} {
		p := filepath.Join(models, name)
		st, err := os.Stat(p)
		if err != nil {
			b.Logf("%s absent; skipping", p)
			continue
		}
		b.Run(filepath.Base(name), func(b *testing.B) {
			b.SetBytes(st.Size())
			for b.Loop() {
				if _, err := Open(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
