package ui

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"natter/engine/api"
	"natter/prompts/grammar"
)

// formatMsg carries a schema or grammar read from disk by a command (no
// I/O in Update).
type formatMsg struct {
	f   *grammar.Format
	err error
}

// setFormat handles /set json|schema|grammar VALUE; rest is the whole value
// (an inline schema has spaces).
func setFormat(m *Model, key, rest string) tea.Cmd {
	if m.cur != nil {
		m.errLine = "/set " + key + ": wait for the reply to finish (Esc stops it)."
		return nil
	}
	switch v := strings.TrimSpace(rest); {
	case v == "off" || v == "none" || key == "json" && v == "false":
		if m.format == nil {
			m.addNote("No reply format is set: replies are free text.")
			return nil
		}
		m.format = nil
		m.addNote("Reply format off: replies are free text again.")
		return nil
	case v == "":
		m.badInput("Usage: /set " + key + " " + map[string]string{"json": "on|off", "schema": "FILE|{inline JSON}|off", "grammar": "FILE.gbnf|off"}[key])
		return nil
	case key == "json":
		if v != "on" && v != "true" {
			m.badInput("/set json: want on or off")
			return nil
		}
		return func() tea.Msg { return formatMsg{f: grammar.JSONFormat()} }
	case key == "schema":
		return func() tea.Msg {
			f, err := grammar.SchemaFormat(v)
			return formatMsg{f, err}
		}
	default:
		return func() tea.Msg {
			f, err := grammar.GrammarFormat(v)
			return formatMsg{f, err}
		}
	}
}

func (m *Model) applyFormatMsg(msg formatMsg) {
	if msg.err != nil {
		m.errLine = "/set: " + oneLine(msg.err.Error())
		return
	}
	m.format = msg.f
	note := "Replies are now " + msg.f.String() + ", constrained token by token and checked when done (/set " + formatKey(msg.f) + " off to stop)."
	// The grammar holds from the first token, so thinking would be
	// constrained instead of the answer.
	if th, ok := m.gen.(Thinker); ok && th.Thinking() != "off" {
		if err := th.SetThinking(false); err == nil {
			note += " Thinking is off for it (/think on would put the grammar on the thoughts)."
		}
	}
	m.addNote(note)
}

func formatKey(f *grammar.Format) string {
	switch f.Kind {
	case "json":
		return "json"
	case "json-schema":
		return "schema"
	}
	return "grammar"
}

// applyFormat puts the chat's reply format on a request.
func (m *Model) applyFormat(req *api.Request) {
	if m.format != nil {
		req.Grammar, req.JSONSchema = m.format.GBNF, m.format.Schema
	}
}

// checkFormat validates a finished reply against the format it was asked
// in; the result is a footer addition ("" when fine).
func checkFormat(f *grammar.Format, content string, stats *api.Stats) string {
	if f == nil {
		return ""
	}
	err := f.Check(content)
	if err == nil {
		return ""
	}
	msg := "⚠ " + oneLine(err.Error())
	if stats != nil && stats.StopReason == api.StopMaxTokens {
		msg += " (cut at max tokens: /set max-tokens N)"
	}
	return msg
}
