package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, m image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// patternAt is the colour of the 8×4 fixture pattern (and of the images
// the tests draw the same way).
func patternAt(x, y int) [3]byte { return [3]byte{uint8(32 * x), uint8(64 * y), 200} }

func patternImage(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := patternAt(x, y)
			m.SetNRGBA(x, y, color.NRGBA{c[0], c[1], c[2], 255})
		}
	}
	return m
}

func pixel(img *Image, x, y int) [3]byte {
	i := 3 * (y*img.W + x)
	return [3]byte{img.RGB[i], img.RGB[i+1], img.RGB[i+2]}
}

func near(a, b [3]byte, tol int) bool {
	for i := range a {
		if d := int(a[i]) - int(b[i]); d > tol || d < -tol {
			return false
		}
	}
	return true
}

func mustDecodeImage(t *testing.T, data []byte, lim ImageLimits) *Image {
	t.Helper()
	img, err := DecodeImage(data, lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.RGB) != 3*img.W*img.H {
		t.Fatalf("len(RGB) = %d for %d×%d", len(img.RGB), img.W, img.H)
	}
	return img
}

// checkExact compares every pixel against want(x, y).
func checkExact(t *testing.T, img *Image, want func(x, y int) [3]byte) {
	t.Helper()
	for y := range img.H {
		for x := range img.W {
			if got, w := pixel(img, x, y), want(x, y); got != w {
				t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, got, w)
			}
		}
	}
}

func TestDecodePNGExact(t *testing.T) {
	gray := image.NewGray16(image.Rect(0, 0, 3, 2))
	for i := range 6 {
		gray.SetGray16(i%3, i/3, color.Gray16{Y: uint16(i) * 0x2020})
	}
	pal := image.NewPaletted(image.Rect(0, 0, 4, 4), palette.WebSafe)
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i * 13)
	}
	for _, tc := range []struct {
		name string
		m    image.Image
	}{
		{"nrgba", patternImage(7, 5)},
		{"gray16", gray},
		{"paletted", pal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := mustDecodeImage(t, encodePNG(t, tc.m), ImageLimits{})
			b := tc.m.Bounds()
			if img.Format != "png" || img.W != b.Dx() || img.H != b.Dy() || img.SrcW != b.Dx() || img.SrcH != b.Dy() {
				t.Fatalf("got %s %d×%d (src %d×%d)", img.Format, img.W, img.H, img.SrcW, img.SrcH)
			}
			checkExact(t, img, func(x, y int) [3]byte {
				r, g, b, _ := tc.m.At(x, y).RGBA()
				return [3]byte{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
			})
		})
	}
}

func TestDecodeJPEG(t *testing.T) {
	// Flat patches survive JPEG almost unchanged away from their edges.
	m := image.NewRGBA(image.Rect(0, 0, 64, 32))
	colours := [][3]byte{{220, 40, 30}, {20, 180, 60}, {30, 40, 210}, {240, 240, 240}}
	for y := range 32 {
		for x := range 64 {
			c := colours[x/16]
			m.SetRGBA(x, y, color.RGBA{c[0], c[1], c[2], 255})
		}
	}
	img := mustDecodeImage(t, encodeJPEG(t, m, 95), ImageLimits{})
	if img.Format != "jpeg" || img.W != 64 || img.H != 32 {
		t.Fatalf("got %s %d×%d", img.Format, img.W, img.H)
	}
	for i, c := range colours {
		for _, y := range []int{4, 16, 28} {
			if got := pixel(img, 16*i+8, y); !near(got, c, 6) {
				t.Errorf("patch %d at y=%d: %v, want about %v", i, y, got, c)
			}
		}
	}
	// Grayscale JPEGs decode to image.Gray: a different fast path.
	g := image.NewGray(image.Rect(0, 0, 16, 16))
	for i := range g.Pix {
		g.Pix[i] = 90
	}
	gimg := mustDecodeImage(t, encodeJPEG(t, g, 95), ImageLimits{})
	if got := pixel(gimg, 8, 8); !near(got, [3]byte{90, 90, 90}, 2) {
		t.Errorf("gray JPEG: %v", got)
	}
}

func TestDecodeGIFFirstFrameAndTransparency(t *testing.T) {
	pal := color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}, color.RGBA{0, 0, 0, 0}}
	f1 := image.NewPaletted(image.Rect(0, 0, 6, 3), pal)
	f2 := image.NewPaletted(image.Rect(0, 0, 6, 3), pal)
	for i := range f1.Pix {
		f1.Pix[i] = uint8(i % 3) // red, blue, transparent, ...
		f2.Pix[i] = 1
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{f1, f2}, Delay: []int{10, 10}}); err != nil {
		t.Fatal(err)
	}
	img := mustDecodeImage(t, b.Bytes(), ImageLimits{})
	if img.Format != "gif" || img.W != 6 || img.H != 3 {
		t.Fatalf("got %s %d×%d", img.Format, img.W, img.H)
	}
	want := [][3]byte{{255, 0, 0}, {0, 0, 255}, {255, 255, 255}}
	checkExact(t, img, func(x, y int) [3]byte { return want[(y*6+x)%3] })
}

func TestAlphaCompositedOnWhite(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 4, 1))
	m.SetNRGBA(0, 0, color.NRGBA{10, 20, 30, 0})     // invisible: white
	m.SetNRGBA(1, 0, color.NRGBA{255, 0, 0, 128})    // half red on white
	m.SetNRGBA(2, 0, color.NRGBA{0, 0, 0, 255})      // opaque black stays black
	m.SetNRGBA(3, 0, color.NRGBA{0, 100, 200, 0x40}) // a quarter
	img := mustDecodeImage(t, encodePNG(t, m), ImageLimits{})
	want := [][3]byte{{255, 255, 255}, {255, 127, 127}, {0, 0, 0}, {191, 216, 241}}
	for x, w := range want {
		if got := pixel(img, x, 0); !near(got, w, 1) {
			t.Errorf("pixel %d = %v, want %v", x, got, w)
		}
	}

	// The same holds on the downscaling paths (Catmull-Rom, and box first).
	for _, size := range []image.Point{{3000, 30}, {9000, 90}} {
		big := image.NewNRGBA(image.Rect(0, 0, size.X, size.Y))
		for i := 0; i < len(big.Pix); i += 4 {
			copy(big.Pix[i:], []byte{0, 0, 255, 0}) // transparent blue
		}
		img := mustDecodeImage(t, encodePNG(t, big), ImageLimits{})
		for _, p := range [][2]int{{0, 0}, {img.W / 2, img.H / 2}, {img.W - 1, img.H - 1}} {
			if got := pixel(img, p[0], p[1]); got != [3]byte{255, 255, 255} {
				t.Fatalf("%v: transparent pixel %v came out %v", size, p, got)
			}
		}
	}
}

func TestDownscale(t *testing.T) {
	for _, tc := range []struct {
		name         string
		w, h, side   int
		wantW, wantH int
	}{
		{"wide, Catmull-Rom only", 4000, 1000, 0, 2048, 512},
		{"tall", 1000, 4000, 0, 512, 2048},
		{"box then Catmull-Rom", 6000, 2100, 0, 2048, 717},
		{"exact box", 1000, 500, 100, 100, 50},
		{"fits", 2048, 100, 0, 2048, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Gray, with a red patch over the left fifth and a green one
			// over the bottom-right fifth.
			m := image.NewRGBA(image.Rect(0, 0, tc.w, tc.h))
			for y := range tc.h {
				for x := range tc.w {
					c := color.RGBA{128, 128, 128, 255}
					switch {
					case x < tc.w/5:
						c = color.RGBA{230, 20, 20, 255}
					case x >= tc.w*4/5 && y >= tc.h*4/5:
						c = color.RGBA{20, 200, 40, 255}
					}
					m.SetRGBA(x, y, c)
				}
			}
			img := mustDecodeImage(t, encodePNG(t, m), ImageLimits{MaxSide: tc.side})
			if img.W != tc.wantW || img.H != tc.wantH || img.SrcW != tc.w || img.SrcH != tc.h {
				t.Fatalf("got %d×%d from %d×%d, want %d×%d from %d×%d", img.W, img.H, img.SrcW, img.SrcH, tc.wantW, tc.wantH, tc.w, tc.h)
			}
			checks := []struct {
				x, y int
				c    [3]byte
			}{
				{img.W / 10, img.H / 2, [3]byte{230, 20, 20}},
				{img.W / 2, img.H / 2, [3]byte{128, 128, 128}},
				{img.W * 9 / 10, img.H * 9 / 10, [3]byte{20, 200, 40}},
				{img.W - 1, img.H - 1, [3]byte{20, 200, 40}},
				{0, 0, [3]byte{230, 20, 20}},
			}
			for _, c := range checks {
				if got := pixel(img, c.x, c.y); !near(got, c.c, 2) {
					t.Errorf("(%d,%d) = %v, want %v", c.x, c.y, got, c.c)
				}
			}
		})
	}
}

func TestFitSize(t *testing.T) {
	for _, tc := range [][6]int{
		{4000, 1000, 2048, 2048, 512, 0},
		{1000, 4000, 2048, 512, 2048, 0},
		{100000, 1, 2048, 2048, 1, 0}, // the short side never rounds to 0
		{3, 3, 2, 2, 2, 0},
		{2048, 2048, 2048, 2048, 2048, 0},
	} {
		if w, h := fitSize(tc[0], tc[1], tc[2]); w != tc[3] || h != tc[4] {
			t.Errorf("fitSize(%d, %d, %d) = %d×%d, want %d×%d", tc[0], tc[1], tc[2], w, h, tc[3], tc[4])
		}
	}
}

// pngHeaderOnly is a PNG signature and IHDR chunk declaring w×h RGBA, with
// no pixel data at all.
func pngHeaderOnly(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32([]byte("IHDR"), w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA, no interlace
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, ihdr...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
	return b
}

func TestMaxPixelsRefusedBeforeDecoding(t *testing.T) {
	data := pngHeaderOnly(40000, 40000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := DecodeImage(data, ImageLimits{})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	for _, s := range []string{"40000×40000", "1600 megapixels", "1000-megapixel limit", "PNG"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	// 40000² pixels would be 6.4 GB; the refusal must come from the header.
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing allocated %d bytes", n)
	}

	// A custom limit, on a real image.
	_, err = DecodeImage(encodePNG(t, patternImage(100, 100)), ImageLimits{MaxPixels: 5000})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "100×100") {
		t.Errorf("MaxPixels 5000 on 100×100: %v", err)
	}
}

func TestDecodeWebPAndBMPFixtures(t *testing.T) {
	t.Run("bmp", func(t *testing.T) {
		img := mustDecodeImage(t, readFixture(t, "pattern.bmp"), ImageLimits{})
		if img.Format != "bmp" || img.W != 8 || img.H != 4 {
			t.Fatalf("got %s %d×%d", img.Format, img.W, img.H)
		}
		checkExact(t, img, patternAt)
	})
	t.Run("lossless webp with alpha", func(t *testing.T) {
		img := mustDecodeImage(t, readFixture(t, "alpha_lossless.webp"), ImageLimits{})
		if img.Format != "webp" || img.W != 8 || img.H != 4 {
			t.Fatalf("got %s %d×%d", img.Format, img.W, img.H)
		}
		checkExact(t, img, func(x, y int) [3]byte {
			switch {
			case x == 0 && y == 0:
				return [3]byte{255, 255, 255}
			case x == 1 && y == 0:
				return [3]byte{255, 127, 127}
			}
			return patternAt(x, y)
		})
	})
	t.Run("lossy webp", func(t *testing.T) {
		img := mustDecodeImage(t, readFixture(t, "patches_lossy.webp"), ImageLimits{})
		if img.Format != "webp" || img.W != 32 || img.H != 16 {
			t.Fatalf("got %s %d×%d", img.Format, img.W, img.H)
		}
		for _, y := range []int{3, 8, 12} {
			if got := pixel(img, 6, y); !near(got, [3]byte{220, 30, 30}, 12) {
				t.Errorf("red patch: %v", got)
			}
			if got := pixel(img, 26, y); !near(got, [3]byte{30, 30, 220}, 12) {
				t.Errorf("blue patch: %v", got)
			}
		}
	})
}

func TestImageErrors(t *testing.T) {
	pngData := encodePNG(t, patternImage(16, 16))
	jpegData := encodeJPEG(t, patternImage(16, 16), 90)
	wav := makeWAV(wavSpec{rate: 16000, bits: 16, channels: 1}, sine(100, 16000, 440, 0.5))
	for _, tc := range []struct {
		name string
		data []byte
		kind error
		says []string
	}{
		{"empty", nil, ErrEmpty, []string{"empty"}},
		{"text", []byte("hello, world"), ErrUnsupported, []string{"not an image or audio file", "68 65 6c 6c", `"hello, w"`, "PNG, JPEG, GIF, WebP and BMP"}},
		{"html", []byte("<!DOCTYPE html><html>"), ErrUnsupported, []string{"not an image or audio file", "<!DOCTYP"}},
		{"audio", wav, ErrUnsupported, []string{"WAV audio, not an image"}},
		{"heic", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"), ErrUnsupported, []string{"HEIC"}},
		{"truncated png", pngData[:len(pngData)/2], ErrCorrupt, []string{"truncated or corrupt PNG"}},
		{"png header only", pngData[:33], ErrCorrupt, []string{"truncated or corrupt PNG"}},
		{"truncated jpeg", jpegData[:len(jpegData)/2], ErrCorrupt, []string{"truncated or corrupt JPEG"}},
		{"jpeg magic only", []byte{0xff, 0xd8, 0xff}, ErrCorrupt, []string{"truncated or corrupt JPEG"}},
		{"zero width png", pngHeaderOnly(0, 10), ErrEmpty, []string{"zero size", "0×10"}},
		{"too many scans", readFixture(t, "gray_64scans.jpg"), ErrUnsupported, []string{"64 progressive scans"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := DecodeImage(tc.data, ImageLimits{})
			if err == nil {
				t.Fatalf("decoded %d×%d", img.W, img.H)
			}
			if !errors.Is(err, tc.kind) {
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

// Every truncation and many byte flips of every image format give an error
// or an image, never a panic; truncations of the formats that need all
// their data always give an error.
func TestCorruptImagesNeverPanic(t *testing.T) {
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, patternImage(8, 8), nil); err != nil {
		t.Fatal(err)
	}
	inputs := map[string][]byte{
		"png":  encodePNG(t, patternImage(24, 16)),
		"jpeg": encodeJPEG(t, patternImage(24, 16), 80),
		"gif":  gifBuf.Bytes(),
		"webp": readFixture(t, "alpha_lossless.webp"),
		"vp8":  readFixture(t, "patches_lossy.webp"),
		"bmp":  readFixture(t, "pattern.bmp"),
	}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			for n := range len(data) {
				img, err := DecodeImage(data[:n], ImageLimits{})
				if err == nil && (name == "png" || name == "bmp") {
					t.Errorf("%d of %d bytes decoded to %d×%d", n, len(data), img.W, img.H)
				}
			}
			for i := range data {
				for _, x := range []byte{0xff, 0x80, 0x01} {
					b := bytes.Clone(data)
					b[i] ^= x
					if img, err := DecodeImage(b, ImageLimits{}); err == nil && len(img.RGB) != 3*img.W*img.H {
						t.Fatalf("flip at %d: %d bytes for %d×%d", i, len(img.RGB), img.W, img.H)
					}
				}
			}
		})
	}
}
