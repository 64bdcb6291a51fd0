package tools

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

const (
	defaultReadLimit = 400
	binarySniff      = 8 << 10 // a NUL byte in this much of a file marks it binary
	maxLineShown     = 2000
)

type readFileTool struct{ s *Set }

func (readFileTool) ReadOnly() bool { return true }

func (readFileTool) Spec() Spec {
	return Spec{
		Name:        "read_file",
		Description: "Read a text file. Each line comes back as its 1-based line number, a tab, and the text. Long files come in parts: use offset and limit to read on.",
		Parameters: json.RawMessage(`{
  "type": "object",
  "properties": {
    "path": {"type": "string", "description": "File to read, relative to the working directory"},
    "offset": {"type": "integer", "minimum": 1, "description": "First line to read (1-based); default 1"},
    "limit": {"type": "integer", "minimum": 1, "description": "Number of lines to read; default 400"}
  },
  "required": ["path"],
  "additionalProperties": false
}`),
	}
}

func (t readFileTool) Prepare(text string) (*Call, error) {
	const name = "read_file"
	a, err := parseArgs(name, text, "path", "offset", "limit")
	if err != nil {
		return nil, err
	}
	path, _, err := a.str("path", true)
	if err != nil {
		return nil, err
	}
	offset, hasOffset, err := a.integer("offset", 1)
	if err != nil {
		return nil, err
	}
	limit, hasLimit, err := a.integer("limit", 1)
	if err != nil {
		return nil, err
	}
	pl, err := t.s.resolve(name, "path", path)
	if err != nil {
		return nil, err
	}
	norm := struct {
		Path   string `json:"path"`
		Offset *int   `json:"offset,omitempty"`
		Limit  *int   `json:"limit,omitempty"`
	}{Path: path}
	if hasOffset {
		norm.Offset = &offset
	} else {
		offset = 1
	}
	if hasLimit {
		norm.Limit = &limit
	} else {
		limit = defaultReadLimit
	}
	c := t.s.newCall(name, true, norm)
	c.Summary = "read_file " + oneLine(pl.display)
	switch {
	case hasLimit:
		c.Summary += fmt.Sprintf(" (lines %d-%d)", offset, offset+limit-1)
	case hasOffset:
		c.Summary += fmt.Sprintf(" (from line %d)", offset)
	}
	c.Outside = outside(pl)
	c.run = func(ctx context.Context) outcome { return t.s.readFile(ctx, pl, offset, limit) }
	return c, nil
}

// openRegular opens a file for reading, refusing what is not a regular
// file: reading a FIFO or a device could block or never end.
func openRegular(p place) (*os.File, os.FileInfo, error) {
	f, err := os.Open(p.abs)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is a directory; use list_dir to see what is in it", p.display)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file but a %s", p.display, kindOf(st.Mode()))
	}
	return f, st, nil
}

// isBinary looks for a NUL byte in the start of f.
func isBinary(f io.ReaderAt) bool {
	buf := make([]byte, binarySniff)
	n, _ := f.ReadAt(buf, 0)
	return bytes.IndexByte(buf[:n], 0) >= 0
}

func (s *Set) readFile(ctx context.Context, pl place, offset, limit int) outcome {
	if err := s.recheck(pl); err != nil {
		return failf("%s", describe(pl.display, err))
	}
	f, st, err := openRegular(pl)
	if err != nil {
		return failf("%s", describe(pl.display, err))
	}
	defer f.Close()
	size := st.Size()
	if isBinary(f) {
		return failf("binary file, %d bytes", size)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	// Skip to offset without keeping what is skipped, so any line can be
	// reached while only MaxRead bytes are held at once.
	for line := 1; line < offset; line++ {
		if line%4096 == 0 && ctx.Err() != nil {
			return failf(stoppedByUser)
		}
		if err := skipLine(br); err != nil {
			return failf("offset %d is past the end of the file (%d lines)", offset, line-1)
		}
	}
	chunk, err := io.ReadAll(io.LimitReader(br, s.box.MaxRead))
	if err != nil {
		return failf("%s", describe(pl.display, err))
	}
	_, perr := br.Peek(1)
	more := perr == nil // the file goes on past chunk
	if len(chunk) == 0 {
		if offset == 1 {
			return outcome{text: "(empty file)"}
		}
		return failf("offset %d is past the end of the file (%d lines)", offset, offset-1)
	}
	lines := strings.SplitAfter(string(chunk), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	// A last line cut by MaxRead is left for the next read, unless it is
	// the only one: then it is shown cut, or offset would never advance.
	partial := more && !strings.HasSuffix(lines[len(lines)-1], "\n")
	if partial && len(lines) > 1 {
		lines = lines[:len(lines)-1]
	}
	budget := s.box.MaxOutput - 200 // room for the closing note
	var b strings.Builder
	n := 0
	for _, l := range lines {
		if n == limit {
			break
		}
		text := strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
		row := fmt.Sprintf("%d\t%s\n", offset+n, Sanitize(cutLine(text, maxLineShown)))
		if n > 0 && b.Len()+len(row) > budget {
			break
		}
		b.WriteString(row)
		n++
	}
	next := offset + n
	switch {
	case partial && len(lines) == 1:
		fmt.Fprintf(&b, "(line %d is longer than %d bytes and was cut; the file is %d bytes; use offset=%d to read on)\n", offset, len(chunk), size, next)
	case n < len(lines) && n < limit:
		fmt.Fprintf(&b, "(output limit reached; use offset=%d to read on)\n", next)
	case n < len(lines) || (more && n == limit):
		fmt.Fprintf(&b, "(more lines follow; use offset=%d to read on; the file is %d bytes)\n", next, size)
	case more:
		read := fmt.Sprintf("read the first %d", len(chunk))
		if offset > 1 {
			read = fmt.Sprintf("read %d from line %d on", len(chunk), offset)
		}
		fmt.Fprintf(&b, "(file is %d bytes; %s; use offset=%d to read on)\n", size, read, next)
	}
	return outcome{text: strings.TrimSuffix(b.String(), "\n"), final: b.Len() <= s.box.MaxOutput}
}

// skipLine reads past the next newline; io.EOF when there is none.
func skipLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		return err
	}
}
