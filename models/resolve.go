package models

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoModel means no model was named and none is remembered.
var ErrNoModel = errors.New("no model chosen")

// NotFoundError is returned by Resolve for a name that matches nothing.
type NotFoundError struct {
	Name string
	// Catalog is set when Name is a catalog model that is not downloaded yet.
	Catalog *CatalogEntry
	// Similar lists local names that look alike.
	Similar []string
}

func (e *NotFoundError) Error() string {
	if e.Catalog != nil {
		return fmt.Sprintf("model %q is in the catalog but not downloaded yet: run `natter pull %s` (about %s)",
			e.Name, e.Catalog.Name, HumanBytes(uint64(e.Catalog.Size)))
	}
	msg := fmt.Sprintf("no model named %q: not a file, not a local model, not in the catalog (see `natter models` and `natter models --catalog`)", e.Name)
	if len(e.Similar) > 0 {
		msg += "; did you mean " + strings.Join(e.Similar, ", ") + "?"
	}
	return msg
}

// Resolve turns what the user gave -m into a model file path:
//   - "" means the last model used (see Remember);
//   - an existing file path (absolute, relative or ~/...);
//   - a local model name from Discover (file name without .gguf, an Ollama
//     tag such as qwen2.5:0.5b; ":latest" may be left off);
//   - a catalog name whose file is in the models folder (or anywhere
//     Discover looks).
func Resolve(nameOrPath string) (string, error) {
	return resolveIn(nameOrPath, DefaultSources())
}

func resolveIn(arg string, srcs []Source) (string, error) {
	arg = strings.TrimSpace(arg)
	if arg == "" {
		p, err := LastUsed()
		if err != nil {
			return "", err
		}
		if p == "" {
			return "", fmt.Errorf("%w: pass -m PATH or NAME (see `natter models`), or download one with `natter pull NAME` (see `natter models --catalog`)", ErrNoModel)
		}
		if !isRegular(p) {
			return "", fmt.Errorf("%w: the last model used, %s, is gone; pass -m PATH or NAME (see `natter models`)", ErrNoModel, p)
		}
		return p, nil
	}

	p := expandHome(arg)
	if fi, err := os.Stat(p); err == nil {
		if fi.IsDir() {
			return "", fmt.Errorf("%s is a folder; give the .gguf file inside it", arg)
		}
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil
		}
		return p, nil
	} else if looksLikePath(arg) {
		return "", fmt.Errorf("model file %s: %w", arg, err)
	}

	cands := listCandidates(srcs)
	if c, ok := matchName(arg, cands); ok {
		return c.path, nil
	}
	if e, ok := CatalogLookup(arg); ok {
		for _, c := range cands {
			if filepath.Base(c.path) == e.File {
				return c.path, nil
			}
		}
		return "", &NotFoundError{Name: arg, Catalog: &e}
	}
	return "", &NotFoundError{Name: arg, Similar: similarNames(arg, cands)}
}

// HasLocalModels reports whether any GGUF file is in a place natter looks
// (without reading headers), e.g. to choose between a first-run download
// offer and a model picker.
func HasLocalModels() bool { return len(listCandidates(DefaultSources())) > 0 }

// looksLikePath: names never end in .gguf or start with ./, ../, / or ~.
func looksLikePath(s string) bool {
	return strings.HasSuffix(strings.ToLower(s), ".gguf") || filepath.IsAbs(s) ||
		strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "~")
}

// listCandidates lists what Discover would, without reading headers.
func listCandidates(srcs []Source) []found {
	var out []found
	for _, s := range srcs {
		switch s.Kind {
		case SourceHF:
			out = append(out, scanHFCache(s.Dir)...)
		case SourceOllama:
			out = append(out, scanOllama(s.Dir)...)
		default:
			out = append(out, scanDir(s.Dir, s.Kind)...)
		}
	}
	return out
}

// matchName finds name among candidates: exact first, then ignoring case,
// then an Ollama tag with ":latest" implied, then "REPO/NAME" for the HF cache.
func matchName(name string, cands []found) (found, bool) {
	tries := []func(c found) bool{
		func(c found) bool { return c.name == name },
		func(c found) bool { return strings.EqualFold(c.name, name) },
		func(c found) bool { return c.source == SourceOllama && strings.EqualFold(c.name, name+":latest") },
		func(c found) bool { return c.repo != "" && strings.EqualFold(c.repo+"/"+c.name, name) },
	}
	for _, ok := range tries {
		for _, c := range cands {
			if ok(c) {
				return c, true
			}
		}
	}
	return found{}, false
}

// similarNames suggests up to three local names sharing a word with name.
func similarNames(name string, cands []found) []string {
	words := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return r == '-' || r == ':' || r == '_' || r == '/' || r == '.'
	})
	seen := map[string]bool{}
	var out []string
	for _, c := range cands {
		lc := strings.ToLower(c.name)
		for _, w := range words {
			if len(w) >= 3 && strings.Contains(lc, w) && !seen[c.name] {
				seen[c.name] = true
				out = append(out, c.name)
				break
			}
		}
	}
	sort.Strings(out)
	if len(out) > 3 {
		out = out[:3]
	}
	return out
}

// lastUsedFile stores the path of the last model loaded.
func lastUsedFile() string {
	d := stateDir()
	if d == "" {
		return ""
	}
	return filepath.Join(d, "last_model")
}

// LastUsed returns the remembered model path, or "" when there is none.
func LastUsed() (string, error) {
	f := lastUsedFile()
	if f == "" {
		return "", nil
	}
	b, err := os.ReadFile(f)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the last model used: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Remember records path as the default for the next run. Call it after a
// model loaded successfully.
func Remember(path string) error {
	f := lastUsedFile()
	if f == "" {
		return errors.New("remembering the model: no home or XDG_STATE_HOME folder")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		return fmt.Errorf("remembering the model: %w", err)
	}
	return writeFileAtomic(f, []byte(abs+"\n"))
}

// writeFileAtomic writes via a temporary file and rename, so a crash never
// leaves a half-written file.
func writeFileAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), name)
	}
	if werr != nil {
		os.Remove(tmp.Name())
	}
	return werr
}
