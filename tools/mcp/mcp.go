// Package mcp offers the tools of MCP servers (Model Context Protocol) as
// natter tools. Each server is a local program spoken to over its stdin and
// stdout (the stdio transport); its stderr goes to Options.Stderr, never to
// the terminal, which belongs to the UI.
//
// Naming: a tool keeps its own name (characters outside A-Z a-z 0-9 _ -
// turned into _, as OpenAI-style APIs accept only those). When two servers
// offer the same name, or the name is taken (Options.Taken, the built-in
// tools), each such tool is called SERVER__NAME instead; a dot would read
// better but the function-name pattern of OpenAI-compatible servers rejects
// it.
//
// Every call still goes through natter's approval: a tool counts as
// read-only only when its server says so (readOnlyHint), and that hint is
// the server's word, not something natter checks.
package mcp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"natter/tools"
)

// Server is one MCP server to start.
type Server struct {
	Name    string
	Command []string // program and arguments; the program is looked up in $PATH
	Env     []string // KEY=value added to natter's environment
	Dir     string   // working directory ("" for natter's)
	// URL is a streamable-HTTP server's endpoint, used instead of Command.
	URL string
}

// Options bound the servers and their calls.
type Options struct {
	Timeout      time.Duration // per call (default 60 s)
	StartTimeout time.Duration // start, handshake and tool list, per server (default 10 s)
	MaxOutput    int           // bytes of a result given to the model (default tools.DefaultMaxOutput)
	Stderr       io.Writer     // the servers' stderr (default io.Discard)
	Taken        []string      // names already in use (the built-in tools); clashing tools get a prefix
}

// Defaults for zero Options.
const (
	DefaultTimeout      = 60 * time.Second
	DefaultStartTimeout = 10 * time.Second
)

// closeGrace is how long a server may take to exit once its stdin is
// closed before it is sent SIGTERM (and as long again before SIGKILL).
const closeGrace = 2 * time.Second

// Set is the running servers and their tools.
type Set struct {
	opt    Options
	conns  []*conn
	tools  []tools.Tool
	source map[string]string
	errs   []error

	closeOnce sync.Once
	closeErr  error
}

// conn is one running server.
type conn struct {
	server  Server
	session *sdk.ClientSession
	cmd     *exec.Cmd
	stderr  *tail
	list    []*sdk.Tool

	closeOnce sync.Once
	closed    chan struct{}
}

// Connect starts the servers side by side and lists their tools. A server
// that fails to start, to shake hands or to list its tools within
// StartTimeout is stopped and reported in Errors; the others go on. The
// error is non-nil only when ctx ends first, and then nothing is left
// running.
func Connect(ctx context.Context, servers []Server, opt Options) (*Set, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = DefaultTimeout
	}
	if opt.StartTimeout <= 0 {
		opt.StartTimeout = DefaultStartTimeout
	}
	if opt.MaxOutput <= 0 {
		opt.MaxOutput = tools.DefaultMaxOutput
	}
	if opt.Stderr == nil {
		opt.Stderr = io.Discard
	}
	shared := &lockedWriter{w: opt.Stderr} // servers write at the same time

	type started struct {
		c   *conn
		err error
	}
	results := make([]started, len(servers))
	var wg sync.WaitGroup
	for i, sv := range servers {
		wg.Go(func() {
			c, err := start(ctx, sv, opt, shared)
			results[i] = started{c, err}
		})
	}
	wg.Wait()

	s := &Set{opt: opt, source: map[string]string{}}
	for _, r := range results {
		if r.err != nil {
			s.errs = append(s.errs, r.err)
		} else {
			s.conns = append(s.conns, r.c)
		}
	}
	if err := ctx.Err(); err != nil {
		s.Close()
		return nil, err
	}
	s.name()
	return s, nil
}

// start runs one server and lists its tools.
func start(ctx context.Context, sv Server, opt Options, stderr io.Writer) (*conn, error) {
	fail := func(err error) error {
		where := strings.Join(sv.Command, " ")
		if sv.URL != "" {
			where = sv.URL
		}
		return fmt.Errorf("mcp server %q (%s): %w", sv.Name, where, err)
	}
	if sv.URL != "" {
		return startHTTP(ctx, sv, opt, fail)
	}
	if len(sv.Command) == 0 || sv.Command[0] == "" {
		return nil, fail(errors.New("no command"))
	}
	cmd := exec.Command(sv.Command[0], sv.Command[1:]...)
	cmd.Env = append(os.Environ(), sv.Env...)
	cmd.Dir = sv.Dir
	c := &conn{server: sv, cmd: cmd, stderr: &tail{w: stderr, prefix: "[" + sv.Name + "] "}, closed: make(chan struct{})}
	cmd.Stderr = c.stderr
	// Something the server started may keep stderr open after it exits;
	// don't let Wait hang on it.
	cmd.WaitDelay = closeGrace
	ownGroup(cmd)

	// The SDK stops waiting for the handshake and the list when ctx ends;
	// c.close then ends the process.
	if err := c.open(ctx, &sdk.CommandTransport{Command: cmd, TerminateDuration: closeGrace}, opt); err != nil {
		if t := c.stderr.last(); t != "" {
			err = fmt.Errorf("%w; its stderr ends: %s", err, t)
		}
		return nil, fail(err)
	}
	return c, nil
}

// open shakes hands over t and lists the server's tools within the start
// timeout; on failure the server is closed.
func (c *conn) open(ctx context.Context, t sdk.Transport, opt Options) error {
	ctx, cancel := context.WithTimeout(ctx, opt.StartTimeout)
	defer cancel()
	client := sdk.NewClient(&sdk.Implementation{Name: "natter", Version: "1"}, nil)
	session, err := client.Connect(ctx, t, nil)
	c.session = session
	if err == nil {
		for tool, lerr := range session.Tools(ctx, nil) {
			if lerr != nil {
				err = fmt.Errorf("listing tools: %w", lerr)
				break
			}
			c.list = append(c.list, tool)
		}
	}
	if err != nil {
		c.close()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %v", opt.StartTimeout)
		}
	}
	return err
}

// startHTTP connects to a streamable-HTTP server and lists its tools. No
// standalone SSE stream: natter only needs answers to its own requests.
func startHTTP(ctx context.Context, sv Server, opt Options, fail func(error) error) (*conn, error) {
	c := &conn{server: sv, stderr: &tail{w: io.Discard}, closed: make(chan struct{})}
	if err := c.open(ctx, &sdk.StreamableClientTransport{Endpoint: sv.URL, DisableStandaloneSSE: true, MaxRetries: -1}, opt); err != nil {
		return nil, fail(err)
	}
	return c, nil
}

// close ends the server: stdin closed, then SIGTERM, then SIGKILL (the
// SDK's order), and then whatever it started in its process group.
func (c *conn) close() error {
	var err error
	c.closeOnce.Do(func() {
		if c.cmd == nil { // a streamable-HTTP server: only the session ends
			if c.session != nil {
				err = c.session.Close()
			}
			close(c.closed)
			return
		}
		if c.session != nil {
			err = c.session.Close()
		} else if c.cmd.Process != nil {
			killGroup(c.cmd)
			err = c.cmd.Wait()
		}
		killGroup(c.cmd)
		close(c.closed)
	})
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = nil // killed or exited non-zero on the way out: expected
	}
	return err
}

// name turns the listed tools into natter tools, with unique names.
func (s *Set) name() {
	count := map[string]int{}
	for _, n := range s.opt.Taken {
		count[n] = 2 // never unique
	}
	for _, c := range s.conns {
		for _, t := range c.list {
			count[cleanName(t.Name)]++
		}
	}
	for _, c := range s.conns {
		for _, t := range c.list {
			name := cleanName(t.Name)
			if count[name] > 1 {
				name = cleanName(c.server.Name) + "__" + name
			}
			if _, dup := s.source[name]; dup {
				s.errs = append(s.errs, fmt.Errorf("mcp server %q: tool %q left out: the name %q is taken", c.server.Name, t.Name, name))
				continue
			}
			s.source[name] = "mcp:" + c.server.Name
			s.tools = append(s.tools, newTool(s, c, name, t))
		}
	}
}

// cleanName keeps the characters tool names may hold.
func cleanName(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// Tools returns the servers' tools, server by server in the order given to
// Connect.
func (s *Set) Tools() []tools.Tool {
	if s == nil {
		return nil
	}
	return append([]tools.Tool(nil), s.tools...)
}

// Source says where a tool comes from, "mcp:SERVER", or "" if it is not
// one of the Set's.
func (s *Set) Source(name string) string {
	if s == nil {
		return ""
	}
	return s.source[name]
}

// Errors returns one error per server that did not start (or per tool left
// out), each naming the server and its command.
func (s *Set) Errors() []error {
	if s == nil {
		return nil
	}
	return append([]error(nil), s.errs...)
}

// Close ends every server process, side by side. Calls still running fail;
// calls made afterwards fail at once. Close may be called more than once.
func (s *Set) Close() error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() {
		errs := make([]error, len(s.conns))
		var wg sync.WaitGroup
		for i, c := range s.conns {
			wg.Go(func() {
				if err := c.close(); err != nil {
					errs[i] = fmt.Errorf("mcp server %q: %w", c.server.Name, err)
				}
			})
		}
		wg.Wait()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// lockedWriter serializes the servers' stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tail passes a server's stderr on, each line prefixed with the server's
// name, and keeps its end for the error should the server fail to start.
type tail struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  string
	midLine bool
	buf     []byte
}

const tailMax = 512

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailMax {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailMax:]...)
	}
	var out []byte
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line == "" {
			continue
		}
		if !t.midLine {
			out = append(out, t.prefix...)
		}
		out = append(out, line...)
		t.midLine = !strings.HasSuffix(line, "\n")
	}
	t.w.Write(out) // a failing log must not stop the server
	return len(p), nil
}

// last is the end of stderr as one sanitized line.
func (t *tail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(strings.ToValidUTF8(string(t.buf), ""))
	s = strings.Join(strings.Fields(tools.Sanitize(s)), " ")
	return s
}
