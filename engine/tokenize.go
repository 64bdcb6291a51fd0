package engine

import (
	"fmt"
	"sort"
	"strings"

	"natter/prompts"
)

// special is a vocabulary token that llama.cpp matches as a whole when
// special parsing is on (control, user-defined and unknown tokens).
type special struct {
	text string
	id   Token
}

const (
	attrUnknown     = 1 << 0
	attrControl     = 1 << 3
	attrUserDefined = 1 << 4
)

// loadSpecials lists the special tokens, longest first, as llama.cpp orders them.
func (m *model) loadSpecials() []special {
	var out []special
	for id := range m.nVocab() {
		if m.tokenAttr(Token(id))&(attrUnknown|attrControl|attrUserDefined) == 0 {
			continue
		}
		if t := m.tokenText(Token(id)); t != "" {
			out = append(out, special{text: t, id: Token(id)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].text) > len(out[j].text) })
	return out
}

// span is a byte range [start, end) of a rendered prompt.
type span struct{ start, end int }

// contentSpans finds where each message's content sits in the rendered
// prompt. Those ranges are tokenized as plain text, so a user who types
// "<|im_end|>" gets the characters, never the control token. Templates may
// reorder messages (some put the system prompt into the last user turn) or
// trim them, so each is looked for after the previous one, then anywhere
// free. Content the template rewrote can go unprotected only when it holds
// no special-token text; otherwise the prompt is refused.
func contentSpans(rendered string, msgs []prompts.Message, specials []special) ([]span, error) {
	var spans []span
	pos := 0
	for i, m := range msgs {
		for _, c := range []string{m.Content, m.Reasoning} {
			if c == "" {
				continue
			}
			s, ok := locate(rendered, c, pos, spans)
			if !ok {
				s, ok = locate(rendered, strings.TrimSpace(c), pos, spans)
			}
			if !ok {
				if c == m.Reasoning || !hasSpecial(c, specials) {
					continue // nothing in it could become a control token
				}
				return nil, fmt.Errorf("message %d (%s): the chat template changed its text, so it cannot be tokenized safely", i+1, m.Role)
			}
			spans = append(spans, s)
			pos = s.end
		}
	}
	return spans, nil
}

// locate finds sub in s at or after from, else anywhere it overlaps no
// span already taken.
func locate(s, sub string, from int, taken []span) (span, bool) {
	if sub == "" {
		return span{}, false
	}
	if sp, ok := findFrom(s, sub, from); ok && !overlaps(taken, sp.start, sp.end) {
		return sp, true
	}
	for at := 0; at <= len(s); {
		sp, ok := findFrom(s, sub, at)
		if !ok {
			return span{}, false
		}
		if !overlaps(taken, sp.start, sp.end) {
			return sp, true
		}
		at = sp.start + 1
	}
	return span{}, false
}

func hasSpecial(text string, specials []special) bool {
	for _, sp := range specials {
		if strings.Contains(text, sp.text) {
			return true
		}
	}
	return false
}

func findFrom(s, sub string, from int) (span, bool) {
	i := strings.Index(s[from:], sub)
	if i < 0 {
		return span{}, false
	}
	return span{from + i, from + i + len(sub)}, true
}

// fragment is either a special token (id >= 0) or raw text s[start:end].
type fragment struct {
	id         Token
	start, end int
}

// partition splits text at special tokens the way llama.cpp's tokenizer does
// with parse_special on (each special, longest first, splits every raw
// fragment), except that matches overlapping a protected span are ignored.
func partition(text string, specials []special, protected []span) []fragment {
	frags := []fragment{{id: -1, start: 0, end: len(text)}}
	if len(text) == 0 {
		return nil
	}
	for _, sp := range specials {
		if !strings.Contains(text, sp.text) {
			continue
		}
		var next []fragment
		for _, f := range frags {
			if f.id >= 0 {
				next = append(next, f)
				continue
			}
			start := f.start
			for start < f.end {
				i := strings.Index(text[start:f.end], sp.text)
				if i < 0 {
					break
				}
				ms, me := start+i, start+i+len(sp.text)
				if overlaps(protected, ms, me) {
					// Skip this occurrence but keep the raw text whole.
					next = append(next, fragment{id: -1, start: f.start, end: ms + 1})
					f.start = ms + 1
					start = ms + 1
					continue
				}
				if ms > f.start {
					next = append(next, fragment{id: -1, start: f.start, end: ms})
				}
				next = append(next, fragment{id: sp.id, start: ms, end: me})
				f.start, start = me, me
			}
			if f.start < f.end {
				next = append(next, fragment{id: -1, start: f.start, end: f.end})
			}
		}
		frags = mergeRaw(next)
	}
	return frags
}

// mergeRaw joins adjacent raw fragments that skipping protected matches split.
func mergeRaw(fs []fragment) []fragment {
	out := fs[:0]
	for _, f := range fs {
		if n := len(out); n > 0 && f.id < 0 && out[n-1].id < 0 && out[n-1].end == f.start {
			out[n-1].end = f.end
			continue
		}
		out = append(out, f)
	}
	return out
}

func overlaps(spans []span, s, e int) bool {
	for _, p := range spans {
		if s < p.end && p.start < e {
			return true
		}
	}
	return false
}

// tokenizePrompt tokenizes a rendered chat prompt: the template's scaffolding
// may produce control tokens, the protected spans (message contents) never do.
func (m *model) tokenizePrompt(text string, specials []special, protected []span) ([]Token, error) {
	plain := func(s string) ([]Token, error) { return m.tokenize(s, false, false) }
	return tokenizeChat(text, specials, protected, plain, m.bos(), m.addBOS())
}

// tokenizeChat is tokenizePrompt for any backend: plain tokenizes raw text
// without parsing special tokens.
func tokenizeChat(text string, specials []special, protected []span, plain func(string) ([]Token, error), bos Token, addBOS bool) ([]Token, error) {
	var out []Token
	for _, f := range partition(text, specials, protected) {
		if f.id >= 0 {
			out = append(out, f.id)
			continue
		}
		toks, err := plain(text[f.start:f.end])
		if err != nil {
			return nil, err
		}
		out = append(out, toks...)
	}
	if addBOS && (len(out) == 0 || out[0] != bos) {
		out = append([]Token{bos}, out...)
	}
	return out, nil
}
