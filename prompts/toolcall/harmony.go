package toolcall

import "strings"

// Harmony (gpt-oss) writes every message with a header; a call is a
// commentary message addressed to the function:
//
//	<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>
//
// The recipient may also sit before the channel
// (<|start|>assistant to=functions.f<|channel|>commentary json<|message|>…),
// and <|start|>assistant is left out of the first message of a reply (the
// prompt ends with it). <|call|> is a stop token, so the engine may cut it
// off: a call body that runs to the end of the reply is complete when its
// JSON is. Messages without a recipient (preambles, the final answer) are
// content.

const (
	hStart     = "<|start|>"
	hChannel   = "<|channel|>"
	hMessage   = "<|message|>"
	hConstrain = "<|constrain|>"
	hEnd       = "<|end|>"
	hCall      = "<|call|>"
	hReturn    = "<|return|>"
)

// harmonyTokens are the control tokens a stream must not show.
var harmonyTokens = []string{hStart, hChannel, hMessage, hConstrain, hEnd, hCall, hReturn}

func harmonyFormat() *Format {
	return &Format{
		Name: "harmony",
		openers: []string{
			hChannel + "commentary to=functions.",
			hStart + "assistant to=functions.",
			hStart + "assistant" + hChannel + "commentary to=functions.",
		},
		markers:  harmonyTokens,
		mode:     modeHarmony,
		parse:    parseHarmony,
		grammarF: harmonyGrammar,
	}
}

// stripTokens drops stray control tokens from content text.
func stripTokens(s string) string {
	for _, t := range harmonyTokens {
		s = strings.ReplaceAll(s, t, "")
	}
	return s
}

// harmonyRecipient is the function a header addresses ("" for none).
func harmonyRecipient(header string) (name string, ok bool) {
	i := strings.Index(header, "to=")
	if i < 0 {
		return "", false
	}
	r := header[i+len("to="):]
	if j := strings.IndexAny(r, " \t\r\n<"); j >= 0 {
		r = r[:j]
	}
	return strings.TrimPrefix(r, "functions."), true
}

func parseHarmony(c *collector, s string) {
	heads := newFinders(s, hStart, hChannel)
	msg := newFinder(s, hMessage)
	ends := newFinders(s, hCall, hEnd, hReturn, hStart, hChannel)
	pos := 0
	for {
		i, _ := heads.next(pos)
		if i < 0 {
			c.text(stripTokens(s[pos:]))
			return
		}
		c.text(stripTokens(s[pos:i]))
		m := msg.next(i)
		if m < 0 {
			if _, ok := harmonyRecipient(s[i:]); ok {
				c.fail(s[i:], "the call's header is not closed with "+hMessage)
			}
			return // an unfinished header of a message that says nothing
		}
		bodyStart := m + len(hMessage)
		end, which := ends.next(bodyStart)
		next := end + len(which)
		switch {
		case end < 0:
			end, next = len(s), len(s)
		case which == hStart || which == hChannel:
			next = end // the next message's header, not consumed
		}
		body := s[bodyStart:end]
		name, isCall := harmonyRecipient(s[i:m])
		switch {
		case !isCall:
			c.text(stripTokens(body))
		case strings.TrimSpace(body) == "":
			c.fail(s[i:next], "the call has no arguments")
		default:
			c.call(s[i:next], "", name, body)
		}
		pos = next
	}
}
