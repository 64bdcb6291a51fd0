package models

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// safeFileName checks a file name that came from the network (a URL path
// segment or a repository listing) and returns it unchanged when it is a
// plain name that cannot leave the folder it is joined to.
func safeFileName(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("refusing unsafe file name %q: %s", name, why)
	}
	switch {
	case name == "":
		return bad("empty")
	case name == "." || name == "..":
		return bad("not a file name")
	case strings.ContainsAny(name, "/\\"):
		return bad("contains a path separator")
	case strings.ContainsRune(name, 0):
		return bad("contains a NUL byte")
	case filepath.IsAbs(name) || filepath.VolumeName(name) != "":
		return bad("absolute path")
	case strings.HasPrefix(name, "."):
		return bad("hidden file")
	case len(name) > 255:
		return bad("too long")
	}
	if !utf8.ValidString(name) {
		return bad("not valid UTF-8")
	}
	for _, r := range name {
		// C0, DEL and C1: U+009B alone is a terminal's CSI, so a name
		// holding it could drive the terminal it is printed to.
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f {
			return bad("contains a control character")
		}
	}
	return name, nil
}

// joinInside joins dir and name and returns "" unless the result stays
// inside dir (belt and braces after safeFileName).
func joinInside(dir, name string) string {
	if _, err := safeFileName(name); err != nil {
		return ""
	}
	p := filepath.Join(dir, name)
	rel, err := filepath.Rel(dir, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return ""
	}
	return p
}

// isRegular reports whether p is (or links to) a regular file.
func isRegular(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
