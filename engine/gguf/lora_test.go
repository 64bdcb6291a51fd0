package gguf

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

// writeModel writes a synthetic model and opens it.
func writeModel(t testing.TB, dir, name string, s synth.Spec) *File {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := synth.Write(path, s); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// writeAdapter writes a synthetic adapter and returns its path.
func writeAdapter(t testing.TB, dir, name string, s synth.LoraSpec) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func tinyLora() synth.LoraSpec { return synth.LoraSpec{Base: synth.Tiny(), Rank: 4, Seed: 3} }

// oneLine fails unless err is a single-line message that starts with
// prefix and contains every part of want.
func oneLine(t *testing.T, err error, prefix string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, prefix) {
		t.Errorf("error %q: want one line starting with %q", msg, prefix)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
}

func TestAdapterFits(t *testing.T) {
	dir := t.TempDir()
	all := []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down", "output", "token_embd"}
	for _, c := range []struct {
		name    string
		typ     synth.TensorType
		targets []string
		pairs   int
	}{
		{"default", synth.F32, nil, 2 * 4},
		{"all", synth.F32, all, 2*7 + 2},
		{"q8 base", synth.Q8_0, all, 2*7 + 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := tinyLora()
			s.Base.Type, s.Targets = c.typ, c.targets
			base := writeModel(t, dir, "m.gguf", s.Base)
			path := writeAdapter(t, dir, "a.gguf", s)
			ad, err := OpenAdapter(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckAdapter(base, ad); err != nil {
				t.Fatal(err)
			}
			if ad.Path != path || len(ad.Tensors) != 2*c.pairs || ad.AdapterAlpha() != 4 || ad.AloraInvocationTokens() != nil {
				t.Errorf("path %q, %d tensors, alpha %g, alora %v", ad.Path, len(ad.Tensors), ad.AdapterAlpha(), ad.AloraInvocationTokens())
			}
			pairs, err := ad.loraPairs()
			if err != nil || len(pairs) != c.pairs {
				t.Fatalf("%d pairs, %v", len(pairs), err)
			}
		})
	}
}

// Open refuses an adapter: it is not a model, and must not be listed or
// loaded as one.
func TestAdapterAsModel(t *testing.T) {
	path := writeAdapter(t, t.TempDir(), "a.gguf", tinyLora())
	_, err := Open(path)
	oneLine(t, err, path+": ", "is a LoRA adapter, not a model", `general.type is "adapter"`)
	if !errors.Is(err, ErrNotModel) || !errors.Is(err, ErrNotGGUF) {
		t.Errorf("%v: not ErrNotModel and ErrNotGGUF", err)
	}
	data, _ := os.ReadFile(path)
	if _, err := Parse(bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrNotModel) {
		t.Errorf("Parse: %v", err)
	}
}

func TestModelAsAdapter(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.gguf")
	if err := synth.Write(plain, synth.Tiny()); err != nil {
		t.Fatal(err)
	}
	typed := filepath.Join(dir, "typed.gguf")
	s := synth.Tiny()
	s.KV = map[string]any{"general.type": "model"}
	if err := synth.Write(typed, s); err != nil {
		t.Fatal(err)
	}
	_, err := OpenAdapter(typed)
	if want := typed + `: is a model, not a LoRA adapter (general.type is "model")`; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrNotAdapter) || !errors.Is(err, ErrNotGGUF) {
		t.Errorf("%v: not ErrNotAdapter and ErrNotGGUF", err)
	}
	// Older models have no general.type; the vocabulary gives them away.
	_, err = OpenAdapter(plain)
	oneLine(t, err, plain+": ", "is a model, not a LoRA adapter")
	if !errors.Is(err, ErrNotAdapter) {
		t.Errorf("%v: not ErrNotAdapter", err)
	}
	// And a model is not a base for a model.
	if _, err := Open(typed); err != nil {
		t.Errorf("Open(model with general.type): %v", err)
	}
}

func TestAdapterMismatch(t *testing.T) {
	dir := t.TempDir()
	base := writeModel(t, dir, "base.gguf", synth.Tiny())
	tiedSpec := synth.Tiny()
	tiedSpec.TiedOutput = true
	tied := writeModel(t, dir, "tied.gguf", tiedSpec)
	wider := tinyLora()
	wider.Base.NEmbd = 96 // head size 24
	deeper := tinyLora()
	deeper.Base.NLayer = 3
	otherArch := tinyLora()
	otherArch.KV = map[string]any{"general.architecture": "qwen3"}
	badOut := tinyLora()
	badOut.Targets = []string{"ffn_up"}
	badOut.ShapeOf = func(name string, d []int) []int {
		if name == "blk.1.ffn_up.weight" {
			return []int{d[0], d[1] * 2}
		}
		return d
	}
	output := tinyLora()
	output.Targets = []string{"output"}
	embd := tinyLora()
	embd.Targets = []string{"token_embd"}
	experts := tinyLora()
	experts.ShapeOf = func(name string, d []int) []int { return append(d, 2) }
	embdWide := tinyLora()
	embdWide.Base.NEmbd = 96
	embdWide.Targets = []string{"token_embd"}

	cases := []struct {
		name string
		base *File
		s    synth.LoraSpec
		want string // after "adapter A does not fit model B: "
	}{
		{"wider", base, wider, "blk.0.attn_q.weight.lora_a is [96 4] but the model's blk.0.attn_q.weight is [64 64]"},
		{"deeper", base, deeper, "blk.2.attn_q.weight.lora_a adapts blk.2.attn_q.weight, which the model does not have"},
		{"arch", base, otherArch, `the adapter is for architecture "qwen3" but the model is "llama"`},
		{"lora_b", base, badOut, "blk.1.ffn_up.weight.lora_b is [4 256] but the model's blk.1.ffn_up.weight is [64 128]"},
		{"output of tied", tied, output, "output.weight.lora_a adapts output.weight, which the model does not have"},
		{"embd of tied", tied, embd, "token_embd.weight.lora_a adapts token_embd.weight, which this model also uses as its output layer"},
		{"embd", base, embdWide, "token_embd.weight.lora_b is [4 96] but the model's token_embd.weight is [64 "},
		{"outer dims", base, experts, "blk.0.attn_q.weight.lora_a is [64 4 2] but the model's blk.0.attn_q.weight is [64 64]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeAdapter(t, dir, c.name+".gguf", c.s)
			ad, err := OpenAdapter(path)
			if err != nil {
				t.Fatal(err) // each is a well-formed adapter, just not for this model
			}
			err = CheckAdapter(c.base, ad)
			oneLine(t, err, "adapter "+path+" does not fit model "+c.base.Path+": ", c.want)
			if !errors.Is(err, ErrMismatch) {
				t.Errorf("%v: not ErrMismatch", err)
			}
		})
	}
	// The embedding pair fits when the model has its own output layer.
	ad, err := OpenAdapter(writeAdapter(t, dir, "embd-ok.gguf", embd))
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckAdapter(base, ad); err != nil {
		t.Error(err)
	}
	if err := CheckAdapter(nil, ad); err == nil {
		t.Error("CheckAdapter(nil, …) succeeded")
	}
	// Files parsed from memory are named by role.
	data, _ := os.ReadFile(writeAdapter(t, dir, "mem.gguf", wider))
	mem, err := ParseAdapter(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	oneLine(t, CheckAdapter(base, mem), "adapter the adapter does not fit model "+base.Path+": ")
}

// adapterTensor is one tensor of a hand-built adapter.
type adapterTensor struct {
	name string
	dims []uint64
	typ  GGMLType
}

// adapterImage builds a GGUF image with the given metadata and tensors
// (zero data), laid out as llama.cpp requires.
func adapterImage(kvs []KV, ts []adapterTensor) []byte {
	var b builder
	b.header(3, uint64(len(ts)), uint64(len(kvs)))
	for _, kv := range kvs {
		b.kv(kv.Key, kv.Value)
	}
	size := func(t adapterTensor) uint64 {
		n := uint64(1)
		for _, d := range t.dims {
			n *= d
		}
		return n / t.typ.BlockSize() * t.typ.TypeSize()
	}
	off := uint64(0)
	for _, t := range ts {
		b.tensor(t.name, t.dims, t.typ, off)
		off += (size(t) + 31) / 32 * 32
	}
	b.align(32)
	for _, t := range ts {
		b.fill(int(size(t)), 0)
		b.align(32)
	}
	return b.b
}

var adapterKVs = []KV{
	{"general.architecture", "llama"},
	{"general.type", "adapter"},
	{"adapter.type", "lora"},
	{"adapter.lora.alpha", float32(8)},
}

// withKV is adapterKVs with key set to v (nil removes it).
func withKV(key string, v any) []KV {
	var out []KV
	found := false
	for _, kv := range adapterKVs {
		if kv.Key == key {
			found = true
			if v == nil {
				continue
			}
			kv.Value = v
		}
		out = append(out, kv)
	}
	if !found && v != nil {
		out = append(out, KV{key, v})
	}
	return out
}

func pair(base string, a, b []uint64) []adapterTensor {
	return []adapterTensor{{base + ".lora_a", a, TypeF32}, {base + ".lora_b", b, TypeF32}}
}

var qPair = pair("blk.0.attn_q.weight", []uint64{64, 4}, []uint64{4, 64})

// Adapters that are wrong on their own, whatever the model.
func TestAdapterInvalid(t *testing.T) {
	dir := t.TempDir()
	cat := func(tss ...[]adapterTensor) []adapterTensor {
		var out []adapterTensor
		for _, ts := range tss {
			out = append(out, ts...)
		}
		return out
	}
	cases := []struct {
		name string
		kvs  []KV
		ts   []adapterTensor
		kind error
		want string
	}{
		{"no general.type", withKV("general.type", nil), qPair, ErrNotAdapter, "is not a LoRA adapter: it has no general.type"},
		{"other general.type", withKV("general.type", "mmproj"), qPair, ErrNotAdapter, `general.type is "mmproj"`},
		{"general.type not a string", withKV("general.type", uint32(1)), qPair, ErrCorrupt, "general.type is a uint32, must be a string"},
		{"one-element array type", withKV("general.type", []string{"adapter"}), qPair, ErrCorrupt, "general.type is an array of string, must be a string"},
		{"no adapter.type", withKV("adapter.type", nil), qPair, ErrNotAdapter, "adapter.type is missing"},
		{"control vector", withKV("adapter.type", "control_vector"), qPair, ErrNotAdapter, `is a "control_vector" adapter, not a LoRA adapter`},
		{"adapter.type not a string", withKV("adapter.type", int32(0)), qPair, ErrCorrupt, "adapter.type is an int32"},
		{"no architecture", withKV("general.architecture", nil), qPair, ErrCorrupt, "general.architecture is missing"},
		{"architecture not a string", withKV("general.architecture", uint8(1)), qPair, ErrCorrupt, "general.architecture is a uint8"},
		{"alpha uint32", withKV("adapter.lora.alpha", uint32(8)), qPair, ErrCorrupt, "adapter.lora.alpha is a uint32, must be a float32"},
		{"alpha f64", withKV("adapter.lora.alpha", 8.0), qPair, ErrCorrupt, "adapter.lora.alpha is a float64"},
		{"alpha NaN", withKV("adapter.lora.alpha", float32(math.NaN())), qPair, ErrCorrupt, "must be a finite number"},
		{"alora int32", withKV("adapter.alora.invocation_tokens", []int32{1, 2}), qPair, ErrCorrupt, "adapter.alora.invocation_tokens is an array of int32, must be an array of uint32"},
		{"alora scalar", withKV("adapter.alora.invocation_tokens", uint32(1)), qPair, ErrCorrupt, "must be an array of uint32"},
		{"no tensors", adapterKVs, nil, ErrCorrupt, "has no LoRA tensors"},
		{"only norms", adapterKVs, []adapterTensor{{"blk.0.attn_norm.weight", []uint64{64}, TypeF32}}, ErrCorrupt, "has no LoRA tensors"},
		{"other tensor", adapterKVs, cat(qPair, []adapterTensor{{"blk.0.attn_q.weight", []uint64{64, 64}, TypeF32}}), ErrCorrupt,
			"tensor blk.0.attn_q.weight is not a LoRA half"},
		{"missing b", adapterKVs, qPair[:1], ErrCorrupt, "blk.0.attn_q.weight.lora_a has no matching blk.0.attn_q.weight.lora_b (LoRA tensors come in pairs)"},
		{"missing a", adapterKVs, cat(qPair[1:], pair("blk.0.attn_k.weight", []uint64{64, 4}, []uint64{4, 32})), ErrCorrupt,
			"blk.0.attn_q.weight.lora_b has no matching blk.0.attn_q.weight.lora_a"},
		{"rank", adapterKVs, pair("blk.0.attn_q.weight", []uint64{64, 8}, []uint64{4, 64}), ErrCorrupt,
			"blk.0.attn_q.weight.lora_a is [64 8] and blk.0.attn_q.weight.lora_b is [4 64], so their ranks (dimension 1 of lora_a and 0 of lora_b) differ: 8 and 4"},
		{"transposed a", adapterKVs, pair("blk.0.attn_q.weight", []uint64{4, 64}, []uint64{4, 64}), ErrCorrupt, "lora_a looks transposed"},
		{"embd rank", adapterKVs, pair("token_embd.weight", []uint64{8, 1000}, []uint64{4, 64}), ErrCorrupt,
			"so their ranks (dimension 0 of both halves, for an embedding) differ: 8 and 4"},
		{"outer dims", adapterKVs, pair("blk.0.ffn_up_exps.weight", []uint64{64, 4, 8}, []uint64{4, 128, 4}), ErrCorrupt,
			"their outer dimensions differ"},
		{"I32 half", adapterKVs, []adapterTensor{{"blk.0.attn_q.weight.lora_a", []uint64{64, 4}, TypeI32}, qPair[1]}, ErrCorrupt,
			"tensor blk.0.attn_q.weight.lora_a is I32; llama.cpp can only apply float or quantized LoRA weights"},
		{"Q8_K half", adapterKVs, []adapterTensor{qPair[0], {"blk.0.attn_q.weight.lora_b", []uint64{256, 64}, TypeQ8_K}}, ErrCorrupt, "is Q8_K"},
		{"duplicate half", adapterKVs, cat(qPair, []adapterTensor{{"blk.0.attn_q.weight.lora_a.lora_a", []uint64{64, 4}, TypeF32}}), ErrCorrupt,
			"tensors blk.0.attn_q.weight.lora_a and blk.0.attn_q.weight.lora_a.lora_a are both the lora_a of blk.0.attn_q.weight"},
		{"empty base", adapterKVs, pair("", []uint64{64, 4}, []uint64{4, 64}), ErrCorrupt, "tensor .lora_a does not name the model tensor"},
		{"odd name", adapterKVs, []adapterTensor{{"a\nb", []uint64{4}, TypeF32}}, ErrCorrupt, `tensor "a\nb" is not a LoRA half`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, "a.gguf")
			if err := os.WriteFile(path, adapterImage(c.kvs, c.ts), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := OpenAdapter(path)
			oneLine(t, err, path+": ", c.want)
			if !errors.Is(err, c.kind) {
				t.Errorf("%v: not %v", err, c.kind)
			}
		})
	}
}

// Adapters llama.cpp accepts that the synth writer does not make.
func TestAdapterValidVariants(t *testing.T) {
	base := writeModel(t, t.TempDir(), "m.gguf", synth.Tiny())
	tokens, _ := base.Get("tokenizer.ggml.tokens")
	nVocab := uint64(arrayLen(tokens))
	cases := []struct {
		name  string
		kvs   []KV
		ts    []adapterTensor
		alpha float32
	}{
		{"no alpha", withKV("adapter.lora.alpha", nil), qPair, 0},
		{"norms ignored", adapterKVs, append([]adapterTensor{{"blk.0.attn_norm.weight", []uint64{64}, TypeF32}}, qPair...), 8},
		{"halves apart, b first", adapterKVs, []adapterTensor{qPair[1], {"blk.1.attn_v.weight.lora_a", []uint64{64, 2}, TypeF32}, qPair[0],
			{"blk.1.attn_v.weight.lora_b", []uint64{2, 32}, TypeF32}}, 8},
		{"ranks differ by pair", adapterKVs, append(pair("blk.1.attn_q.weight", []uint64{64, 16}, []uint64{16, 64}), qPair...), 8},
		{"f16 and q8_0", adapterKVs, []adapterTensor{{"blk.0.attn_q.weight.lora_a", []uint64{64, 32}, TypeF16},
			{"blk.0.attn_q.weight.lora_b", []uint64{32, 64}, TypeQ8_0}, {"blk.0.attn_k.weight.lora_a", []uint64{64, 32}, TypeBF16},
			{"blk.0.attn_k.weight.lora_b", []uint64{32, 32}, TypeQ8_0}}, 8},
		{"rank-1 vectors", adapterKVs, pair("blk.0.attn_q.weight", []uint64{64}, []uint64{1, 64}), 8},
		{"embedding", adapterKVs, pair("token_embd.weight", []uint64{4, nVocab}, []uint64{4, 64}), 8},
		{"alora", withKV("adapter.alora.invocation_tokens", []uint32{5, 6, 7}), qPair, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := adapterImage(c.kvs, c.ts)
			ad, err := ParseAdapter(bytes.NewReader(img), int64(len(img)))
			if err != nil {
				t.Fatal(err)
			}
			if ad.AdapterAlpha() != c.alpha {
				t.Errorf("alpha %g, want %g", ad.AdapterAlpha(), c.alpha)
			}
			if err := CheckAdapter(base, ad); err != nil {
				t.Error(err)
			}
		})
	}
	// The invocation tokens are returned, and must be in the vocabulary.
	img := adapterImage(withKV("adapter.alora.invocation_tokens", []uint32{5, uint32(nVocab)}), qPair)
	ad, err := ParseAdapter(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	if ids := ad.AloraInvocationTokens(); len(ids) != 2 || ids[0] != 5 {
		t.Errorf("invocation tokens %v", ids)
	}
	err = CheckAdapter(base, ad)
	oneLine(t, err, "adapter the adapter does not fit model", "adapter.alora.invocation_tokens has token")
}

// Every cut of a valid adapter is an error (until only trailing padding
// is missing), never a panic.
func TestAdapterTruncated(t *testing.T) {
	dir := t.TempDir()
	path := writeAdapter(t, dir, "a.gguf", tinyLora())
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	full, err := ParseAdapter(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	last := full.Tensors[len(full.Tensors)-1]
	dataEnd := int(full.DataOffset) + int(last.Offset+last.Size)
	for n := 0; n < len(data); n++ {
		_, err := ParseAdapter(bytes.NewReader(data[:n]), int64(n))
		switch {
		case n >= dataEnd:
			if err != nil {
				t.Fatalf("cut at %d (only padding lost): %v", n, err)
			}
		case err == nil:
			t.Fatalf("cut at %d of %d accepted", n, len(data))
		case n >= 4 && !errors.Is(err, ErrTruncated):
			t.Fatalf("cut at %d: %v is not ErrTruncated", n, err)
		case strings.Contains(err.Error(), "\n"):
			t.Fatalf("cut at %d: multi-line error %q", n, err)
		}
	}
	// Through a real file, at a sample of cuts.
	cut := filepath.Join(dir, "cut.gguf")
	for n := 0; n < dataEnd; n += 1 + n/8 {
		if err := os.WriteFile(cut, data[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := OpenAdapter(cut)
		if err == nil || !strings.HasPrefix(err.Error(), cut+": ") {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
}

// Garbage and damaged adapters produce errors, never panics, and
// whatever still parses can be checked against a model.
func TestAdapterGarbage(t *testing.T) {
	dir := t.TempDir()
	base := writeModel(t, dir, "m.gguf", synth.Tiny())
	data, err := os.ReadFile(writeAdapter(t, dir, "a.gguf", tinyLora()))
	if err != nil {
		t.Fatal(err)
	}
	r := uint64(1)
	rnd := func() uint64 { // xorshift, deterministic
		r ^= r << 13
		r ^= r >> 7
		r ^= r << 17
		return r
	}
	check := func(img []byte) {
		t.Helper()
		ad, err := ParseAdapter(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			if !errors.Is(err, ErrNotGGUF) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if err := CheckAdapter(base, ad); err != nil && !errors.Is(err, ErrMismatch) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("CheckAdapter error without a sentinel: %v", err)
		}
	}
	for i := 0; i < 200; i++ {
		g := make([]byte, rnd()%4096)
		for j := range g {
			g[j] = byte(rnd())
		}
		check(g)
		check(append([]byte("GGUF\x03\x00\x00\x00"), g...))
	}
	full, err := ParseAdapter(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	hdr := int(full.DataOffset)
	for i := 0; i < 2000; i++ {
		c := bytes.Clone(data)
		// Mostly the header, where the structure is.
		for k := 0; k < 1+int(rnd()%3); k++ {
			c[rnd()%uint64(hdr)] = byte(rnd())
		}
		check(c)
	}
}

// loraFuzzSeeds are small adapters: valid ones and near misses.
func loraFuzzSeeds() [][]byte {
	emb := pair("token_embd.weight", []uint64{2, 8}, []uint64{2, 4})
	seeds := [][]byte{
		adapterImage(adapterKVs, pair("blk.0.attn_q.weight", []uint64{4, 2}, []uint64{2, 4})),
		adapterImage(withKV("adapter.alora.invocation_tokens", []uint32{1, 2}), append(emb, adapterTensor{"x_norm.weight", []uint64{4}, TypeF32})),
		adapterImage(withKV("general.type", "model"), emb),
		adapterImage(adapterKVs, emb[:1]),
		adapterImage(withKV("adapter.lora.alpha", uint32(1)), emb),
	}
	return seeds
}

func FuzzOpenAdapter(f *testing.F) {
	for _, s := range loraFuzzSeeds() {
		f.Add(s)
	}
	dir := f.TempDir()
	base := writeModel(f, dir, "m.gguf", synth.Tiny())
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.gguf")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ad, err := OpenAdapter(path)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, path+": ") || strings.Contains(msg, "\n") || len(msg) > 600 {
				t.Fatalf("bad error message %q", msg)
			}
			if !errors.Is(err, ErrNotGGUF) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		checkInvariants(t, ad, len(data))
		if ad.String("general.type") != "adapter" || ad.String("adapter.type") != "lora" || ad.Arch() == "" {
			t.Fatalf("accepted a non-adapter: %v", ad.KV)
		}
		_ = ad.AdapterAlpha()
		_ = ad.AloraInvocationTokens()
		if err := CheckAdapter(base, ad); err != nil {
			if msg := err.Error(); strings.Contains(msg, "\n") || !errors.Is(err, ErrMismatch) {
				t.Fatalf("CheckAdapter: %q", msg)
			}
		}
		// An adapter is never a model.
		if _, err := Open(path); !errors.Is(err, ErrNotModel) {
			t.Fatalf("Open accepted an adapter or failed otherwise: %v", err)
		}
	})
}

// The fuzz seeds cover both outcomes.
func TestLoraFuzzSeeds(t *testing.T) {
	valid := 0
	for _, s := range loraFuzzSeeds() {
		if _, err := ParseAdapter(bytes.NewReader(s), int64(len(s))); err == nil {
			valid++
		}
	}
	if valid != 2 {
		t.Errorf("%d valid seeds, want 2", valid)
	}
}
