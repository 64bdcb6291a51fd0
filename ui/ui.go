// Package ui is natter's interactive chat: one Bubble Tea model that streams
// replies from an api.Generator, renders them as Markdown, and keeps the
// conversation. It imports prompts and engine/api only (never the engine,
// not even through another package), so its tests run without cgo.
package ui

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"charm.land/bubbles/v2/textarea"
	tea "charm.land/bubbletea/v2"

	"natter/engine/api"
	"natter/prompts"
	"natter/prompts/grammar"
	"natter/prompts/toolcall"
	"natter/tools"
)

// Config is everything the chat needs from the command line.
type Config struct {
	Gen         api.Generator // nil: no model found, show the first-run screen
	NoModelHelp string        // shown when Gen is nil: where we looked, how to pass a model
	// LoadModel opens another model for /model PATH; nil disables /model.
	LoadModel func(path string) (api.Generator, error)

	System    string
	Persona   string // shown in the header only; its text is expected in System
	Sampling  api.Sampling
	MaxTokens int
	// Format constrains every reply (--json, --json-schema, --grammar);
	// /set schema and /set grammar change it. nil: free text.
	Format   *grammar.Format
	Template prompts.ChatTemplate // nil: the engine's default
	// ModelName names a model in the header, status line, history and
	// exports (e.g. its catalog name); nil or "": DefaultModelName.
	ModelName func(api.ModelInfo) string
	// LocalModels lists the models on this machine for /model (it reads
	// the disk; called in a command); nil: /model lists nothing.
	LocalModels func() []LocalModel
	// InputHistory is what Up recalls from earlier sessions, oldest first.
	InputHistory []string
	// SaveInput keeps a sent line for later sessions; it must not block
	// (Update calls it). nil: nothing is kept.
	SaveInput func(line string)
	// Title is the resumed chat's title (exports, /save's file name).
	Title string
	// ResumedModel is the model a resumed chat was saved with: the chat
	// says so when another one is loaded.
	ResumedModel string

	Fullscreen bool
	Theme      string // "auto" (or ""), "dark", "light"
	NoColor    bool   // set by Run when NO_COLOR is present

	Recorder Recorder          // nil: nothing is saved
	Messages []prompts.Message // a conversation to resume (a leading system message sets System)
	// ResumeNote is shown after a resumed conversation (e.g. that the
	// engine cannot restore its state, so the first reply re-reads it).
	ResumeNote string

	// Personas are the named system prompts for /prompt NAME; nil disables it.
	Personas Personas
	// History finds and reopens saved chats (/history, /resume, /rename);
	// nil: history is off.
	History History
	// OpenHistory starts with the /history picker open (natter --resume
	// with no ID): Enter resumes the chosen chat, Esc starts a new one.
	OpenHistory bool

	// Catalog lists models to download on the first-run screen (no model);
	// nil shows only NoModelHelp. It must not touch the network.
	Catalog func() []CatalogItem
	// Pull downloads a catalog model and returns its path; cancelling ctx
	// stops it, keeping the partial file for a later resume.
	Pull func(ctx context.Context, name string, progress func(PullProgress)) (string, error)
	// Offline: downloads are forbidden (NATTER_OFFLINE).
	Offline bool

	// Tools the model may call (--tools); nil: none, /tools says so.
	Tools *ToolsConfig
}

// Personas renders named system prompts.
type Personas interface {
	Names() []string
	// SystemPrompt renders persona name for the given model.
	SystemPrompt(name, model string) (string, error)
	// Watch calls onChange after persona files change on disk, until ctx
	// ends; err reports a broken file (its last good version stays in use).
	Watch(ctx context.Context, onChange func(err error))
}

// LoadWarner is a generator that has warnings about the file it loaded
// (Config.LoadModel's result); /model shows them.
type LoadWarner interface {
	LoadWarnings() []string
}

// History is the saved-chat store as the chat uses it.
type History interface {
	// FindChats lists chats matching query (all when empty), newest first.
	FindChats(ctx context.Context, query string, limit int) ([]ChatSummary, error)
	// Resume makes chat id the one being recorded and returns it. The UI
	// calls Resume and Rename in order with the Recorder's calls.
	Resume(ctx context.Context, id int64) (*SavedChat, error)
	// Rename sets the title of the chat being recorded.
	Rename(title string) error
}

// ChatSummary is one row of the /history picker.
type ChatSummary struct {
	ID       int64
	Title    string
	Model    string
	Persona  string
	Updated  time.Time
	Messages int
}

// SavedChat is a resumed conversation: Messages as the engine takes them (a
// leading system message is the system prompt).
type SavedChat struct {
	ID       int64
	Title    string
	Persona  string
	Messages []prompts.Message
	Note     string        // shown after the conversation (see Config.ResumeNote)
	Model    string        // the model it was saved with ("" unknown)
	Sampling *api.Sampling // its sampling settings (nil: not saved)
}

// SettingsRecorder is implemented by Recorders that also save the chat's
// settings, so a resumed chat gets them back.
type SettingsRecorder interface {
	// SetSampling saves the sampling settings (/set).
	SetSampling(s api.Sampling) error
	// SetModel says the chat goes on with another model.
	SetModel(model string) error
}

// CatalogItem is a downloadable model on the first-run screen.
type CatalogItem struct {
	Name, Description string
	Size              int64  // bytes, approximate
	SizeText          string // Size as `natter models --catalog` writes it ("" : computed here)
	FitMark, Fit      string // e.g. "✓", "fits"
	Downloaded        string // local path when already on disk
	// Recommended: the model suggested for this machine's memory; the
	// picker starts on it.
	Recommended bool
	// Unverified: its download could not be confirmed when the catalog was
	// written, so the pull may fail.
	Unverified bool
}

// PullProgress is a download's progress.
type PullProgress struct {
	Phase       string // connecting, downloading, verifying, done
	Done, Total int64  // Total -1: unknown
	Speed       float64
	ETA         time.Duration // -1: unknown
	Warning     string        // e.g. memory or disk space concerns
}

// Recorder saves the conversation while it happens. Calls are made in order
// on one goroutine of their own, never from Update, so a slow disk never
// stalls the screen. A reply is reported by zero or more Checkpoint calls
// carrying its whole text so far (it only grows) and then exactly one Finish.
type Recorder interface {
	// NewChat starts a conversation (at start-up, /new, the first model
	// loaded on the first-run screen).
	NewChat(model, system string) error
	// Append adds a finished message (the user's turns).
	Append(msg prompts.Message) error
	// Checkpoint saves the reply being streamed (at most every 500 ms while
	// text arrives).
	Checkpoint(reply prompts.Message) error
	// Finish ends the reply. stats is nil when the user stopped it before the
	// engine reported; stopReason is an api.Stop* value or "error".
	Finish(reply prompts.Message, stats *api.Stats, stopReason string) error
	// Rewrite says the conversation was cut back (/undo, /retry, /edit, a
	// failed turn): after the system prompt it now holds exactly msgs.
	Rewrite(msgs []prompts.Message) error
	// SetSystem changes the system prompt and persona ("" none) of the
	// conversation being recorded, in place (/system, /prompt NAME, a
	// persona file edited on disk): it stays one chat.
	SetSystem(system, persona string) error
}

// Run shows the chat until the user quits or ctx ends.
func Run(ctx context.Context, cfg Config, in io.Reader, out io.Writer) error {
	return run(ctx, cfg, in, out)
}

func run(ctx context.Context, cfg Config, in io.Reader, out io.Writer, extra ...tea.ProgramOption) error {
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		cfg.NoColor = true
	}
	m := New(cfg)
	m.baseCtx = ctx
	// The renderer repaints at the pump's rate (frameInterval), not 60 fps.
	opts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithFPS(30)}
	if in != nil {
		opts = append(opts, tea.WithInput(in))
	}
	if out != nil {
		opts = append(opts, tea.WithOutput(out))
	}
	p := tea.NewProgram(m, append(opts, extra...)...)
	if m.rec != nil {
		m.rec.onErr = func(err error) { go p.Send(recordErrMsg{err}) }
	}
	final, err := p.Run()
	if fm, ok := final.(Model); ok {
		fm.shutdown()
	} else {
		m.shutdown()
	}
	if err == tea.ErrProgramKilled && ctx.Err() != nil {
		return nil
	}
	return err
}

// Model is the whole chat state. Sub-parts are plain structs; everything
// that touches the outside world (the engine, files, $EDITOR, history)
// happens in a tea.Cmd.
type Model struct {
	cfg     Config
	baseCtx context.Context
	now     func() time.Time

	gen  api.Generator
	info api.ModelInfo
	lora loraState // the model's LoRA adapters (lora.go)
	// attach are the files waiting to go with the next message (attach.go).
	attach []prompts.Attachment

	width, height int
	fullscreen    bool
	themeName     string // "dark", "light", "plain"
	themeFixed    bool
	st            *palette
	md            *mdRenderer

	// input is shared by copies of the model: it is most of its size, and
	// Update copies the model for every key.
	input      *textarea.Model
	inputCache *viewCache
	pastes     map[string]string
	pathComp   pathCompletion // the candidates of the last ambiguous path completion
	burst      []byte         // typed text not yet in the input (see burstTick)
	burstSeen  int            // burstLen() when its timer was last set
	burstKey   string         // the Enter or Tab that ends the burst so far ("" none)
	burstSeq   int            // the live burst timer
	reuseView  bool           // this update changed nothing on screen
	updates    int            // Update calls so far (whether viewMemo is the last frame)
	viewMemo   *viewCache
	pasteSeq   int
	history    []string
	histIdx    int
	sentRaw    string         // the last message as typed (paste placeholders folded)
	histEdits  map[int]string // input history entries edited while walking it; len(history) is the draft

	system    string
	title     string // the chat's title: resumed, /rename, or its first message
	msgs      []prompts.Message
	sampling  api.Sampling
	maxTokens int
	format    *grammar.Format // the reply format; nil: free text

	entries      []*entry
	cur          *reply
	clipboard    string // last text sent to the clipboard
	draining     *pump  // a stopped stream still being drained
	genSeq       int
	last         *api.Stats
	ctxNow       int    // context the conversation takes after a cut (/undo), -1: m.last says
	ctxSeq       int    // the live context count
	statsPending bool   // /stats was asked during a reply: show its figures at its end
	busy         string // a slow command is running ("loading model…")

	overlay      string // "help", "pager" or ""
	helpTop      int    // first help line shown when it does not fit
	showThinking bool
	errLine      string
	keepInput    bool // the command just run failed on input the user must edit
	notice       string
	quitArmed    time.Time

	// inline mode: rendered text waiting to go into the scrollback
	printQ     []string
	printing   bool
	frames     *frameLog // heights of recent inline frames (shared by copies)
	opened     bool      // the opening entries went to the scrollback
	quitting   bool
	scrollback []string // everything handed to the terminal's scrollback, in order
	// A width change repaints the transcript (see repaint) once the size
	// settles; repaintSeq drops the ticks of earlier sizes.
	repaintSeq    int
	repaintWanted bool   // asked while a print was in flight
	clearFirst    bool   // the next print starts by clearing screen and scrollback
	redrawAfter   bool   // when the prints are done, the renderer redraws its frame
	fallbackNoted string // the template-fallback note last shown

	// fullscreen transcript scrolling
	scrollTop int
	follow    bool

	rec *recQueue

	compact     *compaction  // /compact's summary of older turns
	sentReq     *api.Request // the last prompt sent (/prompt shows it)
	localModels []LocalModel // the list /model showed last (/model N)
	dropped     int          // turns the last prompt left out (notes say when it changes)

	persona   string     // current persona name ("" none)
	personaCh chan error // persona file changes, from Personas.Watch
	pager     *pager     // /template
	picker    *chatPicker
	catalog   []CatalogItem

	tools      toolsState
	agent      *agent // the tool steps of the turn under way (nil: none)
	pendingBad string // why the last reply's tool calls could not be read
	catSel     int
	pull       *pullState
}

type entryKind int

const (
	entryUser entryKind = iota
	entryAssistant
	entryNote
	entryError
	entryBanner
	entryTool // a tool call or its result; footer is its status
)

// entry is one item of the visible transcript.
type entry struct {
	kind        entryKind
	text        string
	think       string
	thinkTokens int
	footer      string // "stopped", error text…
	toolResult  bool   // entryTool: a result, not a call
	blocks      []block

	lines []string // rendered for fullscreen at width
	width int
	exp   bool // showThinking when lines were rendered
}

// reply is the answer being streamed.
type reply struct {
	id          int
	format      *grammar.Format // checked when the reply is done
	doc         *streamDoc
	split       prompts.Splitter
	answer      strings.Builder // the reply exactly as the model wrote it
	think       strings.Builder
	thinkShow   strings.Builder // think, made safe to draw
	thinkTokens int
	tokens      int
	started     time.Time
	firstAt     time.Time
	cancel      context.CancelFunc
	pump        *pump
	flushed     int  // blocks already printed (inline)
	thinkShown  bool // reasoning summary printed (inline)
	lastCkpt    time.Time
	stopped     bool
	// prefill: the engine's prompt figures for this turn (nil until the
	// prompt is processed); with tokens it gives live context use.
	prefill *api.Stats
	// sent is the request's messages (to name turns left out).
	sent []prompts.Message
	// compactUpto > 0: this reply is /compact's summary of msgs[:compactUpto].
	compactUpto int
	// calls reads tool calls out of the reply (nil: tools are off); shown
	// is the answer text drawn so far, the rest being held back.
	calls *toolcall.Stream
	shown strings.Builder
}

// New builds the model; Run uses it, tests drive it directly.
func New(cfg Config) Model {
	m := Model{
		cfg:        cfg,
		baseCtx:    context.Background(),
		now:        time.Now,
		gen:        cfg.Gen,
		fullscreen: cfg.Fullscreen,
		system:     cfg.System,
		title:      cfg.Title,
		persona:    cfg.Persona,
		sampling:   cfg.Sampling,
		maxTokens:  cfg.MaxTokens,
		format:     cfg.Format,
		pastes:     map[string]string{},
		inputCache: &viewCache{},
		viewMemo:   &viewCache{},
		frames:     &frameLog{},
		follow:     true,
		ctxNow:     -1,
		width:      80,
		height:     24,
	}
	if m.sampling == (api.Sampling{}) {
		m.sampling = api.DefaultSampling()
	}
	if m.gen != nil {
		m.info = m.gen.Info()
	}
	switch {
	case cfg.NoColor:
		m.themeName, m.themeFixed = "plain", true
	case cfg.Theme == "light" || cfg.Theme == "dark":
		m.themeName, m.themeFixed = cfg.Theme, true
	default:
		m.themeName = "dark"
	}
	for _, msg := range cfg.Messages {
		if msg.Role == prompts.RoleSystem && len(m.msgs) == 0 {
			m.system = msg.Content
			continue
		}
		m.msgs = append(m.msgs, msg)
	}
	if cfg.Recorder != nil {
		m.rec = newRecQueue(cfg.Recorder)
	}
	ta := newInput()
	m.input = &ta
	m.history = append([]string(nil), cfg.InputHistory...)
	m.histIdx = len(m.history)
	m.applyTheme()
	m.resize(m.width, m.height)

	// The opening entries are printed once the real width is known.
	m.entries = append(m.entries, &entry{kind: entryBanner})
	for _, msg := range m.msgs {
		switch msg.Role {
		case prompts.RoleUser:
			m.entries = append(m.entries, &entry{kind: entryUser, text: userText(msg)})
		case prompts.RoleAssistant:
			if msg.Content != "" || msg.Reasoning != "" || len(msg.ToolCalls) == 0 {
				m.entries = append(m.entries, m.finishedAssistant(msg.Content, msg.Reasoning, ""))
			}
			for _, c := range msg.ToolCalls {
				m.entries = append(m.entries, &entry{kind: entryTool, text: tools.Sanitize(c.Name + " " + oneLine(c.Arguments))})
			}
		case prompts.RoleTool:
			m.entries = append(m.entries, &entry{kind: entryTool, toolResult: true, text: tools.Sanitize(previewLines(msg.Content, 4)), footer: msg.Name + " result"})
		}
	}
	if cfg.ResumeNote != "" && len(m.msgs) > 0 {
		m.entries = append(m.entries, &entry{kind: entryNote, text: cfg.ResumeNote})
	}
	if cfg.Personas != nil {
		m.personaCh = make(chan error, 1)
	}
	if m.gen == nil && cfg.Catalog != nil {
		m.catalog = cfg.Catalog()
		for i, it := range m.catalog {
			if it.Recommended {
				m.catSel = i
				break
			}
		}
	}
	if m.gen == nil {
		help := cfg.NoModelHelp
		if help == "" {
			help = "No model is loaded. Start natter with -m PATH or set NATTER_MODEL."
		}
		m.entries = append(m.entries, &entry{kind: entryNote, text: help})
	}
	if check := m.templateNotes(true); check != nil {
		for _, n := range check() {
			m.entries = append(m.entries, &entry{kind: entryNote, text: n})
		}
		if n := fallbackNote(m.templateChain()); n != "" {
			m.entries = append(m.entries, &entry{kind: entryNote, text: n})
			m.fallbackNoted = n
		}
	}
	m.tools = toolsState{cfg: cfg.Tools, always: map[string]bool{}}
	for _, msg := range m.msgs {
		m.tools.ids += len(msg.ToolCalls) // new ids follow a resumed chat's
	}
	if cfg.Tools != nil && cfg.Tools.On {
		if err := m.setToolsOn(true); err != nil {
			m.entries = append(m.entries, &entry{kind: entryError, text: "Tools stay off: " + err.Error()})
		} else {
			m.entries = append(m.entries, &entry{kind: entryNote, text: fmt.Sprintf("Tools on: %s; each call asks first%s. /tools lists them.", m.toolNames(), m.yoloNote())})
		}
	}
	if cfg.ResumedModel != "" && m.gen != nil {
		m.entries = append(m.entries, m.modelChangedNotes(cfg.ResumedModel)...)
	}
	if cfg.OpenHistory && cfg.History != nil && m.gen != nil {
		m.picker = &chatPicker{}
	}
	if m.rec != nil && len(cfg.Messages) == 0 {
		model, sys := m.modelName(), m.system
		m.rec.do(func(r Recorder) error { return r.NewChat(model, sys) })
	}
	return m
}

func newInput() textarea.Model {
	ta := textarea.New()
	ta.Prompt = "› "
	ta.ShowLineNumbers = false
	ta.Placeholder = "Message natter…  (? for help)"
	ta.DynamicHeight = true
	ta.MinHeight = 1
	ta.MaxHeight = 8
	ta.MaxWidth = 0
	ta.CharLimit = 0
	ta.KeyMap.InsertNewline.SetKeys("shift+enter", "alt+enter", "ctrl+j")
	ta.KeyMap.LineEnd.SetKeys("end")                   // ctrl+e opens $EDITOR
	ta.KeyMap.DeleteCharacterForward.SetKeys("delete") // ctrl+d quits on an empty prompt
	ta.Focus()
	return ta
}

// Init asks the terminal for its background (theme) and prints the banner.
func (m Model) Init() tea.Cmd {
	var cmds []tea.Cmd
	if !m.themeFixed {
		cmds = append(cmds, tea.RequestBackgroundColor)
	}
	if m.personaCh != nil {
		cmds = append(cmds, m.startPersonaWatch(), m.waitPersonas())
	}
	if m.picker != nil {
		cmds = append(cmds, m.findChats())
	}
	return tea.Batch(cmds...)
}

func (m *Model) shutdown() {
	if m.cur != nil && m.cur.cancel != nil {
		m.cur.cancel()
	}
	if m.pull != nil {
		m.pull.cancel()
	}
	if m.rec != nil {
		m.rec.close()
	}
}

// recQueue runs Recorder calls in order on one goroutine.
type recQueue struct {
	r      Recorder
	mu     sync.Mutex
	ops    []func(Recorder) error
	wake   chan struct{}
	done   chan struct{}
	closed bool
	idle   *sync.Cond
	busy   bool
	onErr  func(error)
	errs   []error
}

type recordErrMsg struct{ err error }

func newRecQueue(r Recorder) *recQueue {
	q := &recQueue{r: r, wake: make(chan struct{}, 1), done: make(chan struct{})}
	q.idle = sync.NewCond(&q.mu)
	go q.loop()
	return q
}

func (q *recQueue) do(op func(Recorder) error) {
	q.mu.Lock()
	if !q.closed {
		q.ops = append(q.ops, op)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *recQueue) loop() {
	defer close(q.done)
	for {
		q.mu.Lock()
		for len(q.ops) == 0 {
			q.busy = false
			q.idle.Broadcast()
			if q.closed {
				q.mu.Unlock()
				return
			}
			q.mu.Unlock()
			<-q.wake
			q.mu.Lock()
		}
		op := q.ops[0]
		q.ops = q.ops[1:]
		q.busy = true
		q.mu.Unlock()
		if err := op(q.r); err != nil {
			q.mu.Lock()
			q.errs = append(q.errs, err)
			f := q.onErr
			q.mu.Unlock()
			if f != nil {
				f(err)
			}
		}
	}
}

// wait blocks until every queued call has run.
func (q *recQueue) wait() {
	q.mu.Lock()
	for len(q.ops) > 0 || q.busy {
		q.idle.Wait()
	}
	q.mu.Unlock()
}

// close runs what is queued and stops the goroutine.
func (q *recQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	<-q.done
}
