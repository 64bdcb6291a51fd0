package history

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
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

const cliUsage = `usage: natter history [command] [flags]

commands:
  list [--limit N] [--json]            list chats, most recent first (default)
  search QUERY... [--limit N] [--json] full-text search over all messages
  show ID [--json]                     print a chat
  export ID [--format md|json] [-o FILE] [--raw-bytes]
                                       write a chat as Markdown or JSON (Markdown
                                       to a terminal has control characters
                                       defused unless --raw-bytes)
  rm ID...                             delete chats
`

// RunCmd runs `natter history ...` (args exclude "history") and returns the
// exit code: 0 success, 1 failure (e.g. no such chat), 2 bad usage. A nil
// store means history is turned off.
func RunCmd(args []string, stdout, stderr io.Writer, store *Store) int {
	cmd := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, cliUsage)
		return 0
	}
	fs := flag.NewFlagSet("natter history "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, cliUsage) }
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 0, "at most N results")
	format := fs.String("format", "md", "export format: md or json")
	outFile := fs.String("o", "", "export to FILE instead of standard output")
	rawBytes := fs.Bool("raw-bytes", false, "export Markdown unchanged even to a terminal")

	switch cmd {
	case "list", "ls", "search", "show", "export", "rm", "delete":
	default:
		fmt.Fprintf(stderr, "natter history: unknown command %q\n%s", cmd, cliUsage)
		return 2
	}
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "natter history %s: %s\n", cmd, msg)
		return 2
	}
	if store == nil {
		fmt.Fprintln(stderr, "natter history: history is turned off (NATTER_NO_HISTORY)")
		return 1
	}
	ctx := context.Background()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "natter history %s: %v\n", cmd, err)
		return 1
	}
	color := isTerminal(stdout) && os.Getenv("NO_COLOR") == ""

	switch cmd {
	case "list", "ls":
		if len(pos) > 0 {
			return usage("unexpected argument " + strconv.Quote(pos[0]))
		}
		chats, err := store.List(ctx, *limit)
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			return writeJSON(stdout, stderr, nonNil(chats))
		}
		if len(chats) == 0 {
			fmt.Fprintln(stdout, "no saved chats")
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUPDATED\tMSGS\tMODEL\tTITLE")
		for _, c := range chats {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", c.ID, c.UpdatedAt.Local().Format("2006-01-02 15:04"),
				c.MessageCount, oneLine(c.Model), orUntitled(oneLine(c.Title)))
		}
		tw.Flush()
	case "search":
		q := strings.Join(pos, " ")
		if strings.TrimSpace(q) == "" {
			return usage("missing QUERY")
		}
		opts := SearchOptions{Limit: *limit}
		switch {
		case color:
			opts.Before, opts.After = "\x1b[1;7m", "\x1b[0m"
		case !isTerminal(stdout) && !*asJSON:
			// A pipe or file gets the text itself; **marks** are for a
			// terminal without colour (and stay in --json snippets).
			opts.NoMarks = true
		}
		hits, err := store.Search(ctx, q, opts)
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			return writeJSON(stdout, stderr, hits)
		}
		if len(hits) == 0 {
			fmt.Fprintln(stdout, "no matches")
			return 0
		}
		for _, h := range hits {
			fmt.Fprintf(stdout, "%d  %s  (%s, %s)\n    %s\n", h.ChatID, orUntitled(oneLine(h.Title)), h.Role,
				h.CreatedAt.Local().Format("2006-01-02 15:04"), oneLineKeepSGR(h.Snippet, opts))
		}
	case "show", "export":
		if len(pos) != 1 {
			return usage("want exactly one chat ID")
		}
		id, err := ParseID(pos[0])
		if err != nil {
			return usage(err.Error())
		}
		f := *format
		if cmd == "show" {
			f = "md"
			if *asJSON {
				f = "json"
			}
		} else if f != "md" && f != "json" {
			return usage(fmt.Sprintf("unknown format %q (want md or json)", f))
		}
		// Markdown holds model output verbatim; a terminal must not get its
		// escape sequences (files and pipes get the exact text).
		if f == "md" && (cmd == "show" || isTerminal(stdout) && !*rawBytes && (*outFile == "" || *outFile == "-")) {
			c, err := store.Get(ctx, id)
			if err != nil {
				return fail(err)
			}
			var b strings.Builder
			writeMarkdown(&b, c)
			fmt.Fprint(stdout, sanitize(b.String()))
			return 0
		}
		if cmd == "export" && *outFile != "" && *outFile != "-" {
			return exportFile(ctx, store, id, f, *outFile, stderr)
		}
		if err := store.Export(ctx, id, f, stdout); err != nil {
			return fail(err)
		}
	case "rm", "delete":
		if len(pos) == 0 {
			return usage("missing chat ID")
		}
		ids := make([]int64, 0, len(pos))
		for _, p := range pos {
			id, err := ParseID(p)
			if err != nil {
				return usage(err.Error())
			}
			ids = append(ids, id)
		}
		code := 0
		for _, id := range ids {
			if err := store.Delete(ctx, id); err != nil {
				fmt.Fprintf(stderr, "natter history rm: %v\n", err)
				code = 1
				continue
			}
			fmt.Fprintf(stdout, "deleted chat %d\n", id)
		}
		return code
	}
	if w := store.TakeWarning(); w != "" {
		fmt.Fprintln(stderr, w)
	}
	return 0
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

// parseInterspersed lets flags come before or after positional arguments;
// everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return append(pos, tail...), nil
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
