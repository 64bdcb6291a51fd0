package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"natter/config"
	"natter/history"
	"natter/history/kvcache"
	"natter/models"
)

// ModelsInfo is where natter looks for models and what it found.
type ModelsInfo struct {
	// Dir is natter's own models folder (pull writes there).
	Dir       string `json:"dir"`
	DirExists bool   `json:"dir_exists"`
	// FreeBytes is the free space on Dir's filesystem (of its nearest
	// existing parent when Dir does not exist yet).
	FreeBytes      uint64       `json:"free_bytes"`
	FreeError      string       `json:"free_error,omitempty"`
	Sources        []SourceInfo `json:"sources"`
	LastUsed       string       `json:"last_used"`
	LastUsedExists bool         `json:"last_used_exists"`
	LastUsedError  string       `json:"last_used_error,omitempty"`
}

// SourceInfo is one place models are looked for.
type SourceInfo struct {
	Kind   string      `json:"kind"`
	Dir    string      `json:"dir"`
	Exists bool        `json:"exists"`
	Error  string      `json:"error,omitempty"` // a stat failure other than "does not exist"
	Models []ModelInfo `json:"models"`
}

// ModelInfo is one GGUF file found in a source.
type ModelInfo struct {
	Name         string `json:"name"`
	Path         string `json:"path"`
	SizeBytes    int64  `json:"size_bytes"`
	Arch         string `json:"arch"`
	Quantization string `json:"quantization"`
	Params       uint64 `json:"params"`
	Error        string `json:"error,omitempty"` // why its header could not be read
}

func collectModels() ModelsInfo {
	var mi ModelsInfo
	mi.Dir = models.ModelsDir()
	if mi.Dir != "" {
		mi.DirExists = isDir(mi.Dir)
		mi.FreeBytes, mi.FreeError = freeSpace(mi.Dir)
	} else {
		mi.FreeError = "no models folder: neither XDG_DATA_HOME nor a home directory is set"
	}

	srcs := models.DefaultSources()
	for _, s := range srcs {
		si := SourceInfo{Kind: s.Kind, Dir: s.Dir, Models: []ModelInfo{}}
		fi, err := os.Stat(s.Dir)
		switch {
		case err == nil:
			si.Exists = fi.IsDir()
			if !si.Exists {
				si.Error = "not a folder"
			}
		case !errors.Is(err, fs.ErrNotExist):
			si.Error = err.Error()
		}
		mi.Sources = append(mi.Sources, si)
	}
	// One scan over the same sources, so a file reached twice is listed
	// once, under the source natter itself would use.
	for _, m := range models.DiscoverIn(srcs) {
		i := sourceOf(srcs, m)
		if i < 0 {
			continue
		}
		mi.Sources[i].Models = append(mi.Sources[i].Models, ModelInfo{
			Name: m.Name, Path: m.Path, SizeBytes: m.FileSize, Arch: m.Arch,
			Quantization: m.Quantization, Params: m.Params, Error: m.Err,
		})
	}

	last, err := models.LastUsed()
	mi.LastUsed = last
	if err != nil {
		mi.LastUsedError = err.Error()
	}
	if last != "" {
		if _, err := os.Stat(last); err == nil {
			mi.LastUsedExists = true
		} else {
			mi.LastUsedError = err.Error()
		}
	}
	return mi
}

// sourceOf is the index of the source m was found in: the one of its kind
// whose folder holds it (several sources can share a kind), else the
// first of its kind.
func sourceOf(srcs []models.Source, m models.Model) int {
	first := -1
	for i, s := range srcs {
		if s.Kind != m.Source {
			continue
		}
		if first < 0 {
			first = i
		}
		if within(s.Dir, m.Path) {
			return i
		}
	}
	return first
}

// within reports whether path is dir or lies under it.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// ConfigInfo is the config file.
type ConfigInfo struct {
	Path      string `json:"path"`
	Exists    bool   `json:"exists"`
	Error     string `json:"error,omitempty"`      // loading it failed
	StatError string `json:"stat_error,omitempty"` // it could not even be looked at
	// Endpoints are the remote servers the file names; their keys are
	// never read here, only whether the variable or file that holds one is
	// there, and doctor never contacts a server.
	Endpoints []EndpointInfo `json:"endpoints"`
}

// EndpointInfo is one [endpoints.NAME] table.
type EndpointInfo struct {
	Name  string `json:"name"`
	URL   string `json:"url"`
	Model string `json:"model,omitempty"`
	Key   string `json:"key"` // where the key comes from and whether it is there
}

func collectEndpoints(c *config.Config, getenv func(string) string) []EndpointInfo {
	out := []EndpointInfo{}
	for _, e := range c.Endpoints() {
		ei := EndpointInfo{Name: e.Name, URL: e.URL, Model: e.Model, Key: "none"}
		switch {
		case e.APIKeyFile != "":
			ei.Key = "file " + e.APIKeyFile
			if st, err := os.Stat(expandTilde(e.APIKeyFile)); err != nil {
				ei.Key += " (missing)"
			} else if st.Mode().Perm()&0o077 != 0 {
				ei.Key += fmt.Sprintf(" (mode %04o: others can read it; chmod 600)", st.Mode().Perm())
			}
		case e.APIKeyEnv != "":
			ei.Key = "$" + e.APIKeyEnv
			if strings.TrimSpace(getenv(e.APIKeyEnv)) == "" {
				ei.Key += " (unset)"
			} else {
				ei.Key += " (set)"
			}
		}
		out = append(out, ei)
	}
	return out
}

func expandTilde(p string) string {
	if strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, p[2:])
		}
	}
	return p
}

func collectConfig(path string, loadErr error) ConfigInfo {
	ci := ConfigInfo{Path: path}
	if loadErr != nil {
		ci.Error = loadErr.Error()
	}
	if path == "" {
		ci.StatError = "no config path (neither XDG_CONFIG_HOME nor a home directory is set?)"
		return ci
	}
	_, err := os.Stat(path)
	switch {
	case err == nil:
		ci.Exists = true
	case !errors.Is(err, fs.ErrNotExist):
		ci.StatError = err.Error()
	}
	return ci
}

// HistoryInfo is the chat history database, looked at from outside.
type HistoryInfo struct {
	Path      string `json:"path"`
	PathError string `json:"path_error,omitempty"`
	// Off: NATTER_NO_HISTORY turns saving off.
	Off    bool `json:"off"`
	Exists bool `json:"exists"`
	// SizeBytes is the database plus its write-ahead log, which holds
	// recent writes until a checkpoint.
	SizeBytes int64  `json:"size_bytes"`
	DBBytes   int64  `json:"db_bytes"`
	WALBytes  int64  `json:"wal_bytes"`
	StatError string `json:"stat_error,omitempty"`
	// HeaderOK: the file starts with SQLite's magic string (read with a
	// plain read, not SQLite, so a locked database is still checked).
	HeaderOK    bool   `json:"header_ok"`
	HeaderError string `json:"header_error,omitempty"`
	// CorruptCopies are damaged databases history set aside when repairing.
	CorruptCopies []string `json:"corrupt_copies"`
	FreeBytes     uint64   `json:"free_bytes"`
	FreeError     string   `json:"free_error,omitempty"`
	KVCacheDir    string   `json:"kvcache_dir"`
	KVCacheExists bool     `json:"kvcache_exists"`
	KVCacheBytes  int64    `json:"kvcache_bytes"`
	KVCacheFiles  int      `json:"kvcache_files"`
	KVCacheError  string   `json:"kvcache_error,omitempty"`
}

func collectHistory() HistoryInfo {
	hi := HistoryInfo{Off: history.NoHistory(), CorruptCopies: []string{}}
	path, err := history.DefaultPath()
	if err != nil {
		hi.PathError = err.Error()
		return hi
	}
	hi.Path = path

	fi, err := os.Stat(path)
	switch {
	case err == nil:
		hi.Exists = true
		hi.DBBytes = fi.Size()
		hi.HeaderOK, hi.HeaderError = sqliteHeader(path)
	case !errors.Is(err, fs.ErrNotExist):
		hi.StatError = err.Error()
	}
	if fi, err := os.Stat(path + "-wal"); err == nil {
		hi.WALBytes = fi.Size()
	}
	hi.SizeBytes = hi.DBBytes + hi.WALBytes
	if m, err := filepath.Glob(globQuote(path) + ".corrupt-*"); err == nil {
		hi.CorruptCopies = append(hi.CorruptCopies, m...)
	}
	hi.FreeBytes, hi.FreeError = freeSpace(filepath.Dir(path))

	hi.KVCacheDir = kvcache.DefaultDir(path)
	hi.KVCacheExists = isDir(hi.KVCacheDir)
	if hi.KVCacheExists {
		hi.KVCacheBytes, hi.KVCacheFiles, err = treeSize(hi.KVCacheDir)
		if err != nil {
			hi.KVCacheError = err.Error()
		}
	}
	return hi
}

// sqliteHeader checks the 16-byte magic every SQLite database starts with.
func sqliteHeader(path string) (bool, string) {
	f, err := os.Open(path)
	if err != nil {
		return false, err.Error()
	}
	defer f.Close()
	buf := make([]byte, 16)
	n, err := io.ReadFull(f, buf)
	switch {
	case n == 0 && (err == io.EOF || err == nil):
		return false, "empty file"
	case err != nil && err != io.ErrUnexpectedEOF:
		return false, err.Error()
	case !bytes.Equal(buf[:n], []byte("SQLite format 3\x00")):
		return false, "not an SQLite database (unexpected header)"
	}
	return true, ""
}

// globQuote escapes glob metacharacters, so a path with [ or * in it
// matches only itself.
func globQuote(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// treeSize sums the regular files under dir without following symlinks.
// Unreadable entries are skipped and the first such error returned.
func treeSize(dir string) (size int64, files int, firstErr error) {
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return nil
		}
		size += fi.Size()
		files++
		return nil
	})
	if firstErr == nil {
		firstErr = err
	}
	return size, files, firstErr
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// freeSpace is the free space for dir's filesystem, measured at its
// nearest existing ancestor: natter creates the folder on first use,
// so it is the filesystem it will land on that matters.
func freeSpace(dir string) (uint64, string) {
	if dir == "" {
		return 0, "no folder"
	}
	d := filepath.Clean(dir)
	for {
		if _, err := os.Stat(d); err == nil {
			break
		}
		parent := filepath.Dir(d)
		if parent == d {
			return 0, "no part of " + dir + " exists"
		}
		d = parent
	}
	n, err := diskFree(d)
	if err != nil {
		return 0, err.Error()
	}
	return n, ""
}

// MemoryInfo is the machine's RAM.
type MemoryInfo struct {
	TotalBytes     uint64 `json:"total_bytes"`
	AvailableBytes uint64 `json:"available_bytes"`
	TotalError     string `json:"total_error,omitempty"`
	AvailableError string `json:"available_error,omitempty"`
}

func collectMemory() MemoryInfo {
	var m MemoryInfo
	var err error
	if m.TotalBytes, err = models.TotalMemory(); err != nil {
		m.TotalError = err.Error()
	}
	if m.AvailableBytes, err = models.AvailableMemory(); err != nil {
		m.AvailableError = err.Error()
	}
	return m
}
