package models

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// ProgressPrinter draws pull progress for the CLI: one redrawn line with a
// bar on a terminal, plain lines (at each 10% or every 5 s) otherwise, so
// logs and pipes stay readable.
type ProgressPrinter struct {
	w         io.Writer
	tty       bool
	width     int
	last      Progress
	lastLine  time.Time
	lastTenth int
	phase     string
	drawn     bool
}

// NewProgressPrinter prints to w; tty chooses the redrawn bar.
func NewProgressPrinter(w io.Writer, tty bool) *ProgressPrinter {
	pp := &ProgressPrinter{w: w, tty: tty, width: 80, lastTenth: -1}
	if f, ok := w.(*os.File); ok && tty {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 20 {
			pp.width = cols
		}
	}
	return pp
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Update is a PullOptions.Progress callback.
func (pp *ProgressPrinter) Update(p Progress) {
	pp.last = p
	if pp.tty {
		pp.drawBar(p)
		return
	}
	now := time.Now()
	tenth := -1
	if f := p.Fraction(); f >= 0 {
		tenth = int(f * 10)
	}
	switch {
	case p.Phase != pp.phase:
	case p.Phase == PhaseDownloading && (tenth > pp.lastTenth || now.Sub(pp.lastLine) >= 5*time.Second):
	default:
		return
	}
	pp.phase, pp.lastLine, pp.lastTenth = p.Phase, now, tenth
	fmt.Fprintln(pp.w, plainLine(p))
}

// Finish ends a redrawn line so later output starts on a fresh one.
func (pp *ProgressPrinter) Finish() {
	if pp.tty && pp.drawn {
		fmt.Fprintln(pp.w)
		pp.drawn = false
	}
}

func plainLine(p Progress) string {
	switch p.Phase {
	case PhaseConnecting:
		if p.Resumed > 0 && p.Attempt == 1 {
			return fmt.Sprintf("%s: resuming at %s", p.File, HumanBytes(uint64(p.Resumed)))
		}
		if p.Attempt > 1 {
			return fmt.Sprintf("%s: reconnecting (attempt %d) at %s", p.File, p.Attempt, HumanBytes(uint64(p.Done)))
		}
		return fmt.Sprintf("%s: connecting", p.File)
	case PhaseVerifying:
		return fmt.Sprintf("%s: verifying", p.File)
	case PhaseDone:
		return fmt.Sprintf("%s: done, %s", p.File, HumanBytes(uint64(p.Done)))
	}
	return fmt.Sprintf("%s: %s", p.File, stats(p))
}

// stats is "45% 180 MB / 398 MB, 12 MB/s, ETA 0:17".
func stats(p Progress) string {
	var b strings.Builder
	if f := p.Fraction(); f >= 0 {
		fmt.Fprintf(&b, "%3.0f%% %s / %s", f*100, HumanBytes(uint64(p.Done)), HumanBytes(uint64(p.Total)))
	} else {
		b.WriteString(HumanBytes(uint64(p.Done)))
	}
	if p.Speed > 0 {
		fmt.Fprintf(&b, ", %s/s", HumanBytes(uint64(p.Speed)))
	}
	if p.ETA >= 0 {
		fmt.Fprintf(&b, ", ETA %s", FormatETA(p.ETA))
	}
	return b.String()
}

// FormatETA gives m:ss or h:mm:ss.
func FormatETA(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Bar renders a bar of width cells for fraction f (0..1); unknown (-1)
// renders an empty bar.
func Bar(f float64, width int) string {
	if width < 1 {
		return ""
	}
	full := 0
	if f > 0 {
		full = int(f * float64(width))
	}
	full = min(full, width)
	return strings.Repeat("█", full) + strings.Repeat("░", width-full)
}

func (pp *ProgressPrinter) drawBar(p Progress) {
	var line string
	switch p.Phase {
	case PhaseDownloading:
		line = fmt.Sprintf("%s %s %s", shorten(p.File, 28), Bar(p.Fraction(), 24), stats(p))
	default:
		line = plainLine(p)
	}
	if r := []rune(line); len(r) > pp.width-1 {
		line = string(r[:pp.width-1])
	}
	fmt.Fprintf(pp.w, "\r\x1b[K%s", line)
	pp.drawn = true
	if p.Phase == PhaseDone {
		pp.Finish()
	}
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
