package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log"
	"math"
	"strings"
	"testing"
	"time"
)

func sine(n, rate int, freq, amp float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))
	}
	return s
}

type wavSpec struct {
	float      bool
	extensible bool
	tag        uint16 // overrides the format tag when non-zero
	rate       int
	bits       int
	channels   int
	chunks     []byte  // raw chunks to put between fmt and data
	dataSize   *uint32 // overrides the data chunk's size
}

// makeWAV writes chans (repeated to spec.channels) as a WAV file.
func makeWAV(spec wavSpec, chans ...[]float64) []byte {
	le := binary.LittleEndian
	fmtc := []byte{}
	tag := uint16(wavPCM)
	if spec.float {
		tag = wavFloat
	}
	outerTag := tag
	if spec.extensible {
		outerTag = wavExtensible
	}
	if spec.tag != 0 {
		outerTag = spec.tag
	}
	block := spec.channels * spec.bits / 8
	fmtc = le.AppendUint16(fmtc, outerTag)
	fmtc = le.AppendUint16(fmtc, uint16(spec.channels))
	fmtc = le.AppendUint32(fmtc, uint32(spec.rate))
	fmtc = le.AppendUint32(fmtc, uint32(spec.rate*block))
	fmtc = le.AppendUint16(fmtc, uint16(block))
	fmtc = le.AppendUint16(fmtc, uint16(spec.bits))
	if spec.extensible {
		fmtc = le.AppendUint16(fmtc, 22)
		fmtc = le.AppendUint16(fmtc, uint16(spec.bits))
		fmtc = le.AppendUint32(fmtc, 3) // front left and right
		fmtc = le.AppendUint16(fmtc, tag)
		fmtc = append(fmtc, wavGUIDTail...)
	}
	var pcm []byte
	for i := range chans[0] {
		for c := range spec.channels {
			v := chans[c%len(chans)][i]
			switch {
			case spec.float && spec.bits == 32:
				pcm = le.AppendUint32(pcm, math.Float32bits(float32(v)))
			case spec.float:
				pcm = le.AppendUint64(pcm, math.Float64bits(v))
			case spec.bits == 8:
				pcm = append(pcm, uint8(math.Round(v*127)+128))
			case spec.bits == 16:
				pcm = le.AppendUint16(pcm, uint16(int16(math.Round(v*32767))))
			case spec.bits == 24:
				x := int32(math.Round(v * 8388607))
				pcm = append(pcm, byte(x), byte(x>>8), byte(x>>16))
			default:
				pcm = le.AppendUint32(pcm, uint32(int32(math.Round(v*2147483647))))
			}
		}
	}
	body := []byte("WAVE")
	body = append(body, "fmt "...)
	body = le.AppendUint32(body, uint32(len(fmtc)))
	body = append(body, fmtc...)
	body = append(body, spec.chunks...)
	body = append(body, "data"...)
	size := uint32(len(pcm))
	if spec.dataSize != nil {
		size = *spec.dataSize
	}
	body = le.AppendUint32(body, size)
	body = append(body, pcm...)
	out := le.AppendUint32([]byte("RIFF"), uint32(len(body)))
	return append(out, body...)
}

func mustDecodeAudio(t *testing.T, data []byte, rate int) *Audio {
	t.Helper()
	a, err := DecodeAudio(data, rate, AudioLimits{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Rate != rate {
		t.Fatalf("Rate = %d, want %d", a.Rate, rate)
	}
	for i, v := range a.Samples {
		if !(v >= -1 && v <= 1) {
			t.Fatalf("sample %d = %v, outside [-1, 1]", i, v)
		}
	}
	return a
}

// maxErr is the largest |got[i] - want(i)| for i in [from, to).
func maxErr(got []float32, from, to int, want func(i int) float64) (float64, int) {
	worst, at := 0.0, -1
	for i := from; i < to; i++ {
		if d := math.Abs(float64(got[i]) - want(i)); d > worst {
			worst, at = d, i
		}
	}
	return worst, at
}

func rms(x []float32) float64 {
	s := 0.0
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(x)))
}

func TestWAVBitDepthsStereo(t *testing.T) {
	const rate, n = 16000, 4000
	left, right := sine(n, rate, 440, 0.5), sine(n, rate, 440, 0.25)
	for _, tc := range []struct {
		name string
		spec wavSpec
		tol  float64
	}{
		{"pcm8", wavSpec{bits: 8}, 1.0 / 100},
		{"pcm16", wavSpec{bits: 16}, 1.0 / 16000},
		{"pcm24", wavSpec{bits: 24}, 1e-6},
		{"pcm32", wavSpec{bits: 32}, 1e-6},
		{"float32", wavSpec{bits: 32, float: true}, 1e-6},
		{"float64", wavSpec{bits: 64, float: true}, 1e-6},
		{"extensible pcm24", wavSpec{bits: 24, extensible: true}, 1e-6},
		{"extensible float32", wavSpec{bits: 32, float: true, extensible: true}, 1e-6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.rate, spec.channels = rate, 2
			a := mustDecodeAudio(t, makeWAV(spec, left, right), rate)
			if a.Format != "wav" || a.SrcRate != rate || a.SrcChannels != 2 || len(a.Samples) != n {
				t.Fatalf("got %s %d Hz %d ch, %d samples", a.Format, a.SrcRate, a.SrcChannels, len(a.Samples))
			}
			if a.Duration != 250*time.Millisecond {
				t.Errorf("Duration = %v", a.Duration)
			}
			// The mono mix is the average of the channels.
			if e, at := maxErr(a.Samples, 0, n, func(i int) float64 { return (left[i] + right[i]) / 2 }); e > tc.tol {
				t.Errorf("max error %.2g at %d, want <= %.2g", e, at, tc.tol)
			}
		})
	}
}

func TestWAVMultichannelMix(t *testing.T) {
	// Six channels, of which only two carry the tone: the mix is a third.
	const rate, n = 16000, 1600
	s := sine(n, rate, 300, 0.9)
	z := make([]float64, n)
	a := mustDecodeAudio(t, makeWAV(wavSpec{rate: rate, bits: 16, channels: 6, extensible: true}, s, z, s, z, z, z), rate)
	if a.SrcChannels != 6 {
		t.Fatalf("SrcChannels = %d", a.SrcChannels)
	}
	if e, at := maxErr(a.Samples, 0, n, func(i int) float64 { return s[i] / 3 }); e > 1e-4 {
		t.Errorf("max error %.2g at %d", e, at)
	}
}

// Resampling keeps a tone's frequency, amplitude and phase: the output
// matches the same sine sampled at the new rate.
func TestResampleMatchesAnalyticSine(t *testing.T) {
	for _, tc := range []struct {
		from, to int
		freq     float64
		tol      float64
	}{
		{48000, 16000, 1000, 1e-3},
		{48000, 16000, 3000, 1e-3},
		{44100, 16000, 440, 1e-3},  // 160 exact phases
		{44101, 16000, 1000, 2e-3}, // too many phases: positions rounded
		{8000, 16000, 1000, 1e-3},  // upsampling
		{22050, 16000, 5000, 1e-3},
		{96000, 24000, 2500, 1e-3},
	} {
		in := sine(tc.from, tc.from, tc.freq, 0.5) // one second
		a := mustDecodeAudio(t, makeWAV(wavSpec{rate: tc.from, bits: 32, float: true, channels: 1}, in), tc.to)
		if len(a.Samples) != tc.to {
			t.Errorf("%d→%d: %d samples, want %d", tc.from, tc.to, len(a.Samples), tc.to)
			continue
		}
		if a.Duration != time.Second || a.SrcRate != tc.from {
			t.Errorf("%d→%d: Duration %v SrcRate %d", tc.from, tc.to, a.Duration, a.SrcRate)
		}
		// The ends are where the filter meets the file's edges (silence
		// outside): compare inside them.
		edge := tc.to / 50
		want := func(i int) float64 { return 0.5 * math.Sin(2*math.Pi*tc.freq*float64(i)/float64(tc.to)) }
		if e, at := maxErr(a.Samples, edge, len(a.Samples)-edge, want); e > tc.tol {
			t.Errorf("%d→%d, %g Hz: max error %.2g at %d", tc.from, tc.to, tc.freq, e, at)
		}
	}
}

// Tones above the new Nyquist frequency are removed, not folded back.
func TestResampleAntiAliasing(t *testing.T) {
	const from, to = 48000, 16000
	for _, tc := range []struct {
		freq         float64
		minDB, maxDB float64 // output RMS relative to the input's
	}{
		{1000, -0.01, 0.01}, // pass band: kept
		{6000, -0.01, 0.01}, //
		{6600, -0.05, 0.01}, // top of the pass band
		{7600, -30, -3},     // transition band: partly
		{8500, -200, -65},   // just above Nyquist (would alias to 7.5 kHz)
		{9000, -200, -65},   // would alias to 7 kHz
		{12000, -200, -70},  // would alias to 4 kHz
		{20000, -200, -70},  // would alias to 4 kHz
		{23900, -200, -70},  // would alias to 100 Hz
	} {
		in := sine(from, from, tc.freq, 0.5)
		a := mustDecodeAudio(t, makeWAV(wavSpec{rate: from, bits: 32, float: true, channels: 1}, in), to)
		edge := to / 20
		db := 20 * math.Log10(rms(a.Samples[edge:len(a.Samples)-edge])/(0.5/math.Sqrt2))
		if db < tc.minDB || db > tc.maxDB {
			t.Errorf("%g Hz: %.3f dB, want %g to %g dB", tc.freq, db, tc.minDB, tc.maxDB)
		}
		t.Logf("%g Hz → %.2f dB", tc.freq, db)
	}
}

func TestResampleKeepsDCAndSilence(t *testing.T) {
	dc := make([]float64, 44100)
	for i := range dc {
		dc[i] = 0.25
	}
	a := mustDecodeAudio(t, makeWAV(wavSpec{rate: 44100, bits: 32, float: true, channels: 1}, dc), 16000)
	if e, at := maxErr(a.Samples, 400, len(a.Samples)-400, func(int) float64 { return 0.25 }); e > 1e-5 {
		t.Errorf("DC: max error %.2g at %d", e, at)
	}
	a = mustDecodeAudio(t, makeWAV(wavSpec{rate: 44100, bits: 16, channels: 2}, make([]float64, 1000)), 16000)
	for i, v := range a.Samples {
		if v != 0 {
			t.Fatalf("silence: sample %d = %v", i, v)
		}
	}
}

// Float WAVs may hold NaN, infinities and values past full scale.
func TestFloatWAVSanitised(t *testing.T) {
	in := []float64{0.5, math.NaN(), math.Inf(1), math.Inf(-1), 3, -7, -0.5}
	for _, rate := range []int{16000, 8000} {
		a := mustDecodeAudio(t, makeWAV(wavSpec{rate: 16000, bits: 32, float: true, channels: 1}, in), rate)
		if rate == 16000 {
			want := []float32{0.5, 0, 1, -1, 1, -1, -0.5}
			for i, w := range want {
				if a.Samples[i] != w {
					t.Errorf("sample %d = %v, want %v", i, a.Samples[i], w)
				}
			}
		}
	}
}

func TestWAVLeniency(t *testing.T) {
	le := binary.LittleEndian
	s := sine(1600, 16000, 500, 0.5)
	odd := append([]byte("LIST"), le.AppendUint32(nil, 5)...)
	odd = append(odd, "INFOx"...)
	check := func(t *testing.T, data []byte) {
		t.Helper()
		a := mustDecodeAudio(t, data, 16000)
		if len(a.Samples) != len(s) {
			t.Fatalf("%d samples, want %d", len(a.Samples), len(s))
		}
		if e, _ := maxErr(a.Samples, 0, len(s), func(i int) float64 { return s[i] }); e > 1e-4 {
			t.Fatalf("max error %.2g", e)
		}
	}
	t.Run("odd chunk padded", func(t *testing.T) {
		check(t, makeWAV(wavSpec{rate: 16000, bits: 16, channels: 1, chunks: append(bytes.Clone(odd), 0)}, s))
	})
	t.Run("odd chunk unpadded", func(t *testing.T) {
		check(t, makeWAV(wavSpec{rate: 16000, bits: 16, channels: 1, chunks: odd}, s))
	})
	t.Run("streaming size placeholder", func(t *testing.T) {
		ff := uint32(0xffffffff)
		data := makeWAV(wavSpec{rate: 16000, bits: 16, channels: 1, dataSize: &ff}, s)
		binary.LittleEndian.PutUint32(data[4:], 0xffffffff)
		check(t, data)
	})
	t.Run("wrong RIFF size", func(t *testing.T) {
		data := makeWAV(wavSpec{rate: 16000, bits: 16, channels: 1}, s)
		binary.LittleEndian.PutUint32(data[4:], 1234)
		check(t, data)
	})
	t.Run("trailing odd byte and chunks after data", func(t *testing.T) {
		data := makeWAV(wavSpec{rate: 16000, bits: 16, channels: 1}, s)
		data = append(data, "id3 \x03\x00\x00\x00abc\x00"...)
		check(t, data)
	})
}

func TestWAVErrors(t *testing.T) {
	s := sine(160, 16000, 500, 0.5)
	good := func() wavSpec { return wavSpec{rate: 16000, bits: 16, channels: 1} }
	zero := uint32(0)
	big := uint32(1 << 20)
	mod := func(f func(*wavSpec)) []byte { sp := good(); f(&sp); return makeWAV(sp, s) }
	patch := func(off int, v uint16) []byte {
		b := makeWAV(good(), s)
		binary.LittleEndian.PutUint16(b[off:], v)
		return b
	}
	full := makeWAV(good(), s)
	for _, tc := range []struct {
		name string
		data []byte
		kind error
		says string
	}{
		{"header only", mod(func(s *wavSpec) { s.dataSize = &zero })[:44], ErrEmpty, "no audio samples"},
		{"no data chunk", full[:36], ErrEmpty, "no data chunk"},
		{"truncated fmt", full[:30], ErrCorrupt, "fmt chunk runs past"},
		{"no fmt", append([]byte("RIFF\x10\x00\x00\x00WAVEdata\x04\x00\x00\x00"), 1, 2, 3, 4), ErrCorrupt, "no fmt chunk"},
		{"riff only", []byte("RIFF\x00\x00\x00\x00WAVE"), ErrCorrupt, "no fmt chunk"},
		{"truncated data", mod(func(s *wavSpec) { s.dataSize = &big }), ErrCorrupt, "truncated WAV"},
		{"zero channels", patch(22, 0), ErrCorrupt, "0 channels"},
		{"zero rate", mod(func(s *wavSpec) { s.rate = 0 }), ErrCorrupt, "0 Hz"},
		{"rate too low", mod(func(s *wavSpec) { s.rate = 100 }), ErrUnsupported, "100 Hz"},
		{"12-bit", patch(34, 12), ErrUnsupported, "12-bit PCM"},
		{"float16", mod(func(s *wavSpec) { s.float, s.bits = true, 16 }), ErrUnsupported, "16-bit float"},
		{"mu-law", mod(func(s *wavSpec) { s.tag = 7 }), ErrUnsupported, "µ-law"},
		{"block align", patch(32, 7), ErrCorrupt, "block size 7"},
		{"extensible short", patch(20, 0xFFFE), ErrCorrupt, "extensible"},
		{"not wave", append([]byte("RIFF\x04\x00\x00\x00AVI "), make([]byte, 8)...), ErrUnsupported, `RIFF "AVI "`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := DecodeAudio(tc.data, 16000, AudioLimits{})
			if err == nil {
				t.Fatalf("decoded %d samples", len(a.Samples))
			}
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %q (%v), want %v saying %q", err, errors.Is(err, tc.kind), tc.kind, tc.says)
			}
		})
	}
}

func TestAudioTooLong(t *testing.T) {
	data := makeWAV(wavSpec{rate: 8000, bits: 8, channels: 1}, make([]float64, 16000))
	_, err := DecodeAudio(data, 16000, AudioLimits{MaxDuration: time.Second})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "2s long") || !strings.Contains(err.Error(), "1s limit") {
		t.Errorf("err = %v", err)
	}
	if _, err := DecodeAudio(data, 16000, AudioLimits{MaxDuration: 2 * time.Second}); err != nil {
		t.Errorf("exactly at the limit: %v", err)
	}
	// FLAC with the declared length is refused up front too.
	_, err = DecodeAudio(readFixture(t, "sine440_stereo.flac"), 16000, AudioLimits{MaxDuration: 100 * time.Millisecond})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "250ms long") {
		t.Errorf("FLAC: err = %v", err)
	}
	_, err = DecodeAudio(readFixture(t, "sine1k_stereo.mp3"), 16000, AudioLimits{MaxDuration: 100 * time.Millisecond})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "500ms long") {
		t.Errorf("MP3: err = %v", err)
	}
}

func TestAudioErrors(t *testing.T) {
	wav := makeWAV(wavSpec{rate: 16000, bits: 16, channels: 1}, sine(100, 16000, 440, 0.5))
	for _, tc := range []struct {
		name string
		data []byte
		kind error
		says string
	}{
		{"empty", nil, ErrEmpty, "empty"},
		{"text", []byte("#!/bin/sh\necho hi\n"), ErrUnsupported, "not an image or audio file"},
		{"image", encodePNG(t, patternImage(2, 2)), ErrUnsupported, "PNG image, not audio"},
		{"ogg", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00"), ErrUnsupported, "Ogg"},
		{"flac magic only", []byte("fLaC"), ErrCorrupt, "truncated FLAC"},
		{"id3 only", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), ErrEmpty, "no audio frames"},
		{"id3 past the end", []byte("ID3\x04\x00\x00\x00\x00\x10\x00abc"), ErrCorrupt, "ID3"},
		{"mp3 junk", append([]byte("ID3\x04\x00\x00\x00\x00\x00\x00"), bytes.Repeat([]byte("junk"), 10)...), ErrCorrupt, "no MPEG Layer III frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := DecodeAudio(tc.data, 16000, AudioLimits{})
			if err == nil {
				t.Fatalf("decoded %d samples", len(a.Samples))
			}
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %q, want %v saying %q", err, tc.kind, tc.says)
			}
		})
	}
	for _, rate := range []int{0, -1, 999, 1_000_000} {
		if _, err := DecodeAudio(wav, rate, AudioLimits{}); err == nil {
			t.Errorf("rate %d accepted", rate)
		}
	}
}

func TestFLACFixtures(t *testing.T) {
	t.Run("16-bit stereo 44.1 kHz", func(t *testing.T) {
		data := readFixture(t, "sine440_stereo.flac")
		// What the file was made from, exactly: both channels rounded to
		// 16 bits, then averaged.
		want := func(i int) float64 {
			s := math.Sin(2 * math.Pi * 440 * float64(i) / 44100)
			return (math.Round(0.5*s*32767) + math.Round(0.25*s*32767)) / 2 / 32768
		}
		a := mustDecodeAudio(t, data, 44100)
		if a.Format != "flac" || a.SrcRate != 44100 || a.SrcChannels != 2 || len(a.Samples) != 11025 || a.Duration != 250*time.Millisecond {
			t.Fatalf("got %s %d Hz %d ch, %d samples, %v", a.Format, a.SrcRate, a.SrcChannels, len(a.Samples), a.Duration)
		}
		if e, at := maxErr(a.Samples, 0, len(a.Samples), want); e > 1e-7 {
			t.Errorf("max error %.2g at %d (lossless: should be exact)", e, at)
		}
		a = mustDecodeAudio(t, data, 16000)
		if len(a.Samples) != 4000 {
			t.Fatalf("%d samples at 16 kHz", len(a.Samples))
		}
		ana := func(i int) float64 { return 0.375 * math.Sin(2*math.Pi*440*float64(i)/16000) }
		if e, at := maxErr(a.Samples, 300, 3700, ana); e > 1e-3 {
			t.Errorf("resampled: max error %.2g at %d", e, at)
		}
	})
	t.Run("24-bit mono 16 kHz", func(t *testing.T) {
		a := mustDecodeAudio(t, readFixture(t, "sine1k_24bit.flac"), 16000)
		if a.SrcRate != 16000 || a.SrcChannels != 1 || len(a.Samples) != 4000 {
			t.Fatalf("got %d Hz %d ch, %d samples", a.SrcRate, a.SrcChannels, len(a.Samples))
		}
		ana := func(i int) float64 { return 0.8 * math.Sin(2*math.Pi*1000*float64(i)/16000) }
		if e, at := maxErr(a.Samples, 0, len(a.Samples), ana); e > 1e-6 {
			t.Errorf("max error %.2g at %d", e, at)
		}
	})
}

// mewkiz/flac logs a line per frame of a 24 kHz stream; none of it may
// reach the terminal, and the logger must be as it was afterwards.
func TestFLACDoesNotLog(t *testing.T) {
	var buf bytes.Buffer
	old := log.Writer()
	log.SetOutput(&buf)
	defer log.SetOutput(old)
	a := mustDecodeAudio(t, readFixture(t, "sine440_24khz.flac"), 16000)
	if a.SrcRate != 24000 || len(a.Samples) != 1600 {
		t.Fatalf("%d Hz, %d samples", a.SrcRate, len(a.Samples))
	}
	ana := func(i int) float64 { return 0.5 * math.Sin(2*math.Pi*440*float64(i)/16000) }
	if e, at := maxErr(a.Samples, 100, 1500, ana); e > 1e-3 {
		t.Errorf("max error %.2g at %d", e, at)
	}
	if buf.Len() != 0 {
		t.Errorf("logged %q", buf.String())
	}
	if log.Writer() != &buf {
		t.Error("the standard logger's writer was not restored")
	}
}

// fit returns the normalised correlation of x with ref and the gain that
// best scales ref onto x.
func fit(x []float32, ref func(i int) float64, from, to int) (corr, gain float64) {
	var xy, xx, yy float64
	for i := from; i < to; i++ {
		y := ref(i)
		xy += float64(x[i]) * y
		xx += float64(x[i]) * float64(x[i])
		yy += y * y
	}
	return xy / math.Sqrt(xx*yy), xy / yy
}

func TestMP3Fixtures(t *testing.T) {
	for _, tc := range []struct {
		file      string
		srcRate   int
		channels  int
		freq, amp float64
		n         int // samples decoded, at the source rate
		lag       int // samples before the sine starts, at the source rate
	}{
		// LAME's Info frame gives the delay and padding: exactly the 24000
		// samples that were encoded come out, in phase.
		{"sine1k_stereo.mp3", 48000, 2, 1000, 0.5, 24000, 0},
		// No Info frame: all 23 frames of 576 come out, the sine delayed by
		// LAME's 576 samples and the decoder's 529.
		{"sine440_mono.mp3", 24000, 1, 440, 0.6, 23 * 576, 576 + 529},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data := readFixture(t, tc.file)
			for _, rate := range []int{tc.srcRate, 16000} {
				a := mustDecodeAudio(t, data, rate)
				want := tc.n * rate / tc.srcRate
				if a.Format != "mp3" || a.SrcRate != tc.srcRate || a.SrcChannels != tc.channels || len(a.Samples) != want {
					t.Fatalf("got %s %d Hz %d ch, %d samples; want %d", a.Format, a.SrcRate, a.SrcChannels, len(a.Samples), want)
				}
				if d := time.Duration(tc.n) * time.Second / time.Duration(tc.srcRate); a.Duration != d {
					t.Errorf("Duration = %v, want %v", a.Duration, d)
				}
				// Lossy, but the same sine at the same phase.
				ref := func(i int) float64 {
					return math.Sin(2 * math.Pi * tc.freq * (float64(i)/float64(rate) - float64(tc.lag)/float64(tc.srcRate)))
				}
				from := tc.lag*rate/tc.srcRate + rate/40
				to := len(a.Samples) - rate/40
				corr, gain := fit(a.Samples, ref, from, to)
				if corr < 0.99 || math.Abs(gain-tc.amp) > 0.1*tc.amp {
					t.Errorf("at %d Hz: correlation %.4f, amplitude %.3f; want > 0.99 and %.2f ± 10%%", rate, corr, gain, tc.amp)
				}
				// A shift by a quarter period would correlate far worse.
				shifted := func(i int) float64 { return ref(i + rate/int(4*tc.freq)) }
				if c, _ := fit(a.Samples, shifted, from, to-rate/100); c > 0.2 {
					t.Errorf("at %d Hz: quarter-period shift correlates %.3f", rate, c)
				}
			}
		})
	}
}

// Every truncation and many byte flips of every audio format give an error
// or audio, never a panic; truncations give an error where the format
// says how long it is.
func TestCorruptAudioNeverPanics(t *testing.T) {
	inputs := map[string][]byte{
		"wav":                    makeWAV(wavSpec{rate: 22050, bits: 24, channels: 2}, sine(300, 22050, 440, 0.5)),
		"flac":                   readFixture(t, "sine440_stereo.flac"),
		"flac24":                 readFixture(t, "sine1k_24bit.flac"),
		"mp3":                    readFixture(t, "sine1k_stereo.mp3"),
		"mp3 without Info frame": readFixture(t, "sine440_mono.mp3"),
		"wav float":              makeWAV(wavSpec{rate: 8000, bits: 64, float: true, channels: 1, extensible: true}, sine(100, 8000, 440, 0.5)),
	}
	for name, data := range inputs {
		t.Run(name, func(t *testing.T) {
			step := max(1, len(data)/150)
			for n := 0; n < len(data); n += step {
				a, err := DecodeAudio(data[:n], 16000, AudioLimits{})
				// An MP3 without an Info frame does not say how long it is.
				if err == nil && name != "mp3 without Info frame" {
					t.Errorf("%d of %d bytes decoded to %d samples", n, len(data), len(a.Samples))
				}
			}
			for i := 0; i < len(data); i += max(1, len(data)/120) {
				for _, x := range []byte{0xff, 0x10} {
					b := bytes.Clone(data)
					b[i] ^= x
					if a, err := DecodeAudio(b, 16000, AudioLimits{}); err == nil {
						for _, v := range a.Samples {
							if !(v >= -1 && v <= 1) {
								t.Fatalf("flip at %d: sample %v", i, v)
							}
						}
					}
				}
			}
		})
	}
	// FLAC checks CRCs: damage in the frames is an error, not noise.
	data := readFixture(t, "sine440_stereo.flac")
	b := bytes.Clone(data)
	b[len(b)/2] ^= 0x40
	if _, err := DecodeAudio(b, 16000, AudioLimits{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a flipped bit in a FLAC frame: %v", err)
	}
}
