package media

import (
	"bytes"
	"encoding/binary"
	"image/gif"
	"testing"
)

// Seeds: every fixture, freshly encoded images and WAVs, and truncations
// of each, so that plain `go test` runs them all and `go test -fuzz`
// starts from every format.
func imageSeeds(t testing.TB) [][]byte {
	var g bytes.Buffer
	if err := gif.Encode(&g, patternImage(5, 3), nil); err != nil {
		t.Fatal(err)
	}
	return withTruncations(
		encodePNG(t, patternImage(5, 3)),
		encodeJPEG(t, patternImage(16, 8), 75),
		withEXIFOrientation(encodeJPEG(t, patternImage(6, 4), 75), 6, binary.LittleEndian),
		g.Bytes(),
		readFixture(t, "alpha_lossless.webp"),
		readFixture(t, "patches_lossy.webp"),
		readFixture(t, "pattern.bmp"),
		pngHeaderOnly(20000, 20000),
	)
}

func audioSeeds(t testing.TB) [][]byte {
	s := sine(200, 8000, 440, 0.5)
	return withTruncations(
		makeWAV(wavSpec{rate: 8000, bits: 16, channels: 2}, s),
		makeWAV(wavSpec{rate: 11025, bits: 24, channels: 1, extensible: true}, s),
		makeWAV(wavSpec{rate: 8000, bits: 32, float: true, channels: 1}, s),
		makeWAV(wavSpec{rate: 8000, bits: 8, channels: 1}, s),
		readFixture(t, "sine440_stereo.flac"),
		readFixture(t, "sine1k_24bit.flac"),
		readFixture(t, "sine1k_stereo.mp3"),
		readFixture(t, "sine440_mono.mp3"),
	)
}

func withTruncations(files ...[]byte) [][]byte {
	var out [][]byte
	for _, f := range files {
		out = append(out, f)
		for _, n := range []int{0, 1, 4, 12, 16, 44, len(f) / 3, len(f) / 2, len(f) - 1} {
			if n >= 0 && n < len(f) {
				out = append(out, f[:n])
			}
		}
	}
	return out
}

func FuzzDecodeImage(f *testing.F) {
	for _, s := range imageSeeds(f) {
		f.Add(s)
	}
	// Small limits keep each run fast; the code paths are the same.
	lim := ImageLimits{MaxSide: 64, MaxPixels: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := DecodeImage(data, lim)
		if err != nil {
			if img != nil {
				t.Fatal("an image and an error")
			}
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if img.W < 1 || img.H < 1 || img.W > lim.MaxSide || img.H > lim.MaxSide || len(img.RGB) != 3*img.W*img.H {
			t.Fatalf("%d×%d with %d bytes", img.W, img.H, len(img.RGB))
		}
		if int64(img.SrcW)*int64(img.SrcH) > lim.MaxPixels {
			t.Fatalf("decoded a %d×%d source", img.SrcW, img.SrcH)
		}
		if k, f := Sniff(data); k != KindImage || f != img.Format {
			t.Fatalf("Sniff says %s %s, decoded as %s", k, f, img.Format)
		}
	})
}

func FuzzDecodeAudio(f *testing.F) {
	for _, s := range audioSeeds(f) {
		f.Add(s)
	}
	lim := AudioLimits{MaxDuration: 20e9} // 20 s
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := DecodeAudio(data, 16000, lim)
		if err != nil {
			if a != nil {
				t.Fatal("audio and an error")
			}
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if len(a.Samples) == 0 || a.Rate != 16000 || a.SrcChannels < 1 || a.Duration > lim.MaxDuration {
			t.Fatalf("%d samples at %d Hz, %d channels, %v", len(a.Samples), a.Rate, a.SrcChannels, a.Duration)
		}
		for i, v := range a.Samples {
			if !(v >= -1 && v <= 1) {
				t.Fatalf("sample %d = %v", i, v)
			}
		}
	})
}
