package ui

import (
	"fmt"
	"path/filepath"
	"strings"

	tea "charm.land/bubbletea/v2"
)

// cmdShow is ollama's /show: what the loaded model is (info, the default),
// its chat template (as /template) and the license its file names.
func cmdShow(m *Model, arg string) tea.Cmd {
	what := strings.ToLower(strings.TrimSpace(arg))
	if what == "" {
		what = "info"
	}
	switch what {
	case "info", "license", "template":
	default:
		m.badInput(fmt.Sprintf("/show %s: say info, template or license.", arg))
		return nil
	}
	if m.gen == nil {
		m.errLine = "No model is loaded: use /model PATH."
		return nil
	}
	switch what {
	case "template":
		return cmdTemplate(m, "")
	case "license":
		m.addNote(m.licenseText())
	default:
		m.addNote(m.infoText())
	}
	return nil
}

func (m *Model) licenseText() string {
	info := m.info
	if info.License == "" && info.LicenseLink == "" {
		return "The model file names no license (general.license is not set): check the page you downloaded " +
			m.modelName() + " from before you share its output or the file."
	}
	s := "License of " + m.modelName() + ": " + cleanText(info.License)
	if info.License == "" {
		s = "License of " + m.modelName() + ": see the link"
	}
	if info.LicenseLink != "" {
		s += "\n" + cleanText(info.LicenseLink)
	}
	return s
}

// infoText lays out the loaded model's figures, one per row.
func (m *Model) infoText() string {
	info := m.info
	var b strings.Builder
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-10s %s\n", k, cleanText(v))
		}
	}
	row("model", m.modelName())
	if info.Name != "" && info.Name != m.modelName() {
		row("name", info.Name)
	}
	row("file", info.Path)
	arch := info.Arch
	if info.Description != "" && info.Description != arch {
		arch = strings.TrimSpace(arch + " · " + info.Description)
	}
	row("arch", arch)
	var size []string
	if info.Params > 0 {
		size = append(size, paramCount(info.Params)+" parameters")
	}
	if info.Quantization != "" {
		size = append(size, info.Quantization)
	}
	if info.SizeBytes > 0 {
		size = append(size, humanBytes(int(info.SizeBytes)))
	}
	row("size", strings.Join(size, " · "))
	if info.ContextSize > 0 {
		ctx := commas(info.ContextSize) + " tokens"
		if info.TrainCtx > 0 {
			ctx += " (trained for " + commas(info.TrainCtx) + ")"
		}
		row("context", ctx)
	}
	row("engine", BackendLabel(info.Backend))
	switch {
	case info.Projector != "":
		row("media", strings.TrimPrefix(mediaStatus(info), "+")+" · projector "+TerminalSafe(filepath.Base(info.Projector))+" (/attach FILE)")
		if info.ProjectorCopy != "" {
			row("", "opened through natter's copy "+TerminalSafe(info.ProjectorCopy))
		}
	case info.ProjectorNote != "":
		row("media", "text only: "+TerminalSafe(info.ProjectorNote))
	}
	var toks []string
	if info.BOS != "" {
		toks = append(toks, "BOS "+printable(info.BOS))
	}
	if info.EOS != "" {
		toks = append(toks, "EOS "+printable(info.EOS))
	}
	row("tokens", strings.Join(toks, " · "))
	tmpl := "the model's own"
	if info.ChatTemplate == "" {
		tmpl = "none in the file"
	}
	if m.last != nil && m.last.Template != "" {
		tmpl += "; last used: " + m.last.Template
	}
	row("template", tmpl+" (/show template)")
	lic := info.License
	if lic == "" {
		lic = "not named in the file"
	}
	row("license", lic+" (/show license)")
	return strings.TrimSuffix(b.String(), "\n")
}

// paramCount is 752M, 1.2B.
func paramCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// printable quotes a token text whose bytes would not show ("\n").
func printable(s string) string {
	if strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Sprintf("%q", s)
	}
	return s
}
