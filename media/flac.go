package media

import (
	"bytes"
	"errors"
	"io"
	"log"
	"strings"
	"sync"

	"github.com/mewkiz/flac"
	"github.com/mewkiz/flac/frame"
)

// decodeFLAC decodes with mewkiz/flac, which checks every frame's CRCs, so
// damage is reported rather than played as noise.
func decodeFLAC(data []byte, s *pcmSink) error {
	defer muteStdLog()()
	if hasPrefix(data, "ID3") {
		rest, ok := skipID3v2(data)
		if !ok {
			return newErr(ErrCorrupt, nil, "truncated or corrupt FLAC: a damaged ID3 tag before the stream")
		}
		data = rest
	}
	// flac.New (unlike NewSeek) skips the metadata blocks without parsing
	// them, so a hostile picture or comment block cannot make it allocate.
	stream, err := flac.New(bytes.NewReader(data))
	if err != nil {
		return flacErr("in the header", err)
	}
	info := stream.Info
	channels, bps := int(info.NChannels), int(info.BitsPerSample)
	switch {
	case channels < 1 || channels > 8:
		return newErr(ErrCorrupt, nil, "corrupt FLAC: the header says %d channels", channels)
	case bps < 4 || bps > 32:
		return newErr(ErrCorrupt, nil, "corrupt FLAC: the header says %d bits per sample", bps)
	}
	declared := int64(info.NSamples)
	if declared == 0 {
		declared = -1 // unknown, which FLAC allows
	}
	if err := s.open(int(info.SampleRate), channels, declared); err != nil {
		return err
	}
	var got int64
	var mono []float32
	for {
		f, err := stream.ParseNext()
		if err == io.EOF {
			break
		}
		if err != nil {
			// Tags appended after the last frame (ID3v1, APE) are not frames;
			// past the declared length they are no error.
			if errors.Is(err, frame.ErrInvalidSync) && got > 0 && (declared < 0 || got >= declared) {
				break
			}
			return flacErr(samplesAt(got, s.srcRate), err)
		}
		if len(f.Subframes) == 0 {
			return newErr(ErrCorrupt, nil, "corrupt FLAC: a frame with no channels")
		}
		n := len(f.Subframes[0].Samples)
		for _, sf := range f.Subframes[1:] {
			n = min(n, len(sf.Samples))
		}
		fbps := int(f.BitsPerSample)
		if fbps == 0 {
			fbps = bps // "see the stream info"
		}
		// Average the channels and scale full scale to 1 in one multiply.
		scale := 1 / (float32(int64(1)<<(fbps-1)) * float32(len(f.Subframes)))
		mono = mono[:0]
		for i := range n {
			var sum int64
			for _, sf := range f.Subframes {
				sum += int64(sf.Samples[i])
			}
			mono = append(mono, float32(sum)*scale)
		}
		got += int64(n)
		if err := s.write(mono); err != nil {
			return err
		}
	}
	if declared > 0 && got < declared {
		return newErr(ErrCorrupt, nil, "truncated FLAC: the header declares %d samples but the file holds %d", declared, got)
	}
	return nil
}

func flacErr(where string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return newErr(ErrCorrupt, err, "truncated FLAC: the data ends %s", where)
	}
	// The library's messages name its functions ("frame.Frame.Parse: CRC-16
	// checksum mismatch ..."); keep what follows.
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg[:i], ".") {
		msg = msg[i+2:]
	}
	return newErr(ErrCorrupt, err, "truncated or corrupt FLAC %s: %s", where, msg)
}

func samplesAt(n int64, rate int) string {
	if n == 0 {
		return "in the first frame"
	}
	return "after " + durationString(framesDuration(n, rate))
}

// mewkiz/flac calls log.Printf for every frame of a 24 kHz or 176.4 kHz
// stream (a note to its own developers), which in a terminal UI would
// scribble over the screen. The standard logger is silenced while a FLAC
// decodes; natter itself does not log through it. Overlapping decodes
// share one silence and the last to finish restores the writer.
var stdLog struct {
	sync.Mutex
	depth int
	saved io.Writer
}

func muteStdLog() (restore func()) {
	stdLog.Lock()
	if stdLog.depth == 0 {
		stdLog.saved = log.Writer()
		log.SetOutput(io.Discard)
	}
	stdLog.depth++
	stdLog.Unlock()
	return func() {
		stdLog.Lock()
		if stdLog.depth--; stdLog.depth == 0 {
			log.SetOutput(stdLog.saved)
			stdLog.saved = nil
		}
		stdLog.Unlock()
	}
}
