package models

import (
	"os"
	"path/filepath"
	"testing"

	"natter/engine/gguf"
	"natter/engine/gguf/synth"
)

// Only the layers that keep a KV cache count towards it: a hybrid model's
// estimate is its attention layers' share of a dense one with the same shape.
func TestEstimateCountsOnlyKVLayers(t *testing.T) {
	dense := &Meta{Layers: 32, Embd: 2560, Heads: 16, KVHeads: 4, KeyLen: 256, ValLen: 256, Vocab: 1000}
	hybrid := *dense
	hybrid.KVLayers = 8
	d, h := EstimateMemory(dense, 8192), EstimateMemory(&hybrid, 8192)
	if want := uint64(8 * 8192 * 4 * 512 * 2); h.KVCache != want || d.KVCache != 4*want {
		t.Errorf("KV dense %d hybrid %d, want %d and %d", d.KVCache, h.KVCache, 4*want, want)
	}
	// KVLayers 0 or not below Layers means every layer.
	for _, n := range []uint64{0, 32, 40} {
		hybrid.KVLayers = n
		if got := EstimateMemory(&hybrid, 8192).KVCache; got != d.KVCache {
			t.Errorf("KVLayers %d: %d, want %d", n, got, d.KVCache)
		}
	}
}

// The KV layers are read from the headers the converters write.
func TestReadMetaKVLayers(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, w func(string) error) *Meta {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := w(p); err != nil {
			t.Fatal(err)
		}
		m, err := ReadMeta(p)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// Dense llama: every layer.
	m := write("llama.gguf", func(p string) error { return synth.Write(p, synth.Tiny()) })
	if m.KVLayers != 0 || m.Layers == 0 {
		t.Errorf("llama: layers %d, KV layers %d", m.Layers, m.KVLayers)
	}
	// Qwen3.5: full attention every 4th of 8 layers, from
	// full_attention_interval alone and with attention.recurrent_layers.
	q := synth.Qwen35Tiny()
	m = write("qwen35.gguf", q.Write)
	if m.Arch != "qwen35" || m.Layers != 8 || m.KVLayers != 2 || m.KVHeads != uint64(q.NHeadKV) || m.KeyLen != uint64(q.HeadDim) {
		t.Errorf("qwen35: %+v", m)
	}
	q.RecurrentLayers = true
	if m = write("qwen35-rec.gguf", q.Write); m.KVLayers != 2 {
		t.Errorf("qwen35 with recurrent_layers: KV layers %d", m.KVLayers)
	}
	mo := synth.Qwen35MoETiny()
	if m = write("qwen35moe.gguf", mo.Write); m.Arch != "qwen35moe" || m.KVLayers != 2 {
		t.Errorf("qwen35moe: %+v", m)
	}
	// Gemma 4: the last 4 of 8 layers share earlier layers' caches, with
	// head_count_kv a scalar or a per-layer array.
	g := synth.Gemma4Tiny()
	if m = write("gemma4.gguf", g.Write); m.Arch != "gemma4" || m.KVLayers != 4 || m.KVHeads != uint64(g.NHeadKV) {
		t.Errorf("gemma4: %+v", m)
	}
	g.NHeadKVFull = 2
	if m = write("gemma4-arr.gguf", g.Write); m.KVLayers != 4 || m.KVHeads != 2 {
		t.Errorf("gemma4 with a head_count_kv array: %+v", m)
	}
}

// LFM2 and Granite 4.0 H write head_count_kv per layer, 0 for the
// convolution or Mamba2 layers (synth writes neither, so the header is
// built here as the converter lays it out).
func TestKVShapePerLayerHeadCount(t *testing.T) {
	for _, c := range []struct {
		arch  string
		heads any
		kv    uint64
		most  uint64
	}{
		// 16 layers, 6 of them attention, as in LFM2.5 1.2B.
		{"lfm2", []int32{0, 0, 8, 0, 0, 8, 0, 0, 8, 0, 8, 0, 8, 0, 8, 0}, 6, 8},
		{"granitehybrid", []uint32{0, 0, 0, 8, 0, 0, 0, 8}, 2, 8},
		{"lfm2", []uint8{4, 4, 4, 4}, 0, 4}, // all attention: no KVLayers
	} {
		f := &gguf.File{KV: []gguf.KV{
			{Key: "general.architecture", Value: c.arch},
			{Key: c.arch + ".block_count", Value: uint32(len(mustUints(t, c.heads)))},
			{Key: c.arch + ".attention.head_count_kv", Value: c.heads},
		}}
		m := metaOf(f)
		if m.KVLayers != c.kv || m.KVHeads != c.most {
			t.Errorf("%s %v: KV layers %d heads %d, want %d %d", c.arch, c.heads, m.KVLayers, m.KVHeads, c.kv, c.most)
		}
	}
	// A recurrent_layers flag of the wrong length is ignored for the interval.
	f := &gguf.File{KV: []gguf.KV{
		{Key: "general.architecture", Value: "qwen35"},
		{Key: "qwen35.block_count", Value: uint32(8)},
		{Key: "qwen35.attention.recurrent_layers", Value: []bool{true, false}},
		{Key: "qwen35.full_attention_interval", Value: uint32(4)},
	}}
	if m := metaOf(f); m.KVLayers != 2 {
		t.Errorf("short recurrent_layers: KV layers %d", m.KVLayers)
	}
	// A malformed shared_kv_layers (not below the KV layers) is ignored.
	f = &gguf.File{KV: []gguf.KV{
		{Key: "general.architecture", Value: "gemma4"},
		{Key: "gemma4.block_count", Value: uint32(4)},
		{Key: "gemma4.attention.shared_kv_layers", Value: uint32(9)},
	}}
	if m := metaOf(f); m.KVLayers != 0 {
		t.Errorf("shared_kv_layers 9 of 4: KV layers %d", m.KVLayers)
	}
	if _, ok := uintArray([]float32{1}); ok {
		t.Error("float array read as integers")
	}
}

func mustUints(t *testing.T, v any) []uint64 {
	t.Helper()
	u, ok := uintArray(v)
	if !ok {
		t.Fatalf("not an integer array: %T", v)
	}
	return u
}

// A real upstream Gemma 4 header (the 26B-A4B vocabulary file from
// llama.cpp's tests) writes head_count_kv per layer: 8 on sliding-window
// layers, 2 on full ones. The estimate takes the larger instead of falling
// back to one KV head per query head.
func TestReadMetaRealGemma4Header(t *testing.T) {
	p := "/work/shared/models/vocab/ggml-vocab-gemma-4.gguf"
	if _, err := os.Stat(p); err != nil {
		t.Skip("DID NOT RUN: " + p + " is absent")
	}
	m, err := ReadMeta(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Arch != "gemma4" || m.Layers != 30 || m.Heads != 16 || m.KVHeads != 8 || m.KVLayers != 0 || m.KeyLen != 512 {
		t.Errorf("%+v", m)
	}
}
