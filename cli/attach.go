package cli

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"natter/engine/gguf"
	"natter/prompts"
	"natter/ui"
)

// Prompts of the ask shortcuts. Small models follow a short, literal
// instruction best; "only" keeps preambles out of a pipe.
const (
	ocrPrompt        = "Transcribe all the text in this image exactly as written, keeping its line breaks. Output only the text, with no comments."
	transcribePrompt = "Transcribe this audio exactly. Output only the transcript, with no comments."
)

// mediaFlags are ask's attachment flags.
type mediaFlags struct {
	images, audios  []string
	ocr, transcribe string
}

func (f *mediaFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringArrayVar(&f.images, "image", nil, "attach an image (PNG, JPEG, WebP, GIF, BMP; repeatable); the model needs a vision projector")
	fs.StringArrayVar(&f.audios, "audio", nil, "attach audio (WAV, FLAC, MP3; repeatable); the model needs an audio projector")
	fs.StringVar(&f.ocr, "ocr", "", "read the text in an image: plain text out (a prompt given too replaces the built-in one)")
	fs.StringVar(&f.transcribe, "transcribe", "", "transcribe an audio file: plain text out (a prompt given too replaces the built-in one)")
	group(fs, flagsChat, "image", "audio", "ocr", "transcribe")
	_ = cmd.MarkFlagFilename("image", "png", "jpg", "jpeg", "webp", "gif", "bmp")
	_ = cmd.MarkFlagFilename("audio", "wav", "flac", "mp3")
	_ = cmd.MarkFlagFilename("ocr", "png", "jpg", "jpeg", "webp", "gif", "bmp")
	_ = cmd.MarkFlagFilename("transcribe", "wav", "flac", "mp3")
}

// any reports whether any attachment was asked for.
func (f *mediaFlags) any() bool {
	return len(f.images)+len(f.audios) > 0 || f.ocr != "" || f.transcribe != ""
}

// shortcut is the built-in prompt of --ocr or --transcribe ("" for none).
func (f *mediaFlags) shortcut() (string, error) {
	switch {
	case f.ocr != "" && f.transcribe != "":
		return "", fmt.Errorf("--ocr and --transcribe cannot be combined; attach the other file with --image or --audio")
	case f.ocr != "":
		return ocrPrompt, nil
	case f.transcribe != "":
		return transcribePrompt, nil
	}
	return "", nil
}

// load reads and checks every attached file, in the order given: --ocr
// or --transcribe first, then images, then audio.
func (f *mediaFlags) load() ([]prompts.Attachment, error) {
	var out []prompts.Attachment
	add := func(path, want, flag string) error {
		a, err := ui.ReadAttachment(path)
		if err != nil {
			return fmt.Errorf("--%s: %w", flag, err)
		}
		if a.Kind != want {
			other := map[string]string{prompts.MediaImage: "--image", prompts.MediaAudio: "--audio"}[a.Kind]
			return fmt.Errorf("--%s %s: this is %s, not %s; use %s", flag, path, article(a.Kind), article(want), other)
		}
		out = append(out, a)
		return nil
	}
	if f.ocr != "" {
		if err := add(f.ocr, prompts.MediaImage, "ocr"); err != nil {
			return nil, err
		}
	}
	if f.transcribe != "" {
		if err := add(f.transcribe, prompts.MediaAudio, "transcribe"); err != nil {
			return nil, err
		}
	}
	for _, p := range f.images {
		if err := add(p, prompts.MediaImage, "image"); err != nil {
			return nil, err
		}
	}
	for _, p := range f.audios {
		if err := add(p, prompts.MediaAudio, "audio"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func article(kind string) string {
	if kind == prompts.MediaImage {
		return "an image"
	}
	return "audio"
}

// checkMedia says, before a model loads, when it cannot take the
// attachments: no projector, or one for the other kind of media.
func checkMedia(atts []prompts.Attachment, projPath, model string, off bool) error {
	if len(atts) == 0 {
		return nil
	}
	if off {
		return fmt.Errorf("--mmproj none runs %s text only, so it cannot take %s", filepath.Base(model), atts[0].Name)
	}
	if projPath == "" {
		return fmt.Errorf("%s takes text only: no mmproj-*.gguf projector beside it; give one with --mmproj FILE", filepath.Base(model))
	}
	p, err := gguf.OpenProjector(projPath)
	if err != nil {
		return fmt.Errorf("--mmproj: %w", err)
	}
	for _, a := range atts {
		switch {
		case a.Kind == prompts.MediaImage && !p.Vision:
			return fmt.Errorf("%s: the projector %s takes audio only, not images", a.Name, filepath.Base(projPath))
		case a.Kind == prompts.MediaAudio && !p.Audio:
			return fmt.Errorf("%s: the projector %s takes images only, not audio", a.Name, filepath.Base(projPath))
		}
	}
	return nil
}
