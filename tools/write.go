package tools

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/aymanbagabas/go-udiff"
)

// fileState is what a file was when its change was prepared; Run compares
// it with what the file is then, so the approved diff is what gets applied.
type fileState struct {
	exists bool
	size   int64
	mode   fs.FileMode
	sum    [sha256.Size]byte
}

// readState hashes the file at abs and returns its content too when it is
// at most limit bytes (nil otherwise).
func readState(abs string, limit int64) (fileState, []byte, error) {
	f, err := os.Open(abs)
	if err != nil {
		if _, lerr := os.Lstat(abs); lerr != nil {
			// Not there (or a parent is a file): missingParent says which.
			return fileState{}, nil, nil
		}
		return fileState{}, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fileState{}, nil, err
	}
	if st.IsDir() {
		return fileState{}, nil, &fs.PathError{Op: "open", Path: abs, Err: errors.New("is a directory; give the path of a file")}
	}
	if !st.Mode().IsRegular() {
		return fileState{}, nil, &fs.PathError{Op: "open", Path: abs, Err: errors.New("is not a regular file but a " + kindOf(st.Mode()))}
	}
	state := fileState{exists: true, size: st.Size(), mode: st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
	h := sha256.New()
	var content []byte
	if st.Size() <= limit {
		content, err = io.ReadAll(f)
		h.Write(content)
	} else {
		_, err = io.Copy(h, f)
	}
	if err != nil {
		return fileState{}, nil, err
	}
	copy(state.sum[:], h.Sum(nil))
	state.size = int64(len(content))
	if content == nil {
		state.size = st.Size()
	}
	return state, content, nil
}

// unchanged is the check before a write runs: the path still resolves as
// approved and the file is as it was when the call was prepared (since
// tells the model what to redo). bad is the refusal, nil when all is well.
func (s *Set) unchanged(ctx context.Context, pl place, prev fileState, since string) (now fileState, bad *outcome) {
	fail := func(o outcome) (fileState, *outcome) { return fileState{}, &o }
	if err := s.recheck(pl); err != nil {
		return fail(failf("%v", err))
	}
	now, _, err := readState(pl.abs, 0)
	if err != nil {
		return fail(failf("%s", describe(pl.display, err)))
	}
	if !now.same(prev) {
		return fail(failf("%s changed since %s", pl.display, since))
	}
	if ctx.Err() != nil {
		return fail(failf(stoppedByUser))
	}
	return now, nil
}

func (a fileState) same(b fileState) bool {
	return a.exists == b.exists && a.size == b.size && a.sum == b.sum
}

// diff is the unified diff shown for approval, sanitized.
func diff(from, to, old, new string) string {
	if old == new {
		return "(no changes)"
	}
	d, err := udiff.ToUnified(from, to, old, udiff.Lines(old, new), udiff.DefaultContextLines)
	if err != nil {
		return "(no diff: " + err.Error() + ")"
	}
	return Sanitize(d)
}

// writeAtomic replaces abs with data through a temporary file in the same
// directory and a rename, so a reader never sees a half-written file. An
// existing file's mode is kept; a new one gets 0666 less the umask.
func writeAtomic(abs string, data []byte, prev fileState) (err error) {
	dir, base := filepath.Split(abs)
	if len(base) > 100 {
		base = base[:100]
	}
	var f *os.File
	var tmp string
	for range 10 {
		tmp = filepath.Join(dir, fmt.Sprintf(".%s.natter-%x.tmp", base, rand.Uint64()))
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if prev.exists {
		if err = f.Chmod(prev.mode); err != nil {
			return err
		}
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, abs)
}

type writeFileTool struct{ s *Set }

func (writeFileTool) ReadOnly() bool { return false }

func (writeFileTool) Spec() Spec {
	return Spec{
		Name:        "write_file",
		Description: "Create a file, or replace all of an existing file, with the given content. Missing parent directories are created. To change part of a file, use edit_file instead.",
		Parameters: json.RawMessage(`{
  "type": "object",
  "properties": {
    "path": {"type": "string", "description": "File to write, relative to the working directory"},
    "content": {"type": "string", "description": "The complete new content of the file"}
  },
  "required": ["path", "content"],
  "additionalProperties": false
}`),
	}
}

func (t writeFileTool) Prepare(text string) (*Call, error) {
	const name = "write_file"
	a, err := parseArgs(name, text, "path", "content")
	if err != nil {
		return nil, err
	}
	path, _, err := a.str("path", true)
	if err != nil {
		return nil, err
	}
	content, _, err := a.str("content", true)
	if err != nil {
		return nil, err
	}
	pl, err := t.s.resolve(name, "path", path)
	if err != nil {
		return nil, err
	}
	prev, old, err := readState(pl.abs, t.s.box.MaxRead)
	if err != nil {
		return nil, a.errf("path", describe(pl.display, err))
	}
	var mkdir string
	if !prev.exists {
		if mkdir, err = missingParent(pl); err != nil {
			return nil, a.errf("path", err.Error())
		}
	}
	c := t.s.newCall(name, false, struct {
		Path    string `json:"path"`
		Content string `json:"content"`
	}{path, content})
	label := t.s.show(pl.abs)
	switch {
	case !prev.exists:
		c.Summary = fmt.Sprintf("write_file %s (new file, %d bytes)", oneLine(pl.display), len(content))
		c.Preview = diff("/dev/null", label, "", content)
	case old == nil:
		c.Summary = fmt.Sprintf("write_file %s (%d bytes, replacing %d)", oneLine(pl.display), len(content), prev.size)
		c.Preview = fmt.Sprintf("(replaces a file of %d bytes, too large to show a diff)", prev.size)
	default:
		c.Summary = fmt.Sprintf("write_file %s (%d bytes, replacing %d)", oneLine(pl.display), len(content), prev.size)
		if bytes.IndexByte(old[:min(len(old), binarySniff)], 0) >= 0 {
			c.Preview = fmt.Sprintf("(replaces a binary file of %d bytes)", prev.size)
		} else {
			c.Preview = diff(label, label, string(old), content)
		}
	}
	c.Outside = outside(pl)
	c.run = func(ctx context.Context) outcome {
		if _, bad := t.s.unchanged(ctx, pl, prev, "this write was prepared; nothing was written. Read it again before writing"); bad != nil {
			return *bad
		}
		if mkdir != "" {
			if err := os.MkdirAll(mkdir, 0o777); err != nil {
				return failf("%v", err)
			}
		}
		if err := writeAtomic(pl.abs, []byte(content), prev); err != nil {
			return failf("writing %s", describe(pl.display, err))
		}
		verb := "wrote"
		if !prev.exists {
			verb = "created"
		}
		return outcome{text: fmt.Sprintf("%s %s (%d bytes)", verb, pl.display, len(content))}
	}
	return c, nil
}

// missingParent returns the directory to create before writing a new file
// ("" when it exists). Directories are made only inside the root.
func missingParent(pl place) (string, error) {
	parent := filepath.Dir(pl.abs)
	for p := parent; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return "", errors.New(p + " is not a directory")
			}
			if p == parent {
				return "", nil
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if filepath.Dir(p) == p {
			break
		}
	}
	if !pl.inside {
		return "", errors.New("directory " + parent + " does not exist; directories are created only inside the working directory")
	}
	return parent, nil
}

type editFileTool struct{ s *Set }

func (editFileTool) ReadOnly() bool { return false }

func (editFileTool) Spec() Spec {
	return Spec{
		Name:        "edit_file",
		Description: "Replace text in an existing file. old_string must match the file exactly, including whitespace and indentation, and occur exactly once (add surrounding lines to make it unique) unless replace_all is true. Read the file first.",
		Parameters: json.RawMessage(`{
  "type": "object",
  "properties": {
    "path": {"type": "string", "description": "File to edit, relative to the working directory"},
    "old_string": {"type": "string", "description": "Exact text to replace"},
    "new_string": {"type": "string", "description": "Text to put in its place (may be empty to delete)"},
    "replace_all": {"type": "boolean", "description": "Replace every occurrence instead of exactly one; default false"}
  },
  "required": ["path", "old_string", "new_string"],
  "additionalProperties": false
}`),
	}
}

func (t editFileTool) Prepare(text string) (*Call, error) {
	const name = "edit_file"
	a, err := parseArgs(name, text, "path", "old_string", "new_string", "replace_all")
	if err != nil {
		return nil, err
	}
	path, _, err := a.str("path", true)
	if err != nil {
		return nil, err
	}
	oldS, _, err := a.str("old_string", true)
	if err != nil {
		return nil, err
	}
	if oldS == "" {
		return nil, a.errf("old_string", "must not be empty; use write_file to create a file")
	}
	newS, _, err := a.str("new_string", true)
	if err != nil {
		return nil, err
	}
	all, hasAll, err := a.boolean("replace_all")
	if err != nil {
		return nil, err
	}
	if oldS == newS {
		return nil, a.errf("new_string", "is the same as old_string; nothing would change")
	}
	pl, err := t.s.resolve(name, "path", path)
	if err != nil {
		return nil, err
	}
	prev, data, err := readState(pl.abs, t.s.box.MaxRead)
	switch {
	case err != nil:
		return nil, a.errf("path", describe(pl.display, err))
	case !prev.exists:
		return nil, a.errf("path", pl.display+" does not exist; use write_file to create it")
	case data == nil:
		return nil, a.errf("path", fmt.Sprintf("%s is %d bytes, more than the %d edit_file handles", pl.display, prev.size, t.s.box.MaxRead))
	case bytes.IndexByte(data[:min(len(data), binarySniff)], 0) >= 0:
		return nil, a.errf("path", fmt.Sprintf("%s is a binary file, %d bytes", pl.display, prev.size))
	}
	old := string(data)
	n := strings.Count(old, oldS)
	if n == 0 && strings.Contains(old, "\r\n") && !strings.Contains(oldS, "\r") {
		// read_file shows CRLF lines without their CR; match them as shown.
		crlf := strings.ReplaceAll(oldS, "\n", "\r\n")
		if m := strings.Count(old, crlf); m > 0 {
			oldS, newS, n = crlf, strings.ReplaceAll(newS, "\n", "\r\n"), m
		}
	}
	switch {
	case n == 0:
		return nil, a.errf("old_string", "not found in "+pl.display+"; it must match exactly, including whitespace; read the file again")
	case n > 1 && !all:
		return nil, a.errf("old_string", fmt.Sprintf("found %d times in %s; give more context or replace_all", n, pl.display))
	}
	count := 1
	if all {
		count = n
	}
	updated := strings.Replace(old, oldS, newS, count)
	norm := struct {
		Path       string `json:"path"`
		OldString  string `json:"old_string"`
		NewString  string `json:"new_string"`
		ReplaceAll *bool  `json:"replace_all,omitempty"`
	}{Path: path, OldString: oldS, NewString: newS}
	if hasAll {
		norm.ReplaceAll = &all
	}
	c := t.s.newCall(name, false, norm)
	plural := "s"
	if count == 1 {
		plural = ""
	}
	c.Summary = fmt.Sprintf("edit_file %s (%d replacement%s)", oneLine(pl.display), count, plural)
	label := t.s.show(pl.abs)
	c.Preview = diff(label, label, old, updated)
	c.Outside = outside(pl)
	c.run = func(ctx context.Context) outcome {
		now, bad := t.s.unchanged(ctx, pl, prev, "this edit was prepared; nothing was written. Read it again and redo the edit")
		if bad != nil {
			return *bad
		}
		if err := writeAtomic(pl.abs, []byte(updated), now); err != nil {
			return failf("writing %s", describe(pl.display, err))
		}
		return outcome{text: fmt.Sprintf("edited %s: %d replacement%s", pl.display, count, plural)}
	}
	return c, nil
}
