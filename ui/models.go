package ui

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"
)

// LocalModel is one model on this machine, as `natter models` lists it.
type LocalModel struct {
	Name, Path, Source  string
	Arch, Params, Quant string // "" when the header could not be read
	Size                string // e.g. "1.1 MB"
	Fit                 string // fit mark, e.g. "✓"
	Template            bool
	Err                 string // why the header could not be read
	Loaded              bool   // the file loaded now (set by /model)
}

type localModelsMsg struct {
	list []LocalModel
}

// cmdModelList is /model alone: the loaded model, then the local models
// (found off the Update goroutine: discovery reads the disk) to pick from
// with /model N or /model NAME.
func cmdModelList(m *Model) tea.Cmd {
	if m.cfg.LocalModels == nil {
		if m.gen == nil {
			m.addNote("No model is loaded. /model PATH loads one.")
		} else {
			m.addNote(m.currentModelLine())
		}
		return nil
	}
	list, cur := m.cfg.LocalModels, ""
	if m.gen != nil {
		cur = m.info.Path
	}
	m.busy = "looking for models…"
	return func() tea.Msg {
		l := list()
		if cur != "" {
			if a, err := os.Stat(cur); err == nil {
				for i := range l {
					if b, err := os.Stat(l[i].Path); err == nil && os.SameFile(a, b) {
						l[i].Loaded = true
					}
				}
			}
		}
		return localModelsMsg{list: l}
	}
}

func (m Model) currentModelLine() string {
	return fmt.Sprintf("Loaded: %s · %s · %s · ctx %s", m.modelLabel(), m.info.Description, m.info.Path, commas(m.info.ContextSize))
}

func (m Model) handleLocalModels(msg localModelsMsg) (tea.Model, tea.Cmd) {
	m.busy = ""
	m.localModels = msg.list
	var b strings.Builder
	if m.gen != nil {
		b.WriteString(m.currentModelLine() + "\n")
	}
	if len(msg.list) == 0 {
		b.WriteString("No other GGUF models found on this machine (natter models lists where it looks; natter pull NAME downloads one).")
		m.addNote(b.String())
		return m, m.flushPrints()
	}
	b.WriteString("Local models (as natter models lists them) · /model N or /model NAME loads one:")
	nameW := 4
	for _, x := range msg.list {
		nameW = max(nameW, min(len([]rune(x.Name)), 40))
	}
	for i, x := range msg.list {
		mark := " "
		if x.Loaded {
			mark = "*"
		}
		name := x.Name
		if r := []rune(name); len(r) > 40 {
			name = string(r[:39]) + "…"
		}
		line := fmt.Sprintf("\n%s%2d. %-*s", mark, i+1, nameW, name)
		if x.Err != "" {
			line += fmt.Sprintf("  %8s  (unreadable: %s)", x.Size, x.Err)
		} else {
			tmpl := ""
			if !x.Template {
				tmpl = " · no chat template"
			}
			line += fmt.Sprintf("  %-8s %6s %-7s %8s %s  %s%s", x.Arch, x.Params, x.Quant, x.Size, x.Fit, x.Source, tmpl)
		}
		b.WriteString(strings.TrimRight(line, " "))
	}
	if m.gen != nil {
		b.WriteString("\n* loaded now")
	}
	m.addNote(b.String())
	return m, m.flushPrints()
}

// pickLocalModel turns /model N into the path of the Nth model listed.
func (m *Model) pickLocalModel(arg string) (string, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(arg, "#"))
	if err != nil {
		return arg, true
	}
	if len(m.localModels) == 0 {
		m.errLine = "/model N picks from the list /model shows: run /model first."
		return "", false
	}
	if n < 1 || n > len(m.localModels) {
		m.errLine = fmt.Sprintf("/model %d: the list has %d models.", n, len(m.localModels))
		return "", false
	}
	return m.localModels[n-1].Path, true
}
