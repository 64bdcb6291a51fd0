package media

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"runtime"
	"strings"
	"testing"
)

// streamPNG writes a non-interlaced 8-bit PNG of colour type ctype (0 gray,
// 2 RGB) row by row, never holding the image: the test's way to a
// 20,000×20,000 file.
func streamPNG(t testing.TB, w, h int, ctype byte, pix func(x, y int) byte) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, body []byte) {
		binary.Write(&out, binary.BigEndian, uint32(len(body)))
		c := append([]byte(typ), body...)
		out.Write(c)
		binary.Write(&out, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	chunk("IHDR", append(ihdr, 8, ctype, 0, 0, 0))
	ch := 1
	if ctype == 2 {
		ch = 3
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	row := make([]byte, 1+w*ch)
	for y := range h {
		for x := range w {
			v := pix(x, y)
			for c := range ch {
				row[1+x*ch+c] = v + byte(40*c)
			}
		}
		zw.Write(row)
	}
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// A 20,000×20,000 PNG (400 megapixels, 1.6 GB as an RGBA image) is read
// row by row and downscaled within a few tens of megabytes.
func TestHugePNGDownscaledInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a 400-megapixel PNG")
	}
	const side = 20000
	// Squares of 2,000 pixels, black and white.
	data := streamPNG(t, side, side, 0, func(x, y int) byte { return byte(((x/2000 + y/2000) % 2) * 255) })
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	img, err := DecodeImage(data, ImageLimits{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if img.SrcW != side || img.SrcH != side || img.W != DefaultMaxSide || img.H != DefaultMaxSide || img.Format != "png" {
		t.Fatalf("got %d×%d from %d×%d (%s)", img.W, img.H, img.SrcW, img.SrcH, img.Format)
	}
	// What is left is bounded by the output size, not the source's: the
	// box-shrunk copy and Catmull-Rom's scratch for the last factor (< 2).
	if n := after.TotalAlloc - before.TotalAlloc; n > 256<<20 {
		t.Errorf("decoding allocated %d MB; a whole decode takes 1600", n>>20)
	}
	// The middle of each square is its colour.
	for _, c := range [][2]int{{1000, 1000}, {3000, 1000}, {1000, 3000}, {19000, 19000}} {
		x, y := c[0]*DefaultMaxSide/side, c[1]*DefaultMaxSide/side
		want := byte(((c[0]/2000 + c[1]/2000) % 2) * 255)
		if got := pixel(img, x, y); !near(got, [3]byte{want, want, want}, 1) {
			t.Errorf("pixel at source %v is %v, want %d", c, got, want)
		}
	}
	// Cut short: a clear error, no panic.
	_, err = DecodeImage(data[:len(data)/2], ImageLimits{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "truncated or corrupt PNG") {
		t.Fatalf("truncated huge PNG: %v", err)
	}
}

// The streamed reader gives what image/png and render give, for every kind
// of PNG Go's encoder writes (gray, 16-bit, RGBA with alpha, palettes of
// 1, 2, 4 and 8 bits with transparency).
func TestPNGStreamMatchesDecoder(t *testing.T) {
	const w, h = 97, 61
	set := func(m interface{ Set(int, int, color.Color) }, f func(x, y int) color.Color) {
		for y := range h {
			for x := range w {
				m.Set(x, y, f(x, y))
			}
		}
	}
	imgs := map[string]image.Image{}
	g := image.NewGray(image.Rect(0, 0, w, h))
	set(g, func(x, y int) color.Color { return color.Gray{uint8(x*3 + y)} })
	imgs["gray"] = g
	g16 := image.NewGray16(image.Rect(0, 0, w, h))
	set(g16, func(x, y int) color.Color { return color.Gray16{uint16(x*600 + y*7)} })
	imgs["gray16"] = g16
	n := image.NewNRGBA(image.Rect(0, 0, w, h))
	set(n, func(x, y int) color.Color { return color.NRGBA{uint8(x * 2), uint8(y * 4), 90, uint8(x + y*3)} })
	imgs["nrgba"] = n
	o := image.NewRGBA(image.Rect(0, 0, w, h))
	set(o, func(x, y int) color.Color { return color.RGBA{uint8(x * 2), uint8(y * 4), 90, 255} })
	imgs["rgb"] = o
	n64 := image.NewNRGBA64(image.Rect(0, 0, w, h))
	set(n64, func(x, y int) color.Color {
		return color.NRGBA64{uint16(x * 500), uint16(y * 900), 9000, uint16(40000 + x*200)}
	})
	imgs["nrgba64"] = n64
	for _, colours := range []int{2, 4, 16, 200} {
		pal := color.Palette{}
		for i := range colours {
			pal = append(pal, color.NRGBA{uint8(i * 37), uint8(255 - i), uint8(i * 5), uint8(255 - (i%3)*100)})
		}
		p := image.NewPaletted(image.Rect(0, 0, w, h), pal)
		for y := range h {
			for x := range w {
				p.SetColorIndex(x, y, uint8((x+y)%colours))
			}
		}
		imgs["palette"+string(rune('0'+len(imgs)))] = p
	}
	old := pngStreamPixels
	defer func() { pngStreamPixels = old }()
	for name, m := range imgs {
		data := encodePNG(t, m)
		for _, side := range []int{w, 40} { // as it is, and shrunk
			pngStreamPixels = 1 << 40
			want, err := DecodeImage(data, ImageLimits{MaxSide: side})
			if err != nil {
				t.Fatal(err)
			}
			pngStreamPixels = 0
			got, err := DecodeImage(data, ImageLimits{MaxSide: side})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got.W != want.W || got.H != want.H {
				t.Fatalf("%s: %d×%d, want %d×%d", name, got.W, got.H, want.W, want.H)
			}
			for i := range want.RGB {
				if d := int(got.RGB[i]) - int(want.RGB[i]); d > 2 || d < -2 {
					t.Fatalf("%s at side %d: byte %d is %d, image/png gives %d", name, side, i, got.RGB[i], want.RGB[i])
				}
			}
		}
	}
}

// A JPEG too big to decode whole within the memory bound is refused from
// its header, saying how much it would take.
func TestJPEGOverMemoryBound(t *testing.T) {
	data := encodeJPEG(t, patternImage(64, 48), 90)
	sof := bytes.Index(data, []byte{0xff, 0xc0})
	if sof < 0 {
		t.Fatal("no baseline frame header")
	}
	big := bytes.Clone(data)
	binary.BigEndian.PutUint16(big[sof+5:], 30000) // height
	binary.BigEndian.PutUint16(big[sof+7:], 30000) // width
	_, err := DecodeImage(big, ImageLimits{})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "30000×30000") || !strings.Contains(err.Error(), "GB of memory") {
		t.Fatalf("30000² JPEG: %v", err)
	}
	// Go's encoder subsamples chroma 4:2:0: 64×48 luma and two 32×24 planes.
	if n, prog, ok := jpegSamples(data); !ok || prog || n != 64*48+2*32*24 {
		t.Fatalf("jpegSamples of a 4:2:0 64×48 JPEG = %d %v %v", n, prog, ok)
	}
}

// The streamed reader never panics and never reads past its input,
// whatever the bytes (seeds: one PNG of each kind the encoder writes).
func FuzzPNGStream(f *testing.F) {
	f.Add(streamPNG(f, 9, 7, 0, func(x, y int) byte { return byte(x * y) }))
	f.Add(streamPNG(f, 9, 7, 2, func(x, y int) byte { return byte(x + y) }))
	pal := image.NewPaletted(image.Rect(0, 0, 5, 3), color.Palette{color.Black, color.NRGBA{200, 10, 10, 100}})
	pal.SetColorIndex(1, 1, 1)
	f.Add(encodePNG(f, pal))
	f.Add(encodePNG(f, patternImage(8, 4)))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := newPNGRows(data)
		if err != nil {
			return
		}
		defer p.close()
		if int64(p.w)*int64(p.h) > 1<<16 {
			return // bound the work, not the parser
		}
		for y := range p.h {
			row, err := p.row(y)
			if err != nil {
				return
			}
			if len(row) != 3*p.w {
				t.Fatalf("row of %d bytes for width %d", len(row), p.w)
			}
		}
	})
}
