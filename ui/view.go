package ui

import (
	"fmt"
	"image/color"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"natter/engine/api"
)

type palette struct {
	user, dim, accent, errS, warn, bad, good, status, think, key, box, special lipgloss.Style
}

func newPalette(name string) *palette {
	s := &palette{}
	if name == "plain" {
		s.user = lipgloss.NewStyle().Bold(true)
		s.dim = lipgloss.NewStyle().Faint(true)
		s.accent = lipgloss.NewStyle().Bold(true)
		s.errS = lipgloss.NewStyle().Bold(true)
		s.warn = lipgloss.NewStyle().Bold(true)
		s.bad = lipgloss.NewStyle().Bold(true).Underline(true)
		s.good = lipgloss.NewStyle()
		s.status = lipgloss.NewStyle().Faint(true)
		s.think = lipgloss.NewStyle().Faint(true)
		s.key = lipgloss.NewStyle().Bold(true)
		s.box = lipgloss.NewStyle().Border(lipgloss.NormalBorder()).Padding(0, 1)
		s.special = lipgloss.NewStyle().Reverse(true)
		return s
	}
	dark := name != "light"
	pick := func(d, l string) color.Color {
		if dark {
			return lipgloss.Color(d)
		}
		return lipgloss.Color(l)
	}
	s.user = lipgloss.NewStyle().Foreground(pick("#8FB8FF", "#1F4FB0")).Bold(true)
	s.dim = lipgloss.NewStyle().Foreground(pick("#8A8A8A", "#6C6C6C"))
	s.accent = lipgloss.NewStyle().Foreground(pick("#B4A0FF", "#5A3FC0")).Bold(true)
	s.errS = lipgloss.NewStyle().Foreground(pick("#FF6B6B", "#C01C28"))
	s.warn = lipgloss.NewStyle().Foreground(pick("#FFB454", "#A05A00"))
	s.bad = lipgloss.NewStyle().Foreground(pick("#FF5F5F", "#C01C28")).Bold(true)
	s.good = lipgloss.NewStyle().Foreground(pick("#9ECE6A", "#2E7D32"))
	s.status = lipgloss.NewStyle().Foreground(pick("#A0A0A0", "#505050"))
	s.think = lipgloss.NewStyle().Foreground(pick("#777777", "#8A8A8A")).Italic(true)
	s.key = lipgloss.NewStyle().Foreground(pick("#B4A0FF", "#5A3FC0")).Bold(true)
	s.box = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(pick("#6C6C9C", "#9090C0")).Padding(0, 1)
	s.special = lipgloss.NewStyle().Foreground(pick("#FFB454", "#A05A00")).Bold(true)
	return s
}

// View draws the live part of the screen.
func (m Model) View() tea.View {
	var v tea.View
	if m.quitting && !m.fullscreen {
		// Leave the transcript, not a stale input box, in the terminal.
		return v
	}
	var c string
	if memo := m.viewMemo; memo != nil && m.reuseView && memo.gen == m.updates-1 && memo.full == m.fullscreen && memo.content != "" {
		c = memo.content
		memo.gen = m.updates // still what the screen shows after this update
	} else {
		if m.fullscreen {
			c = m.fullView()
		} else {
			c = m.inlineView()
		}
		if memo != nil {
			memo.content, memo.full, memo.gen = c, m.fullscreen, m.updates
		}
	}
	if m.fullscreen {
		v.AltScreen = true
		v.MouseMode = tea.MouseModeCellMotion
	} else {
		m.frames.drawn(m.now(), strings.Count(c, "\n")+1)
	}
	v.SetContent(c)
	v.WindowTitle = "natter"
	return v
}

// bottom is the input area, completion, one message line and the status.
func (m Model) bottom() []string {
	var out []string
	if ov := m.overlayView(); ov != "" {
		// The overlay takes the input's place so it fits small screens.
		if !m.fullscreen {
			out = append(out, strings.Split(ov, "\n")...)
		}
		return append(out, m.statusLine())
	}
	if m.fullscreen {
		out = append(out, m.st.dim.Render(strings.Repeat("─", max(m.width, 1))))
	}
	if m.showCatalog() {
		out = append(out, m.catalogLines()...)
	}
	out = append(out, m.approvalLines()...)
	out = append(out, m.attachLines()...)
	out = append(out, m.inputLines()...)
	out = append(out, m.completionLines()...)
	switch {
	case m.errLine != "":
		// Wrapped, not cut: the cause is often at the end. At most 4 rows.
		lines := wrapLines(m.errLine, max(m.width-2, 10))
		if len(lines) > 4 {
			lines = append(lines[:3:3], ansi.Truncate(strings.Join(lines[3:], " "), max(m.width-2, 10), "…"))
		}
		for i, l := range lines {
			p := "  "
			if i == 0 {
				p = "✗ "
			}
			out = append(out, m.st.errS.Render(p+l))
		}
	case len(m.burst) > pasteInlineBytes:
		// A long paste typed in by the terminal: it shows once it is all in.
		out = append(out, ansi.Truncate(m.st.dim.Render("Receiving typed text… "+humanBytes(len(m.burst))), m.width, "…"))
	case m.notice != "":
		out = append(out, ansi.Truncate(m.st.dim.Render(m.notice), m.width, "…"))
	}
	out = append(out, m.statusLine())
	return out
}

// inputLines draws the input box. Streaming repaints the screen many times a
// second while the input sits still, so its drawing is reused until it changes.
func (m Model) inputLines() []string {
	key := fmt.Sprintf("%d|%d|%d|%d|%p|%s", m.width, m.input.Line(), m.input.Column(), m.input.Height(), m.st, m.input.Value())
	if c := m.inputCache; c != nil && c.key == key {
		return c.lines
	}
	lines := strings.Split(strings.TrimRight(m.input.View(), "\n"), "\n")
	if m.inputCache != nil {
		m.inputCache.key, m.inputCache.lines = key, lines
	}
	return lines
}

type viewCache struct {
	key   string
	lines []string
	// the last frame drawn (Model.viewMemo)
	content string
	full    bool
	gen     int // Model.updates when it was drawn
}

// frameLog remembers the heights of recent inline frames. The renderer
// draws the latest frame on its own clock (at most a few frames behind), so
// the frame on screen when a print goes out is one of those drawn lately.
type frameLog struct {
	mu          sync.Mutex
	since       time.Time // start of the current window
	cur, prev   int       // tallest frame of this window and of the one before
	last        int       // the latest frame
	initialised bool
}

// frameWindow is well over the renderer's frame interval.
const frameWindow = 250 * time.Millisecond

func (f *frameLog) drawn(now time.Time, h int) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch d := now.Sub(f.since); {
	case !f.initialised:
		f.since, f.initialised = now, true
	case d > 2*frameWindow:
		// Nothing drawn for a while: only the latest frame can be on screen.
		f.prev, f.cur, f.since = f.last, 0, now
	case d > frameWindow:
		f.prev, f.cur, f.since = f.cur, 0, now
	}
	f.cur = max(f.cur, h)
	f.last = h
}

// recent is the tallest frame that may be on screen.
func (f *frameLog) recent() int {
	if f == nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return max(f.cur, f.prev, f.last)
}

// liveRoom is how many lines the streaming reply may take in inline mode:
// a third of the screen stays free so finished text can be printed above
// the live area in pieces of a useful size (see flushPrints).
func (m Model) liveRoom(bottom int) int {
	return max(m.height-m.height/3-bottom-2, 3)
}

func (m Model) inlineView() string {
	bottom := m.bottom()
	var live []string
	if m.cur != nil {
		live = m.liveReply(m.liveRoom(len(bottom)))
	}
	// A blank line keeps the input off the last printed message.
	live = append([]string{""}, live...)
	if len(live) > 1 {
		live = append(live, "")
	}
	return strings.Join(append(live, bottom...), "\n")
}

// liveReply is the not-yet-printed part of the streaming reply (inline),
// cut to its last room lines.
func (m Model) liveReply(room int) []string {
	r := m.cur
	var lines []string
	if !r.thinkShown && (r.think.Len() > 0 || r.split.Thinking()) {
		lines = append(lines, m.thinkLines(r.thinkShow.String(), r.thinkTokens, r.split.Thinking() && len(r.doc.buf) == 0)...)
	}
	pending := r.doc.blocks[r.flushed:]
	for i, b := range pending {
		if len(lines) > 0 && (b.sep || i == 0 && b.sep) {
			lines = append(lines, "")
		}
		lines = append(lines, b.lines...)
	}
	tail, sep := r.doc.tailLines()
	if len(tail) > 0 {
		if len(lines) > 0 && sep {
			lines = append(lines, "")
		}
		lines = append(lines, tail...)
	}
	if len(lines) == 0 {
		lines = append(lines, m.st.dim.Render("  …"))
	}
	if len(lines) > room {
		lines = lines[len(lines)-room:]
	}
	return lines
}

func (m Model) fullView() string {
	bottom := m.bottom()
	h := max(m.height-len(bottom), 1)
	var body []string
	if ov := m.overlayView(); ov != "" {
		body = strings.Split(ov, "\n")
		if len(body) > h {
			body = body[:h]
		}
	} else {
		segs := m.transcript()
		total := segs.count()
		top := m.scrollTop
		if m.follow || top > total-h {
			top = max(total-h, 0)
		}
		top = max(top, 0)
		body = segs.window(top, h)
	}
	for len(body) < h {
		body = append(body, "")
	}
	return strings.Join(append(body, bottom...), "\n")
}

// segments is the transcript as a list of line slices, so a screenful can
// be cut out without joining the whole conversation on every frame.
type segments [][]string

func (s segments) count() int {
	n := 0
	for _, seg := range s {
		n += len(seg)
	}
	return n
}

func (s segments) window(top, h int) []string {
	out := make([]string, 0, h)
	i := 0
	for _, seg := range s {
		if i+len(seg) <= top {
			i += len(seg)
			continue
		}
		for _, l := range seg[max(top-i, 0):] {
			if len(out) == h {
				return out
			}
			out = append(out, l)
		}
		i += len(seg)
	}
	return out
}

var blankLine = []string{""}

// transcript lists every rendered line of the conversation (fullscreen).
func (m Model) transcript() segments {
	var segs segments
	for i, e := range m.entries {
		if i > 0 {
			segs = append(segs, blankLine)
		}
		segs = append(segs, m.entryLines(e))
	}
	if r := m.cur; r != nil {
		segs = append(segs, blankLine)
		if r.think.Len() > 0 || r.split.Thinking() {
			segs = append(segs, m.thinkLines(r.thinkShow.String(), r.thinkTokens, r.split.Thinking() && len(r.doc.buf) == 0), blankLine)
		}
		segs = append(segs, r.doc.flat)
		if tail, sep := r.doc.tailLines(); len(tail) > 0 {
			if len(r.doc.blocks) > 0 && sep {
				segs = append(segs, blankLine)
			}
			segs = append(segs, tail)
		}
	}
	return segs
}

// entryLines renders an entry at the current width, cached.
func (m Model) entryLines(e *entry) []string {
	if e.lines != nil && e.width == m.width && e.exp == m.showThinking {
		return e.lines
	}
	e.lines = m.renderEntry(e)
	e.width, e.exp = m.width, m.showThinking
	return e.lines
}

func (m Model) renderEntry(e *entry) []string {
	w := max(m.width, 10)
	switch e.kind {
	case entryBanner:
		return []string{ansi.Truncate(m.bannerText(), w, "…")}
	case entryUser:
		lines := wrapLines(e.text, w-2)
		for i, l := range lines {
			p := "  "
			if i == 0 {
				p = "› "
			}
			lines[i] = m.st.user.Render(p + l)
		}
		return lines
	case entryNote:
		lines := wrapLines(e.text, w-2)
		for i, l := range lines {
			lines[i] = m.st.dim.Render("  " + l)
		}
		return lines
	case entryTool:
		var lines []string
		if e.text != "" {
			lines = wrapLines(e.text, w-4)
			for i, l := range lines {
				p := "    "
				if i == 0 && !e.toolResult {
					p = "  ⚙ "
				}
				lines[i] = m.st.think.Render(p + l)
			}
		}
		if e.footer != "" {
			lines = append(lines, m.st.dim.Render(ansi.Truncate("    ↳ "+e.footer, w, "…")))
		}
		return lines
	case entryError:
		lines := wrapLines(e.text, w-2)
		for i, l := range lines {
			p := "  "
			if i == 0 {
				p = "✗ "
			}
			lines[i] = m.st.errS.Render(p + l)
		}
		return lines
	}
	var lines []string
	if e.think != "" {
		lines = append(lines, m.thinkLines(e.think, e.thinkTokens, false)...)
		lines = append(lines, "")
	}
	lines = joinBlocks(lines, e.blocks)
	if e.footer != "" {
		lines = append(lines, "", m.footerLine(e.footer))
	}
	return lines
}

func (m Model) footerLine(f string) string {
	style, mark := m.st.warn, "  ■ "
	if strings.HasPrefix(f, "error") {
		style, mark = m.st.errS, "  ✗ "
	}
	// Long footers wrap under their text, not cut at the screen's edge.
	lines := wrapLines(f, max(m.width-4, 20))
	for i, l := range lines {
		if i == 0 {
			lines[i] = style.Render(mark + l)
		} else {
			lines[i] = style.Render("    " + l)
		}
	}
	return strings.Join(lines, "\n")
}

// thinkLines shows reasoning: one dim line when collapsed, the dimmed text
// when expanded (the last lines only while it is still streaming).
func (m Model) thinkLines(text string, tokens int, live bool) []string {
	return m.thinkLinesHint(text, tokens, live, true)
}

// thinkLinesHint: hint is false for text going into the scrollback, where
// the toggle key can no longer change it.
func (m Model) thinkLinesHint(text string, tokens int, live, hint bool) []string {
	label := "thought"
	if live {
		label = "thinking…"
	}
	count := fmt.Sprintf("%s tokens", commas(tokens))
	show, hide := "  (ctrl+t to show)", "  (ctrl+t to hide)"
	if !hint {
		show, hide = "", ""
	}
	if !m.showThinking {
		return []string{m.st.think.Render(fmt.Sprintf("  ▸ %s · %s%s", label, count, show))}
	}
	out := []string{m.st.think.Render(fmt.Sprintf("  ▾ %s · %s%s", label, count, hide))}
	text = strings.TrimSpace(text)
	if live && len(text) > 2000 {
		text = "…" + text[len(text)-2000:]
	}
	for _, l := range wrapLines(text, max(m.width-4, 10)) {
		out = append(out, m.st.think.Render("  │ "+l))
	}
	if live && len(out) > 9 {
		out = append(out[:1], out[len(out)-8:]...)
	}
	return out
}

func wrapLines(s string, w int) []string {
	s = strings.ReplaceAll(s, "\t", "    ")
	s = lipgloss.Wrap(s, max(w, 1), "")
	return strings.Split(s, "\n")
}

func (m Model) bannerText() string {
	name := "no model"
	if m.gen != nil {
		name = m.modelLabel()
	}
	s := m.st.accent.Render("natter") + m.st.dim.Render(" · "+name)
	if m.persona != "" {
		s += m.st.dim.Render(" · persona " + m.persona)
	}
	return s + m.st.dim.Render(" · ? or /help for keys")
}

func (m Model) modelName() string {
	if m.gen == nil {
		return ""
	}
	if m.cfg.ModelName != nil {
		if n := m.cfg.ModelName(m.info); n != "" {
			return n
		}
	}
	return DefaultModelName(m.info)
}

// DefaultModelName names a model as users know it: its file name without
// .gguf (the GGUF's general.name is often just the architecture, "llama"),
// else that general name.
func DefaultModelName(info api.ModelInfo) string {
	p := info.Path
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		p = p[i+1:]
	}
	if n := strings.TrimSuffix(strings.TrimSuffix(p, ".gguf"), ".GGUF"); n != "" {
		return n
	}
	return info.Name
}

// modelLabel is the model's name with its quantization, unless the name
// already says it (most file names do).
func (m Model) modelLabel() string {
	name := m.modelName()
	if q := m.info.Quantization; q != "" && !strings.Contains(strings.ToLower(name), strings.ToLower(q)) {
		name += " " + q
	}
	return name
}

// BackendLabel names the engine a model runs on, as the status line shows it.
func BackendLabel(b string) string {
	if b == "go" {
		return "Go engine"
	}
	return b
}

// statusLine: model, context use, speed, time to first token, cache reuse.
// On a narrow terminal the least useful figures go first.
func (m Model) statusLine() string {
	st := m.st
	type part struct {
		text string
		drop int // higher goes first when space is short
	}
	var parts []part
	if m.gen == nil {
		parts = append(parts, part{st.warn.Render("no model"), 0})
	} else {
		parts = append(parts, part{st.status.Render(m.modelLabel()), 2})
		// Adapters change what the model says: they stay while there is
		// room for more than the essentials.
		if l := m.loraStatus(); l != "" {
			parts = append(parts, part{st.status.Render(l), 3})
		}
		// What the model reads besides text (its projector), so a user
		// knows /attach will work.
		if l := mediaStatus(m.info); l != "" {
			parts = append(parts, part{st.dim.Render(l), 6})
		}
		if b := m.info.Backend; b != "" {
			parts = append(parts, part{st.dim.Render(BackendLabel(b)), 7})
		}
	}
	used, size := 0, m.info.ContextSize
	if m.last != nil {
		used = m.last.ContextUsed
		if m.last.ContextSize > 0 {
			size = m.last.ContextSize
		}
	}
	if m.ctxNow >= 0 {
		used = m.ctxNow // the conversation was cut back since
	}
	var pre *api.Stats
	if m.cur != nil {
		pre = m.cur.prefill
	}
	if pre != nil {
		// Streaming: the prompt as processed plus the reply so far.
		used = pre.ContextUsed + m.cur.tokens
		if pre.ContextSize > 0 {
			size = pre.ContextSize
			used = min(used, size)
		}
	}
	if size > 0 {
		ctx := fmt.Sprintf("ctx %s/%s", commas(used), commas(size))
		switch frac := float64(used) / float64(size); {
		case frac >= 0.95:
			ctx = st.bad.Render(ctx)
		case frac >= 0.80:
			ctx = st.warn.Render(ctx)
		default:
			ctx = st.status.Render(ctx)
		}
		parts = append(parts, part{ctx, 0})
	} else if m.gen != nil && m.info.Arch == "remote" {
		// A server that does not say its context size: say so rather than
		// leave the meter out without a word.
		parts = append(parts, part{st.dim.Render("ctx unknown"), 6})
	}
	if r := m.cur; r != nil {
		live := fmt.Sprintf("● %s tok", commas(r.tokens))
		if !r.firstAt.IsZero() {
			if d := m.now().Sub(r.firstAt); d > 200*time.Millisecond && r.tokens > 1 {
				live += fmt.Sprintf(" · %.1f tok/s", float64(r.tokens-1)/d.Seconds())
			}
		} else if names := encodingNames(r); pre == nil && names != "" {
			// The engine encodes the message's images and audio before
			// the prompt is done: seconds for a large image on a laptop.
			live = "● encoding " + names + " · esc stops"
		} else {
			live = "● waiting for the first token"
		}
		parts = append(parts, part{st.accent.Render(live), 0})
		if pre != nil && pre.PromptTokens > 0 {
			parts = append(parts, part{st.status.Render(fmt.Sprintf("cache %s/%s", commas(pre.CachedTokens), commas(pre.PromptTokens))), 3})
		}
	} else if m.busy != "" {
		parts = append(parts, part{st.accent.Render("● " + m.busy), 0})
	} else if s := m.last; s != nil {
		if s.DecodeTPS > 0 {
			parts = append(parts, part{st.status.Render(fmt.Sprintf("%.1f tok/s", s.DecodeTPS)), 1})
		}
		if s.TTFT > 0 {
			parts = append(parts, part{st.status.Render("ttft " + fmtDur(s.TTFT)), 4})
		}
		if s.PromptTokens > 0 {
			parts = append(parts, part{st.status.Render(fmt.Sprintf("cache %s/%s", commas(s.CachedTokens), commas(s.PromptTokens))), 3})
		}
	}
	if m.persona != "" {
		parts = append(parts, part{st.status.Render("persona " + m.persona), 5})
	}
	if s := m.last; s != nil && s.Template != "" && m.cur == nil {
		parts = append(parts, part{st.status.Render("template " + shortTemplate(s.Template)), 6})
	}
	sep := st.dim.Render(" · ")
	join := func() string {
		var ss []string
		for _, p := range parts {
			ss = append(ss, p.text)
		}
		return strings.Join(ss, sep)
	}
	line := join()
	for lipgloss.Width(line) > m.width {
		worst := -1
		for i, p := range parts {
			if p.drop > 0 && (worst < 0 || p.drop > parts[worst].drop) {
				worst = i
			}
		}
		if worst < 0 {
			break
		}
		parts = append(parts[:worst], parts[worst+1:]...)
		line = join()
	}
	return ansi.Truncate(line, max(m.width, 1), "…")
}

// shortTemplate keeps a template name short enough for the status line:
// no explanation in brackets, a file's base name only (/template has all).
func shortTemplate(name string) string {
	if i := strings.Index(name, " ("); i > 0 {
		name = name[:i]
	}
	if kind, path, ok := strings.Cut(name, ":"); ok && strings.ContainsAny(path, `/\`) {
		if i := strings.LastIndexAny(path, `/\`); i >= 0 {
			name = kind + ":" + path[i+1:]
		}
	}
	return name
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
}

// commas formats 8192 as 8,192.
// Commas writes n with thousands separators, as the chat shows counts.
func Commas(n int) string { return commas(n) }

func commas(n int) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

var helpKeys = [][2]string{
	{"enter", "send"}, {"shift+enter", "new line"},
	{"alt+enter ctrl+j", "new line too"}, {"up down", "earlier inputs"},
	{"esc", "stop reply · clear"}, {"ctrl+u", "clear the input"},
	{"ctrl+c", "stop · clear input"}, {"ctrl+c twice", "quit (empty input)"},
	{"ctrl+d", "quit (empty input)"}, {"ctrl+e", "edit in $EDITOR"},
	{"ctrl+t", "reasoning on/off"}, {"tab", "complete /cmd, path"},
	{"pgup pgdn", "scroll (fullscreen)"}, {"home end", "top · bottom"},
}

// overlayHeight is the screen height an overlay is laid out for. Inline, the
// live area must stay shorter than the screen: a frame as tall as the
// screen scrolls it, the renderer loses track of where its frame starts,
// and every frame after that is left behind in the scrollback.
func (m Model) overlayHeight() int {
	if m.fullscreen {
		return m.height
	}
	return m.height - 2
}

// overlayView is the open overlay, "" when none.
func (m Model) overlayView() string {
	switch {
	case m.picker != nil:
		return m.pickerView()
	case m.overlay == "pager" && m.pager != nil:
		return m.pagerView()
	case m.overlay == "help":
		return m.helpView()
	}
	return ""
}

// helpView is the keys and commands overlay, cut to fit the screen.
func (m Model) helpView() string {
	inner := max(min(m.width, 100)-4, 20)
	lines := m.helpLines(inner)
	if room := m.overlayHeight() - 4; len(lines) > room && room > 1 {
		top := min(max(m.helpTop, 0), len(lines)-(room-1))
		end := top + room - 1
		hint := fmt.Sprintf("lines %d–%d of %d · ↑↓ scroll", top+1, end, len(lines))
		lines = append(lines[top:end:end], m.st.dim.Render(ansi.Truncate(hint, inner, "…")))
	}
	box := m.st.box.Width(inner + 4).Render(strings.Join(lines, "\n"))
	out := strings.Split(box, "\n")
	for i, l := range out {
		out[i] = ansi.Truncate(l, m.width, "")
	}
	return strings.Join(out, "\n")
}

// helpLines is the help overlay's text at width inner.
func (m Model) helpLines(inner int) []string {
	var lines []string
	lines = append(lines, m.st.accent.Render("Keys")+m.st.dim.Render("   (esc closes)"))
	cell := func(k [2]string) string {
		return m.st.key.Render(fmt.Sprintf("%-17s", k[0])) + fmt.Sprintf("%-19s", k[1])
	}
	twoCols := inner >= 74
	for i := 0; i < len(helpKeys); i++ {
		l := "  " + cell(helpKeys[i])
		if twoCols && i+1 < len(helpKeys) {
			i++
			l += " " + cell(helpKeys[i])
		}
		lines = append(lines, l)
	}
	lines = append(lines, m.st.accent.Render("Commands"))
	for _, c := range commands {
		lines = append(lines, "  "+m.st.key.Render(fmt.Sprintf("%-18s", c.usage))+c.help)
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, inner, "…")
	}
	return lines
}

// completionLines lists the commands matching a partly typed /command.
func (m Model) completionLines() []string {
	if l := m.pathCompletionLines(); l != nil {
		return l
	}
	v := m.input.Value()
	if arg, ok := strings.CutPrefix(v, "/prompt "); ok && !strings.ContainsAny(arg, " \n") {
		var out []string
		for _, n := range m.personaNames(arg) {
			out = append(out, ansi.Truncate("  "+m.st.key.Render(n), m.width, "…"))
			if len(out) == 6 {
				break
			}
		}
		return out
	}
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \n") {
		return nil
	}
	var out []string
	for _, c := range matchCommands(v) {
		out = append(out, ansi.Truncate("  "+m.st.key.Render(fmt.Sprintf("%-22s", c.usage))+m.st.dim.Render(c.help), m.width, "…"))
		if len(out) == 6 {
			break
		}
	}
	return out
}

// encodingNames names the attachments of the message a reply answers
// ("scan.png", "scan.png +1"), or "" when it has none.
func encodingNames(r *reply) string {
	if len(r.sent) == 0 {
		return ""
	}
	media := r.sent[len(r.sent)-1].Media
	switch len(media) {
	case 0:
		return ""
	case 1:
		return TerminalSafe(media[0].Name)
	}
	return fmt.Sprintf("%s +%d", TerminalSafe(media[0].Name), len(media)-1)
}
