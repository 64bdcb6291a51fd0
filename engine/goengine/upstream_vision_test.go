package goengine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"natter/engine/gguf/synth"
	"natter/engine/goengine"
)

// visionFixture is testdata/upstream_vision_greedy.json: upstream llama.cpp
// v0.5.0's greedy ids for a prompt holding one image, through its mtmd
// gemma4v encoder (see the file's "about").
type visionFixture struct {
	About      string
	ModelSHA   string `json:"model_sha256"`
	MmprojSHA  string `json:"mmproj_sha256"`
	Prompt     []int32
	Expected   []int32
	Margins    []float64
	EmbdStride int       `json:"embd_stride"`
	EmbdSample []float64 `json:"embd_sample"`
}

// The fixture's files: synth.Gemma4Tiny() with ImageTokens, a gemma4v
// projector (Seed 7), and a picture sized so that neither engine resizes
// it (upstream keeps sizes within its token limits; Ollama's processor
// fills 280 embeddings, which 320×224 with 16-pixel pooled patches is).
func visionFixtureFiles(t testing.TB, dir string) (model, mmproj string, img *image.RGBA) {
	spec := synth.Gemma4Tiny()
	spec.ImageTokens = true
	model, mmproj = filepath.Join(dir, "gemma4.gguf"), filepath.Join(dir, "mmproj.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	if err := (synth.ProjectorSpec{Projector: synth.ProjectorGemma4V, TextEmbd: spec.NEmbd, Seed: 7}).Write(mmproj); err != nil {
		t.Fatal(err)
	}
	img = image.NewRGBA(image.Rect(0, 0, 320, 224))
	for y := range 224 {
		for x := range 320 {
			img.Set(x, y, color.RGBA{uint8(x * 255 / 319), uint8(y * 255 / 223), uint8((x / 40 % 2) * 200), 255})
		}
	}
	return model, mmproj, img
}

func fileSHA(t testing.TB, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestWriteVisionFixtureInputs writes the fixture's model, projector and
// PNG into $NATTER_VISION_FIXTURE_DIR for upstream's tools to read; it
// does nothing otherwise.
func TestWriteVisionFixtureInputs(t *testing.T) {
	dir := os.Getenv("NATTER_VISION_FIXTURE_DIR")
	if dir == "" {
		t.Skip("set NATTER_VISION_FIXTURE_DIR to write the fixture's inputs")
	}
	model, mmproj, img := visionFixtureFiles(t, dir)
	f, err := os.Create(filepath.Join(dir, "image.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	t.Logf("model %s\nmmproj %s", fileSHA(t, model), fileSHA(t, mmproj))
}

// Gemma 4 vision on the Go engine against upstream llama.cpp on the same
// files: the image's embeddings (Ollama's encoder, natter's pooling and
// embedder order) equal upstream's within float rounding, and the greedy
// ids after the image (natter's placement and causal arrangement) equal
// upstream's for as long as upstream's choice is clear. The random tiny
// model amplifies rounding (the embeddings differ by about 1e-4 of 0.1), so
// near-ties later on may fall either way; a wrong encoder, order or mask
// changes the very first ids.
func TestVisionGreedyMatchesUpstream(t *testing.T) {
	b, err := os.ReadFile("testdata/upstream_vision_greedy.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx visionFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	model, mmproj, img := visionFixtureFiles(t, t.TempDir())
	if got := fileSHA(t, model); got != fx.ModelSHA {
		t.Fatalf("synth now writes the model with sha256 %s, the fixture's was %s: regenerate the fixture", got, fx.ModelSHA)
	}
	if got := fileSHA(t, mmproj); got != fx.MmprojSHA {
		t.Fatalf("synth now writes the projector with sha256 %s, the fixture's was %s: regenerate the fixture", got, fx.MmprojSHA)
	}
	e, err := goengine.Load(goengine.Options{ModelPath: model, ProjectorPath: mmproj, ContextSize: 1024, Threads: 1, FlashAttention: true, ImageAttention: "causal"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	im, err := e.PrepareImage(img)
	if err != nil {
		t.Fatal(err)
	}
	start, n := slices.Index(fx.Prompt, -1), 0
	for _, tk := range fx.Prompt {
		if tk == -1 {
			n++
		}
	}
	if start < 0 || im.Tokens() != n {
		t.Fatalf("the image takes %d positions here, %d upstream", im.Tokens(), n)
	}
	rows, err := e.EncodeImage(context.Background(), im)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i, want := range fx.EmbdSample {
		worst = max(worst, math.Abs(float64(rows[i*fx.EmbdStride])-want))
	}
	if len(fx.EmbdSample) != (len(rows)+fx.EmbdStride-1)/fx.EmbdStride || !(worst <= 2e-3) { // (NaN fails)
		t.Fatalf("image embeddings differ from upstream's by up to %g (%d samples of %d values)", worst, len(fx.EmbdSample), len(rows))
	}
	t.Logf("image embeddings within %.1e of upstream's", worst)

	toks := slices.Clone(fx.Prompt)
	for i := start; i < start+n; i++ {
		toks[i] = int32(-1000 - i)
	}
	span := goengine.Span{Start: start, N: n, Causal: e.ImageCausal(), Embed: func() ([]float32, error) { return rows, nil }}
	logits, _, err := e.PrefillMedia(context.Background(), toks, []goengine.Span{span})
	if err != nil {
		t.Fatal(err)
	}
	// Compare up to the first step where upstream's top two are within
	// 0.1 of each other.
	clear := len(fx.Expected)
	for i, m := range fx.Margins {
		if m < 0.1 {
			clear = i
			break
		}
	}
	if clear < 8 {
		t.Fatalf("the fixture has only %d clear steps", clear)
	}
	s := goengine.NewSampler(0, 0, 0, 0, 1)
	var got []int32
	for range clear {
		tok := s.Sample(logits)
		got = append(got, tok)
		if logits, err = e.Decode(tok); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(got, fx.Expected[:clear]) {
		t.Fatalf("Go engine %v\nupstream  %v (the first %d steps, upstream's margins %v)", got, fx.Expected[:clear], clear, fx.Margins[:clear])
	}
}
