package ui

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"natter/prompts"
)

// chatPicker is the /history overlay: a query and the chats matching it.
type chatPicker struct {
	query   string
	items   []ChatSummary
	sel     int
	seq     int // of the last search sent; older answers are dropped
	loading bool
	err     string
}

type (
	chatsFoundMsg struct {
		seq   int
		items []ChatSummary
		err   error
	}
	chatResumedMsg struct {
		id   int64
		chat *SavedChat
		err  error
	}
)

const pickerLimit = 200

func (m *Model) noHistory() bool {
	if m.cfg.History == nil {
		m.errLine = "History is off in this chat (--no-save or NATTER_NO_HISTORY)."
		return true
	}
	return false
}

func cmdHistory(m *Model, arg string) tea.Cmd {
	if m.noHistory() {
		return nil
	}
	m.picker = &chatPicker{query: arg}
	return m.findChats()
}

// findChats searches for the picker's query.
func (m *Model) findChats() tea.Cmd {
	p := m.picker
	p.seq++
	p.loading = true
	seq, q, h, ctx := p.seq, p.query, m.cfg.History, m.baseCtx
	return func() tea.Msg {
		items, err := h.FindChats(ctx, q, pickerLimit)
		return chatsFoundMsg{seq: seq, items: items, err: err}
	}
}

func (m Model) handleChatsFound(msg chatsFoundMsg) (tea.Model, tea.Cmd) {
	p := m.picker
	if p == nil || msg.seq != p.seq {
		return m, nil
	}
	p.loading = false
	p.err = ""
	if msg.err != nil {
		p.err = oneLine(msg.err.Error())
	}
	p.items = msg.items
	p.sel = min(p.sel, max(len(p.items)-1, 0))
	return m, nil
}

func (m Model) pickerKey(k tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	p := m.picker
	switch key := k.String(); key {
	case "esc":
		m.picker = nil
		return m, nil
	case "up", "ctrl+p":
		p.sel = max(p.sel-1, 0)
	case "down", "ctrl+n":
		p.sel = min(p.sel+1, max(len(p.items)-1, 0))
	case "pgup":
		p.sel = max(p.sel-m.pickerRoom(), 0)
	case "pgdown":
		p.sel = min(p.sel+m.pickerRoom(), max(len(p.items)-1, 0))
	case "enter":
		if len(p.items) == 0 {
			return m, nil
		}
		id := p.items[p.sel].ID
		m.picker = nil
		return m, m.resumeChat(id)
	case "backspace":
		if p.query != "" {
			_, n := utf8.DecodeLastRuneInString(p.query)
			p.query = p.query[:len(p.query)-n]
			p.sel = 0
			return m, m.findChats()
		}
	case "ctrl+u":
		p.query, p.sel = "", 0
		return m, m.findChats()
	case "ctrl+c":
		m.picker = nil
		return m, nil
	default:
		if k.Text != "" && !strings.ContainsFunc(k.Text, isControl) && utf8.RuneCountInString(p.query) < 200 {
			p.query += k.Text
			p.sel = 0
			return m, m.findChats()
		}
	}
	return m, nil
}

// pickerRoom is how many chats fit: box borders, title, search line, a
// hint and the status line take the rest.
func (m Model) pickerRoom() int { return max(m.overlayHeight()-6, 1) }

func (m Model) pickerView() string {
	p := m.picker
	inner := max(min(m.width, 120)-4, 20)
	out := []string{m.st.accent.Render("History") + m.st.dim.Render("  type to search · ↑↓ · enter resumes · esc closes")}
	out = append(out, m.st.key.Render("search: ")+cleanText(p.query)+"█")
	room := m.pickerRoom()
	switch {
	case p.err != "":
		out = append(out, m.st.errS.Render("✗ "+p.err))
	case len(p.items) == 0 && p.loading:
		out = append(out, m.st.dim.Render("  searching…"))
	case len(p.items) == 0 && p.query != "":
		out = append(out, m.st.dim.Render("  no saved chat matches"))
	case len(p.items) == 0:
		out = append(out, m.st.dim.Render("  no saved chats yet"))
	}
	top := max(min(p.sel-room/2, len(p.items)-room), 0)
	for i := top; i < len(p.items) && i < top+room; i++ {
		c := p.items[i]
		title := c.Title
		if title == "" {
			title = "(untitled)"
		}
		var meta []string
		for _, s := range []string{c.Model, c.Persona} {
			if s != "" {
				meta = append(meta, s)
			}
		}
		if !c.Updated.IsZero() {
			meta = append(meta, c.Updated.Local().Format("Jan 2 15:04"))
		}
		meta = append(meta, fmt.Sprintf("%d msgs", c.Messages))
		metaS := "  " + strings.Join(meta, " · ")
		head := fmt.Sprintf("#%-5d ", c.ID)
		tw := max(inner-2-ansi.StringWidth(head)-ansi.StringWidth(metaS), 8)
		line := head + ansi.Truncate(oneLine(title), tw, "…")
		if i == p.sel {
			out = append(out, ansi.Truncate(m.st.accent.Render("› "+line)+m.st.dim.Render(metaS), inner, "…"))
		} else {
			out = append(out, ansi.Truncate("  "+line+m.st.dim.Render(metaS), inner, "…"))
		}
	}
	return m.boxed(out, inner)
}

// resumeChat switches to a saved chat. The switch runs on the recorder's
// goroutine so it lands after everything already queued for the old chat.
func (m *Model) resumeChat(id int64) tea.Cmd {
	if m.noHistory() || m.busyStreaming() {
		return nil
	}
	h, ctx := m.cfg.History, m.baseCtx
	ch := make(chan chatResumedMsg, 1)
	run := func() {
		c, err := h.Resume(ctx, id)
		ch <- chatResumedMsg{id: id, chat: c, err: err}
	}
	if m.rec != nil {
		m.rec.do(func(Recorder) error { run(); return nil })
	} else {
		go run()
	}
	m.busy = fmt.Sprintf("opening chat #%d…", id)
	return func() tea.Msg { return <-ch }
}

func (m Model) handleChatResumed(msg chatResumedMsg) (tea.Model, tea.Cmd) {
	m.busy = ""
	if msg.err != nil || msg.chat == nil {
		err := msg.err
		if err == nil {
			err = fmt.Errorf("no chat returned")
		}
		m.errLine = fmt.Sprintf("/resume %d: %s", msg.id, oneLine(err.Error()))
		return m, nil
	}
	c := msg.chat
	m.system, m.msgs, m.last, m.persona = "", nil, nil, c.Persona
	m.compact, m.dropped, m.sentReq = nil, 0, nil
	for _, x := range c.Messages {
		if x.Role == prompts.RoleSystem && len(m.msgs) == 0 && m.system == "" {
			m.system = x.Content
			continue
		}
		m.msgs = append(m.msgs, x)
	}
	m.title = c.Title
	title := c.Title
	if title == "" {
		title = "(untitled)"
	}
	if m.fullscreen {
		m.entries = m.entries[:0]
		m.addEntry(&entry{kind: entryBanner})
		m.follow = true
	}
	m.addNote(fmt.Sprintf("── resumed chat #%d · %s ──", c.ID, oneLine(title)))
	if c.Sampling != nil && *c.Sampling != m.sampling {
		m.sampling = *c.Sampling
		m.addNote("Its settings are back: " + m.settingsText())
	}
	for _, e := range m.modelChangedNotes(c.Model) {
		m.addEntry(e)
	}
	for _, x := range m.msgs {
		switch x.Role {
		case prompts.RoleUser:
			m.addEntry(&entry{kind: entryUser, text: userText(x)})
		case prompts.RoleAssistant:
			e := m.finishedAssistant(x.Content, x.Reasoning, "")
			m.addEntry(e)
		}
	}
	if c.Note != "" {
		m.addNote(c.Note)
	}
	return m, m.flushPrints()
}

func cmdResume(m *Model, arg string) tea.Cmd {
	if m.noHistory() {
		return nil
	}
	if arg == "" {
		return cmdHistory(m, "")
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(arg, "#"), 10, 64)
	if err != nil || id <= 0 {
		m.badInput(fmt.Sprintf("/resume: %q is not a chat number (see /history).", arg))
		return nil
	}
	return m.resumeChat(id)
}

func cmdRename(m *Model, arg string) tea.Cmd {
	if m.noHistory() {
		return nil
	}
	title := strings.TrimSpace(cleanText(arg))
	if title == "" {
		m.badInput("Usage: /rename TITLE")
		return nil
	}
	h := m.cfg.History
	m.title = title
	m.notice = fmt.Sprintf("Renamed this chat to “%s”.", title)
	if m.rec != nil {
		m.record(func(Recorder) error { return h.Rename(title) })
		return nil
	}
	return func() tea.Msg {
		if err := h.Rename(title); err != nil {
			return errMsg{fmt.Errorf("/rename: %w", err)}
		}
		return nil
	}
}
