package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"

	"github.com/hajimehoshi/go-mp3"
)

// mp3Header is one MPEG audio frame header, Layer III only.
type mp3Header struct {
	mpeg1     bool // MPEG-1; else MPEG-2 (half the rates, one granule)
	mpeg25    bool // MPEG-2.5, which go-mp3 does not decode
	protected bool // a CRC follows the header
	bitrate   int  // bits per second
	rate      int  // samples per second
	padding   bool
	channels  int
}

var (
	mp3Bitrates1 = [16]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0}
	mp3Bitrates2 = [16]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0}
	mp3Rates     = [4]int{44100, 48000, 32000, 0}
)

// parseMP3Header reads a Layer III frame header at the start of b. Free
// format (bitrate index 0) is refused: go-mp3 cannot find its frames.
func parseMP3Header(b []byte) (h mp3Header, ok bool) {
	if len(b) < 4 || b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return h, false
	}
	version := b[1] >> 3 & 3 // 0: 2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
	layer := b[1] >> 1 & 3   // 1: Layer III
	bri, sri := b[2]>>4, b[2]>>2&3
	if version == 1 || layer != 1 || bri == 0 || bri == 15 || sri == 3 || b[3]&3 == 2 {
		return h, false
	}
	h.mpeg1, h.mpeg25 = version == 3, version == 0
	h.protected = b[1]&1 == 0
	h.padding = b[2]>>1&1 == 1
	h.channels = 2
	if b[3]>>6 == 3 {
		h.channels = 1
	}
	h.rate = mp3Rates[sri]
	if h.mpeg1 {
		h.bitrate = mp3Bitrates1[bri] * 1000
	} else {
		h.bitrate = mp3Bitrates2[bri] * 1000
		h.rate /= 2
		if h.mpeg25 {
			h.rate /= 2
		}
	}
	return h, true
}

func (h mp3Header) samplesPerFrame() int {
	if h.mpeg1 {
		return 1152
	}
	return 576
}

func (h mp3Header) frameSize() int {
	pad := 0
	if h.padding {
		pad = 1
	}
	return h.samplesPerFrame()/8*h.bitrate/h.rate + pad
}

func (h mp3Header) sideInfoSize() int {
	switch {
	case h.mpeg1 && h.channels == 1:
		return 17
	case h.mpeg1:
		return 32
	case h.channels == 1:
		return 9
	}
	return 17
}

// skipID3v2 returns what follows the ID3v2 tag at the start of b; ok is
// false when the tag is malformed or runs past the end.
func skipID3v2(b []byte) (rest []byte, ok bool) {
	if len(b) < 10 || !hasPrefix(b, "ID3") {
		return b, false
	}
	for _, c := range b[6:10] {
		if c&0x80 != 0 { // the size is "syncsafe": 7 bits a byte
			return b, false
		}
	}
	size := 10 + (int(b[6])<<21 | int(b[7])<<14 | int(b[8])<<7 | int(b[9]))
	if b[5]&0x10 != 0 { // a footer follows
		size += 10
	}
	if size > len(b) {
		return b, false
	}
	return b[size:], true
}

// gapless is what a LAME (or ffmpeg) "Info"/"Xing" header in the first
// frame says about the stream: how many audio frames it has and how many
// samples of encoder delay and padding to cut.
type gapless struct {
	frames         int // audio frames after the Info frame; 0 if not said
	delay, padding int
	lame           bool // delay and padding are known
}

// readGapless looks for the Info/Xing header inside the first frame.
func readGapless(frame []byte, h mp3Header) (g gapless, ok bool) {
	off := 4 + h.sideInfoSize()
	if h.protected {
		off += 2
	}
	if len(frame) < off+8 {
		return g, false
	}
	x := frame[off:]
	if id := string(x[:4]); id != "Xing" && id != "Info" {
		return g, false
	}
	flags := binary.BigEndian.Uint32(x[4:])
	p := 8
	if flags&1 != 0 {
		if len(x) < p+4 {
			return g, false
		}
		g.frames = int(binary.BigEndian.Uint32(x[p:]) & 0x7fffffff)
		p += 4
	}
	for _, f := range []struct {
		bit  uint32
		size int
	}{{2, 4}, {4, 100}, {8, 4}} { // bytes, table of contents, quality
		if flags&f.bit != 0 {
			p += f.size
		}
	}
	// The LAME tag: a 9-byte encoder name, then 12 bytes, then the delay
	// and padding as two 12-bit numbers.
	if len(x) >= p+24 {
		enc := string(x[p : p+4])
		if enc == "LAME" || enc == "Lavc" || enc == "Lavf" {
			t := x[p+21:]
			g.delay = int(t[0])<<4 | int(t[1])>>4
			g.padding = int(t[1]&0xf)<<8 | int(t[2])
			g.lame = true
		}
	}
	return g, true
}

// mp3DecoderDelay is the latency of go-mp3's synthesis filter bank, the
// 529 samples every gapless MP3 player removes along with the encoder's
// delay.
const mp3DecoderDelay = 529

// decodeMP3 decodes with go-mp3, which always yields 16-bit stereo (a mono
// stream comes out twice). Where the encoder left a LAME header, its delay
// and padding are cut so the samples line up with the original recording,
// and its frame count shows truncation.
func decodeMP3(data []byte, s *pcmSink) error {
	body := data
	for hasPrefix(body, "ID3") {
		rest, ok := skipID3v2(body)
		if !ok {
			return newErr(ErrCorrupt, nil, "truncated or corrupt MP3: a damaged ID3 tag")
		}
		body = rest
	}
	if n := len(body); n >= 128 && string(body[n-128:n-125]) == "TAG" {
		body = body[:n-128] // an ID3v1 tag at the end
	}
	// The first frame tells the channel count (go-mp3 does not) and may
	// hold the gapless header. Junk before it is tolerated, as go-mp3
	// does, but only a little.
	first := -1
	var h mp3Header
	for i := 0; i+4 <= len(body) && i < 64<<10; i++ {
		if hh, ok := parseMP3Header(body[i:]); ok {
			first, h = i, hh
			break
		}
	}
	if first < 0 {
		if len(body) == 0 {
			return newErr(ErrEmpty, nil, "MP3 file has tags but no audio frames")
		}
		return newErr(ErrCorrupt, nil, "truncated or corrupt MP3: no MPEG Layer III frame found")
	}
	if h.mpeg25 {
		return newErr(ErrUnsupported, nil, "unsupported MP3: MPEG-2.5 (%d Hz) streams cannot be decoded", h.rate)
	}
	body = body[first:]
	g, hasInfo := readGapless(body[:min(len(body), h.frameSize())], h)

	d, err := mp3.NewDecoder(bytes.NewReader(body))
	if err != nil {
		return mp3Err("in the first frame", err)
	}
	spf := h.samplesPerFrame()
	total := d.Length() / 4 // go-mp3 counted the frames when it opened
	skip, keep := int64(0), total
	if hasInfo {
		// The Info frame itself decodes as a frame of silence.
		skip, keep = int64(spf), total-int64(spf)
		if g.frames > 0 {
			if have := keep / int64(spf); have < int64(g.frames) {
				return newErr(ErrCorrupt, nil, "truncated MP3: the header says %d frames, the file holds %d", g.frames, have)
			}
			keep = int64(g.frames) * int64(spf)
		}
		if g.lame {
			skip += int64(g.delay + mp3DecoderDelay)
			keep -= int64(g.delay + g.padding)
		}
		if keep < 0 || skip+keep > total {
			skip, keep = int64(spf), total-int64(spf) // a header that does not add up: ignore it
		}
	}
	if err := s.open(d.SampleRate(), h.channels, keep); err != nil {
		return err
	}
	buf := make([]byte, 16<<10)
	mono := make([]float32, 0, len(buf)/4)
	var pos int64 // stereo frames read so far
	for keep > 0 {
		n, err := io.ReadFull(d, buf)
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return mp3Err("after "+durationString(framesDuration(max(0, pos-skip), s.srcRate)), err)
		}
		mono = mono[:0]
		for i := 0; i+4 <= n && keep > 0; i, pos = i+4, pos+1 {
			if pos < skip {
				continue
			}
			l, r := int16(binary.LittleEndian.Uint16(buf[i:])), int16(binary.LittleEndian.Uint16(buf[i+2:]))
			mono = append(mono, float32(int32(l)+int32(r))/(2<<15))
			keep--
		}
		if err := s.write(mono); err != nil {
			return err
		}
		if eof {
			break
		}
	}
	if keep > 0 && g.frames > 0 {
		return newErr(ErrCorrupt, nil, "truncated MP3: the last %s of the %d frames the header promises are missing", durationString(framesDuration(keep, s.srcRate)), g.frames)
	}
	return nil
}

func mp3Err(where string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return newErr(ErrCorrupt, err, "truncated MP3: the data ends %s", where)
	}
	return newErr(ErrCorrupt, err, "truncated or corrupt MP3 %s: %s", where, strings.TrimPrefix(err.Error(), "mp3: "))
}
