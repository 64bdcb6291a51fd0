package synth

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"natter/engine/gguf"
)

// The reader parses what the writer writes, with the keys, tensor names and
// shapes llama.cpp's llama loader asks for (llama-model.cpp, LLM_ARCH_LLAMA).
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range []TensorType{F32, F16, Q4_0, Q8_0} {
		for _, tied := range []bool{false, true} {
			s := Tiny()
			s.Type, s.TiedOutput, s.ChatTemplate = typ, tied, ChatML
			t.Run(fmt.Sprintf("%v/tied=%v", typ, tied), func(t *testing.T) {
				path := filepath.Join(dir, "m.gguf")
				if err := Write(path, s); err != nil {
					t.Fatal(err)
				}
				f, err := gguf.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				checkFile(t, f, s)
				checkWeights(t, path, f, s)
			})
		}
	}
}

func checkFile(t *testing.T, f *gguf.File, s Spec) {
	toks, scores, types := Vocab()
	u32 := func(n int) uint32 { return uint32(n) }
	want := map[string]any{
		"general.architecture":                   "llama",
		"general.name":                           s.Name,
		"general.alignment":                      uint32(32),
		"general.file_type":                      map[TensorType]uint32{F32: 0, F16: 1, Q4_0: 2, Q8_0: 7}[s.Type],
		"llama.context_length":                   u32(s.NCtxTrain),
		"llama.embedding_length":                 u32(s.NEmbd),
		"llama.block_count":                      u32(s.NLayer),
		"llama.feed_forward_length":              u32(s.NFF),
		"llama.attention.head_count":             u32(s.NHead),
		"llama.attention.head_count_kv":          u32(s.NHeadKV),
		"llama.rope.dimension_count":             u32(s.NEmbd / s.NHead),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"llama.rope.freq_base":                   float32(10000),
		"llama.vocab_size":                       u32(len(toks)),
		"tokenizer.ggml.model":                   "llama",
		"tokenizer.ggml.tokens":                  toks,
		"tokenizer.ggml.scores":                  scores,
		"tokenizer.ggml.token_type":              types,
		"tokenizer.ggml.bos_token_id":            uint32(1),
		"tokenizer.ggml.eos_token_id":            uint32(2),
		"tokenizer.ggml.unknown_token_id":        uint32(0),
		"tokenizer.ggml.add_bos_token":           true,
		"tokenizer.ggml.add_eos_token":           false,
		"tokenizer.chat_template":                ChatML,
	}
	for k, v := range want {
		got, ok := f.Get(k)
		if !ok || !reflect.DeepEqual(got, v) {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if len(f.KV) != len(want) {
		t.Errorf("%d keys, want %d", len(f.KV), len(want))
	}
	if f.Quantization() != s.Type.String() || f.Name() != s.Name || f.ChatTemplate() != ChatML ||
		f.ContextLength() != uint64(s.NCtxTrain) || f.ParamCount() != uint64(s.ParamCount()) {
		t.Errorf("quant %s name %s ctx %d params %d", f.Quantization(), f.Name(), f.ContextLength(), f.ParamCount())
	}

	// The tensors llama.cpp creates for LLM_ARCH_LLAMA, with ne0 first.
	nv := uint64(len(toks))
	e, ff, kv := uint64(s.NEmbd), uint64(s.NFF), uint64(s.NEmbd/s.NHead*s.NHeadKV)
	wantT := map[string][]uint64{"token_embd.weight": {e, nv}, "output_norm.weight": {e}}
	if !s.TiedOutput {
		wantT["output.weight"] = []uint64{e, nv}
	}
	for i := 0; i < s.NLayer; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		wantT[p+"attn_norm.weight"] = []uint64{e}
		wantT[p+"attn_q.weight"] = []uint64{e, e}
		wantT[p+"attn_k.weight"] = []uint64{e, kv}
		wantT[p+"attn_v.weight"] = []uint64{e, kv}
		wantT[p+"attn_output.weight"] = []uint64{e, e}
		wantT[p+"ffn_norm.weight"] = []uint64{e}
		wantT[p+"ffn_gate.weight"] = []uint64{e, ff}
		wantT[p+"ffn_up.weight"] = []uint64{e, ff}
		wantT[p+"ffn_down.weight"] = []uint64{ff, e}
	}
	if len(f.Tensors) != len(wantT) {
		t.Errorf("%d tensors, want %d", len(f.Tensors), len(wantT))
	}
	var end uint64
	for _, ti := range f.Tensors {
		dims, ok := wantT[ti.Name]
		if !ok || !reflect.DeepEqual(ti.Dims, dims) {
			t.Errorf("tensor %s dims %v, want %v", ti.Name, ti.Dims, dims)
		}
		wantType := gguf.GGMLType(s.Type)
		if len(dims) == 1 {
			wantType = gguf.TypeF32
		}
		if ti.Type != wantType {
			t.Errorf("tensor %s type %v, want %v", ti.Name, ti.Type, wantType)
		}
		end = max(end, uint64(f.DataOffset)+ti.Offset+ti.Size)
	}
	if end != uint64(f.FileSize) {
		t.Errorf("tensor data ends at %d, file has %d bytes", end, f.FileSize)
	}
}

// checkWeights decodes two tensors from the file: norms are exactly one,
// and a matrix has the weight distribution the writer promises.
func checkWeights(t *testing.T, path string, f *gguf.File, s Spec) {
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	read := func(name string) (gguf.TensorInfo, []byte) {
		for _, ti := range f.Tensors {
			if ti.Name == name {
				b := make([]byte, ti.Size)
				if _, err := fh.ReadAt(b, f.DataOffset+int64(ti.Offset)); err != nil && err != io.EOF {
					t.Fatal(err)
				}
				return ti, b
			}
		}
		t.Fatalf("no tensor %s", name)
		return gguf.TensorInfo{}, nil
	}
	_, norm := read("blk.1.ffn_norm.weight")
	for i := 0; i < len(norm); i += 4 {
		if v := math.Float32frombits(binary.LittleEndian.Uint32(norm[i:])); v != 1 {
			t.Fatalf("norm value %g", v)
		}
	}
	ti, raw := read("blk.0.ffn_down.weight")
	n := int(ti.Elements())
	var w []float32
	switch s.Type {
	case F32:
		for i := 0; i < n; i++ {
			w = append(w, math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		}
	case F16:
		for i := 0; i < n; i++ {
			w = append(w, f16ToF32(binary.LittleEndian.Uint16(raw[2*i:])))
		}
	case Q8_0:
		w = dequantQ8_0(raw, n)
	case Q4_0:
		w = dequantQ4_0(raw, n)
	}
	var sum, sq float64
	for _, v := range w {
		if math.IsNaN(float64(v)) || math.Abs(float64(v)) > weightScale*1.01 {
			t.Fatalf("weight %g out of range", v)
		}
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	mean, std := sum/float64(n), math.Sqrt(sq/float64(n))
	if math.Abs(mean) > 0.002 || math.Abs(std-0.02) > 0.003 {
		t.Errorf("weights mean %g std %g, want about 0 and 0.02", mean, std)
	}
}
