package ui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"natter/engine/api"
	"natter/prompts"
)

// Template checks: how the chat is formatted is invisible until a reply
// comes out wrong, so the chat says so up front when the model has no chat
// template (a fallback format is used) and when the template leaves the
// system prompt out (a persona would silently do nothing).

type templateCheckMsg struct {
	gen   api.Generator
	notes []string
}

// systemProbe stands for the system prompt when checking that the template
// keeps it (the real text might be changed by the template, e.g. trimmed).
const systemProbe = "natter-system-prompt-probe"

// checkTemplate renders a tiny conversation with the model's template, in
// a command (rendering may run a Jinja template). withModel adds the
// no-template check (after /model; not after /system).
func (m *Model) checkTemplate(withModel bool) tea.Cmd {
	notes := m.templateNotes(withModel)
	if notes == nil {
		return nil
	}
	gen := m.gen
	return func() tea.Msg { return templateCheckMsg{gen: gen, notes: notes()} }
}

// templateNotes returns the check, to run off the Update goroutine (or in
// New, so the opening notes go out with the opening print: a print racing
// the first ones can be drawn over).
func (m *Model) templateNotes(withModel bool) func() []string {
	if m.gen == nil || (!withModel && m.system == "") {
		return nil
	}
	gen, info, name := m.gen, m.info, m.modelName()
	hasSystem, who := m.system != "", "the system prompt"
	if m.persona != "" {
		who = "persona " + m.persona
	}
	var msgs []prompts.Message
	if hasSystem {
		msgs = append(msgs, prompts.Message{Role: prompts.RoleSystem, Content: systemProbe})
	}
	msgs = append(msgs, prompts.Message{Role: prompts.RoleUser, Content: "hi"})
	req := api.Request{Messages: msgs, Template: m.cfg.Template, Sampling: m.sampling}
	return func() []string {
		text, tmpl, err := gen.RenderPrompt(req)
		if err != nil {
			return nil // the first message reports it
		}
		var notes []string
		if withModel && info.ChatTemplate == "" && !strings.HasPrefix(tmpl, "user:") && !strings.HasPrefix(tmpl, "file:") {
			notes = append(notes, fmt.Sprintf("⚠ %s has no chat template, so chats are formatted with %s. "+
				"A base model (not tuned for chat) does better with plain completion: natter ask --raw \"Once upon a time\". "+
				"To use a template, pass --chat-template NAME or FILE.jinja.", name, tmpl))
		}
		if hasSystem && !strings.Contains(text, systemProbe) {
			notes = append(notes, fmt.Sprintf("⚠ The chat template %s leaves the system prompt out, so %s has no effect. "+
				"Use a template that keeps system messages (--chat-template NAME or FILE.jinja), or put the instructions in your first message.",
				shortTemplate(tmpl), who))
		}
		return notes
	}
}

func (m Model) handleTemplateCheck(msg templateCheckMsg) (tea.Model, tea.Cmd) {
	if msg.gen != m.gen {
		return m, nil // another model was loaded meanwhile
	}
	for _, n := range msg.notes {
		m.addNote(n)
	}
	m.noteFallback() // the check's render may have fallen back
	return m, m.flushPrints()
}

// templateChain is the template prompts go through: the configured one,
// else the one the generator describes (nil when the engine formats
// prompts itself).
func (m *Model) templateChain() prompts.ChatTemplate {
	if m.cfg.Template != nil {
		return m.cfg.Template
	}
	if ts, ok := m.gen.(TemplateSource); ok {
		return ts.ChatTemplate()
	}
	return nil
}

const fallbackPrefix = "⚠ The chat template "

// fallbackNote says that the last prompt did not come from the chain's
// first template, and why: a reply formatted another way than the model
// expects reads as a worse model, so the chat says so ("" when the first
// template worked).
func fallbackNote(t prompts.ChatTemplate) string {
	c, ok := t.(*prompts.Chain)
	if !ok || c.FallbackReason() == nil || c.Used() == "" {
		return ""
	}
	first := c.Name()
	if list := c.Templates(); len(list) > 0 {
		first = list[0].Name()
	}
	why := oneLine(c.FallbackReason().Error())
	if r := []rune(why); len(r) > 240 {
		why = string(r[:239]) + "…"
	}
	return fmt.Sprintf("%s%s failed (%s), so prompts are formatted with %s instead; /template shows both.",
		fallbackPrefix, first, why, c.Used())
}

// noteFallback adds the fallback note after a render, once per reason.
func (m *Model) noteFallback() {
	n := fallbackNote(m.templateChain())
	if n == "" || n == m.fallbackNoted {
		return
	}
	m.fallbackNoted = n
	m.addNote(n)
}

// modelChangedNotes: a resumed chat saved with another model says so and
// is recorded as going on with this one.
func (m *Model) modelChangedNotes(saved string) []*entry {
	now := m.modelName()
	if saved == "" || saved == now {
		return nil
	}
	m.recordSettings(func(r SettingsRecorder) error { return r.SetModel(now) })
	return []*entry{{kind: entryNote, text: fmt.Sprintf("This chat was saved with %s; it goes on with %s, so replies may differ (/model %s switches back).", saved, now, saved)}}
}

// recordSettings saves a setting when the Recorder keeps settings.
func (m *Model) recordSettings(op func(SettingsRecorder) error) {
	m.record(func(r Recorder) error {
		if sr, ok := r.(SettingsRecorder); ok {
			return op(sr)
		}
		return nil
	})
}
