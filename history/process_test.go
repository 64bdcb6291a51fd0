package history

import (
	"bufio"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"natter/engine/api"
	"natter/prompts"
)

// The test binary doubles as a helper process: with NATTER_HISTORY_HELPER
// set it runs one of the helpers below instead of the tests.
func TestMain(m *testing.M) {
	switch os.Getenv("NATTER_HISTORY_HELPER") {
	case "":
		os.Exit(m.Run())
	case "writer":
		n, _ := strconv.Atoi(os.Getenv("NATTER_HISTORY_N"))
		if err := writeChat(os.Getenv("NATTER_HISTORY_PATH"), os.Getenv("NATTER_HISTORY_TAG"), n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "stream":
		streamForever(os.Getenv("NATTER_HISTORY_PATH"))
	case "streamtools":
		streamToolCall(os.Getenv("NATTER_HISTORY_PATH"))
	}
	os.Exit(3)
}

func helper(t *testing.T, mode, path string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NATTER_HISTORY_HELPER="+mode, "NATTER_HISTORY_PATH="+path)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// writeChat writes one chat of n user messages and n streamed replies, one
// Store per call, as a separate natter process would.
func writeChat(path, tag string, n int) error {
	s, err := Open(path)
	if err != nil {
		return err
	}
	defer s.Close()
	if !s.Persistent() {
		return fmt.Errorf("%s: Open went to memory: %s", tag, s.TakeWarning())
	}
	id, err := s.NewChat(bg, ChatMeta{Title: tag})
	if err != nil {
		return fmt.Errorf("%s: NewChat: %w", tag, err)
	}
	for i := 0; i < n; i++ {
		if _, err := s.AddMessage(bg, id, user(fmt.Sprintf("%s question %d", tag, i)), MessageMeta{}); err != nil {
			return fmt.Errorf("%s: AddMessage %d: %w", tag, i, err)
		}
		w, err := s.BeginReply(bg, id, ReplyMeta{Model: tag})
		if err != nil {
			return fmt.Errorf("%s: BeginReply %d: %w", tag, i, err)
		}
		w.Append(fmt.Sprintf("%s answer ", tag))
		if err := w.Flush(); err != nil {
			return fmt.Errorf("%s: Flush %d: %w", tag, i, err)
		}
		w.Append(strconv.Itoa(i))
		if err := w.Finish(&api.Stats{GeneratedTokens: i}); err != nil {
			return fmt.Errorf("%s: Finish %d: %w", tag, i, err)
		}
	}
	if !s.Persistent() {
		return fmt.Errorf("%s: store went to memory: %s", tag, s.TakeWarning())
	}
	return nil
}

func TestConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	const n = 150
	tags := []string{"procA", "procB", "goroC", "goroD"}
	var wg sync.WaitGroup
	errs := make(chan error, len(tags))
	for _, tag := range tags {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if strings.HasPrefix(tag, "proc") {
				cmd := helper(t, "writer", path, "NATTER_HISTORY_TAG="+tag, "NATTER_HISTORY_N="+strconv.Itoa(n))
				if out, err := cmd.Output(); err != nil {
					errs <- fmt.Errorf("%s: %v %s", tag, err, out)
				}
				return
			}
			if err := writeChat(path, tag, n); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, _ := s.List(bg, 0)
	if len(list) != len(tags) {
		t.Fatalf("%d chats, want %d", len(list), len(tags))
	}
	for _, sum := range list {
		c, err := s.Get(bg, sum.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Messages) != 2*n {
			t.Errorf("%s: %d messages, want %d", c.Title, len(c.Messages), 2*n)
			continue
		}
		for i := 0; i < n; i++ {
			q, a := c.Messages[2*i], c.Messages[2*i+1]
			if q.Content != fmt.Sprintf("%s question %d", c.Title, i) || a.Content != fmt.Sprintf("%s answer %d", c.Title, i) ||
				a.Status != StatusComplete || a.Stats == nil || a.Stats.GeneratedTokens != i {
				t.Fatalf("%s turn %d: %+v / %+v", c.Title, i, q, a)
			}
		}
	}
	var check string
	s.read(func(db *sql.DB) error { return db.QueryRow(`PRAGMA integrity_check`).Scan(&check) })
	if check != "ok" {
		t.Errorf("integrity_check: %s", check)
	}
	err = s.read(func(db *sql.DB) error {
		_, err := db.Exec(`INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')`)
		return err
	})
	if err != nil {
		t.Errorf("FTS index out of step: %v", err)
	}
	if hits, _ := s.Search(bg, "procB question", SearchOptions{Limit: 1000}); len(hits) != n {
		t.Errorf("search found %d of procB's questions", len(hits))
	}
}

// streamForever streams a reply at the default checkpoint interval and
// reports every appended chunk on stdout, until it is killed.
func streamForever(path string) {
	s, err := Open(path)
	if err != nil {
		os.Exit(1)
	}
	id, _ := s.NewChat(bg, ChatMeta{Model: "m"})
	s.AddMessage(bg, id, prompts.Message{Role: "user", Content: "tell me a long story"}, MessageMeta{})
	w, err := s.BeginReply(bg, id, ReplyMeta{Model: "m"})
	if err != nil {
		os.Exit(1)
	}
	fmt.Printf("chat %d\n", id)
	for i := 0; ; i++ {
		w.Append(fmt.Sprintf("chunk-%05d ", i))
		fmt.Printf("%d\n", i)
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKilledMidStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	cmd := helper(t, "stream", path)
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
	// Another "terminal" writes its own chat all along, across the kill.
	stop := make(chan struct{})
	parentDone := make(chan error, 1)
	parentTurns := 0
	go func() {
		ps, err := Open(path)
		if err != nil {
			parentDone <- err
			return
		}
		// Closed before it reports, so its lock file is gone by the time
		// the test counts them.
		write := func() error {
			id, _ := ps.NewChat(bg, ChatMeta{Title: "parent"})
			for {
				select {
				case <-stop:
					return nil
				default:
				}
				if _, err := ps.AddMessage(bg, id, user(fmt.Sprint("q", parentTurns)), MessageMeta{}); err != nil {
					return err
				}
				parentTurns++
				time.Sleep(5 * time.Millisecond)
			}
		}
		err = write()
		ps.Close()
		parentDone <- err
	}()
	// Remember when each chunk was appended (as seen from here).
	var seen []time.Time
	for sc.Scan() {
		seen = append(seen, time.Now())
		if len(seen) >= 2 && seen[len(seen)-1].Sub(seen[0]) > 2500*time.Millisecond {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	cmd.Wait()
	time.Sleep(100 * time.Millisecond)
	close(stop)
	if err := <-parentDone; err != nil {
		t.Fatalf("the other writer failed: %v", err)
	}

	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Get(bg, chat)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Messages) != 2 || c.Messages[0].Content != "tell me a long story" {
		t.Fatalf("messages = %+v", c.Messages)
	}
	r := c.Messages[1]
	if r.Status != StatusInterrupted {
		t.Errorf("killed reply status = %q", r.Status)
	}
	// The saved text is exactly chunks 0..k-1, in order, nothing torn.
	chunks := strings.Fields(r.Content)
	for i, ch := range chunks {
		if ch != fmt.Sprintf("chunk-%05d", i) {
			t.Fatalf("chunk %d saved as %q", i, ch)
		}
	}
	if !strings.HasSuffix(r.Content, " ") {
		t.Errorf("saved text ends mid-chunk: %q", r.Content[max(0, len(r.Content)-20):])
	}
	// Loss bound: with 500 ms checkpoints, every chunk appended well over a
	// checkpoint interval before the kill is on disk (1 s of slack for a
	// loaded machine).
	var mustHave int
	for i, at := range seen {
		if killed.Sub(at) > 1500*time.Millisecond {
			mustHave = i + 1
		}
	}
	t.Logf("appended %d chunks, %d saved, %d required", len(seen), len(chunks), mustHave)
	if mustHave == 0 || len(chunks) < mustHave {
		t.Errorf("only %d chunks saved; %d were appended more than 1.5 s before the kill", len(chunks), mustHave)
	}
	if locks, _ := filepath.Glob(filepath.Join(ownerDir(path), "*")); len(locks) != 1 {
		t.Errorf("lock files: %v, want only the live Store's", locks)
	}
	list, _ := s.List(bg, 0)
	var parent *Chat
	for _, l := range list {
		if l.Title == "parent" {
			parent, _ = s.Get(bg, l.ID)
		}
	}
	if parent == nil || len(parent.Messages) != parentTurns || parentTurns < 10 {
		t.Errorf("the other writer's chat lost messages: %d turns written", parentTurns)
	}
	// The database is sound and takes new writes.
	mustAdd(t, s, chat, user("are you there?"))
	var check string
	s.read(func(db *sql.DB) error { return db.QueryRow(`PRAGMA integrity_check`).Scan(&check) })
	if check != "ok" {
		t.Errorf("integrity_check: %s", check)
	}
}
