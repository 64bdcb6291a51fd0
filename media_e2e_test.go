package main

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

// visionDir is a folder holding a chat model with a synthetic projector of
// kind beside it (named as Hugging Face repos name them), so natter finds
// the projector itself.
func visionDir(t *testing.T, kind string) (model string) {
	t.Helper()
	return visionDirWith(t, synth.ProjectorSpec{Projector: kind, Seed: 1})
}

// visionDirWith is visionDir with the projector p (its TextEmbd set here).
func visionDirWith(t *testing.T, p synth.ProjectorSpec) (model string) {
	t.Helper()
	dir := t.TempDir()
	spec := synth.Tiny()
	spec.Name, spec.ChatTemplate = "synth-vision", synth.ChatML
	model = filepath.Join(dir, "synth-vision-F32.gguf")
	if err := synth.Write(model, spec); err != nil {
		t.Fatal(err)
	}
	p.TextEmbd = spec.NEmbd
	if err := p.Write(filepath.Join(dir, "mmproj-synth-vision-F16.gguf")); err != nil {
		t.Fatal(err)
	}
	return model
}

func writePNG(t *testing.T, dir, name string, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeWAV(t *testing.T, dir, name string, rate int, secs float64) string {
	t.Helper()
	n := int(float64(rate) * secs)
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))
	w(uint16(1))
	w(uint32(rate))
	w(uint32(rate * 2))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(2 * n))
	for i := range n {
		w(int16(10000 * math.Sin(2*math.Pi*330*float64(i)/float64(rate))))
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAskImageAudioAndShortcuts(t *testing.T) {
	model := visionDir(t, synth.ProjectorGemma3)
	dir := t.TempDir()
	img := writePNG(t, dir, "receipt.png", 60, 40)
	wav := writeWAV(t, dir, "memo.wav", 22050, 1)
	ask := func(extra ...string) (string, string, int) {
		return natter(t, "", append([]string{"ask", "-m", model, "--temp", "0", "-n", "8", "--ignore-eos"}, extra...)...)
	}

	out, errOut, code := ask("--image", img, "--stats", "what does this receipt total?")
	if code != 0 || out == "" {
		t.Fatalf("--image: exit %d, %q\n%s", code, out, errOut)
	}
	withImage := promptTokens(t, errOut)
	again, _, _ := ask("--image", img, "what does this receipt total?")
	if again != out {
		t.Fatalf("greedy answers about the same image differ: %q and %q", out, again)
	}
	_, errOut, _ = ask("--stats", "what does this receipt total?")
	if textOnly := promptTokens(t, errOut); withImage < textOnly+synth.TinyVisionProjector(64).ImageTokens() {
		t.Fatalf("prompt with the image %d tokens, without %d: the image's embeddings are not counted", withImage, textOnly)
	}

	// --ocr needs no prompt and prints plain text.
	if out, errOut, code := ask("--ocr", img); code != 0 || out == "" {
		t.Fatalf("--ocr: exit %d, %q\n%s", code, out, errOut)
	}

	// Clear one-line refusals, before the model loads.
	oneLine := func(what string, code int, errOut string, want ...string) {
		t.Helper()
		if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Fatalf("%s: exit %d, stderr %q; want exit 1 and one line", what, code, errOut)
		}
		for _, w := range want {
			if !strings.Contains(errOut, w) {
				t.Fatalf("%s: stderr %q lacks %q", what, errOut, w)
			}
		}
	}
	_, errOut, code = ask("--audio", wav, "x")
	oneLine("audio to a vision projector", code, errOut, "memo.wav", "images only")
	_, errOut, code = ask("--image", wav, "x")
	oneLine("a WAV given as --image", code, errOut, "audio, not an image", "--audio")
	_, errOut, code = natter(t, "", "ask", "-m", chatModel, "--image", img, "x")
	oneLine("a text-only model", code, errOut, "takes text only", "--mmproj")
	_, errOut, code = ask("--mmproj", "none", "--image", img, "x")
	oneLine("--mmproj none", code, errOut, "--mmproj none", "text only")
	txt := filepath.Join(dir, "notes.txt")
	os.WriteFile(txt, []byte("not an image"), 0o644)
	_, errOut, code = ask("--image", txt, "x")
	oneLine("a text file", code, errOut, "not an image or audio file")
	b, _ := os.ReadFile(img)
	cut := filepath.Join(dir, "cut.png")
	os.WriteFile(cut, b[:len(b)/2], 0o644)
	_, errOut, code = ask("--image", cut, "x")
	if code != 1 || !strings.Contains(errOut, "cut.png") || !strings.Contains(errOut, "PNG") {
		t.Fatalf("a truncated PNG: exit %d, %q", code, errOut)
	}
	_, errOut, code = ask("--image", img, "--raw", "x")
	if code != 2 || !strings.Contains(errOut, "--raw") {
		t.Fatalf("--raw with an image: exit %d, %q; want a usage error", code, errOut)
	}

	// Audio through an audio projector, --transcribe for a pipe.
	audioModel := visionDir(t, synth.ProjectorUltravox)
	out, errOut, code = natter(t, "", "ask", "-m", audioModel, "-n", "6", "--ignore-eos", "--transcribe", wav)
	if code != 0 || out == "" {
		t.Fatalf("--transcribe: exit %d, %q\n%s", code, out, errOut)
	}
}

// askAboutChart starts the chat on model, which must say it takes images,
// attaches chart.png and waits for the reply; it returns the image's path.
func askAboutChart(t *testing.T, p *pane, model string) string {
	t.Helper()
	img := writePNG(t, p.home, "chart.png", 48, 48)
	p.natter(chatArgs(model, "--temp", "0", "-n", "8")...)
	if st := statusOf(p.screen()); !strings.Contains(st, "+vision") {
		t.Fatalf("the status line %q does not say the model takes images", st)
	}
	p.line("/attach " + img)
	p.waitFor("the chip above the input", func(s string) bool { return strings.Contains(s, "📎 chart.png (image") })
	p.line("what trend is this?")
	p.waitFor("a reply", func(s string) bool { return finished(s) && strings.Contains(p.all(), "› 📎 chart.png (image") })
	return img
}

// Esc while a large image encodes (about 20 s on one thread here for this
// 768-wide, 6-block encoder at 896×896) stops the encode: the status line
// named it, the message comes back into the input with its chip, and the
// chat takes the next message at once.
func TestTmuxEscStopsImageEncode(t *testing.T) {
	model := visionDirWith(t, synth.ProjectorSpec{NEmbd: 768, NHead: 12, NLayer: 6, ImageSize: 896, PatchSize: 14, MergeFactor: 4, Type: synth.F16, Seed: 3})
	p := newPane(t, "NATTER_NO_HISTORY=")
	img := writePNG(t, p.home, "scan.png", 64, 64)
	p.natter(chatArgs(model, "--temp", "0", "-n", "8")...)
	p.line("/attach " + img)
	p.waitFor("the chip", func(s string) bool { return strings.Contains(s, "📎 scan.png (image") })
	p.line("what does it say?")
	p.waitFor("the encode", func(s string) bool { return strings.Contains(statusOf(s), "● encoding scan.png · esc stops") })
	p.keys("Escape")
	// (TestImageEncodeStopsOnAbort checks that the encode itself stops;
	// here the terminal shows what the user gets.)
	s := p.waitFor("the stop", func(s string) bool {
		return strings.Contains(s, "Stopped before the first token") && !strings.Contains(statusOf(s), "●")
	})
	if !strings.Contains(s, "› what does it say?") || strings.Count(s, "📎 scan.png (image") != 2 {
		t.Fatalf("the message and its chip did not come back:\n%s", s)
	}
	p.keys("C-u")
	p.line("/attach clear")
	p.waitFor("the chip removed", func(s string) bool { return strings.Contains(s, "Removed 1 attachment") })
	p.line("hello")
	p.waitFor("a text reply", finished)
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
}

func TestTmuxAttachImage(t *testing.T) {
	model := visionDir(t, synth.ProjectorGemma3)
	p := newPane(t, "NATTER_NO_HISTORY=")
	img := askAboutChart(t, p, model)
	if s := p.screen(); strings.Contains(s, "(/attach clear removes them)") {
		t.Fatalf("the chip stayed after the message was sent:\n%s", s)
	}

	// A dropped file: the terminal types its quoted path.
	other := writePNG(t, p.home, "my scan.png", 32, 20)
	p.line("'" + other + "'")
	p.waitFor("the dropped file attached", func(s string) bool { return strings.Contains(s, "📎 my scan.png (image") })
	// Tab completes a path after /attach, from the directory on disk
	// (which holds chart.png and my scan.png too).
	third := writePNG(t, p.home, "receipt.png", 24, 24)
	p.typeText("/attach " + filepath.Join(p.home, "re"))
	p.keys("Tab")
	p.waitFor("the completed path", func(s string) bool { return strings.Contains(s, "› /attach "+third) })
	p.keys("Enter")
	p.waitFor("the second chip", func(s string) bool { return strings.Contains(s, "  receipt.png (image") })
	p.line("/attach clear")
	p.waitFor("the chips removed", func(s string) bool { return strings.Contains(s, "Removed 2 attachments") })

	// The image was saved once, by its hash, beside the history.
	blobs, _ := filepath.Glob(filepath.Join(p.home, "*", "natter", "attachments", "*", "*"))
	if len(blobs) != 1 {
		t.Fatalf("attachment blobs in the data dir: %v; want the one image", blobs)
	}
	p.line("/quit")
	p.exited()

	// A text-only model says so at once.
	p.natter(chatArgs(chatModel, "-n", "4")...)
	p.line("/attach " + img)
	p.waitFor("the refusal", func(s string) bool { return strings.Contains(s, "takes text only") })
}

// natter ask against natter serve: the image travels as an OpenAI content
// part and the server's projector reads it, as a local run does.
func TestAskRemoteImage(t *testing.T) {
	model := visionDir(t, synth.ProjectorGemma3)
	img := writePNG(t, t.TempDir(), "scan.png", 30, 30)
	_, env := isolatedEnv(t)
	s := startServe(t, env, "-m", model)
	host := strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/v1")
	args := []string{"ask", "--temp", "0", "-n", "8", "--image", img, "what is this?"}
	local, errOut, st := runEnv(t, env, append([]string{"-m", model}, args...)...)
	if st != 0 {
		t.Fatalf("local: exit %d: %s", st, errOut)
	}
	remote, errOut, st := runEnv(t, env, append([]string{"-m", "openai://" + host + "/synth-vision-F32"}, args...)...)
	if st != 0 || remote != local {
		t.Fatalf("remote: exit %d, %q; local %q\n%s", st, remote, local, errOut)
	}
}

// A saved chat with an image resumes with it: the bytes come back from the
// history's store, and a follow-up turn reads them. A blob deleted by hand
// leaves the chat readable, the attachment marked missing.
func TestTmuxAttachResume(t *testing.T) {
	model := visionDir(t, synth.ProjectorGemma3)
	p := newPane(t, "NATTER_NO_HISTORY=")
	img := writePNG(t, p.home, "chart.png", 48, 48)
	p.natter(chatArgs(model, "--temp", "0", "-n", "6")...)
	p.line("/attach " + img)
	p.waitFor("the chip", func(s string) bool { return strings.Contains(s, "📎 chart.png (image") })
	p.line("what trend is this?")
	p.waitFor("a reply", finished)
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}

	p.natter(chatArgs(model, "--temp", "0", "-n", "6", "-c")...)
	p.waitFor("the resumed chat with its image", func(s string) bool { return strings.Contains(s, "› 📎 chart.png (image") })
	if strings.Contains(p.all(), "missing from the history store") {
		t.Fatalf("the image's bytes did not come back:\n%s", p.all())
	}
	p.line("and the colours?")
	p.waitFor("a follow-up reply", func(s string) bool { return finished(s) && strings.Contains(p.all(), "› and the colours?") })
	p.keys("C-d")
	p.exited()

	blobs, _ := filepath.Glob(filepath.Join(p.home, "data", "natter", "attachments", "*", "*"))
	if len(blobs) != 1 {
		t.Fatalf("blobs %v", blobs)
	}
	os.Remove(blobs[0])
	p.natter(chatArgs(model, "--temp", "0", "-n", "6", "-c")...)
	p.waitFor("the attachment marked missing", func(s string) bool { return strings.Contains(s, "missing from the history store") })
	p.line("still there?")
	p.waitFor("a reply without the image", func(s string) bool { return finished(s) && strings.Contains(p.all(), "› still there?") })

	// The export names the file and its hash.
	out, _, _ := natterEnvHome(t, p.home, "history", "export", "1", "--format", "md")
	if !strings.Contains(out, "📎 chart.png") || !strings.Contains(out, "sha256") {
		t.Fatalf("export lacks the attachment:\n%s", out)
	}
}

// natterEnvHome runs natter with the history of a pane's home.
func natterEnvHome(t *testing.T, home string, args ...string) (string, string, int) {
	t.Helper()
	env := []string{"HOME=" + home, "XDG_STATE_HOME=" + filepath.Join(home, "state"), "XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "NATTER_MODEL=", "NATTER_NO_HISTORY="}
	return runEnv(t, append(os.Environ(), env...), args...)
}

// gemma4VisionDir writes a Gemma 4 model with its gemma4v projector beside
// it, as a Hugging Face repo ships them.
func gemma4VisionDir(t *testing.T, dir string) (model string) {
	t.Helper()
	spec := synth.Gemma4Tiny()
	spec.ImageTokens = true
	model = filepath.Join(dir, "gemma-4-synth-F32.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	p := synth.ProjectorSpec{Projector: synth.ProjectorGemma4V, TextEmbd: spec.NEmbd, Seed: 1}
	if err := p.Write(filepath.Join(dir, "mmproj-gemma-4-synth-F16.gguf")); err != nil {
		t.Fatal(err)
	}
	return model
}

// natter ask --image with a Qwen3.5 model on the Go engine, its
// qwen3vl_merger projector found beside it: the image goes in with its
// delimiters and the answer is stable; audio is refused.
func TestAskQwen35Image(t *testing.T) {
	dir := t.TempDir()
	model := qwen35VisionDir(t, dir)
	img := writePNG(t, dir, "receipt.png", 96, 64)
	// 6×4 embeddings, the two delimiters and the line break after them.
	if added := askWithMedia(t, model, "--image", img, "what does this receipt total?"); added != 24+2+1 {
		t.Fatalf("the image added %d prompt tokens, want 27", added)
	}
	ask := func(extra ...string) (string, string, int) {
		return natter(t, "", append([]string{"ask", "-m", model}, extra...)...)
	}
	wav := writeWAV(t, dir, "memo.wav", 16000, 0.5)
	if _, errOut, code := ask("--audio", wav, "x"); code != 1 || !strings.Contains(errOut, "images only") {
		t.Fatalf("audio to a vision-only projector: exit %d, %q", code, errOut)
	}
}

// askWithMedia runs natter ask on model with flag (--image, --audio) and
// file twice, greedy, and once without the file, and returns how many more
// prompt tokens the file made; the two answers with it must be the same.
func askWithMedia(t *testing.T, model, flag, file, question string) int {
	t.Helper()
	ask := func(extra ...string) (string, string, int) {
		return natter(t, "", append([]string{"ask", "-m", model, "--temp", "0", "-n", "8", "--ignore-eos"}, extra...)...)
	}
	out, errOut, code := ask(flag, file, "--stats", question)
	if code != 0 || out == "" {
		t.Fatalf("%s: exit %d, %q\n%s", flag, code, out, errOut)
	}
	with := promptTokens(t, errOut)
	if again, _, _ := ask(flag, file, question); again != out {
		t.Fatalf("greedy answers about the same %s differ: %q and %q", file, out, again)
	}
	_, errOut, _ = ask("--stats", question)
	return with - promptTokens(t, errOut)
}

// natter ask --image with a Qwen2.5-VL model on the llama.cpp backend (an
// M-RoPE projector): the image's 9×6 embeddings go in and the answer is
// stable.
func TestAskQwen25VLImage(t *testing.T) {
	dir := t.TempDir()
	spec := synth.Qwen2Tiny()
	spec.VL, spec.ChatTemplate = true, synth.ChatML
	model := filepath.Join(dir, "Qwen2.5-VL-synth-F32.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	p := synth.ProjectorSpec{Projector: synth.ProjectorQwen25VL, TextEmbd: spec.NEmbd, ImageSize: 224, PatchSize: 14, Seed: 7, Gain: 8}
	if err := p.Write(filepath.Join(dir, "mmproj-Qwen2.5-VL-synth-F16.gguf")); err != nil {
		t.Fatal(err)
	}
	img := writePNG(t, dir, "chart.png", 252, 168)
	if added := askWithMedia(t, model, "--image", img, "what trend is this?"); added < 54 {
		t.Fatalf("the image added %d prompt tokens, want its 54 embeddings and more", added)
	}
}

// qwen35VisionDir writes a Qwen3.5 model with Qwen's vision tokens and,
// beside it, a qwen3vl_merger projector, into dir.
func qwen35VisionDir(t *testing.T, dir string) (model string) {
	t.Helper()
	spec := synth.Qwen35Tiny()
	spec.VisionTokens = true
	model = filepath.Join(dir, "Qwen3.5-synth-F32.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	p := synth.ProjectorSpec{Projector: synth.ProjectorQwen3VL, TextEmbd: spec.NEmbd, Seed: 5, Gain: 8}
	if err := p.Write(filepath.Join(dir, "mmproj-Qwen3.5-synth-F16.gguf")); err != nil {
		t.Fatal(err)
	}
	return model
}

// The chat with a Qwen3.5 model: the image attached, answered, and
// placed in /prompt (48×48 pixels: 3×3 embeddings).
func TestTmuxAttachQwen35Image(t *testing.T) {
	p := newPane(t, "NATTER_NO_HISTORY=")
	askAboutChart(t, p, qwen35VisionDir(t, t.TempDir()))
	p.line("/prompt")
	p.waitFor("the image's place in the prompt", func(s string) bool { return strings.Contains(p.all(), "[image chart.png: 9 tokens]") })
	p.line("/quit")
	p.exited()
}

// gemma4AudioDir writes a Gemma 4 model with its image and audio
// delimiters and, beside it, a projector with both encoders (as E2B and
// E4B ship), into dir.
func gemma4AudioDir(t *testing.T, dir string) (model string) {
	t.Helper()
	spec := synth.Gemma4Tiny()
	spec.AudioTokens = true
	model = filepath.Join(dir, "gemma-4-synth-F32.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	p := synth.ProjectorSpec{Projector: synth.ProjectorGemma4V, Gemma4Audio: true, TextEmbd: spec.NEmbd, Seed: 1}
	if err := p.Write(filepath.Join(dir, "mmproj-gemma-4-synth-F16.gguf")); err != nil {
		t.Fatal(err)
	}
	return model
}

// natter ask --audio and --transcribe with a Gemma 4 model on the Go
// engine: the clip goes in (25 positions a second plus its delimiters),
// the answer is stable, the projector copy is announced once.
func TestAskGemma4Audio(t *testing.T) {
	dir := t.TempDir()
	model := gemma4AudioDir(t, dir)
	wav := writeWAV(t, dir, "memo.wav", 16000, 2)
	ask := func(extra ...string) (string, string, int) {
		return natter(t, "", append([]string{"ask", "-m", model, "--temp", "0", "-n", "8", "--ignore-eos"}, extra...)...)
	}
	out, errOut, code := ask("--audio", wav, "--stats", "what is said?")
	if code != 0 || out == "" {
		t.Fatalf("--audio: exit %d, %q\n%s", code, out, errOut)
	}
	withAudio := promptTokens(t, errOut)
	again, errAgain, _ := ask("--audio", wav, "what is said?")
	if again != out {
		t.Fatalf("greedy answers about the same clip differ: %q and %q", out, again)
	}
	// The copy is keyed by the projector's path, new in this test: the
	// first load makes and announces it, the second reuses it quietly.
	if !strings.Contains(errOut, "made a loadable copy of mmproj-gemma-4-synth-F16.gguf") || strings.Contains(errAgain, "loadable copy") {
		t.Fatalf("copy notes: first load\n%s\nsecond load\n%s", errOut, errAgain)
	}
	_, errOut, _ = ask("--stats", "what is said?")
	// 50 positions, <|audio> and <audio|>, and the line break after them.
	if textOnly := promptTokens(t, errOut); withAudio != textOnly+50+2+1 {
		t.Fatalf("prompt with 2 s of audio %d tokens, without %d (want 53 more)", withAudio, textOnly)
	}
	tr, errOut, code := ask("--transcribe", wav)
	if code != 0 || strings.TrimSpace(tr) == "" {
		t.Fatalf("--transcribe: exit %d, %q\n%s", code, tr, errOut)
	}
	img := writePNG(t, dir, "receipt.png", 60, 40)
	if out, errOut, code := ask("--image", img, "--audio", wav, "both?"); code != 0 || out == "" {
		t.Fatalf("--image with --audio: exit %d, %q\n%s", code, out, errOut)
	}
	bad := filepath.Join(dir, "cut.wav")
	b, _ := os.ReadFile(wav)
	os.WriteFile(bad, b[:30], 0o644)
	if _, errOut, code := ask("--audio", bad, "x"); code == 0 || !strings.Contains(errOut, "cut.wav") {
		t.Fatalf("truncated WAV: exit %d, %q", code, errOut)
	}
}

// The chat with a Gemma 4 model whose projector has both encoders: the
// status line says +vision+audio, the copy note shows at start, a clip is
// attached and answered, and /prompt shows where its positions go.
func TestTmuxAttachGemma4Audio(t *testing.T) {
	p := newPane(t, "NATTER_NO_HISTORY=")
	model := gemma4AudioDir(t, t.TempDir())
	wav := writeWAV(t, p.home, "memo.wav", 16000, 2)
	p.natter(chatArgs(model, "--temp", "0", "-n", "8")...)
	if st := statusOf(p.screen()); !strings.Contains(st, "+vision+audio") {
		t.Fatalf("the status line %q does not say the model takes images and audio", st)
	}
	p.waitFor("the projector copy's note", func(s string) bool { return strings.Contains(p.all(), "loadable copy") })
	p.line("/attach " + wav)
	p.waitFor("the chip above the input", func(s string) bool { return strings.Contains(s, "📎 memo.wav (audio") })
	p.line("what is said?")
	p.waitFor("a reply", func(s string) bool { return finished(s) && strings.Contains(p.all(), "› 📎 memo.wav (audio") })
	p.line("/prompt")
	p.waitFor("the clip's place in the prompt", func(s string) bool { return strings.Contains(p.all(), "[audio memo.wav: 50 tokens]") })
	p.line("/quit")
	p.exited()
}

// The chat with a Gemma 4 model on the Go engine: the projector found
// beside it, an image attached, answered, and placed in /prompt.
func TestTmuxAttachGemma4Image(t *testing.T) {
	p := newPane(t, "NATTER_NO_HISTORY=")
	askAboutChart(t, p, gemma4VisionDir(t, t.TempDir()))
	p.line("/prompt")
	p.waitFor("the image's place in the prompt", func(s string) bool { return strings.Contains(p.all(), "[image chart.png: ") })
	p.line("/quit")
	p.exited()
}

// A Gemma 4 model on the Go engine with its gemma4v projector beside it:
// natter finds the projector and the Go engine's vision encoder reads
// the image.
func TestAskGemma4Image(t *testing.T) {
	dir := t.TempDir()
	model := gemma4VisionDir(t, dir)
	img := writePNG(t, dir, "receipt.png", 60, 40)
	// Gemma 4's budget: up to 280 embeddings plus <|image> and <image|>.
	if added := askWithMedia(t, model, "--image", img, "what does this receipt total?"); added < 100 || added > 282+2 {
		t.Fatalf("the image added %d prompt tokens", added)
	}
	ask := func(extra ...string) (string, string, int) {
		return natter(t, "", append([]string{"ask", "-m", model}, extra...)...)
	}
	// --image-tokens sets the budget.
	_, errOut, code := ask("-n", "1", "--stats", "--image-tokens", "70", "--image", img, "what does this receipt total?")
	_, textOut, _ := ask("-n", "1", "--stats", "what does this receipt total?")
	if added := promptTokens(t, errOut) - promptTokens(t, textOut); code != 0 || added < 40 || added > 70+3 {
		t.Fatalf("--image-tokens 70: exit %d, the image added %d prompt tokens\n%s", code, added, errOut)
	}
	if _, errOut, code := ask("--image-tokens", "-1", "x"); code == 0 || !strings.Contains(errOut, "--image-tokens -1") {
		t.Fatalf("--image-tokens -1: exit %d, %q", code, errOut)
	}
	wav := writeWAV(t, dir, "memo.wav", 16000, 0.5)
	if _, errOut, code := ask("--audio", wav, "x"); code != 1 || !strings.Contains(errOut, "images only") {
		t.Fatalf("audio to a vision-only projector: exit %d, %q", code, errOut)
	}
}
