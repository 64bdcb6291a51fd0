package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"natter/engine/api"
	"natter/engine/gguf"
	"natter/engine/gguf/synth"
)

// quantSpec has rows of 256 weights, so the k-quants need no fallback.
func quantSpec(t synth.TensorType) synth.Spec {
	return synth.Spec{NLayer: 2, NEmbd: 256, NFF: 512, NHead: 4, NHeadKV: 2, NCtxTrain: 512,
		Type: t, Seed: 11, Name: "synth-quant-" + t.String()}
}

func quantize(t *testing.T, in, out, typ string) QuantizeResult {
	t.Helper()
	r, err := Quantize(context.Background(), in, out, QuantizeOptions{Type: typ, Threads: 2})
	if err != nil {
		t.Fatalf("Quantize %s: %v", typ, err)
	}
	return r
}

func openGGUF(t *testing.T, path string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// dataBytes is what a file's tensors take when converted ones get the type
// typeOf gives, padded as llama.cpp pads them.
func dataBytes(f *gguf.File, typeOf func(gguf.TensorInfo) gguf.GGMLType) uint64 {
	var n uint64
	for _, t := range f.Tensors {
		typ := typeOf(t)
		size := t.Elements() / typ.BlockSize() * typ.TypeSize()
		n += (size + 31) / 32 * 32
	}
	return n
}

// targetType is the type llama.cpp gives t for Q8_0 and Q4_0 without
// --pure: matrices get the type, norms stay, and output.weight gets Q6_K
// unless the type is Q8_0 (llama_tensor_get_type).
func targetType(t gguf.TensorInfo, typ gguf.GGMLType) gguf.GGMLType {
	switch {
	case len(t.Dims) < 2:
		return t.Type
	case t.Name == "output.weight" && typ != gguf.TypeQ8_0:
		return gguf.TypeQ6_K
	}
	return typ
}

// An F32 model quantized to Q8_0 and Q4_0 validates, has the types and the
// size the block layouts give, loads and generates; greedy Q8_0 stays close
// to F32.
func TestQuantizeQ8_0AndQ4_0(t *testing.T) {
	in := synthModel(t, quantSpec(synth.F32))
	src := openGGUF(t, in)
	dir := t.TempDir()
	ref := load(t, quantSpec(synth.F32), 512)
	for _, c := range []struct {
		name  string
		typ   gguf.GGMLType
		floor float64 // least teacher-forced top-1 agreement with F32
	}{{"Q8_0", gguf.TypeQ8_0, 0.9}, {"Q4_0", gguf.TypeQ4_0, 0.5}} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name+".gguf")
			var calls, last int
			seen := map[string]bool{}
			r, err := Quantize(context.Background(), in, out, QuantizeOptions{Type: strings.ToLower(c.name), Threads: 2,
				Progress: func(done, total int, tensor string) {
					calls++
					if done < last || total != len(src.Tensors) {
						t.Errorf("progress %d/%d after %d", done, total, last)
					}
					last = done
					seen[tensor] = true
				}})
			if err != nil {
				t.Fatal(err)
			}
			if r.Type != c.name || r.Tensors != len(src.Tensors) || r.InBytes != src.FileSize || r.Fallbacks != 0 {
				t.Errorf("result %+v", r)
			}
			if last != len(src.Tensors) || len(seen) != len(src.Tensors) || calls != 2*len(src.Tensors) {
				t.Errorf("progress: %d calls, ended at %d, %d tensors named; want %d tensors", calls, last, len(seen), len(src.Tensors))
			}
			g := openGGUF(t, out)
			if g.FileSize != r.OutBytes {
				t.Errorf("OutBytes %d, file has %d", r.OutBytes, g.FileSize)
			}
			for _, tt := range g.Tensors {
				var it gguf.TensorInfo
				for _, s := range src.Tensors {
					if s.Name == tt.Name {
						it = s
					}
				}
				if want := targetType(it, c.typ); tt.Type != want {
					t.Errorf("%s is %s, want %s", tt.Name, tt.Type, want)
				}
			}
			want := dataBytes(src, func(ti gguf.TensorInfo) gguf.GGMLType { return targetType(ti, c.typ) })
			got := uint64(g.FileSize - g.DataOffset)
			if got != want {
				t.Errorf("tensor data is %d bytes, the block sizes give %d", got, want)
			}
			// The whole file: the matrices at TypeSize bytes per BlockSize
			// weights against 4 bytes each, plus the same header.
			ratio := float64(g.FileSize) / float64(src.FileSize)
			wantRatio := float64(int64(want)+g.DataOffset) / float64(src.FileSize)
			if math.Abs(ratio-wantRatio) > 0.01 {
				t.Errorf("size ratio %.4f, want %.4f", ratio, wantRatio)
			}
			t.Logf("%s: %d → %d bytes, %.3f of F32 (its matrices alone: %d/%d = %.3f)", c.name, src.FileSize, g.FileSize, ratio,
				c.typ.TypeSize(), 4*c.typ.BlockSize(), float64(c.typ.TypeSize())/float64(4*c.typ.BlockSize()))

			e, err := Load(Options{ModelPath: out, ContextSize: 512, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			agree, prefix := agreement(t, ref, e)
			t.Logf("%s vs F32: greedy top-1 agreement %.1f%% over 64 tokens × %d prompts (teacher-forced); free-running runs share %.1f tokens on average",
				c.name, 100*agree, len(agreementPrompts), prefix)
			if agree < c.floor {
				t.Errorf("agreement %.3f below %.2f", agree, c.floor)
			}
		})
	}
}

var agreementPrompts = []string{"Once upon a time", "the little girl named lily", "hello world, said the big dog", "he ran to the house at night"}

// agreement generates 64 greedy tokens per prompt with ref, then asks m for
// its greedy next token after each prefix of ref's text: the share that
// match (top-1 agreement), and the mean length of the free-running common
// prefix.
func agreement(t *testing.T, ref, m *Engine) (float64, float64) {
	t.Helper()
	const n = 64
	match, total, prefixes := 0, 0, 0
	for _, p := range agreementPrompts {
		req := api.Request{Raw: true, Prompt: p, Sampling: greedy(), MaxTokens: n, IgnoreEOS: true}
		run(t, ref, req)
		want := ref.lastGenerated()
		run(t, m, req)
		free := m.lastGenerated()
		if len(want) != n || len(free) != n {
			t.Fatalf("generated %d and %d tokens, want %d", len(want), len(free), n)
		}
		prefixes += commonPrefix(want, free)
		prompt, err := ref.model.tokenize(p, true, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			toks := append(append([]Token(nil), prompt...), want[:i]...)
			run(t, m, api.Request{Raw: true, Tokens: toks, Sampling: greedy(), MaxTokens: 1, IgnoreEOS: true})
			if got := m.lastGenerated(); len(got) == 1 && got[0] == want[i] {
				match++
			}
			total++
		}
	}
	return float64(match) / float64(total), float64(prefixes) / float64(len(agreementPrompts))
}

// F16 to F32 is exact: every F16 weight comes back as the same number in F32.
func TestQuantizeF16ToF32(t *testing.T) {
	in := synthModel(t, quantSpec(synth.F16))
	out := filepath.Join(t.TempDir(), "f32.gguf")
	r := quantize(t, in, out, "F32")
	src, g := openGGUF(t, in), openGGUF(t, out)
	for _, tt := range g.Tensors {
		if tt.Type != gguf.TypeF32 {
			t.Errorf("%s is %s, want F32", tt.Name, tt.Type)
		}
	}
	if r.OutBytes < 2*src.FileSize*9/10 {
		t.Errorf("F32 file %d bytes, F16 %d", r.OutBytes, src.FileSize)
	}
	a, b := tensorData(t, src, "blk.1.ffn_down.weight"), tensorData(t, g, "blk.1.ffn_down.weight")
	if len(b) != 2*len(a) {
		t.Fatalf("%d F16 bytes became %d F32 bytes", len(a), len(b))
	}
	for i := 0; i < len(a)/2; i++ {
		h := binary.LittleEndian.Uint16(a[2*i:])
		f := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		if f != f16ToF32(h) {
			t.Fatalf("weight %d: F16 %#04x is %g in F32, want %g", i, h, f, f16ToF32(h))
		}
	}
	e, err := Load(Options{ModelPath: out, ContextSize: 256, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	run(t, e, api.Request{Raw: true, Prompt: "Once upon a time", Sampling: greedy(), MaxTokens: 8, IgnoreEOS: true})
}

func tensorData(t *testing.T, f *gguf.File, name string) []byte {
	t.Helper()
	fh, err := os.Open(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	for _, ti := range f.Tensors {
		if ti.Name == name {
			b := make([]byte, ti.Size)
			if _, err := fh.ReadAt(b, f.DataOffset+int64(ti.Offset)); err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("%s has no tensor %s", f.Path, name)
	return nil
}

func f16ToF32(h uint16) float32 {
	sign := float32(1)
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, mant := int(h>>10&0x1f), float64(h&0x3ff)
	switch exp {
	case 0:
		return sign * float32(math.Ldexp(mant, -24))
	case 31:
		if mant != 0 {
			return float32(math.NaN())
		}
		return sign * float32(math.Inf(1))
	}
	return sign * float32(math.Ldexp(1024+mant, exp-25))
}

// A quantized input needs AllowRequantize, with the reason; with it, Q8_0
// becomes F32 (a trainable base) and Q4_0.
func TestQuantizeRequantize(t *testing.T) {
	in := synthModel(t, quantSpec(synth.Q8_0))
	dir := t.TempDir()
	for _, typ := range []string{"Q4_0", "F32"} {
		_, err := Quantize(context.Background(), in, filepath.Join(dir, typ+".gguf"), QuantizeOptions{Type: typ, Threads: 1})
		if !errors.Is(err, ErrRequantize) || !strings.Contains(err.Error(), "Q8_0") || !strings.Contains(err.Error(), "quality") {
			t.Errorf("%s without AllowRequantize: %v", typ, err)
		}
	}
	assertEmpty(t, dir)
	for _, typ := range []string{"Q4_0", "F32"} {
		out := filepath.Join(dir, typ+".gguf")
		if _, err := Quantize(context.Background(), in, out, QuantizeOptions{Type: typ, AllowRequantize: true, Threads: 2}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		for _, tt := range openGGUF(t, out).Tensors {
			if typ == "F32" && tt.Type != gguf.TypeF32 {
				t.Errorf("F32 from Q8_0: %s is %s", tt.Name, tt.Type)
			}
		}
	}
}

// Bad requests fail before llama.cpp runs and leave nothing behind.
func TestQuantizeErrorsLeaveNothing(t *testing.T) {
	in := synthModel(t, quantSpec(synth.F32))
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	inDir := t.TempDir()
	link := filepath.Join(inDir, "link.gguf")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(inDir, "truncated.gguf")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cases := []struct {
		name, in, out, typ string
		want               string
		is                 error
	}{
		{"same file", in, in, "Q4_0", "same file", ErrSameFile},
		{"same via symlink", in, link, "Q4_0", "same file", ErrSameFile},
		{"missing folder", in, filepath.Join(out, "nope", "x.gguf"), "Q4_0", "does not exist", nil},
		{"out is a folder", in, out, "Q4_0", "is a folder", nil},
		{"unknown type", in, filepath.Join(out, "x.gguf"), "Q9_9", "valid types are F32, F16", ErrUnknownQuantType},
		{"needs imatrix", in, filepath.Join(out, "x.gguf"), "iq2_xs", "importance matrix", ErrNeedsImatrix},
		{"truncated", truncated, filepath.Join(out, "x.gguf"), "Q4_0", "truncated", gguf.ErrTruncated},
		{"missing input", filepath.Join(inDir, "nope.gguf"), filepath.Join(out, "x.gguf"), "Q4_0", "no such file", nil},
	}
	for _, c := range cases {
		_, err := Quantize(context.Background(), c.in, c.out, QuantizeOptions{Type: c.typ})
		if err == nil || !strings.Contains(err.Error(), c.want) || c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: %v; want %q", c.name, err, c.want)
		}
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink was replaced: %v", err)
	}
	assertEmpty(t, out)
	if got, _ := os.ReadFile(in); len(got) != len(data) {
		t.Errorf("the input changed")
	}
}

func TestQuantizeReadOnlyFolder(t *testing.T) {
	in := synthModel(t, quantSpec(synth.F32))
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	if f, err := os.CreateTemp(dir, "probe"); err == nil {
		f.Close()
		os.Remove(f.Name())
		t.Skip("DID NOT RUN: this user can write in a read-only folder (root)")
	}
	_, err := Quantize(context.Background(), in, filepath.Join(dir, "x.gguf"), QuantizeOptions{Type: "Q4_0"})
	if err == nil || !strings.Contains(err.Error(), "cannot write in "+dir) {
		t.Errorf("read-only folder: %v", err)
	}
	assertEmpty(t, dir)
}

// Too little free space is refused with the numbers before any work.
func TestQuantizeNoSpace(t *testing.T) {
	in := synthModel(t, quantSpec(synth.F32))
	dir := t.TempDir()
	defer func(f func(string) int64) { freeSpace = f }(freeSpace)
	freeSpace = func(string) int64 { return 100_000 }
	_, err := Quantize(context.Background(), in, filepath.Join(dir, "x.gguf"), QuantizeOptions{Type: "Q8_0"})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "needs about 1.8 MB, and 100.0 kB is free") {
		t.Errorf("no space: %v", err)
	}
	assertEmpty(t, dir)
}

// The estimate behind the space check is close to what llama.cpp writes.
func TestQuantizeEstimate(t *testing.T) {
	in := synthModel(t, quantSpec(synth.F32))
	f := openGGUF(t, in)
	dir := t.TempDir()
	for _, typ := range []string{"F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "IQ4_XS", "Q3_K_M", "Q2_K"} {
		r := quantize(t, in, filepath.Join(dir, typ+".gguf"), typ)
		qt, _ := ParseQuantType(typ)
		est := estimateBytes(f, qt, false)
		d := float64(est-r.OutBytes) / float64(r.OutBytes)
		t.Logf("%s: estimate %d, wrote %d (%+.1f%%)", typ, est, r.OutBytes, 100*d)
		if math.Abs(d) > 0.1 {
			t.Errorf("%s: estimate %d is off by more than 10%%", typ, est)
		}
	}
}

// Cancelled, Quantize returns at once and leaves no file, even while
// llama.cpp still works.
func TestQuantizeCancel(t *testing.T) {
	in := synthModel(t, mediumSpecF32())
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	start := time.Now()
	_, err := Quantize(ctx, in, filepath.Join(dir, "x.gguf"), QuantizeOptions{Type: "Q6_K", Threads: 2,
		Progress: func(done, _ int, _ string) {
			if done == 1 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	assertEmpty(t, dir)
	t.Logf("cancelled after the first tensor: returned in %v", time.Since(start))
	// The next Quantize waits for llama.cpp to finish the cancelled one.
	r := quantize(t, synthModel(t, quantSpec(synth.F32)), filepath.Join(dir, "y.gguf"), "Q8_0")
	if r.Tensors == 0 {
		t.Error("no tensors")
	}
	if _, err := Quantize(ctx, in, filepath.Join(dir, "z.gguf"), QuantizeOptions{Type: "Q4_0"}); !errors.Is(err, context.Canceled) {
		t.Errorf("already cancelled: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "y.gguf" {
		t.Errorf("folder holds %v", ents)
	}
}

// llama.cpp failing midway, or a cancel, leaves nothing whichever kind of
// scratch file it wrote: unnamed (Linux) or hidden and named.
func TestQuantizeFailureLeavesNothing(t *testing.T) {
	// general.file_type claims Q4_0 over Q8_0 tensors: natter's requantize
	// check passes, and llama.cpp refuses once it has started writing.
	spec := quantSpec(synth.Q8_0)
	spec.Name, spec.KV = "synth-quant-lying", map[string]any{"general.file_type": uint32(2)}
	lying := synthModel(t, spec)
	medium := synthModel(t, mediumSpecF32())
	for _, unnamed := range []bool{true, false} {
		unnamedFiles = unnamed
		dir := t.TempDir()
		_, err := Quantize(context.Background(), lying, filepath.Join(dir, "x.gguf"), QuantizeOptions{Type: "Q4_0", Threads: 1})
		if err == nil || !strings.Contains(err.Error(), "llama.cpp could not quantize it to Q4_0: requantizing from type q8_0 is disabled") {
			t.Errorf("unnamed %v: %v", unnamed, err)
		}
		assertEmpty(t, dir)
		ctx, cancel := context.WithCancel(context.Background())
		_, err = Quantize(ctx, medium, filepath.Join(dir, "y.gguf"), QuantizeOptions{Type: "Q4_0", Threads: 2,
			Progress: func(int, int, string) { cancel() }})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("unnamed %v, cancelled: %v", unnamed, err)
		}
		assertEmpty(t, dir)
		quantize(t, synthModel(t, quantSpec(synth.Q8_0)), filepath.Join(dir, "z.gguf"), "Q8_0") // a copy
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("unnamed %v: folder holds %v", unnamed, ents)
		}
	}
	unnamedFiles = true
}

func mediumSpecF32() synth.Spec {
	s := mediumSpec()
	s.Type, s.Name = synth.F32, "synth-medium-f32"
	return s
}

// Quantizes at the same time take turns, each with its own progress.
func TestQuantizeConcurrent(t *testing.T) {
	a, b := synthModel(t, quantSpec(synth.F32)), synthModel(t, tinySpec())
	na, nb := len(openGGUF(t, a).Tensors), len(openGGUF(t, b).Tensors)
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i, c := range []struct {
		in string
		n  int
	}{{a, na}, {b, nb}, {a, na}, {b, nb}} {
		wg.Go(func() {
			last := 0
			_, err := Quantize(context.Background(), c.in, filepath.Join(dir, itoa(i)+".gguf"), QuantizeOptions{Type: "Q8_0", Threads: 1,
				Progress: func(done, total int, _ string) {
					if total != c.n || done < last {
						t.Errorf("quantize %d: progress %d/%d after %d, want total %d", i, done, total, last, c.n)
					}
					last = done
				}})
			if err != nil || last != c.n {
				t.Errorf("quantize %d: %v, progress ended at %d of %d", i, err, last, c.n)
			}
		})
	}
	wg.Wait()
}

func TestQuantizeTypesListed(t *testing.T) {
	names := map[string]bool{}
	for _, q := range QuantTypes() {
		if q.Description == "" || strings.Contains(q.Description, "\n") || names[q.Name] {
			t.Errorf("type %+v", q)
		}
		names[q.Name] = true
		if _, err := ParseQuantType(strings.ToLower(q.Name)); err != nil {
			t.Error(err)
		}
	}
	for _, n := range []string{"F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q5_1", "Q4_K_M", "Q4_K_S", "Q4_0", "Q4_1", "Q3_K_M", "Q2_K", "IQ4_NL"} {
		if !names[n] {
			t.Errorf("%s missing", n)
		}
	}
	for _, n := range imatrixTypes {
		if names[n] {
			t.Errorf("%s needs an imatrix but is listed", n)
		}
	}
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %v", dir, names)
	}
}

// BenchmarkQuantize: an F32 model of 2.4M weights to Q4_K_M.
func BenchmarkQuantize(b *testing.B) {
	in := synthModel(b, quantSpec(synth.F32))
	out := filepath.Join(b.TempDir(), "out.gguf")
	st, _ := os.Stat(in)
	b.SetBytes(st.Size())
	for b.Loop() {
		if _, err := Quantize(context.Background(), in, out, QuantizeOptions{Type: "Q4_K_M"}); err != nil {
			b.Fatal(err)
		}
	}
}

// A model whose feed-forward rows (100) are no multiple of 32 cannot be
// made Q8_0 or Q4_0 (llama.cpp stops midway); natter says so before it
// starts, and a k-quant, which keeps those tensors in another type, works.
func TestQuantizeRowsLegacyTypesCannotTake(t *testing.T) {
	dir := t.TempDir()
	s := quantSpec(synth.F32)
	s.NFF, s.Name = 100, "synth-quant-ff100"
	in := filepath.Join(dir, "in.gguf")
	if err := synth.Write(in, s); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"Q8_0", "Q4_0", "IQ4_NL"} {
		out := filepath.Join(dir, typ+".gguf")
		_, err := Quantize(context.Background(), in, out, QuantizeOptions{Type: typ, Threads: 2})
		if err == nil || !strings.Contains(err.Error(), "ffn_down.weight has rows of 100 values") || !strings.Contains(err.Error(), "k-quant") {
			t.Fatalf("%s: %v", typ, err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%s: a refused quantization left %s", typ, out)
		}
	}
	out := filepath.Join(dir, "q6k.gguf")
	quantize(t, in, out, "Q6_K")
	if _, err := Validate(out); err != nil {
		t.Fatal(err)
	}
}
