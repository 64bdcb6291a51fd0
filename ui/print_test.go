package ui

import (
	"strings"
	"sync"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// Bubble Tea prints above the live area by moving the cursor up by the
// print's rows plus the height of the frame on screen; when that is more
// than the screen the input box and status line end up off screen. Every
// print must fit beside any frame that may be on screen when it goes out:
// those drawn since the last print, and the last one before it.
func TestPrintsLeaveRoomForTheLiveArea(t *testing.T) {
	var multi strings.Builder // one paragraph of many source lines
	for i := range 80 {
		multi.WriteString("a line of the one long paragraph that never ends, number ")
		multi.WriteString(strings.Repeat("x", i%7) + "\n")
	}
	replies := map[string]string{
		"one long line":       strings.Repeat("word after word without a break ", 250),
		"many-line paragraph": multi.String(),
		"code":                "Code:\n\n```\n" + strings.Repeat("x := 1 // a line of code\n", 70) + "```\n",
	}
	const w, hgt = 100, 30
	for name, text := range replies {
		t.Run(name, func(t *testing.T) {
			g := newFakeGen(tokens(text, 4)...)
			h := newHarness(t, Config{Gen: g}, w, hgt)
			peak, last, prints, rows := 0, 0, 0, 0
			h.onFrame = func(v string) {
				last = strings.Count(v, "\n") + 1
				peak = max(peak, last)
			}
			h.onPrint = func(s string) {
				n := 0
				for _, l := range strings.Split(s, "\n") {
					n += max(1, (ansi.StringWidth(l)+w-1)/w)
				}
				if n+peak > hgt {
					t.Errorf("a print of %d rows beside a frame of up to %d rows overflows the %d-row screen", n, peak, hgt)
				}
				prints++
				rows += n
				peak = last
			}
			sendAndWait(h, "go on")
			if prints < 2 || rows < 40 {
				t.Fatalf("%d prints, %d rows: the reply did not reach the scrollback", prints, rows)
			}
			// Everything reached the scrollback, in order, once.
			all := ansi.Strip(strings.Join(h.m.scrollback, "\n"))
			if c := strings.Count(all, "› go on"); c != 1 {
				t.Fatalf("the question is in the scrollback %d times", c)
			}
			if len(h.m.printQ) != 0 || h.m.printing {
				t.Fatalf("prints left over: %d queued, printing %v", len(h.m.printQ), h.m.printing)
			}
		})
	}
}

// A width change repaints the inline transcript once the size settles: one
// print that starts by clearing screen and scrollback, then every message
// again at the new width (the streaming reply's finished part included),
// then a full redraw of the live area. Sizes passed through on the way
// repaint nothing.
func TestWidthChangeRepaintsTranscript(t *testing.T) {
	g := newFakeGen("A short earlier answer.")
	var mu sync.Mutex
	var prints []string
	h := newHarness(t, Config{Gen: g}, 100, 30)
	h.onPrint = func(s string) { mu.Lock(); prints = append(prints, s); mu.Unlock() }
	sendAndWait(h, "an earlier question")
	g.mu.Lock()
	g.pieces = []string{"First paragraph of the reply, long enough to wrap at a narrow width of forty columns.\n\n", "Second paragraph, streaming "}
	g.gate, g.pauseAfter = make(chan struct{}), 1
	g.mu.Unlock()
	h.typeText("tell me more")
	h.enter()
	h.waitFor("the first paragraph", func(m Model) bool { return m.cur != nil && m.cur.tokens >= 1 })
	h.settle()
	mu.Lock()
	prints = nil
	mu.Unlock()

	h.send(tea.WindowSizeMsg{Width: 70, Height: 30})
	h.send(tea.WindowSizeMsg{Width: 40, Height: 30})
	h.waitFor("the repaint", func(m Model) bool {
		mu.Lock()
		cleared := strings.Contains(strings.Join(prints, ""), clearAll)
		mu.Unlock()
		return cleared && !m.redrawAfter && !m.printing && len(m.printQ) == 0
	})
	h.settle()
	mu.Lock()
	got := strings.Join(prints, "\n")
	n := strings.Count(got, clearAll)
	mu.Unlock()
	if n != 1 || !strings.HasPrefix(got, clearAll) {
		t.Fatalf("%d clears in the repaint (want 1, first):\n%q", n, got)
	}
	plain := ansi.Strip(got)
	for _, s := range []string{"natter", "an earlier question", "A short earlier answer", "tell me more", "First paragraph"} {
		if !strings.Contains(plain, s) {
			t.Fatalf("repaint lacks %q:\n%s", s, plain)
		}
	}
	for _, l := range strings.Split(plain, "\n") {
		if ansi.StringWidth(l) > 40 {
			t.Fatalf("repainted line wider than 40 columns: %q", l)
		}
	}
	if strings.Count(plain, "First paragraph") != 1 {
		t.Fatalf("the reply's finished paragraph printed %d times", strings.Count(plain, "First paragraph"))
	}
	close(g.gate)
	h.waitFor("the end", func(m Model) bool { return m.cur == nil })

	// The same width again (a height change) repaints nothing.
	before := h.m.repaintSeq
	h.send(tea.WindowSizeMsg{Width: 40, Height: 20})
	if h.m.repaintSeq != before {
		t.Fatal("a height change repaints")
	}
}
