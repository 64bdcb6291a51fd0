package models

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Source kinds, in the order their models take precedence for -m names.
const (
	SourceNatter   = "natter"        // natter's own folder (pull writes here)
	SourceEnv      = "NATTER_MODELS" // folders the user listed
	SourceConfig   = "config"        // the config file's models.dirs
	SourceHF       = "huggingface"   // Hugging Face hub cache
	SourceOllama   = "ollama"        // Ollama's blob store, named by its manifests
	SourceLMStudio = "lmstudio"      // LM Studio's models folder
	SourceLlamaCpp = "llama.cpp"     // llama.cpp's download cache
)

// Source is one place to look for models.
type Source struct {
	Kind string
	Dir  string
}

// DefaultSources lists every place natter looks, from the environment.
// Folders that do not exist are kept; scanning skips them quietly.
func DefaultSources() []Source {
	var out []Source
	add := func(kind, dir string) {
		if dir != "" {
			out = append(out, Source{kind, expandHome(dir)})
		}
	}
	home := homeDir()
	inHome := func(parts ...string) string {
		if home == "" {
			return ""
		}
		return filepath.Join(append([]string{home}, parts...)...)
	}
	cache := xdgDir("XDG_CACHE_HOME", ".cache")

	add(SourceNatter, ModelsDir())
	for _, d := range filepath.SplitList(os.Getenv("NATTER_MODELS")) {
		add(SourceEnv, strings.TrimSpace(d))
	}
	for _, d := range configDirs() {
		add(SourceConfig, d)
	}

	switch {
	case os.Getenv("HF_HUB_CACHE") != "":
		add(SourceHF, os.Getenv("HF_HUB_CACHE"))
	case os.Getenv("HF_HOME") != "":
		add(SourceHF, filepath.Join(expandHome(os.Getenv("HF_HOME")), "hub"))
	case cache != "":
		add(SourceHF, filepath.Join(cache, "huggingface", "hub"))
	}

	if d := os.Getenv("OLLAMA_MODELS"); d != "" {
		add(SourceOllama, d)
	} else {
		add(SourceOllama, inHome(".ollama", "models"))
	}

	add(SourceLMStudio, inHome(".lmstudio", "models"))
	if cache != "" {
		add(SourceLMStudio, filepath.Join(cache, "lm-studio", "models"))
	}

	if d := os.Getenv("LLAMA_CACHE"); d != "" {
		add(SourceLlamaCpp, d)
	} else if cache != "" {
		add(SourceLlamaCpp, filepath.Join(cache, "llama.cpp"))
	}
	return out
}

// Model is one local GGUF model.
type Model struct {
	Name   string `json:"name"`   // what -m accepts: file name without .gguf, or an Ollama tag
	Path   string `json:"path"`   // the file to load
	Source string `json:"source"` // one of the Source* kinds
	Repo   string `json:"repo,omitempty"`
	Meta
	// Estimate is the memory need at the default context.
	Estimate Estimate `json:"estimate"`
	Fit      Fit      `json:"fit"`
	// Err says why the file's header could not be read ("" when it was).
	Err string `json:"error,omitempty"`
}

// found is a candidate before its header is read.
type found struct {
	name, path, source, repo string
}

// Discover scans the default sources and reads each model's header.
func Discover() []Model { return DiscoverIn(DefaultSources()) }

// DiscoverIn scans srcs in order. The same file reached twice (a symlink,
// or a folder listed twice) is listed once, under the first source; Ollama
// tags naming one blob are each listed.
func DiscoverIn(srcs []Source) []Model {
	cands := listCandidates(srcs)
	avail, err := AvailableMemory()
	if err != nil {
		avail = 0
	}
	seen := map[string]string{} // real path -> source that listed it
	var out []Model
	for _, c := range cands {
		real, err := filepath.EvalSymlinks(c.path)
		if err != nil {
			continue
		}
		// Ollama tags that share a blob are aliases users know apart,
		// so each is listed; other duplicates are one file seen twice.
		if src, dup := seen[real]; dup && !(src == SourceOllama && c.source == SourceOllama) {
			continue
		}
		seen[real] = c.source
		m := Model{Name: c.name, Path: c.path, Source: c.source, Repo: c.repo}
		meta, err := ReadMeta(c.path)
		if err == nil && meta.Params == 0 {
			err = errNoTensors
		}
		if err != nil {
			// The reader's message names the path, which is listed already.
			m.Err = strings.TrimPrefix(err.Error(), c.path+": ")
			if fi, serr := os.Stat(c.path); serr == nil {
				m.FileSize = fi.Size()
			}
		} else {
			m.Meta = *meta
			m.Estimate = EstimateMemory(meta, 0)
			m.Fit = FitFor(m.Estimate.Total, avail)
		}
		out = append(out, m)
	}
	return out
}

// maxScanDepth and maxScanEntries bound a walk of a folder the user pointed
// at, so $NATTER_MODELS=/ does not walk the whole disk.
const (
	maxScanDepth   = 6
	maxScanEntries = 200_000
)

var shardRe = regexp.MustCompile(`(?i)-(\d{5})-of-(\d{5})\.gguf$`)

// ggufName returns the model name for a .gguf file name, and whether the
// file should be listed at all (not a projector, not a later shard).
func ggufName(file string) (string, bool) {
	if !strings.EqualFold(filepath.Ext(file), ".gguf") || strings.HasPrefix(file, ".") {
		return "", false
	}
	if strings.HasPrefix(strings.ToLower(file), "mmproj") {
		return "", false // vision projectors are not chat models
	}
	if m := shardRe.FindStringSubmatch(file); m != nil {
		if m[1] != "00001" {
			return "", false
		}
		return file[:len(file)-len(m[0])], true
	}
	return file[:len(file)-len(".gguf")], true
}

// scanDir walks dir for .gguf files (following file symlinks, not folder ones).
func scanDir(dir, kind string) []found {
	if dir == "" {
		return nil
	}
	var out []found
	entries := 0
	// WalkDir does not descend into a root that is a symlink, and model
	// folders often are (another disk; ~/.cache/lm-studio -> ~/.lmstudio).
	root, err := filepath.EvalSymlinks(filepath.Clean(dir))
	if err != nil {
		return nil
	}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return fs.SkipAll
			}
			return nil // unreadable sub-folder: skip it, keep going
		}
		entries++
		if entries > maxScanEntries {
			return fs.SkipAll
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || strings.Count(p[len(root):], string(filepath.Separator)) > maxScanDepth) {
				return fs.SkipDir
			}
			return nil
		}
		name, ok := ggufName(d.Name())
		if !ok || !isRegular(p) {
			return nil
		}
		out = append(out, found{name: name, path: p, source: kind})
		return nil
	})
	return out
}

// scanHFCache reads a Hugging Face hub cache:
//
//	models--OWNER--NAME/refs/main             (a commit hash)
//	models--OWNER--NAME/snapshots/HASH/F.gguf (symlink to ../../blobs/SHA256)
//
// Files of the snapshot that refs/main names come first; other snapshots
// add only files that the main one lacks.
func scanHFCache(dir string) []found {
	dir, err := filepath.EvalSymlinks(dir) // so paths below match scanDir's
	if err != nil {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []found
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "models--") {
			continue
		}
		repo := strings.Replace(strings.TrimPrefix(e.Name(), "models--"), "--", "/", 1)
		repoDir := filepath.Join(dir, e.Name())
		snaps, err := os.ReadDir(filepath.Join(repoDir, "snapshots"))
		if err != nil {
			continue
		}
		main := ""
		if b, err := os.ReadFile(filepath.Join(repoDir, "refs", "main")); err == nil {
			main = strings.TrimSpace(string(b))
		}
		sort.SliceStable(snaps, func(i, j int) bool {
			return snaps[i].Name() == main && snaps[j].Name() != main
		})
		have := map[string]bool{}
		for _, s := range snaps {
			if !s.IsDir() {
				continue
			}
			snapDir := filepath.Join(repoDir, "snapshots", s.Name())
			for _, f := range scanDir(snapDir, SourceHF) {
				rel, _ := filepath.Rel(snapDir, f.path)
				if have[rel] {
					continue
				}
				have[rel] = true
				f.repo = repo
				out = append(out, f)
			}
		}
	}
	return out
}
