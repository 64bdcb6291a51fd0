// Package media turns user-supplied image and audio files into what
// llama.cpp's multimodal library (mtmd) consumes: packed RGB8 pixels and
// mono float32 PCM at the rate the model's audio encoder wants.
//
// Formats are recognised by their magic bytes, never by file name. Every
// decoder is bounded (pixel count, audio duration, file size) before it
// allocates, and a panic inside a third-party decoder is turned into an
// error: the input is the user's file and may be anything.
//
// The package is pure Go and imports nothing else of natter.
package media

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode"
)

// Errors that callers may test for with errors.Is. Every error this package
// returns wraps exactly one of them; its message says what went wrong in
// words fit to show a user.
var (
	// ErrEmpty: no bytes, a zero-size image, or an audio file with a header
	// and no samples.
	ErrEmpty = errors.New("empty")
	// ErrUnsupported: not a format this package decodes (or a feature of one
	// that it does not).
	ErrUnsupported = errors.New("unsupported format")
	// ErrCorrupt: the format was recognised but the data is truncated or
	// damaged.
	ErrCorrupt = errors.New("truncated or corrupt")
	// ErrTooLarge: over a limit (ImageLimits, AudioLimits or MaxFileSize).
	ErrTooLarge = errors.New("too large")
)

// MaxFileSize is the most Load reads. Far above any real photo or voice
// note, it keeps a stray multi-gigabyte file from being slurped into memory.
const MaxFileSize = 512 << 20

// Error is the error type of this package: a message for people and a kind
// (one of the Err* values) for programs.
type Error struct {
	Kind  error  // ErrEmpty, ErrUnsupported, ErrCorrupt or ErrTooLarge
	Msg   string // the whole message
	Cause error  // the underlying decoder or I/O error, if any
}

func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is see both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

func newErr(kind, cause error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Cause: cause}
}

// Kinds and formats that Sniff reports.
const (
	KindImage = "image"
	KindAudio = "audio"
)

const supportedList = "supported images are PNG, JPEG, GIF, WebP and BMP; supported audio is WAV, FLAC and MP3"

// Sniff names a file's kind ("image" or "audio") and format ("png", "jpeg",
// "gif", "webp", "bmp", "wav", "flac", "mp3") from its first bytes. It
// returns "", "" for anything else, including formats that this package
// recognises but cannot decode (Ogg, M4A, HEIC, ...).
func Sniff(data []byte) (kind, format string) {
	switch {
	case hasPrefix(data, "\x89PNG\r\n\x1a\n"):
		return KindImage, "png"
	case hasPrefix(data, "\xff\xd8\xff"):
		return KindImage, "jpeg"
	case hasPrefix(data, "GIF87a"), hasPrefix(data, "GIF89a"):
		return KindImage, "gif"
	case isRIFF(data, "WEBP"):
		return KindImage, "webp"
	case isBMP(data):
		return KindImage, "bmp"
	case isRIFF(data, "WAVE"):
		return KindAudio, "wav"
	case hasPrefix(data, "fLaC"):
		return KindAudio, "flac"
	}
	// ID3v2 tags precede MP3 frames, and some taggers put them before FLAC.
	if hasPrefix(data, "ID3") {
		if rest, ok := skipID3v2(data); ok && hasPrefix(rest, "fLaC") {
			return KindAudio, "flac"
		}
		return KindAudio, "mp3"
	}
	// A bare frame header is only 11 sync bits and a few fields, which
	// binary junk can match by chance: where the file is long enough, the
	// next frame must follow where the first one says.
	if h, ok := parseMP3Header(data); ok {
		if n := h.frameSize(); len(data) < n+4 {
			return KindAudio, "mp3"
		} else if _, ok := parseMP3Header(data[n:]); ok {
			return KindAudio, "mp3"
		}
	}
	return "", ""
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

func isRIFF(b []byte, form string) bool {
	return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == form
}

// isBMP wants more than "BM", which plain text can start with: the DIB
// header that follows the 14-byte file header has one of a few known sizes.
func isBMP(b []byte) bool {
	if len(b) < 18 || b[0] != 'B' || b[1] != 'M' {
		return false
	}
	switch le32(b[14:]) {
	case 12, 40, 52, 56, 64, 108, 124:
		return true
	}
	return false
}

// formatName is how messages spell a format.
func formatName(format string) string {
	switch format {
	case "jpeg":
		return "JPEG"
	case "webp":
		return "WebP"
	}
	return strings.ToUpper(format)
}

// unknownFormatErr explains what the data is not, naming the formats that
// are, and what it seems to be when it is a well-known format we don't
// decode.
func unknownFormatErr(data []byte) error {
	if what := recogniseUnsupported(data); what != "" {
		return newErr(ErrUnsupported, nil, "unsupported format: %s (%s)", what, supportedList)
	}
	return newErr(ErrUnsupported, nil, "not an image or audio file (starts with %s): %s", describeStart(data), supportedList)
}

// recogniseUnsupported names common formats that users try to attach but
// which we cannot decode, so the error says more than "unknown".
func recogniseUnsupported(b []byte) string {
	switch {
	case hasPrefix(b, "OggS"):
		return "Ogg audio (Vorbis/Opus)"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		switch brand := string(b[8:12]); brand {
		case "heic", "heix", "hevc", "heim", "heis", "mif1", "msf1":
			return "HEIC/HEIF image"
		case "avif", "avis":
			return "AVIF image"
		case "M4A ", "M4B ", "M4P ":
			return "M4A/AAC audio"
		default:
			return "MP4/QuickTime media"
		}
	case len(b) >= 12 && string(b[:4]) == "FORM" && (string(b[8:12]) == "AIFF" || string(b[8:12]) == "AIFC"):
		return "AIFF audio"
	case hasPrefix(b, "RF64"), hasPrefix(b, "BW64"):
		return "RF64 (64-bit WAV) audio"
	case len(b) >= 12 && string(b[:4]) == "RIFF":
		return fmt.Sprintf("RIFF %q file", b[8:12])
	case hasPrefix(b, "\x1a\x45\xdf\xa3"):
		return "Matroska/WebM media"
	case hasPrefix(b, "II*\x00"), hasPrefix(b, "MM\x00*"):
		return "TIFF image"
	case hasPrefix(b, "%PDF"):
		return "PDF document"
	case hasPrefix(b, "\x00\x00\x01\x00"):
		return "ICO icon"
	case len(b) >= 2 && b[0] == 0xff && b[1]&0xf6 == 0xf0:
		return "AAC (ADTS) audio"
	case len(b) >= 2 && b[0] == 0xff && b[1]&0xe0 == 0xe0 && b[1]&0x06 != 0x02:
		return "MPEG layer I/II audio"
	}
	s := strings.TrimLeft(string(b[:min(len(b), 256)]), " \t\r\n\ufeff")
	if strings.HasPrefix(s, "<svg") || (strings.HasPrefix(s, "<?xml") && strings.Contains(s, "<svg")) {
		return "SVG image"
	}
	return ""
}

// describeStart shows the first bytes in hex, and as text when they are
// printable, so a user can tell an HTML error page from a truncated file.
func describeStart(b []byte) string {
	const n = 8
	head := b[:min(len(b), n)]
	var sb strings.Builder
	for i, c := range head {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%02x", c)
	}
	if len(b) > n {
		sb.WriteString(" …")
	}
	printable := len(head) > 0
	for _, r := range string(head) {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) && r != ' ' {
			printable = false
			break
		}
	}
	if printable {
		fmt.Fprintf(&sb, " %q", head)
	}
	return sb.String()
}

// Load reads the file at path (at most MaxFileSize bytes) and sniffs it.
// The errors name the path and say plainly what is wrong: missing, a
// directory, unreadable, empty, too big, or not a supported format.
func Load(path string) (kind, format string, data []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", "", nil, &pathError{path + ": no such file", err}
		case errors.Is(err, fs.ErrPermission):
			return "", "", nil, &pathError{path + ": permission denied", err}
		}
		return "", "", nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", "", nil, err
	}
	if st.IsDir() {
		return "", "", nil, fmt.Errorf("%s is a directory, not a file", path)
	}
	if st.Mode().IsRegular() && st.Size() > MaxFileSize {
		return "", "", nil, newErr(ErrTooLarge, nil, "%s is %s, over the %s limit", path, sizeString(st.Size()), sizeString(MaxFileSize))
	}
	// The limit is enforced on the read too: the file may grow, or not be a
	// regular file at all (a pipe, /dev/zero).
	data, err = io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return "", "", nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return "", "", nil, newErr(ErrTooLarge, nil, "%s is over the %s limit", path, sizeString(MaxFileSize))
	}
	if len(data) == 0 {
		return "", "", nil, newErr(ErrEmpty, nil, "%s is empty", path)
	}
	kind, format = Sniff(data)
	if kind == "" {
		e := unknownFormatErr(data).(*Error)
		e.Msg = path + ": " + e.Msg
		return "", "", nil, e
	}
	return kind, format, data, nil
}

// sizeString prints a byte count the way people read it: "512 MiB",
// "1.5 GiB", "300 bytes".
// pathError words an I/O error for people and keeps the os error (and so
// errors.Is(err, fs.ErrNotExist)) for programs.
type pathError struct {
	msg string
	err error
}

func (e *pathError) Error() string { return e.msg }
func (e *pathError) Unwrap() error { return e.err }

func sizeString(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size {
			s := strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/float64(u.size)), ".0")
			return s + " " + u.name
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
