package eval

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// storeSchema is the PRAGMA user_version of the database this code writes.
// A change to the tables is a new version with a step in migrateStore.
const storeSchema = 1

// storeBusyTimeout is how long a write waits for another natter holding the
// database lock (an eval saving its cells while another one lists).
const storeBusyTimeout = 10 * time.Second

// ErrNoRun is what the error of Load, Finish, SaveCell or Delete wraps for
// a run id that is not in the database.
var ErrNoRun = errors.New("no such eval run")

// noRunError names the missing run and says how to find the right one.
type noRunError struct{ id int64 }

func (e noRunError) Error() string {
	return fmt.Sprintf("no eval run %d (natter eval list shows them)", e.id)
}

func (e noRunError) Unwrap() error { return ErrNoRun }

// errNewerStore is wrapped by OpenStore's error for a database written by a
// later natter.
var errNewerStore = errors.New("written by a newer natter")

// DefaultStorePath is eval.db beside the history database:
// $XDG_DATA_HOME/natter/eval.db when XDG_DATA_HOME is absolute, else
// ~/.local/share/natter/eval.db.
func DefaultStorePath() (string, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" || !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("eval: no XDG_DATA_HOME and no home directory: %w", err)
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "natter", "eval.db"), nil
}

// Store keeps eval runs in SQLite, one row per run, per cell and per reply,
// so a run reads back exactly as it was saved. Its methods are safe for
// concurrent use, and several processes may share the file.
type Store struct {
	db *sql.DB

	mu     sync.Mutex
	closed bool
}

// OpenStore opens the database at path, creating it (owner-only, in a
// directory made owner-only) and its tables if needed. A database written
// by a newer natter is refused.
func OpenStore(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	// Replies may hold anything a prompt held: create the file owner-only
	// before SQLite does (its WAL and shared-memory files follow its mode).
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", storeBusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL in WAL mode survives a killed process.
	q.Add("_pragma", "synchronous(NORMAL)")
	// Writers take the lock when their transaction begins, so two
	// processes wait on the busy timeout instead of failing to upgrade.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("eval: %s: %w", path, err)
	}
	// One connection: calls from this process queue in database/sql, and
	// the busy timeout handles other processes.
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := migrateStore(context.Background(), db); err != nil {
		db.Close()
		return nil, fmt.Errorf("eval: %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// migrateStore brings the database to storeSchema.
func migrateStore(ctx context.Context, db *sql.DB) error {
	version := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) (int, error) {
		var v int
		err := q.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v)
		if err == nil && v > storeSchema {
			err = fmt.Errorf("%w (schema version %d; this one reads up to %d): update natter", errNewerStore, v, storeSchema)
		}
		return v, err
	}
	v, err := version(db)
	if err != nil || v == storeSchema {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Another process may have created the tables while we waited.
	if v, err = version(tx); err != nil || v == storeSchema {
		return err
	}
	for _, stmt := range storeTables {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, storeSchema)); err != nil {
		return err
	}
	return tx.Commit()
}

// storeTables is schema version 1. Times are Unix nanoseconds (NULL for a
// zero time), durations integer nanoseconds.
var storeTables = []string{
	`CREATE TABLE runs (
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		started    INTEGER,
		finished   INTEGER,
		suite      TEXT NOT NULL,
		suite_path TEXT NOT NULL,
		suite_hash TEXT NOT NULL,
		runs       INTEGER NOT NULL,
		complete   INTEGER NOT NULL DEFAULT 0
	)`,
	`CREATE TABLE cells (
		id            INTEGER PRIMARY KEY,
		run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		idx           INTEGER NOT NULL,
		model         TEXT NOT NULL,
		model_ref     TEXT NOT NULL,
		model_hash    TEXT NOT NULL,
		backend       TEXT NOT NULL,
		persona       TEXT NOT NULL,
		persona_text  TEXT NOT NULL,
		template      TEXT NOT NULL,
		template_text TEXT NOT NULL,
		sampling      TEXT NOT NULL,
		peak_rss      INTEGER NOT NULL,
		load_err      TEXT NOT NULL,
		UNIQUE (run_id, idx)
	)`,
	`CREATE TABLE results (
		cell_id          INTEGER NOT NULL REFERENCES cells(id) ON DELETE CASCADE,
		idx              INTEGER NOT NULL,
		case_id          TEXT NOT NULL,
		case_index       INTEGER NOT NULL,
		run              INTEGER NOT NULL,
		tags             TEXT,
		output           TEXT NOT NULL,
		reasoning        TEXT NOT NULL,
		pass             INTEGER NOT NULL,
		score            REAL NOT NULL,
		reason           TEXT NOT NULL,
		predicted        TEXT NOT NULL,
		expected         TEXT NOT NULL,
		err              TEXT NOT NULL,
		skipped          INTEGER NOT NULL,
		prompt_tokens    INTEGER NOT NULL,
		cached_tokens    INTEGER NOT NULL,
		generated_tokens INTEGER NOT NULL,
		ttft_ns          INTEGER NOT NULL,
		prefill_ns       INTEGER NOT NULL,
		decode_ns        INTEGER NOT NULL,
		stop_reason      TEXT NOT NULL,
		PRIMARY KEY (cell_id, idx)
	)`,
}

// Close closes the database; later calls do nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

// unixNano is t for the database: NULL for the zero time.
func unixNano(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func fromUnixNano(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64)
}

// Begin records a new run (its start, suite and repetitions; not its cells,
// which SaveCell adds) and sets r.ID.
func (s *Store) Begin(ctx context.Context, r *Run) error {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO runs (started, suite, suite_path, suite_hash, runs) VALUES (?, ?, ?, ?, ?)`,
		unixNano(r.Started), r.Suite, r.SuitePath, r.SuiteHash, r.Runs)
	if err != nil {
		return fmt.Errorf("eval: saving the run: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("eval: saving the run: %w", err)
	}
	r.ID = id
	return nil
}

// SaveCell adds one finished cell to run runID, after the cells saved
// before it: the cell and all its replies, in one transaction.
func (s *Store) SaveCell(ctx context.Context, runID int64, c CellResult) error {
	if err := s.saveCell(ctx, runID, c); err != nil {
		if errors.Is(err, ErrNoRun) {
			return err
		}
		return fmt.Errorf("eval: saving cell %s of run %d: %w", c.Cell.Label(), runID, err)
	}
	return nil
}

func (s *Store) saveCell(ctx context.Context, runID int64, c CellResult) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var next int
	err = tx.QueryRowContext(ctx,
		`SELECT (SELECT COALESCE(MAX(idx) + 1, 0) FROM cells WHERE run_id = r.id) FROM runs r WHERE r.id = ?`,
		runID).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return noRunError{runID}
	}
	if err != nil {
		return err
	}
	cl := c.Cell
	res, err := tx.ExecContext(ctx, `INSERT INTO cells (run_id, idx, model, model_ref, model_hash, backend,
		persona, persona_text, template, template_text, sampling, peak_rss, load_err)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		runID, next, cl.Model, cl.ModelRef, cl.ModelHash, cl.Backend, cl.Persona, cl.PersonaText,
		cl.Template, cl.TemplateText, cl.Sampling, c.PeakRSS, c.LoadErr)
	if err != nil {
		return err
	}
	cellID, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if len(c.Results) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO results (cell_id, idx, case_id, case_index, run, tags,
			output, reasoning, pass, score, reason, predicted, expected, err, skipped,
			prompt_tokens, cached_tokens, generated_tokens, ttft_ns, prefill_ns, decode_ns, stop_reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, x := range c.Results {
			var tags any // NULL for nil, so nil and empty come back as saved
			if x.Tags != nil {
				b, err := json.Marshal(x.Tags)
				if err != nil {
					return err
				}
				tags = string(b)
			}
			if _, err := stmt.ExecContext(ctx, cellID, i, x.Case, x.Index, x.Run, tags,
				x.Output, x.Reasoning, x.Pass, x.Score, x.Reason, x.Predicted, x.Expected, x.Err, x.Skipped,
				x.PromptTokens, x.CachedTokens, x.GeneratedTokens, int64(x.TTFT), int64(x.PrefillTime), int64(x.DecodeTime),
				x.StopReason); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// Finish records r.Finished and r.Complete. A run never finished (its
// process was killed) keeps Complete false and Finished zero.
func (s *Store) Finish(ctx context.Context, r *Run) error {
	res, err := s.db.ExecContext(ctx, `UPDATE runs SET finished = ?, complete = ? WHERE id = ?`,
		unixNano(r.Finished), r.Complete, r.ID)
	if err != nil {
		return fmt.Errorf("eval: saving the end of run %d: %w", r.ID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return noRunError{r.ID}
	}
	return nil
}

// RunSummary is one saved run as `natter eval list` shows it.
type RunSummary struct {
	ID       int64     `json:"id"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"` // zero: never finished
	Suite    string    `json:"suite"`
	Cells    int       `json:"cells"`
	// FailedCells is how many cells failed to load.
	FailedCells int  `json:"failed_cells,omitempty"`
	Cases       int  `json:"cases"` // distinct case IDs with a reply
	Complete    bool `json:"complete"`
	// Score is the mean score over every scored reply of the run; Scored
	// counts them (0: Score means nothing).
	Score  float64 `json:"score"`
	Scored int     `json:"scored"`
	// Best is the label of the best-scoring cell, when there are several.
	Best string `json:"best,omitempty"`
}

// Interrupted says the run stopped early: killed before it finished, or
// finished incomplete without a cell failing to load (Ctrl+C).
func (r RunSummary) Interrupted() bool {
	return !r.Complete && (r.Finished.IsZero() || r.FailedCells == 0)
}

// Runs lists saved runs, newest first, at most limit of them (limit <= 0:
// all).
func (s *Store) Runs(ctx context.Context, limit int) ([]RunSummary, error) {
	out, err := s.runs(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("eval: listing runs: %w", err)
	}
	return out, nil
}

func (s *Store) runs(ctx context.Context, limit int) ([]RunSummary, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `
		SELECT r.id, r.started, r.finished, r.suite, r.complete,
			(SELECT COUNT(DISTINCT x.case_id) FROM cells c JOIN results x ON x.cell_id = c.id WHERE c.run_id = r.id)
		FROM runs r ORDER BY r.id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	var out []RunSummary
	at := map[int64]int{}
	for rows.Next() {
		var r RunSummary
		var started, finished sql.NullInt64
		if err := rows.Scan(&r.ID, &started, &finished, &r.Suite, &r.Complete, &r.Cases); err != nil {
			rows.Close()
			return nil, err
		}
		r.Started, r.Finished = fromUnixNano(started), fromUnixNano(finished)
		at[r.ID] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	// Per cell: for the counts, the run's score and its best cell.
	rows, err = tx.QueryContext(ctx, `
		SELECT c.run_id, c.model, c.persona, c.template, c.load_err <> '',
			COUNT(x.cell_id), TOTAL(x.score)
		FROM cells c LEFT JOIN results x ON x.cell_id = c.id AND x.skipped = 0
		WHERE c.run_id >= ?
		GROUP BY c.id ORDER BY c.run_id, c.idx`, out[len(out)-1].ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sums := make([]float64, len(out))
	bestScore := make([]float64, len(out))
	scoredCells := make([]int, len(out))
	for rows.Next() {
		var runID int64
		var c Cell
		var failed bool
		var n int
		var sum float64
		if err := rows.Scan(&runID, &c.Model, &c.Persona, &c.Template, &failed, &n, &sum); err != nil {
			return nil, err
		}
		i, ok := at[runID]
		if !ok {
			continue
		}
		r := &out[i]
		r.Cells++
		if failed {
			r.FailedCells++
		}
		if n == 0 {
			continue
		}
		r.Scored += n
		sums[i] += sum
		if mean := sum / float64(n); scoredCells[i] == 0 || mean > bestScore[i] {
			bestScore[i], r.Best = mean, c.Label()
		}
		scoredCells[i]++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Scored > 0 {
			out[i].Score = sums[i] / float64(out[i].Scored)
		}
		if scoredCells[i] < 2 {
			out[i].Best = ""
		}
	}
	return out, nil
}

// Load reads run id back: its cells in the order they were saved, each
// with its replies in order. An id not saved gives an error wrapping
// ErrNoRun.
func (s *Store) Load(ctx context.Context, id int64) (*Run, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNoRun) {
			return nil, err
		}
		return nil, fmt.Errorf("eval: reading run %d: %w", id, err)
	}
	return r, nil
}

func (s *Store) load(ctx context.Context, id int64) (*Run, error) {
	// One read transaction: a run being saved meanwhile reads whole.
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	r := &Run{ID: id}
	var started, finished sql.NullInt64
	err = tx.QueryRowContext(ctx,
		`SELECT started, finished, suite, suite_path, suite_hash, runs, complete FROM runs WHERE id = ?`, id).
		Scan(&started, &finished, &r.Suite, &r.SuitePath, &r.SuiteHash, &r.Runs, &r.Complete)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, noRunError{id}
	}
	if err != nil {
		return nil, err
	}
	r.Started, r.Finished = fromUnixNano(started), fromUnixNano(finished)

	rows, err := tx.QueryContext(ctx, `SELECT id, model, model_ref, model_hash, backend, persona, persona_text,
		template, template_text, sampling, peak_rss, load_err FROM cells WHERE run_id = ? ORDER BY idx`, id)
	if err != nil {
		return nil, err
	}
	at := map[int64]int{}
	for rows.Next() {
		var cellID int64
		var c CellResult
		cl := &c.Cell
		if err := rows.Scan(&cellID, &cl.Model, &cl.ModelRef, &cl.ModelHash, &cl.Backend, &cl.Persona,
			&cl.PersonaText, &cl.Template, &cl.TemplateText, &cl.Sampling, &c.PeakRSS, &c.LoadErr); err != nil {
			rows.Close()
			return nil, err
		}
		at[cellID] = len(r.Cells)
		r.Cells = append(r.Cells, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(r.Cells) == 0 {
		return r, err
	}

	rows, err = tx.QueryContext(ctx, `SELECT x.cell_id, x.case_id, x.case_index, x.run, x.tags, x.output,
		x.reasoning, x.pass, x.score, x.reason, x.predicted, x.expected, x.err, x.skipped,
		x.prompt_tokens, x.cached_tokens, x.generated_tokens, x.ttft_ns, x.prefill_ns, x.decode_ns, x.stop_reason
		FROM results x JOIN cells c ON c.id = x.cell_id WHERE c.run_id = ? ORDER BY c.idx, x.idx`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var cellID int64
		var x CaseResult
		var tags sql.NullString
		var ttft, prefill, decode int64
		if err := rows.Scan(&cellID, &x.Case, &x.Index, &x.Run, &tags, &x.Output, &x.Reasoning, &x.Pass,
			&x.Score, &x.Reason, &x.Predicted, &x.Expected, &x.Err, &x.Skipped, &x.PromptTokens,
			&x.CachedTokens, &x.GeneratedTokens, &ttft, &prefill, &decode, &x.StopReason); err != nil {
			return nil, err
		}
		if tags.Valid {
			if err := json.Unmarshal([]byte(tags.String), &x.Tags); err != nil {
				return nil, fmt.Errorf("case %s: damaged tags: %w", x.Case, err)
			}
			if x.Tags == nil {
				x.Tags = []string{}
			}
		}
		x.TTFT, x.PrefillTime, x.DecodeTime = time.Duration(ttft), time.Duration(prefill), time.Duration(decode)
		c := &r.Cells[at[cellID]]
		c.Results = append(c.Results, x)
	}
	return r, rows.Err()
}

// Delete removes run id with its cells and replies.
func (s *Store) Delete(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM runs WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("eval: deleting run %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return noRunError{id}
	}
	return nil
}

// WriteRunList prints the table of `natter eval list`.
func WriteRunList(w io.Writer, runs []RunSummary) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTARTED\tSUITE\tCELLS\tCASES\tSCORE\tBEST\t")
	for _, r := range runs {
		score := pct(r.Score, r.Scored)
		switch {
		case r.Complete:
		case r.Interrupted():
			score += " (interrupted)"
		default:
			score += fmt.Sprintf(" (%d failed to load)", r.FailedCells)
		}
		started := "—"
		if !r.Started.IsZero() {
			started = r.Started.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\t\n", r.ID, started, oneCell(r.Suite),
			r.Cells, r.Cases, score, oneCell(r.Best))
	}
	return tw.Flush()
}

// oneCell keeps a name on one line of one column.
func oneCell(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
