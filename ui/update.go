package ui

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
	"unicode/utf8"

	"charm.land/bubbles/v2/textarea"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"natter/engine/api"
	"natter/internal/units"
	"natter/prompts"
	"natter/prompts/toolcall"
)

type (
	genStartMsg struct {
		id       int
		pump     *pump
		closeTag string
		err      error
	}
	printedMsg   struct{}
	repaintMsg   struct{ seq int }
	burstTickMsg struct{ seq int }
	ctxCountMsg  struct {
		seq, tokens int
		err         error
	}
	clearNoticeMsg struct{ at time.Time }
	editorReadyMsg struct {
		path string
		err  error
	}
	editorDoneMsg struct {
		path string
		err  error
	}
	editorTextMsg struct {
		text string
		err  error
	}
	noteMsg        struct{ text string }
	errMsg         struct{ err error }
	modelLoadedMsg struct {
		gen  api.Generator
		path string
		err  error
	}
	promptShownMsg struct {
		label      string
		text, tmpl string
		tokens     int
		err        error
	}
	systemCostMsg struct {
		label           string
		invalid, cached int
		err             error
	}
)

// Update is the single place where state changes.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m.reuseView = false
	m.updates++
	switch msg := msg.(type) {
	case burstTickMsg:
		return m.handleBurstTick(msg)
	case formatMsg:
		m.applyFormatMsg(msg)
		return m, nil
	case ctxCountMsg:
		if msg.seq == m.ctxSeq && msg.err == nil && m.cur == nil {
			m.ctxNow = msg.tokens
		}
		return m, nil
	case tea.WindowSizeMsg:
		oldWidth := m.width
		m.resize(msg.Width, msg.Height)
		if !m.opened {
			m.opened = true
			// resize has laid stored replies out again for the real width.
			for i, e := range m.entries {
				s := strings.Join(m.renderEntry(e), "\n")
				if i > 0 {
					s = "\n" + s
				}
				m.enqueuePrint(s)
			}
			return m, m.flushPrints()
		}
		if !m.fullscreen && msg.Width != oldWidth {
			m.repaintSeq++
			seq := m.repaintSeq
			return m, tea.Tick(repaintDelay, func(time.Time) tea.Msg { return repaintMsg{seq} })
		}
		return m, nil
	case repaintMsg:
		if msg.seq != m.repaintSeq || m.fullscreen || m.quitting {
			return m, nil
		}
		if m.printing {
			m.repaintWanted = true
			return m, nil
		}
		return m, m.repaint()
	case tea.BackgroundColorMsg:
		if !m.themeFixed {
			name := "light"
			if msg.IsDark() {
				name = "dark"
			}
			if name != m.themeName {
				m.themeName = name
				m.applyTheme()
			}
		}
		return m, nil
	case tea.KeyPressMsg:
		return m.handleKey(msg)
	case tea.PasteMsg:
		if m.picker != nil {
			// A paste into the history search is a query, on one line.
			q := strings.Join(strings.Fields(cleanText(msg.Content)), " ")
			if q != "" {
				m.picker.query += q
				return m, m.findChats()
			}
			return m, nil
		}
		m.handlePaste(msg.Content)
		return m, nil
	case tea.MouseWheelMsg:
		if m.fullscreen {
			switch msg.Button {
			case tea.MouseWheelUp:
				m.scrollBy(-3)
			case tea.MouseWheelDown:
				m.scrollBy(3)
			}
		}
		return m, nil
	case toolPreparedMsg:
		return m.handleToolPrepared(msg)
	case toolDoneMsg:
		return m.handleToolDone(msg)
	case toolTickMsg:
		if m.agent != nil && m.agent.await == awaitRun && msg.seq == m.tools.seq {
			return m, toolTick(msg.seq)
		}
		return m, nil
	case streamMsg:
		return m.handleStream(msg)
	case genStartMsg:
		return m.handleGenStart(msg)
	case printedMsg:
		m.printing = false
		if m.quitting && len(m.printQ) == 0 {
			return m, tea.Quit
		}
		if m.repaintWanted && !m.quitting {
			m.repaintWanted = false
			return m, m.repaint()
		}
		if m.redrawAfter && len(m.printQ) == 0 {
			// The frame sits below the reprinted transcript, where the
			// renderer now thinks it is, but what it drew there was erased:
			// draw it whole.
			m.redrawAfter = false
			return m, tea.Batch(tea.ClearScreen, m.flushPrints())
		}
		return m, m.flushPrints()
	case clearNoticeMsg:
		if m.quitArmed.Equal(msg.at) {
			m.quitArmed = time.Time{}
			m.notice = ""
		}
		return m, nil
	case editorReadyMsg:
		if msg.err != nil {
			m.errLine = "editor: " + msg.err.Error()
			return m, nil
		}
		return m, editorCmd(msg.path)
	case editorDoneMsg:
		return m, readEditorFile(msg)
	case editorTextMsg:
		if msg.err != nil {
			m.errLine = "editor: " + msg.err.Error()
			return m, nil
		}
		m.setInputText(strings.TrimRight(msg.text, "\n"))
		return m, nil
	case noteMsg:
		m.busy = ""
		m.addNote(msg.text)
		return m, m.flushPrints()
	case errMsg:
		m.busy = ""
		m.errLine = oneLine(msg.err.Error())
		return m, nil
	case recordErrMsg:
		m.errLine = "history: " + oneLine(msg.err.Error())
		return m, nil
	case modelLoadedMsg:
		return m.handleModelLoaded(msg)
	case loraMsg:
		return m.handleLora(msg)
	case attachMsg:
		return m.onAttach(msg)
	case pathCompleteMsg:
		return m.onPathComplete(msg)
	case promptShownMsg:
		return m.handlePromptShown(msg)
	case templateCheckMsg:
		return m.handleTemplateCheck(msg)
	case localModelsMsg:
		return m.handleLocalModels(msg)
	case personasChangedMsg:
		return m.handlePersonasChanged(msg)
	case personaMsg:
		return m.handlePersona(msg)
	case chatsFoundMsg:
		return m.handleChatsFound(msg)
	case chatResumedMsg:
		return m.handleChatResumed(msg)
	case pullProgressMsg:
		return m.handlePullProgress(msg)
	case pullWarnMsg:
		if msg.ps == m.pull {
			m.addNote("⚠ " + cleanText(msg.text))
			return m, tea.Batch(msg.ps.wait(), m.flushPrints())
		}
		return m, nil
	case pullDoneMsg:
		return m.handlePullDone(msg)
	case systemCostMsg:
		if msg.err != nil {
			m.addNote(msg.label)
		} else {
			m.addNote(fmt.Sprintf("%s This invalidates %s of %s cached tokens.", msg.label, commas(msg.invalid), commas(msg.cached)))
		}
		return m, m.flushPrints()
	}
	var cmd tea.Cmd
	*m.input, cmd = m.input.Update(msg)
	return m, cmd
}

func oneLine(s string) string {
	s = strings.TrimSpace(cleanText(s))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

func (m *Model) resize(w, h int) {
	if w <= 0 || h <= 0 {
		return
	}
	changed := w != m.width || m.md == nil
	m.width, m.height = w, h
	m.input.SetWidth(w)
	if changed {
		m.md = newMarkdown(w, m.mdStyle())
		if r := m.cur; r != nil {
			// The pieces of a long paragraph committed at the old width join
			// again, so the reply reflows whole; in inline mode only those not
			// yet in the scrollback, which the terminal owns.
			from := 0
			if !m.fullscreen {
				from = r.flushed
			}
			r.doc.blocks = append(r.doc.blocks[:from:from], joinCuts(r.doc.blocks[from:])...)
			r.doc.rerender(m.md)
		}
		for _, e := range m.entries {
			if e.kind == entryAssistant {
				d := streamDoc{md: m.md, blocks: joinCuts(e.blocks)}
				d.rerender(m.md)
				e.blocks = d.blocks
			}
			e.lines = nil
		}
	}
}

func (m Model) mdStyle() string {
	if m.themeName == "plain" {
		return "plain"
	}
	return m.themeName
}

func (m *Model) applyTheme() {
	m.st = newPalette(m.themeName)
	s := textarea.DefaultStyles(m.themeName != "light")
	if m.themeName == "plain" {
		s = textarea.Styles{}
		s.Focused.Placeholder = lipgloss.NewStyle().Faint(true)
		s.Blurred = s.Focused
	}
	s.Focused.CursorLine = lipgloss.NewStyle()
	s.Focused.Prompt = m.st.user
	s.Cursor.Blink = false
	m.input.SetStyles(s)
	m.md = nil
	m.resize(m.width, m.height)
}

// ---- keys ----

func (m Model) handleKey(k tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	key := k.String()
	if m.agent != nil && m.overlay == "" && m.picker == nil && m.agent.await != awaitReason && m.agent.await != awaitEdit {
		// A call waiting for y/a/n/e takes single keys before they could
		// become typed text.
		if nm, cmd, ok := m.toolKey(key); ok {
			return nm, cmd
		}
	}
	if text, ok := m.burstText(k, key); ok {
		return m.addToBurst(text)
	}
	if m.bursting() {
		// This key comes after the burst's text.
		cmd := m.endBurst()
		nm, cmd2 := m.handleKey(k)
		return nm, tea.Batch(cmd, cmd2)
	}
	if key != "ctrl+c" && !m.quitArmed.IsZero() {
		m.quitArmed, m.notice = time.Time{}, ""
	}
	if m.picker != nil {
		return m.pickerKey(k)
	}
	if m.agent != nil && m.overlay == "" {
		if nm, cmd, ok := m.toolKey(key); ok {
			return nm, cmd
		}
	}
	if m.overlay == "pager" && m.pager != nil && key != "ctrl+c" && key != "ctrl+d" {
		return m.pagerKey(key)
	}
	if m.showCatalog() && m.overlay == "" {
		if nm, cmd, ok := m.catalogKey(key); ok {
			return nm, cmd
		}
	}
	if m.overlay != "" {
		switch key {
		case "esc", "?", "q", "enter":
			m.overlay, m.pager = "", nil
			return m, nil
		case "up", "down", "pgup", "pgdown":
			n := len(m.helpLines(max(min(m.width, 100)-4, 20)))
			oh := m.overlayHeight()
			step := map[string]int{"up": -1, "down": 1, "pgup": -(oh - 6), "pgdown": oh - 6}[key]
			m.helpTop = min(max(m.helpTop+step, 0), max(n-(oh-5), 0))
			return m, nil
		case "ctrl+c", "ctrl+d":
		default:
			return m, nil
		}
	}
	switch key {
	case "ctrl+c":
		// Each press does the first of: stop the reply, clear the input,
		// quit if pressed within 2 s of the last press. Every press arms the
		// next one, so an empty input quits on the second press even during a
		// reply, and a typed draft costs one press more, as in shells.
		armed := !m.quitArmed.IsZero() && m.now().Sub(m.quitArmed) < 2*time.Second
		switch {
		case m.cur != nil:
			cmd := m.stop()
			note := "Stopped. Press Ctrl+C again to quit."
			if m.input.Value() != "" {
				note = "Stopped. Ctrl+C again clears the input."
			}
			return m, tea.Batch(cmd, m.armQuit(note))
		case m.input.Value() != "":
			m.clearInput()
			return m, m.armQuit("Input cleared (↑ brings it back). Press Ctrl+C again to quit.")
		case armed:
			return m, m.quit()
		}
		return m, m.armQuit("Press Ctrl+C again to quit.")
	case "esc":
		if m.cur != nil {
			return m, m.stop()
		}
		if m.errLine == "" && m.input.Value() != "" {
			m.clearInput()
			m.notice = "Input cleared (↑ brings it back)."
		}
		m.errLine = ""
		return m, nil
	case "backspace":
		// The input deletes one rune; a character made of several (a ZWJ
		// emoji, a flag, a letter with combining marks) goes whole.
		if n := m.runesBeforeCursor(); n > 1 {
			for range n {
				*m.input, _ = m.input.Update(k)
			}
			m.errLine = ""
			return m, nil
		}
	case "ctrl+u":
		if m.input.Value() != "" {
			m.clearInput()
			m.notice = "Input cleared (↑ brings it back)."
		}
		return m, nil
	case "ctrl+d":
		if m.input.Value() == "" {
			return m, m.quit()
		}
		return m, nil
	case "enter":
		return m.submit()
	case "tab":
		return m, m.complete()
	case "ctrl+z":
		return m, tea.Suspend
	case "ctrl+t":
		m.showThinking = !m.showThinking
		m.notice = "Reasoning hidden (Ctrl+T shows it)."
		if m.showThinking {
			m.notice = "Reasoning shown (Ctrl+T hides it)."
		}
		if !m.hasReasoning() {
			m.notice += " No reply in this chat has reasoning yet: only thinking models write it."
		}
		return m, nil
	case "ctrl+e":
		return m, openEditor(m.expandPastes(m.input.Value()))
	case "?":
		if m.input.Value() == "" {
			m.overlay, m.helpTop = "help", 0
			return m, nil
		}
	case "up":
		if m.onFirstLine() && m.histIdx > 0 {
			m.recall(m.histIdx - 1)
			return m, nil
		}
	case "down":
		if m.onLastLine() && m.histIdx < len(m.history) {
			m.recall(m.histIdx + 1)
			return m, nil
		}
	case "pgup", "pgdown":
		if m.fullscreen {
			step := max(m.transcriptHeight()-2, 1)
			if key == "pgup" {
				step = -step
			}
			m.scrollBy(step)
			return m, nil
		}
	case "home", "end":
		if m.fullscreen && m.input.Value() == "" {
			if key == "home" {
				m.follow, m.scrollTop = false, 0
			} else {
				m.follow = true
			}
			return m, nil
		}
	}
	m.errLine = ""
	var cmd tea.Cmd
	*m.input, cmd = m.input.Update(k)
	return m, cmd
}

// recall shows input history entry i (len(history): the unsent draft). What
// was typed or edited in the entry being left is kept, as readline does, so
// walking back down returns to the draft.
func (m *Model) recall(i int) {
	if m.histEdits == nil {
		m.histEdits = map[int]string{}
	}
	m.histEdits[m.histIdx] = m.input.Value()
	m.histIdx = i
	switch v, ok := m.histEdits[i]; {
	case ok:
		m.input.SetValue(v)
	case i < len(m.history):
		m.input.SetValue(m.history[i])
	default:
		m.input.Reset()
	}
}

// runesBeforeCursor is how many runes the character (grapheme cluster)
// before the cursor has.
func (m Model) runesBeforeCursor() int {
	rows := strings.Split(m.input.Value(), "\n")
	if m.input.Line() >= len(rows) {
		return 0
	}
	row := []rune(rows[m.input.Line()])
	rest := string(row[:min(m.input.Column(), len(row))])
	last := ""
	for rest != "" {
		c, _ := ansi.FirstGraphemeCluster(rest, ansi.GraphemeWidth)
		if c == "" {
			break
		}
		last, rest = c, rest[len(c):]
	}
	return utf8.RuneCountInString(last)
}

// hasReasoning reports whether any reply of the chat, or the one streaming,
// has reasoning for Ctrl+T to show or hide.
func (m Model) hasReasoning() bool {
	if r := m.cur; r != nil && (r.think.Len() > 0 || r.split.Thinking()) {
		return true
	}
	for _, e := range m.entries {
		if e.think != "" {
			return true
		}
	}
	return false
}

// recountContext measures, off the UI goroutine, how much of the context
// the conversation takes now that it was cut back (/undo, /edit): the status
// line would otherwise keep the figure of the last reply.
func (m *Model) recountContext() tea.Cmd {
	m.ctxSeq++
	m.ctxNow = -1
	if m.gen == nil {
		return nil
	}
	seq, gen, req := m.ctxSeq, m.gen, m.request()
	return func() tea.Msg {
		text, _, err := gen.RenderPrompt(req)
		if err != nil {
			return ctxCountMsg{seq: seq, err: err}
		}
		n, err := gen.CountTokens(text, true)
		return ctxCountMsg{seq: seq, tokens: n, err: err}
	}
}

// armQuit makes the next Ctrl+C within 2 s quit, saying so.
func (m *Model) armQuit(note string) tea.Cmd {
	at := m.now()
	m.quitArmed, m.notice = at, note
	return tea.Tick(2*time.Second, func(time.Time) tea.Msg { return clearNoticeMsg{at: at} })
}

// clearInput empties the input; the text goes into the input history so Up
// brings it back.
func (m *Model) clearInput() {
	m.remember(m.input.Value())
	m.input.Reset()
}

func (m Model) onFirstLine() bool {
	return m.input.Line() == 0 && m.input.LineInfo().RowOffset == 0
}

func (m Model) onLastLine() bool {
	li := m.input.LineInfo()
	return m.input.Line() == m.input.LineCount()-1 && li.RowOffset >= li.Height-1
}

func (m *Model) transcriptHeight() int {
	return max(m.height-len(m.bottom()), 1)
}

func (m *Model) scrollBy(n int) {
	h := m.transcriptHeight()
	total := m.transcript().count()
	top := m.scrollTop
	if m.follow {
		top = max(total-h, 0)
	}
	top = min(max(top+n, 0), max(total-h, 0))
	m.scrollTop = top
	m.follow = top >= total-h
}

// Typed text arrives in bursts. A terminal without bracketed paste sends a
// paste as keystrokes, thousands a second, and the input box costs time in
// its own size for every change, so text keys are gathered and reach the
// input together once no key has come for a tick (burstTick): then a burst
// is one insertion, and a large one becomes a paste placeholder. Enter and
// Tab within a burst are part of the pasted text (a newline, a tab), not a
// send or a completion: no one types Enter a few milliseconds after another
// key, a paste does it on every line. Only an Enter or Tab that ends a
// burst is a key press (send, complete): so "text⏎" written at once sends,
// and so does a paste that ends with a newline, as in any terminal program.
const burstTick = 10 * time.Millisecond

// burstText is the text key k adds to the current burst; ok is false for a
// key handled on its own.
func (m Model) burstText(k tea.KeyPressMsg, key string) (string, bool) {
	if m.picker != nil || m.overlay != "" || m.showCatalog() {
		return "", false
	}
	if m.bursting() {
		switch key {
		case "enter", "tab", "shift+enter", "alt+enter", "ctrl+j":
			return key, true
		}
	}
	if k.Text == "" || k.Mod&^tea.ModShift != 0 || strings.ContainsFunc(k.Text, isControl) {
		return "", false
	}
	if k.Text == "?" && !m.bursting() && m.input.Value() == "" {
		return "", false // opens the help
	}
	return k.Text, true
}

func (m Model) addToBurst(text string) (tea.Model, tea.Cmd) {
	// Nothing on screen changes until the burst ends, so the renderer may
	// reuse the last frame (the program draws after every message).
	m.reuseView = m.errLine == "" && m.quitArmed.IsZero()
	m.errLine = ""
	if !m.quitArmed.IsZero() {
		m.quitArmed, m.notice = time.Time{}, ""
	}
	var cmd tea.Cmd
	if !m.bursting() {
		cmd = m.burstTimer()
	}
	switch m.burstKey {
	case "enter", "shift+enter", "alt+enter", "ctrl+j":
		m.burst = append(m.burst, '\n')
	case "tab":
		m.burst = append(m.burst, '\t')
	}
	m.burstKey = ""
	switch text {
	case "enter", "tab", "shift+enter", "alt+enter", "ctrl+j":
		// Text if more follows, a key press if the burst ends here.
		m.burstKey = text
	default:
		m.burst = append(m.burst, text...)
	}
	return m, cmd
}

func (m *Model) burstTimer() tea.Cmd {
	m.burstSeq++
	seq := m.burstSeq
	m.burstSeen = m.burstLen()
	return tea.Tick(burstTick, func(time.Time) tea.Msg { return burstTickMsg{seq: seq} })
}

func (m Model) handleBurstTick(msg burstTickMsg) (tea.Model, tea.Cmd) {
	if msg.seq != m.burstSeq || !m.bursting() {
		return m, nil
	}
	if m.burstLen() > m.burstSeen {
		// Still arriving.
		return m, m.burstTimer()
	}
	cmd := m.endBurst()
	return m, cmd
}

func (m Model) bursting() bool { return len(m.burst) > 0 || m.burstKey != "" }

func (m Model) burstLen() int {
	if m.burstKey != "" {
		return len(m.burst) + 1
	}
	return len(m.burst)
}

// endBurst puts the gathered text into the input, then carries out the
// Enter or Tab that ended the burst.
func (m *Model) endBurst() tea.Cmd {
	if !m.bursting() {
		return nil
	}
	s, last := string(m.burst), m.burstKey
	m.burst, m.burstSeen, m.burstKey = nil, 0, ""
	m.burstSeq++ // its timer is void
	if s != "" {
		m.handlePaste(s)
	}
	switch last {
	case "":
	case "enter":
		if m.cur != nil && s != "" && !strings.HasPrefix(strings.TrimSpace(m.expandPastes(m.input.Value())), "/") {
			// A reply streams, so this Enter cannot send a message: it ends
			// a paste that paused on a newline (a busy machine, a slow
			// terminal), and the rest of the paste follows. Keep it as a
			// newline in the draft, or the lines on either side run together.
			m.input.InsertRune('\n')
			*m.input, _ = m.input.Update(nil)
			return nil
		}
		nm, cmd := m.submit()
		*m = nm.(Model)
		return cmd
	case "tab":
		return m.complete()
	default:
		m.input.InsertRune('\n')
		*m.input, _ = m.input.Update(nil)
	}
	return nil
}

// Large pastes become a placeholder in the input and are expanded when the
// message is sent, so 100 KB of text never has to be laid out as you type.
const (
	pasteInlineBytes = 4096
	pasteInlineLines = 40
)

func (m *Model) handlePaste(s string) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ToValidUTF8(s, "\uFFFD")
	lines := strings.Count(s, "\n") + 1
	if len(s) <= pasteInlineBytes && lines <= pasteInlineLines {
		m.insertText(s)
		return
	}
	m.pasteSeq++
	key := fmt.Sprintf("[paste #%d: %s lines, %s]", m.pasteSeq, commas(lines), humanBytes(len(s)))
	m.pastes[key] = s
	m.insertText(key)
}

// setInputText replaces the input with text given back to the user (a
// failed message, /edit, $EDITOR): folded into a placeholder when large, so
// the input never holds a screenful of pasted text.
func (m *Model) setInputText(s string) {
	m.input.Reset()
	m.handlePaste(s)
}

// insertText inserts at the cursor and lets the input scroll to it (only
// its Update does that).
func (m *Model) insertText(s string) {
	m.input.InsertString(s)
	*m.input, _ = m.input.Update(nil)
}

func humanBytes(n int) string { return units.Bytes(int64(n)) }

func (m Model) expandPastes(s string) string {
	for k, v := range m.pastes {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// complete completes a /command, a persona name or (in a command) a path.
func (m *Model) complete() tea.Cmd {
	v := m.input.Value()
	if cmd := pathCompleteCmd(v); cmd != nil {
		return cmd
	}
	if arg, ok := strings.CutPrefix(v, "/prompt "); ok && !strings.ContainsAny(arg, " \n") {
		names := m.personaNames(arg)
		if len(names) == 0 {
			return nil
		}
		prefix := commonPrefix(names)
		if len(prefix) > len(arg) {
			m.input.SetValue("/prompt " + prefix)
		}
		return nil
	}
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \n") {
		return nil
	}
	cs := matchCommands(v)
	if len(cs) == 0 {
		return nil
	}
	prefix := "/" + cs[0].name
	for _, c := range cs[1:] {
		p := "/" + c.name
		for !strings.HasPrefix(p, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	if len(cs) == 1 {
		prefix += " "
	}
	if len(prefix) > len(v) {
		m.input.SetValue(prefix)
	}
	return nil
}

func commonPrefix(ss []string) string {
	p := ss[0]
	for _, s := range ss[1:] {
		for !strings.HasPrefix(s, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}

func (m Model) submit() (tea.Model, tea.Cmd) {
	if a := m.agent; a != nil && len(a.queue) > 0 && (a.await == awaitReason || a.await == awaitEdit) {
		// The input holds a refusal's reason or edited arguments (even
		// empty, even starting with "/").
		return m, m.toolSubmit()
	}
	raw := m.input.Value()
	text := m.expandPastes(raw)
	trimmed := strings.TrimSpace(text)
	if trimmed == "" {
		return m, nil
	}
	if p, ok := droppedPath(trimmed); ok {
		// A dropped file: the terminal typed its path.
		m.input.Reset()
		return m, cmdAttach(&m, p)
	}
	if strings.HasPrefix(trimmed, "/") && !strings.HasPrefix(trimmed, "//") {
		m.remember(raw)
		m.input.Reset()
		cmd := m.runCommand(trimmed)
		if m.keepInput && m.input.Value() == "" {
			// A mistyped command stays in the input to be fixed.
			m.input.SetValue(raw)
		}
		m.keepInput = false
		return m, tea.Batch(cmd, m.flushPrints())
	}
	if strings.HasPrefix(trimmed, "//") {
		text = strings.Replace(text, "/", "", 1)
	}
	if m.cur != nil {
		m.errLine = "A reply is still streaming: your message waits here; Esc stops the reply."
		return m, nil
	}
	if m.agent != nil {
		m.errLine = "A tool call is under way: answer it (y/a/n/e) or press Esc to stop the tool steps."
		return m, nil
	}
	if m.gen == nil {
		m.errLine = "No model is loaded: use /model PATH, or restart with -m PATH."
		return m, nil
	}
	if m.busy != "" {
		// Loading a model or opening a saved chat: the message would go to
		// the wrong one.
		m.errLine = "Just a moment: " + m.busy
		return m, nil
	}
	m.remember(raw)
	m.sentRaw = raw
	m.input.Reset() // pastes stay: history recall may bring a placeholder back
	msg := prompts.Message{Role: prompts.RoleUser, Content: text, Media: m.attach}
	m.attach = nil
	if m.title == "" {
		m.title = titleFrom(text)
	}
	m.msgs = append(m.msgs, msg)
	m.addEntry(&entry{kind: entryUser, text: userText(msg)})
	m.record(func(r Recorder) error { return r.Append(msg) })
	cmd := m.startGen()
	return m, tea.Batch(cmd, m.flushPrints())
}

func (m *Model) remember(s string) {
	if s != "" && (len(m.history) == 0 || m.history[len(m.history)-1] != s) {
		m.history = append(m.history, s)
		if m.cfg.SaveInput != nil && !strings.Contains(s, "[paste #") {
			// A paste placeholder means nothing in another session.
			m.cfg.SaveInput(s)
		}
	}
	m.histIdx, m.histEdits = len(m.history), nil
}

func (m *Model) record(op func(Recorder) error) {
	if m.rec != nil {
		m.rec.do(op)
	}
}

// recordRewrite tells the recorder the conversation was cut back.
func (m *Model) recordRewrite() {
	msgs := append([]prompts.Message(nil), m.msgs...)
	m.record(func(r Recorder) error { return r.Rewrite(msgs) })
}

// request is the generation request for the conversation as it stands.
func (m Model) request() api.Request {
	var msgs []prompts.Message
	if m.system != "" {
		msgs = append(msgs, prompts.Message{Role: prompts.RoleSystem, Content: m.system})
	}
	msgs = append(msgs, presentMedia(m.conversation())...)
	req := api.Request{Messages: msgs, Template: m.cfg.Template, Sampling: m.sampling, MaxTokens: m.maxTokens}
	if m.tools.on {
		req.Template = m.tools.tmpl
	}
	m.applyFormat(&req)
	return req
}

// ---- generation ----

func (m *Model) startGen() tea.Cmd { return m.startGenWith(m.request()) }

func (m *Model) startGenWith(req api.Request) tea.Cmd {
	m.genSeq++
	id := m.genSeq
	ctx, cancel := context.WithCancel(m.baseCtx)
	m.cur = &reply{id: id, doc: newStreamDoc(m.md), started: m.now(), cancel: cancel, sent: req.Messages}
	if req.Grammar != "" {
		m.cur.format = m.format
	}
	if m.tools.on && req.Template == m.tools.tmpl {
		m.cur.calls = m.tools.format.NewStream()
	}
	m.sentReq = &req
	m.ctxSeq++ // a count of the conversation before this turn is stale
	m.errLine, m.notice = "", ""
	gen := m.gen
	return func() tea.Msg {
		var closeTag string
		if text, _, err := gen.RenderPrompt(req); err == nil {
			closeTag, _ = prompts.PromptOpensReasoning(text)
		}
		ch, err := gen.Generate(ctx, req)
		if err != nil {
			return genStartMsg{id: id, err: err}
		}
		return genStartMsg{id: id, pump: startPump(id, ch), closeTag: closeTag}
	}
}

func (m Model) handleGenStart(msg genStartMsg) (tea.Model, tea.Cmd) {
	r := m.cur
	if r == nil || r.id != msg.id {
		// Stopped before it started; its pump drains on its own.
		if msg.pump != nil {
			return m, msg.pump.next()
		}
		return m, nil
	}
	if msg.err != nil {
		m.finishReply("", msg.err, nil)
		return m, m.flushPrints()
	}
	r.pump = msg.pump
	if msg.closeTag != "" {
		r.split.StartInReasoning(msg.closeTag)
	}
	return m, r.pump.next()
}

func (m Model) handleStream(msg streamMsg) (tea.Model, tea.Cmd) {
	r := m.cur
	if r == nil || r.id != msg.id {
		// A stopped reply still drains; keep its final figures for the status line.
		if msg.final != nil {
			if msg.final.Stats != nil && m.cur == nil && msg.id == m.genSeq {
				m.last, m.ctxNow = msg.final.Stats, -1
				if m.statsPending {
					cmdStats(&m, "")
					return m, m.flushPrints()
				}
			}
			return m, nil
		}
		return m, m.pumpFor(msg.id)
	}
	if msg.prefill != nil {
		r.prefill = msg.prefill
	}
	if msg.notice != "" {
		m.notice = msg.notice
	}
	m.absorb(r, msg.text, msg.pieces)
	if msg.final != nil {
		var err error
		if msg.final.Kind == api.EventError {
			err = msg.final.Err
			if err == nil {
				err = fmt.Errorf("generation failed")
			}
		}
		m.finishReply("", err, msg.final.Stats)
		return m, tea.Batch(m.flushPrints(), m.agentNext())
	}
	// Saved every 500 ms and at every finished line, so a killed process
	// loses at most the line being written.
	if m.rec != nil && r.compactUpto == 0 && (m.now().Sub(r.lastCkpt) >= checkpointEvery || strings.Contains(msg.text, "\n")) {
		r.lastCkpt = m.now()
		part := prompts.Message{Role: prompts.RoleAssistant, Content: r.answer.String(), Reasoning: r.think.String()}
		m.record(func(rc Recorder) error { return rc.Checkpoint(part) })
	}
	return m, tea.Batch(r.pump.next(), m.flushPrints())
}

// checkpointEvery bounds how much of a streaming reply a crash can lose.
const checkpointEvery = 500 * time.Millisecond

// pumpFor keeps a stopped stream draining so its final stats arrive.
func (m Model) pumpFor(id int) tea.Cmd {
	if m.draining != nil && m.draining.id == id && id == m.genSeq {
		return m.draining.next()
	}
	return nil
}

// absorb adds streamed text to the reply.
func (m *Model) absorb(r *reply, text string, pieces int) {
	if pieces > 0 && r.firstAt.IsZero() {
		r.firstAt = m.now()
	}
	r.tokens += pieces
	ans, think := r.split.Feed(text)
	if think != "" {
		if ans == "" {
			r.thinkTokens += pieces
		} else {
			r.thinkTokens += pieces * len(think) / (len(think) + len(ans))
		}
		r.think.WriteString(think)
		r.thinkShow.WriteString(cleanText(think))
	} else if ans == "" && r.split.Thinking() {
		r.thinkTokens += pieces
	}
	r.answer.WriteString(ans)
	r.show(ans)
	if r.calls != nil && r.calls.InCall() {
		m.notice = writingCallNotice
	}
	m.flushReply(r, false)
}

// show draws streamed answer text; tool-call markup is held back.
func (r *reply) show(ans string) {
	if r.calls != nil {
		ans = r.calls.Feed(ans)
		r.shown.WriteString(ans)
	}
	r.doc.write(cleanText(ans))
}

// flushReply sends finished blocks of the streaming reply to the scrollback
// (inline mode only; fullscreen draws them from the reply itself).
func (m *Model) flushReply(r *reply, final bool) {
	if m.fullscreen {
		return
	}
	var lines []string
	if !r.thinkShown && r.think.Len() > 0 && (len(r.doc.blocks) > r.flushed || final) {
		lines = append(lines, "")
		lines = append(lines, m.thinkLinesHint(r.thinkShow.String(), r.thinkTokens, false, false)...)
		r.thinkShown = true
	}
	for _, b := range r.doc.blocks[r.flushed:] {
		if b.sep || r.flushed == 0 {
			lines = append(lines, "")
		}
		lines = append(lines, b.lines...)
		r.flushed++
	}
	if len(lines) > 0 {
		m.enqueuePrint(strings.Join(lines, "\n"))
	}
}

// stop cancels the reply at once; what was written stays, marked stopped.
func (m *Model) stop() tea.Cmd {
	r := m.cur
	if r == nil {
		return nil
	}
	r.cancel()
	r.stopped = true
	m.finishReply("stopped", nil, nil)
	// A started stream always has one next() waiting; its messages are now
	// stale and keep it draining until the engine's final figures arrive.
	m.draining = r.pump
	return m.flushPrints()
}

func (m *Model) finishReply(stopNote string, err error, stats *api.Stats) {
	r := m.cur
	m.cur = nil
	if m.notice == writingCallNotice {
		m.notice = ""
	}
	ans, think := r.split.Flush()
	r.think.WriteString(think)
	r.thinkShow.WriteString(cleanText(think))
	r.answer.WriteString(ans)
	r.show(ans)
	content := r.answer.String()
	// A reply that ended by itself may hand the turn to its tool calls.
	var calls []prompts.ToolCall
	var bad []toolcall.Malformed
	endedWell := err == nil && stopNote == "" && (stats == nil || stats.StopReason == api.StopEOG || stats.StopReason == api.StopSequence)
	if r.calls != nil {
		var rest string
		rest, calls, bad = r.calls.Finish()
		if endedWell && (len(calls) > 0 || len(bad) > 0) {
			if len(calls) > 0 {
				content = rest
			} // else the model sees its unreadable call as it wrote it, then the error
		} else {
			calls, bad = nil, nil
			if strings.HasPrefix(content, r.shown.String()) {
				r.doc.write(cleanText(content[r.shown.Len():])) // what the stream held back
			}
		}
	}
	r.doc.finish()
	reason := api.StopEOG
	footer := stopNote
	if stopNote != "" {
		reason = api.StopCancelled
	}
	if stats != nil {
		m.last, m.ctxNow = stats, -1
		reason = stats.StopReason
		switch stats.StopReason {
		case api.StopMaxTokens:
			footer = fmt.Sprintf("stopped at max tokens (%d; /set max-tokens N)", m.maxTokens)
		case api.StopContext:
			footer = m.contextFullFooter(stats, r.sent)
		case api.StopCancelled:
			footer = "stopped"
		}
	}
	if err != nil {
		footer = "error: " + oneLine(err.Error())
		reason = "error"
	}
	if r.compactUpto > 0 {
		if err != nil {
			footer = "error: " + oneLine(err.Error())
		}
		m.finishCompaction(r, content, stats, footer)
		return
	}
	if (err != nil || stopNote != "") && strings.TrimSpace(content) == "" && r.think.Len() == 0 && !m.quitting {
		// Nothing came back: take the question back into the input rather
		// than leave an empty turn in the conversation. Not on quit: the
		// input leaves with the program, so the turn is kept, stopped.
		if n := len(m.msgs); n > 0 && m.msgs[n-1].Role == prompts.RoleUser {
			if m.input.Value() == "" && !m.bursting() {
				// As it was typed: a large paste stays folded.
				if content := m.msgs[n-1].Content; m.expandPastes(m.sentRaw) == content {
					m.input.SetValue(m.sentRaw)
				} else {
					m.setInputText(content)
				}
			}
			if len(m.attach) == 0 {
				// Its attachments go back above the input with it.
				m.attach = m.msgs[n-1].Media
			}
			m.msgs = m.msgs[:n-1]
			m.recordRewrite()
		}
		m.agent = nil
		switch {
		case err != nil:
			m.addEntry(&entry{kind: entryError, text: oneLine(err.Error())})
			m.errLine = oneLine(err.Error())
		case len(m.msgs) > 0 && m.msgs[len(m.msgs)-1].Role == prompts.RoleTool:
			m.addNote("Stopped before the first token; the tool results stay in the chat (/retry asks again).")
		default:
			m.addNote("Stopped before the first token; your message is back in the input.")
		}
		return
	}
	if err == nil && reason != api.StopCancelled {
		if bad := checkFormat(r.format, r.answer.String(), stats); bad != "" && footer == "" {
			footer = bad
		} else if bad != "" {
			footer += " · " + bad
		}
	}
	if err == nil && footer == "" && strings.TrimSpace(content) == "" && r.think.Len() == 0 && len(calls) == 0 && len(bad) == 0 {
		// An end of turn as the first token: say so rather than leave a
		// blank turn that looks like a hang.
		footer = "empty reply: the model ended its turn at once (/retry for another)"
	}
	m.flushReply(r, true)
	e := &entry{kind: entryAssistant, text: content, think: r.thinkShow.String(), thinkTokens: r.thinkTokens, blocks: r.doc.blocks, footer: footer}
	if !m.fullscreen && footer != "" {
		m.enqueuePrint("\n" + m.footerLine(footer))
	}
	m.entries = append(m.entries, e)
	msg := prompts.Message{Role: prompts.RoleAssistant, Content: content, Reasoning: r.think.String()}
	if len(calls) > 0 || len(bad) > 0 {
		m.takeToolCalls(content, calls, bad, &msg)
	} else {
		m.agent = nil // the turn is over
	}
	m.msgs = append(m.msgs, msg)
	m.record(func(rc Recorder) error { return rc.Finish(msg, stats, reason) })
	if m.statsPending && !r.stopped {
		// (a stopped reply's figures come as it drains)
		cmdStats(m, "")
	}
	m.droppedNote(stats, r.sent)
	if stats != nil {
		m.noteFallback()
	}
}

// finishedAssistant renders a whole stored reply (resumed conversations).
func (m *Model) finishedAssistant(content, think, footer string) *entry {
	d := newStreamDoc(m.md)
	d.write(cleanText(content))
	d.finish()
	return &entry{kind: entryAssistant, text: content, think: cleanText(think), blocks: d.blocks, footer: footer}
}

// ---- transcript and scrollback ----

func (m *Model) addEntry(e *entry) {
	m.entries = append(m.entries, e)
	if m.fullscreen {
		return
	}
	s := strings.Join(m.renderEntry(e), "\n")
	if e.kind != entryBanner {
		s = "\n" + s
	}
	m.enqueuePrint(s)
}

func (m *Model) addNote(s string) { m.addEntry(&entry{kind: entryNote, text: s}) }

func (m *Model) enqueuePrint(s string) {
	if m.fullscreen {
		return
	}
	m.printQ = append(m.printQ, s)
	m.scrollback = append(m.scrollback, s)
}

// flushPrints hands queued text to the terminal. One print is in flight at a
// time: concurrent commands could otherwise reorder the scrollback.
//
// Bubble Tea inserts a print above the live area by scrolling the screen
// and moving the cursor up by the print's height plus the live area's height
// as it last drew it; when the two add up to more than the screen, the
// cursor stops at the top row and the renderer loses track of where the live
// area is (the input box and status line vanish until a resize). So a print
// never takes more rows than the tallest recent frame leaves free; the rest
// goes out in further prints.
func (m *Model) flushPrints() tea.Cmd {
	if m.printing || len(m.printQ) == 0 {
		return nil
	}
	lines := strings.Split(strings.Join(m.printQ, "\n"), "\n")
	room := m.printRoom()
	n, rows := 0, 0
	for n < len(lines) {
		r := 1
		if m.width > 0 {
			r = max(1, (ansi.StringWidth(lines[n])+m.width-1)/m.width)
		}
		if n > 0 && rows+r > room {
			break
		}
		rows += r
		n++
	}
	m.printQ = nil
	if n < len(lines) {
		m.printQ = []string{strings.Join(lines[n:], "\n")}
	}
	m.printing = true
	text := strings.Join(lines[:n], "\n")
	if m.clearFirst {
		m.clearFirst = false
		text = clearAll + text
	}
	return tea.Sequence(tea.Println(text), func() tea.Msg { return printedMsg{} })
}

// printRoom is how many rows a print may take: the screen less the tallest
// live area the renderer may still have on screen (a recent frame) or is
// about to draw (this update's).
func (m *Model) printRoom() int {
	h := m.frames.recent()
	if !m.fullscreen && !m.quitting {
		h = max(h, strings.Count(m.inlineView(), "\n")+1)
	}
	return max(m.height-h, 1)
}

// repaintDelay lets a window being dragged settle before the repaint.
const repaintDelay = 150 * time.Millisecond

// repaint redraws the inline transcript for a new width. Terminals that
// reflow on resize (tmux, kitty, iTerm2, VTE) re-wrap the live area the
// renderer drew at the old width, so it takes more rows than the renderer
// erases: the old input box, status line and streaming text would stay
// behind as copies. So the screen and its scrollback are cleared and every
// message is printed again, laid out for the new width; a streaming reply
// goes back to the live area and its finished blocks are printed anew.
func (m *Model) repaint() tea.Cmd {
	m.printQ, m.scrollback = nil, nil
	for i, e := range m.entries {
		s := strings.Join(m.renderEntry(e), "\n")
		if i > 0 {
			s = "\n" + s
		}
		m.enqueuePrint(s)
	}
	if r := m.cur; r != nil {
		r.doc.blocks = joinCuts(r.doc.blocks)
		r.doc.rerender(m.md)
		r.flushed, r.thinkShown = 0, false
		m.flushReply(r, false)
	}
	m.clearFirst, m.redrawAfter = true, true
	return m.flushPrints()
}

// clearAll homes the cursor and erases the screen and the scrollback
// (CSI 3 J). It goes out inside the first print of a repaint: Bubble Tea
// writes prints at once but buffers raw output until its next frame, so a
// separate clear could land after the prints and erase them.
const clearAll = "\x1b[H\x1b[2J\x1b[3J"

// quit stops any reply and leaves once everything queued for the scrollback
// has been printed.
func (m *Model) quit() tea.Cmd {
	m.quitting = true
	// Stopping a reply may start a print; its printedMsg is what lets us
	// leave, so the command it returns must not be dropped.
	var cmd tea.Cmd
	if m.cur != nil {
		cmd = m.stop()
	}
	if m.agent != nil {
		// A running command is killed; its result is not waited for.
		if m.agent.cancel != nil {
			m.agent.cancel()
		}
		m.agent.await = ""
		m.stopAgent("the user quit")
	}
	if !m.printing && len(m.printQ) == 0 {
		return tea.Quit
	}
	if cmd != nil {
		return cmd
	}
	return m.flushPrints()
}

// ---- $EDITOR ----

func openEditor(text string) tea.Cmd {
	return func() tea.Msg {
		f, err := os.CreateTemp("", "natter-*.md")
		if err != nil {
			return editorReadyMsg{err: err}
		}
		_, err = io.WriteString(f, text)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return editorReadyMsg{path: f.Name(), err: err}
	}
}

func editorCmd(path string) tea.Cmd {
	ed := os.Getenv("VISUAL")
	if ed == "" {
		ed = os.Getenv("EDITOR")
	}
	if ed == "" {
		ed = "vi"
	}
	args := strings.Fields(ed)
	c := exec.Command(args[0], append(args[1:], path)...)
	return tea.ExecProcess(c, func(err error) tea.Msg { return editorDoneMsg{path: path, err: err} })
}

func readEditorFile(msg editorDoneMsg) tea.Cmd {
	return func() tea.Msg {
		defer os.Remove(msg.path)
		if msg.err != nil {
			return editorTextMsg{err: msg.err}
		}
		b, err := os.ReadFile(msg.path)
		if err != nil {
			return editorTextMsg{err: err}
		}
		if !utf8.Valid(b) {
			b = []byte(strings.ToValidUTF8(string(b), "\uFFFD"))
		}
		return editorTextMsg{text: string(b)}
	}
}

// cleanText makes text safe to draw: the model (or a paste, or a file) must
// not be able to send escape sequences to the terminal, so control
// characters other than newline and tab are shown as U+FFFD.
func cleanText(s string) string {
	clean := true
	for _, r := range s {
		if isControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ReplaceAll(s, "\r\n", "\n") {
		switch {
		case r == '\r':
		case isControl(r):
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0)
}
