package engine

import "strings"

// Reasoning blocks the thinking budget knows how to close: the marker that
// opens one and the text that ends it the way the model's template does.
var thinkBlocks = []struct{ open, close string }{
	{"<think>", "\n</think>\n\n"},       // Qwen3/3.5, DeepSeek R1, SmolLM3, ...
	{"<|channel>thought", "<channel|>"}, // Gemma 4
}

// thinkBudget caps the tokens a reply spends inside a reasoning block
// (--reasoning-budget): past the cap the engine writes the closing marker
// itself, so the model goes on to answer.
type thinkBudget struct {
	limit int    // tokens; < 0: no cap
	close string // closing text of the open block; "" when not inside one
	used  int
	tail  string // the last bytes, to find markers split across pieces
}

// newThinkBudget starts a budget (limit <= 0: no cap); prompt is the prompt text, which may
// already open the block (templates that end with "<think>\n").
func newThinkBudget(limit int, prompt string) *thinkBudget {
	if limit <= 0 {
		limit = -1
	}
	b := &thinkBudget{limit: limit}
	if limit < 0 {
		return b
	}
	b.scan(prompt)
	return b
}

// endsInThought reports whether a rendered prompt leaves a reasoning block
// open for the reply (a template that starts the thinking itself).
func endsInThought(prompt string) bool {
	b := &thinkBudget{limit: 1}
	b.scan(prompt)
	return b.close != ""
}

// scan updates whether text leaves a block open.
func (b *thinkBudget) scan(text string) {
	s := b.tail + text
	for _, t := range thinkBlocks {
		o := strings.LastIndex(s, t.open)
		c := strings.LastIndex(s, strings.TrimSpace(t.close))
		if o >= 0 && o > c {
			if b.close == "" {
				b.used = 0
			}
			b.close = t.close
		} else if c >= 0 && b.close == t.close {
			b.close = ""
		}
	}
	const keep = 32 // longer than any marker
	if len(s) > keep {
		s = s[len(s)-keep:]
	}
	b.tail = s
}

// push records one generated token's text and returns the closing text to
// insert when the budget is spent ("" otherwise).
func (b *thinkBudget) push(piece []byte) string {
	if b.limit < 0 {
		return "" // no copy of the piece in the token loop without a budget
	}
	inside := b.close != ""
	b.scan(string(piece))
	if !inside || b.close == "" {
		return ""
	}
	b.used++
	if b.used < b.limit {
		return ""
	}
	c := b.close
	b.close, b.tail = "", ""
	return c
}
