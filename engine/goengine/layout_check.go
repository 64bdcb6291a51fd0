package goengine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"natter/engine/gguf"
)

// ErrLayout marks a file whose tensors or metadata do not fit its
// architecture (as upstream llama.cpp defines it), or use a feature the Go
// engine does not compute the way upstream does.
var ErrLayout = errors.New("model file does not fit its architecture")

// checker validates one file before any of it reaches Ollama's loader,
// which trusts its input (a missing tensor is a nil pointer panic there).
type checker struct {
	f       *gguf.File
	arch    string
	tensors map[string]gguf.TensorInfo
}

func newChecker(f *gguf.File) *checker {
	c := &checker{f: f, arch: f.Arch(), tensors: make(map[string]gguf.TensorInfo, len(f.Tensors))}
	for _, t := range f.Tensors {
		c.tensors[t.Name] = t
	}
	return c
}

func (c *checker) fail(format string, a ...any) error {
	return fmt.Errorf("%s: %w: %s", c.f.Path, ErrLayout, fmt.Sprintf(format, a...))
}

func (c *checker) full(k string) string { return c.arch + "." + k }

// kind names what a key must hold, for messages.
type kind int

const (
	kUint kind = iota
	kFloat
	kBool
	kString
	kUintOrArray // a count, per layer or for all layers
	kIntArray
	kBoolArray
)

func (k kind) String() string {
	return [...]string{"an unsigned integer", "a float", "a bool", "a string",
		"an unsigned integer or an array of them", "an array of integers", "an array of bools"}[k]
}

func fits(v any, k kind) bool {
	switch k {
	case kUint:
		_, ok := gguf.AsUint(v)
		return ok
	case kFloat:
		switch v.(type) {
		case float32, float64:
			return true
		}
	case kBool:
		_, ok := v.(bool)
		return ok
	case kString:
		_, ok := v.(string)
		return ok
	case kUintOrArray:
		if _, ok := gguf.AsUint(v); ok {
			return true
		}
		arr, ok := intArray(v)
		return ok && !slices.ContainsFunc(arr, func(n int64) bool { return n < 0 || n > math.MaxUint32 })
	case kIntArray:
		_, ok := intArray(v)
		return ok
	case kBoolArray:
		_, ok := v.([]bool)
		return ok
	}
	return false
}

// key checks an architecture key's type; required keys must be present.
func (c *checker) key(k string, want kind, required bool) error {
	v, ok := c.f.Get(c.full(k))
	if !ok {
		if required {
			return c.fail("metadata key %s is missing", c.full(k))
		}
		return nil
	}
	if !fits(v, want) {
		return c.fail("metadata key %s is %s, must be %s", c.full(k), describe(v), want)
	}
	return nil
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a bool"
	case float32, float64:
		return "a float"
	case []string:
		return "an array of strings"
	case []bool:
		return "an array of bools"
	case []float32, []float64:
		return "an array of floats"
	}
	if n, ok := gguf.AsUint(v); ok {
		return "the integer " + strconv.FormatUint(n, 10)
	}
	if _, ok := intArray(v); ok {
		return "an array of integers"
	}
	return fmt.Sprintf("a %T", v)
}

func (c *checker) u(k string, def uint64) uint64 {
	if n, ok := c.f.Uint(c.full(k)); ok {
		return n
	}
	return def
}

func (c *checker) fl(k string, def float64) float64 {
	v, _ := c.f.Get(c.full(k))
	switch v := v.(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return def
}

func (c *checker) has(name string) bool { _, ok := c.tensors[name]; return ok }

// tensor checks that name exists (when required) with dims exactly dims
// (ggml ne order, innermost first; trailing 1s are ignored, as ggml does).
func (c *checker) tensor(name string, required bool, dims ...uint64) (bool, error) {
	t, ok := c.tensors[name]
	if !ok {
		if required {
			return false, c.fail("tensor %s is missing", name)
		}
		return false, nil
	}
	got := slices.Clone(t.Dims)
	for len(got) > len(dims) && got[len(got)-1] == 1 {
		got = got[:len(got)-1]
	}
	want := slices.Clone(dims)
	for len(want) > len(got) && want[len(want)-1] == 1 {
		want = want[:len(want)-1]
	}
	if !slices.Equal(got, want) {
		return true, c.fail("tensor %s has shape %v, the metadata makes it %v", name, t.Dims, dims)
	}
	// Norm weights, biases, scales and the conv kernel feed element-wise
	// ggml ops that abort the process on quantized input; converters and
	// llama-quantize always keep them F32.
	if (len(t.Dims) == 1 || strings.HasSuffix(name, ".ssm_conv1d.weight")) && t.Type != gguf.TypeF32 {
		return true, c.fail("tensor %s is %s, must be F32", name, t.Type)
	}
	return true, nil
}

// blockIndex checks that every blk.N tensor has N < block_count (Ollama's
// backend indexes its layer table with N and panics otherwise).
func (c *checker) blockIndex(blocks uint64) error {
	for _, t := range c.f.Tensors {
		rest, ok := strings.CutPrefix(t.Name, "blk.")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ".")
		i, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return c.fail("tensor %s has no layer number", t.Name)
		}
		if i >= blocks {
			return c.fail("tensor %s is for layer %d but %s is %d", t.Name, i, c.full("block_count"), blocks)
		}
	}
	return nil
}

// readF32 reads a small F32 tensor's values from the file.
func (c *checker) readF32(t gguf.TensorInfo) ([]float32, error) {
	if t.Type != gguf.TypeF32 {
		return nil, c.fail("tensor %s is %s, must be F32", t.Name, t.Type)
	}
	n := t.Elements()
	if n > 1<<20 || t.Size != 4*n {
		return nil, c.fail("tensor %s has %d values in %d bytes", t.Name, n, t.Size)
	}
	fh, err := os.Open(c.f.Path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b := make([]byte, t.Size)
	if _, err := fh.ReadAt(b, c.f.DataOffset+int64(t.Offset)); err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: reading tensor %s: %w", c.f.Path, t.Name, err)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}

// vocabSize is the token count the embedding must match.
func (c *checker) vocabSize() (uint64, error) {
	v, ok := c.f.Get("tokenizer.ggml.tokens")
	if !ok {
		return 0, c.fail("metadata key tokenizer.ggml.tokens is missing")
	}
	toks, ok := v.([]string)
	if !ok || len(toks) == 0 {
		return 0, c.fail("metadata key tokenizer.ggml.tokens is %s, must be a non-empty array of strings", describe(v))
	}
	return uint64(len(toks)), nil
}
