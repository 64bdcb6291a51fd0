package media

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		name         string
		data         []byte
		kind, format string
	}{
		{"png", encodePNG(t, patternImage(2, 2)), "image", "png"},
		{"jpeg", encodeJPEG(t, patternImage(2, 2), 90), "image", "jpeg"},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), "image", "gif"},
		{"webp", readFixture(t, "alpha_lossless.webp"), "image", "webp"},
		{"bmp", readFixture(t, "pattern.bmp"), "image", "bmp"},
		{"wav", makeWAV(wavSpec{rate: 8000, bits: 8, channels: 1}, []float64{0}), "audio", "wav"},
		{"flac", readFixture(t, "sine1k_24bit.flac"), "audio", "flac"},
		{"flac after id3", append([]byte("ID3\x03\x00\x00\x00\x00\x00\x02\x00\x00"), "fLaC"...), "audio", "flac"},
		{"mp3", readFixture(t, "sine1k_stereo.mp3"), "audio", "mp3"},
		{"mp3 after id3", append([]byte("ID3\x03\x00\x00\x00\x00\x00\x00"), readFixture(t, "sine440_mono.mp3")...), "audio", "mp3"},
		{"text starting BM", []byte("BMW owners' manual, chapter 1"), "", ""},
		{"aac adts", []byte{0xff, 0xf1, 0x50, 0x80, 0, 0}, "", ""},
		{"ogg", []byte("OggS\x00\x02"), "", ""},
		{"empty", nil, "", ""},
		{"short", []byte{0x89}, "", ""},
		{"lone frame header in junk", append([]byte{0xff, 0xfb, 0x90, 0x64}, bytes.Repeat([]byte{7}, 1000)...), "", ""},
	} {
		if k, f := Sniff(tc.data); k != tc.kind || f != tc.format {
			t.Errorf("%s: Sniff = %q, %q; want %q, %q", tc.name, k, f, tc.kind, tc.format)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The name does not matter: a PNG called .mp3 is a PNG.
	png := encodePNG(t, patternImage(3, 3))
	kind, format, data, err := Load(write("really-a-png.mp3", png))
	if err != nil || kind != "image" || format != "png" || string(data) != string(png) {
		t.Fatalf("Load = %q, %q, %d bytes, %v", kind, format, len(data), err)
	}
	kind, format, _, err = Load(filepath.Join("testdata", "sine440_stereo.flac"))
	if err != nil || kind != "audio" || format != "flac" {
		t.Fatalf("Load(flac) = %q, %q, %v", kind, format, err)
	}

	big := filepath.Join(dir, "big.wav")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk is used, and Load must refuse it from its size.
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()

	for _, tc := range []struct {
		name string
		path string
		kind error
		says []string
	}{
		{"missing", filepath.Join(dir, "nope.png"), fs.ErrNotExist, []string{"nope.png: no such file"}},
		{"directory", dir, nil, []string{"is a directory"}},
		{"empty", write("empty.png", nil), ErrEmpty, []string{"empty.png is empty"}},
		{"too big", big, ErrTooLarge, []string{"big.wav", "over the 512 MiB limit"}},
		{"text", write("notes.png", []byte("just some notes\n")), ErrUnsupported, []string{"notes.png: not an image or audio file", `"just som"`, "supported images are"}},
		{"m4a", write("song.mp3", []byte("\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00")), ErrUnsupported, []string{"song.mp3: unsupported format: M4A"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, data, err := Load(tc.path)
			if err == nil {
				t.Fatalf("loaded %d bytes", len(data))
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("err %q is not %v", err, tc.kind)
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	_, err := DecodeImage([]byte("nope"), ImageLimits{})
	var e *Error
	if !errors.As(err, &e) || e.Kind != ErrUnsupported {
		t.Fatalf("err = %#v", err)
	}
	// The decoder's own error stays reachable.
	_, err = DecodeAudio([]byte("fLaC"), 16000, AudioLimits{})
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &e) || e.Cause == nil || !errors.Is(err, e.Cause) {
		t.Fatalf("err = %#v", err)
	}
}

func TestSizeString(t *testing.T) {
	for n, want := range map[int64]string{
		300: "300 bytes", 2048: "2 KiB", 1536: "1.5 KiB", MaxFileSize: "512 MiB", 3 << 30: "3 GiB",
	} {
		if got := sizeString(n); got != want {
			t.Errorf("sizeString(%d) = %q, want %q", n, got, want)
		}
	}
}
