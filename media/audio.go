package media

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Audio is decoded sound as mtmd takes it: one channel of float32 samples
// in [-1, 1] at Rate.
type Audio struct {
	Samples     []float32
	Rate        int    // the rate asked of DecodeAudio
	Format      string // "wav", "flac" or "mp3"
	SrcRate     int    // the file's sample rate
	SrcChannels int    // the file's channel count, before the mix to mono
	Duration    time.Duration
}

// AudioLimits bound the work DecodeAudio does. Zero (or negative) fields
// take the defaults.
type AudioLimits struct {
	// MaxDuration: refuse longer audio, before decoding it when the header
	// says how long it is. 0 means DefaultMaxDuration.
	MaxDuration time.Duration
}

// DefaultMaxDuration is AudioLimits' default: far more than an audio
// encoder's context takes, little enough to decode in a few seconds.
const DefaultMaxDuration = 30 * time.Minute

// The sample rates accepted, of files and of DecodeAudio's rate.
const (
	MinSampleRate = 1000
	MaxSampleRate = 384000
)

// DecodeAudio decodes a WAV, FLAC or MP3 file to mono float32 PCM at rate
// (mtmd's audio encoders want 16000). Channels are averaged. Resampling is
// a windowed-sinc low-pass: flat to 0.84 of the lower Nyquist frequency
// and at least 75 dB down from that Nyquist frequency up, so nothing folds
// back as aliasing. Where the file says how long it is (WAV, most FLAC and
// MP3), lim.MaxDuration is checked before decoding.
func DecodeAudio(data []byte, rate int, lim AudioLimits) (a *Audio, err error) {
	if rate < MinSampleRate || rate > MaxSampleRate {
		return nil, fmt.Errorf("media: output sample rate %d Hz is outside %d–%d Hz", rate, MinSampleRate, MaxSampleRate)
	}
	if len(data) == 0 {
		return nil, newErr(ErrEmpty, nil, "empty file: no audio data")
	}
	kind, format := Sniff(data)
	switch kind {
	case KindImage:
		return nil, newErr(ErrUnsupported, nil, "this is a %s image, not audio", formatName(format))
	case "":
		return nil, unknownFormatErr(data)
	}
	if lim.MaxDuration <= 0 {
		lim.MaxDuration = DefaultMaxDuration
	}
	s := &pcmSink{name: formatName(format), outRate: rate, maxDur: lim.MaxDuration}
	defer recoverDecoder(&err, s.name)
	switch format {
	case "wav":
		err = decodeWAV(data, s)
	case "flac":
		err = decodeFLAC(data, s)
	case "mp3":
		err = decodeMP3(data, s)
	}
	if err != nil {
		return nil, err
	}
	samples, err := s.finish()
	if err != nil {
		return nil, err
	}
	return &Audio{
		Samples:     samples,
		Rate:        rate,
		Format:      format,
		SrcRate:     s.srcRate,
		SrcChannels: s.channels,
		Duration:    framesDuration(s.frames, s.srcRate),
	}, nil
}

// pcmSink is where the decoders put their mono samples, at the file's rate.
// It holds them to the duration limit as they come and resamples on the
// fly, so no full-length copy at the source rate is ever made.
type pcmSink struct {
	name    string // the format, for messages
	outRate int
	maxDur  time.Duration

	srcRate, channels int
	maxFrames         int64
	frames            int64
	rs                *resampler // nil when the rates match
	out               []float32
}

// open starts the stream. frames is the length the header declares, or -1
// when it does not say; a declared length is checked against the limits
// before anything is decoded.
func (s *pcmSink) open(rate, channels int, frames int64) error {
	if rate < MinSampleRate || rate > MaxSampleRate {
		return newErr(ErrUnsupported, nil, "unsupported %s sample rate %d Hz (supported: %d–%d Hz)", s.name, rate, MinSampleRate, MaxSampleRate)
	}
	s.srcRate, s.channels = rate, channels
	s.maxFrames = int64(min(s.maxDur.Seconds()*float64(rate), math.MaxInt64/4))
	if frames == 0 {
		return newErr(ErrEmpty, nil, "%s file has a header but no audio samples", s.name)
	}
	if frames > s.maxFrames {
		d := time.Duration(float64(frames) / float64(rate) * float64(time.Second))
		return newErr(ErrTooLarge, nil, "%s audio is %s long, over the %s limit", s.name, durationString(d), durationString(s.maxDur))
	}
	expect := frames
	if expect < 0 {
		expect = 0
	}
	if rate != s.outRate {
		s.rs = newResampler(rate, s.outRate)
		s.rs.out = make([]float32, 0, s.rs.outputsFor(expect))
	} else {
		s.out = make([]float32, 0, expect)
	}
	return nil
}

// write takes mono samples. It sanitises them (NaN to 0, clamp to [-1,1])
// since float WAVs may hold anything, and fails once the stream runs past
// the duration limit.
func (s *pcmSink) write(mono []float32) error {
	s.frames += int64(len(mono))
	if s.frames > s.maxFrames {
		return newErr(ErrTooLarge, nil, "%s audio is longer than the %s limit", s.name, durationString(s.maxDur))
	}
	for i, v := range mono {
		mono[i] = clamp1(v)
	}
	if s.rs != nil {
		s.rs.write(mono)
	} else {
		s.out = append(s.out, mono...)
	}
	return nil
}

func (s *pcmSink) finish() ([]float32, error) {
	if s.frames == 0 {
		return nil, newErr(ErrEmpty, nil, "%s file has no audio samples", s.name)
	}
	if s.rs == nil {
		return s.out, nil
	}
	out := s.rs.flush()
	// The filter rings a little past full scale on clipped input.
	for i, v := range out {
		out[i] = clamp1(v)
	}
	return out, nil
}

func framesDuration(n int64, rate int) time.Duration {
	// Whole seconds first: n·1e9 overflows past 292 years of samples per Hz.
	r := int64(rate)
	return time.Duration(n/r)*time.Second + time.Duration(n%r)*time.Second/time.Duration(r)
}

func clamp1(v float32) float32 {
	switch {
	case v > 1:
		return 1
	case v < -1:
		return -1
	case v != v: // NaN
		return 0
	}
	return v
}

// durationString prints 30m rather than 30m0s, and 1.5s rather than
// 1.500000000s.
func durationString(d time.Duration) string {
	if d >= time.Minute {
		d = d.Round(time.Second)
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	}
	return d.Round(time.Millisecond).String()
}
