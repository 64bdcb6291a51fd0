package media

import (
	"image"
	"image/color"
	"testing"
)

// One minute of 48 kHz stereo to 16 kHz mono: the common voice-note case.
func BenchmarkDecodeWAV48kStereoMinute(b *testing.B) {
	s := sine(60*48000, 48000, 440, 0.5)
	data := makeWAV(wavSpec{rate: 48000, bits: 16, channels: 2}, s)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeAudio(data, 16000, AudioLimits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMP3(b *testing.B) {
	data := readFixture(b, "sine1k_stereo.mp3") // 0.5 s
	for b.Loop() {
		if _, err := DecodeAudio(data, 16000, AudioLimits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFLAC(b *testing.B) {
	data := readFixture(b, "sine440_stereo.flac") // 0.25 s
	for b.Loop() {
		if _, err := DecodeAudio(data, 16000, AudioLimits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// A 12-megapixel photo down to 2048 on its long side.
func BenchmarkDecodeJPEG12MP(b *testing.B) {
	m := image.NewRGBA(image.Rect(0, 0, 4000, 3000))
	for y := range 3000 {
		for x := range 4000 {
			m.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	data := encodeJPEG(b, m, 90)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeImage(data, ImageLimits{}); err != nil {
			b.Fatal(err)
		}
	}
}
