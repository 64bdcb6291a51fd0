package serve_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"natter/engine"
	"natter/engine/gguf/synth"
)

func pngData(t *testing.T, w, h int, shade uint8) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), shade, uint8(y * 255 / h), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes())
}

// Images sent as OpenAI content parts (data: URLs) reach the projector.
func TestChatImageParts(t *testing.T) {
	proj := filepath.Join(t.TempDir(), "mmproj.gguf")
	if err := synth.TinyVisionProjector(synth.Tiny().NEmbd).Write(proj); err != nil {
		t.Fatal(err)
	}
	s := startOpts(t, engine.Options{ModelPath: chatModel, ContextSize: 512, Projector: proj}, nil)
	c := s.client()
	ask := func(url string) (string, int64) {
		t.Helper()
		r, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "synth-chat", MaxTokens: openai.Int(10),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: url}),
				openai.TextContentPart("what is in this picture?"),
			})},
		})
		if err != nil {
			t.Fatal(err)
		}
		return r.Choices[0].Message.Content, r.Usage.PromptTokens
	}
	a, pa := ask(pngData(t, 40, 30, 10))
	again, _ := ask(pngData(t, 40, 30, 10))
	b, _ := ask(pngData(t, 40, 30, 250))
	if a != again || a == b {
		t.Fatalf("answers: same image %q / %q, another image %q", a, again, b)
	}
	text, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "synth-chat", MaxTokens: openai.Int(1),
		Messages: []openai.ChatCompletionMessageParamUnion{user("what is in this picture?")}})
	if err != nil {
		t.Fatal(err)
	}
	if pa < text.Usage.PromptTokens+int64(synth.TinyVisionProjector(64).ImageTokens()) {
		t.Fatalf("usage.prompt_tokens %d with the image, %d without", pa, text.Usage.PromptTokens)
	}

	for _, bad := range []struct{ body, msg string }{
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`, "data: URLs"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,%%%"}}]}]}`, "base64"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,aGVsbG8="}}]}]}`, "not an image"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, "needs its"},
	} {
		code, v := raw(t, s, "POST", "/v1/chat/completions", bad.body)
		if code != 400 || !strings.Contains(errField(v, "message"), bad.msg) {
			t.Fatalf("%s: %d %v; want 400 saying %q", bad.body, code, v, bad.msg)
		}
	}

	// A text-only model answers an image with a clear error.
	plain := start(t, chatModel, 256, nil)
	code, v := raw(t, plain, "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"`+pngData(t, 8, 8, 0)+`"}},{"type":"text","text":"x"}]}]}`)
	if code < 400 || !strings.Contains(errField(v, "message"), "text only") {
		t.Fatalf("image to a text-only model: %d %v", code, v)
	}
}
