package toolcall

import (
	"encoding/json"
	"strings"
)

// Hermes (Qwen2.5, Qwen3, Hermes 2 Pro/3, SmolLM3, Granite 4.1):
//
//	<tool_call>
//	{"name": "f", "arguments": {...}}
//	</tool_call>
//
// Qwen3-Coder / Qwen3.5 (and Nemotron 3, Step 3.5) keep the tag but write
// the body as XML-ish parameters:
//
//	<tool_call>
//	<function=f>
//	<parameter=city>
//	Paris
//	</parameter>
//	</function>
//	</tool_call>
//
// Both parsers accept both bodies: models trained on one sometimes fall
// back to the other, and the tag already says "this is a call".

const (
	tcOpen  = "<tool_call>"
	tcClose = "</tool_call>"
	fnOpen  = "<function="
	fnClose = "</function>"
)

func hermesFormat() *Format {
	return &Format{
		Name:     "hermes",
		openers:  []string{tcOpen},
		markers:  []string{tcOpen},
		parse:    func(c *collector, s string) { parseTagged(c, s, false) },
		grammarF: hermesGrammar,
	}
}

func qwen3CoderFormat() *Format {
	return &Format{
		Name: "qwen3-coder",
		// Qwen3-Coder sometimes drops the <tool_call> wrapper and starts
		// straight with <function=; that tag is specific enough to trust.
		openers:  []string{tcOpen, fnOpen},
		markers:  []string{tcOpen, fnOpen},
		parse:    func(c *collector, s string) { parseTagged(c, s, true) },
		grammarF: qwen3CoderGrammar,
	}
}

func parseTagged(c *collector, s string, bareFunction bool) {
	subs := []string{tcOpen}
	if bareFunction {
		subs = append(subs, fnOpen)
	}
	opens := newFinders(s, subs...)
	openTC, closeTC, closeFn := newFinder(s, tcOpen), newFinder(s, tcClose), newFinder(s, fnClose)
	pos := 0
	for {
		i, which := opens.next(pos)
		if i < 0 {
			c.text(s[pos:])
			return
		}
		c.text(s[pos:i])
		if which == fnOpen {
			end := closeFn.next(i)
			if end < 0 {
				c.fail(s[i:], "the call is not closed with "+fnClose)
				return
			}
			raw := s[i : end+len(fnClose)]
			xmlCall(c, raw, raw)
			pos = end + len(fnClose)
			continue
		}
		bodyStart := i + len(tcOpen)
		end, next := closeTC.next(bodyStart), openTC.next(bodyStart)
		if end < 0 || (next >= 0 && next < end) {
			stop := len(s)
			if next >= 0 {
				stop = next
			}
			c.fail(s[i:stop], "the call is not closed with "+tcClose)
			pos = stop
			continue
		}
		raw := s[i : end+len(tcClose)]
		t := strings.TrimSpace(s[bodyStart:end])
		switch {
		case strings.HasPrefix(t, fnOpen):
			xmlCall(c, raw, t)
		case strings.HasPrefix(t, "{") || strings.HasPrefix(t, "["):
			callsFromJSON(c, raw, []byte(t))
		default:
			c.fail(raw, "the call is neither a JSON object nor a <function=…> block")
		}
		pos = end + len(tcClose)
	}
}

// xmlCall reads "<function=NAME>" parameters "</function>" (the closing tag
// may be missing inside <tool_call>).
func xmlCall(c *collector, raw, t string) {
	t = strings.TrimPrefix(t, fnOpen)
	gt := strings.Index(t, ">")
	if gt < 0 {
		c.fail(raw, "the <function= tag is not closed with >")
		return
	}
	name := t[:gt]
	if strings.ContainsAny(name, "<\n") {
		c.fail(raw, "the <function= tag is not closed with >")
		return
	}
	body := t[gt+1:]
	if j := strings.Index(body, fnClose); j >= 0 {
		body = body[:j]
	}
	const pOpen, pClose = "<parameter=", "</parameter>"
	opens, closes := newFinder(body, pOpen), newFinder(body, pClose)
	var b strings.Builder
	b.WriteByte('{')
	for n, pos := 0, 0; ; n++ {
		k := opens.next(pos)
		if k < 0 {
			break
		}
		pos = k + len(pOpen)
		gt := strings.IndexAny(body[pos:], ">\n")
		if gt < 0 || body[pos+gt] != '>' {
			c.fail(raw, "a <parameter= tag is not closed with >")
			return
		}
		key := strings.TrimSpace(body[pos : pos+gt])
		if key == "" {
			c.fail(raw, "a parameter has no name")
			return
		}
		pos += gt + 1
		// Models sometimes forget </parameter>; the next parameter ends
		// the value then, as in Qwen's own parser.
		end, skip := len(body), 0
		if e := closes.next(pos); e >= 0 {
			end, skip = e, len(pClose)
		}
		if e := opens.next(pos); e >= 0 && e < end {
			end, skip = e, 0
		}
		val := body[pos:end]
		pos = end + skip
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonQuote(key))
		b.WriteByte(':')
		b.WriteString(paramValue(val))
	}
	b.WriteByte('}')
	c.call(raw, "", name, b.String())
}

// paramValue turns a parameter's text into JSON. The template writes the
// value on its own lines; without the tool's schema, text that parses as
// JSON (numbers, booleans, objects, arrays) is taken as JSON, anything else
// as a string, which is what Qwen's parser does when the schema is silent.
// The template prints booleans and null the Python way (True, None), so a
// model trained on its renderings writes them so too: those mean JSON.
func paramValue(v string) string {
	v = strings.TrimPrefix(v, "\n")
	v = strings.TrimSuffix(v, "\n")
	t := strings.TrimSpace(v)
	switch t {
	case "True":
		return "true"
	case "False":
		return "false"
	case "None":
		return "null"
	}
	if t != "" && json.Valid([]byte(t)) {
		return t
	}
	return jsonQuote(v)
}
