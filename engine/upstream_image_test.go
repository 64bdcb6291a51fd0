package engine

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/media"
	"natter/prompts"
)

// The Qwen3-VL fixture's files (testdata/upstream_qwen3vl_greedy.json,
// made as the Qwen3.5 one is, see its "about"): synth.Qwen3Tiny() as
// Qwen3-VL's text model (on the llama.cpp backend) with the ChatML
// template, and the Qwen3.5 fixture's projector and picture.
func qwen3VLFixtureFiles(t testing.TB, dir string) (model, mmproj string, img *media.Image) {
	_, mmproj, img = qwenVisionFixtureFiles(t, dir)
	spec := synth.Qwen3Tiny()
	spec.VL, spec.ChatTemplate = true, synth.ChatML
	model = filepath.Join(dir, "qwen3vl.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	return model, mmproj, img
}

// TestWriteQwen3VLFixtureInputs writes the fixture's files into
// $NATTER_QWEN_FIXTURE_DIR; it does nothing otherwise.
func TestWriteQwen3VLFixtureInputs(t *testing.T) {
	dir := os.Getenv("NATTER_QWEN_FIXTURE_DIR")
	if dir == "" {
		t.Skip("set NATTER_QWEN_FIXTURE_DIR to write the fixture's inputs")
	}
	model, mmproj, img := qwen3VLFixtureFiles(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "image.rgb"), img.RGB, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("model %s\nmmproj %s", sha(t, model), sha(t, mmproj))
}

// Qwen3-VL with an image on the llama.cpp backend against upstream
// llama.cpp on the same files (checkImageFixture).
func TestQwen3VLGreedyMatchesUpstream(t *testing.T) {
	model, mmproj, img := qwen3VLFixtureFiles(t, t.TempDir())
	checkImageFixture(t, "testdata/upstream_qwen3vl_greedy.json", model, mmproj, img)
}

// The Qwen2.5-VL fixture's files (testdata/upstream_qwen25vl_greedy.json):
// synth.Qwen2Tiny() as Qwen2-VL's text model with the ChatML template, a
// qwen2.5vl_merger projector (Seed 7, weights ×8, 14-pixel patches, window
// attention in its first block) and a 252×168 picture: 18×12 patches, 9×6
// embeddings, so the 4×4 windows do not tile it evenly.
func qwen25VLFixtureFiles(t testing.TB, dir string) (model, mmproj string, img *media.Image) {
	spec := synth.Qwen2Tiny()
	spec.VL, spec.ChatTemplate = true, synth.ChatML
	model, mmproj = filepath.Join(dir, "qwen2vl.gguf"), filepath.Join(dir, "mmproj-qwen25vl.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	if err := (synth.ProjectorSpec{Projector: synth.ProjectorQwen25VL, TextEmbd: spec.NEmbd, ImageSize: 224, PatchSize: 14, Seed: 7, Gain: 8}).Write(mmproj); err != nil {
		t.Fatal(err)
	}
	img = &media.Image{W: 252, H: 168, RGB: make([]byte, 252*168*3)}
	for y := range 168 {
		for x := range 252 {
			i := 3 * (y*252 + x)
			img.RGB[i], img.RGB[i+1], img.RGB[i+2] = byte(x*255/251), byte(y*255/167), byte((x/28+y/21)%2*200)
		}
	}
	return model, mmproj, img
}

// TestWriteQwen25VLFixtureInputs writes the fixture's files into
// $NATTER_QWEN_FIXTURE_DIR; it does nothing otherwise.
func TestWriteQwen25VLFixtureInputs(t *testing.T) {
	dir := os.Getenv("NATTER_QWEN_FIXTURE_DIR")
	if dir == "" {
		t.Skip("set NATTER_QWEN_FIXTURE_DIR to write the fixture's inputs")
	}
	model, mmproj, img := qwen25VLFixtureFiles(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "image25.rgb"), img.RGB, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("model %s\nmmproj %s", sha(t, model), sha(t, mmproj))
}

// Qwen2.5-VL as Qwen3-VL above: the Qwen2-VL family's encoder (window
// attention, no position table) and M-RoPE (not interleaved).
func TestQwen25VLGreedyMatchesUpstream(t *testing.T) {
	model, mmproj, img := qwen25VLFixtureFiles(t, t.TempDir())
	checkImageFixture(t, "testdata/upstream_qwen25vl_greedy.json", model, mmproj, img)
}

// checkImageFixture runs a fixture of upstream's greedy ids for one image
// on the llama.cpp backend: natter's prompt equals upstream's token for
// token, and with natter's placement (for M-RoPE models, the image's rows
// and columns, the text after it resuming at the grid's longer side) the
// logits after the prompt and the greedy ids at every clear step equal
// upstream's, with the image decoded in one batch and in pieces.
func checkImageFixture(t *testing.T, fixture, model, mmproj string, img *media.Image) {
	fx := readQwenFixture(t, fixture, model, mmproj)
	for _, batch := range []int{0, 16} {
		e, err := Load(Options{ModelPath: model, Projector: mmproj, ContextSize: 1024, BatchSize: batch, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		png := attachment(prompts.MediaImage, "image.png", "png", pngFromRGB(t, img))
		req := api.Request{Messages: []prompts.Message{{Role: prompts.RoleUser, Content: "what is in the picture?", Media: []prompts.Attachment{png}}}}
		p, err := e.buildPrompt(req)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Clone(p.tokens)
		for i := range got {
			if got[i] < 0 {
				got[i] = -1
			}
		}
		if !slices.Equal(got, fx.Prompt) {
			t.Fatalf("natter's prompt %v\nupstream's   %v", got, fx.Prompt)
		}
		logits := prefillLogits(t, e, p)
		off := 0.0
		for i, want := range fx.Logits0 {
			off = max(off, math.Abs(float64(logits[i])-want))
		}
		// Kernel rounding (natter's llama.cpp is older than upstream's)
		// leaves up to 0.03; a missing gap after the image gives 10.6, no
		// rows and columns 4.2.
		if len(fx.Logits0) != len(logits) || off > 0.05 || math.IsNaN(off) {
			t.Fatalf("batch %d: logits after the prompt differ from upstream's by up to %g", batch, off)
		}
		clear := 0
		for step, want := range fx.Expected {
			got := Token(slices.Index(logits, slices.Max(logits)))
			if fx.Margins[step] >= 0.1 {
				if got != Token(want) {
					t.Fatalf("batch %d, step %d: natter picks %d, upstream %d (margin %.3f)", batch, step, got, want, fx.Margins[step])
				}
				clear++
			}
			if derr := e.do(func() {
				if err = e.lc.decode([]Token{Token(want)}, e.posAt(len(e.cached)), true); err == nil {
					e.cached = append(e.cached, Token(want))
					logits = e.lc.lastLogits(e.model.nVocab())
				}
			}); derr != nil || err != nil {
				t.Fatal(derr, err)
			}
		}
		if clear < 12 {
			t.Fatalf("only %d clear steps", clear)
		}
		t.Logf("batch %d: logits within %.1e of upstream's; %d greedy ids match", batch, off, clear)
	}
}

// The Qwen2-VL fixture's files (testdata/upstream_qwen2vl_greedy.json): as
// Qwen2.5-VL's, with a qwen2vl_merger projector (Seed 11, weights ×8, two
// blocks, layer norms, full attention) and a 224×196 picture: 16×14
// patches, 8×7 embeddings.
func qwen2VLFixtureFiles(t testing.TB, dir string) (model, mmproj string, img *media.Image) {
	spec := synth.Qwen2Tiny()
	spec.VL, spec.ChatTemplate = true, synth.ChatML
	model, mmproj = filepath.Join(dir, "qwen2vl.gguf"), filepath.Join(dir, "mmproj-qwen2vl.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	if err := (synth.ProjectorSpec{Projector: synth.ProjectorQwen2VL, TextEmbd: spec.NEmbd, ImageSize: 224, PatchSize: 14, Seed: 11, Gain: 8}).Write(mmproj); err != nil {
		t.Fatal(err)
	}
	img = &media.Image{W: 224, H: 196, RGB: make([]byte, 224*196*3)}
	for y := range 196 {
		for x := range 224 {
			i := 3 * (y*224 + x)
			img.RGB[i], img.RGB[i+1], img.RGB[i+2] = byte((x+y)*255/418), byte(x*y%251), byte((x/32+y/28)%2*180)
		}
	}
	return model, mmproj, img
}

// TestWriteQwen2VLFixtureInputs writes the fixture's files into
// $NATTER_QWEN_FIXTURE_DIR; it does nothing otherwise.
func TestWriteQwen2VLFixtureInputs(t *testing.T) {
	dir := os.Getenv("NATTER_QWEN_FIXTURE_DIR")
	if dir == "" {
		t.Skip("set NATTER_QWEN_FIXTURE_DIR to write the fixture's inputs")
	}
	model, mmproj, img := qwen2VLFixtureFiles(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "image2.rgb"), img.RGB, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("model %s\nmmproj %s", sha(t, model), sha(t, mmproj))
}

// Qwen2-VL as Qwen2.5-VL: the same M-RoPE placement, with the family's
// first encoder (layer norms, a plain GELU MLP, no windows).
func TestQwen2VLGreedyMatchesUpstream(t *testing.T) {
	model, mmproj, img := qwen2VLFixtureFiles(t, t.TempDir())
	checkImageFixture(t, "testdata/upstream_qwen2vl_greedy.json", model, mmproj, img)
}

// The Pixtral fixture's files (testdata/upstream_pixtral_greedy.json):
// synth.Qwen3Tiny() with the ChatML template (the encoder does not depend
// on the text model's architecture), a pixtral projector in Mistral Small
// 3.1 / Ministral 3's layout (Seed 7, weights ×8, a 2×2 patch merger) and
// a 64×48 picture: 8×6 patches, 4×3 embeddings and two [IMG_BREAK]s.
func pixtralFixtureFiles(t testing.TB, dir string) (model, mmproj string, img *media.Image) {
	spec := synth.Qwen3Tiny()
	spec.ChatTemplate = synth.ChatML
	model, mmproj = filepath.Join(dir, "qwen3.gguf"), filepath.Join(dir, "mmproj-pixtral.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	if err := (synth.ProjectorSpec{Projector: synth.ProjectorPixtral, TextEmbd: spec.NEmbd, ImageSize: 64, PatchSize: 8, Seed: 7, Gain: 8}).Write(mmproj); err != nil {
		t.Fatal(err)
	}
	img = &media.Image{W: 64, H: 48, RGB: make([]byte, 64*48*3)}
	for y := range 48 {
		for x := range 64 {
			i := 3 * (y*64 + x)
			img.RGB[i], img.RGB[i+1], img.RGB[i+2] = byte(x*4), byte(y*5), byte((x/8+y/8)%2*200)
		}
	}
	return model, mmproj, img
}

// TestWritePixtralFixtureInputs writes the fixture's files into
// $NATTER_QWEN_FIXTURE_DIR; it does nothing otherwise.
func TestWritePixtralFixtureInputs(t *testing.T) {
	dir := os.Getenv("NATTER_QWEN_FIXTURE_DIR")
	if dir == "" {
		t.Skip("set NATTER_QWEN_FIXTURE_DIR to write the fixture's inputs")
	}
	model, mmproj, img := pixtralFixtureFiles(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "image.rgb"), img.RGB, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("model %s\nmmproj %s", sha(t, model), sha(t, mmproj))
}

// Ministral 3-style images (pixtral) on the llama.cpp backend against
// upstream llama.cpp on the same files.
func TestPixtralGreedyMatchesUpstream(t *testing.T) {
	model, mmproj, img := pixtralFixtureFiles(t, t.TempDir())
	checkImageFixture(t, "testdata/upstream_pixtral_greedy.json", model, mmproj, img)
}

// The bundled Pixtral graph made its [IMG_BREAK] rows from memory it never
// wrote (scaled by 0, which leaves NaN as NaN): 4 loads in 100 gave
// NaN embeddings and NaN logits. natter's graph repeats the token instead;
// a hundred fresh loads (whose buffers reuse freed memory) all give finite
// logits, where the old graph failed within the first thirty in each of
// three tries.
func TestPixtralBreakRowsAreAlwaysFinite(t *testing.T) {
	model, mmproj, img := pixtralFixtureFiles(t, t.TempDir())
	png := attachment(prompts.MediaImage, "image.png", "png", pngFromRGB(t, img))
	req := api.Request{Messages: []prompts.Message{{Role: prompts.RoleUser, Content: "what is in the picture?", Media: []prompts.Attachment{png}}}}
	for load := range 100 {
		e, err := Load(Options{ModelPath: model, Projector: mmproj, ContextSize: 256, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.buildPrompt(req)
		if err != nil {
			e.Close()
			t.Fatal(err)
		}
		logits := prefillLogits(t, e, p)
		e.Close()
		for i, v := range logits {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("load %d: logit %d is %v after the image", load, i, v)
			}
		}
	}
}

// prefillLogits decodes p from position 0 on e's worker, leaves it in the
// cache and returns the logits after it.
func prefillLogits(t testing.TB, e *Engine, p builtPrompt) []float32 {
	t.Helper()
	var logits []float32
	var err error
	if derr := e.do(func() {
		if err = e.decodePrompt(p.tokens, 0, p.media); err == nil {
			e.cached = append(e.cached[:0], p.tokens...)
			logits = e.lc.lastLogits(e.model.nVocab())
		}
	}); derr != nil || err != nil {
		t.Fatal(derr, err)
	}
	return logits
}

// encodeFirst runs e's projector on p's first attachment on e's worker.
func encodeFirst(e *Engine, p builtPrompt) error {
	var err error
	if derr := e.do(func() {
		e.proj.mu.Lock()
		defer e.proj.mu.Unlock()
		_, err = e.proj.encode(p.media[0])
	}); derr != nil {
		return derr
	}
	return err
}

func countNegative(toks []Token) int {
	n := 0
	for _, t := range toks {
		if t < 0 {
			n++
		}
	}
	return n
}

// pngFromRGB encodes img as a PNG (lossless: natter decodes the same RGB).
func pngFromRGB(t *testing.T, img *media.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, rgbaOf(img)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Qwen3-VL through Open (the llama.cpp backend): a chat turn with an image,
// then a second turn that reuses the cache through the image and answers
// as a cold engine does; a cache holding M-RoPE images is not saved.
func TestQwen3VLImageTurns(t *testing.T) {
	model, mmproj, img := qwen3VLFixtureFiles(t, t.TempDir())
	open := func() *Engine {
		e, err := Load(Options{ModelPath: model, Projector: mmproj, ContextSize: 1024, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		return e
	}
	e := open()
	if in := e.Info(); !in.Vision {
		t.Fatalf("Info() = vision %v", in.Vision)
	}
	png := attachment(prompts.MediaImage, "image.png", "png", pngFromRGB(t, img))
	req := imageRequest([]prompts.Attachment{png}, "what is in the picture?")
	r1 := collectGen(t, e, req)
	if _, _, err := e.SaveState(); err == nil {
		t.Fatal("a cache holding an M-RoPE image was saved")
	}
	turn2 := req
	turn2.Messages = append(slices.Clone(req.Messages),
		prompts.Message{Role: prompts.RoleAssistant, Content: r1.text},
		prompts.Message{Role: prompts.RoleUser, Content: "and the colours?"})
	r2 := collectGen(t, e, turn2)
	toks, _ := e.PromptTokens(req)
	if r2.stats.CachedTokens < len(toks)-1 {
		t.Fatalf("turn 2 reused %d tokens; turn 1's prompt has %d", r2.stats.CachedTokens, len(toks))
	}
	if c := collectGen(t, open(), turn2); c.text != r2.text {
		t.Fatalf("cached turn 2 %q differs from a cold run %q", r2.text, c.text)
	}
	// ImageTokens bounds the embeddings (mtmd's image_max_tokens): the
	// 6×4 image becomes at most 12.
	few, err := Load(Options{ModelPath: model, Projector: mmproj, ContextSize: 1024, Threads: 1, ImageTokens: 12})
	if err != nil {
		t.Fatal(err)
	}
	defer few.Close()
	ft, err := few.PromptTokens(req)
	if err != nil {
		t.Fatal(err)
	}
	if n := countNegative(ft); n < 8 || n > 12 {
		t.Fatalf("with ImageTokens 12 the image became %d embeddings (24 without)", n)
	}
	// After a reset, a text-only prompt runs with plain positions again.
	if err := e.Reset(); err != nil {
		t.Fatal(err)
	}
	text := api.Request{Messages: []prompts.Message{{Role: prompts.RoleUser, Content: "hello"}}, Sampling: greedy(), MaxTokens: 8, IgnoreEOS: true}
	if a, b := collectGen(t, e, text), collectGen(t, open(), text); a.text != b.text {
		t.Fatalf("text after an image chat %q differs from a fresh engine's %q", a.text, b.text)
	}
}
