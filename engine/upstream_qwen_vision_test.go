package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"natter/engine/gguf/synth"
	"natter/engine/goengine"
	"natter/media"
)

// qwenVisionFixture is testdata/upstream_qwen35_vision_greedy.json:
// upstream llama.cpp v0.5.0's greedy ids for a prompt holding one image,
// through its mtmd qwen3vl encoder and M-RoPE (see the file's "about").
type qwenVisionFixture struct {
	About      string
	ModelSHA   string `json:"model_sha256"`
	MmprojSHA  string `json:"mmproj_sha256"`
	Prompt     []int32
	Expected   []int32
	Margins    []float64
	Logits0    []float64 `json:"logits0"`
	EmbdStride int       `json:"embd_stride"`
	EmbdRows   int       `json:"embd_rows"`
	EmbdSample []float64 `json:"embd_sample"`
}

// The fixture's files: synth.Qwen35Tiny() with VisionTokens, a
// qwen3vl_merger projector (Seed 7, weights ×8 so the image weighs in the
// tiny model) with a native 8×8 patch grid, and a 96×64 picture as raw RGB:
// 12×8 patches, so the position table is interpolated, and 6×4 merged
// embeddings, so the grid is not square.
func qwenVisionFixtureFiles(t testing.TB, dir string) (model, mmproj string, img *media.Image) {
	spec := synth.Qwen35Tiny()
	spec.VisionTokens = true
	model, mmproj = filepath.Join(dir, "qwen35.gguf"), filepath.Join(dir, "mmproj.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	if err := (synth.ProjectorSpec{Projector: synth.ProjectorQwen3VL, TextEmbd: spec.NEmbd, ImageSize: 64, PatchSize: 8, Seed: 7, Gain: 8}).Write(mmproj); err != nil {
		t.Fatal(err)
	}
	img = &media.Image{W: 96, H: 64, RGB: make([]byte, 96*64*3)}
	for y := range 64 {
		for x := range 96 {
			i := 3 * (y*96 + x)
			img.RGB[i], img.RGB[i+1], img.RGB[i+2] = byte(x*255/95), byte(y*255/63), byte((x/12+y/16)%2*200)
		}
	}
	return model, mmproj, img
}

// readQwenFixture reads a fixture and checks that synth still writes its
// files byte for byte.
func readQwenFixture(t *testing.T, path, model, mmproj string) qwenVisionFixture {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fx qwenVisionFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	if got := sha(t, model); got != fx.ModelSHA {
		t.Fatalf("synth now writes the model with sha256 %s, the fixture's was %s: regenerate the fixture", got, fx.ModelSHA)
	}
	if got := sha(t, mmproj); got != fx.MmprojSHA {
		t.Fatalf("synth now writes the projector with sha256 %s, the fixture's was %s: regenerate the fixture", got, fx.MmprojSHA)
	}
	return fx
}

func sha(t testing.TB, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestWriteQwenVisionFixtureInputs writes the fixture's model, projector
// and image (image.rgb) into $NATTER_QWEN_FIXTURE_DIR for upstream's tools
// to read; it does nothing otherwise.
func TestWriteQwenVisionFixtureInputs(t *testing.T) {
	dir := os.Getenv("NATTER_QWEN_FIXTURE_DIR")
	if dir == "" {
		t.Skip("set NATTER_QWEN_FIXTURE_DIR to write the fixture's inputs")
	}
	model, mmproj, img := qwenVisionFixtureFiles(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "image.rgb"), img.RGB, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("model %s\nmmproj %s", sha(t, model), sha(t, mmproj))
}

// Qwen3.5 with an image on the Go engine against upstream llama.cpp on the
// same files: the embeddings (llama.cpp's CLIP code, natter's graph) equal
// upstream's within float rounding, and the greedy ids after the image
// (natter's M-RoPE placement through Ollama's model) equal upstream's at
// every step where upstream's choice is clear.
func TestQwenVisionGreedyMatchesUpstream(t *testing.T) {
	model, mmproj, img := qwenVisionFixtureFiles(t, t.TempDir())
	fx := readQwenFixture(t, "testdata/upstream_qwen35_vision_greedy.json", model, mmproj)
	spec := synth.Qwen35Tiny()
	clip, err := openClipVision(mmproj, spec.NEmbd, 1, 512)
	if err != nil {
		t.Fatal(err)
	}
	defer clip.Close()
	cim, err := clip.prepare(img)
	if err != nil {
		t.Fatal(err)
	}
	defer cim.free()
	if cim.gx != 6 || cim.gy != 4 {
		t.Fatalf("the image became a %d×%d grid, want 6×4", cim.gx, cim.gy)
	}
	// An encode whose request has ended stops, and leaves the encoder
	// working: the next one gives upstream's rows below.
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := clip.encode(ended, cim); !errors.Is(err, context.Canceled) {
		t.Fatalf("an encode for an ended request: %v; want it stopped", err)
	}
	rows, err := clip.encode(context.Background(), cim)
	if err != nil {
		t.Fatal(err)
	}
	start, n := slices.Index(fx.Prompt, -1), 0
	for _, tk := range fx.Prompt {
		if tk == -1 {
			n++
		}
	}
	if start < 1 || n != cim.tokens() || n != fx.EmbdRows {
		t.Fatalf("the image takes %d positions here, %d upstream", cim.tokens(), n)
	}
	worst, mean := 0.0, 0.0
	for i, want := range fx.EmbdSample {
		worst = max(worst, math.Abs(float64(rows[i*fx.EmbdStride])-want))
		mean += math.Abs(want) / float64(len(fx.EmbdSample))
	}
	if len(fx.EmbdSample) != (len(rows)+fx.EmbdStride-1)/fx.EmbdStride || !(worst <= 2e-3*max(1, mean)) { // (NaN fails)
		t.Fatalf("image embeddings differ from upstream's by up to %g (mean |value| %g)", worst, mean)
	}

	g, err := goengine.Load(goengine.Options{ModelPath: model, ContextSize: 1024, Threads: 1, FlashAttention: true, MRoPEImages: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	toks := slices.Clone(fx.Prompt)
	for i := start; i < start+n; i++ {
		toks[i] = int32(-1000 - i)
	}
	span := goengine.Span{Start: start, N: n, Causal: true, Grid: [2]int{cim.gx, cim.gy}, Embed: func() ([]float32, error) { return rows, nil }}
	logits, _, err := g.PrefillMedia(context.Background(), toks, []goengine.Span{span})
	if err != nil {
		t.Fatal(err)
	}
	// The logits after the prompt: the image's positions (time, row and
	// column, and where the text after it resumes) move them by far more
	// than rounding does (wrong rows and columns: 0.05; no time map: 0.09).
	off := 0.0
	for i, want := range fx.Logits0 {
		off = max(off, math.Abs(float64(logits[i])-want))
	}
	if len(fx.Logits0) != len(logits) || !(off <= 0.01) { // (NaN fails)
		t.Fatalf("logits after the prompt differ from upstream's by up to %g", off)
	}
	// Upstream's ids are fed back, so a near-tie rounding tips the other
	// way does not end the comparison.
	clear := 0
	for step, want := range fx.Expected {
		got := int32(slices.Index(logits, slices.Max(logits)))
		if fx.Margins[step] >= 0.1 {
			if got != want {
				t.Fatalf("step %d: natter picks %d, upstream %d (upstream's margin %.3f)", step, got, want, fx.Margins[step])
			}
			clear++
		}
		if logits, err = g.Decode(want); err != nil {
			t.Fatal(err)
		}
	}
	if clear < 12 {
		t.Fatalf("only %d clear steps: the fixture shows little", clear)
	}
	t.Logf("embeddings within %.1e of upstream's (mean |value| %.3g); logits within %.1e; %d greedy ids match", worst, mean, off, clear)
}
