package goengine_test

import (
	"context"
	"errors"
	"image"
	"image/color"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
	"natter/engine/goengine"
)

// visionFiles writes a tiny gemma4 model with Gemma 4's image delimiters
// and a gemma4v projector for it.
func visionFiles(t testing.TB, proj synth.ProjectorSpec) (model, mmproj string) {
	t.Helper()
	dir := t.TempDir()
	spec := synth.Gemma4Tiny()
	spec.ImageTokens = true
	model = filepath.Join(dir, "gemma4.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	proj.Projector = synth.ProjectorGemma4V
	proj.TextEmbd = spec.NEmbd
	mmproj = filepath.Join(dir, "mmproj.gguf")
	if err := proj.Write(mmproj); err != nil {
		t.Fatal(err)
	}
	return model, mmproj
}

func loadVision(t testing.TB, model, mmproj string, batch int, attention ...string) *goengine.Engine {
	t.Helper()
	e, err := goengine.Load(goengine.Options{ModelPath: model, ProjectorPath: mmproj, ContextSize: 1024, BatchSize: batch, Threads: 2, FlashAttention: true, ImageAttention: append(attention, "")[0],
		ProjectorCache: filepath.Join(filepath.Dir(mmproj), "cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// testImage is a w×h picture whose content depends on seed.
func testImage(w, h, seed int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x*7 + seed*31), uint8(y*5 + seed*17), uint8((x ^ y) + seed), 255})
		}
	}
	return img
}

// visionPrompt is text tokens, then n placeholders (ids -1-base...), then
// more text: the layout natter's engine builds around an image.
func visionPrompt(n int, base int32) (toks []int32, start int) {
	toks = []int32{synth.TokBOS, synth.TokImStart, synth.TokFirstText + 3, int32(synth.GemmaImageStart)}
	start = len(toks)
	for j := range n {
		toks = append(toks, -1-base-int32(j))
	}
	toks = append(toks, int32(synth.GemmaImageEnd), synth.TokFirstText+9, synth.TokFirstText+12, synth.TokImEnd, synth.TokImStart)
	return toks, start
}

func TestVisionEncodeDeterministic(t *testing.T) {
	model, mmproj := visionFiles(t, synth.ProjectorSpec{Seed: 3})
	e := loadVision(t, model, mmproj, 0)
	if !e.Vision() {
		t.Fatal("no vision encoder loaded")
	}
	im, err := e.PrepareImage(testImage(40, 30, 1))
	if err != nil {
		t.Fatal(err)
	}
	// Ollama's processor fills the 280-token budget: a 4:3 image of 8-pixel
	// patches pooled 2×2 becomes 18×14 pooled patches.
	if im.Tokens() < 200 || im.Tokens() > 280 {
		t.Fatalf("image tokens = %d, want within the 280-token budget and near it", im.Tokens())
	}
	a, err := e.EncodeImage(context.Background(), im)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != im.Tokens()*e.EmbedWidth() || e.EmbedWidth() != synth.Gemma4Tiny().NEmbd {
		t.Fatalf("got %d values, want %d×%d", len(a), im.Tokens(), e.EmbedWidth())
	}
	b, err := e.EncodeImage(context.Background(), im)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) {
		t.Fatal("the same image encoded twice gave different embeddings")
	}
	other, _ := e.PrepareImage(testImage(40, 30, 2))
	c, err := e.EncodeImage(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a, c) {
		t.Fatal("two different images gave the same embeddings")
	}
	// The embedder normalises each row (RMS 1) before its projection, so
	// rows are neither zero nor wild.
	for _, x := range a {
		if x != x || x > 1e3 || x < -1e3 {
			t.Fatalf("embedding value %g", x)
		}
	}
}

// The clamp scalars of the projection (Gemma4ClippableLinear) are read from
// the file and applied: every value lands within the output clamp.
func TestVisionClampApplied(t *testing.T) {
	model, mmproj := visionFiles(t, synth.ProjectorSpec{Seed: 3, ClampOutput: []float32{-0.01, 0.01}})
	e := loadVision(t, model, mmproj, 0)
	im, err := e.PrepareImage(testImage(32, 32, 1))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := e.EncodeImage(context.Background(), im)
	if err != nil {
		t.Fatal(err)
	}
	hit := 0
	for _, x := range rows {
		if x < -0.01 || x > 0.01 {
			t.Fatalf("value %g outside the clamp [-0.01, 0.01]", x)
		}
		if x == 0.01 || x == -0.01 {
			hit++
		}
	}
	if hit == 0 {
		t.Fatal("no value reached the clamp: the test shows nothing")
	}
}

// An image in the prompt changes what follows; the same image gives the
// same logits whatever the batch size (the image is decoded whole in a
// batch that ends with it) and when the prefix is reused from the cache.
func TestVisionPrefill(t *testing.T) {
	for _, mode := range []string{"bidirectional", "causal"} {
		t.Run(mode, func(t *testing.T) { testVisionPrefill(t, mode) })
	}
}

func testVisionPrefill(t *testing.T, mode string) {
	model, mmproj := visionFiles(t, synth.ProjectorSpec{Seed: 3})
	e := loadVision(t, model, mmproj, 0, mode)
	im, err := e.PrepareImage(testImage(40, 30, 1))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := e.EncodeImage(context.Background(), im)
	if err != nil {
		t.Fatal(err)
	}
	n := im.Tokens()
	toks, start := visionPrompt(n, 100)
	encodes := 0
	embed := func() ([]float32, error) { encodes++; return rows, nil }
	span := goengine.Span{Start: start, N: n, Causal: e.ImageCausal(), Embed: embed}
	cold, reused, err := e.PrefillMedia(context.Background(), toks, []goengine.Span{span})
	if err != nil {
		t.Fatal(err)
	}
	if reused != 0 || encodes != 1 {
		t.Fatalf("cold prefill reused %d tokens, encoded %d times", reused, encodes)
	}

	// The same prompt plus a turn: the image is reused, not encoded again.
	more := append(slices.Clone(toks), synth.TokFirstText+20, synth.TokFirstText+21)
	if _, reused, err = e.PrefillMedia(context.Background(), more, []goengine.Span{span}); err != nil {
		t.Fatal(err)
	}
	if reused < start+n || encodes != 1 {
		t.Fatalf("second turn reused %d tokens (image ends at %d), encoded %d times", reused, start+n, encodes)
	}

	// Against the cache cut inside the image: it is decoded again whole.
	cut := append(slices.Clone(toks[:start+n/2]), -5, -6)
	cut = append(cut, toks[start+n/2+2:]...)
	if _, reused, err = e.PrefillMedia(context.Background(), cut, []goengine.Span{span}); err != nil {
		t.Fatal(err)
	}
	if reused != start || encodes != 2 {
		t.Fatalf("a changed image reused %d tokens (want %d, its start), encoded %d times", reused, start, encodes)
	}

	// Small batches: text before the image in one batch, the image in the next.
	small := loadVision(t, model, mmproj, n+2, mode)
	again, _, err := small.PrefillMedia(context.Background(), toks, []goengine.Span{span})
	if err != nil {
		t.Fatal(err)
	}
	if !close32(cold, again, 1e-4) {
		t.Fatal("logits differ with another batch size")
	}
	other := map[string]string{"causal": "bidirectional", "bidirectional": "causal"}[mode]
	oe := loadVision(t, model, mmproj, 0, other)
	if oe.ImageCausal() == e.ImageCausal() {
		t.Fatalf("%s and %s image attention are both causal %v", mode, other, e.ImageCausal())
	}
	if l, _, err := oe.PrefillMedia(context.Background(), toks, []goengine.Span{{Start: start, N: n, Causal: oe.ImageCausal(), Embed: embed}}); err != nil || close32(cold, l, 1e-3) {
		t.Fatalf("%s and %s image attention gave the same logits (%v)", mode, other, err)
	}

	// A different image, same tokens otherwise: different logits.
	otherImg, _ := e.PrepareImage(testImage(40, 30, 2))
	orows, err := e.EncodeImage(context.Background(), otherImg)
	if err != nil {
		t.Fatal(err)
	}
	otoks, _ := visionPrompt(n, 7000)
	diff, _, err := e.PrefillMedia(context.Background(), otoks, []goengine.Span{{Start: start, N: n, Causal: e.ImageCausal(), Embed: func() ([]float32, error) { return orows, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	if close32(cold, diff, 1e-3) {
		t.Fatal("another image gave the same logits: the embeddings are not read")
	}
	// The image in the cache is not encoded again; once the cache is
	// emptied, an encode that fails fails the prefill.
	if err := small.Reset(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := small.PrefillMedia(context.Background(), toks, []goengine.Span{{Start: start, N: n, Causal: small.ImageCausal(), Embed: func() ([]float32, error) { return nil, errors.New("gone") }}}); err == nil || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("a failing encode: %v", err)
	}
}

func TestVisionRefusals(t *testing.T) {
	model, mmproj := visionFiles(t, synth.ProjectorSpec{Seed: 3, Positions: 8})
	e := loadVision(t, model, mmproj, 0)
	// 8 positions per side cannot hold a long strip's patches.
	if _, err := e.PrepareImage(testImage(400, 4, 1)); err == nil || !strings.Contains(err.Error(), "elongated") {
		t.Fatalf("strip image: %v", err)
	}
	// A span longer than a batch.
	small := loadVision(t, model, mmproj, 16)
	toks, start := visionPrompt(20, 1)
	_, _, err := small.PrefillMedia(context.Background(), toks, []goengine.Span{{Start: start, N: 20, Embed: func() ([]float32, error) { return nil, nil }}})
	if err == nil || !strings.Contains(err.Error(), "raise --batch") {
		t.Fatalf("span over a batch: %v", err)
	}
	// A projector for a llama model, and a text model given as projector.
	if _, err := goengine.Load(goengine.Options{ModelPath: model, ProjectorPath: model}); err == nil || !strings.Contains(err.Error(), "not a multimodal projector") {
		t.Fatalf("model as projector: %v", err)
	}
	dir := t.TempDir()
	g3 := filepath.Join(dir, "gemma3.gguf")
	if err := synth.TinyVisionProjector(synth.Gemma4Tiny().NEmbd).Write(g3); err != nil {
		t.Fatal(err)
	}
	if _, err := goengine.Load(goengine.Options{ModelPath: model, ProjectorPath: g3}); err == nil || !strings.Contains(err.Error(), "gemma4v") {
		t.Fatalf("gemma3 projector: %v", err)
	}
	spec := synth.ProjectorSpec{Projector: synth.ProjectorGemma4V, TextEmbd: 48, Seed: 1}
	mis := filepath.Join(dir, "mismatch.gguf")
	if err := spec.Write(mis); err != nil {
		t.Fatal(err)
	}
	if _, err := goengine.Load(goengine.Options{ModelPath: model, ProjectorPath: mis}); err == nil || !strings.Contains(err.Error(), "another model") {
		t.Fatalf("projector of another width: %v", err)
	}
}

func close32(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		d := float64(a[i] - b[i])
		if d > tol || d < -tol {
			return false
		}
	}
	return true
}

// An encode whose context has ended stops inside its graph and says so;
// the engine encodes again afterwards.
func TestVisionEncodeCancelled(t *testing.T) {
	model, mmproj := visionFiles(t, synth.ProjectorSpec{Seed: 3})
	e := loadVision(t, model, mmproj, 0)
	im, err := e.PrepareImage(testImage(40, 30, 1))
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.EncodeImage(context.Background(), im)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stops := goengine.CancelStops(e)
	if _, err := e.EncodeImage(ctx, im); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled encode: %v", err)
	}
	if stops >= 0 && goengine.CancelStops(e) != stops+1 {
		t.Fatalf("the cancel stopped %d graphs, want 1", goengine.CancelStops(e)-stops)
	}
	got, err := e.EncodeImage(context.Background(), im)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("encode after a cancelled one: %v (same: %v)", err, slices.Equal(got, want))
	}
}

// Options.ImageTokens sets Gemma 4's budget: an image fills it, aspect
// kept, in whole pooled patches.
func TestVisionBudget(t *testing.T) {
	model, mmproj := visionFiles(t, synth.ProjectorSpec{Seed: 3})
	for _, c := range []struct{ budget, lo int }{{0, 200}, {70, 40}, {600, 450}} {
		e, err := goengine.Load(goengine.Options{ModelPath: model, ProjectorPath: mmproj, ContextSize: 1024, Threads: 2, ImageTokens: c.budget})
		if err != nil {
			t.Fatal(err)
		}
		im, err := e.PrepareImage(testImage(40, 30, 1))
		e.Close()
		if err != nil {
			t.Fatal(err)
		}
		hi := c.budget
		if hi == 0 {
			hi = 280
		}
		if im.Tokens() < c.lo || im.Tokens() > hi {
			t.Fatalf("budget %d: %d image tokens, want %d to %d", c.budget, im.Tokens(), c.lo, hi)
		}
	}
}
