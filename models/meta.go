package models

import (
	"errors"
	"fmt"

	"natter/engine/gguf"
)

// ReadMeta reads and validates the GGUF header of path (natter/engine/gguf
// checks the whole structure, including that tensor data fits the file).
func ReadMeta(path string) (*Meta, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	return metaOf(f), nil
}

// errNoTensors marks a GGUF that holds only a vocabulary or metadata.
var errNoTensors = errors.New("no tensors: a vocabulary or metadata file, not a model")

// ValidateGGUF is the check a download must pass before it is moved into
// place: a well-formed GGUF (header, metadata, tensor table within the
// file) that holds tensors.
func ValidateGGUF(path string) error {
	f, err := gguf.Open(path)
	if err != nil {
		return err
	}
	if len(f.Tensors) == 0 {
		return errNoTensors
	}
	return nil
}

func metaOf(f *gguf.File) *Meta {
	a := f.Arch()
	u := func(key string) uint64 {
		n, _ := f.Uint(a + "." + key)
		return n
	}
	m := &Meta{
		Arch:         a,
		Name:         f.Name(),
		Quantization: f.Quantization(),
		Params:       f.ParamCount(),
		TrainCtx:     f.ContextLength(),
		HasTemplate:  f.ChatTemplate() != "",
		FileSize:     f.FileSize,
		Layers:       u("block_count"),
		Embd:         u("embedding_length"),
		Heads:        u("attention.head_count"),
		KVHeads:      u("attention.head_count_kv"),
		KeyLen:       u("attention.key_length"),
		ValLen:       u("attention.value_length"),
		Vocab:        u("vocab_size"),
		Warnings:     f.Warnings(),
	}
	for _, t := range f.Tensors {
		var n uint64
		if _, err := fmt.Sscanf(t.Name, "blk.%d.", &n); err == nil && n+1 > m.TensorLayers {
			m.TensorLayers = n + 1
		}
	}
	kvShape(f, a, m)
	if m.Vocab == 0 {
		for _, t := range f.Tensors {
			if t.Name == "token_embd.weight" && len(t.Dims) == 2 {
				m.Vocab = t.Dims[1]
			}
		}
	}
	return m
}

// kvShape fills in what a scalar read of the header misses for models whose
// layers do not all keep a KV cache, in the layouts llama.cpp's converter
// writes: a per-layer attention.head_count_kv array with 0 for recurrent
// layers (LFM2, Granite 4.0 H, newer Qwen3.5 files), a per-layer
// attention.recurrent_layers flag, Qwen3.5's full_attention_interval
// (every n-th layer is attention), and Gemma 4's attention.shared_kv_layers
// (the last layers reuse an earlier layer's cache).
func kvShape(f *gguf.File, arch string, m *Meta) {
	p := arch + "."
	kv := m.Layers
	if v, ok := f.Get(p + "attention.head_count_kv"); ok {
		if heads, ok := uintArray(v); ok {
			var n, most uint64
			for _, h := range heads {
				if h > 0 {
					n++
					most = max(most, h)
				}
			}
			m.KVHeads, kv = most, n
		}
	}
	v, _ := f.Get(p + "attention.recurrent_layers")
	if rec, ok := v.([]bool); ok && uint64(len(rec)) == m.Layers {
		kv = 0
		for _, r := range rec {
			if !r {
				kv++
			}
		}
	} else if n, ok := f.Uint(p + "full_attention_interval"); ok && n > 0 && kv == m.Layers {
		kv = m.Layers / n
	}
	if n, ok := f.Uint(p + "attention.shared_kv_layers"); ok && n < kv {
		kv -= n
	}
	if kv < m.Layers {
		m.KVLayers = kv
	}
}

// uintArray reads an integer array of any element type; negative elements
// count as 0.
func uintArray(v any) ([]uint64, bool) {
	var out []uint64
	add := func(n int64) { out = append(out, uint64(max(n, 0))) }
	switch a := v.(type) {
	case []uint8:
		for _, x := range a {
			add(int64(x))
		}
	case []int8:
		for _, x := range a {
			add(int64(x))
		}
	case []uint16:
		for _, x := range a {
			add(int64(x))
		}
	case []int16:
		for _, x := range a {
			add(int64(x))
		}
	case []uint32:
		for _, x := range a {
			add(int64(x))
		}
	case []int32:
		for _, x := range a {
			add(int64(x))
		}
	case []uint64:
		for _, x := range a {
			out = append(out, x)
		}
	case []int64:
		for _, x := range a {
			add(x)
		}
	default:
		return nil, false
	}
	return out, true
}
