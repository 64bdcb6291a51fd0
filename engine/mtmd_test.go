package engine

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/media"
	"natter/prompts"
)

// Real image and audio encoding through llama.cpp's mtmd, with synthetic
// projectors (random weights in the shapes clip.cpp loads) paired with a
// synthetic text model.

func writeProjector(t *testing.T, spec synth.ProjectorSpec) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mmproj-"+spec.Projector+".gguf")
	if err := spec.Write(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// pngOf is a w×h PNG: a gradient, or a checkerboard when checker is set.
func pngOf(t testing.TB, w, h int, checker bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255}
			if checker {
				v := uint8(0)
				if (x/4+y/4)%2 == 0 {
					v = 255
				}
				c = color.RGBA{v, v, v, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// wavOf is 16-bit mono PCM at rate of a sine of freq Hz.
func wavOf(rate int, secs, freq float64) []byte {
	s := make([]float32, int(float64(rate)*secs))
	for i := range s {
		s[i] = float32(int16(12000*math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))) / 32767
	}
	return media.EncodeWAV(s, rate)
}

func attachment(kind, name, format string, data []byte) prompts.Attachment {
	return prompts.NewAttachment(kind, format, name, data)
}

func loadWithProjector(t *testing.T, proj string) *Engine {
	t.Helper()
	e, err := Load(Options{ModelPath: synthModel(t, tinyChatSpec()), ContextSize: 2048, Threads: 1, Projector: proj})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func imageRequest(atts []prompts.Attachment, text string) api.Request {
	return api.Request{Messages: []prompts.Message{{Role: prompts.RoleUser, Content: text, Media: atts}},
		Sampling: greedy(), MaxTokens: 12, IgnoreEOS: true}
}

func TestImageEncodingEndToEnd(t *testing.T) {
	spec := synth.TinyVisionProjector(tinyChatSpec().NEmbd)
	e := loadWithProjector(t, writeProjector(t, spec))
	if in := e.Info(); !in.Vision || in.Audio || in.Projector == "" {
		t.Fatalf("Info() = vision %v audio %v projector %q", in.Vision, in.Audio, in.Projector)
	}
	grad := attachment(prompts.MediaImage, "grad.png", "png", pngOf(t, 64, 48, false))
	check := attachment(prompts.MediaImage, "check.png", "png", pngOf(t, 40, 40, true))

	textOnly := run(t, e, imageRequest(nil, "what is this?"))
	e.Reset()
	r1 := run(t, e, imageRequest([]prompts.Attachment{grad}, "what is this?"))
	toks1 := slices.Clone(e.lastGenerated())
	// The image's embeddings take their places in the prompt.
	if got, want := r1.stats.PromptTokens-textOnly.stats.PromptTokens, spec.ImageTokens(); got < want {
		t.Fatalf("the image added %d prompt tokens, want at least its %d embeddings", got, want)
	}
	e.Reset()
	run(t, e, imageRequest([]prompts.Attachment{grad}, "what is this?"))
	if got := e.lastGenerated(); !slices.Equal(got, toks1) {
		t.Fatalf("greedy output with the same image differs run to run:\n%v\n%v", toks1, got)
	}
	e.Reset()
	run(t, e, imageRequest([]prompts.Attachment{check}, "what is this?"))
	if got := e.lastGenerated(); slices.Equal(got, toks1) {
		t.Fatalf("another image gave the same output %v: the embeddings are not reaching the model", got)
	}

	// /prompt shows where the image goes, not the internal marker.
	text, _, err := e.RenderPrompt(imageRequest([]prompts.Attachment{grad}, "what is this?"))
	if err != nil {
		t.Fatal(err)
	}
	label := "[image grad.png: " + strconv.Itoa(spec.ImageTokens()) + " tokens]"
	if !strings.Contains(text, label) || strings.Contains(text, "__media_") || !strings.Contains(text, "what is this?") {
		t.Fatalf("rendered prompt %q lacks %q", text, label)
	}
}

// An encode runs under the text context's abort flag, which a request's
// end (Esc, quit) and Close set: its graph stops between nodes rather than
// finish an encode nobody waits for (tens of seconds for a large image on
// a laptop). The next encode works, and the reply equals a fresh engine's.
func TestImageEncodeStopsOnAbort(t *testing.T) {
	proj := writeProjector(t, synth.TinyVisionProjector(tinyChatSpec().NEmbd))
	e := loadWithProjector(t, proj)
	grad := attachment(prompts.MediaImage, "grad.png", "png", pngOf(t, 64, 48, false))
	req := imageRequest([]prompts.Attachment{grad}, "what is this?")
	p, err := e.buildPrompt(req)
	if err != nil {
		t.Fatal(err)
	}
	e.lc.setAbort(true)
	err = encodeFirst(e, p)
	e.lc.setAbort(false)
	if !errors.Is(err, errAborted) {
		t.Fatalf("an encode with the abort flag set: %v; want it stopped", err)
	}
	run(t, e, req)
	got := slices.Clone(e.lastGenerated())
	fresh := loadWithProjector(t, proj)
	run(t, fresh, req)
	if want := fresh.lastGenerated(); len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("after a stopped encode the reply is %v; a fresh engine's is %v", got, want)
	}
}

// A second turn about the same image reuses the cache through the image,
// and answers exactly as a cold run of the same conversation does.
func TestImagePrefixReuseAcrossTurns(t *testing.T) {
	proj := writeProjector(t, synth.TinyVisionProjector(tinyChatSpec().NEmbd))
	img := attachment(prompts.MediaImage, "grad.png", "png", pngOf(t, 64, 48, false))
	warm := loadWithProjector(t, proj)
	turn1 := imageRequest([]prompts.Attachment{img}, "describe it")
	r1 := run(t, warm, turn1)
	turn2 := turn1
	turn2.Messages = append(slices.Clone(turn1.Messages),
		prompts.Message{Role: prompts.RoleAssistant, Content: r1.text},
		prompts.Message{Role: prompts.RoleUser, Content: "and the colours?"})
	r2 := run(t, warm, turn2)
	warmToks := slices.Clone(warm.lastGenerated())
	if r2.stats.CachedTokens < r1.stats.PromptTokens {
		t.Fatalf("turn 2 reused %d tokens; turn 1's prompt (with the image) was %d", r2.stats.CachedTokens, r1.stats.PromptTokens)
	}
	cold := loadWithProjector(t, proj)
	run(t, cold, turn2)
	if got := cold.lastGenerated(); !slices.Equal(got, warmToks) {
		t.Fatalf("cached turn 2 %v differs from a cold run %v", warmToks, got)
	}

	// Another image in the same place is not taken from the cache.
	other := attachment(prompts.MediaImage, "check.png", "png", pngOf(t, 40, 40, true))
	turn3 := imageRequest([]prompts.Attachment{other}, "describe it")
	r3 := run(t, warm, turn3)
	if r3.stats.CachedTokens >= r1.stats.PromptTokens-2 {
		t.Fatalf("a different image reused %d cached tokens", r3.stats.CachedTokens)
	}
}

func TestAudioEncodingEndToEnd(t *testing.T) {
	spec := synth.ProjectorSpec{Projector: synth.ProjectorUltravox, TextEmbd: tinyChatSpec().NEmbd, Seed: 2}
	e := loadWithProjector(t, writeProjector(t, spec))
	if in := e.Info(); in.Vision || !in.Audio {
		t.Fatalf("Info() = vision %v audio %v", in.Vision, in.Audio)
	}
	a := attachment(prompts.MediaAudio, "memo.wav", "wav", wavOf(44100, 1.5, 440))
	r := run(t, e, imageRequest([]prompts.Attachment{a}, "transcribe"))
	first := slices.Clone(e.lastGenerated())
	textOnly := 0
	if tr, err := e.PromptTokens(imageRequest(nil, "transcribe")); err == nil {
		textOnly = len(tr)
	}
	if got := r.stats.PromptTokens - textOnly; got < spec.AudioTokens() {
		t.Fatalf("the audio added %d prompt tokens, want at least %d", got, spec.AudioTokens())
	}
	e.Reset()
	run(t, e, imageRequest([]prompts.Attachment{a}, "transcribe"))
	if got := e.lastGenerated(); !slices.Equal(got, first) {
		t.Fatalf("greedy output with the same audio differs run to run")
	}
	// An image is refused by an audio projector, with a clear word.
	img := attachment(prompts.MediaImage, "grad.png", "png", pngOf(t, 8, 8, false))
	if _, err := e.PromptTokens(imageRequest([]prompts.Attachment{img}, "x")); err == nil || !strings.Contains(err.Error(), "audio, not images") {
		t.Fatalf("image to an audio projector: %v", err)
	}
}

func TestMediaErrors(t *testing.T) {
	text := load(t, tinyChatSpec(), 512)
	img := attachment(prompts.MediaImage, "grad.png", "png", pngOf(t, 16, 16, false))
	if _, err := text.PromptTokens(imageRequest([]prompts.Attachment{img}, "x")); err == nil || !strings.Contains(err.Error(), "text only") {
		t.Fatalf("an image to a text-only model: %v", err)
	}

	proj := writeProjector(t, synth.TinyVisionProjector(tinyChatSpec().NEmbd))
	e := loadWithProjector(t, proj)
	bad := pngOf(t, 16, 16, false)
	bad = bad[:len(bad)/2]
	ch, err := e.Generate(t.Context(), imageRequest([]prompts.Attachment{attachment(prompts.MediaImage, "cut.png", "png", bad)}, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if r := collect(t, ch, nil); r.err == nil || !strings.Contains(r.err.Error(), "cut.png") {
		t.Fatalf("a truncated PNG: %v", r.err)
	}
	// The engine is still usable.
	run(t, e, imageRequest([]prompts.Attachment{img}, "x"))

	// A projector for a model of another width is refused before llama.cpp
	// sees it; found beside the model rather than named, it leaves the
	// model text-only with the reason.
	wrong := writeProjector(t, synth.TinyVisionProjector(32))
	if _, err := Load(Options{ModelPath: synthModel(t, tinyChatSpec()), ContextSize: 256, Threads: 1, Projector: wrong}); err == nil || !strings.Contains(err.Error(), "--mmproj") {
		t.Fatalf("a projector of the wrong width: %v", err)
	}
	found, err := Load(Options{ModelPath: synthModel(t, tinyChatSpec()), ContextSize: 256, Threads: 1, Projector: wrong, ProjectorFound: true})
	if err != nil {
		t.Fatalf("a found projector that does not fit must not fail the load: %v", err)
	}
	defer found.Close()
	if in := found.Info(); in.Vision || in.ProjectorNote == "" {
		t.Fatalf("Info() = vision %v note %q", in.Vision, in.ProjectorNote)
	}
}
