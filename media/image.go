package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"strings"

	"golang.org/x/image/bmp"
	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Image is a decoded picture as mtmd takes it: packed 8-bit RGB, row-major,
// no padding, alpha already composited on white, and a JPEG's EXIF
// orientation applied (so W and H are as the picture is meant to be seen).
type Image struct {
	W, H       int
	RGB        []byte // len 3*W*H
	Format     string // "png", "jpeg", "gif", "webp" or "bmp"
	SrcW, SrcH int    // the size before downscaling, also as seen
}

// ImageLimits bound the work DecodeImage does. Zero (or negative) fields
// take the defaults.
type ImageLimits struct {
	// MaxSide: downscale, keeping the aspect ratio, so that the longer side
	// is at most this many pixels. 0 means DefaultMaxSide. Vision encoders
	// resize to well under this anyway; the bound is on memory and time.
	MaxSide int
	// MaxPixels: refuse sources with more pixels than this, before
	// decoding them. 0 means DefaultMaxPixels.
	MaxPixels int64
	// MaxDecodeBytes bounds the memory of decoders that hold the whole
	// image (all but non-interlaced PNG, which is streamed row by row when
	// big): an image whose decoded planes would need more is refused
	// before decoding. 0 means DefaultMaxDecodeBytes.
	MaxDecodeBytes int64
}

// Defaults of ImageLimits.
const (
	DefaultMaxSide        = 2048
	DefaultMaxPixels      = 1_000_000_000
	DefaultMaxDecodeBytes = 1 << 30
)

// pngStreamPixels: non-interlaced PNGs with more pixels than this are
// streamed (pngstream.go) rather than decoded whole.
var pngStreamPixels int64 = 16_000_000

func (l ImageLimits) withDefaults() ImageLimits {
	if l.MaxSide <= 0 {
		l.MaxSide = DefaultMaxSide
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxDecodeBytes <= 0 {
		l.MaxDecodeBytes = DefaultMaxDecodeBytes
	}
	return l
}

type imageCodec struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}

// The codecs are called directly rather than through image.Decode so that
// what runs is what Sniff saw, whatever else the binary registers.
var imageCodecs = map[string]imageCodec{
	"png":  {png.DecodeConfig, png.Decode},
	"jpeg": {jpeg.DecodeConfig, jpeg.Decode},
	"gif":  {gif.DecodeConfig, gif.Decode}, // the first frame
	"webp": {webp.DecodeConfig, webp.Decode},
	"bmp":  {bmp.DecodeConfig, bmp.Decode},
}

// DecodeImage decodes a PNG, JPEG, GIF (first frame), WebP or BMP image,
// composites any transparency on white, downscales it to lim.MaxSide and
// turns a JPEG upright as its EXIF orientation says.
// The source's dimensions are read from its header and checked against
// lim.MaxPixels before any pixel memory is allocated.
func DecodeImage(data []byte, lim ImageLimits) (img *Image, err error) {
	if len(data) == 0 {
		return nil, newErr(ErrEmpty, nil, "empty file: no image data")
	}
	kind, format := Sniff(data)
	switch kind {
	case KindAudio:
		return nil, newErr(ErrUnsupported, nil, "this is %s audio, not an image", formatName(format))
	case "":
		return nil, unknownFormatErr(data)
	}
	lim = lim.withDefaults()
	codec := imageCodecs[format]
	name := formatName(format)
	defer recoverDecoder(&err, name)

	if w, h, ok := pngZeroSize(data); ok {
		// image/png calls this a format error; to a user it is an empty image.
		return nil, newErr(ErrEmpty, nil, "PNG image has zero size (%d×%d)", w, h)
	}
	cfg, err := codec.config(bytes.NewReader(data))
	if err != nil {
		return nil, imageDecodeErr(name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, newErr(ErrEmpty, nil, "%s image has zero size (%d×%d)", name, cfg.Width, cfg.Height)
	}
	if err := checkPixels(name, cfg.Width, cfg.Height, lim.MaxPixels); err != nil {
		return nil, err
	}
	if format == "jpeg" {
		if n := jpegScans(data); n > maxJPEGScans {
			return nil, newErr(ErrUnsupported, nil, "unsupported JPEG: %d progressive scans (at most %d)", n, maxJPEGScans)
		}
	}
	if px := int64(cfg.Width) * int64(cfg.Height); format == "png" && px > pngStreamPixels && pngStreamable(data) {
		w, h := fitSize(cfg.Width, cfg.Height, lim.MaxSide)
		rgb, err := pngStreamDecode(data, w, h)
		if err != nil {
			return nil, err
		}
		return &Image{W: w, H: h, RGB: rgb, Format: format, SrcW: cfg.Width, SrcH: cfg.Height}, nil
	}
	if need := decodeBytes(format, data, cfg); need > lim.MaxDecodeBytes {
		return nil, newErr(ErrTooLarge, nil, "%s image is %d×%d: decoding it takes about %s of memory, over the %s bound (natter streams only non-interlaced PNGs that big)",
			name, cfg.Width, cfg.Height, byteSize(need), byteSize(lim.MaxDecodeBytes))
	}

	src, err := codec.decode(bytes.NewReader(data))
	if err != nil {
		return nil, imageDecodeErr(name, err)
	}
	b := src.Bounds()
	if b.Empty() {
		return nil, newErr(ErrEmpty, nil, "%s image has zero size (%d×%d)", name, b.Dx(), b.Dy())
	}
	// Decoders return the size their header declared (a GIF's first frame
	// lies within its logical screen), but SrcW×SrcH <= MaxPixels is a
	// promise, so it is checked rather than assumed.
	if err := checkPixels(name, b.Dx(), b.Dy(), lim.MaxPixels); err != nil {
		return nil, err
	}
	w, h := fitSize(b.Dx(), b.Dy(), lim.MaxSide)
	img = &Image{W: w, H: h, RGB: render(src, w, h), Format: format, SrcW: b.Dx(), SrcH: b.Dy()}
	if format == "jpeg" {
		// Turned after scaling: the longer side's bound holds either way,
		// and the turn is cheaper on the smaller image.
		if o := jpegOrientation(data); o > 1 {
			img.RGB, img.W, img.H = orient(img.RGB, img.W, img.H, o)
			if o >= 5 {
				img.SrcW, img.SrcH = img.SrcH, img.SrcW
			}
		}
	}
	return img, nil
}

// pngZeroSize reports a PNG whose IHDR declares a zero width or height.
func pngZeroSize(b []byte) (w, h uint32, ok bool) {
	if len(b) < 24 || !hasPrefix(b, "\x89PNG\r\n\x1a\n") || string(b[12:16]) != "IHDR" {
		return 0, 0, false
	}
	w, h = binary.BigEndian.Uint32(b[16:]), binary.BigEndian.Uint32(b[20:])
	return w, h, w == 0 || h == 0
}

// maxJPEGScans bounds the work of a progressive JPEG: each scan walks the
// whole image (a quarter of a second at 64 megapixels), so a tiny file of
// thousands of scans could keep the decoder busy for minutes. Encoders
// write about ten.
const maxJPEGScans = 32

// jpegScans counts start-of-scan markers. Entropy-coded data never holds
// one (a 0xff there is followed by 0x00 or a restart marker); an EXIF
// thumbnail may add its own few, which the limit allows for.
func jpegScans(b []byte) int {
	n := 0
	for i := 0; i+1 < len(b); i++ {
		if b[i] == 0xff && b[i+1] == 0xda {
			n++
		}
	}
	return n
}

func checkPixels(name string, w, h int, limit int64) error {
	if n := int64(w) * int64(h); n > limit {
		return newErr(ErrTooLarge, nil, "%s image is %d×%d (%s megapixels), over the %s-megapixel limit",
			name, w, h, megapixels(n), megapixels(limit))
	}
	return nil
}

// decodeBytes estimates the memory a whole-image decoder takes for the
// image: its decoded planes (and a progressive JPEG's coefficients).
func decodeBytes(format string, data []byte, cfg image.Config) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	switch format {
	case "jpeg":
		if n, progressive, ok := jpegSamples(data); ok {
			if progressive {
				return 5 * n // the planes, and an int32 coefficient per sample
			}
			return n
		}
		return 3 * px
	case "gif":
		return px
	case "png":
		switch cfg.ColorModel {
		case color.GrayModel:
			return px
		case color.Gray16Model:
			return 2 * px
		case color.RGBA64Model, color.NRGBA64Model:
			return 8 * px
		}
		if _, ok := cfg.ColorModel.(color.Palette); ok {
			return px
		}
	}
	return 4 * px
}

// jpegSamples reads a JPEG's frame header: the samples of all its
// components (after chroma subsampling) and whether it is progressive.
func jpegSamples(b []byte) (n int64, progressive, ok bool) {
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			return 0, false, false
		}
		m := b[i+1]
		if m == 0xff || (m >= 0xd0 && m <= 0xd9) || m == 0x01 {
			i++ // fill byte or a marker without a length
			continue
		}
		l := int(b[i+2])<<8 | int(b[i+3])
		seg := b[i+4 : min(len(b), i+2+l)]
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc {
			if len(seg) < 6 {
				return 0, false, false
			}
			h, w, nc := int64(seg[1])<<8|int64(seg[2]), int64(seg[3])<<8|int64(seg[4]), int(seg[5])
			if len(seg) < 6+3*nc || nc == 0 {
				return 0, false, false
			}
			hmax, vmax := int64(1), int64(1)
			for c := range nc {
				hv := seg[6+3*c+1]
				hmax, vmax = max(hmax, int64(hv>>4)), max(vmax, int64(hv&15))
			}
			for c := range nc {
				hv := seg[6+3*c+1]
				hc, vc := max(int64(hv>>4), 1), max(int64(hv&15), 1)
				n += (w*hc + hmax - 1) / hmax * ((h*vc + vmax - 1) / vmax)
			}
			if nc == 4 {
				n += 4 * w * h // converted to CMYK pixels
			}
			return n, m == 0xc2 || m == 0xc6 || m == 0xca || m == 0xce, true
		}
		if m == 0xda {
			return 0, false, false
		}
		i += 2 + l
	}
	return 0, false, false
}

func byteSize(n int64) string {
	if n >= 1<<30 {
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/(1<<30)), ".0") + " GB"
	}
	return fmt.Sprintf("%d MB", (n+1<<20-1)>>20)
}

func megapixels(n int64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/1e6), ".0")
}

// imageDecodeErr rewords a decoder's error: "png: invalid format: not
// enough pixel data" becomes "truncated or corrupt PNG: invalid format: not
// enough pixel data".
func imageDecodeErr(name string, err error) error {
	msg := err.Error()
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		msg = "unexpected end of data"
	}
	for _, p := range []string{"png: ", "jpeg: ", "gif: ", "webp: ", "bmp: ", "vp8: ", "vp8l: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	var pngU png.UnsupportedError
	var jpegU jpeg.UnsupportedError
	if errors.As(err, &pngU) || errors.As(err, &jpegU) || errors.Is(err, bmp.ErrUnsupported) ||
		strings.HasPrefix(msg, "unsupported") {
		return newErr(ErrUnsupported, err, "unsupported %s: %s", name, msg)
	}
	return newErr(ErrCorrupt, err, "truncated or corrupt %s: %s", name, msg)
}

// recoverDecoder turns a panic in a decoder into an ErrCorrupt error. The
// input is the user's file; a decoder bug must not take the program down.
func recoverDecoder(err *error, name string) {
	if r := recover(); r != nil {
		*err = newErr(ErrCorrupt, nil, "truncated or corrupt %s: the decoder failed (%v)", name, r)
	}
}

// fitSize scales w×h down, keeping its aspect ratio, so that the longer
// side is maxSide; sizes that already fit are kept.
func fitSize(w, h, maxSide int) (int, int) {
	if w <= maxSide && h <= maxSide {
		return w, h
	}
	long, short := w, h
	if h > w {
		long, short = h, w
	}
	s := int((int64(short)*int64(maxSide) + int64(long)/2) / int64(long))
	s = max(s, 1)
	if w >= h {
		return maxSide, s
	}
	return s, maxSide
}

// render returns src as packed RGB over white at w×h.
//
// Shrinking by a factor k >= 2 starts with an exact k×k box average, which
// is alias-free, linear in the source size and needs one row of scratch;
// Catmull-Rom then does the remaining factor (< 2). Running Catmull-Rom over
// the whole range instead would cost a float64 buffer of w×SrcH×32 bytes.
func render(src image.Image, w, h int) []byte {
	b := src.Bounds()
	if w == b.Dx() && h == b.Dy() {
		out := make([]byte, 3*w*h)
		rows := newRowReader(src)
		for y := range h {
			row := rows.row(y)
			o := out[3*w*y:]
			for x := range w {
				o[3*x], o[3*x+1], o[3*x+2] = row[3*x], row[3*x+1], row[3*x+2]
			}
		}
		return out
	}
	if k := min(b.Dx()/w, b.Dy()/h); k >= 2 {
		src = boxShrink(src, k)
		b = src.Bounds()
	}
	dst, done := src.(*image.RGBA)
	if !done || b.Dx() != w || b.Dy() != h {
		// White first, then Over: transparent pixels end up white. (The box
		// output is opaque, and Over of an opaque source is Src.)
		dst = image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range dst.Pix {
			dst.Pix[i] = 0xff
		}
		draw.CatmullRom.Scale(dst, dst.Rect, src, b, draw.Over, nil)
	}
	out := make([]byte, 3*w*h)
	for i, j := 0, 0; i < len(dst.Pix); i, j = i+4, j+3 {
		out[j], out[j+1], out[j+2] = dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2]
	}
	return out
}

// rowReader hands out the source's rows as RGB over white. draw.Draw does
// the per-type conversion (with fast paths for the decoders' image types)
// into one reusable premultiplied row.
type rowReader struct {
	src  image.Image
	rgba *image.RGBA
	rgb  []byte
}

func newRowReader(src image.Image) *rowReader {
	w := src.Bounds().Dx()
	return &rowReader{src: src, rgba: image.NewRGBA(image.Rect(0, 0, w, 1)), rgb: make([]byte, 3*w)}
}

// row returns row y (0-based) of the source; the slice is reused.
func (r *rowReader) row(y int) []byte {
	b := r.src.Bounds()
	draw.Draw(r.rgba, r.rgba.Rect, r.src, image.Pt(b.Min.X, b.Min.Y+y), draw.Src)
	p := r.rgba.Pix
	for i, j := 0, 0; i < len(p); i, j = i+4, j+3 {
		// Premultiplied colour over white: c + (1-a)·255.
		white := 255 - p[i+3]
		r.rgb[j], r.rgb[j+1], r.rgb[j+2] = p[i]+white, p[i+1]+white, p[i+2]+white
	}
	return r.rgb
}

// boxShrink averages k×k blocks of src (over white) into an opaque RGBA
// image of ceil(w/k)×ceil(h/k); blocks at the right and bottom edges
// average the pixels they have.
func boxShrink(src image.Image, k int) *image.RGBA {
	b := src.Bounds()
	s := newShrunk(b.Dx(), b.Dy(), k)
	rows := newRowReader(src)
	for y := range b.Dy() {
		s.add(y, rows.row(y))
	}
	return s.img
}

// shrunk accumulates source rows, in order, into k×k box averages.
type shrunk struct {
	img           *image.RGBA
	sw, sh, k, ow int
	sum           []uint32
}

func newShrunk(sw, sh, k int) *shrunk {
	ow, oh := (sw+k-1)/k, (sh+k-1)/k
	return &shrunk{img: image.NewRGBA(image.Rect(0, 0, ow, oh)), sw: sw, sh: sh, k: k, ow: ow, sum: make([]uint32, 3*ow)}
}

// add takes source row y (RGB); the last row of a block writes it out.
func (s *shrunk) add(y int, row []byte) {
	k := s.k
	for x := range s.sw {
		o := 3 * (x / k)
		s.sum[o] += uint32(row[3*x])
		s.sum[o+1] += uint32(row[3*x+1])
		s.sum[o+2] += uint32(row[3*x+2])
	}
	if (y+1)%k != 0 && y+1 != s.sh {
		return
	}
	oy := y / k
	y0 := oy * k
	d := s.img.Pix[oy*s.img.Stride:]
	for ox := range s.ow {
		n := uint32((min(ox*k+k, s.sw) - ox*k) * (y + 1 - y0))
		d[4*ox] = uint8((s.sum[3*ox] + n/2) / n)
		d[4*ox+1] = uint8((s.sum[3*ox+1] + n/2) / n)
		d[4*ox+2] = uint8((s.sum[3*ox+2] + n/2) / n)
		d[4*ox+3] = 0xff
	}
	clear(s.sum)
}
