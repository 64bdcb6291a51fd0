package ui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"natter/engine/api"
	"natter/prompts"
)

// The context policy, the same for a live chat and a resumed one: every
// prompt carries the system prompt and as many of the latest turns as fit
// (the engine leaves out the oldest whole turns, keeping room for the
// reply); the chat says which turns went, once, when that changes. A reply
// that fills the window stops with a note and the chat goes on. /compact
// puts a summary written by the model in place of the older turns: the
// transcript and the saved chat keep them, only the prompts change.

// compaction: prompts carry a summary in place of msgs[:upto].
type compaction struct {
	upto    int
	last    prompts.Message // msgs[upto-1] when summarized (an /undo past it ends the summary)
	summary string
}

// compactInstruction asks the model for the summary; it stays in the
// prompt before the summary, as the model saw it.
const compactInstruction = "Summarize our conversation so far in one short paragraph: the facts, names, decisions and open questions needed to go on. Reply with the summary only."

// conversation is the messages the next prompt carries after the system
// prompt: the summary (when valid) and the turns after it.
func (m Model) conversation() []prompts.Message {
	c := m.compact
	if c == nil || c.upto > len(m.msgs) || !m.msgs[c.upto-1].Equal(c.last) {
		return m.msgs
	}
	out := []prompts.Message{
		{Role: prompts.RoleUser, Content: compactInstruction},
		{Role: prompts.RoleAssistant, Content: c.summary},
	}
	return append(out, m.msgs[c.upto:]...)
}

func cmdCompact(m *Model, _ string) tea.Cmd {
	if m.busyStreaming() {
		return nil
	}
	if m.gen == nil {
		m.errLine = "No model is loaded: use /model PATH."
		return nil
	}
	// The latest exchange stays word for word; everything before it is
	// summarized (with an earlier summary, that summary and what followed).
	k := len(m.msgs) - 1
	for k >= 0 && m.msgs[k].Role != prompts.RoleUser {
		k--
	}
	if c := m.compact; k <= 0 || c != nil && m.conversationValid() && k <= c.upto {
		m.errLine = "Nothing to compact yet: /compact summarizes the turns before the latest one."
		return nil
	}
	req := m.request()
	var conv []prompts.Message
	if m.system != "" {
		conv = append(conv, prompts.Message{Role: prompts.RoleSystem, Content: m.system})
	}
	keep := len(m.msgs) - k // messages after the summary
	all := m.conversation()
	conv = append(conv, all[:len(all)-keep]...)
	conv = append(conv, prompts.Message{Role: prompts.RoleUser, Content: compactInstruction})
	req.Messages = conv
	room := m.info.ContextSize / 4
	req.MaxTokens = min(max(room, 64), 512)
	turns := 0
	for _, x := range m.msgs[:k] {
		if x.Role == prompts.RoleUser {
			turns++
		}
	}
	m.addNote(fmt.Sprintf("⇣ summarizing the %s before the latest with the model…", numbered(turns, "turn", "turns")))
	cmd := m.startGenWith(req)
	m.cur.compactUpto = k
	return cmd
}

func (m Model) conversationValid() bool {
	c := m.compact
	return c != nil && c.upto <= len(m.msgs) && m.msgs[c.upto-1].Equal(c.last)
}

// finishCompaction ends a /compact reply: a summary replaces the older
// turns in the prompts from now on.
func (m *Model) finishCompaction(r *reply, content string, stats *api.Stats, footer string) {
	summary := strings.TrimSpace(content)
	ok := summary != "" && !r.stopped && r.compactUpto <= len(m.msgs) && (stats == nil || stats.StopReason == api.StopEOG || stats.StopReason == api.StopMaxTokens)
	if stats != nil {
		m.last = stats
	}
	m.flushReply(r, true)
	if ok {
		m.compact = &compaction{upto: r.compactUpto, last: m.msgs[r.compactUpto-1], summary: summary}
		m.dropped = 0
		footer = fmt.Sprintf("summary of %s: the next prompts carry it in their place (the transcript and the saved chat keep them)",
			numbered(r.compactUpto, "message", "messages"))
		if stats != nil && stats.DroppedTurns > 0 {
			if stats.DroppedTurns == 1 {
				footer += " · the oldest turn did not fit the window, so the summary leaves it out"
			} else {
				footer += fmt.Sprintf(" · the oldest %s turns did not fit the window, so the summary leaves them out", commas(stats.DroppedTurns))
			}
		}
	} else if footer == "" || footer == "stopped" {
		footer = "no summary: the conversation is unchanged"
	} else {
		footer += " · no summary: the conversation is unchanged"
	}
	e := &entry{kind: entryAssistant, text: content, blocks: r.doc.blocks, footer: footer}
	if !m.fullscreen {
		m.enqueuePrint("\n" + m.footerLine(footer))
	}
	m.entries = append(m.entries, e)
}

// contextFullFooter explains a reply that filled the context window.
func (m *Model) contextFullFooter(stats *api.Stats, sent []prompts.Message) string {
	size := stats.ContextSize
	if size == 0 {
		size = m.info.ContextSize
	}
	if stats.PromptTokens <= size/4 || !hasOlderTurn(sent) {
		return fmt.Sprintf("stopped: this reply alone filled the %s-token context window · the chat goes on (--ctx N gives more room, /set max-tokens N shorter replies)", commas(size))
	}
	return fmt.Sprintf("stopped: the %s-token context window is full · the chat goes on: the next prompt leaves out the oldest turns (/compact summarizes them instead)", commas(size))
}

// hasOlderTurn: a turn stands before the last user message.
func hasOlderTurn(msgs []prompts.Message) bool {
	users := 0
	for _, x := range msgs {
		if x.Role == prompts.RoleUser {
			users++
		}
	}
	return users > 1
}

// droppedNote says which turns the prompt left out, when that changed.
func (m *Model) droppedNote(stats *api.Stats, sent []prompts.Message) {
	if stats == nil {
		return
	}
	d := stats.DroppedTurns
	if d == m.dropped {
		return
	}
	m.dropped = d
	if d == 0 {
		return
	}
	// The engine drops whole turns from the front, system messages kept:
	// name the first and last of them by their opening words.
	var firsts []string
	for _, x := range sent {
		if x.Role == prompts.RoleUser && len(firsts) < d {
			firsts = append(firsts, x.Content)
		}
	}
	which := ""
	if len(firsts) > 0 {
		if m.compact != nil && firsts[0] == compactInstruction {
			firsts[0] = "the /compact summary"
		} else {
			firsts[0] = "“" + titleFrom(firsts[0]) + "”"
		}
		which = " (" + firsts[0]
		if n := len(firsts); n > 1 {
			which += " … “" + titleFrom(firsts[n-1]) + "”"
		}
		which += ")"
	}
	what, verbs := "The oldest turn", "no longer fits the context window and was"
	if d > 1 {
		what, verbs = "The oldest "+commas(d)+" turns", "no longer fit the context window and were"
	}
	m.addNote(fmt.Sprintf("%s%s %s left out of the prompt; the system prompt and the latest turns are kept (/compact summarizes old turns instead).",
		what, which, verbs))
}

func numbered(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return commas(n) + " " + many
}
