package remote

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"testing"

	"natter/media"
	"natter/prompts"
)

// OpenAI's input_audio takes wav and mp3 only: a FLAC attachment must go
// as a WAV of the same sound, and wav/mp3 unchanged.
func TestAudioPartsUseFormatsOpenAITakes(t *testing.T) {
	flac, err := os.ReadFile("../media/testdata/sine440_stereo.flac")
	if err != nil {
		t.Fatal(err)
	}
	mp3, err := os.ReadFile("../media/testdata/sine440_mono.mp3")
	if err != nil {
		t.Fatal(err)
	}
	want, err := media.DecodeAudio(flac, 16000, media.AudioLimits{})
	if err != nil {
		t.Fatal(err)
	}
	msg := prompts.Message{Role: prompts.RoleUser, Content: "transcribe",
		Media: []prompts.Attachment{prompts.NewAttachment(prompts.MediaAudio, "flac", "a.flac", flac), prompts.NewAttachment(prompts.MediaAudio, "mp3", "b.mp3", mp3)}}
	raw, err := json.Marshal(mediaParts(msg))
	if err != nil {
		t.Fatal(err)
	}
	var parts []struct {
		Type       string `json:"type"`
		InputAudio struct {
			Data   string `json:"data"`
			Format string `json:"format"`
		} `json:"input_audio"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		t.Fatal(err)
	}
	if len(parts) != 3 || parts[0].Type != "input_audio" || parts[1].Type != "input_audio" || parts[2].Text != "transcribe" {
		t.Fatalf("parts: %s", raw)
	}
	if f := parts[0].InputAudio.Format; f != "wav" {
		t.Fatalf("FLAC went as format %q, want wav", f)
	}
	wav, err := base64.StdEncoding.DecodeString(parts[0].InputAudio.Data)
	if err != nil {
		t.Fatal(err)
	}
	got, err := media.DecodeAudio(wav, 16000, media.AudioLimits{})
	if err != nil {
		t.Fatalf("the WAV sent does not decode: %v", err)
	}
	if got.Format != "wav" || len(got.Samples) != len(want.Samples) {
		t.Fatalf("WAV: format %s, %d samples; the FLAC has %d", got.Format, len(got.Samples), len(want.Samples))
	}
	for i := range got.Samples {
		if d := got.Samples[i] - want.Samples[i]; d > 1.0/32767 || d < -1.0/32767 {
			t.Fatalf("sample %d: %v, want %v (16-bit rounding at most)", i, got.Samples[i], want.Samples[i])
		}
	}
	if parts[1].InputAudio.Format != "mp3" || parts[1].InputAudio.Data != base64.StdEncoding.EncodeToString(mp3) {
		t.Fatalf("the MP3 was changed: format %q", parts[1].InputAudio.Format)
	}
}
