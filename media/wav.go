package media

import (
	"encoding/binary"
	"fmt"
	"math"
)

// WAV format tags (the fmt chunk's first field).
const (
	wavPCM        = 0x0001
	wavFloat      = 0x0003
	wavExtensible = 0xFFFE
)

// The GUID of a WAVE_FORMAT_EXTENSIBLE sub-format is the format tag
// followed by these 14 bytes.
const wavGUIDTail = "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"

// Sizes at or above this in a data chunk are the placeholders that
// streaming writers (arecord, sox and ffmpeg into a pipe) leave, meaning
// "to the end of the file".
const wavStreamingSize = 0x7fff0000

// wavFormat is what the fmt chunk says.
type wavFormat struct {
	float      bool
	channels   int
	rate       int
	bits       int // container bits per sample
	blockAlign int
}

// decodeWAV parses the RIFF chunks itself: fmt and data, skipping the
// rest (LIST, fact, bext, JUNK ...). It is lenient where real files are
// sloppy (a wrong RIFF size, a missing pad byte after an odd chunk, a
// streaming writer's size placeholder) and strict where a guess could turn
// the samples to noise.
func decodeWAV(data []byte, s *pcmSink) error {
	if len(data) < 12 {
		return newErr(ErrCorrupt, nil, "truncated WAV: the RIFF header is incomplete")
	}
	riffSize := le32(data[4:])
	var (
		fmtBody   []byte
		pcm       []byte
		haveData  bool
		truncated bool
		declared  uint32
		pos, end  = 12, len(data)
	)
	// The RIFF size is not trusted for the end: writers that crash or
	// stream get it wrong, and the slice is all there is anyway.
	for pos+8 <= end && (fmtBody == nil || !haveData) {
		id := string(data[pos : pos+4])
		size := int64(le32(data[pos+4:]))
		body := pos + 8
		avail := int64(end - body)
		switch id {
		case "fmt ":
			if size > avail {
				return newErr(ErrCorrupt, nil, "truncated WAV: the fmt chunk runs past the end of the file")
			}
			fmtBody = data[body : body+int(size)]
		case "data":
			haveData, declared = true, uint32(size)
			streamed := riffSize == 0 || riffSize >= wavStreamingSize
			switch {
			case size > avail && size >= wavStreamingSize, size == 0 && avail > 0 && streamed:
				pcm = data[body:] // a placeholder: the samples run to the end
				size = avail
			case size <= avail:
				pcm = data[body : body+int(size)]
			default:
				truncated, pcm = true, data[body:]
			}
		}
		if size >= avail {
			break
		}
		next := body + int(size)
		if size%2 == 1 {
			// Chunks are padded to even sizes, but some writers forget the
			// pad byte: take whichever position starts a plausible chunk.
			if !isChunkID(data, next+1) && isChunkID(data, next) {
				next--
			}
			next++
		}
		pos = next
	}
	if fmtBody == nil {
		if haveData {
			return newErr(ErrCorrupt, nil, "corrupt WAV: no fmt chunk, so the samples' format is unknown")
		}
		return newErr(ErrCorrupt, nil, "truncated or corrupt WAV: no fmt chunk found")
	}
	f, err := parseWAVFormat(fmtBody)
	if err != nil {
		return err
	}
	if !haveData {
		return newErr(ErrEmpty, nil, "WAV file has a header but no data chunk (truncated?)")
	}
	if truncated {
		return newErr(ErrCorrupt, nil, "truncated WAV: the data chunk declares %d bytes but the file holds %d", declared, len(pcm))
	}
	frames := len(pcm) / f.blockAlign
	if err := s.open(f.rate, f.channels, int64(frames)); err != nil {
		return err
	}
	sample := wavSampleFunc(f)
	step := f.bits / 8
	const block = 4096
	mono := make([]float32, 0, block)
	scale := 1 / float32(f.channels)
	for fr := 0; fr < frames; fr++ {
		b := pcm[fr*f.blockAlign:]
		var sum float32
		for c := range f.channels {
			sum += sample(b[c*step:])
		}
		mono = append(mono, sum*scale)
		if len(mono) == block || fr == frames-1 {
			if err := s.write(mono); err != nil {
				return err
			}
			mono = mono[:0]
		}
	}
	return nil
}

// isChunkID reports whether four printable ASCII bytes start at i.
func isChunkID(data []byte, i int) bool {
	if i < 0 || i+8 > len(data) {
		return false
	}
	for _, c := range data[i : i+4] {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func parseWAVFormat(b []byte) (wavFormat, error) {
	if len(b) < 16 {
		return wavFormat{}, newErr(ErrCorrupt, nil, "corrupt WAV: the fmt chunk is %d bytes, less than the 16 it needs", len(b))
	}
	tag := le16(b)
	f := wavFormat{
		channels:   int(le16(b[2:])),
		rate:       int(le32(b[4:])),
		blockAlign: int(le16(b[12:])),
		bits:       int(le16(b[14:])),
	}
	if tag == wavExtensible {
		if len(b) < 40 {
			return f, newErr(ErrCorrupt, nil, "corrupt WAV: the extensible fmt chunk is %d bytes, less than the 40 it needs", len(b))
		}
		if string(b[26:40]) != wavGUIDTail {
			return f, newErr(ErrUnsupported, nil, "unsupported WAV encoding: an extensible format with an unknown sub-format GUID")
		}
		tag = le16(b[24:])
	}
	switch tag {
	case wavPCM:
		if f.bits != 8 && f.bits != 16 && f.bits != 24 && f.bits != 32 {
			return f, newErr(ErrUnsupported, nil, "unsupported WAV sample size: %d-bit PCM (supported: 8, 16, 24 and 32-bit PCM, 32 and 64-bit float)", f.bits)
		}
	case wavFloat:
		if f.bits != 32 && f.bits != 64 {
			return f, newErr(ErrUnsupported, nil, "unsupported WAV sample size: %d-bit float (supported: 8, 16, 24 and 32-bit PCM, 32 and 64-bit float)", f.bits)
		}
		f.float = true
	default:
		return f, newErr(ErrUnsupported, nil, "unsupported WAV encoding: %s (only PCM and IEEE float WAV files are supported)", wavTagName(tag))
	}
	switch {
	case f.channels == 0:
		return f, newErr(ErrCorrupt, nil, "corrupt WAV: the header says 0 channels")
	case f.channels > 64:
		return f, newErr(ErrUnsupported, nil, "unsupported WAV: %d channels (at most 64)", f.channels)
	case f.rate == 0:
		return f, newErr(ErrCorrupt, nil, "corrupt WAV: the header says a sample rate of 0 Hz")
	}
	if want := f.channels * f.bits / 8; f.blockAlign != want {
		// A zero is a lazy writer; anything else means the layout is not
		// what the other fields say, and guessing would give noise.
		if f.blockAlign != 0 {
			return f, newErr(ErrCorrupt, nil, "corrupt WAV: block size %d does not match %d channels of %d bits", f.blockAlign, f.channels, f.bits)
		}
		f.blockAlign = want
	}
	return f, nil
}

func wavTagName(tag uint16) string {
	names := map[uint16]string{
		0x0002: "Microsoft ADPCM", 0x0006: "A-law", 0x0007: "µ-law", 0x0011: "IMA ADPCM",
		0x0031: "GSM 6.10", 0x0050: "MPEG", 0x0055: "MP3", 0x00FF: "AAC", 0x1610: "AAC",
	}
	if n, ok := names[tag]; ok {
		return fmt.Sprintf("%s (format 0x%04x)", n, tag)
	}
	return fmt.Sprintf("format 0x%04x", tag)
}

// wavSampleFunc returns the reader of one sample scaled to [-1, 1).
func wavSampleFunc(f wavFormat) func([]byte) float32 {
	switch {
	case f.float && f.bits == 32:
		return func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }
	case f.float:
		return func(b []byte) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(b))) }
	case f.bits == 8: // unsigned, centred on 128
		return func(b []byte) float32 { return (float32(b[0]) - 128) / 128 }
	case f.bits == 16:
		return func(b []byte) float32 { return float32(int16(le16(b))) / (1 << 15) }
	case f.bits == 24:
		return func(b []byte) float32 {
			v := int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24) >> 8
			return float32(v) / (1 << 23)
		}
	default:
		return func(b []byte) float32 { return float32(int32(le32(b))) / (1 << 31) }
	}
}

// EncodeWAV writes mono samples (clamped to [-1, 1]) as a 16-bit PCM WAV
// file at rate Hz: the one audio format every OpenAI-compatible server
// reads (OpenAI's API takes only wav and mp3).
func EncodeWAV(samples []float32, rate int) []byte {
	n := len(samples) * 2
	b := make([]byte, 44+n)
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], 1) // PCM
	le.PutUint16(b[22:], 1) // mono
	le.PutUint32(b[24:], uint32(rate))
	le.PutUint32(b[28:], uint32(rate*2))
	le.PutUint16(b[32:], 2)
	le.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(n))
	for i, s := range samples {
		v := clamp1(s) * 32767
		le.PutUint16(b[44+2*i:], uint16(int16(math.Round(float64(v)))))
	}
	return b
}
