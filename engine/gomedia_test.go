package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/prompts"
)

// Images on the Go engine: a synthetic Gemma 4 model (with its image
// delimiters) and a synthetic gemma4v projector, encoded by the Go
// engine's vision model for real.

func gemma4VisionFiles(t *testing.T) (model, proj string) {
	t.Helper()
	dir := t.TempDir()
	spec := synth.Gemma4Tiny()
	spec.ImageTokens = true
	model = filepath.Join(dir, "gemma4.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	proj = filepath.Join(dir, "mmproj-gemma4.gguf")
	if err := (synth.ProjectorSpec{Projector: synth.ProjectorGemma4V, TextEmbd: spec.NEmbd, Seed: 5}).Write(proj); err != nil {
		t.Fatal(err)
	}
	return model, proj
}

func openGemma4Vision(t *testing.T, model, proj string) Model {
	t.Helper()
	m, err := Open(Options{ModelPath: model, Projector: proj, ContextSize: 1024, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestGoEngineImageEndToEnd(t *testing.T) {
	model, proj := gemma4VisionFiles(t)
	m := openGemma4Vision(t, model, proj)
	g, ok := m.(*GoEngine)
	if !ok {
		t.Fatalf("a gemma4 model opened on %T", m)
	}
	if in := g.Info(); !in.Vision || in.Audio || in.Projector != proj || in.ProjectorNote != "" {
		t.Fatalf("Info() = vision %v audio %v projector %q note %q", in.Vision, in.Audio, in.Projector, in.ProjectorNote)
	}
	grad := attachment(prompts.MediaImage, "grad.png", "png", pngOf(t, 64, 48, false))
	// The same size, so the same number of positions: only the embeddings
	// tell the two apart.
	check := attachment(prompts.MediaImage, "check.png", "png", pngOf(t, 64, 48, true))
	req := imageRequest([]prompts.Attachment{grad}, "what is this?")

	// The image sits between Gemma 4's delimiters where the template puts
	// the message, as placeholders; /prompt names it.
	toks, err := g.PromptTokens(req)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := slices.Index(toks, Token(synth.GemmaImageStart)), slices.Index(toks, Token(synth.GemmaImageEnd))
	if begin < 0 || end <= begin+1 {
		t.Fatalf("no <|image> … <image|> in the prompt tokens %v", toks)
	}
	n := end - begin - 1
	for _, tk := range toks[begin+1 : end] {
		if tk >= 0 {
			t.Fatalf("a real token %d among the image's placeholders", tk)
		}
	}
	if n < 100 || n > 280 {
		t.Fatalf("the image takes %d positions, want Gemma 4's budget of at most 280 (and near it)", n)
	}
	text, _, err := g.RenderPrompt(req)
	if err != nil {
		t.Fatal(err)
	}
	label := "[image grad.png: " + strconv.Itoa(n) + " tokens]"
	if !strings.Contains(text, label) || strings.Contains(text, "__media_") {
		t.Fatalf("rendered prompt %q lacks %q", text, label)
	}

	r1 := collectGen(t, g, req)
	if r1.stats.PromptTokens != len(toks) {
		t.Fatalf("prompt tokens %d, want %d", r1.stats.PromptTokens, len(toks))
	}
	g.Reset()
	if again := collectGen(t, g, req); again.text != r1.text {
		t.Fatalf("greedy output with the same image differs run to run: %q vs %q", r1.text, again.text)
	}
	g.Reset()
	if other := collectGen(t, g, imageRequest([]prompts.Attachment{check}, "what is this?")); other.text == r1.text {
		t.Fatalf("another image gave the same reply %q: the embeddings are not reaching the model", other.text)
	}

	// A second turn reuses the cache through the image and answers as a
	// cold engine does.
	g.Reset()
	r1 = collectGen(t, g, req)
	turn2 := req
	turn2.Messages = append(slices.Clone(req.Messages),
		prompts.Message{Role: prompts.RoleAssistant, Content: r1.text},
		prompts.Message{Role: prompts.RoleUser, Content: "and the colours?"})
	r2 := collectGen(t, g, turn2)
	if r2.stats.CachedTokens < end+1 {
		t.Fatalf("turn 2 reused %d tokens; the image ends at %d", r2.stats.CachedTokens, end+1)
	}
	cold := openGemma4Vision(t, model, proj)
	if c := collectGen(t, cold, turn2); c.text != r2.text {
		t.Fatalf("cached turn 2 %q differs from a cold run %q", r2.text, c.text)
	}

	// Audio is refused in words, before anything runs.
	wav := attachment(prompts.MediaAudio, "memo.wav", "wav", wavOf(16000, 0.5, 440))
	if _, err := g.PromptTokens(imageRequest([]prompts.Attachment{wav}, "transcribe")); err == nil || !strings.Contains(err.Error(), "images, not audio") {
		t.Fatalf("audio attachment: %v", err)
	}
	// A broken image: a clear error naming it.
	bad := attachment(prompts.MediaImage, "broken.png", "png", pngOf(t, 32, 32, false)[:40])
	ch, err := g.Generate(t.Context(), imageRequest([]prompts.Attachment{bad}, "what?"))
	if err != nil {
		t.Fatal(err)
	}
	if r := collect(t, ch, nil); r.err == nil || !strings.Contains(r.err.Error(), "broken.png") {
		t.Fatalf("broken image: %v", r.err)
	}
}

// A projector that does not fit: asked for, the load fails naming it;
// found beside the model, the model loads text-only and says why.
func TestGoEngineProjectorRefused(t *testing.T) {
	model, _ := gemma4VisionFiles(t)
	wrong := filepath.Join(t.TempDir(), "mmproj-gemma3.gguf")
	if err := synth.TinyVisionProjector(synth.Gemma4Tiny().NEmbd).Write(wrong); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{ModelPath: model, Projector: wrong, ContextSize: 512}); err == nil || !strings.Contains(err.Error(), "--mmproj") || !strings.Contains(err.Error(), "gemma4v") {
		t.Fatalf("asked-for gemma3 projector: %v", err)
	}
	m, err := Open(Options{ModelPath: model, Projector: wrong, ProjectorFound: true, ContextSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if in := m.Info(); in.Vision || !strings.Contains(in.ProjectorNote, "gemma4v") {
		t.Fatalf("found gemma3 projector: vision %v note %q", in.Vision, in.ProjectorNote)
	}
	img := attachment(prompts.MediaImage, "grad.png", "png", pngOf(t, 16, 16, false))
	if _, err := m.PromptTokens(api.Request{Messages: []prompts.Message{{Role: prompts.RoleUser, Content: "hi", Media: []prompts.Attachment{img}}}}); err == nil || !strings.Contains(err.Error(), "text only") {
		t.Fatalf("image to a text-only model: %v", err)
	}
}

// Audio on the Go engine: a synthetic Gemma 4 model with its delimiters
// and a projector holding both Gemma 4 encoders, as E2B/E4B's is; Ollama's
// loader opens it through natter's cached copy.
func TestGoEngineAudioEndToEnd(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	dir := t.TempDir()
	spec := synth.Gemma4Tiny()
	spec.AudioTokens = true
	model := filepath.Join(dir, "gemma4.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(dir, "mmproj-gemma4.gguf")
	if err := (synth.ProjectorSpec{Projector: synth.ProjectorGemma4V, Gemma4Audio: true, TextEmbd: spec.NEmbd, Seed: 5}).Write(proj); err != nil {
		t.Fatal(err)
	}
	before := fileBytes(t, proj)
	m := openGemma4Vision(t, model, proj)
	in := m.Info()
	if !in.Vision || !in.Audio || in.Projector != proj || in.ProjectorNote != "" {
		t.Fatalf("Info() = vision %v audio %v projector %q note %q", in.Vision, in.Audio, in.Projector, in.ProjectorNote)
	}
	if !strings.HasPrefix(in.ProjectorCopy, filepath.Join(cache, "natter", "projectors")) || !strings.Contains(in.ProjectorCopyNote, "loadable copy") || !strings.Contains(in.ProjectorCopyNote, "kB") {
		t.Fatalf("copy %q note %q", in.ProjectorCopy, in.ProjectorCopyNote)
	}
	if !slices.Equal(before, fileBytes(t, proj)) {
		t.Fatal("the user's projector file changed")
	}
	// A second load reuses the copy and says nothing.
	if again := openGemma4Vision(t, model, proj).Info(); again.ProjectorCopy != in.ProjectorCopy || again.ProjectorCopyNote != "" {
		t.Fatalf("second load: copy %q note %q", again.ProjectorCopy, again.ProjectorCopyNote)
	}

	memo := attachment(prompts.MediaAudio, "memo.wav", "wav", wavOf(16000, 2, 440))
	req := imageRequest([]prompts.Attachment{memo}, "transcribe this")
	toks, err := m.PromptTokens(req)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := slices.Index(toks, Token(synth.GemmaAudioStart)), slices.Index(toks, Token(synth.GemmaAudioEnd))
	// 2 s at 25 embeddings a second.
	if begin < 0 || end-begin-1 != 50 {
		t.Fatalf("no <|audio> + 50 placeholders + <audio|> in %v", toks)
	}
	text, _, err := m.RenderPrompt(req)
	if err != nil {
		t.Fatal(err)
	}
	if label := "[audio memo.wav: 50 tokens]"; !strings.Contains(text, label) {
		t.Fatalf("rendered prompt %q lacks %q", text, label)
	}
	g := m.(*GoEngine)
	r1 := collectGen(t, g, req)
	g.Reset()
	if again := collectGen(t, g, req); again.text != r1.text {
		t.Fatalf("greedy output with the same clip differs run to run: %q vs %q", r1.text, again.text)
	}
	g.Reset()
	other := attachment(prompts.MediaAudio, "other.wav", "wav", wavOf(16000, 2, 1234))
	if o := collectGen(t, g, imageRequest([]prompts.Attachment{other}, "transcribe this")); o.text == r1.text {
		t.Fatalf("another clip gave the same reply %q: the embeddings are not reaching the model", o.text)
	}
	// Turn 2 reuses the cache through the clip and answers as a cold run.
	g.Reset()
	r1 = collectGen(t, g, req)
	turn2 := req
	turn2.Messages = append(slices.Clone(req.Messages),
		prompts.Message{Role: prompts.RoleAssistant, Content: r1.text},
		prompts.Message{Role: prompts.RoleUser, Content: "and then?"})
	r2 := collectGen(t, g, turn2)
	if r2.stats.CachedTokens < end+1 {
		t.Fatalf("turn 2 reused %d tokens; the clip ends at %d", r2.stats.CachedTokens, end+1)
	}
	if c := collectGen(t, openGemma4Vision(t, model, proj), turn2); c.text != r2.text {
		t.Fatalf("cached turn 2 %q differs from a cold run %q", r2.text, c.text)
	}
	// An image and a clip in one message both go in.
	img := attachment(prompts.MediaImage, "grad.png", "png", pngOf(t, 64, 48, false))
	both, err := m.PromptTokens(imageRequest([]prompts.Attachment{img, memo}, "what?"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(both, Token(synth.GemmaImageStart)) || !slices.Contains(both, Token(synth.GemmaAudioStart)) {
		t.Fatalf("image and clip: %v", both)
	}
	// Broken and empty audio: clear errors naming the file.
	for _, bad := range []prompts.Attachment{
		attachment(prompts.MediaAudio, "cut.wav", "wav", wavOf(16000, 1, 300)[:30]),
		attachment(prompts.MediaAudio, "blip.wav", "wav", wavOf(16000, 0.005, 300)),
	} {
		ch, err := g.Generate(t.Context(), imageRequest([]prompts.Attachment{bad}, "what?"))
		if err == nil {
			r := collect(t, ch, nil)
			err = r.err
		}
		if err == nil || !strings.Contains(err.Error(), bad.Name) {
			t.Fatalf("%s: %v", bad.Name, err)
		}
	}
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Images on Qwen3.5 (the Go engine, M-RoPE): a synthetic qwen35 model
// with Qwen's vision tokens and a synthetic qwen3vl_merger projector, run
// through Open as a user's files are.
func TestGoEngineQwenImageEndToEnd(t *testing.T) {
	dir := t.TempDir()
	spec := synth.Qwen35Tiny()
	spec.VisionTokens = true
	model := filepath.Join(dir, "qwen35.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	proj := filepath.Join(dir, "mmproj-qwen35.gguf")
	if err := (synth.ProjectorSpec{Projector: synth.ProjectorQwen3VL, TextEmbd: spec.NEmbd, Seed: 5, Gain: 8}).Write(proj); err != nil {
		t.Fatal(err)
	}
	m := openGemma4Vision(t, model, proj)
	g, ok := m.(*GoEngine)
	if !ok {
		t.Fatalf("a qwen35 model opened on %T", m)
	}
	if in := g.Info(); !in.Vision || in.Audio || in.Projector != proj || in.ProjectorNote != "" {
		t.Fatalf("Info() = vision %v audio %v projector %q note %q", in.Vision, in.Audio, in.Projector, in.ProjectorNote)
	}
	// 96×64 pixels: 12×8 patches of 8, 6×4 embeddings after the 2×2 merge.
	wide := attachment(prompts.MediaImage, "wide.png", "png", pngOf(t, 96, 64, false))
	req := imageRequest([]prompts.Attachment{wide}, "what is this?")
	toks, err := g.PromptTokens(req)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := slices.Index(toks, Token(synth.QwenVisionStart)), slices.Index(toks, Token(synth.QwenVisionEnd))
	if begin < 0 || end-begin-1 != 24 {
		t.Fatalf("no <|vision_start|> + 24 placeholders + <|vision_end|> in %v", toks)
	}
	text, _, err := g.RenderPrompt(req)
	if err != nil {
		t.Fatal(err)
	}
	if label := "[image wide.png: 24 tokens]"; !strings.Contains(text, label) {
		t.Fatalf("rendered prompt %q lacks %q", text, label)
	}
	r1 := collectGen(t, g, req)
	g.Reset()
	if again := collectGen(t, g, req); again.text != r1.text {
		t.Fatalf("greedy output with the same image differs run to run: %q vs %q", r1.text, again.text)
	}
	// The same size, another picture: the first logits differ.
	check := attachment(prompts.MediaImage, "check.png", "png", pngOf(t, 96, 64, true))
	first := func(a prompts.Attachment) []float32 {
		t.Helper()
		g.Reset()
		p, err := buildPrompt(g.env(), imageRequest([]prompts.Attachment{a}, "what is this?"))
		if err != nil {
			t.Fatal(err)
		}
		l, _, err := g.g.PrefillMedia(t.Context(), p.tokens, g.spans(t.Context(), p.media))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if a, b := first(wide), first(check); slices.Equal(a, b) {
		t.Fatal("two images gave the same logits: the embeddings are not reaching the model")
	}
	// Turn 2 reuses the cache through the image and answers as a cold run.
	g.Reset()
	r1 = collectGen(t, g, req)
	turn2 := req
	turn2.Messages = append(slices.Clone(req.Messages),
		prompts.Message{Role: prompts.RoleAssistant, Content: r1.text},
		prompts.Message{Role: prompts.RoleUser, Content: "and the colours?"})
	r2 := collectGen(t, g, turn2)
	if r2.stats.CachedTokens < end+1 {
		t.Fatalf("turn 2 reused %d tokens; the image ends at %d", r2.stats.CachedTokens, end+1)
	}
	if c := collectGen(t, openGemma4Vision(t, model, proj), turn2); c.text != r2.text {
		t.Fatalf("cached turn 2 %q differs from a cold run %q", r2.text, c.text)
	}
	// A big image is shrunk to fit one batch (512 embeddings by default).
	big := attachment(prompts.MediaImage, "big.png", "png", pngOf(t, 1024, 1024, false))
	bt, err := g.PromptTokens(imageRequest([]prompts.Attachment{big}, "what?"))
	if err != nil {
		t.Fatal(err)
	}
	if n := slices.Index(bt, Token(synth.QwenVisionEnd)) - slices.Index(bt, Token(synth.QwenVisionStart)) - 1; n < 256 || n > 512 {
		t.Fatalf("a 1024×1024 image became %d embeddings, want at most one batch (512) and near it", n)
	}
	// Audio is refused in words.
	wav := attachment(prompts.MediaAudio, "memo.wav", "wav", wavOf(16000, 0.5, 440))
	if _, err := g.PromptTokens(imageRequest([]prompts.Attachment{wav}, "transcribe")); err == nil || !strings.Contains(err.Error(), "images, not audio") {
		t.Fatalf("audio attachment: %v", err)
	}
	// With the CLI's batch of 2,048 the bound is the Go engine's largest
	// Qwen3.5 batch, 1,024.
	wideBatch, err := Open(Options{ModelPath: model, Projector: proj, ContextSize: 4096, BatchSize: 2048, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer wideBatch.Close()
	huge := attachment(prompts.MediaImage, "huge.png", "png", pngOf(t, 1024, 1024, false))
	ht, err := wideBatch.PromptTokens(imageRequest([]prompts.Attachment{huge}, "what?"))
	if err != nil {
		t.Fatal(err)
	}
	if n := slices.Index(ht, Token(synth.QwenVisionEnd)) - slices.Index(ht, Token(synth.QwenVisionStart)) - 1; n <= 512 || n > 1024 {
		t.Fatalf("with --batch 2048 a 1024×1024 image became %d embeddings, want at most 1,024 and over 512", n)
	}
	// --image-tokens bounds the embeddings: 24 become at most 12.
	small, err := Open(Options{ModelPath: model, Projector: proj, ContextSize: 1024, Threads: 2, ImageTokens: 12})
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	st, err := small.PromptTokens(req)
	if err != nil {
		t.Fatal(err)
	}
	if n := slices.Index(st, Token(synth.QwenVisionEnd)) - slices.Index(st, Token(synth.QwenVisionStart)) - 1; n < 8 || n > 12 {
		t.Fatalf("with ImageTokens 12 the image became %d embeddings", n)
	}
}
