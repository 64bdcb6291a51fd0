package tools

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// place is a path argument as resolved in Prepare.
type place struct {
	given   string // as the model wrote it
	abs     string // cleaned, symlinks resolved: what the tool acts on
	inside  bool   // abs is within the root
	display string // for summaries: relative to the root when inside
}

// maxLinks bounds symlink chains, as the kernel does (ELOOP).
const maxLinks = 40

// resolve applies the path policy: join relative paths to the root, clean,
// and resolve symlinks on the longest existing prefix, so a link inside the
// root that points out is seen as outside.
func (s *Set) resolve(tool, field, p string) (place, error) {
	if p == "" {
		return place{}, &ArgError{Tool: tool, Field: field, Reason: "required"}
	}
	if strings.IndexByte(p, 0) >= 0 {
		return place{}, &ArgError{Tool: tool, Field: field, Reason: "contains a NUL byte"}
	}
	lexical := p
	if !filepath.IsAbs(lexical) {
		lexical = filepath.Join(s.box.Root, lexical)
	}
	lexical = filepath.Clean(lexical)
	abs, err := realPath(lexical, maxLinks)
	if err != nil {
		return place{}, &ArgError{Tool: tool, Field: field, Reason: err.Error()}
	}
	pl := place{given: p, abs: abs, inside: within(s.box.Root, abs)}
	pl.display = s.show(lexical)
	if abs != lexical {
		pl.display += " -> " + s.show(abs)
	}
	return pl, nil
}

// realPath resolves symlinks in p as far as p exists; the missing rest is
// appended as is. A dangling link is followed to where it points, since
// that is where a write through it would land.
func realPath(p string, links int) (string, error) {
	rest := ""
	cur := p
	for {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if fi, lerr := os.Lstat(cur); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			if links == 0 {
				return "", errors.New("too many levels of symbolic links")
			}
			target, rerr := os.Readlink(cur)
			if rerr != nil {
				return "", rerr
			}
			if !filepath.IsAbs(target) {
				// Resolve the link's directory first: ".." in the target is
				// taken from where the link really is.
				dir, derr := filepath.EvalSymlinks(filepath.Dir(cur))
				if derr != nil {
					return "", derr
				}
				target = filepath.Join(dir, target)
			}
			return realPath(filepath.Join(target, rest), links-1)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return filepath.Join(cur, rest), nil
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// within reports whether p is root or below it; both must be clean.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return false
	}
	return rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// show is how a resolved or cleaned absolute path appears to the user and
// the model: relative to the root inside it, absolute outside.
func (s *Set) show(abs string) string {
	if within(s.box.Root, abs) {
		if rel, err := filepath.Rel(s.box.Root, abs); err == nil {
			return rel
		}
	}
	return abs
}

// outside lists the places that lie outside the root.
func outside(ps ...place) []string {
	var out []string
	for _, p := range ps {
		if !p.inside {
			out = append(out, p.abs)
		}
	}
	return out
}

// recheck resolves the place again at run time, so that a symlink swapped
// in after approval cannot redirect the call.
func (s *Set) recheck(p place) error {
	again, err := realPath(filepath.Clean(joinRoot(s.box.Root, p.given)), maxLinks)
	if err != nil {
		return err
	}
	if again != p.abs {
		return errors.New(p.given + " now resolves to " + again + ", not " + p.abs + " as approved; prepare the call again")
	}
	return nil
}

func joinRoot(root, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

// describe words an error about a path for the model, naming the path as
// it was shown rather than the absolute one inside a *PathError.
func describe(display string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return display + ": " + pe.Err.Error()
	}
	return err.Error()
}
