package ui

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"

	"charm.land/glamour/v2"
	"charm.land/glamour/v2/ansi"
	"charm.land/glamour/v2/styles"
	"charm.land/lipgloss/v2"
)

// mdRenderer turns Markdown into terminal lines at a given width.
type mdRenderer struct {
	width int
	tr    *glamour.TermRenderer
	text  lipgloss.Style // lite rendering of the open tail
	bold  lipgloss.Style
	paint *codePainter
}

// newMarkdown builds a renderer; style is "dark", "light" or "plain".
func newMarkdown(width int, style string) *mdRenderer {
	var cfg ansi.StyleConfig
	switch style {
	case "light":
		cfg = styles.LightStyleConfig
	case "plain":
		cfg = styles.NoTTYStyleConfig
	default:
		cfg = styles.DarkStyleConfig
	}
	wrap := max(width-2, 10)
	tr, err := glamour.NewTermRenderer(glamour.WithStyles(cfg), glamour.WithWordWrap(wrap))
	if err != nil {
		tr = nil // render falls back to plain wrapped text
	}
	r := &mdRenderer{width: width, tr: tr, text: lipgloss.NewStyle(), bold: lipgloss.NewStyle().Bold(true), paint: newCodePainter(cfg)}
	switch style {
	case "light":
		r.text = r.text.Foreground(lipgloss.Color("234"))
		r.bold = r.bold.Foreground(lipgloss.Color("234"))
	case "dark":
		r.text = r.text.Foreground(lipgloss.Color("252"))
		r.bold = r.bold.Foreground(lipgloss.Color("252"))
	}
	return r
}

// lite renders the open tail of a streaming reply. Glamour costs about a
// millisecond per call, too much to pay on every token, so the tail gets a
// cheap approximation (wrapped, markers tidied) and the finished block is
// rendered properly once.
func (r *mdRenderer) lite(src string, code bool) []string {
	if code {
		return r.paint.plain(strings.ReplaceAll(src, "\t", "    "), r.width)
	}
	return trimBlank(r.liteLines(src))
}

// liteLines is lite for whole lines of prose, blank lines kept: each line
// is drawn on its own, so lines can be drawn apart and joined.
func (r *mdRenderer) liteLines(src string) []string {
	src = strings.ReplaceAll(src, "\t", "    ")
	var out []string
	// glamour wraps at width-2 inside a margin of 2 on each side
	w := max(r.width-6, 10)
	for _, l := range strings.Split(strings.TrimRight(src, "\n"), "\n") {
		t := strings.TrimLeft(l, " ")
		ind := strings.Repeat(" ", min(len(l)-len(t), 8))
		st := r.text
		switch {
		case strings.HasPrefix(t, "#"):
			st = r.bold // glamour keeps the #s too
		case isListItem(t) && (t[0] == '-' || t[0] == '*' || t[0] == '+'):
			t = "• " + t[2:]
		case strings.HasPrefix(t, "> ") || t == ">":
			t = "│ " + strings.TrimPrefix(strings.TrimPrefix(t, ">"), " ")
		}
		t = liteInline.Replace(liteCode(t))
		for _, wl := range strings.Split(lipgloss.Wrap(ind+t, w, ""), "\n") {
			out = append(out, "  "+st.Render(wl))
		}
	}
	return out
}

// liteInline drops emphasis markers the way the full render does.
var liteInline = strings.NewReplacer("**", "", "__", "")

// liteCode pads `inline code` with no-break spaces, as glamour draws it.
func liteCode(t string) string {
	if !strings.Contains(t, "`") {
		return t
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(t, '`')
		if i < 0 {
			break
		}
		j := strings.IndexByte(t[i+1:], '`')
		if j < 0 {
			b.WriteString(t[:i])
			t = t[i+1:]
			continue
		}
		b.WriteString(t[:i] + "\u00a0" + t[i+1:i+1+j] + "\u00a0")
		t = t[i+2+j:]
	}
	b.WriteString(t)
	return b.String()
}

// render returns src as styled lines without surrounding blank lines and
// without the trailing padding glamour adds (padding would make every line
// full-width and re-wrap badly in the scrollback after a resize).
func (r *mdRenderer) render(src string) []string {
	src = strings.ReplaceAll(src, "\t", "    ")
	// One rule for streaming and the finished reply: the model's line
	// breaks stay (the open tail is drawn line by line too); only lines
	// wider than the screen wrap. Glamour would join them into one paragraph.
	if proseLines(src) {
		var out []string
		for _, l := range strings.Split(strings.TrimRight(src, "\n"), "\n") {
			out = append(out, r.render(l)...)
		}
		return out
	}
	var out string
	var err error
	if r.tr != nil {
		out, err = r.tr.Render(src)
	}
	if r.tr == nil || err != nil {
		out = lipgloss.NewStyle().Width(max(r.width-2, 10)).Render(src)
	}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		lines[i] = trimPadding(l)
	}
	return trimBlank(lines)
}

// proseLines reports whether src is plain prose lines, nothing that
// Markdown builds across lines (a table, quote, list, setext heading,
// indented code): each such line is rendered on its own.
func proseLines(src string) bool {
	lines := strings.Split(strings.TrimRight(src, "\n"), "\n")
	if len(lines) < 2 {
		return false
	}
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || len(l)-len(strings.TrimLeft(l, " ")) >= 4 || isListItem(l) || isHeading(l) {
			return false
		}
		switch t[0] {
		case '|', '>', '=', '-', '<':
			return false
		}
	}
	return true
}

// trimPadding removes trailing spaces and the styling wrapped around them,
// keeping one reset so no style leaks to the next line.
func trimPadding(l string) string {
	styled := false
	for {
		n := len(l)
		l = strings.TrimRight(l, " ")
		if i := strings.LastIndex(l, "\x1b["); i >= 0 && strings.HasSuffix(l, "m") && isSGRParams(l[i+2:len(l)-1]) {
			l = l[:i]
			styled = true
		}
		if len(l) == n {
			break
		}
	}
	if styled && strings.Contains(l, "\x1b[") {
		l += "\x1b[m"
	}
	return l
}

func isSGRParams(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != ';' {
			return false
		}
	}
	return true
}

func isBlank(l string) bool {
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case c == ' ':
		case c == 0x1b:
			j := i + 1
			if j < len(l) && l[j] == '[' {
				for j++; j < len(l) && (l[j] < '@' || l[j] > '~'); j++ {
				}
			}
			i = j
		default:
			return false
		}
	}
	return true
}

func trimBlank(lines []string) []string {
	for len(lines) > 0 && isBlank(lines[0]) {
		lines = lines[1:]
	}
	for len(lines) > 0 && isBlank(lines[len(lines)-1]) {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// Streaming limits: an open code block is committed every codeChunkLines
// lines and a long list every listChunkLines top-level items, so the part
// that is re-rendered on each frame stays small however long the reply gets.
const (
	codeChunkLines = 12
	listChunkLines = 8
)

// A paragraph written as one long line (no line breaks at all, as models
// often write) is committed in pieces: once its open line wraps to more
// than paraChunkLines lines, all but the last paraKeepLines are rendered
// as a block of their own, cut at a wrap point so the paragraph reads the
// same. What is redrawn per frame stays a few lines long.
const (
	paraChunkLines = 8
	paraKeepLines  = 2
)

// block is a finished, rendered piece of a reply.
type block struct {
	src    string
	code   string // fence info (language) of a code chunk
	isCode bool
	sep    bool // preceded by a blank line
	cont   bool // the rest of a long line cut while streaming (joined with a space)
	lines  []string
}

type openKind int

const (
	openNone openKind = iota
	openPara
	openList
)

// streamDoc is a Markdown reply that grows at the end. Finished blocks are
// rendered once and kept; only the open block at the tail is re-rendered.
type streamDoc struct {
	md  *mdRenderer
	buf []byte

	lineStart  int // start of the incomplete last line
	blockStart int // start of the open block
	kind       openKind
	listItems  int
	contNext   bool // the open block continues the previous one (no gap)
	cutNext    bool // the open block is the rest of a long line cut in pieces

	inFence    bool
	fenceChar  byte
	fenceLen   int
	fenceInfo  string
	chunkStart int
	chunkLines int
	fenceParts int

	blocks []block
	flat   []string // the blocks laid out as lines (joinBlocks), kept up to date

	tail      []string
	tailSep   bool
	tailValid bool

	painted                  []string // highlighted finished lines of the open code chunk
	paintedStart, paintedEnd int

	// lite lines of the open block's finished lines (liteFrom..liteTo),
	// so only its last line is drawn again as text arrives
	lited          []string
	liteFrom       int
	liteTo         int
	paraRetryAfter int // a long line that could not be cut: wait for this much text
}

func newStreamDoc(md *mdRenderer) *streamDoc {
	return &streamDoc{md: md, tailValid: true}
}

func (d *streamDoc) text() string { return string(d.buf) }

// write appends streamed text and commits any blocks it completes.
func (d *streamDoc) write(s string) {
	if s == "" {
		return
	}
	d.buf = append(d.buf, s...)
	for {
		i := bytes.IndexByte(d.buf[d.lineStart:], '\n')
		if i < 0 {
			break
		}
		end := d.lineStart + i + 1
		d.line(d.lineStart, end)
		d.lineStart = end
	}
	d.chunkLongLine()
	d.tailValid = false
}

// chunkLongLine commits the wrapped lines of a long open paragraph line
// that can no longer change (see paraChunkLines).
func (d *streamDoc) chunkLongLine() {
	if d.inFence || len(d.buf) < d.paraRetryAfter {
		return
	}
	from := max(d.lineStart, d.blockStart)
	w := max(d.md.width-4, 10)
	if len(d.buf)-from < paraChunkLines*w {
		return // cannot wrap to that many lines yet
	}
	if from == d.blockStart && d.lineStart == d.blockStart {
		// A fresh line: only plain prose, nothing its start could make
		// into a heading, list, quote, table or code.
		r, _ := utf8.DecodeRune(d.buf[from:])
		if !unicode.IsLetter(r) && !strings.ContainsRune(`"'(“‘¿¡`, r) {
			return
		}
	} else if d.blockStart < d.lineStart && d.kind != openPara {
		return
	}
	line := d.buf[from:]
	lines := d.md.lite(string(line), false)
	if len(lines) <= paraChunkLines {
		d.paraRetryAfter = len(d.buf) + w
		return
	}
	keep := len(lines) - paraKeepLines
	var spaces []int
	for i, c := range line {
		if c == ' ' && i > 0 && line[i-1] != ' ' {
			spaces = append(spaces, i)
		}
	}
	// The longest prefix ending before a space that wraps to at most keep
	// lines: the cut falls where the wrap breaks the line anyway.
	lo, hi := 0, len(spaces)-1
	best := -1
	for lo <= hi {
		mid := (lo + hi) / 2
		if len(d.md.lite(string(line[:spaces[mid]]), false)) <= keep {
			best, lo = mid, mid+1
		} else {
			hi = mid - 1
		}
	}
	// Emphasis or code left open would show its markers in both halves.
	for best >= 0 && !closedMarkup(d.buf[d.blockStart:from+spaces[best]]) {
		best--
	}
	if best < 0 {
		d.paraRetryAfter = len(d.buf) + 2*w
		return
	}
	cut := from + spaces[best]
	b := d.renderBlock(string(d.buf[d.blockStart:cut]), !d.contNext)
	b.cont = d.cutNext
	d.addBlock(b)
	for cut < len(d.buf) && d.buf[cut] == ' ' {
		cut++
	}
	d.blockStart, d.contNext, d.cutNext = cut, true, true
	if d.kind == openPara {
		// The rest of the line opens the block again.
		d.kind = openNone
	}
}

// closedMarkup reports whether s leaves no inline code or emphasis open.
func closedMarkup(s []byte) bool {
	return bytes.Count(s, []byte("`"))%2 == 0 && bytes.Count(s, []byte("*"))%2 == 0
}

// finish commits everything, including an unterminated last line.
func (d *streamDoc) finish() {
	if d.lineStart < len(d.buf) {
		d.line(d.lineStart, len(d.buf))
		d.lineStart = len(d.buf)
	}
	if d.inFence {
		if d.chunkStart < len(d.buf) || d.fenceParts == 0 {
			d.commitCode(d.chunkStart, len(d.buf))
		}
		d.inFence = false
	} else {
		d.commitOpen(len(d.buf))
	}
	d.blockStart = len(d.buf)
	d.tail, d.tailValid = nil, true
}

func (d *streamDoc) line(start, end int) {
	l := strings.TrimRight(string(d.buf[start:end]), "\r\n")
	if d.inFence {
		if isFenceClose(l, d.fenceChar, d.fenceLen) {
			if d.chunkStart < start || d.fenceParts == 0 {
				d.commitCode(d.chunkStart, start)
			}
			d.inFence = false
			d.blockStart, d.kind = end, openNone
			return
		}
		d.chunkLines++
		if d.chunkLines >= codeChunkLines {
			d.commitCode(d.chunkStart, end)
			d.chunkStart, d.chunkLines = end, 0
		}
		return
	}
	trimmed := strings.TrimSpace(l)
	switch {
	case trimmed == "":
		d.commitOpen(start)
		d.blockStart = end
	case isFenceOpen(l):
		d.commitOpen(start)
		c, n, info := fenceOf(l)
		d.inFence, d.fenceChar, d.fenceLen, d.fenceInfo = true, c, n, info
		d.chunkStart, d.chunkLines, d.fenceParts = end, 0, 0
		d.blockStart = start
	case isHeading(l):
		d.commitOpen(start)
		d.addBlock(d.renderBlock(l, true))
		d.blockStart = end
	case isListItem(l) && l[0] != ' ':
		if d.kind == openList && d.listItems >= listChunkLines {
			d.commitOpen(start)
			d.contNext = true
		} else if d.kind == openPara {
			d.commitOpen(start)
		}
		if d.kind == openNone {
			d.kind, d.blockStart, d.listItems = openList, start, 0
		}
		d.listItems++
	default:
		if d.kind == openNone {
			// max: a long line may have been committed in part already.
			d.kind, d.blockStart = openPara, max(start, d.blockStart)
		}
	}
}

func (d *streamDoc) commitOpen(end int) {
	if d.kind != openNone && d.blockStart < end {
		b := d.renderBlock(string(d.buf[d.blockStart:end]), !d.contNext)
		b.cont = d.cutNext
		d.addBlock(b)
	}
	d.kind, d.contNext, d.cutNext, d.blockStart = openNone, false, false, end
}

// joinCuts puts the pieces of long lines cut while streaming back together
// (a finished reply laid out again at another width must not show the cuts).
func joinCuts(bs []block) []block {
	var out []block
	for _, b := range bs {
		if n := len(out); b.cont && n > 0 && !out[n-1].isCode {
			out[n-1].src += " " + b.src
			continue
		}
		out = append(out, b)
	}
	return out
}

func (d *streamDoc) commitCode(start, end int) {
	body := string(d.buf[start:end])
	b := block{src: body, code: d.fenceInfo, isCode: true, sep: d.fenceParts == 0}
	b.lines = renderCode(d.md, body, d.fenceInfo)
	d.addBlock(b)
	d.fenceParts++
}

func (d *streamDoc) renderBlock(src string, sep bool) block {
	return block{src: src, sep: sep, lines: d.md.render(src)}
}

func renderCode(md *mdRenderer, body, lang string) []string {
	return md.paint.paint(body, lang, md.width)
}

func (d *streamDoc) addBlock(b block) {
	if len(d.blocks) > 0 && b.sep {
		d.flat = append(d.flat, "")
	}
	d.flat = append(d.flat, b.lines...)
	d.blocks = append(d.blocks, b)
}

// tailLines renders the open block (cached until more text arrives).
func (d *streamDoc) tailLines() ([]string, bool) {
	if d.tailValid {
		return d.tail, d.tailSep
	}
	d.tailValid = true
	if d.inFence {
		// Finished lines of the open chunk are highlighted one by one as they
		// complete (once per line, not per token); the committed chunk is
		// highlighted again as a whole, with its multi-line context. The line
		// still being written is drawn plain until its newline arrives.
		if d.paintedStart != d.chunkStart || d.paintedEnd < d.chunkStart {
			d.painted, d.paintedStart, d.paintedEnd = d.painted[:0], d.chunkStart, d.chunkStart
		}
		for d.paintedEnd < d.lineStart {
			i := bytes.IndexByte(d.buf[d.paintedEnd:d.lineStart], '\n')
			end := d.paintedEnd + i + 1
			d.painted = append(d.painted, d.md.paint.paint(string(d.buf[d.paintedEnd:end]), d.fenceInfo, d.md.width)...)
			d.paintedEnd = end
		}
		d.tail = append(d.tail[:0], d.painted...)
		if d.lineStart < len(d.buf) {
			d.tail = append(d.tail, d.md.paint.plain(string(d.buf[d.lineStart:]), d.md.width)...)
		}
		d.tailSep = d.fenceParts == 0
		return d.tail, d.tailSep
	}
	if len(bytes.TrimSpace(d.buf[d.blockStart:])) == 0 {
		d.tail = nil
		return nil, false
	}
	// The lite drawing goes line by line, so finished lines of the open
	// block are drawn once and kept; only the last line is drawn again.
	if d.liteFrom != d.blockStart || d.liteTo < d.blockStart {
		d.lited, d.liteFrom, d.liteTo = d.lited[:0], d.blockStart, d.blockStart
	}
	if d.liteTo < d.lineStart {
		d.lited = append(d.lited, d.md.liteLines(string(d.buf[d.liteTo:d.lineStart]))...)
		d.liteTo = d.lineStart
	}
	d.tail = append(d.tail[:0], d.lited...)
	if d.lineStart < len(d.buf) {
		d.tail = append(d.tail, d.md.liteLines(string(d.buf[max(d.lineStart, d.blockStart):]))...)
	}
	d.tail = trimBlank(d.tail)
	d.tailSep = !d.contNext
	return d.tail, d.tailSep
}

// rerender redoes every finished block for a new renderer (resize, theme).
func (d *streamDoc) rerender(md *mdRenderer) {
	d.md = md
	for i := range d.blocks {
		b := &d.blocks[i]
		if b.isCode {
			b.lines = renderCode(md, b.src, b.code)
		} else {
			b.lines = md.render(b.src)
		}
	}
	d.flat = joinBlocks(nil, d.blocks)
	d.tailValid = false
}

// joinBlocks lays blocks out as lines, blank lines between separate blocks.
func joinBlocks(dst []string, bs []block) []string {
	for i, b := range bs {
		if i > 0 && b.sep {
			dst = append(dst, "")
		}
		dst = append(dst, b.lines...)
	}
	return dst
}

func isFenceOpen(l string) bool {
	c, n, info := fenceOf(l)
	return n >= 3 && (c != '`' || !strings.Contains(info, "`"))
}

func fenceOf(l string) (byte, int, string) {
	s := l
	ind := 0
	for ind < len(s) && ind < 4 && s[ind] == ' ' {
		ind++
	}
	if ind > 3 || ind >= len(s) {
		return 0, 0, ""
	}
	s = s[ind:]
	c := s[0]
	if c != '`' && c != '~' {
		return 0, 0, ""
	}
	n := 0
	for n < len(s) && s[n] == c {
		n++
	}
	if n < 3 {
		return 0, 0, ""
	}
	info := strings.TrimSpace(s[n:])
	if f := strings.Fields(info); len(f) > 0 {
		info = f[0]
	}
	return c, n, info
}

func isFenceClose(l string, c byte, n int) bool {
	t := strings.TrimLeft(l, " ")
	if len(l)-len(t) > 3 {
		return false
	}
	k := 0
	for k < len(t) && t[k] == c {
		k++
	}
	return k >= n && strings.TrimSpace(t[k:]) == ""
}

func isHeading(l string) bool {
	t := strings.TrimLeft(l, " ")
	if len(l)-len(t) > 3 {
		return false
	}
	k := 0
	for k < len(t) && t[k] == '#' {
		k++
	}
	return k >= 1 && k <= 6 && (k == len(t) || t[k] == ' ' || t[k] == '\t')
}

func isListItem(l string) bool {
	t := strings.TrimLeft(l, " ")
	if len(t) >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && t[1] == ' ' {
		return true
	}
	k := 0
	for k < len(t) && k < 9 && t[k] >= '0' && t[k] <= '9' {
		k++
	}
	return k > 0 && k+1 < len(t) && (t[k] == '.' || t[k] == ')') && t[k+1] == ' '
}
