package prompts

import (
	"regexp"
	"sort"
	"strings"
)

// Span is a byte range [Start, End) of a text.
type Span struct{ Start, End int }

// SpecialSpans finds the special tokens of text (for highlighting in
// /prompt): non-overlapping occurrences of specials, longest match first,
// in order of position.
func SpecialSpans(text string, specials []string) []Span {
	toks := make([]string, 0, len(specials))
	for _, s := range specials {
		if s != "" {
			toks = append(toks, s)
		}
	}
	sort.SliceStable(toks, func(i, j int) bool { return len(toks[i]) > len(toks[j]) })
	var spans []Span
	for i := 0; i < len(text); {
		matched := false
		for _, s := range toks {
			if strings.HasPrefix(text[i:], s) {
				spans = append(spans, Span{i, i + len(s)})
				i += len(s)
				matched = true
				break
			}
		}
		if !matched {
			i++
		}
	}
	return spans
}

// specialLike matches strings that look like control tokens in chat
// templates: <|...|>, <｜...｜>, [INST]-style tags and <start_of_turn>-style
// tags that templates print verbatim.
var specialLike = regexp.MustCompile(`<\|[^|<>\s]{1,40}\|>|<｜[^｜<>\s]{1,40}｜>|\[/?[A-Z_]{2,24}\]|</?(?:s|start_of_turn|end_of_turn|bos|eos|eot|think|tool_call|tool_response|turn)>`)

// GuessSpecials lists the control-token-looking strings in a chat template
// source (plus bos/eos), for highlighting when the vocabulary is not at
// hand. The engine's own list of control tokens is better when available.
func GuessSpecials(templateSource string, bos, eos string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	add(bos)
	add(eos)
	for _, m := range specialLike.FindAllString(templateSource, -1) {
		add(m)
	}
	return out
}

// Segment is a piece of a rendered prompt. Special segments come from the
// template and are tokenized with special tokens parsed; the others are
// message text and must be tokenized as plain text, so a user typing
// "<|im_end|>" cannot forge a turn boundary.
type Segment struct {
	Text    string
	Special bool
}

// Segments splits a rendered prompt into template text and message text by
// locating each message's content (and reasoning), in order, in the
// output. Content a template rewrote beyond trimming is left in template
// text.
//
// specials are the control tokens (see SpecialSpans); a match that would cut
// through one of them is skipped, so short contents like "a" are not found
// inside "<|start|>".
func Segments(rendered string, msgs []Message, specials []string) []Segment {
	type span struct{ a, b int }
	var spans []span
	sp := SpecialSpans(rendered, specials)
	cuts := func(a, b int) bool {
		for _, s := range sp {
			if a > s.Start && a < s.End || b > s.Start && b < s.End {
				return true
			}
		}
		return false
	}
	pos := 0
	find := func(s string) {
		if s == "" {
			return
		}
		for _, cand := range []string{s, strings.TrimSpace(s)} {
			if cand == "" {
				continue
			}
			for from := pos; from <= len(rendered); {
				i := strings.Index(rendered[from:], cand)
				if i < 0 {
					break
				}
				a, b := from+i, from+i+len(cand)
				if cuts(a, b) {
					from = a + 1
					continue
				}
				spans = append(spans, span{a, b})
				pos = b
				return
			}
		}
	}
	for _, m := range msgs {
		// Templates print reasoning before content; try that order first
		// and fall back to content alone.
		save, n := pos, len(spans)
		find(m.Reasoning)
		find(m.Content)
		if m.Reasoning != "" && len(spans) == n {
			pos = save
			find(m.Content)
		}
	}
	var out []Segment
	last := 0
	for _, s := range spans {
		if s.a > last {
			out = append(out, Segment{Text: rendered[last:s.a], Special: true})
		}
		out = append(out, Segment{Text: rendered[s.a:s.b]})
		last = s.b
	}
	if last < len(rendered) {
		out = append(out, Segment{Text: rendered[last:], Special: true})
	}
	return out
}
