package synth

import (
	"bytes"
	"crypto/sha256"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestF16Conversion(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{65504, 0x7bff},                  // max half
		{65520, 0x7c00},                  // rounds up to Inf
		{1e10, 0x7c00},                   // overflow
		{6.103515625e-05, 0x0400},        // smallest normal
		{5.960464477539063e-08, 0x0001},  // smallest subnormal
		{2.9802322387695312e-08, 0x0000}, // half of it: tie to even (0)
		{2.98023259e-08, 0x0001},         // just above the tie
		{1.0009765625, 0x3c01},           // exactly representable
		{1.00048828125, 0x3c00},          // tie between 0x3c00 and 0x3c01: even
		{1.00146484375, 0x3c02},          // tie between 0x3c01 and 0x3c02: even
		{float32(math.Inf(-1)), 0xfc00},
	}
	for _, c := range cases {
		if got := f32ToF16(c.f); got != c.h {
			t.Errorf("f32ToF16(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
	}
	if h := f32ToF16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("NaN -> %#04x, not a NaN", h)
	}
	// Every finite half survives a round trip through float32.
	for h := 0; h < 1<<16; h++ {
		if h&0x7c00 == 0x7c00 {
			continue
		}
		if got := f32ToF16(f16ToF32(uint16(h))); got != uint16(h) {
			t.Fatalf("round trip %#04x -> %g -> %#04x", h, f16ToF32(uint16(h)), got)
		}
	}
}

func TestQuantizeRoundTrip(t *testing.T) {
	r := newRNG(7, 0)
	x := make([]float32, 32*64)
	for i := range x {
		x[i] = r.weight()
	}
	x[5] = 0.5 // a block with an outlier
	for i := 64; i < 96; i++ {
		x[i] = 0 // an all-zero block
	}
	q8 := quantQ8_0(nil, x)
	if len(q8) != len(x)/32*34 {
		t.Fatalf("Q8_0 size %d", len(q8))
	}
	q4 := quantQ4_0(nil, x)
	if len(q4) != len(x)/32*18 {
		t.Fatalf("Q4_0 size %d", len(q4))
	}
	d8, d4 := dequantQ8_0(q8, len(x)), dequantQ4_0(q4, len(x))
	for b := 0; b < len(x)/32; b++ {
		var amax float32
		for _, v := range x[b*32 : b*32+32] {
			amax = max(amax, float32(math.Abs(float64(v))))
		}
		for i := b * 32; i < b*32+32; i++ {
			// Q8_0 error: half a step, plus up to 127 steps times the f16
			// rounding of the scale (2^-11 relative).
			if e := math.Abs(float64(d8[i] - x[i])); e > float64(amax)/127*0.57+1e-7 {
				t.Fatalf("Q8_0 element %d: %g vs %g", i, d8[i], x[i])
			}
			// Q4_0 steps are amax/8; the one clamped end costs a full step.
			if e := math.Abs(float64(d4[i] - x[i])); e > float64(amax)/8*1.05+1e-7 {
				t.Fatalf("Q4_0 element %d: %g vs %g", i, d4[i], x[i])
			}
		}
	}
	// The largest-magnitude element of a Q4_0 block is exactly -8 steps.
	if q := q4[2+5] & 0xf; q != 0 {
		t.Errorf("outlier nibble = %d, want 0 (q-8 = -8)", q)
	}
	// Known block: values j/32 for j = 0..31.
	var blk [32]float32
	for j := range blk {
		blk[j] = float32(j) / 32
	}
	q := quantQ8_0(nil, blk[:])
	if d := f16ToF32(uint16(q[0]) | uint16(q[1])<<8); math.Abs(float64(d)-31.0/32/127) > 1e-5 {
		t.Errorf("Q8_0 scale %g", d)
	}
	if int8(q[2+31]) != 127 || int8(q[2]) != 0 || int8(q[2+16]) != 66 { // 16/31*127 = 65.5 -> 66
		t.Errorf("Q8_0 quants %v", q[2:])
	}
}

func TestVocab(t *testing.T) {
	toks, scores, types := Vocab()
	if len(toks) != len(scores) || len(toks) != len(types) {
		t.Fatal("length mismatch")
	}
	if n := len(toks); n < 600 || n > 2000 {
		t.Errorf("vocab size %d outside 600..2000", n)
	}
	want := map[int]string{TokUnk: "<unk>", TokBOS: "<s>", TokEOS: "</s>", TokImStart: "<|im_start|>",
		TokImEnd: "<|im_end|>", TokFirstByte: "<0x00>", TokFirstByte + 10: "<0x0A>", TokFirstByte + 255: "<0xFF>"}
	for id, s := range want {
		if toks[id] != s {
			t.Errorf("token %d = %q, want %q", id, toks[id], s)
		}
	}
	seen := map[string]bool{}
	for i, tok := range toks {
		if seen[tok] {
			t.Errorf("duplicate token %q", tok)
		}
		seen[tok] = true
		if tok == "" || !utf8.ValidString(tok) {
			t.Errorf("token %d %q empty or invalid UTF-8", i, tok)
		}
		switch {
		case i == TokUnk:
			if types[i] != TypeUnknown {
				t.Errorf("unk type %d", types[i])
			}
		case i < TokFirstByte:
			if types[i] != TypeControl {
				t.Errorf("token %q type %d", tok, types[i])
			}
		case i < TokFirstText:
			if types[i] != TypeByte {
				t.Errorf("token %q type %d", tok, types[i])
			}
		default:
			if types[i] != TypeNormal || scores[i] != float32(utf8.RuneCountInString(tok)) {
				t.Errorf("token %q type %d score %g", tok, types[i], scores[i])
			}
			// SPM can only build pieces whose prefixes exist.
			if r, sz := utf8.DecodeLastRuneInString(tok); sz < len(tok) && !seen[strings.TrimSuffix(tok, string(r))] {
				t.Errorf("prefix of %q missing", tok)
			}
		}
	}
	for _, p := range []string{"▁", "▁the", "▁once", "▁upon", "▁time", "▁hello", "▁world", "é", "日本語", "a", "~", "user", "assistant", "system"} {
		if !seen[p] {
			t.Errorf("missing piece %q", p)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := Tiny().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []TensorType{F32, F16, Q4_0, Q8_0} {
		if err := Bench400M(typ).Validate(); err != nil {
			t.Fatal(err)
		}
	}
	bad := []func(*Spec){
		func(s *Spec) { s.NLayer = 0 },
		func(s *Spec) { s.NHead = 5 },
		func(s *Spec) { s.NHeadKV = 3 },
		func(s *Spec) { s.NEmbd, s.NHead = 12, 4 }, // odd head size 3
		func(s *Spec) { s.Type, s.NFF = Q8_0, 100 },
		func(s *Spec) { s.Type = 3 },
	}
	for i, f := range bad {
		s := Tiny()
		f(&s)
		if s.Validate() == nil {
			t.Errorf("bad spec %d accepted", i)
		}
		if Write(filepath.Join(t.TempDir(), "m.gguf"), s) == nil {
			t.Errorf("bad spec %d written", i)
		}
	}
}

func TestBench400MSize(t *testing.T) {
	n := Bench400M(Q8_0).ParamCount()
	if n < 350e6 || n > 450e6 {
		t.Errorf("Bench400M has %d params", n)
	}
}

func TestWriteDeterministicAndSized(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range []TensorType{F32, F16, Q4_0, Q8_0} {
		s := Tiny()
		s.Type = typ
		a, b := filepath.Join(dir, "a.gguf"), filepath.Join(dir, "b.gguf")
		if err := Write(a, s); err != nil {
			t.Fatal(err)
		}
		if err := Write(b, s); err != nil {
			t.Fatal(err)
		}
		da, _ := os.ReadFile(a)
		db, _ := os.ReadFile(b)
		if !bytes.Equal(da, db) {
			t.Fatalf("%v: two writes differ", typ)
		}
		ts := s.tensors()
		size := len(s.header(ts))
		for _, tn := range ts {
			size += pad(tn.bytes())
		}
		if len(da) != size {
			t.Errorf("%v: file is %d bytes, want %d", typ, len(da), size)
		}
		s.Seed++
		if err := Write(b, s); err != nil {
			t.Fatal(err)
		}
		db, _ = os.ReadFile(b)
		if sha256.Sum256(da) == sha256.Sum256(db) {
			t.Errorf("%v: seed does not change the weights", typ)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 2 {
			t.Errorf("temporary files left behind: %v", entries)
		}
	}
}

func TestWriteMissingDir(t *testing.T) {
	err := Write(filepath.Join(t.TempDir(), "no", "such", "m.gguf"), Tiny())
	if err == nil {
		t.Fatal("no error for a missing directory")
	}
}

func BenchmarkWriteBench400MQ8_0(b *testing.B) {
	path := filepath.Join(b.TempDir(), "m.gguf")
	s := Bench400M(Q8_0)
	b.SetBytes(s.ParamCount())
	for b.Loop() {
		if err := Write(path, s); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLFM2Specs(t *testing.T) {
	if n := LFM2Bench350M(Q8_0).ParamCount(); n < 250e6 || n > 350e6 {
		t.Fatalf("LFM2Bench350M has %d parameters", n)
	}
	s := LFM2Tiny()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.IsConv(2) || s.IsConv(5) || !s.IsConv(0) {
		t.Fatal("IsConv disagrees with AttnLayers")
	}
	s.AttnLayers = []int{6}
	if s.Validate() == nil {
		t.Fatal("an attention layer past the last layer validated")
	}
	s = LFM2Tiny()
	s.LCache = 1
	if s.Validate() == nil {
		t.Fatal("LCache 1 validated")
	}
}
