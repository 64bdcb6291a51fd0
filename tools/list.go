package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const maxEntries = 500

type listDirTool struct{ s *Set }

func (listDirTool) ReadOnly() bool { return true }

func (listDirTool) Spec() Spec {
	return Spec{
		Name:        "list_dir",
		Description: "List a directory. Names are sorted; directories end with /, symlinks show as name -> target, files show their size in bytes.",
		Parameters: json.RawMessage(`{
  "type": "object",
  "properties": {
    "path": {"type": "string", "description": "Directory to list, relative to the working directory; default \".\""}
  },
  "additionalProperties": false
}`),
	}
}

func (t listDirTool) Prepare(text string) (*Call, error) {
	const name = "list_dir"
	a, err := parseArgs(name, text, "path")
	if err != nil {
		return nil, err
	}
	path, ok, err := a.str("path", false)
	if err != nil {
		return nil, err
	}
	if !ok || path == "" {
		path = "."
	}
	pl, err := t.s.resolve(name, "path", path)
	if err != nil {
		return nil, err
	}
	c := t.s.newCall(name, true, struct {
		Path string `json:"path"`
	}{path})
	c.Summary = "list_dir " + oneLine(pl.display)
	c.Outside = outside(pl)
	c.run = func(ctx context.Context) outcome { return t.s.listDir(ctx, pl) }
	return c, nil
}

func (s *Set) listDir(ctx context.Context, pl place) outcome {
	if err := s.recheck(pl); err != nil {
		return failf("%s", describe(pl.display, err))
	}
	st, err := os.Stat(pl.abs)
	if err != nil {
		return failf("%s", describe(pl.display, err))
	}
	if !st.IsDir() {
		return failf("%s is not a directory; use read_file to read it", pl.display)
	}
	f, err := os.Open(pl.abs)
	if err != nil {
		return failf("%s", describe(pl.display, err))
	}
	// Names only: a huge directory costs one string per entry, and only
	// the entries shown are stat'ed.
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil && len(names) == 0 {
		return failf("%s", describe(pl.display, err))
	}
	if len(names) == 0 {
		return outcome{text: "(empty directory)"}
	}
	sort.Strings(names)
	left := 0
	if len(names) > maxEntries {
		left = len(names) - maxEntries
		names = names[:maxEntries]
	}
	var b strings.Builder
	for i, n := range names {
		if i%64 == 0 && ctx.Err() != nil {
			return failf(stoppedByUser)
		}
		b.WriteString(entryLine(filepath.Join(pl.abs, n), n))
		b.WriteByte('\n')
	}
	if left > 0 {
		fmt.Fprintf(&b, "(%d more entries left out; list a subdirectory or use grep to narrow down)\n", left)
	}
	return outcome{text: strings.TrimSuffix(b.String(), "\n")}
}

func entryLine(full, name string) string {
	fi, err := os.Lstat(full)
	if err != nil {
		return name + " (" + err.Error() + ")"
	}
	m := fi.Mode()
	switch {
	case m&os.ModeSymlink != 0:
		target, err := os.Readlink(full)
		if err != nil {
			return name + " -> ?"
		}
		return name + " -> " + target
	case m.IsDir():
		return name + "/"
	case m.IsRegular():
		return fmt.Sprintf("%s\t%d bytes", name, fi.Size())
	default:
		return fmt.Sprintf("%s (%s)", name, kindOf(m))
	}
}

// kindOf names a file type that is neither a directory nor a regular file.
func kindOf(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "named pipe"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "device"
	case m&os.ModeSymlink != 0:
		return "symlink"
	default:
		return "special file"
	}
}
