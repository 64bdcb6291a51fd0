package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"natter/prompts"
	"natter/prompts/toolcall"
	"natter/tools"
)

// ToolsConfig is what the model may call. Tools stay off until On or
// /tools on; every call is shown and, unless Yolo covers it, approved.
type ToolsConfig struct {
	Tools []tools.Tool
	// Source names where each tool comes from for /tools ("built-in",
	// "mcp:NAME"); missing names read "built-in".
	Source map[string]string
	On     bool
	// Yolo runs read-only calls inside the working directory unasked.
	Yolo bool
	// MaxSteps bounds the replies one message may lead to (0: 10).
	MaxSteps int
	// Format overrides the tool-call format found from the template.
	Format string
}

const defaultMaxSteps = 10

const writingCallNotice = "⚙ writing a tool call…"

// maxBadCalls is how many unreadable tool calls in a row the model gets
// another try for before the turn ends.
const maxBadCalls = 2

// agent is the tool part of one user turn: the calls of the last reply
// waiting to be approved and run, then the next reply.
type agent struct {
	steps   int // replies so far in this turn
	bad     int // unreadable calls in a row
	queue   []pendingCall
	ran     bool // some result was added since the last reply
	await   string
	cancel  context.CancelFunc // the running call
	started time.Time
}

// await values: what the pending call waits for.
const (
	awaitPrepare = "prepare" // its arguments are being checked
	awaitAnswer  = "answer"  // y/a/n/e
	awaitReason  = "reason"  // the refusal's reason, typed in the input
	awaitEdit    = "edit"    // edited arguments, in the input
	awaitRun     = "run"     // it is running
)

type pendingCall struct {
	call prompts.ToolCall
	prep *tools.Call
}

type toolPreparedMsg struct {
	seq  int
	prep *tools.Call
	err  error
}

type toolDoneMsg struct {
	seq int
	res tools.Result
}

// toolsState is the chat's tool settings.
type toolsState struct {
	cfg    *ToolsConfig
	on     bool
	always map[string]bool // tools the user answered "a" for, this chat
	format *toolcall.Format
	tmpl   prompts.ChatTemplate // the chat template with the tool definitions, while on
	seq    int                  // the live prepare/run (stale messages are dropped)
	ids    int                  // tool-call ids given out in this chat
}

// generatedID is the shape toolcall gives calls that came without an id.
var generatedID = regexp.MustCompile(`^call_\d+$`)

func (m *Model) toolList() []tools.Tool {
	if m.tools.cfg == nil {
		return nil
	}
	return m.tools.cfg.Tools
}

func (m *Model) lookupTool(name string) (tools.Tool, bool) {
	for _, t := range m.toolList() {
		if t.Spec().Name == name {
			return t, true
		}
	}
	return nil, false
}

// toolTemplate is the template with the tool definitions, and the call
// format the template writes.
func (m *Model) toolTemplate() (prompts.ChatTemplate, *toolcall.Format, error) {
	base := m.templateChain()
	if base == nil {
		return nil, nil, fmt.Errorf("%s formats prompts itself, so natter cannot describe tools to it", m.modelLabel())
	}
	defs := make([]any, 0, len(m.toolList()))
	for _, t := range m.toolList() {
		s := t.Spec()
		d, err := prompts.ToolDefinition(s.Name, s.Description, s.Parameters)
		if err != nil {
			return nil, nil, err
		}
		defs = append(defs, d)
	}
	t, err := prompts.WithTools(base, defs)
	if err != nil {
		return nil, nil, err
	}
	var f *toolcall.Format
	var ok bool
	if name := m.tools.cfg.Format; name != "" {
		if f, ok = toolcall.ByName(name); !ok {
			return nil, nil, fmt.Errorf("unknown tool-call format %q (%s)", name, strings.Join(toolcall.Names(), ", "))
		}
	} else if f, ok = toolcall.Detect(prompts.TemplateSource(t)); !ok {
		return nil, nil, fmt.Errorf("natter cannot tell how the chat template %s writes tool calls; name the format with --tool-format (%s)", t.Name(), strings.Join(toolcall.Names(), ", "))
	}
	return t, f, nil
}

// setToolsOn turns tools on or off; on fails with the reason when the
// model's template cannot take them.
func (m *Model) setToolsOn(on bool) error {
	if !on {
		m.tools.on, m.tools.format, m.tools.tmpl = false, nil, nil
		return nil
	}
	if len(m.toolList()) == 0 {
		return fmt.Errorf("no tools are available in this chat")
	}
	if m.gen == nil {
		return fmt.Errorf("no model is loaded")
	}
	t, f, err := m.toolTemplate()
	if err != nil {
		return err
	}
	m.tools.on, m.tools.format, m.tools.tmpl = true, f, t
	return nil
}

// toolsForModel redoes the tool template for a newly loaded model, whose
// template may write calls another way or take no tools at all.
func (m *Model) toolsForModel() {
	if !m.tools.on {
		return
	}
	if err := m.setToolsOn(true); err != nil {
		m.setToolsOn(false)
		m.addNote("Tools off: " + err.Error())
	}
}

func cmdTools(m *Model, arg string) tea.Cmd {
	switch strings.ToLower(arg) {
	case "on":
		if err := m.setToolsOn(true); err != nil {
			m.errLine = "Tools stay off: " + err.Error()
			return nil
		}
		m.addNote(fmt.Sprintf("Tools on (%d, calls written as %s); each call asks first%s.", len(m.toolList()), m.tools.format.Name, m.yoloNote()))
		return nil
	case "off":
		m.setToolsOn(false)
		m.addNote("Tools off: the model is told of no tools.")
		return nil
	case "":
	default:
		m.badInput("Usage: /tools [on|off]")
		return nil
	}
	if len(m.toolList()) == 0 {
		m.addNote("No tools in this chat: start natter with --tools.")
		return nil
	}
	state := "off (/tools on)"
	if m.tools.on {
		state = "on, calls written as " + m.tools.format.Name
	}
	lines := []string{"Tools " + state + ":"}
	list := append([]tools.Tool(nil), m.toolList()...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].Spec().Name < list[j].Spec().Name })
	for _, t := range list {
		name := t.Spec().Name
		src := m.tools.cfg.Source[name]
		if src == "" {
			src = "built-in"
		}
		lines = append(lines, fmt.Sprintf("  %-12s %-10s %s", name, src, m.approvalState(t)))
	}
	m.addNote(strings.Join(lines, "\n"))
	return nil
}

func (m *Model) toolNames() string {
	names := make([]string, 0, len(m.toolList()))
	for _, t := range m.toolList() {
		names = append(names, t.Spec().Name)
	}
	return strings.Join(names, ", ")
}

func (m *Model) yoloNote() string {
	if m.tools.cfg != nil && m.tools.cfg.Yolo {
		return ", except read-only ones inside this folder (--yolo)"
	}
	return ""
}

func (m *Model) approvalState(t tools.Tool) string {
	switch name := t.Spec().Name; {
	case m.tools.always[name]:
		return "runs unasked this chat (you answered a)"
	case t.ReadOnly() && m.tools.cfg.Yolo:
		return "read-only: runs unasked inside this folder (--yolo)"
	case t.ReadOnly():
		return "read-only: asks"
	default:
		return "asks every time"
	}
}

// ---- the agent loop ----

// takeToolCalls makes the finished reply's calls the turn's next steps:
// msg keeps the text outside the calls and gains the calls.
func (m *Model) takeToolCalls(content string, calls []prompts.ToolCall, bad []toolcall.Malformed, msg *prompts.Message) {
	a := m.agent
	if a == nil {
		a = &agent{}
		m.agent = a
	}
	a.steps++
	msg.Content = content
	for i := range calls {
		// Numbered by position in their reply unless the model gave ids:
		// make them unique in the chat, 9 letters and digits (Mistral's
		// templates refuse any other shape).
		if calls[i].ID == "" || generatedID.MatchString(calls[i].ID) {
			m.tools.ids++
			calls[i].ID = fmt.Sprintf("call%05d", m.tools.ids)
		}
	}
	msg.ToolCalls = calls
	a.ran = false
	if len(bad) > 0 {
		// Told to the model before the good calls' results.
		reasons := make([]string, len(bad))
		for i, b := range bad {
			reasons[i] = b.Reason
		}
		m.pendingBad = strings.Join(reasons, "; ")
	}
	if len(calls) == 0 {
		a.bad++
		return
	}
	a.bad = 0
	for _, c := range calls {
		a.queue = append(a.queue, pendingCall{call: c})
	}
}

// agentNext moves the turn on: prepare the next call, or, with every call
// answered, ask the model for its next reply.
func (m *Model) agentNext() tea.Cmd {
	a := m.agent
	if a == nil {
		return nil
	}
	if m.pendingBad != "" {
		why := m.pendingBad
		m.pendingBad = ""
		if a.bad > maxBadCalls {
			m.agent = nil
			m.addNote(fmt.Sprintf("The model wrote %d unreadable tool calls in a row (%s); the turn ends here.", a.bad, why))
			return nil
		}
		m.addToolResult(prompts.ToolCall{Name: "?"}, fmt.Sprintf("error: your tool call could not be read (%s). Write it again in the tool-call format, with the arguments as a JSON object.", why), true)
		a.ran = true
	}
	if len(a.queue) == 0 {
		if !a.ran {
			m.agent = nil
			return nil
		}
		limit := defaultMaxSteps
		if m.tools.cfg.MaxSteps > 0 {
			limit = m.tools.cfg.MaxSteps
		}
		if a.steps >= limit {
			m.agent = nil
			m.addNote(fmt.Sprintf("Stopped after %d tool steps (--max-steps); send a message to let the model go on.", a.steps))
			return nil
		}
		a.ran = false
		return m.startGen()
	}
	pc := a.queue[0]
	t, ok := m.lookupTool(pc.call.Name)
	if !ok {
		a.queue = a.queue[1:]
		names := make([]string, 0, len(m.toolList()))
		for _, t := range m.toolList() {
			names = append(names, t.Spec().Name)
		}
		m.addToolNote(pc.call.Name+" "+oneLine(pc.call.Arguments), "unknown tool")
		m.addToolResult(pc.call, fmt.Sprintf("error: there is no tool named %q; the tools are %s", pc.call.Name, strings.Join(names, ", ")), true)
		a.ran = true
		return m.agentNext()
	}
	return m.prepareCall(t, pc.call.Arguments)
}

func (m *Model) prepareCall(t tools.Tool, args string) tea.Cmd {
	m.tools.seq++
	seq := m.tools.seq
	m.agent.await = awaitPrepare
	return func() tea.Msg {
		prep, err := t.Prepare(args)
		return toolPreparedMsg{seq: seq, prep: prep, err: err}
	}
}

func (m Model) handleToolPrepared(msg toolPreparedMsg) (tea.Model, tea.Cmd) {
	a := m.agent
	if a == nil || msg.seq != m.tools.seq || len(a.queue) == 0 {
		return m, nil
	}
	pc := &a.queue[0]
	if msg.err != nil {
		a.queue = a.queue[1:]
		m.addToolNote(pc.call.Name+" "+oneLine(pc.call.Arguments), "refused: "+oneLine(msg.err.Error()))
		m.addToolResult(pc.call, "error: "+msg.err.Error(), true)
		a.ran = true
		return m, tea.Batch(m.agentNext(), m.flushPrints())
	}
	pc.prep = msg.prep
	if pc.call.Arguments != msg.prep.Args {
		pc.call.Arguments = msg.prep.Args
		m.setCallArgs(pc.call)
	}
	show := msg.prep.Summary
	if msg.prep.Preview != "" {
		show += "\n" + msg.prep.Preview
	}
	yolo := m.tools.cfg.Yolo
	if !msg.prep.NeedsApproval(yolo) || (m.tools.always[pc.call.Name] && len(msg.prep.Outside) == 0) {
		m.addToolNote(show, "")
		return m, tea.Batch(m.runCall(), m.flushPrints())
	}
	m.addToolNote(show, "")
	a.await = awaitAnswer
	return m, m.flushPrints()
}

// setCallArgs makes the conversation hold a call as it will run (edited
// or normalized arguments), so the model sees what was done.
func (m *Model) setCallArgs(c prompts.ToolCall) {
	for i := len(m.msgs) - 1; i >= 0; i-- {
		calls := m.msgs[i].ToolCalls
		for j := range calls {
			if calls[j].ID == c.ID {
				calls = append([]prompts.ToolCall(nil), calls...)
				calls[j] = c
				m.msgs[i].ToolCalls = calls
				m.recordRewrite()
				return
			}
		}
	}
}

// approvalLines is the question under the transcript while a call waits.
func (m Model) approvalLines() []string {
	a := m.agent
	if a == nil || len(a.queue) == 0 {
		return nil
	}
	pc := a.queue[0]
	w := max(m.width, 20)
	switch a.await {
	case awaitAnswer:
		lines := []string{}
		if pc.prep != nil && len(pc.prep.Outside) > 0 {
			lines = append(lines, m.st.warn.Render(truncate("  ⚠ outside this folder: "+strings.Join(pc.prep.Outside, ", "), w)))
		}
		q := fmt.Sprintf("  Run %s?  y yes · a always %s this chat · n no · e edit · Esc stop", pc.call.Name, pc.call.Name)
		return append(lines, m.st.accent.Render(truncate(q, w)))
	case awaitReason:
		return []string{m.st.dim.Render(truncate("  Why not? Type a reason for the model and press Enter (empty: none); Esc stops.", w))}
	case awaitEdit:
		return []string{m.st.dim.Render(truncate("  Edit the arguments (JSON) and press Enter; Esc stops.", w))}
	case awaitRun:
		return []string{m.st.dim.Render(truncate(fmt.Sprintf("  Running %s… (%s) · Esc stops it", pc.call.Name, m.now().Sub(a.started).Round(time.Second)), w))}
	case awaitPrepare:
		return []string{m.st.dim.Render(truncate("  Checking "+pc.call.Name+"…", w))}
	}
	return nil
}

func truncate(s string, w int) string {
	if r := []rune(s); len(r) > w {
		return string(r[:w-1]) + "…"
	}
	return s
}

// toolKey handles keys while a call waits for an answer; ok=false lets the
// key through (typing a reason or edited arguments).
func (m Model) toolKey(key string) (tea.Model, tea.Cmd, bool) {
	a := m.agent
	if a == nil || len(a.queue) == 0 {
		return m, nil, false
	}
	if key == "esc" {
		return m, tea.Batch(m.stopAgent("stopped by the user"), m.flushPrints()), true
	}
	pc := &a.queue[0]
	switch a.await {
	case awaitAnswer:
		switch key {
		case "y":
			return m, m.runCall(), true
		case "a":
			m.tools.always[pc.call.Name] = true
			return m, m.runCall(), true
		case "n":
			a.await = awaitReason
			m.input.Reset()
			return m, nil, true
		case "e":
			a.await = awaitEdit
			m.setInputText(indentJSON(pc.call.Arguments))
			return m, nil, true
		case "ctrl+c", "ctrl+d":
			return m, nil, false
		}
		return m, nil, true // other keys mean nothing here
	case awaitReason, awaitEdit:
		if key == "enter" {
			return m, m.toolSubmit(), true
		}
	case awaitRun, awaitPrepare:
		if key == "ctrl+c" || key == "ctrl+d" {
			return m, nil, false
		}
		return m, nil, true
	}
	return m, nil, false
}

// toolSubmit takes the input as the refusal's reason or the edited
// arguments (Enter, or the end of a typed burst).
func (m *Model) toolSubmit() tea.Cmd {
	a := m.agent
	pc := a.queue[0]
	text := strings.TrimSpace(m.expandPastes(m.input.Value()))
	m.input.Reset()
	if a.await == awaitEdit {
		t, ok := m.lookupTool(pc.call.Name)
		if !ok {
			return nil
		}
		return m.prepareCall(t, text)
	}
	a.queue = a.queue[1:]
	out := "the user refused this call"
	if text != "" {
		out += ": " + text
	}
	m.addToolNote("", "refused"+suffix(text))
	m.addToolResult(pc.call, out, true)
	a.ran = true
	return tea.Batch(m.agentNext(), m.flushPrints())
}

func suffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}

func indentJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return s
	}
	return string(b)
}

func (m *Model) runCall() tea.Cmd {
	a := m.agent
	pc := a.queue[0]
	ctx, cancel := context.WithCancel(m.baseCtx)
	a.cancel, a.await, a.started = cancel, awaitRun, m.now()
	m.tools.seq++
	seq := m.tools.seq
	return tea.Batch(func() tea.Msg {
		defer cancel()
		return toolDoneMsg{seq: seq, res: pc.prep.Run(ctx)}
	}, toolTick(seq))
}

type toolTickMsg struct{ seq int }

// toolTick redraws the running call's clock.
func toolTick(seq int) tea.Cmd {
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return toolTickMsg{seq} })
}

func (m Model) handleToolDone(msg toolDoneMsg) (tea.Model, tea.Cmd) {
	a := m.agent
	if a == nil || msg.seq != m.tools.seq || len(a.queue) == 0 {
		return m, nil
	}
	pc := a.queue[0]
	a.queue, a.cancel = a.queue[1:], nil
	res := msg.res
	status := fmt.Sprintf("%s · %s", humanBytes(len(res.Output)), res.Duration.Round(time.Millisecond))
	if res.IsError {
		status = "failed · " + status
	}
	if res.Truncated {
		status += " · cut for the context"
	}
	m.addEntry(&entry{kind: entryTool, toolResult: true, text: tools.Sanitize(previewLines(res.Output, 4)), footer: status})
	m.addToolResult(pc.call, res.Output, res.IsError)
	a.ran = true
	if ctxErr := m.baseCtx.Err(); ctxErr != nil || a.await == "stopping" {
		return m, tea.Batch(m.stopAgent("stopped by the user"), m.flushPrints())
	}
	return m, tea.Batch(m.agentNext(), m.flushPrints())
}

// stopAgent ends the turn's tool steps: a running call is killed (its
// result still arrives and is kept); calls not yet run get a result saying
// so, so every call in the conversation has its answer.
func (m *Model) stopAgent(why string) tea.Cmd {
	a := m.agent
	if a == nil {
		return nil
	}
	if a.await == awaitRun && a.cancel != nil {
		a.cancel()
		a.await = "stopping"
		return nil
	}
	for _, pc := range a.queue {
		m.addToolResult(pc.call, "not run: "+why, true)
	}
	if len(a.queue) > 0 {
		m.addNote(fmt.Sprintf("Tool calls stopped (%s); send a message to go on.", plural(len(a.queue), "call not run", "calls not run")))
	}
	m.agent = nil
	m.input.Reset()
	return nil
}

// addToolResult puts a call's result into the conversation.
func (m *Model) addToolResult(c prompts.ToolCall, output string, isErr bool) {
	msg := prompts.Message{Role: prompts.RoleTool, Content: output, ToolCallID: c.ID, Name: c.Name}
	m.msgs = append(m.msgs, msg)
	m.record(func(r Recorder) error { return r.Append(msg) })
}

// addToolNote shows a call or its result in the transcript.
func (m *Model) addToolNote(text, status string) {
	m.addEntry(&entry{kind: entryTool, text: tools.Sanitize(text), footer: status})
}

// previewLines is the first n lines of s, with a count of the rest.
func previewLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	return strings.Join(lines[:n], "\n") + fmt.Sprintf("\n… %d more lines", len(lines)-n)
}
