package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"natter/models"
)

// WriteJSON writes r as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // paths with & or < stay readable
	return enc.Encode(r)
}

// WriteText writes r as plain sectioned text, aligned with spaces and free
// of escape sequences, so it pastes into an issue as it is.
func (r Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := &printer{w: tw}

	n := r.Natter
	p.heading("natter")
	p.kv("version", n.Version)
	p.kv("go", n.GoVersion)
	p.kv("os/arch", n.OS+"/"+n.Arch)
	p.kv("cpus", fmt.Sprintf("%d logical, %d physical cores", n.LogicalCPUs, n.PhysicalCores))

	b := r.Build
	p.heading("build")
	p.kv("llama.cpp", b.SystemInfo)
	p.kv("cpu features", list(b.CPUFeatures))
	p.kv("not compiled in", list(b.UnusedFeatures))
	p.kv("amx kernels", yesNo(b.AMXKernels))
	for _, be := range b.Backends {
		d := be.Detail
		if be.Module != "" {
			d += ", from " + be.Module
		}
		p.kv("backend "+be.Name, d)
	}
	p.lines(b.SIMDWarning)

	m := r.Models
	p.heading("models")
	p.kv("models dir", m.Dir+exists(m.DirExists))
	p.kv("free disk", bytesOr(m.FreeBytes, m.FreeError))
	switch {
	case m.LastUsed == "" && m.LastUsedError == "":
		p.kv("last used", "none")
	case m.LastUsed == "":
		p.kv("last used", "error: "+m.LastUsedError)
	case m.LastUsedExists:
		p.kv("last used", m.LastUsed)
	default:
		p.kv("last used", m.LastUsed+" (error: "+m.LastUsedError+")")
	}
	for _, s := range m.Sources {
		state := exists(s.Exists)
		if s.Error != "" {
			state = " (error: " + s.Error + ")"
		}
		p.line(fmt.Sprintf("  source %s: %s%s, %s", s.Kind, s.Dir, state, plural(len(s.Models), "model")))
		for _, mo := range s.Models {
			if mo.Error != "" {
				p.row("    "+mo.Name, models.HumanBytes(uint64(max(mo.SizeBytes, 0))), "unreadable: "+mo.Error, mo.Path)
				continue
			}
			p.row("    "+mo.Name, models.HumanBytes(uint64(max(mo.SizeBytes, 0))), mo.Arch+" "+mo.Quantization+" "+models.HumanParams(mo.Params), mo.Path)
		}
	}

	c := r.Config
	p.heading("config")
	p.kv("path", c.Path+exists(c.Exists))
	p.kvIf("stat error", c.StatError)
	p.kvIf("error", c.Error)
	for _, e := range c.Endpoints {
		v := e.URL
		if e.Model != "" {
			v += " · model " + e.Model
		}
		p.kv("endpoint "+e.Name, v+" · key "+e.Key)
	}

	h := r.History
	p.heading("history")
	if h.PathError != "" {
		p.kv("path", "error: "+h.PathError)
	} else {
		p.kv("path", h.Path+exists(h.Exists))
	}
	p.kv("saving", map[bool]string{true: "off (NATTER_NO_HISTORY)", false: "on"}[h.Off])
	if h.Exists {
		p.kv("size", fmt.Sprintf("%s (database %s, WAL %s)",
			models.HumanBytes(uint64(h.SizeBytes)), models.HumanBytes(uint64(h.DBBytes)), models.HumanBytes(uint64(h.WALBytes))))
		p.kv("header", map[bool]string{true: "SQLite", false: "error: " + h.HeaderError}[h.HeaderOK])
	}
	p.kvIf("stat error", h.StatError)
	if len(h.CorruptCopies) > 0 {
		p.kv("damaged copies", strings.Join(h.CorruptCopies, ", "))
	}
	if h.PathError == "" {
		p.kv("free disk", bytesOr(h.FreeBytes, h.FreeError))
		kv := h.KVCacheDir + exists(h.KVCacheExists)
		if h.KVCacheExists {
			kv += fmt.Sprintf(", %s in %s", models.HumanBytes(uint64(h.KVCacheBytes)), plural(h.KVCacheFiles, "file"))
		}
		p.kv("kv cache", kv)
		p.kvIf("kv cache error", h.KVCacheError)
	}

	mem := r.Memory
	p.heading("memory")
	p.kv("total", bytesOr(mem.TotalBytes, mem.TotalError))
	p.kv("available", bytesOr(mem.AvailableBytes, mem.AvailableError))

	t := r.Terminal
	p.heading("terminal")
	p.kv("stdin/stdout", "tty: "+yesNo(t.StdinTTY)+"/"+yesNo(t.StdoutTTY))
	if t.Width > 0 || t.SizeError != "" {
		p.kv("size", fmt.Sprintf("%dx%d", t.Width, t.Height)+errSuffix(t.SizeError))
	}
	p.kv("TERM", orUnset(t.Term))
	p.kv("COLORTERM", orUnset(t.ColorTerm))
	p.kv("TERM_PROGRAM", orUnset(strings.TrimSpace(t.TermProgram+" "+t.TermProgramVersion)))
	p.kv("multiplexer", orNone(t.Multiplexer))
	p.kv("colour profile", t.ColorProfile)
	p.kv("osc 52 clipboard", t.OSC52.Status+" ("+t.OSC52.Basis+")")
	p.kv("sync output 2026", t.SyncOutput.Status+" ("+t.SyncOutput.Basis+")")

	p.heading("environment")
	if len(r.Environment.Variables) == 0 {
		p.line("  no NATTER_* variables set")
	}
	for _, v := range append(r.Environment.Variables, r.Environment.Related...) {
		if v.Value == "" {
			v.Value = "(set, empty)"
		}
		p.kv(v.Name, v.Value)
	}

	if len(r.Failures) > 0 {
		p.heading("failures")
		for _, f := range r.Failures {
			p.lines(f)
		}
	}
	if p.err != nil {
		return p.err
	}
	return tw.Flush()
}

// printer writes lines, keeping the first error.
type printer struct {
	w       io.Writer
	err     error
	started bool
}

func (p *printer) line(s string) {
	if p.err == nil {
		_, p.err = io.WriteString(p.w, s+"\n")
	}
}

func (p *printer) heading(name string) {
	if p.started {
		p.line("")
	}
	p.started = true
	p.line("== " + name + " ==")
}

// kv is an aligned "key  value" line; tabwriter aligns the lines between
// two headings (lines without a tab end a column block).
func (p *printer) kv(k, v string) { p.row("  "+k, v) }

func (p *printer) kvIf(k, v string) {
	if v != "" {
		p.kv(k, v)
	}
}

func (p *printer) row(cells ...string) {
	for i, c := range cells {
		cells[i] = clean(c)
	}
	p.line(strings.Join(cells, "\t"))
}

// lines prints multi-line text (a warning, a stack) indented, cleaned.
func (p *printer) lines(s string) {
	if s == "" {
		return
	}
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		p.line("  " + clean(l))
	}
}

// clean escapes control characters and invalid UTF-8, which would
// otherwise act on the terminal the report is printed to, or break the
// alignment (a tab).
func clean(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func exists(b bool) string {
	if b {
		return ""
	}
	return " (does not exist)"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func bytesOr(n uint64, err string) string {
	if err != "" {
		return "error: " + err
	}
	return models.HumanBytes(n)
}

func errSuffix(err string) string {
	if err == "" {
		return ""
	}
	return " (error: " + err + ")"
}
