package toolcall

import (
	"encoding/json"
	"errors"
	"strings"
)

// Gemma 4 writes a call in its own object syntax: keys bare, strings
// between <|"|> delimiters (no escapes inside), numbers and booleans bare:
//
//	<|tool_call>call:get_weather{city:<|"|>Paris<|"|>,days:3}<tool_call|>
//
// After a call the model goes on with <|tool_response> (the end of its
// turn), and it has been seen repeating <tool_call|>; both are dropped from
// the content.

const (
	gemmaOpen   = "<|tool_call>"
	gemmaClose  = "<tool_call|>"
	gemmaQuote  = `<|"|>`
	gemmaResult = "<|tool_response>"
)

func gemma4Format() *Format {
	return &Format{
		Name:     "gemma4",
		openers:  []string{gemmaOpen},
		markers:  []string{gemmaOpen},
		parse:    parseGemma4,
		grammarF: gemma4Grammar,
	}
}

func gemmaText(c *collector, s string) {
	s = strings.ReplaceAll(s, gemmaResult, "")
	c.text(strings.ReplaceAll(s, gemmaClose, ""))
}

func parseGemma4(c *collector, s string) {
	opens, closes := newFinder(s, gemmaOpen), newFinder(s, gemmaClose)
	pos := 0
	for {
		i := opens.next(pos)
		if i < 0 {
			gemmaText(c, s[pos:])
			return
		}
		gemmaText(c, s[pos:i])
		bodyStart := i + len(gemmaOpen)
		// A broken call's text runs to its closer, or the next call.
		stop, skip := len(s), 0
		if e := closes.next(bodyStart); e >= 0 {
			stop, skip = e, len(gemmaClose)
		}
		if e := opens.next(bodyStart); e >= 0 && e < stop {
			stop, skip = e, 0
		}
		brokenRaw, after := s[i:stop+skip], stop+skip

		// Arguments are parsed from their start; the parser stops at
		// their closing brace, wherever the closer is.
		t := strings.TrimPrefix(strings.TrimLeft(s[bodyStart:], spaces), "call:")
		argStart := len(s) - len(t) // t's offset in s
		brace := strings.IndexAny(t[:max(0, min(len(t), stop-argStart))], "{[")
		if brace < 0 {
			c.fail(brokenRaw, "the call has no {arguments} after its name")
			pos = after
			continue
		}
		if t[brace] == '[' {
			c.fail(brokenRaw, "the arguments are a list, not an object")
			pos = after
			continue
		}
		p := &gemmaParser{s: s, i: argStart + brace}
		args, err := p.object()
		if err != nil {
			reason := "the arguments are not valid: " + err.Error()
			if p.cut {
				reason = "the call is cut off: " + err.Error()
			}
			c.fail(brokenRaw, reason)
			pos = after
			continue
		}
		// A call without its closer is still complete: the arguments'
		// braces balanced, and the model may stop right after them.
		callEnd := p.i
		if tt := strings.TrimLeft(s[callEnd:], spaces); strings.HasPrefix(tt, gemmaClose) {
			callEnd = len(s) - len(tt) + len(gemmaClose)
		}
		c.call(s[i:callEnd], "", t[:brace], args)
		pos = callEnd
	}
}

// gemmaParser reads Gemma 4's argument syntax into JSON text.
type gemmaParser struct {
	s     string
	i     int
	depth int
	cut   bool // the text ended inside the value
}

func (p *gemmaParser) ws() {
	for p.i < len(p.s) && strings.IndexByte(spaces, p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *gemmaParser) errf(msg string) error {
	if p.i >= len(p.s) {
		p.cut = true
	}
	return errors.New(msg)
}

func (p *gemmaParser) object() (string, error) {
	if p.depth++; p.depth > maxDepth {
		return "", errTooDeep
	}
	defer func() { p.depth-- }()
	p.i++ // '{'
	var b strings.Builder
	b.WriteByte('{')
	for n := 0; ; n++ {
		p.ws()
		if p.i >= len(p.s) {
			return "", p.errf("an object is not closed with }")
		}
		if p.s[p.i] == '}' {
			p.i++
			break
		}
		if n > 0 {
			if p.s[p.i] != ',' {
				return "", p.errf("expected , or } between arguments")
			}
			p.i++
			p.ws()
			b.WriteByte(',')
		}
		key, err := p.key()
		if err != nil {
			return "", err
		}
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return "", p.errf("expected : after the key " + jsonQuote(key))
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return "", err
		}
		b.WriteString(jsonQuote(key))
		b.WriteByte(':')
		b.WriteString(v)
	}
	b.WriteByte('}')
	return b.String(), nil
}

// key reads a bare key, or one in <|"|> or JSON quotes (tool responses
// quote their keys).
func (p *gemmaParser) key() (string, error) {
	rest := p.s[p.i:]
	switch {
	case strings.HasPrefix(rest, gemmaQuote):
		return p.quoted()
	case strings.HasPrefix(rest, `"`):
		return p.jsonString()
	}
	end := strings.IndexAny(rest, ":{}[],<\n")
	if end < 0 {
		p.i = len(p.s)
		return "", p.errf("a key is not followed by :")
	}
	k := strings.TrimSpace(rest[:end])
	if k == "" {
		return "", p.errf("an argument has no name")
	}
	p.i += end
	return k, nil
}

func (p *gemmaParser) quoted() (string, error) {
	start := p.i + len(gemmaQuote)
	end := strings.Index(p.s[start:], gemmaQuote)
	if end < 0 {
		p.i = len(p.s)
		return "", p.errf(`a string is not closed with <|"|>`)
	}
	p.i = start + end + len(gemmaQuote)
	return p.s[start : start+end], nil
}

func (p *gemmaParser) jsonString() (string, error) {
	n, trunc, err := jsonPrefix(p.s[p.i:])
	if err != nil {
		if trunc {
			p.i = len(p.s)
		}
		return "", p.errf("a bad quoted string")
	}
	var s string
	if json.Unmarshal([]byte(p.s[p.i:p.i+n]), &s) != nil {
		return "", p.errf("a bad quoted string")
	}
	p.i += n
	return s, nil
}

func (p *gemmaParser) value() (string, error) {
	p.ws()
	if p.i >= len(p.s) {
		return "", p.errf("a value is missing")
	}
	rest := p.s[p.i:]
	switch {
	case strings.HasPrefix(rest, gemmaQuote):
		s, err := p.quoted()
		if err != nil {
			return "", err
		}
		return jsonQuote(s), nil
	case rest[0] == '"':
		s, err := p.jsonString()
		if err != nil {
			return "", err
		}
		return jsonQuote(s), nil
	case rest[0] == '{':
		return p.object()
	case rest[0] == '[':
		return p.array()
	}
	end := strings.IndexAny(rest, ",}]")
	if end < 0 {
		p.i = len(p.s)
		return "", p.errf("a value is not followed by , or }")
	}
	w := strings.TrimSpace(rest[:end])
	p.i += end
	switch w {
	case "":
		return "", p.errf("a value is missing")
	case "true", "True":
		return "true", nil
	case "false", "False":
		return "false", nil
	case "null", "None":
		return "null", nil
	}
	if isJSONNumber(w) {
		return w, nil
	}
	// An unquoted word: the model forgot the delimiters; it means a string.
	return jsonQuote(w), nil
}

func (p *gemmaParser) array() (string, error) {
	if p.depth++; p.depth > maxDepth {
		return "", errTooDeep
	}
	defer func() { p.depth-- }()
	p.i++ // '['
	var b strings.Builder
	b.WriteByte('[')
	for n := 0; ; n++ {
		p.ws()
		if p.i >= len(p.s) {
			return "", p.errf("a list is not closed with ]")
		}
		if p.s[p.i] == ']' {
			p.i++
			break
		}
		if n > 0 {
			if p.s[p.i] != ',' {
				return "", p.errf("expected , or ] in a list")
			}
			p.i++
			b.WriteByte(',')
		}
		v, err := p.value()
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	b.WriteByte(']')
	return b.String(), nil
}
