package ui

import (
	"strings"
	"testing"

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
