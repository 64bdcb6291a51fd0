package toolcall

import (
	"encoding/json"
	"strings"
)

// Formats whose calls are JSON after a marker (Mistral, Granite 3) or a
// bare JSON reply (Llama 3).

const (
	mistralMarker = "[TOOL_CALLS]"
	mistralArgs   = "[ARGS]"
	mistralCallID = "[CALL_ID]"
	graniteMarker = "<|tool_call|>"
	pythonTag     = "<|python_tag|>"
	spaces        = " \t\r\n"
)

// mistral: Mistral Nemo 2407 and older, [TOOL_CALLS][{"name", "arguments", "id"}].
func mistralFormat() *Format {
	return &Format{
		Name:     "mistral",
		openers:  []string{mistralMarker},
		markers:  []string{mistralMarker},
		parse:    func(c *collector, s string) { parseAfterMarker(c, s, mistralMarker, true) },
		grammarF: mistralGrammar,
	}
}

// mistral-v11: Mistral Small 3.2, Devstral, Ministral: [TOOL_CALLS]NAME[ARGS]{…}
// once per call (the templates also write [CALL_ID]ID before [ARGS]).
// The parser is shared with "mistral": a model fine-tuned from one
// tokenizer version sometimes writes the other shape.
func mistralV11Format() *Format {
	return &Format{
		Name:     "mistral-v11",
		openers:  []string{mistralMarker},
		markers:  []string{mistralMarker},
		parse:    func(c *collector, s string) { parseAfterMarker(c, s, mistralMarker, true) },
		grammarF: mistralV11Grammar,
	}
}

// granite: Granite 3.x, <|tool_call|>[{"name", "arguments"}].
func graniteFormat() *Format {
	return &Format{
		Name:     "granite",
		openers:  []string{graniteMarker},
		markers:  []string{graniteMarker},
		parse:    func(c *collector, s string) { parseAfterMarker(c, s, graniteMarker, false) },
		grammarF: graniteGrammar,
	}
}

func jsonReason(what string, truncated bool, err error) string {
	if truncated {
		return what + " is cut off (the JSON is not complete)"
	}
	return what + " is not valid JSON: " + err.Error()
}

// parseAfterMarker reads marker + a JSON call list (or one call object);
// with v11, also marker + NAME[CALL_ID]ID[ARGS]{…}. There is no closing
// marker: the JSON value ends the call.
func parseAfterMarker(c *collector, s, marker string, v11 bool) {
	for {
		i := strings.Index(s, marker)
		if i < 0 {
			c.text(s)
			return
		}
		c.text(s[:i])
		rest := s[i+len(marker):]
		stop := strings.Index(rest, marker) // a broken call's text ends at the next one
		if stop < 0 {
			stop = len(rest)
		}
		t := strings.TrimLeft(rest, spaces)
		off := len(rest) - len(t)
		if t != "" && (t[0] == '[' || t[0] == '{') || !v11 {
			n, trunc, err := jsonPrefix(t)
			if err != nil {
				c.fail(marker+rest[:stop], jsonReason("the call", trunc, err))
				s = rest[stop:]
				continue
			}
			callsFromJSON(c, marker+rest[:off+n], []byte(t[:n]))
			s = t[n:]
			continue
		}
		a := strings.Index(rest[:stop], mistralArgs)
		if a < 0 {
			c.fail(marker+rest[:stop], "no "+mistralArgs+" after the function name")
			s = rest[stop:]
			continue
		}
		head, id := rest[:a], ""
		if k := strings.Index(head, mistralCallID); k >= 0 {
			head, id = head[:k], strings.TrimSpace(head[k+len(mistralCallID):])
		}
		name := strings.TrimSpace(head)
		if name == "" || strings.ContainsAny(name, " \t\r\n[]{}\"") {
			c.fail(marker+rest[:stop], "the text before "+mistralArgs+" is not a function name")
			s = rest[stop:]
			continue
		}
		args := rest[a+len(mistralArgs):]
		n, trunc, err := jsonPrefix(args)
		if err != nil {
			c.fail(marker+rest[:stop], jsonReason("the arguments", trunc, err))
			s = rest[stop:]
			continue
		}
		c.call(marker+rest[:a+len(mistralArgs)+n], id, name, args[:n])
		s = args[n:]
	}
}

// llama3: Llama 3.1/3.2/3.3 answer with the bare call JSON,
// {"name": "f", "parameters": {…}}, 3.2 sometimes several separated by ";"
// or newlines; 3.1 may open with <|python_tag|>. Without a tag, only a reply
// that starts with a call-shaped object is taken as calls, so prose (or a
// JSON answer the user asked for) stays content.
func llama3Format() *Format {
	return &Format{
		Name:     "llama3",
		openers:  []string{pythonTag, `{"name"`, `{"type"`},
		markers:  []string{pythonTag},
		mode:     modeLeadingJSON,
		parse:    parseLlama3,
		grammarF: llama3Grammar,
	}
}

func parseLlama3(c *collector, s string) {
	if i := strings.Index(s, pythonTag); i >= 0 {
		c.text(s[:i])
		for _, part := range strings.Split(s[i+len(pythonTag):], pythonTag) {
			llamaCalls(c, part, true)
		}
		return
	}
	if llamaLead(strings.TrimLeft(s, spaces)) != leadYes {
		c.text(s)
		return
	}
	llamaCalls(c, s, false)
}

// llamaCalls reads call objects separated by spaces or ";". Text after them
// is content.
func llamaCalls(c *collector, s string, tagged bool) {
	i, n := 0, 0
	for {
		for i < len(s) && (strings.IndexByte(spaces, s[i]) >= 0 || s[i] == ';') {
			i++
		}
		if i == len(s) {
			if tagged && n == 0 {
				c.fail(pythonTag, "nothing follows "+pythonTag)
			}
			return
		}
		rest := s[i:]
		if rest[0] != '{' {
			if tagged && n == 0 {
				pyBuiltinCall(c, rest)
				return
			}
			c.text(rest)
			return
		}
		l, trunc, err := jsonPrefix(rest)
		if err != nil {
			c.fail(rest, jsonReason("the call", trunc, err))
			return
		}
		obj := rest[:l]
		switch {
		case llamaCallShaped(obj):
			callFromJSON(c, obj, []byte(obj))
		case n == 0 && !tagged:
			c.text(s) // a JSON answer, not a call
			return
		default:
			c.fail(obj, `the JSON is not a call (it needs "name" and "parameters")`)
		}
		n++
		i += l
	}
}

func llamaCallShaped(obj string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(obj), &m) != nil {
		return false
	}
	if fn, ok := m["function"]; ok {
		var inner map[string]json.RawMessage
		if json.Unmarshal(fn, &inner) == nil {
			if _, ok := inner["name"]; ok {
				return true
			}
		}
	}
	var name string
	if n, ok := m["name"]; !ok || json.Unmarshal(n, &name) != nil {
		return false
	}
	_, p := m["parameters"]
	_, a := m["arguments"]
	return p || a
}

type lead int

const maxLeadSpaces = 256

const (
	leadNo lead = iota
	leadMaybe
	leadYes
)

// llamaLead says whether text that starts a reply (spaces trimmed) is a call
// attempt: the python tag, or an object whose first key names a call.
func llamaLead(t string) lead {
	switch {
	case t == "":
		return leadMaybe
	case strings.HasPrefix(t, pythonTag):
		return leadYes
	case strings.HasPrefix(pythonTag, t):
		return leadMaybe
	case t[0] != '{':
		return leadNo
	}
	j := 1
	for j < len(t) && strings.IndexByte(spaces, t[j]) >= 0 {
		j++
	}
	if j > maxLeadSpaces {
		return leadNo // no model pads a call like this; stop holding text
	}
	if j == len(t) {
		return leadMaybe
	}
	if t[j] != '"' {
		return leadNo
	}
	key := t[j+1:]
	keys := []string{"name", "type", "function"}
	k := strings.IndexByte(key, '"')
	if k < 0 {
		for _, want := range keys {
			if strings.HasPrefix(want, key) {
				return leadMaybe
			}
		}
		return leadNo
	}
	for _, want := range keys {
		if key[:k] == want {
			return leadYes
		}
	}
	return leadNo
}
