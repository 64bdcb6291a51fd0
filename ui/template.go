package ui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"natter/prompts"
)

// TemplateSource is a Generator that formats with a chat template of its
// own (main's template chain); /template describes it.
type TemplateSource interface {
	ChatTemplate() prompts.ChatTemplate
}

// pager is a scrollable read-only overlay (/template).
type pager struct {
	title string
	text  string
	top   int

	width int // lines wrapped at
	lines []string
}

func (p *pager) wrapped(w int) []string {
	if p.lines == nil || p.width != w {
		p.lines = wrapLines(p.text, w)
		p.width = w
	}
	return p.lines
}

func cmdTemplate(m *Model, _ string) tea.Cmd {
	t := m.templateChain()
	if t == nil {
		if m.gen == nil {
			m.errLine = "No model is loaded: use /model PATH."
			return nil
		}
		used := "not known yet"
		if m.last != nil && m.last.Template != "" {
			used = m.last.Template
		}
		m.addNote("The engine formats prompts itself (template: " + used + "); there is no source to show.")
		return nil
	}
	info := prompts.DescribeTemplate(t)
	last := ""
	if m.last != nil {
		last = m.last.Template
	}
	title := "Chat template · " + info.Name
	if info.InUse != "" && info.InUse != info.Name {
		title = "Chat template · in use: " + info.InUse
	}
	m.pager = &pager{title: title, text: templateText(info, last)}
	m.overlay = "pager"
	return nil
}

// templateText lays out a template's description and source for the pager.
func templateText(info prompts.TemplateInfo, last string) string {
	var b strings.Builder
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-13s %s\n", k, cleanText(v))
		}
	}
	row("template", info.Name)
	row("from", info.Origin)
	row("file", info.Path)
	inUse := info.InUse
	if inUse == "" {
		inUse = last
	}
	if inUse == "" {
		inUse = "(no prompt rendered yet)"
	}
	row("last prompt", inUse)
	if inUse != info.Name && !strings.HasPrefix(inUse, "(") {
		row("shown", "the source of "+info.Name+" (the template in use has no Jinja source)")
	}
	row("fell back", info.FallbackReason)
	if info.ReloadError != "" {
		row("broken edit", info.ReloadError+" (the last good version stays in use)")
	}
	b.WriteString("\n")
	if info.Source == "" {
		b.WriteString("(this formatter is compiled into llama.cpp and has no Jinja source)")
	} else {
		b.WriteString(strings.TrimRight(cleanText(info.Source), "\n"))
	}
	return b.String()
}

// pagerKey scrolls or closes the pager.
func (m Model) pagerKey(key string) (tea.Model, tea.Cmd) {
	p := m.pager
	page := max(m.pagerRoom()-1, 1)
	switch key {
	case "esc", "q", "enter":
		m.overlay, m.pager = "", nil
		return m, nil
	case "up", "k":
		p.top--
	case "down", "j":
		p.top++
	case "pgup", "b":
		p.top -= page
	case "pgdown", "space", " ", "f":
		p.top += page
	case "home", "g":
		p.top = 0
	case "end", "G":
		p.top = 1 << 30
	}
	m.clampPager()
	return m, nil
}

func (m Model) pagerInner() int { return max(min(m.width, 120)-4, 20) }

// pagerRoom is how many text lines fit: the box borders, a title and a
// hint line, the status line and the blank line above (inline) take the
// rest.
func (m Model) pagerRoom() int { return max(m.overlayHeight()-6, 1) }

func (m Model) clampPager() {
	p := m.pager
	n := len(p.wrapped(m.pagerInner()))
	p.top = max(min(p.top, n-m.pagerRoom()), 0)
}

func (m Model) pagerView() string {
	p := m.pager
	inner := m.pagerInner()
	lines := p.wrapped(inner)
	room := m.pagerRoom()
	m.clampPager()
	end := min(p.top+room, len(lines))
	out := []string{m.st.accent.Render(ansi.Truncate(cleanText(p.title), inner, "…"))}
	for _, l := range lines[p.top:end] {
		out = append(out, ansi.Truncate(l, inner, "…"))
	}
	hint := "esc closes"
	if len(lines) > room {
		hint = fmt.Sprintf("lines %d–%d of %d · ↑↓ pgup pgdn scroll · esc closes", p.top+1, end, len(lines))
	}
	out = append(out, m.st.dim.Render(ansi.Truncate(hint, inner, "…")))
	return m.boxed(out, inner)
}

// boxed draws lines in the overlay box, cut to the window width.
func (m Model) boxed(lines []string, inner int) string {
	box := m.st.box.Width(inner + 4).Render(strings.Join(lines, "\n"))
	out := strings.Split(box, "\n")
	for i, l := range out {
		out[i] = ansi.Truncate(l, m.width, "")
	}
	return strings.Join(out, "\n")
}
