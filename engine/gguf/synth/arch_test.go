package synth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"natter/engine/gguf"
)

// archModel is what the tests need of a Qwen35Spec or Gemma4Spec.
type archModel interface {
	Write(path string) error
	ParamCount() int64
}

// openModel writes m and parses it back with natter's validator.
func openModel(t *testing.T, m archModel) (*gguf.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := m.Write(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return f, path
}

// checkTensors compares the file's tensors with want (name -> ne), and
// their types: F32 for the tensors upstream's converter keeps in F32, typ
// (or F16 where rows do not fill quant blocks) for the rest.
func checkTensors(t *testing.T, f *gguf.File, want map[string][]uint64, typ TensorType, isF32 func(name string) bool) {
	t.Helper()
	got := map[string]bool{}
	for _, ti := range f.Tensors {
		got[ti.Name] = true
		dims, ok := want[ti.Name]
		if !ok {
			t.Errorf("unexpected tensor %s %v", ti.Name, ti.Dims)
			continue
		}
		if !reflect.DeepEqual(ti.Dims, dims) {
			t.Errorf("tensor %s dims %v, want %v", ti.Name, ti.Dims, dims)
		}
		wantType := gguf.GGMLType(typ)
		switch {
		case isF32(ti.Name):
			wantType = gguf.TypeF32
		case (typ == Q8_0 || typ == Q4_0) && dims[0]%32 != 0:
			wantType = gguf.TypeF16
		}
		if ti.Type != wantType {
			t.Errorf("tensor %s type %v, want %v", ti.Name, ti.Type, wantType)
		}
	}
	for name := range want {
		if !got[name] {
			t.Errorf("missing tensor %s", name)
		}
	}
}

// convF32 is the converter's rule: 1-D tensors, norms, names not ending in
// .weight, and the listed kinds stay F32.
func convF32(name string) bool {
	for _, s := range []string{"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_inp_shexp.weight", "ssm_conv1d.weight", "layer_output_scale.weight", "rope_freqs.weight"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return !strings.HasSuffix(name, ".weight")
}

func checkKVs(t *testing.T, f *gguf.File, want map[string]any) {
	t.Helper()
	for k, v := range want {
		got, ok := f.Get(k)
		if !ok || !reflect.DeepEqual(got, v) {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
}

// readF32 returns an F32 tensor's values.
func readF32(t *testing.T, path string, f *gguf.File, name string) []float32 {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	for _, ti := range f.Tensors {
		if ti.Name == name {
			b := make([]byte, ti.Size)
			if _, err := fh.ReadAt(b, f.DataOffset+int64(ti.Offset)); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			v := make([]float32, ti.Elements())
			for i := range v {
				v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
			return v
		}
	}
	t.Fatalf("no tensor %s", name)
	return nil
}

// The shapes below are those llama.cpp v0.5.0's loaders create
// (src/models/qwen35.cpp, qwen35moe.cpp: load_arch_tensors).
func qwen35Want(s Qwen35Spec) map[string][]uint64 {
	u := func(v ...int) []uint64 {
		r := make([]uint64, len(v))
		for i, x := range v {
			r[i] = uint64(x)
		}
		return r
	}
	nv := len(bpeTokens)
	e := s.NEmbd
	kd, vd := s.LinHeadDim*s.LinKeyHeads, s.LinHeadDim*s.LinValueHeads
	w := map[string][]uint64{"token_embd.weight": u(e, nv), "output_norm.weight": u(e)}
	if !s.TiedOutput {
		w["output.weight"] = u(e, nv)
	}
	for i := 0; i < s.NLayer; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		w[p+"attn_norm.weight"] = u(e)
		w[p+"post_attention_norm.weight"] = u(e)
		if (i+1)%s.FullAttnInterval != 0 {
			w[p+"attn_qkv.weight"] = u(e, 2*kd+vd)
			w[p+"attn_gate.weight"] = u(e, vd)
			w[p+"ssm_conv1d.weight"] = u(s.ConvKernel, 2*kd+vd)
			w[p+"ssm_dt.bias"] = u(s.LinValueHeads)
			w[p+"ssm_a"] = u(s.LinValueHeads)
			w[p+"ssm_beta.weight"] = u(e, s.LinValueHeads)
			w[p+"ssm_alpha.weight"] = u(e, s.LinValueHeads)
			w[p+"ssm_norm.weight"] = u(s.LinHeadDim)
			w[p+"ssm_out.weight"] = u(vd, e)
		} else {
			w[p+"attn_q.weight"] = u(e, 2*s.HeadDim*s.NHead)
			w[p+"attn_k.weight"] = u(e, s.HeadDim*s.NHeadKV)
			w[p+"attn_v.weight"] = u(e, s.HeadDim*s.NHeadKV)
			w[p+"attn_output.weight"] = u(s.HeadDim*s.NHead, e)
			w[p+"attn_q_norm.weight"] = u(s.HeadDim)
			w[p+"attn_k_norm.weight"] = u(s.HeadDim)
		}
		if s.NExpert == 0 {
			w[p+"ffn_gate.weight"] = u(e, s.NFF)
			w[p+"ffn_up.weight"] = u(e, s.NFF)
			w[p+"ffn_down.weight"] = u(s.NFF, e)
		} else {
			w[p+"ffn_gate_inp.weight"] = u(e, s.NExpert)
			w[p+"ffn_gate_exps.weight"] = u(e, s.NFFExp, s.NExpert)
			w[p+"ffn_up_exps.weight"] = u(e, s.NFFExp, s.NExpert)
			w[p+"ffn_down_exps.weight"] = u(s.NFFExp, e, s.NExpert)
			w[p+"ffn_gate_inp_shexp.weight"] = u(e, 1)
			w[p+"ffn_gate_shexp.weight"] = u(e, s.NFFShexp)
			w[p+"ffn_up_shexp.weight"] = u(e, s.NFFShexp)
			w[p+"ffn_down_shexp.weight"] = u(s.NFFShexp, e)
		}
	}
	return w
}

func TestQwen35Layout(t *testing.T) {
	for _, s := range []Qwen35Spec{Qwen35Tiny(), Qwen35MoETiny()} {
		for _, typ := range []TensorType{F32, Q8_0} {
			s.Type = typ
			t.Run(s.Arch()+"/"+typ.String(), func(t *testing.T) {
				f, path := openModel(t, s)
				if f.Arch() != s.Arch() || f.ParamCount() != uint64(s.ParamCount()) {
					t.Errorf("arch %s params %d", f.Arch(), f.ParamCount())
				}
				a := s.Arch() + "."
				want := map[string]any{
					a + "block_count":                      uint32(8),
					a + "embedding_length":                 uint32(64),
					a + "attention.head_count":             uint32(4),
					a + "attention.head_count_kv":          uint32(2),
					a + "attention.key_length":             uint32(32),
					a + "attention.value_length":           uint32(32),
					a + "rope.dimension_count":             uint32(8),
					a + "rope.dimension_sections":          []int32{2, 1, 1, 0},
					a + "attention.layer_norm_rms_epsilon": float32(1e-6),
					a + "ssm.conv_kernel":                  uint32(4),
					a + "ssm.state_size":                   uint32(16),
					a + "ssm.group_count":                  uint32(2),
					a + "ssm.time_step_rank":               uint32(4),
					a + "ssm.inner_size":                   uint32(64),
					a + "full_attention_interval":          uint32(4),
					"tokenizer.ggml.model":                 "gpt2",
					"tokenizer.ggml.pre":                   "qwen35",
					"tokenizer.ggml.eos_token_id":          uint32(BPETokImEnd),
					"general.file_type":                    typ.fileType(),
				}
				if s.NExpert > 0 {
					want[a+"expert_count"] = uint32(4)
					want[a+"expert_used_count"] = uint32(2)
					want[a+"expert_feed_forward_length"] = uint32(32)
					want[a+"expert_shared_feed_forward_length"] = uint32(64)
				} else {
					want[a+"feed_forward_length"] = uint32(128)
				}
				checkKVs(t, f, want)
				if _, ok := f.Get(a + "attention.recurrent_layers"); ok {
					t.Error("recurrent_layers written by default")
				}
				checkTensors(t, f, qwen35Want(s), typ, convF32)
				for _, v := range readF32(t, path, f, "blk.0.ssm_a") {
					if v >= -0.5 || v < -1.5 {
						t.Fatalf("ssm_a value %g, want a decay in [-1.5, -0.5)", v)
					}
				}
			})
		}
	}
	s := Qwen35Tiny()
	s.RecurrentLayers = true
	f, _ := openModel(t, s)
	checkKVs(t, f, map[string]any{"qwen35.attention.recurrent_layers": []bool{true, true, true, false, true, true, true, false}})
}

func gemma4Want(s Gemma4Spec) map[string][]uint64 {
	u := func(v ...int) []uint64 {
		r := make([]uint64, len(v))
		for i, x := range v {
			r[i] = uint64(x)
		}
		return r
	}
	nv := len(vocabTokens)
	e, pl := s.NEmbd, s.NEmbdPerLayer
	w := map[string][]uint64{
		"token_embd.weight":           u(e, nv),
		"per_layer_token_embd.weight": u(pl*s.NLayer, nv),
		"per_layer_model_proj.weight": u(e, pl*s.NLayer),
		"per_layer_proj_norm.weight":  u(pl),
		"output_norm.weight":          u(e),
		"rope_freqs.weight":           u(s.HeadDimFull / 2),
	}
	for i := 0; i < s.NLayer; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		hd := s.HeadDimSWA
		if (i+1)%s.FullEvery == 0 {
			hd = s.HeadDimFull
		}
		ff := s.NFF
		shared := i >= s.NLayer-s.NKVShared
		if shared {
			ff *= 2
		}
		w[p+"attn_norm.weight"] = u(e)
		w[p+"attn_q.weight"] = u(e, hd*s.NHead)
		if !shared || !s.OmitSharedKV {
			w[p+"attn_k.weight"] = u(e, hd*s.NHeadKV)
			w[p+"attn_v.weight"] = u(e, hd*s.NHeadKV)
			w[p+"attn_k_norm.weight"] = u(hd)
		}
		w[p+"attn_output.weight"] = u(hd*s.NHead, e)
		w[p+"attn_q_norm.weight"] = u(hd)
		w[p+"post_attention_norm.weight"] = u(e)
		w[p+"layer_output_scale.weight"] = u(1)
		w[p+"ffn_norm.weight"] = u(e)
		w[p+"ffn_gate.weight"] = u(e, ff)
		w[p+"ffn_up.weight"] = u(e, ff)
		w[p+"ffn_down.weight"] = u(ff, e)
		w[p+"post_ffw_norm.weight"] = u(e)
		w[p+"inp_gate.weight"] = u(e, pl)
		w[p+"proj.weight"] = u(pl, e)
		w[p+"post_norm.weight"] = u(e)
	}
	return w
}

func TestGemma4Layout(t *testing.T) {
	for _, omit := range []bool{false, true} {
		for _, typ := range []TensorType{F32, Q8_0} {
			s := Gemma4Tiny()
			s.Type, s.OmitSharedKV = typ, omit
			t.Run(fmt.Sprintf("%v/omit=%v", typ, omit), func(t *testing.T) {
				f, path := openModel(t, s)
				if f.Arch() != "gemma4" || f.ParamCount() != uint64(s.ParamCount()) {
					t.Errorf("arch %s params %d", f.Arch(), f.ParamCount())
				}
				checkKVs(t, f, map[string]any{
					"gemma4.block_count":                      uint32(8),
					"gemma4.feed_forward_length":              []int32{128, 128, 128, 128, 256, 256, 256, 256},
					"gemma4.attention.head_count":             uint32(4),
					"gemma4.attention.head_count_kv":          uint32(1),
					"gemma4.attention.key_length":             uint32(32),
					"gemma4.attention.value_length":           uint32(32),
					"gemma4.attention.key_length_swa":         uint32(16),
					"gemma4.attention.value_length_swa":       uint32(16),
					"gemma4.rope.dimension_count":             uint32(32),
					"gemma4.rope.dimension_count_swa":         uint32(16),
					"gemma4.attention.sliding_window":         uint32(16),
					"gemma4.attention.sliding_window_pattern": []bool{true, true, true, false, true, true, true, false},
					"gemma4.attention.shared_kv_layers":       uint32(4),
					"gemma4.embedding_length_per_layer_input": uint32(16),
					"gemma4.final_logit_softcapping":          float32(30),
					"tokenizer.ggml.model":                    "gemma4",
				})
				checkTensors(t, f, gemma4Want(s), typ, convF32)
				rf := readF32(t, path, f, "rope_freqs.weight")
				if !reflect.DeepEqual(rf, []float32{1, 1, 1, 1, 1e30, 1e30, 1e30, 1e30, 1e30, 1e30, 1e30, 1e30, 1e30, 1e30, 1e30, 1e30}) {
					t.Errorf("rope_freqs %v", rf)
				}
				if v := readF32(t, path, f, "blk.1.layer_output_scale.weight"); v[0] == 1 {
					t.Errorf("layer_output_scale is 1, a no-op")
				}
			})
		}
	}
}

func TestArchWriteDeterministic(t *testing.T) {
	for _, m := range []archModel{Qwen35Tiny(), Qwen35MoETiny(), Gemma4Tiny()} {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		if err := m.Write(a); err != nil {
			t.Fatal(err)
		}
		if err := m.Write(b); err != nil {
			t.Fatal(err)
		}
		ba, _ := os.ReadFile(a)
		bb, _ := os.ReadFile(b)
		if !bytes.Equal(ba, bb) {
			t.Errorf("%T: two writes differ", m)
		}
		if len(ba) > 4<<20 {
			t.Errorf("%T: tiny model is %d bytes", m, len(ba))
		}
	}
	s := Qwen35Tiny()
	s.Seed++
	f1, p1 := openModel(t, Qwen35Tiny())
	f2, p2 := openModel(t, s)
	if reflect.DeepEqual(readF32(t, p1, f1, "blk.0.ssm_out.weight"), readF32(t, p2, f2, "blk.0.ssm_out.weight")) {
		t.Error("seed does not change the weights")
	}
}

func TestArchBenchSizes(t *testing.T) {
	for _, m := range []archModel{Qwen35Bench500M(Q8_0), Qwen35MoEBench(Q8_0), Gemma4Bench(Q8_0)} {
		if n := m.ParamCount(); n < 400e6 || n > 700e6 {
			t.Errorf("%T: %d parameters, want about 0.5B", m, n)
		}
	}
	for _, s := range []Qwen35Spec{Qwen35Bench500M(Q8_0), Qwen35MoEBench(Q8_0)} {
		if err := s.Validate(); err != nil {
			t.Error(err)
		}
	}
	if err := Gemma4Bench(Q8_0).Validate(); err != nil {
		t.Error(err)
	}
}

func TestArchValidate(t *testing.T) {
	q := func(f func(*Qwen35Spec)) Qwen35Spec { s := Qwen35Tiny(); f(&s); return s }
	g := func(f func(*Gemma4Spec)) Gemma4Spec { s := Gemma4Tiny(); f(&s); return s }
	bad := map[string]interface{ Validate() error }{
		"qwen no layers":      q(func(s *Qwen35Spec) { s.NLayer = 0 }),
		"qwen heads":          q(func(s *Qwen35Spec) { s.NHeadKV = 3 }),
		"qwen lin heads":      q(func(s *Qwen35Spec) { s.LinValueHeads = 3 }),
		"qwen rope":           q(func(s *Qwen35Spec) { s.RopeDim = 64 }),
		"qwen sections":       q(func(s *Qwen35Spec) { s.RopeSections = [4]int{4, 4, 4, 0} }),
		"qwen dense no ff":    q(func(s *Qwen35Spec) { s.NFF = 0 }),
		"moe used > experts":  q(func(s *Qwen35Spec) { *s = Qwen35MoETiny(); s.NExpertUsed = 5 }),
		"qwen type":           q(func(s *Qwen35Spec) { s.Type = 99 }),
		"gemma shared all":    g(func(s *Gemma4Spec) { s.NKVShared = 8 }),
		"gemma shared donors": g(func(s *Gemma4Spec) { s.NKVShared = 3 }),
		"gemma heads":         g(func(s *Gemma4Spec) { s.NHeadKV = 3 }),
		"gemma head dim":      g(func(s *Gemma4Spec) { s.HeadDimFull = 12 }),
	}
	for name, s := range bad {
		if s.Validate() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := (Qwen35Spec{}).Write(filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("zero spec written")
	}
}

// Every BPE merge joins two tokens into a third, and the control tokens
// sit where the exported ids say.
func TestBPEVocab(t *testing.T) {
	toks, types, merges := BPEVocab()
	id := map[string]int{}
	for i, tok := range toks {
		if _, dup := id[tok]; dup {
			t.Fatalf("duplicate token %q", tok)
		}
		id[tok] = i
	}
	for _, m := range merges {
		l, r, ok := strings.Cut(m, " ")
		if _, inL := id[l]; !ok || !inL {
			t.Fatalf("merge %q: left part not a token", m)
		}
		if _, inR := id[r]; !inR {
			t.Fatalf("merge %q: right part not a token", m)
		}
		if _, in := id[l+r]; !in {
			t.Fatalf("merge %q: result not a token", m)
		}
	}
	for name, i := range map[string]int{BPEEndOfText: BPETokEndOfText, BPEImStart: BPETokImStart, BPEImEnd: BPETokImEnd} {
		if toks[i] != name || types[i] != TypeControl {
			t.Errorf("token %d is %q type %d, want control %s", i, toks[i], types[i], name)
		}
	}
	if id["Ġthe"] == 0 || id["Ċ"] == 0 || byteLevel(" é") != "ĠÃ©" {
		t.Error("byte-level spelling")
	}
	for _, m := range spmMerges(vocabTokens, vocabTypes) {
		l, r, _ := strings.Cut(m, " ")
		if !contains(vocabTokens, l) || !contains(vocabTokens, r) || !contains(vocabTokens, l+r) {
			t.Fatalf("gemma4 merge %q is not token + token = token", m)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Scales adds a ".scale" beside exactly the weights llama.cpp looks for.
func TestArchScales(t *testing.T) {
	for _, m := range []archModel{
		func() archModel { s := Qwen35MoETiny(); s.Scales = true; return s }(),
		func() archModel { s := Gemma4Tiny(); s.Scales = true; return s }(),
	} {
		f, path := openModel(t, m)
		names := map[string]gguf.TensorInfo{}
		for _, ti := range f.Tensors {
			names[ti.Name] = ti
		}
		n := 0
		for name, ti := range names {
			base, ok := strings.CutSuffix(name, ".scale")
			if !ok {
				continue
			}
			n++
			w, ok := names[base+".weight"]
			if !ok || ti.Type != gguf.TypeF32 {
				t.Errorf("%s: no weight %s.weight, or not F32", name, base)
			}
			want := []uint64{1}
			if len(w.Dims) == 3 {
				want = []uint64{w.Dims[2]}
			}
			if !reflect.DeepEqual(ti.Dims, want) {
				t.Errorf("%s dims %v, want %v", name, ti.Dims, want)
			}
			for _, v := range readF32(t, path, f, name) {
				if v < 0.75 || v > 1.2 {
					t.Errorf("%s value %g", name, v)
				}
			}
		}
		for _, want := range []string{"blk.0.attn_qkv.scale", "blk.0.ssm_out.scale", "blk.3.attn_q.scale", "blk.0.ffn_down_exps.scale", "blk.0.ffn_up_shexp.scale"} {
			if _, ok := names[want]; !ok && f.Arch() == "qwen35moe" {
				t.Errorf("no %s", want)
			}
		}
		if n < 20 {
			t.Errorf("%s: %d scales", f.Arch(), n)
		}
		for _, never := range []string{"blk.0.ssm_conv1d.scale", "blk.0.ffn_gate_inp.scale", "token_embd.scale", "output.scale"} {
			if _, ok := names[never]; ok {
				t.Errorf("unexpected %s", never)
			}
		}
	}
}

// A fused tensor holds exactly the rows of the tensors it replaces: q+gate,
// k, v for attn_qkv; per expert gate then up for ffn_gate_up_exps.
func TestArchFused(t *testing.T) {
	split := Qwen35MoETiny()
	fused := split
	fused.FuseQKV, fused.FuseGateUpExps = true, true
	fs, ps := openModel(t, split)
	ff, pf := openModel(t, fused)
	names := map[string]bool{}
	for _, ti := range ff.Tensors {
		names[ti.Name] = true
	}
	for _, gone := range []string{"blk.3.attn_q.weight", "blk.3.attn_k.weight", "blk.3.attn_v.weight", "blk.0.ffn_gate_exps.weight", "blk.0.ffn_up_exps.weight"} {
		if names[gone] {
			t.Errorf("fused file still has %s", gone)
		}
	}
	if !names["blk.0.attn_qkv.weight"] || !names["blk.0.attn_gate.weight"] {
		t.Error("DeltaNet layer lost its own attn_qkv/attn_gate")
	}
	q := readF32(t, ps, fs, "blk.3.attn_q.weight")
	k := readF32(t, ps, fs, "blk.3.attn_k.weight")
	v := readF32(t, ps, fs, "blk.3.attn_v.weight")
	want := append(append(append([]float32{}, q...), k...), v...)
	if got := readF32(t, pf, ff, "blk.3.attn_qkv.weight"); !reflect.DeepEqual(got, want) {
		t.Error("fused attn_qkv is not q, k, v")
	}
	g := readF32(t, ps, fs, "blk.0.ffn_gate_exps.weight")
	u := readF32(t, ps, fs, "blk.0.ffn_up_exps.weight")
	per := len(g) / split.NExpert
	want = nil
	for x := 0; x < split.NExpert; x++ {
		want = append(want, g[x*per:(x+1)*per]...)
		want = append(want, u[x*per:(x+1)*per]...)
	}
	if got := readF32(t, pf, ff, "blk.0.ffn_gate_up_exps.weight"); !reflect.DeepEqual(got, want) {
		t.Error("fused ffn_gate_up_exps is not gate then up per expert")
	}
	// Everything else is the same tensor with the same values.
	if !reflect.DeepEqual(readF32(t, ps, fs, "blk.0.ssm_out.weight"), readF32(t, pf, ff, "blk.0.ssm_out.weight")) {
		t.Error("fusing changed an unfused tensor")
	}
	for _, ti := range ff.Tensors {
		if ti.Name == "blk.3.attn_qkv.weight" && !reflect.DeepEqual(ti.Dims, []uint64{64, 2*32*4 + 2*32*2}) {
			t.Errorf("attn_qkv dims %v", ti.Dims)
		}
		if ti.Name == "blk.0.ffn_gate_up_exps.weight" && !reflect.DeepEqual(ti.Dims, []uint64{64, 64, 4}) {
			t.Errorf("ffn_gate_up_exps dims %v", ti.Dims)
		}
	}

	gs := Gemma4Tiny()
	gf := gs
	gf.FuseQKV = true
	f1, p1 := openModel(t, gs)
	f2, p2 := openModel(t, gf)
	want = append(append(readF32(t, p1, f1, "blk.3.attn_q.weight"), readF32(t, p1, f1, "blk.3.attn_k.weight")...), readF32(t, p1, f1, "blk.3.attn_v.weight")...)
	if got := readF32(t, p2, f2, "blk.3.attn_qkv.weight"); !reflect.DeepEqual(got, want) {
		t.Error("gemma4 fused attn_qkv is not q, k, v")
	}
}

// MTP adds one attention block after the trunk with the nextn tensors, and
// leaves the trunk's tensors as they were.
func TestQwen35MTP(t *testing.T) {
	for _, base := range []Qwen35Spec{Qwen35Tiny(), Qwen35MoETiny()} {
		s := base
		s.MTP, s.RecurrentLayers = true, true
		f, path := openModel(t, s)
		a := s.Arch() + "."
		checkKVs(t, f, map[string]any{
			a + "block_count":                uint32(9),
			a + "nextn_predict_layers":       uint32(1),
			a + "attention.recurrent_layers": []bool{true, true, true, false, true, true, true, false, false},
		})
		want := qwen35Want(base)
		// The MTP block is laid out like full-attention layer 3, plus nextn.
		for name, dims := range qwen35Want(base) {
			if rest, ok := strings.CutPrefix(name, "blk.3."); ok {
				want["blk.8."+rest] = dims
			}
		}
		e := uint64(s.NEmbd)
		want["blk.8.nextn.eh_proj.weight"] = []uint64{2 * e, e}
		for _, n := range []string{"enorm", "hnorm", "shared_head_norm"} {
			want["blk.8.nextn."+n+".weight"] = []uint64{e}
		}
		checkTensors(t, f, want, s.Type, func(name string) bool {
			return convF32(name) || strings.HasSuffix(name, "norm.weight")
		})
		f0, p0 := openModel(t, base)
		if !reflect.DeepEqual(readF32(t, path, f, "blk.7.attn_q.weight"), readF32(t, p0, f0, "blk.7.attn_q.weight")) {
			t.Error("MTP changed a trunk tensor")
		}
	}
}
