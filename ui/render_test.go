package ui

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// longReply builds a Markdown reply of about n tokens (4-byte pieces) with
// headings, paragraphs, lists and code blocks, like a model's long answer.
func longReply(n int) []string {
	var b strings.Builder
	for i := 0; b.Len() < n*4; i++ {
		fmt.Fprintf(&b, "## Step %d\n\nHere we explain the **next part** of the program, with `inline code` and a little more prose so the paragraph wraps.\n\n", i)
		fmt.Fprintf(&b, "- first point %d\n- second point\n- third point with more words\n\n", i)
		b.WriteString("```go\n")
		for j := 0; j < 18; j++ {
			fmt.Fprintf(&b, "\tx%d := compute(%d, \"value\") // line %d\n", j, i*j, j)
		}
		b.WriteString("```\n\n")
	}
	return tokens(b.String(), 4)[:n]
}

// feed streams pieces straight into Update, one message per token, and draws
// the view each time: the worst case, with no frame coalescing at all.
func feed(m Model, pieces []string) Model {
	for _, p := range pieces {
		nm, _ := m.Update(streamMsg{id: m.cur.id, text: p, pieces: 1})
		m = nm.(Model)
		_ = m.View()
	}
	return m
}

func streamingModel(fullscreen bool) Model {
	m := New(Config{Gen: newFakeGen(), Fullscreen: fullscreen, Theme: "dark"})
	nm, _ := m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	m = nm.(Model)
	m.startGen()
	return m
}

// BenchmarkStreamToken measures Update+View per streamed token at the start
// (tokens 0–400) and at the end (tokens 3600–4000) of a 4,000-token reply.
// The per-token cost must not grow with the length of the reply.
//
// "prose" is a reply with no paragraph break at all (a model rambling on):
// one open paragraph that grows to the end.
func BenchmarkStreamToken(b *testing.B) {
	replies := map[string][]string{
		"markdown": longReply(4000),
		"prose":    tokens(strings.Repeat("and then the story went on a little further, ", 400), 4)[:4000],
	}
	for _, kind := range []string{"markdown", "prose"} {
		pieces := replies[kind]
		for _, full := range []bool{false, true} {
			mode := kind + "/inline"
			if full {
				mode = kind + "/fullscreen"
			}
			benchStream(b, pieces, full, mode)
		}
	}
}

func benchStream(b *testing.B, pieces []string, full bool, mode string) {
	{
		for _, part := range []struct {
			name     string
			from, to int
		}{{"start", 0, 400}, {"end", 3600, 4000}} {
			b.Run(mode+"/"+part.name, func(b *testing.B) {
				for b.Loop() {
					b.StopTimer()
					m := feedUntimed(streamingModel(full), pieces[:part.from])
					b.StartTimer()
					m = feed(m, pieces[part.from:part.to])
					b.StopTimer()
					m.cur.cancel()
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(part.to-part.from)), "ns/token")
			})
		}
	}
}

func feedUntimed(m Model, pieces []string) Model {
	for _, p := range pieces {
		nm, _ := m.Update(streamMsg{id: m.cur.id, text: p, pieces: 1})
		m = nm.(Model)
	}
	_ = m.View()
	return m
}

// BenchmarkPaste100KB: a 100 KB bracketed paste, then one frame.
func BenchmarkPaste100KB(b *testing.B) {
	paste := strings.Repeat("some pasted text, a line of it\n", 100<<10/31)
	for b.Loop() {
		b.StopTimer()
		m := New(Config{Gen: newFakeGen()})
		b.StartTimer()
		nm, _ := m.Update(tea.PasteMsg{Content: paste})
		_ = nm.(Model).View()
	}
}

// Streaming in any split must give the same blocks as the whole text.
func TestStreamDocSplitInvariance(t *testing.T) {
	text := strings.Join(longReply(600), "")
	md := newMarkdown(90, "dark")
	whole := newStreamDoc(md)
	whole.write(text)
	whole.finish()
	for _, n := range []int{2, 17} {
		d := newStreamDoc(md)
		for _, p := range tokens(text, n) {
			d.write(p)
			d.tailLines()
		}
		d.finish()
		if d.text() != text {
			t.Fatalf("split %d: text differs", n)
		}
		// Compared without colours: chroma's shade for comments is not
		// always the same from one render to the next.
		a, b := joinBlocks(nil, whole.blocks), joinBlocks(nil, d.blocks)
		if ansi.Strip(strings.Join(a, "\n")) != ansi.Strip(strings.Join(b, "\n")) {
			t.Fatalf("split %d: rendering differs", n)
		}
	}
}

// Finished blocks are rendered once; the tail is all that is redone.
func TestStreamDocCommitsBlocks(t *testing.T) {
	d := newStreamDoc(newMarkdown(80, "dark"))
	d.write("# Title\n\nFirst paragraph.\n\n```go\n")
	if len(d.blocks) != 2 {
		t.Fatalf("want heading and paragraph committed, got %d blocks", len(d.blocks))
	}
	for i := range codeChunkLines + 3 {
		d.write(fmt.Sprintf("line%d()\n", i))
	}
	if len(d.blocks) != 3 {
		t.Fatalf("a long open code block should commit a chunk: %d blocks", len(d.blocks))
	}
	tail, _ := d.tailLines()
	if len(tail) == 0 || len(tail) > 6 {
		t.Fatalf("tail has %d lines", len(tail))
	}
	d.write("```\nAfter.")
	d.finish()
	if got := codeBlocks(d.text()); len(got) != 1 || !strings.HasPrefix(got[0], "line0()") {
		t.Fatalf("code blocks %q", got)
	}
}

// Any Markdown, valid or not, streams without panicking, keeps its text and
// stays within the width.
func FuzzStreamDoc(f *testing.F) {
	for _, s := range []string{replyMarkdown, "```\nopen", "~~~~py\nx\n~~~\n", "1. a\n2. b\n\n# h\n---\n", "\xff\xfe", "| a | b |\n|---|---|\n| 1 | 2 |\n"} {
		f.Add(s, 5)
	}
	md := newMarkdown(40, "dark")
	f.Fuzz(func(t *testing.T, in string, n int) {
		if !utf8.ValidString(in) {
			in = strings.ToValidUTF8(in, "?")
		}
		n = n%9 + 1
		if n < 1 {
			n = 1
		}
		d := newStreamDoc(md)
		for _, p := range tokens(in, n) {
			d.write(p)
			d.tailLines()
		}
		d.finish()
		if d.text() != in {
			t.Fatal("text changed")
		}
	})
}

// While a paragraph streams it is drawn cheaply; when it is finished glamour
// draws it. The two must agree, or text would jump when a block completes.
func TestLiteTailMatchesFinalRender(t *testing.T) {
	md := newMarkdown(60, "dark")
	for _, src := range []string{
		"Here we explain the **next part** of the program, with `inline code` and a little more prose so the paragraph wraps over several lines of text.",
		"- short item\n- another one\n  - nested item",
		"> a quote here",
		"1. one\n2. two",
	} {
		a, b := md.render(src), md.lite(src, false)
		if ansi.Strip(strings.Join(a, "\n")) != ansi.Strip(strings.Join(b, "\n")) {
			t.Errorf("%q:\nfinal:\n%s\nlite:\n%s", src, ansi.Strip(strings.Join(a, "\n")), ansi.Strip(strings.Join(b, "\n")))
		}
	}
}

func TestCodePainterWrapsInsteadOfCutting(t *testing.T) {
	p := newMarkdown(40, "dark").paint
	code := "x := \"" + strings.Repeat("abcdefghij", 20) + "\" // 全角の文字も\nnext()"
	lines := p.paint(code, "go", 40)
	var got strings.Builder
	for _, l := range lines {
		if w := ansi.StringWidth(l); w > 40 {
			t.Fatalf("line of width %d: %q", w, ansi.Strip(l))
		}
		s := ansi.Strip(l)
		if !strings.HasPrefix(s, codeMargin) {
			t.Fatalf("line without the code margin: %q", s)
		}
		got.WriteString(strings.TrimPrefix(s, codeMargin))
	}
	if want := strings.ReplaceAll(code, "\n", ""); got.String() != want {
		t.Fatalf("text changed:\n%q\n%q", got.String(), want)
	}
}

func TestCodeColoursFollowTheTheme(t *testing.T) {
	code := "func main() { return }"
	dark := strings.Join(newMarkdown(80, "dark").paint.paint(code, "go", 80), "\n")
	light := strings.Join(newMarkdown(80, "light").paint.paint(code, "go", 80), "\n")
	plain := strings.Join(newMarkdown(80, "plain").paint.paint(code, "go", 80), "\n")
	if dark == light {
		t.Fatal("dark and light code colours are the same")
	}
	if !strings.Contains(dark, "\x1b[") || strings.Contains(plain, "\x1b[") {
		t.Fatalf("dark %q plain %q", dark, plain)
	}
	if ansi.Strip(dark) != "    "+code || plain != "    "+code {
		t.Fatalf("text changed: %q %q", ansi.Strip(dark), plain)
	}
}

// A paragraph streamed as one long line is committed in pieces as it grows,
// so only its last lines are drawn per frame; the pieces are cut where the
// paragraph wraps anyway, so it reads exactly as if drawn whole.
func TestLongLineIsCommittedInPiecesInvisibly(t *testing.T) {
	for _, text := range []string{
		strings.Repeat("and then the story went on a little further, ", 120),
		strings.Repeat("Some **bold words** here and `code spans` there, then more plain words follow. ", 50),
	} {
		for _, width := range []int{100, 61} {
			md := newMarkdown(width, "dark")
			d := newStreamDoc(md)
			maxTail := 0
			for _, p := range tokens(text, 4) {
				d.write(p)
				tail, _ := d.tailLines()
				maxTail = max(maxTail, len(tail))
			}
			if len(d.blocks) < 3 {
				t.Fatalf("width %d: %d blocks committed while streaming", width, len(d.blocks))
			}
			if maxTail > paraChunkLines+1 {
				t.Errorf("width %d: the open tail grew to %d lines", width, maxTail)
			}
			d.finish()
			got := ansi.Strip(strings.Join(d.flat, "\n"))
			want := ansi.Strip(strings.Join(md.render(text), "\n"))
			if got != want {
				t.Fatalf("width %d: pieces differ from the whole:\n--- pieces\n%s\n--- whole\n%s", width, got, want)
			}
			// Laid out again at another width (a resize), the pieces join up.
			md2 := newMarkdown(width-17, "dark")
			d2 := streamDoc{md: md2, blocks: joinCuts(d.blocks)}
			d2.rerender(md2)
			if got, want := ansi.Strip(strings.Join(d2.flat, "\n")), ansi.Strip(strings.Join(md2.render(text), "\n")); got != want {
				t.Fatalf("width %d→%d: the pieces did not join up:\n%s", width, width-17, got)
			}
		}
	}
}
