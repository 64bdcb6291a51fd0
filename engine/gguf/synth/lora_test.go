package synth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"natter/engine/gguf"
)

// readF32 reads tensor t of f, which must be F32.
func loraF32(t *testing.T, data []byte, f *gguf.File, ti gguf.TensorInfo) []float32 {
	t.Helper()
	if ti.Type != gguf.TypeF32 {
		t.Fatalf("%s is %v, want F32", ti.Name, ti.Type)
	}
	raw := data[f.DataOffset+int64(ti.Offset):][:ti.Size]
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

func loraStd(v []float32) float64 {
	var s, s2 float64
	for _, x := range v {
		s += float64(x)
		s2 += float64(x) * float64(x)
	}
	n := float64(len(v))
	return math.Sqrt(s2/n - (s/n)*(s/n))
}

// The adapter parses as one, fits the model written from the same Base,
// and has the tensors, shapes and metadata asked for.
func TestLoraRoundTrip(t *testing.T) {
	dir := t.TempDir()
	kv := Tiny().NEmbd / Tiny().NHead * Tiny().NHeadKV
	nVocab := len(vocabTokens)
	for _, c := range []struct {
		name  string
		s     LoraSpec
		alpha float32
		want  map[string][]uint64 // every tensor, with its shape
	}{
		{"default", LoraSpec{Base: Tiny(), Rank: 4, Seed: 1}, 4, func() map[string][]uint64 {
			m := map[string][]uint64{}
			for l := range 2 {
				for _, tg := range []string{"attn_q", "attn_output"} {
					m[fmt.Sprintf("blk.%d.%s.weight.lora_a", l, tg)] = []uint64{64, 4}
					m[fmt.Sprintf("blk.%d.%s.weight.lora_b", l, tg)] = []uint64{4, 64}
				}
				for _, tg := range []string{"attn_k", "attn_v"} {
					m[fmt.Sprintf("blk.%d.%s.weight.lora_a", l, tg)] = []uint64{64, 4}
					m[fmt.Sprintf("blk.%d.%s.weight.lora_b", l, tg)] = []uint64{4, uint64(kv)}
				}
			}
			return m
		}()},
		{"targets", LoraSpec{Base: Tiny(), Rank: 2, Alpha: 16, Seed: 1, Targets: []string{"ffn_down", "output", "token_embd"}}, 16,
			map[string][]uint64{
				"token_embd.weight.lora_a":     {2, uint64(nVocab)},
				"token_embd.weight.lora_b":     {2, 64},
				"output.weight.lora_a":         {64, 2},
				"output.weight.lora_b":         {2, uint64(nVocab)},
				"blk.0.ffn_down.weight.lora_a": {128, 2},
				"blk.0.ffn_down.weight.lora_b": {2, 64},
				"blk.1.ffn_down.weight.lora_a": {128, 2},
				"blk.1.ffn_down.weight.lora_b": {2, 64},
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mpath, apath := filepath.Join(dir, "m.gguf"), filepath.Join(dir, "a.gguf")
			if err := Write(mpath, c.s.Base); err != nil {
				t.Fatal(err)
			}
			if err := c.s.Write(apath); err != nil {
				t.Fatal(err)
			}
			base, err := gguf.Open(mpath)
			if err != nil {
				t.Fatal(err)
			}
			ad, err := gguf.OpenAdapter(apath)
			if err != nil {
				t.Fatal(err)
			}
			if err := gguf.CheckAdapter(base, ad); err != nil {
				t.Fatal(err)
			}
			if ad.AdapterAlpha() != c.alpha || ad.Arch() != "llama" || ad.String("general.type") != "adapter" ||
				ad.String("adapter.type") != "lora" || ad.Name() != "synth-tiny-lora" {
				t.Errorf("alpha %g arch %q type %q/%q name %q", ad.AdapterAlpha(), ad.Arch(), ad.String("general.type"), ad.String("adapter.type"), ad.Name())
			}
			got := map[string][]uint64{}
			data, err := os.ReadFile(apath)
			if err != nil {
				t.Fatal(err)
			}
			for i, ti := range ad.Tensors {
				got[ti.Name] = ti.Dims
				v := loraF32(t, data, ad, ti)
				// B must not be zero (a fresh adapter's B is; it would do
				// nothing), and both halves have the default magnitude.
				m := DefaultLoraMagnitude(c.s.Rank, c.s.Alpha)
				if s := loraStd(v); math.Abs(s-float64(m)) > 0.25*float64(m) {
					t.Errorf("%s: std %g, want about %g", ti.Name, s, m)
				}
				// Halves follow each other, A first.
				if half := map[bool]string{true: ".lora_a", false: ".lora_b"}[i%2 == 0]; !strings.HasSuffix(ti.Name, half) {
					t.Errorf("tensor %d is %s, want a %s", i, ti.Name, half)
				}
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("tensors %v\nwant %v", got, c.want)
			}
		})
	}
}

// At scale 1 the default magnitude changes a weight by B·A·alpha/rank of
// standard deviation loraDelta, whatever the rank and alpha.
func TestLoraDelta(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		rank  int
		alpha float32
	}{{4, 0}, {8, 0}, {4, 32}, {16, 4}} {
		s := LoraSpec{Base: Tiny(), Rank: c.rank, Alpha: c.alpha, Seed: 5, Targets: []string{"ffn_up"}}
		path := filepath.Join(dir, "a.gguf")
		if err := s.Write(path); err != nil {
			t.Fatal(err)
		}
		ad, err := gguf.OpenAdapter(path)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		a, b := loraF32(t, data, ad, ad.Tensors[0]), loraF32(t, data, ad, ad.Tensors[1])
		in, out, r := int(ad.Tensors[0].Dims[0]), int(ad.Tensors[1].Dims[1]), c.rank
		// ggml: A is [in, r] (row k holds in values), B is [r, out]; the
		// change of W[i][o] is sum over k of A[k][i]·B[o][k].
		scale := float64(s.alpha()) / float64(r)
		var delta []float32
		for o := 0; o < out; o++ {
			for i := 0; i < in; i++ {
				var d float64
				for k := 0; k < r; k++ {
					d += float64(a[k*in+i]) * float64(b[o*r+k])
				}
				delta = append(delta, float32(d*scale))
			}
		}
		if got := loraStd(delta); math.Abs(got-loraDelta) > 0.2*loraDelta {
			t.Errorf("rank %d alpha %g: delta std %g, want about %g", c.rank, c.alpha, got, loraDelta)
		}
	}
}

func TestLoraDeterministic(t *testing.T) {
	dir := t.TempDir()
	s := LoraSpec{Base: Tiny(), Rank: 4, Seed: 9, Targets: []string{"attn_q", "ffn_up", "token_embd"}}
	read := func(name string, s LoraSpec) []byte {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := s.Write(path); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one, two := read("1.gguf", s), read("2.gguf", s)
	if !bytes.Equal(one, two) {
		t.Fatal("two writes of one spec differ")
	}
	other := s
	other.Seed++
	if bytes.Equal(one, read("3.gguf", other)) {
		t.Error("another seed writes the same file")
	}
	// A pair's values do not depend on what else is adapted.
	tensorBytes := func(b []byte, name string) []byte {
		f, err := gguf.ParseAdapter(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range f.Tensors {
			if ti.Name == name {
				return b[f.DataOffset+int64(ti.Offset):][:ti.Size]
			}
		}
		t.Fatalf("no tensor %s", name)
		return nil
	}
	only := s
	only.Targets = []string{"ffn_up"}
	solo := read("4.gguf", only)
	for _, name := range []string{"blk.1.ffn_up.weight.lora_a", "blk.1.ffn_up.weight.lora_b"} {
		if !bytes.Equal(tensorBytes(one, name), tensorBytes(solo, name)) {
			t.Errorf("%s changes with the other targets", name)
		}
	}
}

// The knobs for broken adapters do what tests need of them.
func TestLoraCrafted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.gguf")
	s := LoraSpec{Base: Tiny(), Rank: 4, Seed: 1,
		Omit: []string{"blk.1.attn_v.weight.lora_b"},
		KV:   map[string]any{"adapter.lora.alpha": nil, "general.name": "crafted", "x.extra": uint32(7)}}
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	f, err := gguf.Parse(bytes.NewReader(b), int64(len(b)))
	if err == nil {
		t.Fatal("an adapter parsed as a model")
	}
	_, err = gguf.OpenAdapter(path)
	if err == nil || !strings.Contains(err.Error(), "blk.1.attn_v.weight.lora_a has no matching blk.1.attn_v.weight.lora_b") {
		t.Fatalf("got %v", err)
	}
	s.Omit = nil
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	if f, err = gguf.OpenAdapter(path); err != nil {
		t.Fatal(err)
	}
	if _, has := f.Get("adapter.lora.alpha"); has || f.Name() != "crafted" || f.AdapterAlpha() != 0 {
		t.Errorf("alpha %v name %q", f.AdapterAlpha(), f.Name())
	}
	if v, _ := f.Get("x.extra"); v != uint32(7) {
		t.Errorf("x.extra = %v", v)
	}

	for _, c := range []struct {
		s    LoraSpec
		want string
	}{
		{LoraSpec{Base: Tiny(), Rank: 0}, "rank must be positive"},
		{LoraSpec{Base: Tiny(), Rank: 4, Targets: []string{"attn_qq"}}, `target "attn_qq" matches no tensor`},
		{LoraSpec{Base: func() Spec { s := Tiny(); s.TiedOutput = true; return s }(), Rank: 4, Targets: []string{"output"}}, `target "output" matches no tensor`},
		{LoraSpec{Base: Tiny(), Rank: 4, Magnitude: -1}, "magnitude"},
		{LoraSpec{Base: Tiny(), Rank: 4, Alpha: float32(math.Inf(1))}, "alpha"},
		{LoraSpec{Base: Tiny(), Rank: 4, ShapeOf: func(string, []int) []int { return []int{3} }}, "want at least 2 positive dimensions"},
		{LoraSpec{Base: Spec{}, Rank: 4}, "sizes must be positive"},
	} {
		if err := c.s.Write(path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.s, err, c.want)
		}
	}
}

func TestLoraTarget(t *testing.T) {
	for _, c := range []struct {
		name, target string
		want         bool
	}{
		{"blk.0.attn_q.weight", "attn_q", true},
		{"blk.12.attn_q.weight", "attn_q", true},
		{"blk.0.attn_qkv.weight", "attn_q", false},
		{"blk.x.attn_q.weight", "attn_q", false},
		{"output.weight", "output", true},
		{"output_norm.weight", "output", false},
		{"blk.0.output.weight", "output", true},
		{"token_embd.weight", "token_embd", true},
	} {
		if got := loraTarget(c.name, c.target); got != c.want {
			t.Errorf("loraTarget(%q, %q) = %v", c.name, c.target, got)
		}
	}
}
