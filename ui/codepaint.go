package ui

import (
	"strings"
	"sync"
	"unicode/utf8"

	"charm.land/glamour/v2/ansi"
	"charm.land/lipgloss/v2"
	"github.com/alecthomas/chroma/v2"
	"github.com/alecthomas/chroma/v2/lexers"
	"github.com/charmbracelet/colorprofile"
	xansi "github.com/charmbracelet/x/ansi"
)

// codePainter highlights code blocks. Glamour's own path costs about half a
// millisecond per line (it matches every token's colour against the 256-colour
// palette and runs each line through several writers); this one turns the
// theme into escape sequences once and then only tokenises, which keeps long
// code-heavy replies from taking CPU away from the model. It also keeps each
// theme's colours apart (glamour registers a single global chroma style).
type codePainter struct {
	sgr    map[chroma.TokenType]string
	margin string
}

const codeMargin = "    " // document margin + code block margin, as glamour lays it out

func newCodePainter(cfg ansi.StyleConfig) *codePainter {
	p := &codePainter{sgr: map[chroma.TokenType]string{}, margin: codeMargin}
	ch := cfg.CodeBlock.Chroma
	if ch == nil {
		if c := cfg.CodeBlock.Color; c != nil {
			p.sgr[chroma.Text] = sgrOf(ansi.StylePrimitive{Color: c})
		}
		return p
	}
	for t, s := range map[chroma.TokenType]ansi.StylePrimitive{
		chroma.Text: ch.Text, chroma.Error: ch.Error, chroma.Comment: ch.Comment,
		chroma.CommentPreproc: ch.CommentPreproc, chroma.Keyword: ch.Keyword,
		chroma.KeywordReserved: ch.KeywordReserved, chroma.KeywordNamespace: ch.KeywordNamespace,
		chroma.KeywordType: ch.KeywordType, chroma.Operator: ch.Operator,
		chroma.Punctuation: ch.Punctuation, chroma.Name: ch.Name, chroma.NameBuiltin: ch.NameBuiltin,
		chroma.NameTag: ch.NameTag, chroma.NameAttribute: ch.NameAttribute, chroma.NameClass: ch.NameClass,
		chroma.NameConstant: ch.NameConstant, chroma.NameDecorator: ch.NameDecorator,
		chroma.NameException: ch.NameException, chroma.NameFunction: ch.NameFunction,
		chroma.NameOther: ch.NameOther, chroma.Literal: ch.Literal, chroma.LiteralNumber: ch.LiteralNumber,
		chroma.LiteralDate: ch.LiteralDate, chroma.LiteralString: ch.LiteralString,
		chroma.LiteralStringEscape: ch.LiteralStringEscape, chroma.GenericDeleted: ch.GenericDeleted,
		chroma.GenericEmph: ch.GenericEmph, chroma.GenericInserted: ch.GenericInserted,
		chroma.GenericStrong: ch.GenericStrong, chroma.GenericSubheading: ch.GenericSubheading,
	} {
		if sgr := sgrOf(s); sgr != "" {
			p.sgr[t] = sgr
		}
	}
	return p
}

// sgrOf is the escape sequence for a style, in 256 colours like glamour.
func sgrOf(s ansi.StylePrimitive) string {
	var st xansi.Style
	if s.Color != nil {
		st = st.ForegroundColor(colorprofile.ANSI256.Convert(lipgloss.Color(*s.Color)))
	}
	if s.BackgroundColor != nil {
		st = st.BackgroundColor(colorprofile.ANSI256.Convert(lipgloss.Color(*s.BackgroundColor)))
	}
	if s.Bold != nil && *s.Bold {
		st = st.Bold()
	}
	if s.Italic != nil && *s.Italic {
		st = st.Italic(true)
	}
	if s.Underline != nil && *s.Underline {
		st = st.Underline(true)
	}
	if len(st) == 0 {
		return ""
	}
	return st.String()
}

func (p *codePainter) style(t chroma.TokenType) string {
	if s, ok := p.sgr[t]; ok {
		return s
	}
	if s, ok := p.sgr[t.SubCategory()]; ok {
		return s
	}
	if s, ok := p.sgr[t.Category()]; ok {
		return s
	}
	return p.sgr[chroma.Text]
}

var (
	lexerMu    sync.Mutex
	lexerCache = map[string]chroma.Lexer{}
)

func lexerFor(lang string) chroma.Lexer {
	lexerMu.Lock()
	defer lexerMu.Unlock()
	if l, ok := lexerCache[lang]; ok {
		return l
	}
	var l chroma.Lexer
	if lang != "" {
		l = lexers.Get(lang)
	}
	if l == nil {
		l = lexers.Fallback
	}
	l = chroma.Coalesce(l)
	lexerCache[lang] = l
	return l
}

// lineBuilder lays out styled pieces of code into indented lines of the
// given width; long lines wrap rather than lose their ends.
type lineBuilder struct {
	margin string
	room   int
	used   int
	cur    strings.Builder
	lines  []string
}

func newLineBuilder(margin string, width int) *lineBuilder {
	b := &lineBuilder{margin: margin, room: max(width-len(margin), 4)}
	b.cur.WriteString(margin)
	return b
}

func (b *lineBuilder) newline() {
	b.lines = append(b.lines, b.cur.String())
	b.cur.Reset()
	b.cur.WriteString(b.margin)
	b.used = 0
}

func (b *lineBuilder) emit(sgr, text string) {
	for text != "" {
		if b.used >= b.room {
			b.newline()
		}
		head := xansi.Truncate(text, b.room-b.used, "")
		if head == "" {
			if b.used > 0 {
				b.newline()
				continue
			}
			_, size := utf8.DecodeRuneInString(text) // wider than the room
			head = text[:size]
		}
		b.used += xansi.StringWidth(head)
		text = text[len(head):]
		if sgr != "" {
			b.cur.WriteString(sgr + head + "\x1b[m")
		} else {
			b.cur.WriteString(head)
		}
	}
}

// write adds text that may contain newlines.
func (b *lineBuilder) write(sgr, text string) {
	for i, part := range strings.Split(text, "\n") {
		if i > 0 {
			b.newline()
		}
		b.emit(sgr, part)
	}
}

func (b *lineBuilder) done() []string {
	if s := b.cur.String(); s != b.margin || len(b.lines) == 0 {
		b.lines = append(b.lines, s)
	}
	return b.lines
}

// paint returns the highlighted lines of code, indented like glamour's code
// blocks.
func (p *codePainter) paint(code, lang string, width int) []string {
	code = strings.TrimSuffix(strings.ReplaceAll(code, "\t", "    "), "\n")
	b := newLineBuilder(p.margin, width)
	if code == "" {
		return b.done()
	}
	it, err := lexerFor(lang).Tokenise(nil, code)
	if err != nil {
		it = chroma.Literator(chroma.Token{Type: chroma.Text, Value: code})
	}
	for tok := it(); tok != chroma.EOF; tok = it() {
		b.write(p.style(tok.Type), tok.Value)
	}
	return b.done()
}

// plain lays out code without tokenising it (the line still being typed).
func (p *codePainter) plain(code string, width int) []string {
	b := newLineBuilder(p.margin, width)
	b.write(p.sgr[chroma.Text], strings.ReplaceAll(code, "\t", "    "))
	return b.done()
}
