package prompts

import (
	"fmt"
	"strconv"
	"strings"
)

// FileError is a problem in a prompt file, with a 1-based position.
type FileError struct {
	Path      string
	Line, Col int
	Msg       string
}

func (e *FileError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.Path, e.Line, e.Col, e.Msg)
}

// fmEntry is one "key: value" of front matter; Map is set for a nested
// block ("vars:" followed by indented entries).
type fmEntry struct {
	Key       string
	Value     string
	Map       []fmEntry
	Line, Col int // of the key
	ValCol    int
}

// splitFrontMatter separates "---\n...\n---\n" from the body. fmLine is
// the file line of the first front-matter line, bodyLine that of the body.
func splitFrontMatter(path, text string) (fm string, body string, fmLine, bodyLine int, err error) {
	text = strings.TrimPrefix(text, "\ufeff")
	if !strings.HasPrefix(text, "---\n") && !strings.HasPrefix(text, "---\r\n") && text != "---" {
		return "", text, 0, 1, nil
	}
	lines := strings.SplitAfter(text, "\n")
	for i := 1; i < len(lines); i++ {
		if strings.TrimRight(lines[i], "\r\n") == "---" {
			return strings.Join(lines[1:i], ""), strings.Join(lines[i+1:], ""), 2, i + 2, nil
		}
	}
	return "", "", 0, 0, &FileError{Path: path, Line: 1, Col: 1, Msg: "front matter starts with --- but has no closing --- line"}
}

// parseFrontMatter parses the YAML subset prompt files use: "key: scalar"
// lines, and one level of nested "key:" blocks of indented "k: v" lines.
// Comments (#) and blank lines are ignored.
func parseFrontMatter(path, fm string, firstLine int) ([]fmEntry, error) {
	var out []fmEntry
	errAt := func(line, col int, format string, a ...any) error {
		return &FileError{Path: path, Line: line, Col: col, Msg: fmt.Sprintf(format, a...)}
	}
	var parent *fmEntry
	parentIndent := -1
	for i, raw := range strings.Split(strings.TrimSuffix(fm, "\n"), "\n") {
		line := firstLine + i
		raw = strings.TrimRight(raw, "\r")
		if strings.TrimSpace(raw) == "" || strings.HasPrefix(strings.TrimSpace(raw), "#") {
			continue
		}
		if strings.ContainsRune(raw, '\t') && strings.TrimLeft(raw, " \t") != strings.TrimLeft(raw, " ") {
			return nil, errAt(line, strings.IndexRune(raw, '\t')+1, "tabs are not allowed for indentation")
		}
		indent := len(raw) - len(strings.TrimLeft(raw, " "))
		content := raw[indent:]
		if strings.HasPrefix(content, "- ") || content == "-" {
			return nil, errAt(line, indent+1, "lists are not supported here; use \"key: value\"")
		}
		colon := strings.Index(content, ":")
		if colon <= 0 || (colon+1 < len(content) && content[colon+1] != ' ') {
			return nil, errAt(line, indent+1, "expected \"key: value\"")
		}
		key := strings.TrimSpace(content[:colon])
		if strings.ContainsAny(key, " \"'{}[]") {
			return nil, errAt(line, indent+1, "invalid key %q", key)
		}
		rest := content[colon+1:]
		valCol := indent + colon + 2 + (len(rest) - len(strings.TrimLeft(rest, " ")))
		val, err := parseScalar(strings.TrimSpace(rest))
		if err != nil {
			return nil, errAt(line, valCol, "%v", err)
		}
		e := fmEntry{Key: key, Value: val, Line: line, Col: indent + 1, ValCol: valCol}
		switch {
		case indent == 0:
			for _, prev := range out {
				if prev.Key == key {
					return nil, errAt(line, 1, "duplicate key %q (first on line %d)", key, prev.Line)
				}
			}
			out = append(out, e)
			parent, parentIndent = nil, -1
			if strings.TrimSpace(rest) == "" {
				parent = &out[len(out)-1]
			}
		case parent != nil && (parentIndent == -1 || indent == parentIndent):
			parentIndent = indent
			for _, prev := range parent.Map {
				if prev.Key == key {
					return nil, errAt(line, indent+1, "duplicate key %q (first on line %d)", key, prev.Line)
				}
			}
			parent.Map = append(parent.Map, e)
		default:
			return nil, errAt(line, indent+1, "unexpected indentation")
		}
	}
	return out, nil
}

// parseScalar decodes a YAML scalar: "double" (with \ escapes), 'single'
// (” escapes) or plain text (a " #" starts a comment).
func parseScalar(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	switch s[0] {
	case '"':
		end := -1
		for i := 1; i < len(s); i++ {
			if s[i] == '\\' {
				i++
				continue
			}
			if s[i] == '"' {
				end = i
				break
			}
		}
		if end < 0 {
			return "", fmt.Errorf("unterminated double-quoted string")
		}
		if tail := strings.TrimSpace(s[end+1:]); tail != "" && !strings.HasPrefix(tail, "#") {
			return "", fmt.Errorf("unexpected text after quoted string")
		}
		v, err := strconv.Unquote(s[:end+1])
		if err != nil {
			return "", fmt.Errorf("bad escape in double-quoted string")
		}
		return v, nil
	case '\'':
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				if tail := strings.TrimSpace(s[i+1:]); tail != "" && !strings.HasPrefix(tail, "#") {
					return "", fmt.Errorf("unexpected text after quoted string")
				}
				return b.String(), nil
			}
			b.WriteByte(s[i])
		}
		return "", fmt.Errorf("unterminated single-quoted string")
	case '[', '{', '|', '>', '&', '*', '!':
		return "", fmt.Errorf("only plain or quoted strings are supported (quote the value if it starts with %q)", s[0])
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s, nil
}
