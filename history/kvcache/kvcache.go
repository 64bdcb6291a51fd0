// Package kvcache stores model KV-cache states on disk so that resuming a
// saved chat can restore the state instead of re-processing the whole
// conversation. An entry is the state after a token sequence, for one model
// file; Lookup finds the entry sharing the longest prefix with the tokens of
// the prompt about to be processed.
//
// The store does not interpret states: the engine produces them
// (llama_state_seq_get_data) and restores them (llama_state_seq_set_data).
// Every file carries a checksum, is written atomically, and anything damaged
// or unreadable is removed and treated as a miss. Total size is capped; the
// least recently used entries go first.
package kvcache

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultLimit is the default total size of a cache directory.
const DefaultLimit int64 = 2 << 30

// DefaultMinPrefix: a shared prefix shorter than this is not worth loading
// a state file for.
const DefaultMinPrefix = 32

const (
	magic      = "NTKV"
	version    = 1
	ext        = ".kv"
	trailerLen = 8 + 4 // state length, CRC-32C
	maxIDLen   = 4096
	maxTokens  = 1 << 24
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrTooLarge: a state bigger than the cache's whole size limit.
var ErrTooLarge = errors.New("kvcache: state is larger than the cache limit")

// Cache is a directory of saved states. Safe for concurrent use, and for
// several processes sharing the directory (writes are atomic renames).
type Cache struct {
	dir       string
	limit     int64
	minPrefix int
	mu        sync.Mutex
}

// DefaultDir is the cache directory next to the history database.
func DefaultDir(dbPath string) string { return filepath.Join(filepath.Dir(dbPath), "kvcache") }

// Open opens (creating) the cache in dir. limit <= 0 means DefaultLimit.
func Open(dir string, limit int64) (*Cache, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kvcache: %w", err)
	}
	c := &Cache{dir: dir, limit: limit, minPrefix: DefaultMinPrefix}
	c.removeStaleTemps()
	return c, nil
}

// SetMinPrefix changes the shortest shared prefix Lookup reports (>= 1).
func (c *Cache) SetMinPrefix(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.minPrefix = max(n, 1)
}

// Dir is the cache directory.
func (c *Cache) Dir() string { return c.dir }

// ModelIdentity names a model file by its size, modification time and a hash
// of its first MiB, so a replaced or re-downloaded file gets a new identity
// and its old states are never restored. The engine should append what else
// shapes a state (llama.cpp version, context size, KV type), e.g.
// ModelIdentity(path) + "/ctx4096-f16".
func ModelIdentity(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, 1<<20)); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d-%d-%x", st.Size(), st.ModTime().UnixNano(), h.Sum(nil)[:12]), nil
}

func entryName(modelID string, tokens []int32) string {
	h := sha256.New()
	h.Write([]byte(modelID))
	h.Write([]byte{0})
	binary.Write(h, binary.LittleEndian, tokens)
	return hex.EncodeToString(h.Sum(nil)[:16]) + ext
}

// Put saves state as the KV state after tokens for modelID.
func (c *Cache) Put(modelID string, tokens []int32, state []byte) error {
	return c.PutTagged(modelID, "", tokens, state)
}

// PutTagged is Put with a tag naming what the state belongs to (e.g.
// history.ChatTag(id)), so RemoveTag can delete it with the chat: a KV state
// holds the conversation in another form.
func (c *Cache) PutTagged(modelID, tag string, tokens []int32, state []byte) error {
	if int64(len(state)) > c.limit {
		return ErrTooLarge
	}
	return c.PutFunc(modelID, tag, tokens, func(w io.Writer) error {
		_, err := w.Write(state)
		return err
	})
}

// PutFunc is PutTagged for a state produced by write, so a large state
// need not be held in memory twice.
func (c *Cache) PutFunc(modelID, tag string, tokens []int32, write func(w io.Writer) error) error {
	if len(tag) > maxIDLen {
		return errors.New("kvcache: tag too long")
	}
	if len(tokens) == 0 || len(tokens) > maxTokens {
		return fmt.Errorf("kvcache: bad token count %d", len(tokens))
	}
	if len(modelID) == 0 || len(modelID) > maxIDLen {
		return errors.New("kvcache: bad model id")
	}
	tmp, err := os.CreateTemp(c.dir, ".put-*.tmp")
	if err != nil {
		return fmt.Errorf("kvcache: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, crc), 1<<20)
	writeHeader(bw, modelID, tag, tokens)
	cw := &countWriter{w: bw}
	err = write(cw)
	if err == nil && cw.n == 0 {
		err = errors.New("empty state")
	}
	if err == nil && cw.n > c.limit {
		err = ErrTooLarge
	}
	if err == nil {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(cw.n))
		bw.Write(n[:])
		err = bw.Flush()
	}
	if err == nil {
		var sum [4]byte
		binary.LittleEndian.PutUint32(sum[:], crc.Sum32())
		_, err = tmp.Write(sum[:])
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return err
		}
		return fmt.Errorf("kvcache: saving state: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	name := entryName(modelID, tokens)
	if err := os.Rename(tmp.Name(), filepath.Join(c.dir, name)); err != nil {
		return fmt.Errorf("kvcache: %w", err)
	}
	c.dropSupersededLocked(modelID, tokens, name)
	c.evictLocked(name)
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeHeader(w io.Writer, modelID, tag string, tokens []int32) {
	var b [4]byte
	io.WriteString(w, magic)
	binary.LittleEndian.PutUint32(b[:], version)
	w.Write(b[:])
	for _, s := range []string{modelID, tag} {
		binary.LittleEndian.PutUint32(b[:], uint32(len(s)))
		w.Write(b[:])
		io.WriteString(w, s)
	}
	binary.LittleEndian.PutUint32(b[:], uint32(len(tokens)))
	w.Write(b[:])
	binary.Write(w, binary.LittleEndian, tokens)
}

// entry is a parsed file header.
type entry struct {
	name    string
	modelID string
	tag     string
	tokens  []int32
	hdrLen  int64
	size    int64
	mtime   time.Time
}

// readHeader parses the header of a cache file without reading the state.
func readHeader(path string) (*entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	e, err := parseHeader(bufio.NewReader(f), st.Size())
	if err != nil {
		return nil, err
	}
	e.name, e.mtime = filepath.Base(path), st.ModTime()
	return e, nil
}

var errBadFile = errors.New("not a valid state file")

func parseHeader(r io.Reader, size int64) (*entry, error) {
	var fixed [8]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return nil, errBadFile
	}
	if string(fixed[:4]) != magic || binary.LittleEndian.Uint32(fixed[4:8]) != version {
		return nil, errBadFile
	}
	hdrLen := int64(8)
	readU32 := func() (uint32, bool) {
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, false
		}
		hdrLen += 4
		return binary.LittleEndian.Uint32(b[:]), true
	}
	readStr := func() (string, bool) {
		n, ok := readU32()
		if !ok || n > maxIDLen || hdrLen+int64(n) > size {
			return "", false
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return "", false
		}
		hdrLen += int64(n)
		return string(b), true
	}
	id, ok := readStr()
	if !ok || id == "" {
		return nil, errBadFile
	}
	tag, ok := readStr()
	if !ok {
		return nil, errBadFile
	}
	n, ok := readU32()
	if !ok || n == 0 || n > maxTokens || hdrLen+4*int64(n)+trailerLen+1 > size {
		return nil, errBadFile
	}
	hdrLen += 4 * int64(n)
	tokens := make([]int32, n)
	if err := binary.Read(r, binary.LittleEndian, tokens); err != nil {
		return nil, errBadFile
	}
	return &entry{modelID: id, tag: tag, tokens: tokens, hdrLen: hdrLen, size: size}, nil
}

// scan reads every entry header; files that cannot be parsed are removed.
func (c *Cache) scanLocked() []*entry {
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return nil
	}
	var out []*entry
	for _, de := range des {
		if !de.Type().IsRegular() || !strings.HasSuffix(de.Name(), ext) {
			continue
		}
		p := filepath.Join(c.dir, de.Name())
		e, err := readHeader(p)
		if err == nil && e.name != entryName(e.modelID, e.tokens) {
			err = errBadFile // the header was damaged: it no longer matches the name
		}
		if errors.Is(err, errBadFile) {
			os.Remove(p)
			continue
		}
		if err != nil {
			continue // vanished or unreadable: another process is at work
		}
		out = append(out, e)
	}
	return out
}

// Hit is a state found by Lookup.
type Hit struct {
	// PrefixLen tokens at the start of the looked-up sequence are covered by
	// State. It can equal the looked-up length; the engine must still decode
	// at least one token itself to get logits.
	PrefixLen int
	// Tokens is the sequence State was saved after (what the engine's
	// LoadState takes). Beyond PrefixLen it differs from the looked-up
	// sequence: the engine's prefix reuse drops those KV positions
	// (llama_memory_seq_rm(mem, seq, PrefixLen, -1)).
	Tokens []int32
	State  []byte
	name   string
}

// Lookup returns the saved state for modelID sharing the longest prefix
// with tokens (at least the minimum prefix). ok is false on a miss.
func (c *Cache) Lookup(modelID string, tokens []int32) (Hit, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	type cand struct {
		e  *entry
		cp int
	}
	var cands []cand
	for _, e := range c.scanLocked() {
		if e.modelID != modelID {
			continue
		}
		cp := commonPrefix(e.tokens, tokens)
		if cp >= min(c.minPrefix, len(tokens)) && cp > 0 {
			cands = append(cands, cand{e, cp})
		}
	}
	// Longest shared prefix first; among equals the smallest state.
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].cp != cands[j].cp {
			return cands[i].cp > cands[j].cp
		}
		return len(cands[i].e.tokens) < len(cands[j].e.tokens)
	})
	for _, cd := range cands {
		p := filepath.Join(c.dir, cd.e.name)
		state, err := readState(p, cd.e)
		if errors.Is(err, errBadFile) {
			os.Remove(p)
			continue
		}
		if err != nil {
			continue
		}
		now := time.Now()
		os.Chtimes(p, now, now) // mark as recently used
		return Hit{PrefixLen: cd.cp, Tokens: cd.e.tokens, State: state, name: cd.e.name}, true
	}
	return Hit{}, false
}

// readState reads and verifies a whole file against the header scanned
// earlier (it may have been replaced since).
func readState(path string, want *entry) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if int64(len(data)) < want.hdrLen+trailerLen+1 {
		return nil, errBadFile
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, errBadFile
	}
	e, err := parseHeader(bytes.NewReader(data[:want.hdrLen]), int64(len(data)))
	if err != nil || e.modelID != want.modelID || e.tag != want.tag || !equalTokens(e.tokens, want.tokens) {
		return nil, errBadFile
	}
	stateLen := binary.LittleEndian.Uint64(body[len(body)-8:])
	if int64(stateLen) != int64(len(body))-8-want.hdrLen {
		return nil, errBadFile
	}
	return body[want.hdrLen : len(body)-8], nil
}

// Discard removes the entry behind h (the engine could not restore it).
func (c *Cache) Discard(h Hit) error {
	if h.name == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := os.Remove(filepath.Join(c.dir, h.name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// RemoveTag deletes every entry saved with tag and reports how many.
func (c *Cache) RemoveTag(tag string) (int, error) {
	if tag == "" {
		return 0, errors.New("kvcache: empty tag")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	var firstErr error
	for _, e := range c.scanLocked() {
		if e.tag != tag {
			continue
		}
		err := os.Remove(filepath.Join(c.dir, e.name))
		if err == nil {
			n++
		} else if !errors.Is(err, os.ErrNotExist) && firstErr == nil {
			firstErr = err
		}
	}
	return n, firstErr
}

// dropSupersededLocked removes entries of modelID whose tokens are a strict
// prefix of tokens: the new entry serves every lookup they could.
func (c *Cache) dropSupersededLocked(modelID string, tokens []int32, keep string) {
	for _, e := range c.scanLocked() {
		if e.name != keep && e.modelID == modelID && len(e.tokens) < len(tokens) &&
			commonPrefix(e.tokens, tokens) == len(e.tokens) {
			os.Remove(filepath.Join(c.dir, e.name))
		}
	}
}

// evictLocked removes least recently used entries until the cache fits
// its limit; keep (just written) goes last.
func (c *Cache) evictLocked(keep string) {
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	type file struct {
		name  string
		size  int64
		mtime time.Time
	}
	var files []file
	var total int64
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), ext) {
			continue
		}
		info, err := de.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		files = append(files, file{de.Name(), info.Size(), info.ModTime()})
		total += info.Size()
	}
	sort.Slice(files, func(i, j int) bool {
		if (files[i].name == keep) != (files[j].name == keep) {
			return files[j].name == keep
		}
		return files[i].mtime.Before(files[j].mtime)
	})
	for _, f := range files {
		if total <= c.limit {
			break
		}
		if os.Remove(filepath.Join(c.dir, f.name)) == nil {
			total -= f.size
		}
	}
}

// Size is the total size of the cache's entries.
func (c *Cache) Size() int64 {
	des, _ := os.ReadDir(c.dir)
	var total int64
	for _, de := range des {
		if info, err := de.Info(); err == nil && strings.HasSuffix(de.Name(), ext) {
			total += info.Size()
		}
	}
	return total
}

// removeStaleTemps deletes temporary files left by a writer that died; a
// recent one may belong to a Put running in another process.
func (c *Cache) removeStaleTemps() {
	des, _ := os.ReadDir(c.dir)
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), ".tmp") {
			continue
		}
		if info, err := de.Info(); err == nil && time.Since(info.ModTime()) > 10*time.Minute {
			os.Remove(filepath.Join(c.dir, de.Name()))
		}
	}
}

func commonPrefix(a, b []int32) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func equalTokens(a, b []int32) bool {
	return len(a) == len(b) && commonPrefix(a, b) == len(a)
}
