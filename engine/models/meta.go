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
	if m.Vocab == 0 {
		for _, t := range f.Tensors {
			if t.Name == "token_embd.weight" && len(t.Dims) == 2 {
				m.Vocab = t.Dims[1]
			}
		}
	}
	return m
}
