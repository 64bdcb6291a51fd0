package ui

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"natter/prompts"
)

// LibraryPersonas serves /prompt NAME from a prompts.Library; vars gives
// User, OS and --var values (Model is filled in per call). flagsSet names
// the sampling flags given on the command line ("temp", "top-k", "top-p",
// "min-p", "repeat-penalty", "n" or "max-tokens"): a persona's own settings
// do not override those.
func LibraryPersonas(lib *prompts.Library, vars prompts.Vars, interval time.Duration, flagsSet map[string]bool) Personas {
	return libPersonas{lib: lib, vars: vars, interval: interval, set: flagsSet}
}

type libPersonas struct {
	lib      *prompts.Library
	vars     prompts.Vars
	interval time.Duration
	set      map[string]bool
}

// PersonaSampling is optionally implemented by Personas: a persona's own
// sampling settings, applied when the user switches to it.
type PersonaSampling interface {
	Sampling(name string) prompts.SamplingOverrides
}

func (p libPersonas) Sampling(name string) prompts.SamplingOverrides {
	pr, ok := p.lib.Get(name)
	if !ok {
		return prompts.SamplingOverrides{}
	}
	o := pr.Sampling
	if p.set["temp"] {
		o.Temperature = nil
	}
	if p.set["top-k"] {
		o.TopK = nil
	}
	if p.set["top-p"] {
		o.TopP = nil
	}
	if p.set["min-p"] {
		o.MinP = nil
	}
	if p.set["repeat-penalty"] {
		o.RepeatPenalty = nil
	}
	if p.set["n"] || p.set["max-tokens"] {
		o.MaxTokens = nil
	}
	return o
}

// applySampling applies a persona's settings and says which changed.
func (m *Model) applySampling(o prompts.SamplingOverrides) string {
	var changed []string
	s := m.sampling
	if o.Temperature != nil && *o.Temperature != s.Temperature {
		s.Temperature = *o.Temperature
		changed = append(changed, fmt.Sprintf("temp %g", s.Temperature))
	}
	if o.TopK != nil && *o.TopK != s.TopK {
		s.TopK = *o.TopK
		changed = append(changed, fmt.Sprintf("top-k %d", s.TopK))
	}
	if o.TopP != nil && *o.TopP != s.TopP {
		s.TopP = *o.TopP
		changed = append(changed, fmt.Sprintf("top-p %g", s.TopP))
	}
	if o.MinP != nil && *o.MinP != s.MinP {
		s.MinP = *o.MinP
		changed = append(changed, fmt.Sprintf("min-p %g", s.MinP))
	}
	if o.RepeatPenalty != nil && *o.RepeatPenalty != s.RepeatPenalty {
		s.RepeatPenalty = *o.RepeatPenalty
		changed = append(changed, fmt.Sprintf("repeat-penalty %g", s.RepeatPenalty))
	}
	if o.MaxTokens != nil && *o.MaxTokens != m.maxTokens {
		m.maxTokens = *o.MaxTokens
		changed = append(changed, fmt.Sprintf("max-tokens %d", m.maxTokens))
	}
	m.sampling = s
	return strings.Join(changed, " · ")
}

func (p libPersonas) Names() []string { return p.lib.Names() }

func (p libPersonas) SystemPrompt(name, model string) (string, error) {
	v := p.vars
	v.Model = model
	text, _, err := p.lib.SystemPrompt(name, v)
	return text, err
}

func (p libPersonas) Watch(ctx context.Context, onChange func(error)) {
	p.lib.Watch(ctx, p.interval, onChange)
}

type (
	personasChangedMsg struct{ err error }
	personaMsg         struct {
		name, text string
		reload     bool
		err        error
	}
)

// startPersonaWatch runs Personas.Watch for the life of the chat; changes
// arrive through personaCh, the latest one winning.
func (m Model) startPersonaWatch() tea.Cmd {
	p, ch, ctx := m.cfg.Personas, m.personaCh, m.baseCtx
	return func() tea.Msg {
		go p.Watch(ctx, func(err error) {
			for {
				select {
				case ch <- err:
					return
				default:
				}
				select {
				case old := <-ch:
					if err == nil {
						err = old // keep a pending error visible
					}
				default:
				}
			}
		})
		return nil
	}
}

func (m Model) waitPersonas() tea.Cmd {
	ch, ctx := m.personaCh, m.baseCtx
	return func() tea.Msg {
		select {
		case err := <-ch:
			return personasChangedMsg{err}
		case <-ctx.Done():
			return nil
		}
	}
}

func (m Model) handlePersonasChanged(msg personasChangedMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		m.errLine = "persona file broken, keeping its last good version: " + oneLine(msg.err.Error())
	}
	cmds := []tea.Cmd{m.waitPersonas()}
	if m.persona != "" {
		cmds = append(cmds, m.renderPersona(m.persona, true))
	}
	return m, tea.Batch(cmds...)
}

func (m Model) renderPersona(name string, reload bool) tea.Cmd {
	p, model := m.cfg.Personas, m.modelName()
	return func() tea.Msg {
		text, err := p.SystemPrompt(name, model)
		return personaMsg{name: name, text: text, reload: reload, err: err}
	}
}

// cmdPersona switches to a named persona (/prompt NAME).
func cmdPersona(m *Model, name string) tea.Cmd {
	if m.cfg.Personas == nil {
		m.errLine = "/prompt NAME: no persona library is available here."
		return nil
	}
	if m.busyStreaming() {
		return nil
	}
	names := m.cfg.Personas.Names()
	if !slices.Contains(names, name) {
		// Said at once, so the mistyped command stays in the input.
		m.badInput(fmt.Sprintf("/prompt: no persona named %q (available: %s)", name, strings.Join(names, ", ")))
		return nil
	}
	return m.renderPersona(name, false)
}

func (m Model) handlePersona(msg personaMsg) (tea.Model, tea.Cmd) {
	if msg.reload && msg.name != m.persona {
		return m, nil // switched persona meanwhile
	}
	if msg.err != nil {
		if msg.reload {
			m.errLine = fmt.Sprintf("persona %s: %s (keeping the last good version)", msg.name, oneLine(msg.err.Error()))
		} else {
			m.errLine = "/prompt: " + oneLine(msg.err.Error())
		}
		return m, nil
	}
	if msg.reload && msg.text == m.system {
		return m, nil
	}
	if m.cur != nil && !msg.reload {
		m.errLine = "A reply started meanwhile: /prompt " + msg.name + " again once it ends."
		return m, nil
	}
	if m.cur != nil {
		// A reply is streaming: the edit applies from the next message.
		m.system = msg.text
		sys, persona := m.system, m.persona
		m.record(func(r Recorder) error { return r.SetSystem(sys, persona) })
		m.notice = fmt.Sprintf("Persona %s changed on disk; the next message uses it.", msg.name)
		return m, nil
	}
	m.persona = msg.name
	label := fmt.Sprintf("Persona %s: system prompt set.", msg.name)
	if ps, ok := m.cfg.Personas.(PersonaSampling); ok && !msg.reload {
		if c := m.applySampling(ps.Sampling(msg.name)); c != "" {
			label = fmt.Sprintf("Persona %s: system prompt set; its settings: %s.", msg.name, c)
		}
	}
	if msg.reload {
		label = fmt.Sprintf("Persona %s changed on disk: system prompt updated.", msg.name)
	}
	cmd := m.setSystem(msg.text, label)
	return m, tea.Batch(cmd, m.flushPrints())
}

// personaNames lists personas starting with prefix.
func (m Model) personaNames(prefix string) []string {
	if m.cfg.Personas == nil {
		return nil
	}
	var out []string
	for _, n := range m.cfg.Personas.Names() {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}
