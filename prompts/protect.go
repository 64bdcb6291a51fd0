package prompts

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"natter/prompts/jinja"
)

// SpanRenderer is a ChatTemplate that knows, by construction, where each
// message's text lands in its output.
type SpanRenderer interface {
	ChatTemplate
	// RenderSpans renders like Render and returns the byte ranges of the
	// output that are copies of message content or reasoning.
	RenderSpans(msgs []Message, addGenerationPrompt bool) (string, []Span, error)
}

// ErrUntrackedText is wrapped when a message holds special-token text and
// the template copied it in a way whose provenance natter cannot follow
// (e.g. through replace or tojson), so it could turn into control tokens.
var ErrUntrackedText = errors.New("the chat template changes message text, so special-token text in it cannot be kept plain")

// tracked lists each message's content and reasoning, in the order
// RenderTracked's Src indexes them.
func tracked(msgs []Message) []string {
	out := make([]string, 0, 2*len(msgs))
	for _, m := range msgs {
		out = append(out, m.Content, m.Reasoning)
	}
	return out
}

func fromJinjaSpans(js []jinja.Span) []Span {
	out := make([]Span, len(js))
	for i, s := range js {
		out[i] = Span{s.Start, s.End}
	}
	return out
}

// RenderSpans implements SpanRenderer: the renderer follows the message
// strings themselves into the output.
func (t *JinjaTemplate) RenderSpans(msgs []Message, addGenerationPrompt bool) (string, []Span, error) {
	out, js, err := t.tmpl.RenderTracked(t.vars(t.messages(msgs), t.opt.Tools, addGenerationPrompt), jinja.Options{Limits: t.opt.Limits, Now: t.opt.Now}, tracked(msgs))
	return out, fromJinjaSpans(js), err
}

// RenderSpans implements SpanRenderer.
func (ft *FileTemplate) RenderSpans(msgs []Message, addGenerationPrompt bool) (string, []Span, error) {
	ft.refresh()
	ft.mu.Lock()
	cur := ft.cur
	ft.mu.Unlock()
	return cur.RenderSpans(msgs, addGenerationPrompt)
}

// RenderSpans implements SpanRenderer.
func (chatML) RenderSpans(msgs []Message, addGenerationPrompt bool) (string, []Span, error) {
	var b strings.Builder
	var spans []Span
	for _, m := range msgs {
		b.WriteString("<|im_start|>" + m.Role + "\n")
		if m.Content != "" {
			spans = append(spans, Span{b.Len(), b.Len() + len(m.Content)})
		}
		b.WriteString(m.Content + "<|im_end|>\n")
	}
	if addGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String(), spans, nil
}

// RenderSpans implements SpanRenderer: the first template that renders
// wins, as in Render.
func (c *Chain) RenderSpans(msgs []Message, addGenerationPrompt bool) (string, []Span, error) {
	text, spans, _, err := c.renderSpans(msgs, addGenerationPrompt)
	return text, spans, err
}

func (c *Chain) renderSpans(msgs []Message, addGen bool) (text string, spans []Span, used ChatTemplate, err error) {
	var errs []error
	for _, t := range c.list {
		out, sp, err := renderWithSpans(t, msgs, addGen)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.Name(), err))
			continue
		}
		c.mu.Lock()
		c.used, c.reason = t.Name(), errors.Join(errs...)
		c.mu.Unlock()
		return out, sp, t, nil
	}
	if len(errs) == 0 {
		return "", nil, nil, errors.New("no chat template available")
	}
	return "", nil, nil, fmt.Errorf("every chat template failed: %w", errors.Join(errs...))
}

// renderWithSpans renders with t and says where message text went: by
// t's own account when it is a SpanRenderer, otherwise by rendering once
// more with unforgeable markers in place of the texts and checking that
// putting the texts back gives the same prompt. Spans are nil when the
// markers do not account for the output.
func renderWithSpans(t ChatTemplate, msgs []Message, addGen bool) (string, []Span, error) {
	if sr, ok := t.(SpanRenderer); ok {
		return sr.RenderSpans(msgs, addGen)
	}
	text, err := t.Render(msgs, addGen)
	if err != nil {
		return "", nil, err
	}
	return text, markerSpans(t, msgs, addGen, text), nil
}

// markerSpans renders msgs with each text replaced by a marker holding a
// random nonce (absent from every text), then rebuilds the prompt from the
// marked output; the spans count only when the rebuilt prompt equals text.
// Templates that trim message text are matched with trimmed texts.
func markerSpans(t ChatTemplate, msgs []Message, addGen bool, text string) []Span {
	var raw [8]byte
	rand.Read(raw[:])
	nonce := "\uE000" + hex.EncodeToString(raw[:])
	if strings.Contains(text, nonce) {
		return nil
	}
	texts := tracked(msgs)
	marked := make([]Message, len(msgs))
	for i, m := range msgs {
		marked[i] = m
		if m.Content != "" {
			marked[i].Content = nonce + strconv.Itoa(2*i) + "\uE001"
		}
		if m.Reasoning != "" {
			marked[i].Reasoning = nonce + strconv.Itoa(2*i+1) + "\uE001"
		}
	}
	mk, err := t.Render(marked, addGen)
	if err != nil {
		return nil
	}
	for _, trim := range []bool{false, true} {
		var b strings.Builder
		var spans []Span
		rest := mk
		ok := true
		for {
			i := strings.Index(rest, nonce)
			if i < 0 {
				b.WriteString(rest)
				break
			}
			b.WriteString(rest[:i])
			rest = rest[i+len(nonce):]
			j := strings.Index(rest, "\uE001")
			k, err := strconv.Atoi(rest[:max(j, 0)])
			if j < 0 || err != nil || k < 0 || k >= len(texts) {
				ok = false
				break
			}
			rest = rest[j+len("\uE001"):]
			s := texts[k]
			if trim {
				s = strings.TrimSpace(s)
			}
			if s != "" {
				spans = append(spans, Span{b.Len(), b.Len() + len(s)})
			}
			b.WriteString(s)
		}
		if ok && b.String() == text {
			return spans
		}
	}
	return nil
}

// RenderProtected renders msgs with t and returns the prompt with the byte
// ranges that hold message text, which the tokenizer must keep plain: a
// user who types "<|im_start|>" gets those characters, never the control
// token, whatever the template does around them. used is the template
// that rendered (a Chain's member).
//
// When some message holds special-token text (one of specials), the
// template may have copied it where its provenance is lost; the prompt is
// then rendered again with that text defused, and if the first rendering
// has more special tokens outside the message ranges than the second, some
// came from a message and the prompt is refused with ErrUntrackedText.
func RenderProtected(t ChatTemplate, msgs []Message, addGen bool, specials []string) (text string, spans []Span, used string, err error) {
	member := t
	if c, ok := t.(*Chain); ok {
		text, spans, member, err = c.renderSpans(msgs, addGen)
	} else {
		text, spans, err = renderWithSpans(t, msgs, addGen)
	}
	if err != nil {
		return "", nil, "", err
	}
	used = member.Name()
	if !holdsSpecial(msgs, specials) {
		return text, spans, used, nil
	}
	defused := make([]Message, len(msgs))
	for i, m := range msgs {
		defused[i] = m
		defused[i].Content = defuse(m.Content, specials)
		defused[i].Reasoning = defuse(m.Reasoning, specials)
	}
	text0, spans0, err := renderWithSpans(member, defused, addGen)
	if err != nil || countOutside(text, spans, specials) > countOutside(text0, spans0, specials) {
		return "", nil, "", fmt.Errorf("%s: %w; remove it from the message or use another template (--chat-template)", used, ErrUntrackedText)
	}
	return text, spans, used, nil
}

func holdsSpecial(msgs []Message, specials []string) bool {
	for _, m := range msgs {
		for _, s := range specials {
			if s != "" && (strings.Contains(m.Content, s) || strings.Contains(m.Reasoning, s)) {
				return true
			}
		}
	}
	return false
}

// defuse replaces each special-token text in s by a private-use character
// that is part of none.
func defuse(s string, specials []string) string {
	if s == "" {
		return s
	}
	found := SpecialSpans(s, specials)
	if len(found) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, sp := range found {
		b.WriteString(s[last:sp.Start])
		b.WriteString("\uE002")
		last = sp.End
	}
	b.WriteString(s[last:])
	return b.String()
}

// countOutside counts special tokens of text that overlap no span.
func countOutside(text string, spans []Span, specials []string) int {
	n := 0
	for _, sp := range SpecialSpans(text, specials) {
		inside := false
		for _, p := range spans {
			if sp.Start < p.End && p.Start < sp.End {
				inside = true
				break
			}
		}
		if !inside {
			n++
		}
	}
	return n
}
