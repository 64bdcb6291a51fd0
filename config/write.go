package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// width is where comments wrap: comfortable in a terminal, and well under
// the 100 columns written lines must stay within.
const width = 80

const initHeader = "natter configuration file (TOML).\n\n" +
	"Settings are taken from, in order: a command-line flag, an environment " +
	"variable (NATTER_*), this file, the built-in default. Every key below is " +
	"set to its default; change the ones you care about and delete the others " +
	"if you like.\n\n" +
	"`natter config show` prints the settings in effect and where each comes from."

// InitText is the file `natter config init` writes: every key at its
// default, each with a comment saying what it does and how else to set it.
// It parses back to exactly the defaults.
func InitText() string {
	var b strings.Builder
	comment(&b, initHeader)
	writeSections(&b, defaults(), false)
	b.WriteString(endpointsExample)
	b.WriteString(mcpExample)
	return b.String()
}

// Show renders the effective settings as TOML that Load reads back to the
// same values. Values not at their default get a comment naming their
// origin, e.g. `temp = 0.7  # from NATTER_TEMP`.
func (c *Config) Show() string {
	var b strings.Builder
	head := "natter settings in effect (flags given on the command line come on top)."
	switch {
	case c == nil || c.Path == "":
		head += "\nNo config file."
	case c.Exists:
		head += "\nConfig file: " + c.Path
	default:
		head += "\nConfig file: " + c.Path + " (not found)"
	}
	comment(&b, head)
	writeSections(&b, c.Values(), true)
	if c != nil {
		endpointsText(&b, c.endpoints)
		mcpText(&b, c.mcp)
	}
	return b.String()
}

func writeSections(b *strings.Builder, vals []Value, origins bool) {
	section := ""
	for i, v := range vals {
		k := v.Key
		if k == nil {
			k = &Keys[i]
		}
		if s := k.Section(); s != section {
			section = s
			b.WriteString("\n[" + s + "]\n")
		} else if !origins {
			b.WriteString("\n") // init: room to breathe between documented keys
		}
		docComment(b, k)
		line := k.Leaf() + " = " + tomlValue(k, v)
		if origins && v.Source != Default {
			from := v.Origin
			if from == "" {
				from = v.Source.String()
			}
			line += "  # from " + oneLine(from)
		}
		b.WriteString(line + "\n")
	}
}

// howElse names the env var and flag that also set a key.
func howElse(k *Key) string {
	var parts []string
	if k.Inverted {
		if k.Env != "" {
			parts = append(parts, "env "+k.Env+"=1")
		}
		if k.Flag != "" {
			parts = append(parts, "flag --"+k.Flag)
		}
		if len(parts) == 0 {
			return ""
		}
		return "(turned off by " + strings.Join(parts, " or ") + ")"
	}
	if k.Env != "" {
		parts = append(parts, "env "+k.Env)
	}
	if k.Flag != "" {
		parts = append(parts, "flag --"+k.Flag)
	}
	if len(parts) == 0 {
		return ""
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// docComment writes a key's Doc and how else to set it, on one line when
// that fits, else with the env/flag part on a line of its own.
func docComment(b *strings.Builder, k *Key) {
	how := howElse(k)
	if one := k.Doc + " " + how; how == "" || len("# "+one) <= width {
		comment(b, strings.TrimSpace(one))
		return
	}
	comment(b, k.Doc)
	comment(b, how)
}

// comment writes text as # lines, wrapped at width; blank lines stay.
func comment(b *strings.Builder, text string) {
	for _, para := range strings.Split(text, "\n") {
		line := "#"
		for _, w := range strings.Fields(para) {
			if len(line)+1+len(w) > width && line != "#" {
				b.WriteString(line + "\n")
				line = "#"
			}
			line += " " + w
		}
		b.WriteString(line + "\n")
	}
}

// oneLine keeps an origin (a path) from breaking out of its comment.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func tomlValue(k *Key, v Value) string {
	switch k.Type {
	case String:
		return tomlString(v.Text)
	case List:
		items := v.Strings()
		q := make([]string, len(items))
		for i, s := range items {
			q[i] = tomlString(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	if v.Text == "" {
		return tomlString("") // cannot happen for checked values; stay valid TOML
	}
	return v.Text
}

// tomlString quotes s as a TOML basic string. TOML's escapes are not Go's
// (no \x, \a, \v), so strconv.Quote will not do.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else if r == utf8.RuneError {
				b.WriteString(`\uFFFD`) // invalid UTF-8 (never in a checked value)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Init writes InitText to path atomically (a temp file renamed into place),
// creating the directory 0700 and the file 0600. It refuses to replace an
// existing file unless force is set.
func Init(path string, force bool) error {
	if path == "" {
		return errors.New("config init: no config file path (set NATTER_CONFIG or HOME)")
	}
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return existsError(path)
		}
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".config.toml.tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op once it has been renamed or linked
	_, err = tmp.WriteString(InitText())
	if err == nil {
		err = tmp.Chmod(0o600) // the umask may have narrowed CreateTemp's 0600
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if !force {
		// A hard link fails if path exists, closing the gap between the
		// check above and the rename (another natter running init).
		err := os.Link(name, path)
		if err == nil {
			return nil
		}
		if errors.Is(err, fs.ErrExist) {
			return existsError(path)
		}
		// No hard links here (some file systems); fall back to rename.
	}
	return os.Rename(name, path)
}

func existsError(path string) error {
	return fmt.Errorf("%s: %w; refusing to overwrite it", path, fs.ErrExist)
}
