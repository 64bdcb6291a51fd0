package goengine_test

// Tiny models in upstream llama.cpp's GGUF layout (as its converter
// writes qwen35, qwen35moe and gemma4: names, shapes, metadata), with
// deterministic random weights. Variants exercise the optional parts of
// the layout: fused Q/K/V and gate/up experts, MTP layers, the
// recurrent-layer array, per-tensor scales.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

type kv struct {
	k string
	v any
}

type tensorData struct {
	name string
	dims []uint64
	data []float32
	f16  bool // stored as F16 zeros (for type errors; values are not kept)
}

func (t tensorData) bytes() uint64 {
	if t.f16 {
		return 2 * uint64(len(t.data))
	}
	return 4 * uint64(len(t.data))
}

type umodel struct {
	arch    string
	kvs     []kv
	tensors []tensorData
}

func (m *umodel) set(k string, v any) {
	full := k
	if !hasPrefix(k, "general.") && !hasPrefix(k, "tokenizer.") {
		full = m.arch + "." + k
	}
	for i := range m.kvs {
		if m.kvs[i].k == full {
			m.kvs[i].v = v
			return
		}
	}
	m.kvs = append(m.kvs, kv{full, v})
}

func (m *umodel) del(k string) {
	m.kvs = slices.DeleteFunc(m.kvs, func(e kv) bool { return e.k == k || e.k == m.arch+"."+k })
}

func (m *umodel) tensor(name string) *tensorData {
	for i := range m.tensors {
		if m.tensors[i].name == name {
			return &m.tensors[i]
		}
	}
	return nil
}

func (m *umodel) drop(name string) {
	m.tensors = slices.DeleteFunc(m.tensors, func(t tensorData) bool { return t.name == name })
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// rng is a splitmix64 stream: weights depend only on (seed, tensor name).
type rng struct{ s uint64 }

func newRNG(seed uint64, name string) *rng {
	h := seed ^ 0x9e3779b97f4a7c15
	for _, c := range []byte(name) {
		h = (h ^ uint64(c)) * 0x100000001b3
	}
	return &rng{h}
}

func (r *rng) next() float32 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float32(z>>40)/float32(1<<24)*2 - 1 // [-1, 1)
}

type gen struct {
	m    *umodel
	seed uint64
	amp  float32 // weight scale: see weightAmp
}

// add appends a tensor of values base + amp·U(-1,1).
func (g *gen) add(name string, base, amp float32, dims ...uint64) {
	n := uint64(1)
	for _, d := range dims {
		n *= d
	}
	r := newRNG(g.seed, name)
	data := make([]float32, n)
	for i := range data {
		data[i] = base + amp*r.next()
	}
	g.m.tensors = append(g.m.tensors, tensorData{name: name, dims: dims, data: data})
}

func (g *gen) weight(name string, dims ...uint64) {
	g.add(name, 0, g.amp/float32(math.Sqrt(float64(dims[0]))), dims...)
}

// Weight scales: large enough that greedy picks have clear top-1/top-2
// margins (robust to rounding), small enough that the continuation does
// not settle into repeating one token (gemma4's PLE and softcap make it
// saturate sooner).
const qwenAmp, gemmaAmp = 3, 1.5

func (g *gen) norm(name string, n uint64) { g.add(name, 1, 0.1, n) }

func vocabKVs(m *umodel) {
	toks, scores, types := synth.Vocab()
	m.set("tokenizer.ggml.model", "llama")
	m.set("tokenizer.ggml.tokens", toks)
	m.set("tokenizer.ggml.scores", scores)
	m.set("tokenizer.ggml.token_type", types)
	m.set("tokenizer.ggml.bos_token_id", uint32(1))
	m.set("tokenizer.ggml.eos_token_id", uint32(2))
	m.set("tokenizer.ggml.unknown_token_id", uint32(0))
}

func nVocab() uint64 { toks, _, _ := synth.Vocab(); return uint64(len(toks)) }

// qwenOpts choose the optional parts of a qwen35 layout.
type qwenOpts struct {
	moe          bool
	fuseQKV      bool // attention layers store attn_qkv, not attn_q/k/v
	fuseGateUp   bool // experts store ffn_gate_up_exps
	mtp          bool // one MTP (nextn) block after the trunk
	recurrentArr bool // attention.recurrent_layers instead of the interval
}

// qwen35 is a 4-layer hybrid (3 Gated DeltaNet layers, then attention),
// shaped like Qwen3.5's converter output: norms already have +1 applied,
// ssm_a is -exp(A_log), V heads in tiled order (2 K heads, 4 V heads).
func qwen35(o qwenOpts) *umodel {
	arch := "qwen35"
	if o.moe {
		arch = "qwen35moe"
	}
	m := &umodel{arch: arch}
	g := &gen{m, 35, qwenAmp}
	const (
		nEmbd, nHead, nKV, hd, nFF = 64, 4, 2, 16, 128
		nLayer                     = 4
		dConv, dState, nGroup, dt  = 4, 16, 2, 4
		nExp, nUsed, ffExp, ffSh   = 4, 2, 32, 48
	)
	keyDim, valueDim := uint64(dState*nGroup), uint64(dState*dt)
	blocks := nLayer
	if o.mtp {
		blocks++
	}
	m.set("general.architecture", arch)
	m.set("general.name", "upstream-"+arch+"-tiny")
	m.set("block_count", uint32(blocks))
	m.set("context_length", uint32(512))
	m.set("embedding_length", uint32(nEmbd))
	m.set("feed_forward_length", uint32(nFF))
	m.set("attention.head_count", uint32(nHead))
	m.set("attention.head_count_kv", uint32(nKV))
	m.set("attention.key_length", uint32(hd))
	m.set("attention.value_length", uint32(hd))
	m.set("attention.layer_norm_rms_epsilon", float32(1e-6))
	m.set("rope.freq_base", float32(1e7))
	m.set("rope.dimension_count", uint32(8))
	m.set("rope.dimension_sections", []int32{2, 1, 1, 0})
	m.set("ssm.conv_kernel", uint32(dConv))
	m.set("ssm.state_size", uint32(dState))
	m.set("ssm.group_count", uint32(nGroup))
	m.set("ssm.time_step_rank", uint32(dt))
	m.set("ssm.inner_size", uint32(dState*dt))
	m.set("full_attention_interval", uint32(4))
	if o.recurrentArr {
		rec := make([]bool, blocks)
		for i := range nLayer {
			rec[i] = (i+1)%4 != 0
		}
		m.set("attention.recurrent_layers", rec)
	}
	if o.mtp {
		m.set("nextn_predict_layers", uint32(1))
	}
	if o.moe {
		m.set("expert_count", uint32(nExp))
		m.set("expert_used_count", uint32(nUsed))
		m.set("expert_feed_forward_length", uint32(ffExp))
		m.set("expert_shared_feed_forward_length", uint32(ffSh))
	}
	vocabKVs(m)
	nv := nVocab()
	g.weight("token_embd.weight", nEmbd, nv)
	g.norm("output_norm.weight", nEmbd)
	g.weight("output.weight", nEmbd, nv)
	for i := range blocks {
		p := fmt.Sprintf("blk.%d.", i)
		g.norm(p+"attn_norm.weight", nEmbd)
		g.norm(p+"post_attention_norm.weight", nEmbd)
		if i < nLayer && (i+1)%4 != 0 {
			g.weight(p+"attn_qkv.weight", nEmbd, 2*keyDim+valueDim)
			g.weight(p+"attn_gate.weight", nEmbd, valueDim)
			g.add(p+"ssm_conv1d.weight", 0, 0.5, dConv, 2*keyDim+valueDim)
			g.add(p+"ssm_dt.bias", 0, 0.5, dt)
			g.add(p+"ssm_a", -1, 0.5, dt)
			g.weight(p+"ssm_beta.weight", nEmbd, dt)
			g.weight(p+"ssm_alpha.weight", nEmbd, dt)
			g.norm(p+"ssm_norm.weight", dState)
			g.weight(p+"ssm_out.weight", valueDim, nEmbd)
		} else {
			q, k := uint64(hd*nHead*2), uint64(hd*nKV)
			if o.fuseQKV {
				// Same values as the split tensors: rows q, then k, then v.
				g.weight(p+"attn_q.weight", nEmbd, q)
				g.weight(p+"attn_k.weight", nEmbd, k)
				g.weight(p+"attn_v.weight", nEmbd, k)
				fuse(m, p+"attn_qkv.weight", p+"attn_q.weight", p+"attn_k.weight", p+"attn_v.weight")
			} else {
				g.weight(p+"attn_q.weight", nEmbd, q)
				g.weight(p+"attn_k.weight", nEmbd, k)
				g.weight(p+"attn_v.weight", nEmbd, k)
			}
			g.weight(p+"attn_output.weight", hd*nHead, nEmbd)
			g.norm(p+"attn_q_norm.weight", hd)
			g.norm(p+"attn_k_norm.weight", hd)
		}
		if !o.moe {
			g.weight(p+"ffn_gate.weight", nEmbd, nFF)
			g.weight(p+"ffn_down.weight", nFF, nEmbd)
			g.weight(p+"ffn_up.weight", nEmbd, nFF)
		} else {
			g.weight(p+"ffn_gate_inp.weight", nEmbd, nExp)
			g.weight(p+"ffn_gate_exps.weight", nEmbd, ffExp, nExp)
			g.weight(p+"ffn_up_exps.weight", nEmbd, ffExp, nExp)
			if o.fuseGateUp {
				fuse(m, p+"ffn_gate_up_exps.weight", p+"ffn_gate_exps.weight", p+"ffn_up_exps.weight")
			}
			g.weight(p+"ffn_down_exps.weight", ffExp, nEmbd, nExp)
			g.weight(p+"ffn_gate_inp_shexp.weight", nEmbd)
			g.weight(p+"ffn_gate_shexp.weight", nEmbd, ffSh)
			g.weight(p+"ffn_up_shexp.weight", nEmbd, ffSh)
			g.weight(p+"ffn_down_shexp.weight", ffSh, nEmbd)
		}
		if i >= nLayer { // the MTP block's own tensors
			g.weight(p+"nextn.eh_proj.weight", 2*nEmbd, nEmbd)
			g.norm(p+"nextn.enorm.weight", nEmbd)
			g.norm(p+"nextn.hnorm.weight", nEmbd)
			g.norm(p+"nextn.shared_head_norm.weight", nEmbd)
		}
	}
	return m
}

// fuse replaces the named tensors with one concatenated along ne[1] (per
// expert for 3-D tensors), as the converter's --fuse-* options do.
func fuse(m *umodel, name string, parts ...string) {
	var ts []tensorData
	for _, p := range parts {
		ts = append(ts, *m.tensor(p))
		m.drop(p)
	}
	d0 := ts[0].dims[0]
	experts := uint64(1)
	if len(ts[0].dims) == 3 {
		experts = ts[0].dims[2]
	}
	rows := uint64(0)
	for _, t := range ts {
		rows += t.dims[1]
	}
	var data []float32
	for e := range experts {
		for _, t := range ts {
			per := d0 * t.dims[1]
			data = append(data, t.data[e*per:(e+1)*per]...)
		}
	}
	dims := []uint64{d0, rows}
	if len(ts[0].dims) == 3 {
		dims = append(dims, experts)
	}
	m.tensors = append(m.tensors, tensorData{name: name, dims: dims, data: data})
}

// gemma4 is a Gemma 4 text model: layers 0-2 sliding-window, layer 3 full
// attention (another head size and KV head count, proportional RoPE),
// per-layer embeddings (PLE) and layer output scales. With sharedKV a
// fifth, sliding-window layer reuses layer 2's KV.
func gemma4(fuseQKV, sharedKV bool) *umodel {
	m := &umodel{arch: "gemma4"}
	g := &gen{m, 4, gemmaAmp}
	const (
		nEmbd, nHead, nFF, nPL = 64, 4, 128, 8
		hdSwa, hdFull          = 16, 32
		kvSwa, kvFull          = 2, 1
	)
	swa := []bool{true, true, true, false}
	if sharedKV {
		swa = append(swa, true)
	}
	n := uint64(len(swa))
	kvs := make([]int32, n)
	for i, s := range swa {
		kvs[i] = kvFull
		if s {
			kvs[i] = kvSwa
		}
	}
	m.set("general.architecture", "gemma4")
	m.set("general.name", "upstream-gemma4-tiny")
	m.set("block_count", uint32(n))
	m.set("context_length", uint32(512))
	m.set("embedding_length", uint32(nEmbd))
	m.set("feed_forward_length", uint32(nFF))
	m.set("attention.head_count", uint32(nHead))
	m.set("attention.head_count_kv", kvs)
	m.set("attention.key_length", uint32(hdFull))
	m.set("attention.value_length", uint32(hdFull))
	m.set("attention.key_length_swa", uint32(hdSwa))
	m.set("attention.value_length_swa", uint32(hdSwa))
	m.set("attention.layer_norm_rms_epsilon", float32(1e-6))
	m.set("attention.sliding_window", uint32(8))
	m.set("attention.sliding_window_pattern", swa)
	if sharedKV {
		m.set("attention.shared_kv_layers", uint32(1))
	} else {
		m.set("attention.shared_kv_layers", uint32(0))
	}
	m.set("embedding_length_per_layer_input", uint32(nPL))
	m.set("rope.freq_base", float32(1e6))
	m.set("rope.freq_base_swa", float32(1e4))
	m.set("rope.dimension_count", uint32(hdFull))
	m.set("rope.dimension_count_swa", uint32(hdSwa))
	m.set("final_logit_softcapping", float32(30))
	vocabKVs(m)
	nv := nVocab()
	g.weight("token_embd.weight", nEmbd, nv)
	g.norm("output_norm.weight", nEmbd)
	g.weight("per_layer_token_embd.weight", nPL*n, nv)
	g.weight("per_layer_model_proj.weight", nEmbd, nPL*n)
	g.norm("per_layer_proj_norm.weight", nPL)
	// Proportional RoPE: rotate the first quarter of the pairs only.
	freqs := make([]float32, hdFull/2)
	for i := range freqs {
		freqs[i] = 1
		if i >= hdFull/8 {
			freqs[i] = 1e30
		}
	}
	m.tensors = append(m.tensors, tensorData{name: "rope_freqs.weight", dims: []uint64{hdFull / 2}, data: freqs})
	for i, s := range swa {
		p := fmt.Sprintf("blk.%d.", i)
		hd, kv := uint64(hdFull), uint64(kvFull)
		if s {
			hd, kv = hdSwa, kvSwa
		}
		g.norm(p+"attn_norm.weight", nEmbd)
		g.weight(p+"attn_q.weight", nEmbd, hd*nHead)
		hasKV := !sharedKV || uint64(i) < n-1
		if hasKV {
			g.weight(p+"attn_k.weight", nEmbd, hd*kv)
			g.weight(p+"attn_v.weight", nEmbd, hd*kv)
			g.norm(p+"attn_k_norm.weight", hd)
			if fuseQKV {
				fuse(m, p+"attn_qkv.weight", p+"attn_q.weight", p+"attn_k.weight", p+"attn_v.weight")
			}
		}
		g.weight(p+"attn_output.weight", hd*nHead, nEmbd)
		g.norm(p+"attn_q_norm.weight", hd)
		g.norm(p+"post_attention_norm.weight", nEmbd)
		g.add(p+"layer_output_scale.weight", 0.8, 0.1, 1)
		g.norm(p+"ffn_norm.weight", nEmbd)
		g.weight(p+"ffn_gate.weight", nEmbd, nFF)
		g.weight(p+"ffn_up.weight", nEmbd, nFF)
		g.weight(p+"ffn_down.weight", nFF, nEmbd)
		g.norm(p+"post_ffw_norm.weight", nEmbd)
		g.weight(p+"inp_gate.weight", nEmbd, nPL)
		g.weight(p+"proj.weight", nPL, nEmbd)
		g.norm(p+"post_norm.weight", nEmbd)
	}
	return m
}

// write stores m as a GGUF v3 file (F32 tensors, 32-byte alignment).
func (m *umodel) write(t *testing.T, path string) string {
	t.Helper()
	var b []byte
	u32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	u64 := func(v uint64) { b = binary.LittleEndian.AppendUint64(b, v) }
	str := func(s string) { u64(uint64(len(s))); b = append(b, s...) }
	b = append(b, "GGUF"...)
	u32(3)
	u64(uint64(len(m.tensors)))
	u64(uint64(len(m.kvs)))
	for _, e := range m.kvs {
		str(e.k)
		switch v := e.v.(type) {
		case uint32:
			u32(4)
			u32(v)
		case uint64:
			u32(10)
			u64(v)
		case int32:
			u32(5)
			u32(uint32(v))
		case float32:
			u32(6)
			u32(math.Float32bits(v))
		case bool:
			u32(7)
			b = append(b, map[bool]byte{true: 1}[v])
		case string:
			u32(8)
			str(v)
		case []string:
			u32(9)
			u32(8)
			u64(uint64(len(v)))
			for _, s := range v {
				str(s)
			}
		case []int32:
			u32(9)
			u32(5)
			u64(uint64(len(v)))
			for _, x := range v {
				u32(uint32(x))
			}
		case []float32:
			u32(9)
			u32(6)
			u64(uint64(len(v)))
			for _, x := range v {
				u32(math.Float32bits(x))
			}
		case []bool:
			u32(9)
			u32(7)
			u64(uint64(len(v)))
			for _, x := range v {
				b = append(b, map[bool]byte{true: 1}[x])
			}
		default:
			t.Fatalf("metadata %s: unsupported type %T", e.k, e.v)
		}
	}
	align := func(n uint64) uint64 { return (n + 31) / 32 * 32 }
	off := uint64(0)
	for _, tn := range m.tensors {
		str(tn.name)
		u32(uint32(len(tn.dims)))
		for _, d := range tn.dims {
			u64(d)
		}
		u32(map[bool]uint32{true: 1}[tn.f16]) // F32 or F16
		u64(off)
		off = align(off + tn.bytes())
	}
	for len(b)%32 != 0 {
		b = append(b, 0)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.Write(b)
	var pos uint64
	for _, tn := range m.tensors {
		for pos%32 != 0 {
			w.WriteByte(0)
			pos++
		}
		row := make([]byte, tn.bytes())
		for i, v := range tn.data {
			if !tn.f16 {
				binary.LittleEndian.PutUint32(row[4*i:], math.Float32bits(v))
			}
		}
		w.Write(row)
		pos += uint64(len(row))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// gemma4MoE adds Gemma 4 26B-A4B's expert block to every layer of gemma4:
// a router with its own input scale, 4 experts (2 used) with a per-expert
// output scale, run beside the dense MLP.
func gemma4MoE(fuseGateUp bool) *umodel {
	m := gemma4(false, false)
	g := &gen{m, 44, gemmaAmp}
	const nEmbd, nExp, nUsed, ffExp = 64, 4, 2, 32
	m.set("expert_count", uint32(nExp))
	m.set("expert_used_count", uint32(nUsed))
	m.set("expert_feed_forward_length", uint32(ffExp))
	for i := range 4 {
		p := fmt.Sprintf("blk.%d.", i)
		g.weight(p+"ffn_gate_inp.weight", nEmbd, nExp)
		g.add(p+"ffn_gate_inp.scale", 1, 0.3, nEmbd)
		g.norm(p+"pre_ffw_norm_2.weight", nEmbd)
		g.norm(p+"post_ffw_norm_1.weight", nEmbd)
		g.norm(p+"post_ffw_norm_2.weight", nEmbd)
		g.weight(p+"ffn_gate_exps.weight", nEmbd, ffExp, nExp)
		g.weight(p+"ffn_up_exps.weight", nEmbd, ffExp, nExp)
		if fuseGateUp {
			fuse(m, p+"ffn_gate_up_exps.weight", p+"ffn_gate_exps.weight", p+"ffn_up_exps.weight")
		}
		g.weight(p+"ffn_down_exps.weight", ffExp, nEmbd, nExp)
		g.add(p+"ffn_down_exps.scale", 1, 0.5, nExp)
	}
	return m
}

// withScales adds a ".scale" beside every weight upstream scales (one
// value, or one per expert), values in [0.6, 1.4].
func withScales(m *umodel) *umodel {
	scaled := []string{"attn_q", "attn_k", "attn_v", "attn_output", "attn_qkv", "attn_gate",
		"ffn_gate", "ffn_down", "ffn_up", "ffn_gate_shexp", "ffn_down_shexp", "ffn_up_shexp",
		"ffn_gate_exps", "ffn_up_exps", "ssm_out", "ssm_alpha", "ssm_beta"}
	if m.arch != "gemma4" {
		scaled = append(scaled, "ffn_down_exps") // gemma4's is its per-expert scale, always there
	}
	r := newRNG(7, "scales")
	for _, t := range slices.Clone(m.tensors) {
		base, ok := strings.CutSuffix(t.name, ".weight")
		if !ok || !strings.HasPrefix(base, "blk.") || !slices.Contains(scaled, base[strings.LastIndexByte(base, '.')+1:]) {
			continue
		}
		n := uint64(1)
		if len(t.dims) == 3 {
			n = t.dims[2]
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = 1 + 0.4*r.next()
		}
		m.tensors = append(m.tensors, tensorData{name: base + ".scale", dims: []uint64{n}, data: v})
	}
	return m
}
