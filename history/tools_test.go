package history

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"natter/engine/api"
	"natter/prompts"
)

func equalMessages(a, b []prompts.Message) bool {
	return slices.EqualFunc(a, b, prompts.Message.Equal)
}

func toolResult(id, name, output string) prompts.Message {
	return prompts.Message{Role: prompts.RoleTool, Content: output, ToolCallID: id, Name: name}
}

// toolTurns is a chat with tool calling: a question, a reply with some
// text and two calls, their results, then the final answer.
func toolTurns() []prompts.Message {
	return []prompts.Message{
		user("what is in a.txt and the folder?"),
		{Role: prompts.RoleAssistant, Content: "Let me look.", Reasoning: "two tools", ToolCalls: []prompts.ToolCall{
			{ID: "call_1", Name: "read_file", Arguments: `{"path":"a.txt"}`},
			{ID: "call_2", Name: "list_dir", Arguments: `{"path":"."}`},
		}},
		toolResult("call_1", "read_file", "hello lighthouse\n"),
		toolResult("call_2", "list_dir", "a.txt\nb.txt"),
		asst("a.txt says hello; the folder holds a.txt and b.txt."),
	}
}

// record saves msgs the way the UI does: assistant turns stream through
// Checkpoint and Finish, the rest go through Append.
func record(t *testing.T, r *Recorder, msgs []prompts.Message) {
	t.Helper()
	for _, m := range msgs {
		if m.Role != prompts.RoleAssistant {
			must(t, r.Append(m))
			continue
		}
		must(t, r.Checkpoint(prompts.Message{Role: m.Role, Content: m.Content[:len(m.Content)/2]}))
		must(t, r.Finish(m, &api.Stats{StopReason: api.StopEOG}, api.StopEOG))
	}
}

func TestToolCallsRoundTrip(t *testing.T) {
	s, path := openTemp(t)
	r := s.NewRecorder(ChatMeta{})
	must(t, r.NewChat("m", "sys"))
	turns := toolTurns()
	record(t, r, turns)
	id := r.ChatID()
	s.Close()

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, c, err := s.ResumeRecorder(bg, id)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]prompts.Message{{Role: "system", Content: "sys"}}, turns...)
	if got := c.PromptMessages(); !equalMessages(got, want) {
		t.Fatalf("resumed:\n got %+v\nwant %+v", got, want)
	}
	if c.Title != "what is in a.txt and the folder?" || len(c.Messages) != 5 {
		t.Errorf("chat = %+v", c)
	}
	for i, m := range c.Messages {
		if m.Status != StatusComplete {
			t.Errorf("message %d status %q", i, m.Status)
		}
	}
	if l, _ := s.List(bg, 0); len(l) != 1 || l[0].MessageCount != 5 {
		t.Errorf("listing = %+v", l)
	}
	// Tool output is searchable content like any other.
	if hits, _ := s.Search(bg, "lighthouse", SearchOptions{}); len(hits) != 1 || hits[0].Role != prompts.RoleTool {
		t.Errorf("search tool output: %+v", hits)
	}

	// A rewrite that drops the last two turns and answers call_2 again:
	// the first three rows stay, the new result is a new row although it
	// answers the same call.
	before := c.Messages
	rewritten := append(slices.Clone(turns[:3]), toolResult("call_2", "list_dir", "a.txt\nb.txt\nc.txt"))
	must(t, r.Rewrite(rewritten))
	c, _ = s.Get(bg, id)
	if !equalMessages(c.PromptMessages()[1:], rewritten) {
		t.Fatalf("after rewrite: %+v", c.Messages)
	}
	if c.Messages[2].ID != before[2].ID || c.Messages[3].ID == before[3].ID {
		t.Errorf("rewrite kept/replaced the wrong rows: %d %d, before %d %d", c.Messages[2].ID, c.Messages[3].ID, before[2].ID, before[3].ID)
	}

	// Rows differing only in a tool field are not taken for the same.
	for name, change := range map[string]func(ms []prompts.Message){
		"call id":   func(ms []prompts.Message) { ms[3].ToolCallID = "call_9" },
		"tool name": func(ms []prompts.Message) { ms[3].Name = "list_files" },
		"arguments": func(ms []prompts.Message) { ms[1].ToolCalls[1].Arguments = `{"path":"b"}` },
		"no calls":  func(ms []prompts.Message) { ms[1].ToolCalls = nil },
	} {
		ms := slices.Clone(rewritten)
		ms[1].ToolCalls = slices.Clone(ms[1].ToolCalls)
		change(ms)
		must(t, r.Rewrite(ms))
		if c, _ := s.Get(bg, id); !equalMessages(c.PromptMessages()[1:], ms) {
			t.Errorf("%s: rewrite not saved: %+v", name, c.Messages)
		}
		must(t, r.Rewrite(rewritten))
	}

	// The next reply follows the rewritten results, and all of it resumes.
	final := asst("now three files")
	record(t, r, []prompts.Message{final})
	s.Close()
	s, _ = Open(path)
	defer s.Close()
	c, _ = s.Get(bg, id)
	if !equalMessages(c.PromptMessages()[1:], append(rewritten, final)) {
		t.Fatalf("reopened after rewrite: %+v", c.Messages)
	}
}

// A call with no text and a tool that printed nothing still belong to the
// conversation: dropping either would leave a call without its answer.
func TestEmptyToolTurnsResume(t *testing.T) {
	s, _ := openTemp(t)
	r := s.NewRecorder(ChatMeta{})
	must(t, r.NewChat("m", ""))
	turns := []prompts.Message{
		user("touch x"),
		{Role: prompts.RoleAssistant, ToolCalls: []prompts.ToolCall{{ID: "c", Name: "touch", Arguments: `{"path":"x"}`}}},
		toolResult("c", "touch", ""),
		asst("done"),
	}
	for _, m := range turns {
		if m.Role == prompts.RoleAssistant {
			must(t, r.Finish(m, nil, api.StopEOG))
		} else {
			must(t, r.Append(m))
		}
	}
	c, _ := s.Get(bg, r.ChatID())
	if !equalMessages(c.PromptMessages(), turns) {
		t.Fatalf("prompt messages = %+v", c.PromptMessages())
	}
	// Rewrite (the UI's /retry) keeps them the same way.
	must(t, r.Rewrite(turns[:3]))
	if c, _ = s.Get(bg, r.ChatID()); !equalMessages(c.PromptMessages(), turns[:3]) {
		t.Fatalf("after rewrite = %+v", c.PromptMessages())
	}
	var out bytes.Buffer
	if err := s.Export(bg, c.ID, "md", &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "## Assistant\n\n**Tool call** `touch` {\"path\":\"x\"}\n") ||
		!strings.Contains(out.String(), "## Tool\n\n**Tool result** (touch)\n\n```\n```\n") {
		t.Errorf("export:\n%s", out.String())
	}
}

func TestExportToolCalls(t *testing.T) {
	s, _ := openTemp(t)
	r := s.NewRecorder(ChatMeta{})
	must(t, r.NewChat("m", ""))
	turns := toolTurns()
	// Output holding a fence must not close the block around it.
	turns[3].Content = "```go\nx\n```"
	record(t, r, turns)
	id := strconv.FormatInt(r.ChatID(), 10)

	code, md, _ := run(t, s, "export", id, "--format", "md")
	for _, want := range []string{
		"## Assistant\n\n<details><summary>Thinking</summary>\n\ntwo tools\n\n</details>\n\nLet me look.\n\n" +
			"**Tool call** `read_file` {\"path\":\"a.txt\"}\n\n**Tool call** `list_dir` {\"path\":\".\"}\n",
		"## Tool\n\n**Tool result** (read_file)\n\n```\nhello lighthouse\n```\n",
		"## Tool\n\n**Tool result** (list_dir)\n\n````\n```go\nx\n```\n````\n",
		"## Assistant\n\na.txt says hello",
	} {
		if code != 0 || !strings.Contains(md, want) {
			t.Errorf("export md lacks %q:\n%s", want, md)
		}
	}

	for _, args := range [][]string{{"export", id, "--format", "json"}, {"show", id, "--json"}} {
		code, raw, _ := run(t, s, args...)
		var c Chat
		if err := json.Unmarshal([]byte(raw), &c); code != 0 || err != nil {
			t.Fatalf("%v: %d %v", args, code, err)
		}
		var got []prompts.Message
		for _, m := range c.Messages {
			got = append(got, m.prompt())
		}
		if !equalMessages(got, turns) {
			t.Errorf("%v: messages = %+v", args, c.Messages)
		}
		for _, key := range []string{`"tool_calls": [`, `"arguments": "{\"path\":\"a.txt\"}"`, `"tool_call_id": "call_2"`, `"name": "list_dir"`} {
			if !strings.Contains(raw, key) {
				t.Errorf("%v: no %s in\n%s", args, key, raw)
			}
		}
	}
}

func TestCodeSpanAndFence(t *testing.T) {
	for in, want := range map[string]string{"read_file": "`read_file`", "a`b": "``a`b``", "`x": "`` `x ``"} {
		if got := codeSpan(in); got != want {
			t.Errorf("codeSpan(%q) = %q, want %q", in, got, want)
		}
	}
	if got := backticks("a ```` b", 3); got != "`````" {
		t.Errorf("fence = %q", got)
	}
}

// A damaged database salvaged row by row keeps the tool columns.
func TestSalvageKeepsToolTurns(t *testing.T) {
	s, path := openTemp(t)
	id := mustChat(t, s, ChatMeta{})
	turns := toolTurns()
	for _, m := range turns {
		mustAdd(t, s, id, m)
	}
	s.Close()
	src, err := openSource(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := openMemory(bg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if rep := salvage(bg, src, dst); rep.readErr != nil || rep.messages != len(turns) {
		t.Fatalf("salvage: %+v", rep)
	}
	mem := &Store{db: dst, writers: map[*ReplyWriter]struct{}{}}
	if c, err := mem.Get(bg, id); err != nil || !equalMessages(c.PromptMessages(), turns) {
		t.Errorf("salvaged chat: %+v %v", c, err)
	}
}

// streamToolCall is a reply that has made a tool call and goes on
// streaming text until it is killed.
func streamToolCall(path string) {
	s, err := Open(path)
	if err != nil {
		os.Exit(1)
	}
	r := s.NewRecorder(ChatMeta{})
	r.NewChat("m", "")
	r.Append(user("read a.txt"))
	reply := prompts.Message{Role: prompts.RoleAssistant, Content: "Reading it. ",
		ToolCalls: []prompts.ToolCall{{ID: "call_1", Name: "read_file", Arguments: `{"path":"a.txt"}`}}}
	r.Checkpoint(reply)
	fmt.Printf("chat %d\n", r.ChatID())
	for i := 0; ; i++ {
		reply.Content += fmt.Sprintf("chunk-%05d ", i)
		r.Checkpoint(reply)
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKilledMidToolCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	cmd := helper(t, "streamtools", path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	var chat int64
	if sc.Scan() {
		fmt.Sscanf(sc.Text(), "chat %d", &chat)
	}
	if chat == 0 {
		t.Fatalf("helper did not start: %q", sc.Text())
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Kill it once the call and some text after it are on disk.
	waitFor(t, func() bool {
		c, err := s.Get(bg, chat)
		return err == nil && len(c.Messages) == 2 && len(c.Messages[1].ToolCalls) == 1 && strings.Contains(c.Messages[1].Content, "chunk-00010")
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	c, err := s.Get(bg, chat)
	if err != nil {
		t.Fatal(err)
	}
	reply := c.Messages[1]
	if reply.Status != StatusInterrupted {
		t.Errorf("killed reply status = %q", reply.Status)
	}
	call := prompts.ToolCall{ID: "call_1", Name: "read_file", Arguments: `{"path":"a.txt"}`}
	if !slices.Equal(reply.ToolCalls, []prompts.ToolCall{call}) {
		t.Errorf("tool calls = %+v", reply.ToolCalls)
	}
	chunks := strings.Fields(strings.TrimPrefix(reply.Content, "Reading it. "))
	if !strings.HasPrefix(reply.Content, "Reading it. chunk-00000 ") || len(chunks) < 11 {
		t.Fatalf("partial content = %q", reply.Content)
	}
	for i, ch := range chunks {
		if ch != fmt.Sprintf("chunk-%05d", i) {
			t.Fatalf("chunk %d saved as %q", i, ch)
		}
	}
	if pm := c.PromptMessages(); len(pm) != 2 || !slices.Equal(pm[1].ToolCalls, []prompts.ToolCall{call}) {
		t.Errorf("resumed = %+v", pm)
	}
	var check string
	s.read(func(db *sql.DB) error { return db.QueryRow(`PRAGMA integrity_check`).Scan(&check) })
	if check != "ok" {
		t.Errorf("integrity_check: %s", check)
	}
}
