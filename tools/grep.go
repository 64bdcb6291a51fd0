package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

const (
	maxMatches   = 200
	maxMatchLine = 300 // bytes of a matching line shown
)

// skipDirs are never searched: they are big and rarely what is meant.
var skipDirs = map[string]bool{".git": true, "node_modules": true}

type grepTool struct{ s *Set }

func (grepTool) ReadOnly() bool { return true }

func (grepTool) Spec() Spec {
	return Spec{
		Name:        "grep",
		Description: "Search files for a regular expression (RE2 syntax) and return the matching lines as path:line: text. Searches a directory tree or one file; skips .git, node_modules, binary files and very large files.",
		Parameters: json.RawMessage(`{
  "type": "object",
  "properties": {
    "pattern": {"type": "string", "description": "Regular expression (RE2), e.g. \"func main\" or \"(?i)todo\""},
    "path": {"type": "string", "description": "Directory or file to search, relative to the working directory; default \".\""},
    "glob": {"type": "string", "description": "Only search files whose name matches this pattern, e.g. \"*.go\""}
  },
  "required": ["pattern"],
  "additionalProperties": false
}`),
	}
}

func (t grepTool) Prepare(text string) (*Call, error) {
	const name = "grep"
	a, err := parseArgs(name, text, "pattern", "path", "glob")
	if err != nil {
		return nil, err
	}
	pattern, _, err := a.str("pattern", true)
	if err != nil {
		return nil, err
	}
	if pattern == "" {
		return nil, a.errf("pattern", "must not be empty")
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, a.errf("pattern", "not a valid RE2 regular expression: "+err.Error())
	}
	path, ok, err := a.str("path", false)
	if err != nil {
		return nil, err
	}
	if !ok || path == "" {
		path = "."
	}
	glob, _, err := a.str("glob", false)
	if err != nil {
		return nil, err
	}
	if glob != "" {
		if _, err := filepath.Match(glob, ""); err != nil {
			return nil, a.errf("glob", "bad pattern: "+err.Error())
		}
	}
	pl, err := t.s.resolve(name, "path", path)
	if err != nil {
		return nil, err
	}
	c := t.s.newCall(name, true, struct {
		Pattern string `json:"pattern"`
		Path    string `json:"path"`
		Glob    string `json:"glob,omitempty"`
	}{pattern, path, glob})
	c.Summary = "grep " + oneLine(strconv.Quote(pattern)+" "+pl.display)
	if glob != "" {
		c.Summary += " " + oneLine("(files "+glob+")")
	}
	c.Outside = outside(pl)
	c.run = func(ctx context.Context) outcome { return t.s.grep(ctx, re, pl, glob) }
	return c, nil
}

type grepRun struct {
	s                       *Set
	re                      *regexp.Regexp
	base                    string
	glob                    string
	out                     strings.Builder
	matches, files          int
	binary, large, outLinks int
	capped, full            bool
}

// errStop ends the walk once enough matches are in.
var errStop = errors.New("enough matches")

func (s *Set) grep(ctx context.Context, re *regexp.Regexp, pl place, glob string) outcome {
	if err := s.recheck(pl); err != nil {
		return failf("%s", describe(pl.display, err))
	}
	st, err := os.Stat(pl.abs)
	if err != nil {
		return failf("%s", describe(pl.display, err))
	}
	g := &grepRun{s: s, re: re, base: pl.abs, glob: glob}
	if !st.IsDir() {
		err = g.file(pl.abs, st)
	} else {
		err = filepath.WalkDir(pl.abs, func(p string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				return nil // unreadable entries are passed over
			}
			if d.IsDir() {
				if p != pl.abs && skipDirs[d.Name()] {
					return filepath.SkipDir
				}
				return nil
			}
			if g.glob != "" {
				if ok, _ := filepath.Match(g.glob, d.Name()); !ok {
					return nil
				}
			}
			return g.entry(p, d)
		})
	}
	if ctx.Err() != nil {
		return failf(stoppedByUser)
	}
	if err != nil && err != errStop {
		return failf("%s", describe(pl.display, err))
	}
	b := &g.out
	if g.matches == 0 {
		fmt.Fprintf(b, "no matches (%d files searched)\n", g.files)
	}
	switch {
	case g.capped:
		fmt.Fprintf(b, "(stopped after %d matches; narrow the pattern, path or glob to see the rest)\n", maxMatches)
	case g.full:
		fmt.Fprintf(b, "(stopped after %d matches at the output limit; narrow the pattern, path or glob to see the rest)\n", g.matches)
	}
	var skipped []string
	if g.binary > 0 {
		skipped = append(skipped, fmt.Sprintf("%d binary", g.binary))
	}
	if g.large > 0 {
		skipped = append(skipped, fmt.Sprintf("%d over %d bytes", g.large, s.box.MaxRead))
	}
	if g.outLinks > 0 {
		skipped = append(skipped, fmt.Sprintf("%d leading out of the searched tree through a symlink", g.outLinks))
	}
	if len(skipped) > 0 {
		fmt.Fprintf(b, "(skipped files: %s)\n", strings.Join(skipped, ", "))
	}
	return outcome{text: strings.TrimSuffix(b.String(), "\n")}
}

// entry searches one walked non-directory. Symlinked files are searched
// only when they lead to a file inside the root or the searched tree, so a
// link cannot make an approved-free grep read outside; symlinked
// directories are not followed (WalkDir does not).
func (g *grepRun) entry(p string, d fs.DirEntry) error {
	if d.Type()&fs.ModeSymlink != 0 {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil
		}
		st, err := os.Stat(real)
		if err != nil || !st.Mode().IsRegular() {
			return nil
		}
		if !within(g.s.box.Root, real) && !within(g.base, real) {
			g.outLinks++
			return nil
		}
		return g.file(p, st)
	}
	if !d.Type().IsRegular() {
		return nil
	}
	st, err := d.Info()
	if err != nil {
		return nil
	}
	return g.file(p, st)
}

func (g *grepRun) file(p string, st fs.FileInfo) error {
	if !st.Mode().IsRegular() {
		return nil
	}
	if st.Size() > g.s.box.MaxRead {
		g.large++
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, g.s.box.MaxRead))
	if err != nil {
		return nil
	}
	if bytes.IndexByte(data[:min(len(data), binarySniff)], 0) >= 0 {
		g.binary++
		return nil
	}
	g.files++
	name := g.s.show(p)
	for n := 1; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if !g.re.Match(line) {
			continue
		}
		if g.matches == maxMatches {
			g.capped = true
			return errStop
		}
		row := fmt.Sprintf("%s:%d: %s\n", name, n, Sanitize(cutLine(string(line), maxMatchLine)))
		if g.matches > 0 && g.out.Len()+len(row) > g.s.box.MaxOutput-300 { // room for the notes
			g.full = true
			return errStop
		}
		g.matches++
		g.out.WriteString(row)
	}
	return nil
}
