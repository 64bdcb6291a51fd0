package ui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"natter/internal/units"
)

// pullState is a download started from the first-run screen.
type pullState struct {
	name     string
	cancel   context.CancelFunc
	stopping bool
	last     PullProgress
	prog     chan PullProgress // latest wins
	warn     chan string
	done     chan pullDoneMsg
}

type (
	pullProgressMsg struct {
		ps *pullState
		p  PullProgress
	}
	pullWarnMsg struct {
		ps   *pullState
		text string
	}
	pullDoneMsg struct {
		ps   *pullState
		path string
		err  error
	}
)

func (ps *pullState) wait() tea.Cmd {
	return func() tea.Msg {
		select {
		case d := <-ps.done:
			return d
		case w := <-ps.warn:
			return pullWarnMsg{ps, w}
		case p := <-ps.prog:
			return pullProgressMsg{ps, p}
		}
	}
}

// showCatalog: the first-run screen offers models to download.
func (m Model) showCatalog() bool {
	return m.gen == nil && len(m.catalog) > 0
}

// catalogKey handles the first-run picker's keys; ok is false for keys it
// leaves to the input.
func (m Model) catalogKey(key string) (tea.Model, tea.Cmd, bool) {
	if m.pull != nil {
		if key == "esc" {
			if !m.pull.stopping {
				m.pull.stopping = true
				m.pull.cancel()
			}
			return m, nil, true
		}
		return m, nil, false
	}
	if m.busy != "" || m.input.Value() != "" {
		return m, nil, false
	}
	switch key {
	case "up":
		m.catSel = max(m.catSel-1, 0)
	case "down":
		m.catSel = min(m.catSel+1, len(m.catalog)-1)
	case "enter":
		return m, m.pickModel(m.catalog[m.catSel]), true
	default:
		return m, nil, false
	}
	return m, nil, true
}

func (m *Model) pickModel(it CatalogItem) tea.Cmd {
	m.errLine = ""
	if it.Downloaded != "" {
		return m.loadModel(it.Downloaded)
	}
	if m.cfg.Offline {
		m.errLine = "Downloads are off (NATTER_OFFLINE is set): pick a model already on disk, or use /model PATH."
		return nil
	}
	if m.cfg.Pull == nil {
		m.errLine = "Downloads are not available here: use natter pull " + it.Name + "."
		return nil
	}
	ctx, cancel := context.WithCancel(m.baseCtx)
	ps := &pullState{name: it.Name, cancel: cancel, prog: make(chan PullProgress, 1),
		warn: make(chan string), done: make(chan pullDoneMsg, 1)}
	ps.last = PullProgress{Phase: "connecting", Total: it.Size, ETA: -1}
	pull := m.cfg.Pull
	go func() {
		path, err := pull(ctx, it.Name, func(p PullProgress) {
			if p.Warning != "" {
				select {
				case ps.warn <- p.Warning:
				case <-ctx.Done():
				}
				return
			}
			for {
				select {
				case ps.prog <- p:
					return
				default:
				}
				select {
				case <-ps.prog:
				default:
				}
			}
		})
		ps.done <- pullDoneMsg{ps: ps, path: path, err: err}
	}()
	m.pull = ps
	return ps.wait()
}

// loadModel opens a model file in the background (/model, first run).
func (m *Model) loadModel(path string) tea.Cmd {
	if m.cfg.LoadModel == nil {
		m.addNote("Restart natter with -m " + path + " to use this model.")
		return nil
	}
	m.busy = "loading " + filepath.Base(path) + "…"
	load := m.cfg.LoadModel
	return func() tea.Msg {
		g, err := load(path)
		return modelLoadedMsg{gen: g, path: path, err: err}
	}
}

func (m Model) handlePullProgress(msg pullProgressMsg) (tea.Model, tea.Cmd) {
	if msg.ps != m.pull {
		return m, nil
	}
	m.pull.last = msg.p
	return m, m.pull.wait()
}

func (m Model) handlePullDone(msg pullDoneMsg) (tea.Model, tea.Cmd) {
	if msg.ps != m.pull {
		return m, nil
	}
	ps := m.pull
	m.pull = nil
	ps.cancel()
	if msg.err != nil {
		if ps.stopping || errors.Is(msg.err, context.Canceled) {
			m.addNote(fmt.Sprintf("Download of %s stopped. The partial file is kept: pick it again to resume.", ps.name))
			return m, m.flushPrints()
		}
		m.errLine = downloadError(ps.name, msg.err)
		return m, nil
	}
	m.addNote(fmt.Sprintf("Downloaded %s to %s.", ps.name, msg.path))
	for i := range m.catalog {
		if m.catalog[i].Name == ps.name {
			m.catalog[i].Downloaded = msg.path
		}
	}
	return m, tea.Batch(m.loadModel(msg.path), m.flushPrints())
}

// catalogLines draws the first-run picker, or the download's progress.
func (m Model) catalogLines() []string {
	w := max(m.width, 20)
	if ps := m.pull; ps != nil {
		return []string{ansi.Truncate(m.pullLine(ps), w, "…")}
	}
	head := "Pick a model to download: ↑↓ and Enter (or /model PATH)."
	if m.cfg.Offline {
		head = "Downloads are off (NATTER_OFFLINE is set); models on disk can still be picked."
	}
	out := []string{m.st.accent.Render(ansi.Truncate(head, w, "…"))}
	// A few rows at a time keep the help above the picker in view.
	room := max(min(len(m.catalog), m.height-8, 8), 1)
	top := max(min(m.catSel-room/2, len(m.catalog)-room), 0)
	nameW := 14
	for _, it := range m.catalog {
		nameW = max(nameW, ansi.StringWidth(it.Name))
	}
	for i := top; i < len(m.catalog) && i < top+room; i++ {
		it := m.catalog[i]
		size := units.Bytes(it.Size)
		if it.SizeText != "" {
			size = it.SizeText
		}
		if it.Downloaded != "" {
			size = "on disk"
		}
		mark := it.FitMark
		if mark == "" {
			mark = " "
		}
		desc := it.Description
		if it.Unverified {
			desc = "(unverified) " + desc
		}
		if it.Recommended {
			desc = "(recommended) " + desc
		}
		line := fmt.Sprintf("%-*s %8s  %s %-8s %s", nameW, it.Name, size, mark, it.Fit, desc)
		if i == m.catSel {
			out = append(out, ansi.Truncate(m.st.accent.Render("› "+line), w, "…"))
		} else {
			out = append(out, ansi.Truncate("  "+line, w, "…"))
		}
	}
	return out
}

func (m Model) pullLine(ps *pullState) string {
	p := ps.last
	if ps.stopping {
		return m.st.warn.Render("stopping the download of " + ps.name + "…")
	}
	switch p.Phase {
	case "connecting", "":
		return m.st.accent.Render("↓ "+ps.name+": connecting…") + m.st.dim.Render("  (esc stops)")
	case "verifying":
		return m.st.accent.Render("↓ " + ps.name + ": verifying the file…")
	}
	frac := 0.0
	if p.Total > 0 {
		frac = min(float64(p.Done)/float64(p.Total), 1)
	}
	const barW = 24
	fill := int(frac * barW)
	bar := strings.Repeat("█", fill) + strings.Repeat("░", barW-fill)
	var figs []string
	total := "?"
	if p.Total > 0 {
		total = units.Bytes(p.Total)
	}
	figs = append(figs, units.Bytes(p.Done)+" / "+total)
	if p.Speed > 0 {
		figs = append(figs, units.Bytes(int64(p.Speed))+"/s")
	}
	if p.ETA > 0 {
		figs = append(figs, fmtETA(p.ETA)+" left")
	}
	return m.st.accent.Render("↓ "+ps.name+" ") + bar + fmt.Sprintf(" %3.0f%% ", frac*100) +
		m.st.status.Render(strings.Join(figs, " · ")) + m.st.dim.Render("  (esc stops)")
}

func fmtETA(d time.Duration) string {
	d = d.Round(time.Second)
	if d >= time.Hour {
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	if d >= time.Minute {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

// downloadError puts the cause first: the message of a failed request ends
// with it ("…: dial tcp: lookup host: no such host").
func downloadError(name string, err error) string {
	msg := oneLine(err.Error())
	low := strings.ToLower(msg)
	cause := ""
	switch {
	case strings.Contains(low, "no such host"), strings.Contains(low, "network is unreachable"),
		strings.Contains(low, "server misbehaving"), strings.Contains(low, "temporary failure in name resolution"):
		cause = "no network"
	case strings.Contains(low, "connection refused"):
		cause = "the server refused the connection"
	case strings.Contains(low, "timeout"), strings.Contains(low, "deadline exceeded"):
		cause = "the network timed out"
	case strings.Contains(low, "no space left"):
		cause = "the disk is full"
	}
	if cause == "" {
		return "download " + name + ": " + msg
	}
	return cause + ": download " + name + " failed (" + msg + ")"
}
