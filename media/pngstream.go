package media

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A streamed PNG: image/png decodes a whole image into memory (a
// 20,000×20,000 RGBA scan is 1.6 GB), so natter reads big non-interlaced
// PNGs row by row instead, keeping two raw rows and handing each out as RGB
// over white to the box shrink. Colour handling follows what image/png and
// render do together: palettes and tRNS (palette alpha or a key colour),
// gray and alpha expanded, 16-bit samples cut to their high byte.

// maxStreamWidth bounds the rows a streamed PNG may have.
const maxStreamWidth = 1 << 20

// pngRows reads a non-interlaced PNG's rows in order.
type pngRows struct {
	w, h      int
	depth     int // bits per sample
	ctype     byte
	channels  int
	palette   [][4]byte // RGBA
	key       []uint16  // tRNS key colour of gray or RGB images (nil: none)
	z         io.ReadCloser
	cur, prev []byte
	rgb       []byte
	next      int // the row the next call must ask for
}

// pngStreamable reports whether data is a non-interlaced PNG (one natter
// can stream).
func pngStreamable(data []byte) bool {
	return len(data) >= 33 && hasPrefix(data, "\x89PNG\r\n\x1a\n") && string(data[12:16]) == "IHDR" && data[28] == 0
}

// newPNGRows parses the chunks before the pixels and opens the zlib stream
// over the IDAT chunks.
func newPNGRows(data []byte) (*pngRows, error) {
	bad := func(format string, a ...any) error {
		return newErr(ErrCorrupt, nil, "truncated or corrupt PNG: "+format, a...)
	}
	if !pngStreamable(data) {
		return nil, bad("not a non-interlaced PNG")
	}
	p := &pngRows{}
	var idats [][]byte // the IDAT chunks' data, in place
	pos := 8
	for {
		if pos+8 > len(data) {
			return nil, bad("unexpected end of data")
		}
		n := int(binary.BigEndian.Uint32(data[pos:]))
		typ := string(data[pos+4 : pos+8])
		if n < 0 || n > len(data)-pos-12 {
			return nil, bad("chunk %q runs past the end of the file", typ)
		}
		body := data[pos+8 : pos+8+n]
		if crc32.ChecksumIEEE(data[pos+4:pos+8+n]) != binary.BigEndian.Uint32(data[pos+8+n:]) {
			return nil, bad("checksum error in chunk %q", typ)
		}
		pos += 12 + n
		switch typ {
		case "IHDR":
			if n != 13 {
				return nil, bad("IHDR is %d bytes", n)
			}
			p.w, p.h = int(binary.BigEndian.Uint32(body)), int(binary.BigEndian.Uint32(body[4:]))
			p.depth, p.ctype = int(body[8]), body[9]
			if body[10] != 0 || body[11] != 0 || body[12] != 0 {
				return nil, newErr(ErrUnsupported, nil, "unsupported PNG: compression, filter or interlace method")
			}
			ok := false
			switch p.ctype {
			case 0:
				p.channels, ok = 1, p.depth == 1 || p.depth == 2 || p.depth == 4 || p.depth == 8 || p.depth == 16
			case 2:
				p.channels, ok = 3, p.depth == 8 || p.depth == 16
			case 3:
				p.channels, ok = 1, p.depth == 1 || p.depth == 2 || p.depth == 4 || p.depth == 8
			case 4:
				p.channels, ok = 2, p.depth == 8 || p.depth == 16
			case 6:
				p.channels, ok = 4, p.depth == 8 || p.depth == 16
			}
			if !ok {
				return nil, newErr(ErrUnsupported, nil, "unsupported PNG: bit depth %d with colour type %d", p.depth, p.ctype)
			}
		case "PLTE":
			if n%3 != 0 || n > 3*256 {
				return nil, bad("palette of %d bytes", n)
			}
			p.palette = make([][4]byte, n/3)
			for i := range p.palette {
				p.palette[i] = [4]byte{body[3*i], body[3*i+1], body[3*i+2], 255}
			}
		case "tRNS":
			switch p.ctype {
			case 3:
				for i := 0; i < n && i < len(p.palette); i++ {
					p.palette[i][3] = body[i]
				}
			case 0, 2:
				if n != 2*p.channels {
					return nil, bad("tRNS of %d bytes", n)
				}
				p.key = make([]uint16, p.channels)
				for i := range p.key {
					p.key[i] = binary.BigEndian.Uint16(body[2*i:])
				}
			}
		case "IDAT":
			idats = append(idats, body)
		case "IEND":
			pos = len(data)
		}
		if typ == "IEND" || (typ != "IDAT" && len(idats) > 0) || pos >= len(data) {
			break
		}
	}
	if p.w == 0 || p.h == 0 {
		return nil, bad("no image header")
	}
	if p.w > maxStreamWidth {
		// Two raw rows are held: bound them (an 8-byte-per-pixel row of
		// 2^20 pixels is 8 MB).
		return nil, newErr(ErrTooLarge, nil, "PNG image is %d pixels wide, more than natter reads (%d)", p.w, maxStreamWidth)
	}
	if p.ctype == 3 && len(p.palette) == 0 {
		return nil, bad("no palette")
	}
	if len(idats) == 0 {
		return nil, bad("no image data")
	}
	parts := make([]io.Reader, len(idats))
	for i, b := range idats {
		parts[i] = bytes.NewReader(b)
	}
	z, err := zlib.NewReader(io.MultiReader(parts...))
	if err != nil {
		return nil, bad("%v", err)
	}
	p.z = z
	rowBytes := 1 + (p.w*p.channels*p.depth+7)/8
	p.cur, p.prev, p.rgb = make([]byte, rowBytes), make([]byte, rowBytes), make([]byte, 3*p.w)
	return p, nil
}

func (p *pngRows) close() {
	if p.z != nil {
		p.z.Close()
	}
}

// errRowOrder is a programming error: rows are read once, in order.
var errRowOrder = errors.New("png rows read out of order")

// row returns row y as RGB over white; y must be the row after the last.
func (p *pngRows) row(y int) ([]byte, error) {
	if y != p.next {
		return nil, errRowOrder
	}
	p.next++
	p.prev, p.cur = p.cur, p.prev
	if _, err := io.ReadFull(p.z, p.cur); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, newErr(ErrCorrupt, err, "truncated or corrupt PNG: not enough pixel data (row %d of %d)", y+1, p.h)
		}
		return nil, newErr(ErrCorrupt, err, "truncated or corrupt PNG: %v", err)
	}
	if err := unfilter(p.cur, p.prev, max(1, p.channels*p.depth/8), y == 0); err != nil {
		return nil, err
	}
	p.toRGB(p.cur[1:])
	return p.rgb, nil
}

// unfilter undoes the row's filter in place; bpp is bytes per pixel
// (at least 1), first means there is no previous row (it reads as zeros).
func unfilter(cur, prev []byte, bpp int, first bool) error {
	f, c := cur[0], cur[1:]
	var pr []byte
	if first {
		pr = make([]byte, len(c)) // once per image
	} else {
		pr = prev[1:]
	}
	switch f {
	case 0:
	case 1:
		for i := bpp; i < len(c); i++ {
			c[i] += c[i-bpp]
		}
	case 2:
		for i := range c {
			c[i] += pr[i]
		}
	case 3:
		for i := range c {
			var left byte
			if i >= bpp {
				left = c[i-bpp]
			}
			c[i] += byte((int(left) + int(pr[i])) / 2)
		}
	case 4:
		for i := range c {
			var a, cc byte
			if i >= bpp {
				a, cc = c[i-bpp], pr[i-bpp]
			}
			c[i] += paeth(a, pr[i], cc)
		}
	default:
		return newErr(ErrCorrupt, nil, "truncated or corrupt PNG: bad filter type %d", f)
	}
	return nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// toRGB converts one unfiltered row to RGB over white.
func (p *pngRows) toRGB(raw []byte) {
	over := func(j int, r, g, b, a byte) {
		if a == 255 {
			p.rgb[j], p.rgb[j+1], p.rgb[j+2] = r, g, b
			return
		}
		// Non-premultiplied colour over white: c·a + 255·(1-a).
		bl := func(c byte) byte { return byte((int(c)*int(a) + 255*(255-int(a)) + 127) / 255) }
		p.rgb[j], p.rgb[j+1], p.rgb[j+2] = bl(r), bl(g), bl(b)
	}
	sample := func(i int) (v byte, full uint16) { // the i-th sample of the row
		switch p.depth {
		case 16:
			full = binary.BigEndian.Uint16(raw[2*i:])
			return byte(full >> 8), full
		case 8:
			return raw[i], uint16(raw[i])
		}
		per := 8 / p.depth
		s := (raw[i/per] >> (8 - p.depth*(i%per+1))) & (1<<p.depth - 1)
		return s, uint16(s)
	}
	for x := range p.w {
		j := 3 * x
		switch p.ctype {
		case 0:
			v, full := sample(x)
			if p.depth < 8 {
				v = byte(int(v) * 255 / (1<<p.depth - 1))
			}
			a := byte(255)
			if p.key != nil && full == p.key[0] {
				a = 0
			}
			over(j, v, v, v, a)
		case 2:
			r, fr := sample(3 * x)
			g, fg := sample(3*x + 1)
			b, fb := sample(3*x + 2)
			a := byte(255)
			if p.key != nil && fr == p.key[0] && fg == p.key[1] && fb == p.key[2] {
				a = 0
			}
			over(j, r, g, b, a)
		case 3:
			i, _ := sample(x)
			c := [4]byte{0, 0, 0, 255} // image/png: an index past the palette is black
			if int(i) < len(p.palette) {
				c = p.palette[i]
			}
			over(j, c[0], c[1], c[2], c[3])
		case 4:
			v, _ := sample(2 * x)
			a, _ := sample(2*x + 1)
			over(j, v, v, v, a)
		case 6:
			r, _ := sample(4 * x)
			g, _ := sample(4*x + 1)
			b, _ := sample(4*x + 2)
			a, _ := sample(4*x + 3)
			over(j, r, g, b, a)
		}
	}
}

// streamShrink box-averages a streamed PNG by k into an opaque RGBA image,
// as boxShrink does for a decoded one.
func streamShrink(p *pngRows, k int) (*shrunk, error) {
	out := newShrunk(p.w, p.h, k)
	for y := range p.h {
		row, err := p.row(y)
		if err != nil {
			return nil, err
		}
		out.add(y, row)
	}
	return out, nil
}

// pngStreamDecode decodes a big non-interlaced PNG to w×h RGB through the
// streamed box shrink.
func pngStreamDecode(data []byte, w, h int) ([]byte, error) {
	p, err := newPNGRows(data)
	if err != nil {
		return nil, err
	}
	defer p.close()
	k := min(p.w/w, p.h/h)
	if k < 1 {
		return nil, fmt.Errorf("pngStreamDecode: %d×%d does not shrink to %d×%d", p.w, p.h, w, h)
	}
	s, err := streamShrink(p, k)
	if err != nil {
		return nil, err
	}
	return render(s.img, w, h), nil
}
