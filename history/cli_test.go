package history

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"natter/engine/api"
	"natter/history/kvcache"
)

func run(t *testing.T, s *Store, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(CLI{Store: s, Stdout: &out, Stderr: &errb}, args)
	return code, out.String(), errb.String()
}

// dispatch calls the CLI method args name, with the flags these tests use
// (cobra parses them in natter; package cli tests that parsing).
func dispatch(c CLI, args []string) int {
	cmd := "list"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var pos []string
	asJSON, limit, format, outFile := false, 0, "md", ""
	for i := 0; i < len(args); i++ {
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch args[i] {
		case "--json":
			asJSON = true
		case "--limit":
			limit, _ = strconv.Atoi(next())
		case "--format":
			format = next()
		case "-o":
			outFile = next()
		default:
			pos = append(pos, args[i])
		}
	}
	one := func() string {
		if len(pos) == 0 {
			return ""
		}
		return pos[0]
	}
	switch cmd {
	case "list":
		return c.List(limit, asJSON)
	case "search":
		return c.Search(pos, limit, asJSON)
	case "show":
		return c.Show(one(), asJSON)
	case "export":
		return c.Export(one(), format, outFile, false)
	case "rm":
		return c.Remove(pos)
	}
	return -1
}

func cliStore(t *testing.T) (*Store, int64, int64) {
	s, _ := openTemp(t)
	a := mustChat(t, s, ChatMeta{Model: "tiny-q8", Persona: "coder"})
	mustAdd(t, s, a, user("Explain goroutines please"))
	w, _ := s.BeginReply(bg, a, ReplyMeta{Model: "tiny-q8"})
	w.Append("Goroutines are lightweight threads.\x1b[2J")
	w.Finish(&api.Stats{GeneratedTokens: 7})
	b := mustChat(t, s, ChatMeta{Model: "other"})
	mustAdd(t, s, b, user("What is a channel?"))
	return s, a, b
}

func jsonKeys(t *testing.T, raw string) []string {
	t.Helper()
	var v []map[string]any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, raw)
	}
	if len(v) == 0 {
		t.Fatal("empty JSON array")
	}
	var keys []string
	for k := range v[0] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestCLIList(t *testing.T) {
	s, _ := openTemp(t)
	if code, out, _ := run(t, s); code != 0 || !strings.Contains(out, "no saved chats") {
		t.Errorf("empty list: %d %q", code, out)
	}
	if code, out, _ := run(t, s, "list", "--json"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("empty list --json: %d %q", code, out)
	}
	s.Close()

	s, a, b := cliStore(t)
	code, out, _ := run(t, s, "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[1], strconv.FormatInt(b, 10)+" ") ||
		!strings.Contains(lines[2], "Explain goroutines please") || !strings.Contains(lines[2], "tiny-q8") {
		t.Errorf("list: %d\n%s", code, out)
	}
	code, out, _ = run(t, s, "list", "--json", "--limit", "1")
	if code != 0 {
		t.Fatal(code)
	}
	want := []string{"created_at", "id", "message_count", "model", "persona", "title", "updated_at"}
	if got := jsonKeys(t, out); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("list JSON fields = %v, want %v", got, want)
	}
	var list []ChatSummary
	json.Unmarshal([]byte(out), &list)
	if len(list) != 1 || list[0].ID != b {
		t.Errorf("list --limit 1 = %+v", list)
	}
	_ = a
}

func TestCLISearch(t *testing.T) {
	s, a, _ := cliStore(t)
	code, out, _ := run(t, s, "search", "lightweight", "threads")
	// Not a terminal: plain text, no **markers**.
	if code != 0 || !strings.Contains(out, "lightweight threads") || strings.Contains(out, "**") || !strings.HasPrefix(out, strconv.FormatInt(a, 10)+" ") {
		t.Errorf("search: %d %q", code, out)
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("escape sequence from a message reached the terminal: %q", out)
	}
	code, out, _ = run(t, s, "search", "--json", "goroutines")
	want := []string{"chat_id", "created_at", "message_id", "role", "snippet", "title"}
	if got := jsonKeys(t, out); code != 0 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("search JSON fields = %v", got)
	}
	if code, out, _ = run(t, s, "search", "nothing-like-this"); code != 0 || !strings.Contains(out, "no matches") {
		t.Errorf("no match: %d %q", code, out)
	}
	if code, out, _ = run(t, s, "search", "--json", "zzz"); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("no match --json: %d %q", code, out)
	}
	if code, _, _ = run(t, s, "search", `"(`); code != 0 {
		t.Errorf("punctuation query: exit %d", code)
	}
	if code, _, errs := run(t, s, "search"); code != 2 || !strings.Contains(errs, "QUERY") {
		t.Errorf("missing query: %d %q", code, errs)
	}
}

func TestCLIShowExportRm(t *testing.T) {
	s, a, b := cliStore(t)
	id := strconv.FormatInt(a, 10)
	code, out, _ := run(t, s, "show", id)
	if code != 0 || !strings.Contains(out, "# Explain goroutines please") || !strings.Contains(out, "## Assistant") ||
		!strings.Contains(out, "Goroutines are lightweight threads.[2J") {
		t.Errorf("show: %d\n%s", code, out)
	}
	if strings.Contains(out, "\x1b") {
		t.Error("show printed an escape sequence")
	}
	code, out, _ = run(t, s, "show", "#"+id, "--json")
	var c Chat
	if err := json.Unmarshal([]byte(out), &c); code != 0 || err != nil || c.ID != a || len(c.Messages) != 2 || c.Messages[1].Stats.GeneratedTokens != 7 {
		t.Errorf("show --json: %d %v %+v", code, err, c)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "chat.json")
	// Flags after and before the ID.
	if code, _, errs := run(t, s, "export", id, "--format", "json", "-o", file); code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	raw, _ := os.ReadFile(file)
	var fromFile Chat
	if err := json.Unmarshal(raw, &fromFile); err != nil || fromFile.Messages[0].Content != "Explain goroutines please" {
		t.Errorf("exported JSON: %v %s", err, raw)
	}
	code, out, _ = run(t, s, "export", "--format", "md", id)
	if code != 0 || !strings.HasPrefix(out, "# Explain goroutines please\n") || !strings.Contains(out, "## User\n\nExplain goroutines please\n") {
		t.Errorf("export md: %d\n%s", code, out)
	}

	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"show", "999"}, 1},
		{[]string{"show", "abc"}, 2},
		{[]string{"export", id, "--format", "xml"}, 2},
		{[]string{"export", "999", "--format", "md"}, 1},
		{[]string{"export", id, "-o", filepath.Join(dir, "missing", "x.md")}, 1},
		{[]string{"rm"}, 2},
		{[]string{"rm", "0"}, 2},
		{[]string{"rm", "999"}, 1},
	} {
		if code, _, _ := run(t, s, tc.args...); code != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.args, code, tc.code)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Error("failed export created a directory")
	}

	if code, out, _ := run(t, s, "rm", id); code != 0 || !strings.Contains(out, "deleted chat "+id) {
		t.Errorf("rm: %d %q", code, out)
	}
	if code, _, _ := run(t, s, "show", id); code != 1 {
		t.Error("removed chat still shown")
	}
	if _, err := s.Get(bg, b); err != nil {
		t.Errorf("rm removed another chat: %v", err)
	}
	if code, _, errs := RunCmdNil(); code != 1 || !strings.Contains(errs, "NATTER_NO_HISTORY") {
		t.Errorf("nil store: %d %q", code, errs)
	}
}

func RunCmdNil() (int, string, string) {
	var out, errb bytes.Buffer
	return CLI{Stdout: &out, Stderr: &errb}.List(0, false), out.String(), errb.String()
}

func TestNoHistory(t *testing.T) {
	for v, want := range map[string]bool{"1": true, "true": true, "YES": true, "": false, "0": false, "no": false} {
		t.Setenv("NATTER_NO_HISTORY", v)
		if NoHistory() != want {
			t.Errorf("NATTER_NO_HISTORY=%q: %v", v, !want)
		}
	}
}

func TestParseID(t *testing.T) {
	for in, want := range map[string]int64{"42": 42, "#7": 7, " 3 ": 3} {
		if got, err := ParseID(in); err != nil || got != want {
			t.Errorf("ParseID(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0", "-1", "x", "#", "1e3", "99999999999999999999"} {
		if _, err := ParseID(in); err == nil {
			t.Errorf("ParseID(%q) accepted", in)
		}
	}
}

// `natter history rm` also forgets the chat's KV states when main wires the
// hook as documented.
func TestCLIRmRemovesKVStates(t *testing.T) {
	s, a, b := cliStore(t)
	kv, err := kvcache.Open(kvcache.DefaultDir(s.Path()), 0)
	if err != nil {
		t.Fatal(err)
	}
	s.OnDelete(func(id int64) { kv.RemoveTag(ChatTag(id)) })
	toksA, toksB := []int32{1, 2, 3, 4}, []int32{5, 6, 7, 8}
	for id, toks := range map[int64][]int32{a: toksA, b: toksB} {
		if err := kv.PutTagged("model", ChatTag(id), toks, []byte("kv")); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, _ := run(t, s, "rm", strconv.FormatInt(a, 10)); code != 0 {
		t.Fatal(code)
	}
	kv.SetMinPrefix(1)
	if _, ok := kv.Lookup("model", toksA); ok {
		t.Error("deleted chat's KV state kept")
	}
	if _, ok := kv.Lookup("model", toksB); !ok {
		t.Error("other chat's KV state removed")
	}
}

// Any values: no panic, a defined exit code, nothing written to files.
func FuzzRunCmd(f *testing.F) {
	for _, s := range []string{"a b", "1", "#2", "-3", "", "\x00", "999999999999999999999", `"(`} {
		f.Add(s, 3, true)
	}
	s, err := OpenMemory()
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	id, _ := s.NewChat(bg, ChatMeta{})
	s.AddMessage(bg, id, user("hello there"), MessageMeta{})
	f.Fuzz(func(t *testing.T, arg string, limit int, asJSON bool) {
		var out, errb bytes.Buffer
		c := CLI{Store: s, Stdout: &out, Stderr: &errb}
		for _, code := range []int{
			c.List(limit, asJSON), c.Search(strings.Fields(arg), limit, asJSON),
			c.Show(arg, asJSON), c.Export(arg, "json", "", false), c.Export(arg, arg, "", false),
		} {
			if code < 0 || code > 2 {
				t.Fatalf("%q: exit %d", arg, code)
			}
		}
	})
}
