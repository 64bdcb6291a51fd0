package ui

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// Tab after a command that takes a file completes the path, as a shell
// does: the longest common prefix of the matching names, a "/" after a
// directory, and the candidates listed under the input while it is
// ambiguous. The directory is read in a command (no I/O in Update); the
// answer applies only if the input has not changed meanwhile.

// pathCommands are the commands whose argument is a path, with the files
// worth offering (directories always are).
var pathCommands = []struct {
	prefix string
	keep   func(name string) bool
	// pathOnly: the argument may also be a name or number, so only an
	// argument that looks like a path is completed.
	pathOnly bool
}{
	{"/attach ", isMediaFile, false},
	{"/save ", func(string) bool { return true }, false},
	{"/model ", func(n string) bool { return strings.EqualFold(filepath.Ext(n), ".gguf") }, true},
}

// pathMaxListed bounds the candidates shown under the input.
const pathMaxListed = 6

// pathCompletion is a completed input ("" when nothing matched) and, when
// more than one name remains, the candidates shown while the input stays
// so.
type pathCompletion struct {
	input   string
	matches []string
	more    int // candidates beyond those listed
}

type pathCompleteMsg struct {
	asked string // the input the completion was asked for
	pathCompletion
}

// pathCompleteCmd returns the command that completes the path argument of
// v, or nil when v is not a path command.
func pathCompleteCmd(v string) tea.Cmd {
	if strings.Contains(v, "\n") {
		return nil
	}
	for _, c := range pathCommands {
		arg, ok := strings.CutPrefix(v, c.prefix)
		if !ok {
			continue
		}
		if c.pathOnly && !looksLikePath(arg) {
			return nil
		}
		prefix, keep := c.prefix, c.keep
		return func() tea.Msg {
			value, matches, more := completePath(arg, keep)
			if value != "" {
				value = prefix + value
			}
			return pathCompleteMsg{asked: v, pathCompletion: pathCompletion{input: value, matches: matches, more: more}}
		}
	}
	return nil
}

func looksLikePath(arg string) bool {
	a := strings.TrimLeft(arg, `'"`)
	return strings.HasPrefix(a, "/") || strings.HasPrefix(a, "~") || strings.HasPrefix(a, ".") || strings.Contains(a, "/")
}

// completePath completes arg, a path as typed (possibly opened with a
// quote, possibly starting with ~), against the directory it names. It
// returns the completed argument (arg itself when nothing more is common),
// or "" when no entry matches, and the matching names when more than one
// does.
func completePath(arg string, keep func(string) bool) (string, []string, int) {
	if arg == "~" {
		return "~/", nil, 0
	}
	quote := ""
	if arg != "" && (arg[0] == '\'' || arg[0] == '"') {
		quote, arg = arg[:1], arg[1:]
	}
	typedDir, base := "", arg
	if i := strings.LastIndex(arg, "/"); i >= 0 {
		typedDir, base = arg[:i+1], arg[i+1:]
	}
	dir := expandHome(typedDir)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", nil, 0
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, base) || strings.HasPrefix(n, ".") && !strings.HasPrefix(base, ".") {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(dir, n)); err == nil {
				isDir = fi.IsDir()
			}
		}
		if isDir {
			names = append(names, n+"/")
		} else if keep(n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "", nil, 0
	}
	sort.Strings(names)
	done := quote + typedDir + commonPrefix(names)
	if len(names) == 1 {
		if !strings.HasSuffix(names[0], "/") && quote != "" {
			done += quote
		}
		return done, nil, 0
	}
	shown := names[:min(len(names), pathMaxListed)]
	return done, shown, len(names) - len(shown)
}

func isMediaFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".wav", ".flac", ".mp3":
		return true
	}
	return false
}

func (m Model) onPathComplete(msg pathCompleteMsg) (tea.Model, tea.Cmd) {
	if m.input.Value() != msg.asked {
		return m, nil // typed on meanwhile: the answer is stale
	}
	if msg.input == "" {
		m.notice = "No matching file."
		return m, nil
	}
	if msg.input != msg.asked {
		m.input.SetValue(msg.input)
	}
	m.pathComp = msg.pathCompletion // its candidates, if any, until the input changes
	return m, nil
}

// pathCompletionLines lists the candidates while the input is unchanged.
func (m Model) pathCompletionLines() []string {
	pc := m.pathComp
	if len(pc.matches) == 0 || m.input.Value() != pc.input {
		return nil
	}
	out := make([]string, 0, len(pc.matches)+1)
	for _, n := range pc.matches {
		out = append(out, ansi.Truncate("  "+m.st.key.Render(n), m.width, "…"))
	}
	if pc.more > 0 {
		out = append(out, "  "+m.st.dim.Render("… "+plural(pc.more, "more", "more")))
	}
	return out
}
