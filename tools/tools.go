package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Spec describes a tool to the model: OpenAI function shape.
type Spec struct {
	Name        string
	Description string
	Parameters  json.RawMessage // a JSON Schema object
}

// JSON returns the OpenAI tool definition as a plain Go value, the form chat
// templates get in their `tools` variable.
func (s Spec) JSON() map[string]any {
	var params any
	if err := json.Unmarshal(s.Parameters, &params); err != nil || params == nil {
		params = map[string]any{"type": "object", "properties": map[string]any{}}
	}
	return map[string]any{
		"type": "function",
		"function": map[string]any{
			"name":        s.Name,
			"description": s.Description,
			"parameters":  params,
		},
	}
}

// Tool is one tool the model can call.
type Tool interface {
	Spec() Spec
	ReadOnly() bool
	// Prepare validates the arguments (a JSON object as text) and returns
	// the call, ready to show and run. Bad arguments are an *ArgError
	// whose message the model can act on (which field, what was wrong).
	Prepare(args string) (*Call, error)
}

// Call is a prepared tool call: checked, resolved and described, not yet run.
type Call struct {
	Tool     string
	Args     string   // the normalized arguments as JSON text
	Summary  string   // one line for the approval prompt; sanitized
	Preview  string   // more detail when useful (diffs, multi-line commands); sanitized
	Outside  []string // resolved paths outside the root this call touches
	ReadOnly bool

	run       func(ctx context.Context) outcome
	maxOutput int
}

// outcome is what a tool's run step hands back to Call.Run.
type outcome struct {
	text      string
	isErr     bool
	truncated bool
	final     bool // text is already sanitized and bounded
}

func failf(format string, a ...any) outcome {
	return outcome{text: fmt.Sprintf(format, a...), isErr: true}
}

const stoppedByUser = "stopped by the user"

// NeedsApproval reports whether the user must approve the call. yolo skips
// approval only for read-only calls inside the root.
func (c *Call) NeedsApproval(yolo bool) bool {
	if c == nil || !yolo {
		return true
	}
	return !c.ReadOnly || len(c.Outside) > 0
}

// Run executes the call. Cancelling ctx stops it at once. Run never panics.
func (c *Call) Run(ctx context.Context) (res Result) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			res = Result{Output: Sanitize(fmt.Sprintf("internal error: %v", r)), IsError: true}
		}
		res.Duration = time.Since(start)
	}()
	if c == nil || c.run == nil {
		return Result{Output: "invalid call: it was not prepared", IsError: true}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if ctx.Err() != nil {
		return Result{Output: stoppedByUser, IsError: true}
	}
	o := c.run(ctx)
	if o.final {
		return Result{Output: o.text, IsError: o.isErr, Truncated: o.truncated}
	}
	text, cut := clipHead(Sanitize(o.text), c.maxOutput)
	return Result{Output: text, IsError: o.isErr, Truncated: o.truncated || cut}
}

// Result is what a call produced.
type Result struct {
	Output    string // what the model gets, at most Box.MaxOutput plus a note
	IsError   bool   // the tool failed; a command's non-zero exit is not a failure
	Truncated bool
	Duration  time.Duration
}

// Box is where tools act and their bounds.
type Box struct {
	Root      string        // working directory; paths resolve against it (absolute after New)
	MaxOutput int           // bytes of output given to the model (default 16 KiB)
	MaxRead   int64         // largest part of a file read_file/grep read (default 1 MiB)
	Timeout   time.Duration // run_command limit (default 60 s)
	Env       []string      // environment for commands (nil: os.Environ())
}

// Defaults for a zero Box.
const (
	DefaultMaxOutput = 16 << 10
	DefaultMaxRead   = 1 << 20
	DefaultTimeout   = 60 * time.Second
)

// Set is the tools bound to one Box.
type Set struct {
	box    Box
	tools  []Tool
	byName map[string]Tool
}

// New fills the Box's defaults, resolves its Root (filepath.Abs and
// EvalSymlinks, so that inside/outside checks compare real paths) and
// returns the tools acting in it.
func New(b Box) (*Set, error) {
	if b.Root == "" {
		b.Root = "."
	}
	abs, err := filepath.Abs(b.Root)
	if err != nil {
		return nil, fmt.Errorf("tools: root: %w", err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("tools: root: %w", err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("tools: root: %w", err)
	}
	if !st.IsDir() {
		return nil, errors.New("tools: root " + real + " is not a directory")
	}
	b.Root = real
	if b.MaxOutput <= 0 {
		b.MaxOutput = DefaultMaxOutput
	}
	if b.MaxRead <= 0 {
		b.MaxRead = DefaultMaxRead
	}
	if b.Timeout <= 0 {
		b.Timeout = DefaultTimeout
	}
	s := &Set{box: b}
	s.tools = []Tool{
		readFileTool{s}, listDirTool{s}, grepTool{s},
		runCommandTool{s}, writeFileTool{s}, editFileTool{s},
	}
	s.byName = make(map[string]Tool, len(s.tools))
	for _, t := range s.tools {
		s.byName[t.Spec().Name] = t
	}
	return s, nil
}

// Builtin returns all six tools in a stable order.
func (s *Set) Builtin() []Tool { return append([]Tool(nil), s.tools...) }

// ReadOnly returns the read-only tools: read_file, list_dir, grep.
func (s *Set) ReadOnly() []Tool {
	var out []Tool
	for _, t := range s.tools {
		if t.ReadOnly() {
			out = append(out, t)
		}
	}
	return out
}

// Lookup finds a tool by name.
func (s *Set) Lookup(name string) (Tool, bool) {
	t, ok := s.byName[name]
	return t, ok
}

// Box returns the Box with its defaults filled in.
func (s *Set) Box() Box {
	b := s.box
	b.Env = slices.Clone(b.Env) // nil stays nil: it means os.Environ()
	return b
}

// newCall starts a Call with the fields every tool sets the same way.
func (s *Set) newCall(tool string, readOnly bool, args any) *Call {
	return &Call{Tool: tool, Args: encodeArgs(args), ReadOnly: readOnly, maxOutput: s.box.MaxOutput}
}

// ArgError is a bad argument to a tool, worded for the model to act on.
type ArgError struct{ Tool, Field, Reason string }

func (e *ArgError) Error() string {
	if e.Field == "" {
		return e.Tool + ": " + e.Reason
	}
	return e.Tool + ": " + e.Field + ": " + e.Reason
}
