package goengine_test

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"natter/engine/gguf"
	"natter/engine/gguf/synth"
	"natter/engine/goengine"
)

// audioFiles writes a tiny gemma4 model with Gemma 4's delimiters and a
// projector for it: gemma4a, or gemma4v with the audio encoder when both.
func audioFiles(t testing.TB, proj synth.ProjectorSpec, both bool) (model, mmproj string) {
	t.Helper()
	dir := t.TempDir()
	spec := synth.Gemma4Tiny()
	spec.AudioTokens = true
	model = filepath.Join(dir, "gemma4.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	proj.Projector = synth.ProjectorGemma4A
	if both {
		proj.Projector, proj.Gemma4Audio = synth.ProjectorGemma4V, true
	}
	proj.TextEmbd = spec.NEmbd
	mmproj = filepath.Join(dir, "mmproj.gguf")
	if err := proj.Write(mmproj); err != nil {
		t.Fatal(err)
	}
	return model, mmproj
}

// tone is secs seconds of a 16 kHz chord whose pitch depends on seed.
func tone(secs float64, seed int) []float32 {
	out := make([]float32, int(secs*16000))
	for i := range out {
		x := float64(i) / 16000
		f := 220 * float64(seed+1)
		out[i] = float32(0.4*math.Sin(2*math.Pi*f*x) + 0.2*math.Sin(2*math.Pi*2.5*f*x+float64(seed)))
	}
	return out
}

func TestAudioEncode(t *testing.T) {
	model, mmproj := audioFiles(t, synth.ProjectorSpec{Seed: 5}, false)
	e := loadVision(t, model, mmproj, 0)
	if !e.Audio() || e.Vision() || e.EmbedWidth() != synth.Gemma4Tiny().NEmbd || e.AudioRate() != 16000 {
		t.Fatalf("audio %v vision %v width %d rate %d", e.Audio(), e.Vision(), e.EmbedWidth(), e.AudioRate())
	}
	// 2 s: 200 feature frames (10 ms hop), 50 embeddings (two stride-2
	// convs): 25 a second, as upstream counts.
	c, err := e.PrepareAudio(tone(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	if c.Tokens() != 50 {
		t.Fatalf("2 s of audio became %d tokens, want 50", c.Tokens())
	}
	a, err := e.EncodeAudio(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != c.Tokens()*e.EmbedWidth() {
		t.Fatalf("got %d values, want %d×%d", len(a), c.Tokens(), e.EmbedWidth())
	}
	for _, x := range a {
		if x != x || math.Abs(float64(x)) > 1e3 {
			t.Fatalf("embedding value %g", x)
		}
	}
	b, err := e.EncodeAudio(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) {
		t.Fatal("the same clip encoded twice gave different embeddings")
	}
	o, _ := e.PrepareAudio(tone(2, 2))
	d, err := e.EncodeAudio(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a, d) {
		t.Fatal("two different clips gave the same embeddings")
	}
	// The encoder is causal within its 12-position chunks and their past:
	// changing the clip's last second leaves the embeddings of its first
	// half second alone (12 positions, the first chunk, see nothing later).
	late := tone(2, 1)
	copy(late[16000:], tone(1, 3))
	lc, _ := e.PrepareAudio(late)
	l, err := e.EncodeAudio(context.Background(), lc)
	if err != nil {
		t.Fatal(err)
	}
	w := e.EmbedWidth()
	// The second conv reads one frame ahead, so the first 10 positions
	// (0.4 s) depend only on the first 0.45 s.
	if !close32(a[:10*w], l[:10*w], 1e-5) {
		t.Fatal("a change at 1 s altered the first positions: the encoder is not causal")
	}
	if close32(a[40*w:], l[40*w:], 1e-3) {
		t.Fatal("a change at 1 s did not alter the last positions")
	}

	// 70 s: three chunks of 30, 30 and 10 s (750 + 750 + 250).
	long, err := e.PrepareAudio(tone(70, 1))
	if err != nil {
		t.Fatal(err)
	}
	if long.Tokens() != 1750 {
		t.Fatalf("70 s became %d tokens, want 1750", long.Tokens())
	}

	// Too short to give a frame; a cancelled encode stops.
	if _, err := e.PrepareAudio(make([]float32, 100)); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("100 samples: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.EncodeAudio(ctx, c); err != context.Canceled {
		t.Fatalf("cancelled encode: %v", err)
	}
}

// The clamp scalars of mm.a.input_projection are read and applied.
func TestAudioClampApplied(t *testing.T) {
	model, mmproj := audioFiles(t, synth.ProjectorSpec{Seed: 5, ClampOutput: []float32{-0.02, 0.02}}, false)
	e := loadVision(t, model, mmproj, 0)
	c, err := e.PrepareAudio(tone(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := e.EncodeAudio(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	hit := 0
	for _, x := range rows {
		if x < -0.02 || x > 0.02 {
			t.Fatalf("value %g outside the clamp", x)
		}
		if x == 0.02 || x == -0.02 {
			hit++
		}
	}
	if hit == 0 {
		t.Fatal("no value reached the clamp: the test shows nothing")
	}
}

// A causal span longer than a batch is decoded in pieces. The check
// against text: a span whose rows are the token embeddings of some text
// (as the model scales them) must give the logits of that text, whatever
// the batch size; read both ways instead, it gives others. The model has
// no per-layer inputs (they would take token 0's for the span), and its
// weights are small so that kernel rounding (row order changes the
// summation order) stays far below the difference attention makes.
func TestAudioPrefillPieces(t *testing.T) {
	_, mmproj := audioFiles(t, synth.ProjectorSpec{Seed: 5}, true)
	spec := synth.Gemma4Tiny()
	spec.AudioTokens, spec.WeightStd, spec.NEmbdPerLayer = true, 0.05, 0
	model := filepath.Join(t.TempDir(), "calm.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	e := loadVision(t, model, mmproj, 0)
	if !e.Audio() || !e.Vision() {
		t.Fatalf("audio %v vision %v", e.Audio(), e.Vision())
	}
	const n = 40
	text, med := []int32{synth.TokBOS}, []int32{synth.TokBOS}
	var rows []float32
	for j := range n {
		tok := synth.TokFirstText + int32(j)
		text, med = append(text, tok), append(med, -1-int32(j))
		rows = append(rows, tokenEmbedding(t, model, int(tok), spec.NEmbd)...)
	}
	tail := []int32{synth.TokFirstText + 9, synth.TokImEnd}
	text, med = append(text, tail...), append(med, tail...)
	truth, _, err := e.Prefill(context.Background(), text)
	if err != nil {
		t.Fatal(err)
	}
	embed := func() ([]float32, error) { return rows, nil }
	worst := 0.0
	for _, batch := range []int{1, 8, 16, 100} {
		got, _, err := loadVision(t, model, mmproj, batch).PrefillMedia(context.Background(), med, []goengine.Span{{Start: 1, N: n, Causal: true, Embed: embed}})
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		worst = max(worst, maxAbsDiff(truth, got))
	}
	both, _, err := loadVision(t, model, mmproj, 100).PrefillMedia(context.Background(), med, []goengine.Span{{Start: 1, N: n, Embed: embed}})
	if err != nil {
		t.Fatal(err)
	}
	wrong := maxAbsDiff(truth, both)
	t.Logf("logits off the text's by up to %.3g causally (batches 1 to 100), %.3g read both ways", worst, wrong)
	if !(worst <= 0.1) || wrong < 5*worst { // (NaN fails)
		t.Fatalf("causal spans differ from text by %g, bidirectional ones by %g", worst, wrong)
	}
	// The Gemma 4 delimiters are in the vocabulary.
	v := e.Vocabulary()
	if v.Values[synth.GemmaAudioStart] != "<|audio>" || v.Values[synth.GemmaAudioEnd] != "<audio|>" {
		t.Fatalf("audio delimiters %q %q", v.Values[synth.GemmaAudioStart], v.Values[synth.GemmaAudioEnd])
	}
}

func maxAbsDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// tokenEmbedding is token tok's row of an F32 model's token_embd, scaled
// by sqrt(width) as Gemma's input is.
func tokenEmbedding(t *testing.T, model string, tok, width int) []float32 {
	t.Helper()
	f, err := gguf.Open(model)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range f.Tensors {
		if ti.Name != "token_embd.weight" {
			continue
		}
		if ti.Type != gguf.TypeF32 {
			t.Fatalf("token_embd is %v", ti.Type)
		}
		fh, err := os.Open(model)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		buf := make([]byte, width*4)
		if _, err := fh.ReadAt(buf, f.DataOffset+int64(ti.Offset)+int64(tok*width*4)); err != nil {
			t.Fatal(err)
		}
		row := make([]float32, width)
		for i := range row {
			row[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[i*4:])) * float32(math.Sqrt(float64(width)))
		}
		return row
	}
	t.Fatal("no token_embd.weight")
	return nil
}
