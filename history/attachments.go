package history

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"natter/internal/units"
	"natter/prompts"
)

// Attachments are kept by content: a message row holds the metadata (the
// media column, JSON), and the bytes live once per sha256 in
// AttachmentDir, as <dir>/<first two hex digits>/<sha256>. The file name
// is the hash alone, never the format or the user's file name, so a row
// (which may be damaged or hand-edited) cannot name any other path, and
// one image attached under two names is stored once.
//
// A Store that is not on disk (OpenMemory, or one that fell back to memory)
// keeps new blobs in memory with its rows; it still reads blobs already on
// disk, but never writes or removes any, like the database file itself.

// MaxAttachmentSize is the largest attachment history keeps (512 MiB).
const MaxAttachmentSize int64 = 512 << 20

// maxAttachment is the cap in force (tests lower it).
var maxAttachment = MaxAttachmentSize

var (
	// ErrAttachmentTooLarge: an attachment is over MaxAttachmentSize.
	ErrAttachmentTooLarge = errors.New("attachment is larger than history keeps (512 MiB)")
	// ErrAttachmentHash: an attachment's SHA256 is not a sha256 in hex, or
	// not the hash of its Data. Nothing is saved: a blob stored under the
	// wrong hash would be served for other content.
	ErrAttachmentHash = errors.New("attachment data does not match its sha256")
)

// Attachment is a saved message's attachment as Get returns it. JSON
// field names are stable: kind, name, sha256, format, size, path, missing.
type Attachment struct {
	prompts.Attachment
	// Path is the file holding the bytes (where it should be, if Missing);
	// "" when they are only in memory.
	Path string `json:"path,omitempty"`
	// Missing: the bytes were not found, or did not match the size and
	// hash (deleted or damaged on disk). Data is nil then; the message
	// still loads.
	Missing bool `json:"missing,omitempty"`
}

// AttachmentDir is where the attachments of the history database at
// dbPath are kept: "attachments" beside it.
func AttachmentDir(dbPath string) string {
	return filepath.Join(filepath.Dir(dbPath), "attachments")
}

// MissingAttachments lists the attachments of msgs whose bytes could not be
// loaded (nil Data), e.g. to tell the user before the chat goes on
// without them.
func MissingAttachments(msgs []prompts.Message) []prompts.Attachment {
	var out []prompts.Attachment
	for _, m := range msgs {
		for _, a := range m.Media {
			if a.Data == nil {
				out = append(out, a)
			}
		}
	}
	return out
}

func validSum(s string) bool {
	if len(s) != sha256.Size*2 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func sumOf(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// prepareMedia checks attachments before anything is written and returns
// them normalised (lower-case hash, Size from Data) with the media column.
// An attachment without Data (one that was missing when its chat was
// loaded) keeps its metadata: refusing it would make the chat unsaveable.
func prepareMedia(atts []prompts.Attachment) ([]prompts.Attachment, string, error) {
	if len(atts) == 0 {
		return nil, "", nil
	}
	out := make([]prompts.Attachment, len(atts))
	for i, a := range atts {
		a.SHA256 = strings.ToLower(a.SHA256)
		if !validSum(a.SHA256) {
			return nil, "", fmt.Errorf("history: attachment %q: sha256 %q is not 64 hex digits: %w", a.Name, a.SHA256, ErrAttachmentHash)
		}
		if a.Data != nil {
			n := int64(len(a.Data))
			if n > maxAttachment {
				return nil, "", fmt.Errorf("history: attachment %q is %s: %w", a.Name, units.Bytes(n), ErrAttachmentTooLarge)
			}
			if a.Size != 0 && a.Size != n {
				return nil, "", fmt.Errorf("history: attachment %q: size says %d bytes, data has %d", a.Name, a.Size, n)
			}
			a.Size = n
			if got := sumOf(a.Data); got != a.SHA256 {
				return nil, "", fmt.Errorf("history: attachment %q: data has sha256 %s, not %s: %w", a.Name, got, a.SHA256, ErrAttachmentHash)
			}
		} else if a.Size < 0 || a.Size > maxAttachment {
			return nil, "", fmt.Errorf("history: attachment %q: size %d: %w", a.Name, a.Size, ErrAttachmentTooLarge)
		}
		out[i] = a
	}
	js, err := json.Marshal(out) // Data is not serialised
	return out, string(js), err
}

// parseMedia reads the media column. Unreadable JSON (a damaged row) gives
// no attachments rather than no chat, as with tool calls.
func parseMedia(s string) []prompts.Attachment {
	if s == "" {
		return nil
	}
	var atts []prompts.Attachment
	if json.Unmarshal([]byte(s), &atts) != nil {
		return nil
	}
	return atts
}

func sameMedia(a, b []prompts.Attachment) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Kind != y.Kind || x.Name != y.Name || x.SHA256 != y.SHA256 || x.Format != y.Format || x.Size != y.Size {
			return false
		}
	}
	return true
}

func blobPath(dir, sum string) string { return filepath.Join(dir, sum[:2], sum) }

// writeBlob stores data as the blob sum unless a file of that size is
// already there (replace: it is known to be damaged): temp file, fsync,
// rename, so a crash never leaves a partial blob under the final name.
// Errors are *os.PathError, which Store.write takes as a failing disk
// (and goes on in memory).
func writeBlob(dir, sum string, data []byte, replace bool) error {
	p := blobPath(dir, sum)
	if st, err := os.Stat(p); err == nil && !replace && st.Mode().IsRegular() && st.Size() == int64(len(data)) {
		return nil
	}
	fail := func(err error) error {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return err
		}
		return &os.PathError{Op: "store attachment", Path: p, Err: err}
	}
	sub := filepath.Dir(p)
	if err := os.MkdirAll(sub, 0o700); err != nil {
		return fail(err)
	}
	f, err := os.CreateTemp(sub, ".tmp-*") // mode 0600
	if err != nil {
		return fail(err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fail(err)
	}
	// Make the rename durable before the row that refers to it commits.
	if d, err := os.Open(sub); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// readBlob loads the bytes of a, verified against its size and hash. ok
// is false when they are missing or damaged; path is where they should be
// on disk ("" for a store without a directory).
func (s *Store) readBlob(a prompts.Attachment) (data []byte, path string, ok bool) {
	if !validSum(a.SHA256) || a.Size < 0 || a.Size > maxAttachment {
		return nil, "", false
	}
	s.blobMu.Lock()
	d, inMem := s.memBlobs[a.SHA256]
	s.blobMu.Unlock()
	if inMem && int64(len(d)) == a.Size {
		return d, "", true
	}
	if s.blobDir == "" {
		return nil, "", false
	}
	path = blobPath(s.blobDir, a.SHA256)
	f, err := os.Open(path)
	if err != nil {
		return nil, path, false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() != a.Size {
		return nil, path, false
	}
	// Read one byte more than expected to notice a file that grew.
	buf := bytes.NewBuffer(make([]byte, 0, a.Size+1))
	if _, err := io.Copy(buf, io.LimitReader(f, a.Size+1)); err != nil || int64(buf.Len()) != a.Size {
		return nil, path, false
	}
	d = buf.Bytes()
	if sumOf(d) != a.SHA256 {
		// Right size, wrong bytes: the size check of writeBlob would keep
		// this file, so remember to replace it when the bytes come again.
		s.blobMu.Lock()
		if s.damaged == nil {
			s.damaged = map[string]bool{}
		}
		s.damaged[a.SHA256] = true
		s.blobMu.Unlock()
		return nil, path, false
	}
	return d, path, true
}

// storeBlob writes a blob to disk, replacing it if a read found it damaged.
func (s *Store) storeBlob(a prompts.Attachment) error {
	s.blobMu.Lock()
	replace := s.damaged[a.SHA256]
	s.blobMu.Unlock()
	if err := writeBlob(s.blobDir, a.SHA256, a.Data, replace); err != nil {
		return err
	}
	if replace {
		s.blobMu.Lock()
		delete(s.damaged, a.SHA256)
		s.blobMu.Unlock()
	}
	return nil
}

// loadMedia fills in the bytes of every attachment of msgs, each blob read
// once however many messages share it. It runs outside the store lock:
// blobs can be large.
func (s *Store) loadMedia(msgs []Message) {
	type got struct {
		data []byte
		path string
		ok   bool
	}
	type key struct {
		sum  string
		size int64
	}
	seen := map[key]got{}
	for i := range msgs {
		for j := range msgs[i].Media {
			a := &msgs[i].Media[j]
			k := key{a.SHA256, a.Size}
			g, done := seen[k]
			if !done {
				g.data, g.path, g.ok = s.readBlob(a.Attachment)
				seen[k] = g
			}
			a.Data, a.Path, a.Missing = g.data, g.path, !g.ok
		}
	}
}

// preWrite stores the blobs of atts on disk ahead of the transaction that
// refers to them, so large files are not written while the database (and
// the store) are locked. Best effort: putBlobsLocked, inside the
// transaction, checks again and reports failures.
func (s *Store) preWrite(atts []prompts.Attachment) {
	s.mu.Lock()
	onDisk := s.onDisk && !s.closed
	s.mu.Unlock()
	if !onDisk || s.blobDir == "" {
		return
	}
	for _, a := range atts {
		if a.Data != nil {
			s.storeBlob(a)
		}
	}
	if afterPreWrite != nil {
		afterPreWrite()
	}
}

// afterPreWrite, when set (tests), runs between preWrite and the
// transaction: the moment another process's collectGarbage may strike.
var afterPreWrite func()

// putBlobsLocked makes sure every attachment with Data has its bytes
// stored: on disk while the store is, else in memory. It runs inside the
// write transaction (s.mu held) that inserts the rows referring to them:
// holding the database's write lock, no collectGarbage (in this process
// or another) can remove a blob between this check and the commit, and a
// blob it removed just before is written again here. Usually the file is
// there already (preWrite) and this is one stat.
func (s *Store) putBlobsLocked(atts []prompts.Attachment) error {
	for _, a := range atts {
		if a.Data == nil {
			continue
		}
		if s.onDisk && s.blobDir != "" {
			if err := s.storeBlob(a); err != nil {
				return err
			}
			continue
		}
		// Not copied: Data is the caller's bytes of that hash, not to be
		// changed (prompts.Attachment).
		s.blobMu.Lock()
		if s.memBlobs == nil {
			s.memBlobs = map[string][]byte{}
		}
		s.memBlobs[a.SHA256] = a.Data
		s.blobMu.Unlock()
	}
	return nil
}

// mediaSums collects the hashes named in media columns.
func mediaSums(cols []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range cols {
		for _, a := range parseMedia(c) {
			if validSum(a.SHA256) && !seen[a.SHA256] {
				seen[a.SHA256] = true
				out = append(out, a.SHA256)
			}
		}
	}
	return out
}

// collectGarbage removes the blobs among sums that no message refers to
// any more. It runs after the transaction that removed the rows has
// committed (removing files inside it would lose them if it rolled back),
// in a write transaction of its own so the check and the removal happen
// under the write lock. A row is taken to refer to a blob if its media
// column contains the hash anywhere: when in doubt the blob stays.
// Failures keep blobs; they are never reported, nothing is lost.
func (s *Store) collectGarbage(ctx context.Context, sums []string) {
	if len(sums) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	runTx(ctx, s.db, func(tx *sql.Tx) error {
		for _, sum := range sums {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM messages WHERE instr(media, ?) > 0 LIMIT 1`, sum).Scan(&one)
			if !errors.Is(err, sql.ErrNoRows) {
				if err != nil {
					return err
				}
				continue // still referenced
			}
			s.blobMu.Lock()
			delete(s.memBlobs, sum)
			s.blobMu.Unlock()
			// A store in memory leaves the disk alone: the database
			// there still refers to its blobs.
			if s.onDisk && s.blobDir != "" {
				p := blobPath(s.blobDir, sum)
				os.Remove(p)
				os.Remove(filepath.Dir(p)) // only if now empty
			}
		}
		return nil
	})
}
