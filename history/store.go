package history

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
)

// SQLite primary result codes we react to.
const (
	codePerm     = 3
	codeBusy     = 5
	codeReadOnly = 8
	codeIOErr    = 10
	codeCorrupt  = 11
	codeFull     = 13
	codeCantOpen = 14
	codeNotADB   = 26
)

// busyTimeout is how long a write waits for another natter process holding
// the database lock. Our transactions are a few milliseconds long.
const busyTimeout = 10 * time.Second

// busyRetries is how many more times a write tries after timing out.
const busyRetries = 3

// Options tune Open. The zero value is what natter uses.
type Options struct {
	// CheckpointInterval is the most time a streaming reply stays unsaved
	// (default 500 ms).
	CheckpointInterval time.Duration
	// ReadOnly is for commands that only read (natter history list): a
	// damaged database is then read as far as it can be, into memory, and
	// left untouched on disk instead of being repaired.
	ReadOnly bool
	// maxPageCount, if set, caps the database size (tests use it to make
	// SQLite report a full disk).
	maxPageCount int
}

// Store is the chat history. Its methods are safe for concurrent use. If the
// database cannot be written (read-only, disk full, unreadable) the Store
// goes on in memory: everything keeps working for this session, nothing
// already on disk is touched again, and TakeWarning reports it once.
type Store struct {
	path  string // "" for a memory-only store
	opts  Options
	owner string // identifies this Store's streaming replies
	lock  *ownerLock

	mu       sync.Mutex // serialises writes and the switch to memory
	db       *sql.DB
	onDisk   bool
	degraded string // why we went to memory, "" if not
	warning  string // pending one-time warning
	closed   bool
	writers  map[*ReplyWriter]struct{}
	onDelete func(chatID int64)

	// Attachment bytes (attachments.go): blobDir is AttachmentDir(path),
	// "" for a memory-only store; memBlobs holds the blobs written while
	// the store is not on disk; damaged, the hashes whose file a read
	// found damaged. blobMu guards those two alone, so blobs are read
	// without holding mu.
	blobDir  string
	blobMu   sync.Mutex
	memBlobs map[string][]byte
	damaged  map[string]bool
}

// DefaultPath is $XDG_DATA_HOME/natter/history.db, falling back to
// ~/.local/share/natter/history.db.
func DefaultPath() (string, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" || !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("history: no XDG_DATA_HOME and no home directory: %w", err)
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "natter", "history.db"), nil
}

// Open opens (creating if needed) the history database at path. A damaged
// file is copied to path.corrupt-<time> and repaired in place (REINDEX, else
// every readable row salvaged into a fresh database; see repair.go); a database that cannot be written gives a memory-backed
// Store. Both cases set a warning (TakeWarning). Open fails only when even
// an in-memory database cannot be created.
func Open(path string) (*Store, error) { return OpenOptions(path, Options{}) }

// OpenMemory returns a Store that never touches disk (private chats).
func OpenMemory() (*Store, error) { return OpenOptions("", Options{}) }

// OpenOptions is Open with options.
func OpenOptions(path string, opts Options) (*Store, error) {
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = 500 * time.Millisecond
	}
	s := &Store{path: path, opts: opts, owner: newToken(), writers: map[*ReplyWriter]struct{}{}}
	ctx := context.Background()
	if path == "" {
		return s, s.useMemory(ctx, nil)
	}
	s.blobDir = AttachmentDir(path)
	db, err := s.openDisk(ctx)
	// Another natter creating or checkpointing the same file at this very
	// moment can make the open fail with a lock error or a busy schema:
	// that is not a failing disk, so try again before giving up on it.
	for try := 0; err != nil && transientOpen(err) && try < openRetries; try++ {
		time.Sleep(time.Duration(25<<try) * time.Millisecond)
		db, err = s.openDisk(ctx)
	}
	if err != nil && isCorrupt(err) {
		if opts.ReadOnly {
			if merr := s.salvageToMemory(ctx, err); merr != nil {
				return nil, merr
			}
			return s, nil
		}
		db, err = s.repair(ctx, err)
	}
	if err != nil {
		var newer *ErrNewerSchema
		if !errors.As(err, &newer) && !isDiskFailure(err) && !isCorrupt(err) {
			// Unknown failure: still keep the chat going in memory.
			err = fmt.Errorf("history: %w", err)
		}
		if merr := s.useMemory(ctx, err); merr != nil {
			return nil, merr
		}
		s.sweep(ctx)
		return s, nil
	}
	s.db, s.onDisk = db, true
	cleanOwners(path)
	if l, lerr := acquireOwner(path, s.owner); lerr == nil {
		s.lock = l
	}
	s.sweep(ctx)
	return s, nil
}

func (s *Store) dsn() string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL in WAL mode survives a killed process; only a power cut can
	// lose the last commits.
	q.Add("_pragma", "synchronous(NORMAL)")
	if s.opts.maxPageCount > 0 {
		q.Add("_pragma", fmt.Sprintf("max_page_count(%d)", s.opts.maxPageCount))
	}
	// BEGIN IMMEDIATE: take the write lock up front so two processes wait
	// on the busy timeout instead of failing to upgrade a read lock.
	q.Set("_txlock", "immediate")
	return "file:" + (&url.URL{Path: s.path}).EscapedPath() + "?" + q.Encode()
}

func (s *Store) openDisk(ctx context.Context) (*sql.DB, error) {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return nil, err
	}
	// Chats are private: create the file owner-only (SQLite gives its WAL
	// and shared-memory files the same mode).
	if f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}
	db, err := sql.Open("sqlite", s.dsn())
	if err != nil {
		return nil, err
	}
	// One connection: in-process calls queue in database/sql, and
	// SQLite's busy timeout handles other processes.
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	fail := func(err error) (*sql.DB, error) { db.Close(); return nil, err }
	// A full check reads every page (~5 ms/MiB): done for ordinary sizes,
	// and for a big file only after a session has seen damage in it.
	// Otherwise damage shows up as SQLITE_CORRUPT when touched.
	st, statErr := os.Stat(s.path)
	_, markErr := os.Stat(s.path + checkMarker)
	if statErr != nil || st.Size() <= fullCheckLimit || markErr == nil {
		var check string
		if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check); err != nil {
			return fail(err)
		}
		if check != "ok" {
			return fail(errIntegrity)
		}
		os.Remove(s.path + checkMarker)
	} else {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
			return fail(err)
		}
	}
	if err := migrate(ctx, db, SchemaVersion); err != nil {
		return fail(err)
	}
	return db, nil
}

// Databases up to this size get a full integrity check at every Open.
var fullCheckLimit int64 = 32 << 20

// checkMarker (next to the database) asks the next Open for a full check.
const checkMarker = ".needs-check"

// noteCorrupt records damage seen mid-session so the next Open checks
// (and if need be moves aside) the whole file.
func (s *Store) noteCorrupt(err error) {
	if s.onDisk && isCorrupt(err) {
		os.WriteFile(s.path+checkMarker, []byte(err.Error()+"\n"), 0o600)
	}
}

// useMemory switches the Store to an in-memory database holding a copy of
// whatever could be read from disk. cause is nil for a private store.
func (s *Store) useMemory(ctx context.Context, cause error) error {
	var snapshot []byte
	if s.db != nil {
		snapshot = serialize(ctx, s.db)
		s.db.Close()
	} else if s.path != "" {
		snapshot = readSnapshot(ctx, s.path)
	}
	mem, err := openMemory(ctx, snapshot)
	if err != nil && snapshot != nil {
		mem, err = openMemory(ctx, nil)
	}
	if err != nil {
		return fmt.Errorf("history: cannot create even an in-memory database: %w", err)
	}
	s.db, s.onDisk = mem, false
	if cause != nil {
		s.degraded = shortErr(cause)
		w := fmt.Sprintf("history: cannot save to %s (%s); this session's chats are kept in memory only and will be lost on exit", s.path, s.degraded)
		if s.warning != "" {
			w = s.warning + "\n" + w
		}
		s.warning = w
	}
	return nil
}

func openMemory(ctx context.Context, snapshot []byte) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file::memory:?_pragma=foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	// The memory database lives in its single connection: never let
	// database/sql close it.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if snapshot != nil {
		// A memory database cannot be in WAL mode: mark the copy as a
		// rollback-journal database (header bytes 18 and 19).
		if len(snapshot) >= 20 {
			snapshot[18], snapshot[19] = 1, 1
		}
		err = rawConn(ctx, db, func(c any) error {
			d, ok := c.(interface{ Deserialize([]byte) error })
			if !ok {
				return errors.New("driver cannot deserialize")
			}
			return d.Deserialize(snapshot)
		})
		if err == nil {
			var check string
			err = db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check)
			if err == nil && check != "ok" {
				err = errors.New("snapshot is damaged")
			}
		}
		if err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := migrate(ctx, db, SchemaVersion); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func rawConn(ctx context.Context, db *sql.DB, f func(any) error) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(f)
}

// serialize copies the main database of db, WAL content included.
func serialize(ctx context.Context, db *sql.DB) []byte {
	var out []byte
	rawConn(ctx, db, func(c any) error {
		if sr, ok := c.(interface{ Serialize() ([]byte, error) }); ok {
			out, _ = sr.Serialize()
		}
		return nil
	})
	return out
}

// readSnapshot reads a database we could not open for writing.
func readSnapshot(ctx context.Context, path string) []byte {
	for _, mode := range []string{"ro", "ro&immutable=1"} {
		db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode="+mode)
		if err != nil {
			continue
		}
		db.SetMaxOpenConns(1)
		var n int
		if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&n); err != nil || n > SchemaVersion {
			db.Close()
			continue
		}
		b := serialize(ctx, db)
		db.Close()
		if b != nil {
			return b
		}
	}
	return nil
}

// Close releases the database. Streaming replies still open are marked
// interrupted. Calling Close more than once is fine.
func (s *Store) Close() error {
	s.mu.Lock()
	ws := make([]*ReplyWriter, 0, len(s.writers))
	for w := range s.writers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	for _, w := range ws {
		w.Interrupt()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.db.Close()
	if s.lock != nil {
		s.lock.release()
	}
	return err
}

// Path is the database file ("" for a memory-only Store).
func (s *Store) Path() string { return s.path }

// Persistent reports whether changes are being saved to disk.
func (s *Store) Persistent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.onDisk
}

// TakeWarning returns a warning the user should see (damaged database moved
// aside, history no longer being saved), once; "" when there is none.
func (s *Store) TakeWarning() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.warning
	s.warning = ""
	return w
}

var errClosed = errors.New("history: store is closed")

// write runs fn in a transaction. If the disk refuses the write, the Store
// moves to memory and fn runs again there, so the caller never sees the
// failure (only the warning).
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	err := runTx(ctx, s.db, fn)
	// The busy timeout is per attempt, and SQLite's busy handler is not
	// fair: under heavy contention a writer can be starved past it. A
	// busy database is not a failing disk, so wait again.
	for try := 0; try < busyRetries && sqliteCode(err) == codeBusy && ctx.Err() == nil; try++ {
		err = runTx(ctx, s.db, fn)
	}
	s.noteCorrupt(err)
	if err != nil && s.onDisk && (isDiskFailure(err) || isCorrupt(err)) {
		if merr := s.useMemory(ctx, err); merr != nil {
			return errors.Join(err, merr)
		}
		err = runTx(ctx, s.db, fn)
	}
	return err
}

// read runs fn against the current database.
func (s *Store) read(fn func(db *sql.DB) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	err := fn(s.db)
	s.noteCorrupt(err)
	return err
}

func runTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return -1
}

// openRetries bounds transientOpen retries (25 ms doubling: about 1.5 s).
const openRetries = 6

// transientOpen: a lock error (SQLITE_IOERR_LOCK, _RDLOCK, _SHMLOCK,
// _UNLOCK) or SQLITE_BUSY while opening, which another process's open or
// checkpoint causes and which passes.
func transientOpen(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	const (
		ioerrUnlock  = codeIOErr | 8<<8
		ioerrRdlock  = codeIOErr | 9<<8
		ioerrLock    = codeIOErr | 15<<8
		ioerrShmOpen = codeIOErr | 18<<8
		ioerrShmSize = codeIOErr | 19<<8
		ioerrShmLock = codeIOErr | 20<<8
	)
	switch se.Code() {
	case codeBusy, ioerrUnlock, ioerrRdlock, ioerrLock, ioerrShmOpen, ioerrShmSize, ioerrShmLock:
		return true
	}
	return false
}

func isDiskFailure(err error) bool {
	switch sqliteCode(err) {
	case codePerm, codeReadOnly, codeIOErr, codeFull, codeCantOpen:
		return true
	}
	var pe *os.PathError
	return errors.As(err, &pe) || errors.Is(err, driver.ErrBadConn)
}

// errIntegrity: PRAGMA quick_check found damage.
var errIntegrity = errors.New("integrity check failed")

func isCorrupt(err error) bool {
	if errors.Is(err, errIntegrity) {
		return true
	}
	switch sqliteCode(err) {
	case codeCorrupt, codeNotADB:
		return true
	}
	return false
}

func shortErr(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "\n"); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

func newToken() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
