package prompts

import "strings"

// A reasoning marker pair. Models announce their thinking differently; the
// engine passes the text through, so front ends (the chat, the server)
// recognise the common spellings here.
type thinkMarker struct{ open, close string }

var thinkMarkers = []thinkMarker{
	{"<think>", "</think>"},
	{"<thinking>", "</thinking>"},
	{"<seed:think>", "</seed:think>"},
	{"[THINK]", "[/THINK]"},
	{"◁think▷", "◁/think▷"},
	{"<|channel|>analysis<|message|>", "<|end|>"},
	{"<|channel>thought", "<channel|>"}, // Gemma 4
	{"<|begin_of_thought|>", "<|end_of_thought|>"},
}

// Text that some templates put around the final answer; it is dropped.
var answerMarkers = []string{
	"<|start|>assistant<|channel|>final<|message|>",
	"<|channel|>final<|message|>",
	"<|begin_of_solution|>", "<|end_of_solution|>",
}

// Splitter separates a streamed reply into reasoning and answer text.
// Markers may arrive split across pieces, so a short suffix that could still
// become a marker is held back until the next piece decides it.
type Splitter struct {
	thinking bool
	closeTag string
	held     string
}

// StartInReasoning is used when the prompt itself already opened a reasoning
// block (e.g. the template ends with "<think>\n").
func (s *Splitter) StartInReasoning(closeTag string) {
	s.thinking = true
	s.closeTag = closeTag
}

// Feed returns the answer and reasoning text contained in piece.
func (s *Splitter) Feed(piece string) (answer, reasoning string) {
	var a, r strings.Builder
	buf := s.held + piece
	s.held = ""
	for len(buf) > 0 {
		if s.thinking {
			if i := strings.Index(buf, s.closeTag); i >= 0 {
				r.WriteString(buf[:i])
				buf = buf[i+len(s.closeTag):]
				s.thinking = false
				continue
			}
			keep := partialSuffix(buf, []string{s.closeTag})
			r.WriteString(buf[:len(buf)-keep])
			s.held = buf[len(buf)-keep:]
			break
		}
		// Earliest opener or answer marker.
		best, bestLen, bestClose := -1, 0, ""
		for _, mk := range thinkMarkers {
			if i := strings.Index(buf, mk.open); i >= 0 && (best < 0 || i < best) {
				best, bestLen, bestClose = i, len(mk.open), mk.close
			}
		}
		for _, mk := range answerMarkers {
			if i := strings.Index(buf, mk); i >= 0 && (best < 0 || i < best) {
				best, bestLen, bestClose = i, len(mk), ""
			}
		}
		if best >= 0 {
			a.WriteString(buf[:best])
			buf = buf[best+bestLen:]
			if bestClose != "" {
				s.thinking = true
				s.closeTag = bestClose
			}
			continue
		}
		keep := partialSuffix(buf, allOpeners())
		a.WriteString(buf[:len(buf)-keep])
		s.held = buf[len(buf)-keep:]
		break
	}
	return a.String(), r.String()
}

// Thinking reports whether the text so far ends inside a reasoning block.
func (s *Splitter) Thinking() bool { return s.thinking }

// Flush returns text still held back at the end of the stream.
func (s *Splitter) Flush() (answer, reasoning string) {
	h := s.held
	s.held = ""
	if s.thinking {
		return "", h
	}
	return h, ""
}

var openers = func() []string {
	var o []string
	for _, mk := range thinkMarkers {
		o = append(o, mk.open)
	}
	return append(o, answerMarkers...)
}()

func allOpeners() []string { return openers }

// partialSuffix is the length of the longest suffix of s that is a proper
// prefix of one of the markers.
func partialSuffix(s string, markers []string) int {
	best := 0
	for _, mk := range markers {
		n := min(len(mk)-1, len(s))
		for k := n; k > best; k-- {
			if strings.HasSuffix(s, mk[:k]) {
				best = k
				break
			}
		}
	}
	return best
}

// PromptOpensReasoning reports whether a rendered prompt ends inside an
// opened reasoning block, and which tag will close it.
func PromptOpensReasoning(prompt string) (string, bool) {
	t := strings.TrimRight(prompt, " \n")
	for _, mk := range thinkMarkers {
		if strings.HasSuffix(t, mk.open) {
			return mk.close, true
		}
	}
	return "", false
}
