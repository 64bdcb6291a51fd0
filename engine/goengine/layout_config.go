package goengine

import (
	"iter"
	"maps"
	"math"
	"strings"

	"natter/engine/gguf"
)

// layoutConfig is the metadata Ollama's model constructors read (an
// fs.Config), built from natter's parsed copy of the file with the
// architecture's upstream-llama.cpp meaning applied: keys upstream does
// not read are dropped, upstream's defaults are made explicit where
// Ollama's differ, and values are read by kind rather than by exact GGUF
// type (Ollama's own reader silently falls back to its default when, say,
// a count is stored as uint64 instead of uint32).
type layoutConfig struct {
	arch string
	kv   map[string]any // full key → natter value (uint32, []int32, ...)

	// Per-layer KV head counts as qwen3next reads them through its
	// headCounts interface: 0 marks a recurrent layer. nil for other
	// architectures.
	headCountKV []uint64
}

func newLayoutConfig(f *gguf.File) *layoutConfig {
	c := &layoutConfig{arch: f.Arch(), kv: make(map[string]any, len(f.KV))}
	for _, kv := range f.KV {
		c.kv[kv.Key] = kv.Value
	}
	return c
}

func (c *layoutConfig) key(k string) string {
	if strings.HasPrefix(k, "tokenizer.") || strings.HasPrefix(k, "general.") {
		return k
	}
	return c.arch + "." + k
}

func (c *layoutConfig) set(k string, v any) { c.kv[c.key(k)] = v }
func (c *layoutConfig) drop(k string)       { delete(c.kv, c.key(k)) }
func (c *layoutConfig) has(k string) bool   { _, ok := c.kv[c.key(k)]; return ok }

// setDefault makes upstream's default explicit when the file lacks the key.
func (c *layoutConfig) setDefault(k string, v any) {
	if !c.has(k) {
		c.set(k, v)
	}
}

func (c *layoutConfig) Architecture() string { return c.arch }

func (c *layoutConfig) String(k string, def ...string) string {
	if s, ok := c.kv[c.key(k)].(string); ok {
		return s
	}
	return first(def, "")
}

func (c *layoutConfig) Uint(k string, def ...uint32) uint32 {
	if n, ok := gguf.AsUint(c.kv[c.key(k)]); ok && n <= math.MaxUint32 {
		return uint32(n)
	}
	return first(def, 0)
}

func (c *layoutConfig) Float(k string, def ...float32) float32 {
	switch v := c.kv[c.key(k)].(type) {
	case float32:
		return v
	case float64:
		return float32(v)
	}
	return first(def, 0)
}

func (c *layoutConfig) Bool(k string, def ...bool) bool {
	if b, ok := c.kv[c.key(k)].(bool); ok {
		return b
	}
	return first(def, false)
}

func (c *layoutConfig) Strings(k string, def ...[]string) []string {
	if s, ok := c.kv[c.key(k)].([]string); ok {
		return s
	}
	return first(def, nil)
}

func (c *layoutConfig) Ints(k string, def ...[]int32) []int32 {
	if v, ok := intArray(c.kv[c.key(k)]); ok {
		out := make([]int32, len(v))
		for i, n := range v {
			out[i] = int32(n)
		}
		return out
	}
	return first(def, nil)
}

func (c *layoutConfig) Floats(k string, def ...[]float32) []float32 {
	switch v := c.kv[c.key(k)].(type) {
	case []float32:
		return v
	case []float64:
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out
	}
	return first(def, nil)
}

func (c *layoutConfig) Bools(k string, def ...[]bool) []bool {
	if b, ok := c.kv[c.key(k)].([]bool); ok {
		return b
	}
	return first(def, nil)
}

func (c *layoutConfig) Len() int               { return len(c.kv) }
func (c *layoutConfig) Keys() iter.Seq[string] { return maps.Keys(c.kv) }
func (c *layoutConfig) Value(key string) any   { return c.kv[key] }
func (c *layoutConfig) HeadCountKV() []uint64  { return c.headCountKV }
func (c *layoutConfig) HeadCount() []uint64 {
	return c.perLayer("attention.head_count", int(c.Uint("block_count")))
}
func first[T any](def []T, zero T) T                      { return append(def, zero)[0] }
func (c *layoutConfig) perLayer(k string, n int) []uint64 { return perLayerValues(c.kv[c.key(k)], n) }

// perLayerValues expands a scalar-or-array count to n layers (a short
// array repeats nothing: missing layers read 0).
func perLayerValues(v any, n int) []uint64 {
	out := make([]uint64, n)
	if s, ok := gguf.AsUint(v); ok {
		for i := range out {
			out[i] = s
		}
		return out
	}
	arr, _ := intArray(v)
	for i := range out {
		if i < len(arr) && arr[i] >= 0 {
			out[i] = uint64(arr[i])
		}
	}
	return out
}

// intArray reads an array of any integer type (values beyond int64 fail).
func intArray(v any) ([]int64, bool) {
	conv := func(n int, at func(int) (int64, bool)) ([]int64, bool) {
		out := make([]int64, n)
		for i := range out {
			x, ok := at(i)
			if !ok {
				return nil, false
			}
			out[i] = x
		}
		return out, true
	}
	switch v := v.(type) {
	case []uint8:
		return conv(len(v), func(i int) (int64, bool) { return int64(v[i]), true })
	case []int8:
		return conv(len(v), func(i int) (int64, bool) { return int64(v[i]), true })
	case []uint16:
		return conv(len(v), func(i int) (int64, bool) { return int64(v[i]), true })
	case []int16:
		return conv(len(v), func(i int) (int64, bool) { return int64(v[i]), true })
	case []uint32:
		return conv(len(v), func(i int) (int64, bool) { return int64(v[i]), true })
	case []int32:
		return conv(len(v), func(i int) (int64, bool) { return int64(v[i]), true })
	case []uint64:
		return conv(len(v), func(i int) (int64, bool) { return int64(v[i]), v[i] <= math.MaxInt64 })
	case []int64:
		return v, true
	}
	return nil, false
}
