package ui

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	tea "charm.land/bubbletea/v2"

	"natter/engine/api"
)

// /lora lists the model's LoRA adapters and rescales one without reloading
// the model; the status line names the ones that are on.

const (
	noLoraLoaded = "No LoRA adapters are loaded. Start natter with --lora FILE[:SCALE] (repeatable)."
	loraUsage    = "Usage: /lora (list), /lora N|NAME SCALE (SCALE from -4 to 4, on or off)"
	loraBusy     = "setting the LoRA scale…"
	maxLoraScale = 4 // the engine's limit (engine.MaxLoraScale; ui cannot import the engine)
)

// loraState is what the chat knows of the model's adapters. Update and View
// never ask the model: it may be busy with a reply, and the status line is
// drawn every frame.
type loraState struct {
	adapters []api.Adapter
	known    bool // adapters is the model's answer since it loaded (else m.info's, as loaded)
	seq      int  // bumped on a model switch: answers about the old model are dropped
}

// loraMsg is the model's adapters after a /lora call.
type loraMsg struct {
	seq      int
	adapters []api.Adapter
	set      int // the adapter rescaled (0-based); -1: a listing
	scale    float32
	err      error
}

// loraAdapters are the adapters with their current scales.
func (m Model) loraAdapters() []api.Adapter {
	if m.lora.known {
		return m.lora.adapters
	}
	return m.info.Adapters
}

// loraScaler is the model as /lora uses it; ok is false when the model
// cannot take adapters (a wrapper may have the methods for any model, so
// the backend decides too).
func (m Model) loraScaler() (api.AdapterScaler, bool) {
	sc, ok := m.gen.(api.AdapterScaler)
	if !ok || m.info.Arch == "remote" || m.info.Backend == "go" {
		return nil, false
	}
	return sc, true
}

func (m Model) noLoraReason() string {
	switch {
	case m.info.Arch == "remote":
		return "LoRA adapters are not available for a remote model: they need a local GGUF model run by llama.cpp."
	case m.info.Backend == "go":
		return "LoRA adapters are not available on the Go engine: they need llama.cpp (--backend llama.cpp)."
	}
	return "LoRA adapters are not available for this model."
}

func cmdLora(m *Model, arg string) tea.Cmd {
	if m.gen == nil {
		m.errLine = "No model is loaded: use /model PATH."
		return nil
	}
	sc, ok := m.loraScaler()
	if !ok {
		m.errLine = "/lora: " + m.noLoraReason()
		return nil
	}
	seq := m.lora.seq
	f := strings.Fields(arg)
	if len(f) == 0 {
		return func() tea.Msg { return loraMsg{seq: seq, adapters: sc.Adapters(), set: -1} }
	}
	if m.busyStreaming() {
		return nil
	}
	if m.busy != "" {
		m.errLine = "Just a moment: " + m.busy
		return nil
	}
	if len(f) != 2 {
		m.badInput(loraUsage)
		return nil
	}
	list := m.loraAdapters()
	if len(list) == 0 {
		m.errLine = noLoraLoaded
		return nil
	}
	i, why := pickAdapter(list, f[0])
	if why != "" {
		m.badInput(why)
		return nil
	}
	scale, ok := parseLoraScale(f[1])
	if !ok {
		m.badInput(fmt.Sprintf("/lora: scale %q is not a number from -4 to 4 (or on, off).", f[1]))
		return nil
	}
	name := adapterName(list[i])
	if list[i].Scale == scale {
		// Setting it again would only throw the cache away.
		m.addNote(fmt.Sprintf("LoRA %s: %s already.", name, loraScaleText(scale)))
		return nil
	}
	// Busy until the model has it, so no message is sent under the old scale.
	m.busy = loraBusy
	return func() tea.Msg {
		err := sc.SetAdapterScale(i, scale)
		return loraMsg{seq: seq, adapters: sc.Adapters(), set: i, scale: scale, err: err}
	}
}

func (m Model) handleLora(msg loraMsg) (tea.Model, tea.Cmd) {
	if msg.seq != m.lora.seq {
		return m, nil // about a model replaced since
	}
	if msg.set >= 0 && m.busy == loraBusy {
		m.busy = ""
	}
	m.lora.adapters = append([]api.Adapter{}, msg.adapters...)
	m.lora.known = true
	if msg.err != nil {
		m.errLine = "/lora: " + oneLine(msg.err.Error())
		return m, nil
	}
	if msg.set < 0 {
		m.addNote(loraListing(msg.adapters))
		return m, m.flushPrints()
	}
	name := fmt.Sprintf("adapter %d", msg.set+1)
	if msg.set < len(msg.adapters) {
		name = adapterName(msg.adapters[msg.set])
	}
	m.addNote(fmt.Sprintf("LoRA %s: %s (the next reply is computed afresh)", name, loraScaleText(msg.scale)))
	return m, m.flushPrints()
}

func loraListing(list []api.Adapter) string {
	if len(list) == 0 {
		return noLoraLoaded
	}
	var b strings.Builder
	b.WriteString("LoRA adapters · /lora N SCALE sets one (-4 to 4; off = 0, on = 1):")
	nameW := 4
	for _, a := range list {
		nameW = max(nameW, len([]rune(adapterName(a))))
	}
	for i, a := range list {
		line := fmt.Sprintf("\n%2d. %-*s  %-11s", i+1, nameW, adapterName(a), loraScaleText(a.Scale))
		if a.SHA256 != "" {
			line += "  sha256 " + shortSHA(a.SHA256)
		}
		b.WriteString(strings.TrimRight(line, " "))
	}
	return b.String()
}

// pickAdapter finds the adapter arg names: its number in the listing, or
// its file name with or without .gguf, or a prefix of only one. why says
// what is wrong otherwise.
func pickAdapter(list []api.Adapter, arg string) (int, string) {
	valid := func() string {
		var s []string
		for i, a := range list {
			s = append(s, fmt.Sprintf("%d %s", i+1, adapterName(a)))
		}
		return strings.Join(s, ", ")
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(arg, "#")); err == nil {
		if n < 1 || n > len(list) {
			return 0, fmt.Sprintf("/lora: there is no adapter %d; loaded: %s.", n, valid())
		}
		return n - 1, ""
	}
	want := strings.ToLower(arg)
	var prefix []int
	for i, a := range list {
		name := strings.ToLower(adapterName(a))
		if name == want || strings.TrimSuffix(name, ".gguf") == want {
			return i, ""
		}
		if strings.HasPrefix(name, want) {
			prefix = append(prefix, i)
		}
	}
	switch len(prefix) {
	case 1:
		return prefix[0], ""
	case 0:
		return 0, fmt.Sprintf("/lora: no adapter is called %q; loaded: %s.", cleanText(arg), valid())
	}
	var names []string
	for _, i := range prefix {
		names = append(names, adapterName(list[i]))
	}
	return 0, fmt.Sprintf("/lora: %q could be %s: give more of the name, or the number.", cleanText(arg), strings.Join(names, " or "))
}

// parseLoraScale reads a scale: a finite number in [-4, 4], on (1) or off (0).
func parseLoraScale(s string) (float32, bool) {
	switch strings.ToLower(s) {
	case "on":
		return 1, true
	case "off":
		return 0, true
	}
	v, err := strconv.ParseFloat(s, 32)
	if err != nil || math.IsNaN(v) || v < -maxLoraScale || v > maxLoraScale {
		return 0, false
	}
	return float32(v), true
}

// adapterName is the adapter's file name, made safe to draw.
func adapterName(a api.Adapter) string {
	n := a.Name
	if n == "" {
		n = filepath.Base(a.Path)
	}
	return cleanText(n)
}

func loraScaleText(s float32) string {
	if s == 0 {
		return "off"
	}
	return "scale " + fmtScale(s)
}

// fmtScale writes a float32 as typed (0.1, not 0.10000000149011612).
func fmtScale(s float32) string { return strconv.FormatFloat(float64(s), 'g', -1, 32) }

func shortSHA(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// loraStatus is the status line's note of the adapters that are on: the
// one by name and scale, or how many.
func (m Model) loraStatus() string {
	var on []api.Adapter
	for _, a := range m.loraAdapters() {
		if a.Scale != 0 {
			on = append(on, a)
		}
	}
	switch len(on) {
	case 0:
		return ""
	case 1:
		name := adapterName(on[0])
		if r := []rune(name); len(r) > 24 {
			name = string(r[:23]) + "…"
		}
		return "+lora " + name + "×" + fmtScale(on[0].Scale)
	}
	return fmt.Sprintf("+%d lora", len(on))
}

// loraStatsText names the adapters a finished reply was made with (/stats).
func loraStatsText(list []api.Adapter) string {
	var s []string
	for _, a := range list {
		s = append(s, adapterName(a)+" ×"+fmtScale(a.Scale))
	}
	return strings.Join(s, ", ")
}
