// Package toolcall knows how each model family writes tool calls: it picks
// the format from a chat template, reads calls back out of a finished reply,
// hides call markup while a reply streams, and builds grammars that force a
// call. Pure Go, standard library only: the bottom layer, like prompts.
package toolcall

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"natter/prompts"
)

// Format is one family's way of writing tool calls.
type Format struct {
	// Name is the family: "hermes", "qwen3-coder", "llama3", "mistral",
	// "mistral-v11", "gemma4", "lfm2", "granite" or "harmony".
	Name string

	openers  []string   // strings that start a call (grammar triggers)
	markers  []string   // strings the stream watches for (marker mode)
	mode     streamMode // how Stream decides where a call starts
	parse    func(*collector, string)
	grammarF func(names []string) (string, error)
}

// Malformed is a call the model tried to write but got wrong. It is kept so
// the caller can show it and ask the model again, instead of losing it.
type Malformed struct {
	Raw    string // the call's text as the model wrote it, markers included
	Reason string
}

// Openers are the strings that start a call in this format (for e.g.
// grammar triggers).
func (f *Format) Openers() []string { return append([]string(nil), f.openers...) }

// Parse reads a finished answer: content is the text outside calls
// (trimmed), calls in order. Arguments are compact JSON object text. Calls
// whose arguments are not a JSON object, or whose markup is broken, are
// returned in bad rather than dropped; their text is not in content.
func (f *Format) Parse(text string) (content string, calls []prompts.ToolCall, bad []Malformed) {
	c := &collector{}
	f.parse(c, text)
	return strings.TrimSpace(c.content.String()), c.calls, c.bad
}

// collector gathers one parse's results, in text order. Every call goes
// through call(), so the guarantees (object arguments, ids) hold for all
// formats alike.
type collector struct {
	content strings.Builder
	calls   []prompts.ToolCall
	bad     []Malformed
}

func (c *collector) text(s string) { c.content.WriteString(s) }

func (c *collector) fail(raw, reason string) {
	c.bad = append(c.bad, Malformed{Raw: raw, Reason: reason})
}

// call records a call; args is JSON text. An id the format carries is kept,
// otherwise calls are numbered by position so ids are deterministic.
func (c *collector) call(raw, id, name, args string) {
	name = strings.TrimSpace(name)
	if name == "" {
		c.fail(raw, "the call has no function name")
		return
	}
	norm, err := normalizeArgs(args)
	if err != nil {
		c.fail(raw, err.Error())
		return
	}
	if id == "" {
		id = fmt.Sprintf("call_%d", len(c.calls)+1)
	}
	c.calls = append(c.calls, prompts.ToolCall{ID: id, Name: name, Arguments: norm})
}

// normalizeArgs checks that s is one JSON object and compacts it.
func normalizeArgs(s string) (string, error) {
	b := bytes.TrimSpace([]byte(s))
	if len(b) == 0 {
		return "", fmt.Errorf("the arguments are empty")
	}
	var raw json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return "", fmt.Errorf("the arguments are not valid JSON: %v", err)
	}
	if b[0] != '{' {
		return "", fmt.Errorf("the arguments are a JSON %s, not an object", jsonKind(b[0]))
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return "", fmt.Errorf("the arguments are not valid JSON: %v", err)
	}
	// Invalid UTF-8 can only sit inside strings; replacing it keeps the
	// text valid JSON and safe to send back to the model.
	return strings.ToValidUTF8(out.String(), "\uFFFD"), nil
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// jsonQuote writes s as a JSON string without HTML escaping, so arguments
// like "<b>" stay readable.
func jsonQuote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// callFromJSON reads one call object in the shapes models write:
// {"name", "arguments"|"parameters", "id"?}, or OpenAI's
// {"type": "function", "function": {...}}. Double-encoded arguments (a JSON
// string holding the object) are unwrapped.
func callFromJSON(c *collector, raw string, obj []byte) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		if t := bytes.TrimSpace(obj); len(t) > 0 && t[0] != '{' {
			c.fail(raw, fmt.Sprintf("the call is a JSON %s, not an object", jsonKind(t[0])))
			return
		}
		c.fail(raw, fmt.Sprintf("the call is not valid JSON: %v", err))
		return
	}
	if fn, ok := m["function"]; ok && len(bytes.TrimSpace(fn)) > 0 && bytes.TrimSpace(fn)[0] == '{' {
		var inner map[string]json.RawMessage
		if json.Unmarshal(fn, &inner) == nil {
			if _, named := inner["name"]; named {
				if id, ok := m["id"]; ok {
					inner["id"] = id
				}
				m = inner
			}
		}
	}
	var name string
	if n, ok := m["name"]; !ok || json.Unmarshal(n, &name) != nil {
		c.fail(raw, `the call has no "name" string`)
		return
	}
	args, ok := m["arguments"]
	if !ok {
		args, ok = m["parameters"]
	}
	a := strings.TrimSpace(string(args))
	switch {
	case !ok || a == "null":
		a = "{}" // a call of a function without parameters
	case strings.HasPrefix(a, `"`):
		var inner string
		if json.Unmarshal(args, &inner) == nil {
			a = inner
		}
	}
	var id string
	if v, ok := m["id"]; ok {
		_ = json.Unmarshal(v, &id) // a non-string id is ignored
	}
	c.call(raw, id, name, a)
}

// callsFromJSON reads a call object or a list of them.
func callsFromJSON(c *collector, raw string, v []byte) {
	t := bytes.TrimSpace(v)
	if len(t) > 0 && t[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(t, &list); err != nil {
			c.fail(raw, fmt.Sprintf("the call list is not valid JSON: %v", err))
			return
		}
		if len(list) == 0 {
			c.fail(raw, "the call list is empty")
		}
		for _, el := range list {
			if len(list) == 1 {
				callFromJSON(c, raw, el)
			} else {
				callFromJSON(c, string(el), el)
			}
		}
		return
	}
	callFromJSON(c, raw, t)
}

// jsonPrefix reads the JSON value at the start of s (after spaces) and
// returns its length in bytes; truncated reports a value cut off by the
// end of s.
func jsonPrefix(s string) (n int, truncated bool, err error) {
	dec := json.NewDecoder(strings.NewReader(s))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if _, syntax := err.(*json.SyntaxError); !syntax {
			return 0, true, err // io.EOF / io.ErrUnexpectedEOF: cut off
		}
		return 0, false, err
	}
	return int(dec.InputOffset()), false, nil
}

// indexAny finds the earliest of subs in s: its index and which one.
func indexAny(s string, subs []string) (int, string) {
	best, which := -1, ""
	for _, sub := range subs {
		if i := strings.Index(s, sub); i >= 0 && (best < 0 || i < best || (i == best && len(sub) > len(which))) {
			best, which = i, sub
		}
	}
	return best, which
}

var formats = []*Format{
	hermesFormat(),
	qwen3CoderFormat(),
	llama3Format(),
	mistralFormat(),
	mistralV11Format(),
	gemma4Format(),
	lfm2Format(),
	graniteFormat(),
	harmonyFormat(),
}

// ByName returns the format called name (for an override flag).
func ByName(name string) (*Format, bool) {
	for _, f := range formats {
		if f.Name == name {
			return f, true
		}
	}
	return nil, false
}

// Names lists the formats, most common first.
func Names() []string {
	out := make([]string, len(formats))
	for i, f := range formats {
		out[i] = f.Name
	}
	return out
}

func mustFormat(name string) *Format {
	f, ok := ByName(name)
	if !ok {
		panic("toolcall: no format " + name) // a bug in Detect's table
	}
	return f
}

// Detect picks the format from a chat template's source, by the markers the
// template writes for tool calls or tells the model to write. ok is false
// when the template has no tool-call support, or writes a format this
// package does not know (better no parser than a wrong one).
func Detect(templateSource string) (f *Format, ok bool) {
	s := templateSource
	has := func(sub string) bool { return strings.Contains(s, sub) }
	if !has("tools") && !has("tool_calls") {
		return nil, false
	}
	switch {
	case has("<|channel|>") && (has("to=functions") || has("<|call|>")):
		return mustFormat("harmony"), true
	case has("<|tool_call>") && has(`<|"|>`):
		return mustFormat("gemma4"), true
	case has("<|tool_call_start|>") || has("<|tool_list_start|>"):
		return mustFormat("lfm2"), true
	case has("[TOOL_CALLS]") && has("[ARGS]"):
		return mustFormat("mistral-v11"), true
	case has("[TOOL_CALLS]"):
		return mustFormat("mistral"), true
	case has("<|tool_call|>"):
		return mustFormat("granite"), true
	case has("<tool_call>"):
		// Other families reuse the tag with a different body: GLM's
		// <arg_key>/<arg_value> pairs, Apriel's <tool_calls>[…] list.
		if has("<arg_key>") || has("<tool_calls>") {
			return nil, false
		}
		if has("<function=") {
			return mustFormat("qwen3-coder"), true
		}
		return mustFormat("hermes"), true
	case has("<|start_header_id|>") && has(`"parameters"`) &&
		!has("<function=") && !has("functools") && !has(">>>"):
		return mustFormat("llama3"), true
	}
	return nil, false
}

// finder finds the next occurrence of sub at or after a position, caching
// the answer: parsers only move forward, so a marker that is far away (or
// absent) is searched for once, not once per call, and hostile replies
// full of openers stay linear.
type finder struct {
	s, sub string
	at     int // the cached index; -1: none left
	known  bool
}

func newFinder(s, sub string) *finder { return &finder{s: s, sub: sub} }

func (f *finder) next(pos int) int {
	if !f.known || (f.at >= 0 && f.at < pos) {
		f.known = true
		f.at = -1
		if pos <= len(f.s) {
			if i := strings.Index(f.s[pos:], f.sub); i >= 0 {
				f.at = pos + i
			}
		}
	}
	return f.at
}

// finders finds the earliest of several strings (the longer on a tie).
type finders []*finder

func newFinders(s string, subs ...string) finders {
	fs := make(finders, len(subs))
	for i, sub := range subs {
		fs[i] = newFinder(s, sub)
	}
	return fs
}

func (fs finders) next(pos int) (int, string) {
	best, which := -1, ""
	for _, f := range fs {
		if i := f.next(pos); i >= 0 && (best < 0 || i < best || i == best && len(f.sub) > len(which)) {
			best, which = i, f.sub
		}
	}
	return best, which
}
