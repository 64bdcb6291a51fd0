package main

import (
	"bufio"
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// served is a running `natter serve` and what it printed.
type served struct {
	cmd  *exec.Cmd
	url  string
	mu   sync.Mutex
	errs strings.Builder
	done chan error
}

func (s *served) stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs.String()
}

// lockedBuf is a process's output, written by exec's copier and read here.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The URL line and the curl example after it: both are printed before it serves.
var servingLine = regexp.MustCompile(`on (http://127\.0\.0\.1:\d+/v1)\n  try: curl [^\n]*\n`)

// startServe runs natter serve on a free port and waits for its URL.
func startServe(t *testing.T, env []string, args ...string) *served {
	t.Helper()
	cmd := exec.Command(natterBin, append([]string{"serve", "--addr", "127.0.0.1:0", "-t", "1"}, args...)...)
	cmd.Env = env
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		r := bufio.NewReader(pipe)
		for {
			line, err := r.ReadString('\n')
			s.mu.Lock()
			s.errs.WriteString(line)
			m := servingLine.FindStringSubmatch(s.errs.String())
			s.mu.Unlock()
			if m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
			if err != nil {
				break
			}
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
	})
	select {
	case s.url = <-urls:
	case err := <-s.done:
		t.Fatalf("natter serve ended before serving (%v):\n%s", err, s.stderr())
	case <-time.After(60 * time.Second):
		t.Fatalf("natter serve printed no URL in 60 s:\n%s", s.stderr())
	}
	return s
}

// wait waits for the server process to end (bounded, so a hang fails).
func (s *served) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("natter serve did not stop within 30 s of SIGTERM:\n%s", s.stderr())
		return nil
	}
}

// natter serve answers an OpenAI client, logs each request, saves with
// --save, and stops cleanly on SIGTERM, finishing the reply in flight.
func TestServeEndToEnd(t *testing.T) {
	_, env := isolatedEnv(t, "NATTER_NO_HISTORY=")
	s := startServe(t, env, "-m", chatModel, "--temp", "0", "--save")
	if !strings.Contains(s.stderr(), "try: curl "+s.url+"/chat/completions") {
		t.Errorf("no curl example on start:\n%s", s.stderr())
	}
	c := openai.NewClient(option.WithBaseURL(s.url+"/"), option.WithAPIKey("x"), option.WithMaxRetries(0))
	ctx := context.Background()
	r, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:     "synth-chat",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Once upon a time there was SERVEDCHAT")},
		MaxTokens: openai.Int(6),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Choices[0].Message.Content == "" {
		t.Fatalf("empty reply: %+v", r)
	}

	// A long streamed reply is in flight when SIGTERM comes: it finishes.
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:     "synth-chat",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story")},
		MaxTokens: openai.Int(200),
	})
	if !stream.Next() {
		t.Fatalf("no first chunk: %v", stream.Err())
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var finish string
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			if ch.FinishReason != "" {
				finish = string(ch.FinishReason)
			}
		}
	}
	if err := stream.Err(); err != nil && err != io.EOF {
		t.Fatalf("the reply in flight broke off at shutdown: %v\n%s", err, s.stderr())
	}
	if finish == "" {
		t.Fatalf("the reply in flight got no finish_reason\n%s", s.stderr())
	}
	if err := s.wait(t); err != nil {
		t.Fatalf("natter serve exited with %v after SIGTERM:\n%s", err, s.stderr())
	}
	log := s.stderr()
	if !strings.Contains(log, "shutting down") || strings.Count(log, "POST /v1/chat/completions model=synth-chat") != 2 || !strings.Contains(log, "status=200") {
		t.Errorf("server log:\n%s", log)
	}
	// --save kept both exchanges.
	out, errOut, st := runEnv(t, env, "history", "search", "SERVEDCHAT")
	if st != 0 || !strings.Contains(out, "SERVEDCHAT") {
		t.Errorf("history search after --save: exit %d\n%s%s", st, out, errOut)
	}
}

// Starting with settings that would expose the model or cannot work fails
// at once with the reason, exit 2.
func TestServeRefusesUnsafeSettings(t *testing.T) {
	_, env := isolatedEnv(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--addr", "0.0.0.0:0"}, "--api-key-env"},
		{[]string{"--addr", "[::]:0"}, "--api-key-env"},
		{[]string{"--addr", "127.0.0.1:0", "--api-key-env", "NATTER_TEST_NO_SUCH_VAR"}, "empty or unset"},
		{[]string{"--addr", "nonsense"}, "HOST:PORT"},
		{[]string{"--parallel", "4"}, "one sequence at a time"},
		{[]string{"--max-body", "10"}, "at least 1024"},
	} {
		_, errOut, st := runEnv(t, env, append([]string{"serve", "-m", chatModel}, c.args...)...)
		if st != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("serve %v: exit %d: %s", c.args, st, errOut)
		}
	}
	// With a key it listens beyond loopback (on a free port of every address).
	_, env = isolatedEnv(t, "NATTER_TEST_KEY=k3y")
	cmd := exec.Command(natterBin, "serve", "-m", chatModel, "-t", "1", "--addr", "0.0.0.0:0", "--api-key-env", "NATTER_TEST_KEY")
	cmd.Env = env
	errs := &lockedBuf{}
	cmd.Stderr = errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(errs.String(), "Authorization: Bearer $NATTER_TEST_KEY") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(errs.String(), "Authorization: Bearer $NATTER_TEST_KEY") {
		t.Fatalf("with a key on 0.0.0.0: %s", errs.String())
	}
}

// natter ask against natter serve prints what the server answers, the key
// reaches neither the history nor the logs, and the server's model list
// is one command away.
func TestAskRemoteAgainstServe(t *testing.T) {
	const key = "sk-natter-e2e-secret-42"
	home, env := isolatedEnv(t, "NATTER_NO_HISTORY=", "NATTER_TEST_SERVE_KEY="+key, "NATTER_API_KEY="+key)
	s := startServe(t, env, "-m", chatModel, "--api-key-env", "NATTER_TEST_SERVE_KEY")
	host := strings.TrimSuffix(strings.TrimPrefix(s.url, "http://"), "/v1")
	c := openai.NewClient(option.WithBaseURL(s.url+"/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	prompt := "Once upon a time there was"
	whole, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "synth-chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
		MaxTokens: openai.Int(16), Temperature: openai.Float(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := whole.Choices[0].Message.Content
	if want == "" {
		t.Fatal("the server's answer is empty")
	}
	model := "openai://" + host + "/synth-chat"
	out, errOut, st := runEnv(t, env, "ask", "-m", model, "--temp", "0", "-n", "16", "--save", "--stats", prompt)
	if st != 0 || out != want+"\n" {
		t.Fatalf("ask: exit %d\nstdout %q\nserver %q\nstderr %s", st, out, want, errOut)
	}
	if !strings.Contains(errOut, "template: server") {
		t.Errorf("--stats: %s", errOut)
	}
	// The history names the server and model, and nothing holds the key.
	list, _, _ := runEnv(t, env, "history", "list")
	if !strings.Contains(list, model) {
		t.Errorf("history list does not name %s:\n%s", model, list)
	}
	exp, _, _ := runEnv(t, env, "history", "export", "1", "--format", "json")
	if !strings.Contains(exp, `"role": "assistant"`) || !strings.Contains(exp, model) {
		t.Errorf("export lacks the reply or the model:\n%s", exp)
	}
	for _, f := range append(findFiles(t, home), exp, errOut, s.stderr()) {
		if strings.Contains(f, key) {
			t.Fatalf("the API key leaked into: %.200s", f)
		}
	}
	// A wrong key gets a clear word, naming the variable.
	_, errOut, st = runEnv(t, append(env, "NATTER_API_KEY=wrong"), "ask", "-m", model, "hi")
	if st != 1 || !strings.Contains(errOut, "HTTP 401") || !strings.Contains(errOut, "$NATTER_API_KEY") {
		t.Errorf("wrong key: exit %d: %s", st, errOut)
	}
	out, errOut, st = runEnv(t, env, "models", "--endpoint", "openai://"+host)
	if st != 0 || !strings.Contains(out, model) {
		t.Errorf("models --endpoint: exit %d: %s%s", st, out, errOut)
	}
	// bench needs a local file, and says so.
	_, errOut, st = runEnv(t, env, "bench", "-m", model)
	if st != 1 || !strings.Contains(errOut, "is a model on a server") {
		t.Errorf("bench with a remote model: exit %d: %s", st, errOut)
	}
}

// findFiles returns the contents of every file under dir (the history
// database, its WAL, logs).
func findFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				out = append(out, p+": "+string(b))
			}
		}
		return nil
	})
	return out
}

// A persona's sampling settings are the server's defaults, as in ask: a
// persona with max_tokens 3 caps a request that sets none.
func TestServePersonaSampling(t *testing.T) {
	home, env := isolatedEnv(t)
	dir := filepath.Join(home, "config", "natter", "prompts")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "brief.md"), []byte("---\ndescription: three tokens\nmax_tokens: 3\ntemperature: 0\n---\nYou are brief.\n"), 0o600)
	s := startServe(t, env, "-m", chatModel, "--prompt", "brief")
	c := openai.NewClient(option.WithBaseURL(s.url+"/"), option.WithAPIKey("x"), option.WithMaxRetries(0))
	r, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "synth-chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a long story")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Usage.CompletionTokens != 3 || r.Choices[0].FinishReason != "length" {
		t.Fatalf("persona max_tokens 3 not applied: %d tokens, finish %q\n%s", r.Usage.CompletionTokens, r.Choices[0].FinishReason, s.stderr())
	}
}
