package media

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"testing"
)

// withEXIFOrientation inserts an APP1 EXIF segment with orientation o
// after the JPEG's SOI marker.
func withEXIFOrientation(jpg []byte, o uint16, bo binary.AppendByteOrder) []byte {
	tiff := []byte("MM")
	if bo == binary.LittleEndian {
		tiff = []byte("II")
	}
	tiff = bo.AppendUint16(tiff, 42)
	tiff = bo.AppendUint32(tiff, 8)
	tiff = bo.AppendUint16(tiff, 2) // two entries: another tag first
	tiff = bo.AppendUint16(tiff, 0x010f)
	tiff = bo.AppendUint16(tiff, 2)
	tiff = bo.AppendUint32(tiff, 4)
	tiff = append(tiff, "Cam\x00"...)
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3)
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, o)
	tiff = append(tiff, 0, 0, 0, 0, 0, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := binary.BigEndian.AppendUint16([]byte{0xff, 0xe1}, uint16(2+len(seg)))
	app1 = append(app1, seg...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, app1...)
	return append(out, jpg[2:]...)
}

func TestJPEGOrientation(t *testing.T) {
	red, green, blue, white := [3]byte{230, 20, 20}, [3]byte{20, 200, 40}, [3]byte{20, 30, 220}, [3]byte{250, 250, 250}
	m := image.NewRGBA(image.Rect(0, 0, 32, 16))
	for y := range 16 {
		for x := range 32 {
			c := [][3]byte{red, green, blue, white}[y/8*2+x/16]
			m.SetRGBA(x, y, color.RGBA{c[0], c[1], c[2], 255})
		}
	}
	jpg := encodeJPEG(t, m, 95)
	for _, tc := range []struct {
		o              uint16
		w, h           int
		tl, tr, bl, br [3]byte
	}{
		{1, 32, 16, red, green, blue, white},
		{2, 32, 16, green, red, white, blue}, // mirrored
		{3, 32, 16, white, blue, green, red}, // upside down
		{6, 16, 32, blue, red, white, green}, // turned clockwise
		{8, 16, 32, green, white, red, blue}, // turned anticlockwise
		{9, 32, 16, red, green, blue, white}, // invalid: ignored
	} {
		for _, bo := range []binary.AppendByteOrder{binary.BigEndian, binary.LittleEndian} {
			img := mustDecodeImage(t, withEXIFOrientation(jpg, tc.o, bo), ImageLimits{})
			if img.W != tc.w || img.H != tc.h || img.SrcW != tc.w || img.SrcH != tc.h {
				t.Fatalf("orientation %d: %d×%d (src %d×%d), want %d×%d", tc.o, img.W, img.H, img.SrcW, img.SrcH, tc.w, tc.h)
			}
			for _, c := range []struct {
				x, y int
				want [3]byte
			}{
				{2, 2, tc.tl}, {img.W - 3, 2, tc.tr}, {2, img.H - 3, tc.bl}, {img.W - 3, img.H - 3, tc.br},
			} {
				if got := pixel(img, c.x, c.y); !near(got, c.want, 8) {
					t.Errorf("orientation %d (%v): (%d,%d) = %v, want %v", tc.o, bo, c.x, c.y, got, c.want)
				}
			}
		}
	}
}

// Each orientation undone by its inverse gives back the pixels.
func TestOrientInverses(t *testing.T) {
	const w, h = 5, 3
	rgb := make([]byte, 3*w*h)
	for i := range rgb {
		rgb[i] = byte(i)
	}
	inverse := map[int]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
	for o, inv := range inverse {
		turned, tw, th := orient(rgb, w, h, o)
		back, bw, bh := orient(turned, tw, th, inv)
		if bw != w || bh != h || !bytes.Equal(back, rgb) {
			t.Errorf("orientation %d then %d: %d×%d, equal %v", o, inv, bw, bh, bytes.Equal(back, rgb))
		}
	}
}

func TestJPEGOrientationHostile(t *testing.T) {
	// Segment lengths and IFD offsets that point anywhere must read as 1.
	for _, b := range [][]byte{
		{0xff, 0xd8},
		{0xff, 0xd8, 0xff, 0xe1, 0x00},
		{0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff, 'E', 'x'},
		append([]byte{0xff, 0xd8, 0xff, 0xe1, 0x00, 0x10}, "Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff"...),
		append([]byte{0xff, 0xd8, 0xff, 0xe1, 0x00, 0x12}, "Exif\x00\x00II\x2a\x00\x08\x00\x00\x00\xff\xff"...),
	} {
		if o := jpegOrientation(b); o != 1 {
			t.Errorf("% x: orientation %d", b, o)
		}
	}
}
