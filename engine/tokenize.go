package engine

import (
	"errors"
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

// renderPrompt renders msgs and says where their text lies in the prompt,
// as the renderer put it there (never by searching, which could match the
// template's own text): those ranges are tokenized as plain text, so a user
// who types "<|im_end|>" gets the characters, never the control token.
func renderPrompt(tmpl prompts.ChatTemplate, msgs []prompts.Message, specials []special) (string, []span, string, error) {
	texts := make([]string, len(specials))
	for i, sp := range specials {
		texts[i] = sp.text
	}
	text, ps, name, err := prompts.RenderProtected(tmpl, msgs, true, texts)
	if err != nil {
		if errors.Is(err, prompts.ErrUntrackedText) {
			return "", nil, "", err
		}
		return "", nil, "", fmt.Errorf("chat template %s: %w", tmpl.Name(), err)
	}
	spans := make([]span, len(ps))
	for i, p := range ps {
		spans[i] = span{p.Start, p.End}
	}
	return text, spans, name, nil
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

// tooLong reports, before tokenizing, that text cannot fit the context
// however it is tokenized (no token stands for more than env.maxPiece
// bytes). When the template's own text is too long by itself, the error
// blames the template, not the user's message.
func tooLong(env promptEnv, template, text string, spans []span) (bool, error) {
	if env.maxPiece <= 0 {
		return false, nil
	}
	per := max(env.maxPiece, 16) // an unknown-character token covers up to 4 bytes
	if len(text)/per < env.nCtx {
		return false, nil
	}
	own := len(text)
	for _, s := range spans {
		own -= s.end - s.start
	}
	if own/per >= env.nCtx {
		return false, fmt.Errorf("chat template %s writes %d bytes of its own, more than the %d-token context can hold: the template is broken (choose another with --chat-template)", template, own, env.nCtx)
	}
	return true, nil
}
