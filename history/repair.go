package history

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"strings"
	"time"
)

// A damaged database is never simply dropped: Open (from a command that
// writes) first keeps a copy of the damaged file, then tries REINDEX, which
// mends damage confined to indexes; failing that it copies every row it can
// read, row by row, into a fresh database that takes the file's place. A
// read-only Open (natter history list) changes nothing on disk and shows
// what can be read. Either way the warning says what was recovered, where
// the damaged original is and how to recover it by hand.

// repairReport is what a repair or salvage achieved.
type repairReport struct {
	chats, messages     int   // rows recovered
	readErr             error // first read error; nil when every row was read
	lostChats, lostMsgs []gap // the ids that could not be read
	reindexed           bool  // REINDEX alone mended the database
}

func (r repairReport) String() string {
	if r.reindexed {
		return "repaired by rebuilding its indexes; nothing was lost"
	}
	s := fmt.Sprintf("recovered %d chats and %d messages", r.chats, r.messages)
	if r.readErr != nil {
		s += fmt.Sprintf("; some rows could not be read (%s) and may be missing", shortErr(r.readErr))
		var lost []string
		if l := describeGaps("chats", r.lostChats); l != "" {
			lost = append(lost, l)
		}
		if l := describeGaps("messages", r.lostMsgs); l != "" {
			lost = append(lost, l)
		}
		if len(lost) > 0 {
			s += ": " + strings.Join(lost, ", ")
		}
		return s
	}
	return s + "; every row that was found could be read"
}

// describeGaps names the id ranges of kind that could not be read, the
// first few of them.
func describeGaps(kind string, gaps []gap) string {
	var parts []string
	for i, g := range gaps {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more ranges", len(gaps)-i))
			break
		}
		switch {
		case g.to == math.MaxInt64 && g.from <= 1:
			parts = append(parts, "all")
		case g.to == math.MaxInt64:
			parts = append(parts, fmt.Sprintf("after id %d", g.from-1))
		case g.from <= 1:
			parts = append(parts, fmt.Sprintf("up to id %d", g.to))
		case g.from == g.to:
			parts = append(parts, fmt.Sprintf("id %d", g.from))
		default:
			parts = append(parts, fmt.Sprintf("ids %d-%d", g.from, g.to))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return kind + " " + strings.Join(parts, ", ")
}

// byHand says how to try recovering a damaged copy with the sqlite3 tool.
func byHand(damaged string) string {
	return fmt.Sprintf("to try recovering it by hand: sqlite3 %q .recover | sqlite3 recovered.db", damaged)
}

// copyAside copies the damaged database (and its WAL) next to it, leaving
// the file in place for repair.
func copyAside(path string) (string, error) {
	aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405Z")
	if _, err := os.Stat(aside); err == nil {
		aside += "-" + newToken()[:6]
	}
	if err := copyFile(path, aside); err != nil {
		os.Remove(aside)
		return "", err
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		if err := copyFile(path+"-wal", aside+"-wal"); err != nil {
			os.Remove(aside)
			os.Remove(aside + "-wal")
			return "", err
		}
	}
	return aside, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// tryReindex rebuilds every index (and the search index) of the database at
// path and reports whether it then passes the integrity check.
func (s *Store) tryReindex(ctx context.Context) bool {
	db, err := sql.Open("sqlite", s.dsn())
	if err != nil {
		return false
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `REINDEX`); err != nil {
		return false
	}
	var fts int
	if db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'messages_fts'`).Scan(&fts) == nil && fts > 0 {
		if _, err := db.ExecContext(ctx, `INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')`); err != nil {
			return false
		}
	}
	var check string
	return db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check) == nil && check == "ok"
}

// openSource opens a damaged database for reading rows only.
func openSource(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// salvage copies what can be read of the chats and messages of src into
// dst, which has the current schema.
func salvage(ctx context.Context, src, dst *sql.DB) repairReport {
	var rep repairReport
	note := func(err error) {
		if err != nil && rep.readErr == nil {
			rep.readErr = err
		}
	}
	chatCols := commonColumns(ctx, src, dst, "chats")
	msgCols := commonColumns(ctx, src, dst, "messages")
	if len(chatCols) == 0 && len(msgCols) == 0 {
		note(errors.New("no chats or messages table could be read"))
		return rep
	}
	have := map[int64]bool{}
	if len(chatCols) > 0 {
		n, lost, err := copyRows(ctx, src, dst, "chats", chatCols, func(id int64, _ []any) error {
			have[id] = true
			return nil
		})
		rep.chats, rep.lostChats = n, lost
		note(err)
	}
	if len(msgCols) > 0 {
		chatAt, createdAt := indexOf(msgCols, "chat_id"), indexOf(msgCols, "created_at")
		n, lost, err := copyRows(ctx, src, dst, "messages", msgCols, func(_ int64, vals []any) error {
			// A message whose chat was lost gets a placeholder chat, so
			// the message itself is kept.
			if chatAt < 0 {
				return nil
			}
			cid, ok := vals[chatAt].(int64)
			if !ok || have[cid] {
				return nil
			}
			var at any = time.Now().UnixMilli()
			if createdAt >= 0 {
				at = vals[createdAt]
			}
			_, err := dst.ExecContext(ctx, `INSERT OR IGNORE INTO chats(id, title, created_at, updated_at) VALUES (?, ?, ?, ?)`,
				cid, fmt.Sprintf("Recovered chat %d", cid), at, at)
			if err == nil {
				have[cid] = true
				rep.chats++
			}
			return err
		})
		rep.messages, rep.lostMsgs = n, lost
		note(err)
	}
	return rep
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// commonColumns lists the columns table has in both databases.
func commonColumns(ctx context.Context, src, dst *sql.DB, table string) []string {
	cols := func(db *sql.DB) []string {
		rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			return nil
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			if rows.Scan(&n) == nil {
				out = append(out, n)
			}
		}
		return out
	}
	in := map[string]bool{}
	for _, c := range cols(src) {
		in[c] = true
	}
	var out []string
	for _, c := range cols(dst) {
		if in[c] {
			out = append(out, c)
		}
	}
	return out
}

// maxSkips bounds the unreadable stretches a table scan steps over.
const maxSkips = 64

// gap is a range of rowids, from..to inclusive, that could not be read
// (to is math.MaxInt64 when nothing past from could be reached).
type gap struct{ from, to int64 }

// satAdd is a+b for b >= 0, stopping at math.MaxInt64 instead of wrapping.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// copyRows copies table's rows in rowid order, scanning the table itself
// (NOT INDEXED: the indexes may be what is damaged). When a row cannot be
// read it finds the first rowid from which the scan reads again (a
// doubling search, then a binary one, so no readable row past a bad page
// is skipped), and resumes there; the ranges stepped over are returned.
// The count is of rows copied, each once.
func copyRows(ctx context.Context, src, dst *sql.DB, table string, cols []string, before func(id int64, vals []any) error) (int, []gap, error) {
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
	}
	list := strings.Join(quoted, ", ")
	// rowid >= ?, not > ?: SQLite seeks the bound itself, so "> x" with x
	// on a bad page would fail even when every row after x is readable.
	sel := fmt.Sprintf(`SELECT rowid, %s FROM "%s" NOT INDEXED WHERE rowid >= ? ORDER BY rowid`, list, table)
	ins := fmt.Sprintf(`INSERT OR IGNORE INTO "%s" (%s) VALUES (%s)`, table, list, strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", "))
	scanRow := func(rows *sql.Rows) (int64, []any, error) {
		var id int64
		vals := make([]any, len(cols))
		ptrs := []any{&id}
		for i := range vals {
			ptrs = append(ptrs, &vals[i])
		}
		err := rows.Scan(ptrs...)
		return id, vals, err
	}
	// readable reports whether the first row from rowid x on (if any) can
	// be read, its columns included.
	readable := func(x int64) (bool, error) {
		rows, err := src.QueryContext(ctx, sel+` LIMIT 1`, x)
		if err != nil {
			return false, err
		}
		defer rows.Close()
		if rows.Next() {
			if _, _, err := scanRow(rows); err != nil {
				return false, err
			}
		}
		return rows.Err() == nil, rows.Err()
	}
	// resume finds the smallest x > start from which the scan reads again
	// (the scan from start failed at once).
	resume := func(start int64) (int64, bool, error) {
		lo, step := start, int64(1)
		var hi int64
		for {
			x := satAdd(lo, step)
			ok, err := readable(x)
			if err != nil && !isCorrupt(err) {
				return 0, false, err
			}
			if ok {
				hi = x
				break
			}
			if x == math.MaxInt64 {
				return 0, false, nil
			}
			lo, step = x, satAdd(step, step)
		}
		for hi-lo > 1 {
			mid := lo + (hi-lo)/2
			ok, err := readable(mid)
			if err != nil && !isCorrupt(err) {
				return 0, false, err
			}
			if ok {
				hi = mid
			} else {
				lo = mid
			}
		}
		return hi, true, nil
	}
	var firstErr error
	var gaps []gap
	n := 0
	start, done := int64(math.MinInt64), false
	for skips := 0; ; skips++ {
		err := func() error {
			rows, err := src.QueryContext(ctx, sel, start)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				id, vals, err := scanRow(rows)
				if err != nil {
					return err
				}
				if id == math.MaxInt64 {
					done = true
				} else {
					start = id + 1
				}
				if err := before(id, vals); err != nil {
					return err
				}
				res, err := dst.ExecContext(ctx, ins, vals...)
				if err != nil {
					return err
				}
				if k, _ := res.RowsAffected(); k > 0 {
					n++
				}
			}
			return rows.Err()
		}()
		if err == nil || done {
			return n, gaps, firstErr
		}
		if firstErr == nil {
			firstErr = err
		}
		if !isCorrupt(err) || skips == maxSkips {
			return n, append(gaps, gap{start, math.MaxInt64}), firstErr
		}
		next, ok, rerr := resume(start)
		if rerr != nil || !ok {
			return n, append(gaps, gap{start, math.MaxInt64}), firstErr
		}
		gaps = append(gaps, gap{start, next - 1})
		start = next
	}
}

// salvageToFile rebuilds the damaged database at s.path from its copy at
// aside: rows go into a fresh file that then replaces it.
func (s *Store) salvageToFile(ctx context.Context, aside string) (repairReport, error) {
	fresh := s.path + ".salvage-" + newToken()[:6]
	tmp := &Store{path: fresh, opts: s.opts}
	dst, err := tmp.openDisk(ctx)
	if err != nil {
		os.Remove(fresh)
		return repairReport{}, err
	}
	src, err := openSource(aside)
	if err != nil {
		dst.Close()
		os.Remove(fresh)
		return repairReport{}, err
	}
	rep := salvage(ctx, src, dst)
	src.Close()
	_, err = dst.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		removeDB(fresh)
		return rep, err
	}
	removeDB(s.path)
	if err := os.Rename(fresh, s.path); err != nil {
		return rep, err
	}
	os.Remove(fresh + "-wal")
	os.Remove(fresh + "-shm")
	return rep, nil
}

func removeDB(path string) {
	os.Remove(path)
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
}

// repair handles a damaged database at s.path for a command that writes:
// keep a copy, try REINDEX, else salvage. It returns the open database and
// the warning to give.
func (s *Store) repair(ctx context.Context, cause error) (*sql.DB, error) {
	aside, err := copyAside(s.path)
	if err != nil {
		return nil, fmt.Errorf("%w (and copying the damaged file aside failed: %v)", cause, err)
	}
	os.Remove(s.path + checkMarker)
	rep := repairReport{reindexed: true}
	if !errors.Is(cause, errIntegrity) || !s.tryReindex(ctx) {
		if rep, err = s.salvageToFile(ctx, aside); err != nil {
			return nil, fmt.Errorf("%w (and salvaging it failed: %v; the damaged file is kept at %s)", cause, err, aside)
		}
	}
	db, err := s.openDisk(ctx)
	if err != nil {
		return nil, err
	}
	s.warning = fmt.Sprintf("history: %s was damaged (%s); %s. The damaged file is kept at %s; %s",
		s.path, shortErr(cause), rep, aside, byHand(aside))
	return db, nil
}

// salvageToMemory is the read-only view of a damaged database: what can be
// read, in memory, with the file left as it is.
func (s *Store) salvageToMemory(ctx context.Context, cause error) error {
	mem, err := openMemory(ctx, nil)
	if err != nil {
		return fmt.Errorf("history: cannot create even an in-memory database: %w", err)
	}
	rep := repairReport{}
	if src, err := openSource(s.path); err == nil {
		rep = salvage(ctx, src, mem)
		src.Close()
	} else {
		rep.readErr = err
	}
	s.db, s.onDisk = mem, false
	s.degraded = shortErr(cause)
	s.warning = fmt.Sprintf("history: %s is damaged (%s); showing what could be read: %s. The file was not changed: the next natter chat or natter ask repairs it (keeping a copy), or %s",
		s.path, shortErr(cause), rep, byHand(s.path))
	return nil
}
