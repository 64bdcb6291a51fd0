package toolcall

import (
	"strings"

	"natter/prompts"
)

// streamMode is how a Stream finds where a call starts.
type streamMode int

const (
	// modeMarkers: a call starts at one of the format's markers.
	modeMarkers streamMode = iota
	// modeLeadingJSON (Llama 3): a reply that opens with a call-shaped
	// JSON object is a call; later, only the python tag starts one.
	modeLeadingJSON
	// modeHarmony: every message has a header; headers are never shown,
	// and one with a recipient starts a call.
	modeHarmony
)

// Stream hides tool-call markup while a reply streams. Feed returns the text
// safe to show now; it holds back a suffix that may be the start of a
// marker, and once a call starts it holds everything (InCall reports true,
// so the UI can say "writing a tool call…"). Finish parses all fed text;
// its content is what to show in the end (it includes a held suffix that
// turned out to be text, and, for Llama 3, a JSON reply that looked like a
// call but was not one).
type Stream struct {
	f       *Format
	all     strings.Builder
	held    string
	inCall  bool
	decided bool            // modeLeadingJSON: the reply's start was found to be no call
	lead    strings.Builder // modeLeadingJSON: spaces before the first text, held
	stalled bool            // modeHarmony: a header too long to be one; show nothing more
}

// maxHeader bounds a harmony header held while waiting for <|message|>;
// real ones are a few dozen bytes.
const maxHeader = 4096

// NewStream starts reading one streamed reply.
func (f *Format) NewStream() *Stream { return &Stream{f: f} }

// InCall reports whether a call has started (the rest of the reply is held).
func (s *Stream) InCall() bool { return s.inCall }

// Finish parses everything fed, exactly as Parse does.
func (s *Stream) Finish() (content string, calls []prompts.ToolCall, bad []Malformed) {
	return s.f.Parse(s.all.String())
}

// Feed takes the next piece of the reply and returns the text to show.
func (s *Stream) Feed(piece string) (visible string) {
	s.all.WriteString(piece)
	if s.inCall || s.stalled {
		return ""
	}
	if s.f.mode == modeLeadingJSON && !s.decided {
		return s.leading(piece)
	}
	buf := s.held + piece
	s.held = ""
	if s.f.mode == modeHarmony {
		return s.harmony(buf)
	}
	return s.markers(buf, s.f.markers)
}

// leading decides whether a reply opens with a call. Leading spaces are
// kept apart so a long run of them is not rescanned on every piece; the
// text after them is held only while it may still become a call (a few
// bytes: see llamaLead).
func (s *Stream) leading(piece string) string {
	if s.held == "" {
		t := strings.TrimLeft(piece, spaces)
		s.lead.WriteString(piece[:len(piece)-len(t)])
		if piece = t; piece == "" {
			return ""
		}
	}
	cand := s.held + piece
	switch llamaLead(cand) {
	case leadMaybe:
		s.held = cand
		return ""
	case leadYes:
		s.inCall = true
		return s.lead.String()
	}
	s.decided = true
	buf := s.lead.String() + cand
	s.lead.Reset()
	s.held = ""
	return s.markers(buf, s.f.markers)
}

func (s *Stream) markers(buf string, markers []string) string {
	if i, _ := indexAny(buf, markers); i >= 0 {
		s.inCall = true
		return buf[:i]
	}
	k := partialSuffix(buf, markers)
	s.held = buf[len(buf)-k:]
	return buf[:len(buf)-k]
}

// harmony shows message text and drops headers and control tokens, until a
// header with a recipient starts a call.
func (s *Stream) harmony(buf string) string {
	var out strings.Builder
	for {
		i, which := indexAny(buf, harmonyTokens)
		if i < 0 {
			k := partialSuffix(buf, harmonyTokens)
			out.WriteString(buf[:len(buf)-k])
			s.held = buf[len(buf)-k:]
			return out.String()
		}
		out.WriteString(buf[:i])
		rest := buf[i:]
		if which != hStart && which != hChannel {
			buf = rest[len(which):]
			continue
		}
		m := strings.Index(rest, hMessage)
		header := rest
		if m >= 0 {
			header = rest[:m]
		}
		if _, ok := harmonyRecipient(header); ok {
			s.inCall = true
			return out.String()
		}
		if m < 0 {
			if len(rest) > maxHeader {
				s.stalled = true // Finish will sort it out
				return out.String()
			}
			s.held = rest // the header is not finished yet
			return out.String()
		}
		buf = rest[m+len(hMessage):]
	}
}

// partialSuffix is the length of the longest suffix of s that is a proper
// prefix of one of markers (it may still grow into the marker).
func partialSuffix(s string, markers []string) int {
	best := 0
	for _, m := range markers {
		for k := min(len(m)-1, len(s)); k > best; k-- {
			if strings.HasSuffix(s, m[:k]) {
				best = k
				break
			}
		}
	}
	return best
}
