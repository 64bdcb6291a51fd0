package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"natter/tools"
)

// The test binary is also the MCP server the tests talk to: run with
// serverEnv set it serves over stdin/stdout and exits.
const serverEnv = "NATTER_MCP_TEST_SERVER"

func TestMain(m *testing.M) {
	switch os.Getenv(serverEnv) {
	case "":
		os.Exit(m.Run())
	case "exit":
		fmt.Fprintln(os.Stderr, "test server: giving up at once")
		os.Exit(3)
	default:
		serve(os.Getenv(serverEnv))
		os.Exit(0)
	}
}

type textIn struct {
	Text string `json:"text" jsonschema:"the text to send back"`
}

type sleepIn struct {
	Seconds float64 `json:"seconds"`
}

type noIn struct{}

// serve runs the test server; flavor "other" offers an echo of its own,
// to clash with the first server's.
func serve(flavor string) {
	s := sdk.NewServer(&sdk.Implementation{Name: "test-" + flavor, Version: "1"}, nil)
	text := func(s string) *sdk.CallToolResult {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: s}}}
	}
	sdk.AddTool(s, &sdk.Tool{Name: "echo", Description: "Echo text back.", Annotations: &sdk.ToolAnnotations{ReadOnlyHint: true}},
		func(_ context.Context, _ *sdk.CallToolRequest, in textIn) (*sdk.CallToolResult, any, error) {
			return text(flavor + ":" + in.Text), nil, nil
		})
	if flavor == "main" {
		sdk.AddTool(s, &sdk.Tool{Name: "fail", Description: "Always fails."},
			func(context.Context, *sdk.CallToolRequest, noIn) (*sdk.CallToolResult, any, error) {
				return nil, nil, errors.New("it failed, as asked")
			})
		sdk.AddTool(s, &sdk.Tool{Name: "sleep", Description: "Sleep."},
			func(ctx context.Context, _ *sdk.CallToolRequest, in sleepIn) (*sdk.CallToolResult, any, error) {
				select {
				case <-time.After(time.Duration(in.Seconds * float64(time.Second))):
					return text("slept"), nil, nil
				case <-ctx.Done():
					return nil, nil, ctx.Err()
				}
			})
		sdk.AddTool(s, &sdk.Tool{Name: "big", Description: "1 MB of text."},
			func(context.Context, *sdk.CallToolRequest, noIn) (*sdk.CallToolResult, any, error) {
				return text(strings.Repeat("0123456789abcde\n", 1<<16)), nil, nil
			})
		sdk.AddTool(s, &sdk.Tool{Name: "mixed", Description: "Text, an image and escapes."},
			func(context.Context, *sdk.CallToolRequest, noIn) (*sdk.CallToolResult, any, error) {
				return &sdk.CallToolResult{Content: []sdk.Content{
					&sdk.TextContent{Text: "red \x1b[31mtext"},
					&sdk.ImageContent{MIMEType: "image/png", Data: make([]byte, 12<<10)},
				}}, nil, nil
			})
		sdk.AddTool(s, &sdk.Tool{Name: "pid", Description: "The server's pid."},
			func(context.Context, *sdk.CallToolRequest, noIn) (*sdk.CallToolResult, any, error) {
				return text(fmt.Sprint(os.Getpid())), nil, nil
			})
	}
	fmt.Fprintln(os.Stderr, "test server", flavor, "ready") // must not reach the client's stdout
	_ = s.Run(context.Background(), &sdk.StdioTransport{})
}

func testServer(name, flavor string) Server {
	return Server{Name: name, Command: []string{os.Args[0]}, Env: []string{serverEnv + "=" + flavor}}
}

// syncBuffer is a bytes.Buffer safe for the servers' concurrent stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func connect(t *testing.T, opt Options, servers ...Server) *Set {
	t.Helper()
	s, err := Connect(context.Background(), servers, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func find(t *testing.T, s *Set, name string) tools.Tool {
	t.Helper()
	for _, tl := range s.Tools() {
		if tl.Spec().Name == name {
			return tl
		}
	}
	t.Fatalf("no tool %q", name)
	return nil
}

func run(t *testing.T, ctx context.Context, s *Set, name, args string) tools.Result {
	t.Helper()
	c, err := find(t, s, name).Prepare(args)
	if err != nil {
		t.Fatal(err)
	}
	return c.Run(ctx)
}

func TestToolsAndCalls(t *testing.T) {
	stderr := &syncBuffer{}
	s := connect(t, Options{MaxOutput: 4096, Stderr: stderr}, testServer("main", "main"))
	if errs := s.Errors(); len(errs) != 0 {
		t.Fatal(errs)
	}
	var names []string
	for _, tl := range s.Tools() {
		names = append(names, tl.Spec().Name)
	}
	if got := strings.Join(names, " "); got != "big echo fail mixed pid sleep" {
		t.Fatalf("tools: %s", got)
	}
	echo := find(t, s, "echo")
	var schema struct {
		Type       string
		Properties map[string]struct{ Type, Description string }
		Required   []string
	}
	if err := json.Unmarshal(echo.Spec().Parameters, &schema); err != nil || schema.Type != "object" ||
		schema.Properties["text"].Type != "string" || schema.Properties["text"].Description != "the text to send back" ||
		len(schema.Required) != 1 {
		t.Errorf("echo schema %s: %v", echo.Spec().Parameters, err)
	}
	if echo.Spec().Description != "Echo text back." || !echo.ReadOnly() || find(t, s, "fail").ReadOnly() {
		t.Errorf("echo: %+v read-only %v", echo.Spec(), echo.ReadOnly())
	}
	if src := s.Source("echo"); src != "mcp:main" || s.Source("read_file") != "" {
		t.Errorf("Source = %q", src)
	}
	if !strings.Contains(stderr.String(), "[main] test server main ready\n") {
		t.Errorf("stderr: %q", stderr.String())
	}

	// Unicode round-trips, and the call is described like the built-ins'.
	c, err := echo.Prepare(`{ "text": "héllo, 世界 🌍" }`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tool != "echo" || c.Args != `{"text":"héllo, 世界 🌍"}` || c.Summary != `echo {"text":"héllo, 世界 🌍"}` || !c.ReadOnly {
		t.Errorf("call: %+v", c)
	}
	if r := c.Run(context.Background()); r.IsError || r.Output != "main:héllo, 世界 🌍" || r.Duration <= 0 {
		t.Errorf("echo: %+v", r)
	}
	// A summary is one line of at most about 200 bytes of arguments.
	c, _ = echo.Prepare(`{"text": "` + strings.Repeat("é", 300) + `\nnext"}`)
	if !strings.HasPrefix(c.Summary, `echo {"text":"éé`) || !strings.HasSuffix(c.Summary, "…") || len(c.Summary) > 220 {
		t.Errorf("long summary: %q", c.Summary)
	}

	if r := run(t, context.Background(), s, "fail", ""); !r.IsError || !strings.Contains(r.Output, "it failed, as asked") {
		t.Errorf("fail: %+v", r)
	}
	r := run(t, context.Background(), s, "big", "{}")
	if r.IsError || !r.Truncated || !strings.HasPrefix(r.Output, "0123456789abcde\n") ||
		!strings.Contains(r.Output, "(output truncated: ") || len(r.Output) > 4096+100 {
		t.Errorf("big: truncated %v, %d bytes, ends %q", r.Truncated, len(r.Output), r.Output[max(0, len(r.Output)-80):])
	}
	if r := run(t, context.Background(), s, "mixed", "{}"); r.IsError || r.Output != `red \x1b[31mtext`+"\n[image: image/png, 12 KB]" {
		t.Errorf("mixed: %q", r.Output)
	}
	// The server checks the arguments against its schema.
	if r := run(t, context.Background(), s, "echo", `{"text": 5}`); !r.IsError {
		t.Errorf("echo with a number: %+v", r)
	}
	// Arguments that are not an object never reach the server.
	for _, bad := range []string{`[1]`, `"x"`, `{`, `7`} {
		_, err := echo.Prepare(bad)
		var ae *tools.ArgError
		if !errors.As(err, &ae) || ae.Tool != "echo" {
			t.Errorf("Prepare(%s): %v", bad, err)
		}
	}
	// An object sent encoded once more as a string is taken.
	if c, err := echo.Prepare(`"{\"text\":\"x\"}"`); err != nil || c.Args != `{"text":"x"}` {
		t.Errorf("double-encoded: %v %+v", err, c)
	}
}

// Cancelling the context stops a call at once and the server goes on.
func TestCancelAndTimeout(t *testing.T) {
	s := connect(t, Options{Timeout: 500 * time.Millisecond}, testServer("main", "main"))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	r := run(t, ctx, s, "sleep", `{"seconds": 30}`)
	if !r.IsError || r.Output != "stopped by the user" || time.Since(start) > time.Second {
		t.Errorf("cancelled sleep after %v: %+v", time.Since(start), r)
	}
	if r := run(t, context.Background(), s, "echo", `{"text":"still here"}`); r.IsError || r.Output != "main:still here" {
		t.Errorf("echo after cancel: %+v", r)
	}
	// The per-call timeout is an error of its own, not the user's doing.
	start = time.Now()
	r = run(t, context.Background(), s, "sleep", `{"seconds": 30}`)
	if !r.IsError || !strings.Contains(r.Output, "no answer within 500ms") || time.Since(start) > 2*time.Second {
		t.Errorf("timed-out sleep after %v: %+v", time.Since(start), r)
	}
	if r := run(t, context.Background(), s, "sleep", `{"seconds": 0.01}`); r.IsError || r.Output != "slept" {
		t.Errorf("sleep after timeout: %+v", r)
	}
}

// A server that does not start is reported, naming it and its command; the
// others go on. Tools both servers offer get the server's name.
func TestBrokenServersAndClashes(t *testing.T) {
	s := connect(t, Options{StartTimeout: 5 * time.Second, Taken: []string{"fail"}},
		testServer("main", "main"),
		Server{Name: "ghost", Command: []string{"natter-no-such-mcp-server", "--flag"}},
		testServer("quitter", "exit"),
		testServer("other", "other"),
	)
	errs := s.Errors()
	if len(errs) != 2 {
		t.Fatalf("errors: %v", errs)
	}
	if e := errs[0].Error(); !strings.Contains(e, `"ghost"`) || !strings.Contains(e, "natter-no-such-mcp-server --flag") {
		t.Errorf("ghost: %v", e)
	}
	if e := errs[1].Error(); !strings.Contains(e, `"quitter"`) || !strings.Contains(e, "giving up at once") {
		t.Errorf("quitter: %v", e)
	}
	var names []string
	for _, tl := range s.Tools() {
		names = append(names, tl.Spec().Name)
	}
	if got := strings.Join(names, " "); got != "big main__echo main__fail mixed pid sleep other__echo" {
		t.Fatalf("tools: %s", got)
	}
	if s.Source("other__echo") != "mcp:other" || s.Source("main__fail") != "mcp:main" {
		t.Errorf("sources: %q %q", s.Source("other__echo"), s.Source("main__fail"))
	}
	if r := run(t, context.Background(), s, "other__echo", `{"text":"b"}`); r.Output != "other:b" {
		t.Errorf("other__echo: %+v", r)
	}
	if r := run(t, context.Background(), s, "main__echo", `{"text":"a"}`); r.Output != "main:a" {
		t.Errorf("main__echo: %+v", r)
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// Close ends the server processes, leaves no goroutine behind and may be
// called again; calls after it fail at once.
func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := Connect(context.Background(), []Server{testServer("a", "main"), testServer("b", "main")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, name := range []string{"a__pid", "b__pid"} {
		r := run(t, context.Background(), s, name, "{}")
		var pid int
		if _, err := fmt.Sscan(r.Output, &pid); err != nil || !alive(pid) {
			t.Fatalf("%s: %+v", name, r)
		}
		pids = append(pids, pid)
	}
	echo := find(t, s, "a__echo")
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > closeGrace {
		t.Errorf("Close took %v", d)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still there after Close", pid)
		}
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	c, _ := echo.Prepare(`{"text":"late"}`)
	if r := c.Run(context.Background()); !r.IsError || !strings.Contains(r.Output, "closed") {
		t.Errorf("call after Close: %+v", r)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+1 {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after Close\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// A server that never answers the handshake is stopped at StartTimeout.
func TestStartTimeout(t *testing.T) {
	start := time.Now()
	s := connect(t, Options{StartTimeout: 300 * time.Millisecond}, Server{Name: "mute", Command: []string{"sleep", "30"}})
	errs := s.Errors()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `"mute" (sleep 30): no answer within 300ms`) || len(s.Tools()) != 0 {
		t.Errorf("errors: %v", errs)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}
