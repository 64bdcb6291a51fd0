package history

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// NoHistory reports whether saving is turned off by NATTER_NO_HISTORY
// (1, true or yes). --no-save is the flag form; main combines the two.
func NoHistory() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("NATTER_NO_HISTORY"))) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// CLI runs the `natter history` subcommands with parsed flags (the command
// tree lives in package cli). Each returns the exit code: 0 success, 1
// failure (e.g. no such chat), 2 bad usage. A nil Store means history is
// turned off.
type CLI struct {
	Store          *Store
	Stdout, Stderr io.Writer
}

func (c CLI) usage(cmd, msg string) int {
	fmt.Fprintf(c.Stderr, "natter history %s: %s\n", cmd, msg)
	return 2
}

func (c CLI) fail(cmd string, err error) int {
	fmt.Fprintf(c.Stderr, "natter history %s: %v\n", cmd, err)
	return 1
}

func (c CLI) off() bool {
	if c.Store == nil {
		fmt.Fprintln(c.Stderr, "natter history: history is turned off (NATTER_NO_HISTORY)")
		return true
	}
	return false
}

// done passes on a warning the store collected (e.g. a repaired file).
func (c CLI) done() int {
	if w := c.Store.TakeWarning(); w != "" {
		fmt.Fprintln(c.Stderr, w)
	}
	return 0
}

// List prints chats, most recent first (limit 0: all).
func (c CLI) List(limit int, asJSON bool) int {
	if c.off() {
		return 1
	}
	chats, err := c.Store.List(context.Background(), limit)
	if err != nil {
		return c.fail("list", err)
	}
	if asJSON {
		return writeJSON(c.Stdout, c.Stderr, nonNil(chats))
	}
	if len(chats) == 0 {
		fmt.Fprintln(c.Stdout, "no saved chats")
		return 0
	}
	tw := tabwriter.NewWriter(c.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUPDATED\tMSGS\tMODEL\tTITLE")
	for _, ch := range chats {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", ch.ID, ch.UpdatedAt.Local().Format("2006-01-02 15:04"),
			ch.MessageCount, oneLine(ch.Model), orUntitled(oneLine(ch.Title)))
	}
	tw.Flush()
	return c.done()
}

// Search is full-text search over all messages; the words of query are
// joined into one query.
func (c CLI) Search(query []string, limit int, asJSON bool) int {
	q := strings.Join(query, " ")
	if strings.TrimSpace(q) == "" {
		return c.usage("search", "missing QUERY")
	}
	if c.off() {
		return 1
	}
	opts := SearchOptions{Limit: limit}
	switch {
	case isTerminal(c.Stdout) && os.Getenv("NO_COLOR") == "":
		opts.Before, opts.After = "\x1b[1;7m", "\x1b[0m"
	case !isTerminal(c.Stdout) && !asJSON:
		// A pipe or file gets the text itself; **marks** are for a
		// terminal without colour (and stay in --json snippets).
		opts.NoMarks = true
	}
	hits, err := c.Store.Search(context.Background(), q, opts)
	if err != nil {
		return c.fail("search", err)
	}
	if asJSON {
		return writeJSON(c.Stdout, c.Stderr, hits)
	}
	if len(hits) == 0 {
		fmt.Fprintln(c.Stdout, "no matches")
		return 0
	}
	for _, h := range hits {
		fmt.Fprintf(c.Stdout, "%d  %s  (%s, %s)\n    %s\n", h.ChatID, orUntitled(oneLine(h.Title)), h.Role,
			h.CreatedAt.Local().Format("2006-01-02 15:04"), oneLineKeepSGR(h.Snippet, opts))
	}
	return c.done()
}

// Show prints a chat as Markdown (control characters defused) or JSON.
func (c CLI) Show(id string, asJSON bool) int {
	f := "md"
	if asJSON {
		f = "json"
	}
	return c.write("show", id, f, "", false)
}

// Export writes a chat as Markdown or JSON to stdout or outFile ("" or "-":
// stdout). Markdown to a terminal has control characters defused unless
// rawBytes.
func (c CLI) Export(id, format, outFile string, rawBytes bool) int {
	if format != "md" && format != "json" {
		return c.usage("export", fmt.Sprintf("unknown format %q (want md or json)", format))
	}
	return c.write("export", id, format, outFile, rawBytes)
}

func (c CLI) write(cmd, idText, f, outFile string, rawBytes bool) int {
	id, err := ParseID(idText)
	if err != nil {
		return c.usage(cmd, err.Error())
	}
	if c.off() {
		return 1
	}
	ctx := context.Background()
	// Markdown holds model output verbatim; a terminal must not get its
	// escape sequences (files and pipes get the exact text).
	if f == "md" && (cmd == "show" || isTerminal(c.Stdout) && !rawBytes && (outFile == "" || outFile == "-")) {
		ch, err := c.Store.Get(ctx, id)
		if err != nil {
			return c.fail(cmd, err)
		}
		var b strings.Builder
		writeMarkdown(&b, ch)
		fmt.Fprint(c.Stdout, sanitize(b.String()))
		return 0
	}
	if cmd == "export" && outFile != "" && outFile != "-" {
		return exportFile(ctx, c.Store, id, f, outFile, c.Stderr)
	}
	if err := c.Store.Export(ctx, id, f, c.Stdout); err != nil {
		return c.fail(cmd, err)
	}
	return c.done()
}

// Remove deletes chats; every ID is checked before any is deleted.
func (c CLI) Remove(idTexts []string) int {
	if len(idTexts) == 0 {
		return c.usage("rm", "missing chat ID")
	}
	ids := make([]int64, 0, len(idTexts))
	for _, p := range idTexts {
		id, err := ParseID(p)
		if err != nil {
			return c.usage("rm", err.Error())
		}
		ids = append(ids, id)
	}
	if c.off() {
		return 1
	}
	code := 0
	for _, id := range ids {
		if err := c.Store.Delete(context.Background(), id); err != nil {
			fmt.Fprintf(c.Stderr, "natter history rm: %v\n", err)
			code = 1
			continue
		}
		fmt.Fprintf(c.Stdout, "deleted chat %d\n", id)
	}
	return code
}

// exportFile writes to a temporary file and renames it, so a failed export
// never leaves a half-written FILE (or clobbers an existing one).
func exportFile(ctx context.Context, store *Store, id int64, format, path string, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "natter history export: %v\n", err)
		return 1
	}
	tmp, err := os.CreateTemp(dirOf(path), ".natter-export-*")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name())
	if err := store.Export(ctx, id, format, tmp); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fail(err)
	}
	return 0
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, os.PathSeparator); i >= 0 {
		if i == 0 {
			return string(os.PathSeparator)
		}
		return path[:i]
	}
	return "."
}

// ParseID reads a chat id as users type it: "42" or "#42".
func ParseID(s string) (int64, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "#")
	id, err := strconv.ParseInt(t, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not a chat ID (a number such as 42)", s)
	}
	return id, nil
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "natter history: %v\n", err)
		return 1
	}
	return 0
}

func nonNil(c []ChatSummary) []ChatSummary {
	if c == nil {
		return []ChatSummary{}
	}
	return c
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// sanitize removes control characters (escape sequences a model may have
// produced) before text goes to a terminal; newlines and tabs stay.
func sanitize(s string) string {
	s = strings.ToValidUTF8(s, "�")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(sanitize(s)), " ")
}

// oneLineKeepSGR flattens a snippet but keeps our own highlight sequences.
func oneLineKeepSGR(s string, o SearchOptions) string {
	const a, b = "\uE000", "\uE001" // private-use placeholders
	if o.Before != "" {
		s = strings.ReplaceAll(s, o.Before, a)
	}
	if o.After != "" {
		s = strings.ReplaceAll(s, o.After, b)
	}
	s = oneLine(s)
	return strings.ReplaceAll(strings.ReplaceAll(s, a, o.Before), b, o.After)
}

func orUntitled(title string) string {
	if title == "" {
		return "(untitled)"
	}
	return title
}
