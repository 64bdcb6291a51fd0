package ui

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	tea "charm.land/bubbletea/v2"

	"natter/engine/api"
	"natter/prompts"
)

type command struct {
	name, usage, help string
	run               func(m *Model, arg string) tea.Cmd
}

var commands []command

func init() {
	commands = []command{
		{"help", "/help", "keys and commands", func(m *Model, _ string) tea.Cmd { m.overlay, m.helpTop = "help", 0; return nil }},
		{"new", "/new (/clear)", "start a fresh chat", cmdNew},
		{"system", "/system TEXT", "set the system prompt", cmdSystem},
		{"retry", "/retry", "regenerate the last reply", cmdRetry},
		{"edit", "/edit", "edit the last message and resend", cmdEdit},
		{"undo", "/undo", "drop the last exchange", cmdUndo},
		{"compact", "/compact", "summarize older turns to free the context", cmdCompact},
		{"copy", "/copy [code] [N]", "copy a reply, or a code block (OSC 52)", cmdCopy},
		{"set", "/set KEY VALUE", "change a setting (sampling, json, schema, grammar); alone: list", cmdSet},
		{"stats", "/stats", "figures for the last reply", cmdStats},
		{"prompt", "/prompt [NAME]", "the exact last prompt sent; NAME switches persona", cmdPrompt},
		{"template", "/template", "the chat template and where it came from", cmdTemplate},
		{"show", "/show [WHAT]", "model info; WHAT: template or license", cmdShow},
		{"history", "/history [QUERY]", "find a saved chat and resume it", cmdHistory},
		{"resume", "/resume ID", "continue saved chat ID", cmdResume},
		{"rename", "/rename TITLE", "rename this chat", cmdRename},
		{"model", "/model [N|PATH]", "list local models, or switch to one (N, NAME or PATH)", cmdModel},
		{"tools", "/tools [on|off]", "tools the model may call (--tools): list, or turn on or off", cmdTools},
		{"think", "/think [on|off]", "reasoning models: think before answering, or not", cmdThink},
		{"attach", "/attach FILE", "attach an image or audio file to your next message", cmdAttach},
		{"lora", "/lora [N SCALE]", "LoRA adapters: list them, or set one's scale (off = 0)", cmdLora},
		{"save", "/save [FILE]", "export the chat as Markdown (default: named after its title)", cmdSave},
		{"quit", "/quit (/exit)", "leave natter (also /bye)", func(m *Model, _ string) tea.Cmd { return m.quit() }},
	}
}

// aliases are the names users bring from other tools (llama-cli, ollama).
var aliases = map[string]string{"clear": "new", "exit": "quit", "bye": "quit"}

// plural gives "1 reply", "2 replies".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return commas(n) + " " + many
}

func matchCommands(prefix string) []command {
	var out []command
	for _, c := range commands {
		if strings.HasPrefix("/"+c.name, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func (m *Model) runCommand(line string) tea.Cmd {
	name, arg, _ := strings.Cut(strings.TrimPrefix(line, "/"), " ")
	name = strings.ToLower(strings.TrimSpace(name))
	arg = strings.TrimSpace(arg)
	if a, ok := aliases[name]; ok {
		name = a
	}
	m.errLine, m.notice, m.keepInput = "", "", false
	for _, c := range commands {
		if c.name == name {
			return c.run(m, arg)
		}
	}
	m.badInput(fmt.Sprintf("Unknown command /%s: /help lists them (start with // to send a message beginning with /).", name))
	return nil
}

// badInput reports a command the user must fix: the line stays in the input
// to be edited. Other failures (nothing to undo, no code block) clear it.
func (m *Model) badInput(msg string) {
	m.errLine, m.keepInput = msg, true
}

func (m *Model) busyStreaming() bool {
	if m.cur != nil {
		m.badInput("A reply is still streaming: press Esc to stop it first.")
		return true
	}
	if m.agent != nil {
		m.badInput("A tool call is under way: answer it (y/a/n/e) or press Esc to stop the tool steps.")
		return true
	}
	return false
}

func cmdNew(m *Model, _ string) tea.Cmd {
	var cmd tea.Cmd
	if m.cur != nil {
		cmd = m.stop()
	}
	m.msgs = nil
	m.last, m.ctxNow = nil, -1
	m.title = ""
	m.compact, m.dropped, m.sentReq = nil, 0, nil
	if m.fullscreen {
		m.entries = m.entries[:0]
		m.addEntry(&entry{kind: entryBanner})
		m.follow = true
	} else {
		m.addNote("── new chat ──")
	}
	model, sys, smp := m.modelName(), m.system, m.sampling
	m.record(func(r Recorder) error { return r.NewChat(model, sys) })
	m.recordSettings(func(r SettingsRecorder) error { return r.SetSampling(smp) })
	return cmd
}

func cmdSystem(m *Model, arg string) tea.Cmd {
	if arg == "" {
		if m.system == "" {
			m.addNote("No system prompt is set. /system TEXT sets one.")
		} else {
			m.addNote("System prompt: " + m.system)
		}
		return nil
	}
	if m.busyStreaming() {
		return nil
	}
	m.persona = ""
	return m.setSystem(arg, "System prompt set.")
}

// setSystem changes the system prompt, saves it with the conversation and
// says how much of the KV cache that costs; label starts the note.
func (m *Model) setSystem(text, label string) tea.Cmd {
	before := m.request()
	m.system = text
	after := m.request()
	sys, persona := m.system, m.persona
	m.record(func(r Recorder) error { return r.SetSystem(sys, persona) })
	cached := 0
	if m.last != nil {
		cached = m.last.ContextUsed
	}
	check := m.checkTemplate(false)
	if m.gen == nil || cached == 0 {
		m.addNote(label + " Nothing was cached, so nothing is invalidated.")
		return check
	}
	gen := m.gen
	// The check's warning, if any, follows the note about the cost.
	return tea.Sequence(func() tea.Msg {
		a, _, err := gen.RenderPrompt(before)
		if err != nil {
			return systemCostMsg{label: label, err: err}
		}
		b, _, err := gen.RenderPrompt(after)
		if err != nil {
			return systemCostMsg{label: label, err: err}
		}
		n := 0
		for n < len(a) && n < len(b) && a[n] == b[n] {
			n++
		}
		kept, err := gen.CountTokens(a[:n], true)
		if err != nil {
			return systemCostMsg{label: label, err: err}
		}
		return systemCostMsg{label: label, invalid: max(cached-kept, 0), cached: cached}
	}, check)
}

func cmdRetry(m *Model, _ string) tea.Cmd {
	if m.busyStreaming() {
		return nil
	}
	if m.gen == nil {
		m.errLine = "No model is loaded: use /model PATH."
		return nil
	}
	// Everything after the last user message goes, tool steps included.
	if i := lastUserIndex(m.msgs); i >= 0 {
		m.msgs = m.msgs[:i+1]
	}
	n := len(m.msgs)
	if n == 0 || m.msgs[n-1].Role != prompts.RoleUser {
		m.errLine = "Nothing to retry yet."
		return nil
	}
	m.recordRewrite()
	m.addNote("↻ retrying the last reply")
	return m.startGen()
}

func lastUserIndex(msgs []prompts.Message) int {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == prompts.RoleUser {
			return i
		}
	}
	return -1
}

func cmdEdit(m *Model, _ string) tea.Cmd {
	if m.busyStreaming() {
		return nil
	}
	i := len(m.msgs) - 1
	for i >= 0 && m.msgs[i].Role != prompts.RoleUser {
		i--
	}
	if i < 0 {
		m.errLine = "There is no message to edit yet."
		return nil
	}
	text := m.msgs[i].Content
	// Its attachments wait above the input again, to go with the resend.
	m.attach = presentMedia(m.msgs[i : i+1])[0].Media
	m.msgs = m.msgs[:i]
	m.recordRewrite()
	m.setInputText(text)
	m.addNote("✎ editing your last message: Enter resends it (everything before it stays in the KV cache).")
	return m.recountContext()
}

func cmdUndo(m *Model, _ string) tea.Cmd {
	if m.busyStreaming() {
		return nil
	}
	n := len(m.msgs)
	if n == 0 {
		m.errLine = "Nothing to undo."
		return nil
	}
	// The exchange is the last user message and all that answered it
	// (replies, tool calls and their results).
	if i := lastUserIndex(m.msgs); i >= 0 {
		n = i
	} else if m.msgs[n-1].Role == prompts.RoleAssistant {
		n--
	}
	m.msgs = m.msgs[:n]
	m.recordRewrite()
	m.addNote("↶ dropped the last exchange")
	return m.recountContext()
}

// codeBlocks lists the fenced code blocks of a Markdown text.
func codeBlocks(md string) []string {
	var out []string
	var body []string
	in := false
	var c byte
	var n int
	for _, l := range strings.Split(md, "\n") {
		switch {
		case in && isFenceClose(l, c, n):
			out = append(out, strings.Join(body, "\n"))
			in = false
		case in:
			body = append(body, l)
		case isFenceOpen(l):
			c, n, _ = fenceOf(l)
			in, body = true, nil
		}
	}
	if in {
		out = append(out, strings.Join(body, "\n"))
	}
	return out
}

func cmdCopy(m *Model, arg string) tea.Cmd {
	fields := strings.Fields(arg)
	code := len(fields) > 0 && fields[0] == "code"
	if code {
		fields = fields[1:]
	}
	n := 0
	if len(fields) > 1 {
		m.badInput("Usage: /copy [code] [N]")
		return nil
	}
	if len(fields) == 1 {
		v, err := strconv.Atoi(fields[0])
		if err != nil || v < 1 {
			m.badInput(fmt.Sprintf("/copy: %q is not a positive number.", fields[0]))
			return nil
		}
		n = v
	}
	var replies []string
	for _, msg := range m.msgs {
		if msg.Role == prompts.RoleAssistant {
			replies = append(replies, msg.Content)
		}
	}
	if len(replies) == 0 {
		m.errLine = "There is no reply to copy yet."
		return nil
	}
	var text, what string
	if code {
		last := replies[len(replies)-1]
		blocks := codeBlocks(last)
		if len(blocks) == 0 {
			m.errLine = "The last reply has no code block."
			return nil
		}
		if n == 0 {
			n = len(blocks)
		}
		if n > len(blocks) {
			m.errLine = fmt.Sprintf("The last reply has %s.", plural(len(blocks), "code block", "code blocks"))
			return nil
		}
		text, what = blocks[n-1], fmt.Sprintf("code block %d of the last reply", n)
	} else {
		if n == 0 {
			n = 1
		}
		if n > len(replies) {
			m.errLine = fmt.Sprintf("There is only %s.", plural(len(replies), "reply", "replies"))
			if len(replies) > 1 {
				m.errLine = fmt.Sprintf("There are only %s.", plural(len(replies), "reply", "replies"))
			}
			return nil
		}
		text = replies[len(replies)-n]
		what = "the last reply"
		if n > 1 {
			what = fmt.Sprintf("reply %d from the end", n)
		}
	}
	m.clipboard = text
	m.notice = fmt.Sprintf("Copied %s (%s chars) to the clipboard.", what, commas(len([]rune(text))))
	return tea.SetClipboard(text)
}

// settings in /set order.
var settingKeys = []string{"temp", "top-k", "top-p", "min-p", "repeat-penalty", "seed", "max-tokens", "json", "schema", "grammar"}

func (m *Model) settingsText() string {
	s := m.sampling
	seed := fmt.Sprint(s.Seed)
	if s.Seed == api.SeedRandom {
		seed = "random"
	}
	maxT := "unlimited"
	if m.maxTokens > 0 {
		maxT = fmt.Sprint(m.maxTokens)
	}
	format := "free text"
	if m.format != nil {
		format = m.format.String()
	}
	return fmt.Sprintf("temp %g · top-k %d · top-p %g · min-p %g · repeat-penalty %g · seed %s · max-tokens %s · replies %s",
		s.Temperature, s.TopK, s.TopP, s.MinP, s.RepeatPenalty, seed, maxT, format)
}

func cmdSet(m *Model, arg string) tea.Cmd {
	f := strings.Fields(arg)
	if len(f) == 0 {
		m.addNote(m.settingsText())
		return nil
	}
	if k := strings.ToLower(f[0]); k == "json" || k == "schema" || k == "grammar" {
		return setFormat(m, k, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(arg), f[0])))
	}
	if len(f) != 2 {
		m.badInput("Usage: /set KEY VALUE (keys: " + strings.Join(settingKeys, ", ") + ")")
		return nil
	}
	key, val := strings.ToLower(f[0]), f[1]
	float := func(lo, hi float64) (float32, bool) {
		v, err := strconv.ParseFloat(val, 32)
		if err != nil || v < lo || v > hi {
			m.badInput(fmt.Sprintf("/set %s: %q is not a number from %g to %g.", key, val, lo, hi))
			return 0, false
		}
		return float32(v), true
	}
	integer := func(lo, hi int) (int, bool) {
		v, err := strconv.Atoi(val)
		if err != nil || v < lo || v > hi {
			m.badInput(fmt.Sprintf("/set %s: %q is not a whole number from %d to %d.", key, val, lo, hi))
			return 0, false
		}
		return v, true
	}
	s := m.sampling
	switch key {
	case "temp", "temperature":
		v, ok := float(0, 5)
		if !ok {
			return nil
		}
		s.Temperature, key = v, "temp"
	case "top-k", "top_k", "topk":
		v, ok := integer(0, 1_000_000)
		if !ok {
			return nil
		}
		s.TopK, key = v, "top-k"
	case "top-p", "top_p", "topp":
		v, ok := float(0, 1)
		if !ok {
			return nil
		}
		s.TopP, key = v, "top-p"
	case "min-p", "min_p", "minp":
		v, ok := float(0, 1)
		if !ok {
			return nil
		}
		s.MinP, key = v, "min-p"
	case "repeat-penalty", "repeat_penalty":
		v, ok := float(0.01, 5)
		if !ok {
			return nil
		}
		s.RepeatPenalty, key = v, "repeat-penalty"
	case "seed":
		if val == "random" || val == "-1" {
			s.Seed = api.SeedRandom
		} else {
			v, err := strconv.ParseUint(val, 10, 32)
			if err != nil || uint32(v) == api.SeedRandom {
				m.badInput(fmt.Sprintf("/set seed: %q is not a seed (0 to 4294967294, or random).", val))
				return nil
			}
			s.Seed = uint32(v)
		}
	case "max-tokens", "max_tokens", "n":
		v, ok := integer(0, 10_000_000)
		if !ok {
			return nil
		}
		m.maxTokens, key = v, "max-tokens"
	default:
		m.badInput(fmt.Sprintf("/set: unknown key %q (keys: %s).", key, strings.Join(settingKeys, ", ")))
		return nil
	}
	m.sampling = s
	m.recordSettings(func(r SettingsRecorder) error { return r.SetSampling(s) })
	m.notice = fmt.Sprintf("%s set · %s", key, m.settingsText())
	return nil
}

// Thinker is a generator whose template can switch thinking on and off
// (the template's enable_thinking).
type Thinker interface {
	SetThinking(on bool) error
	Thinking() string // "on", "off" or "auto" (the template's default)
}

func cmdThink(m *Model, arg string) tea.Cmd {
	th, ok := m.gen.(Thinker)
	if !ok {
		m.errLine = "/think: no model with a chat template is loaded."
		return nil
	}
	var on bool
	switch strings.ToLower(arg) {
	case "":
		m.addNote("Thinking: " + th.Thinking() + " (/think on|off; Ctrl+T shows or hides the thoughts)")
		return nil
	case "on":
		on = true
	case "off":
	default:
		m.errLine = fmt.Sprintf("/think %q: want on or off", arg)
		return nil
	}
	if err := th.SetThinking(on); err != nil {
		m.errLine = "/think: " + err.Error()
		return nil
	}
	state := "off: the model answers directly"
	if on {
		state = "on: the model reasons before answering"
	}
	m.addNote("Thinking " + state + " (from the next message).")
	return nil
}

func cmdStats(m *Model, _ string) tea.Cmd {
	if m.cur != nil {
		// The figures the user wants are this reply's: they come at its end.
		m.statsPending = true
		m.notice = "/stats: the figures of this reply follow when it ends."
		return nil
	}
	m.statsPending = false
	s := m.last
	if s == nil {
		m.addNote("No reply has finished yet.")
		return nil
	}
	lora := ""
	if len(s.Adapters) > 0 {
		lora = "\nLoRA: " + loraStatsText(s.Adapters)
	}
	m.addNote(fmt.Sprintf(
		"prompt %s tokens (%s from cache) · prefill %s (%.1f tok/s)\n"+
			"generated %s tokens · decode %s (%.2f tok/s) · ttft %s\n"+
			"context %s/%s · stop: %s · template: %s%s%s",
		commas(s.PromptTokens), commas(s.CachedTokens), fmtDur(s.PrefillTime), s.PrefillTPS,
		commas(s.GeneratedTokens), fmtDur(s.DecodeTime), s.DecodeTPS, fmtDur(s.TTFT),
		commas(s.ContextUsed), commas(s.ContextSize), s.StopReason, s.Template,
		map[bool]string{true: " · " + plural(s.DroppedTurns, "turn", "turns") + " dropped", false: ""}[s.DroppedTurns > 0], lora))
	return nil
}

func cmdPrompt(m *Model, arg string) tea.Cmd {
	if arg != "" {
		return cmdPersona(m, arg)
	}
	if m.gen == nil {
		m.errLine = "No model is loaded: use /model PATH."
		return nil
	}
	// The last prompt sent, exactly; before the first message, the prompt
	// the next one would make, with a placeholder where it goes.
	gen, req, label := m.gen, m.request(), "next prompt (‹your message› stands for what you send)"
	if m.sentReq != nil {
		req, label = *m.sentReq, "last prompt sent"
	} else {
		req.Messages = append(req.Messages, prompts.Message{Role: prompts.RoleUser, Content: "‹your message›"})
	}
	return func() tea.Msg {
		text, tmpl, err := gen.RenderPrompt(req)
		if err != nil {
			return promptShownMsg{err: err}
		}
		n, err := gen.CountTokens(text, true)
		return promptShownMsg{label: label, text: text, tmpl: tmpl, tokens: n, err: err}
	}
}

// specialRE matches the usual special-token spellings in rendered prompts.
var specialRE = regexp.MustCompile(`<\|[^|<>\s]{1,40}\|>|</?s>|\[/?INST\]|\[/?SYSTEM_PROMPT\]|<(?:start|end)_of_turn>|<｜[^｜]{1,40}｜>`)

func (m Model) handlePromptShown(msg promptShownMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		m.errLine = "/prompt: " + oneLine(msg.err.Error())
		return m, nil
	}
	specials := map[string]bool{}
	if m.info.BOS != "" {
		specials[m.info.BOS] = true
	}
	if m.info.EOS != "" {
		specials[m.info.EOS] = true
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", m.st.accent.Render(fmt.Sprintf("%s · %s tokens · template %s", msg.label, commas(msg.tokens), msg.tmpl)))
	body := highlightSpecials(cleanText(msg.text), specials, m.st.special.Render)
	b.WriteString(body)
	m.addEntry(&entry{kind: entryNote, text: b.String()})
	return m, m.flushPrints()
}

func highlightSpecials(text string, extra map[string]bool, mark func(...string) string) string {
	out := specialRE.ReplaceAllStringFunc(text, func(s string) string { return mark(s) })
	for s := range extra {
		if !specialRE.MatchString(s) {
			out = strings.ReplaceAll(out, s, mark(s))
		}
	}
	return out
}

func cmdModel(m *Model, arg string) tea.Cmd {
	if arg == "" {
		return cmdModelList(m)
	}
	if m.busyStreaming() {
		return nil
	}
	if m.cfg.LoadModel == nil {
		m.errLine = "/model is not available here."
		return nil
	}
	path, ok := m.pickLocalModel(arg)
	if !ok {
		return nil
	}
	return m.loadModel(expandHome(path))
}

func (m Model) handleModelLoaded(msg modelLoadedMsg) (tea.Model, tea.Cmd) {
	m.busy = ""
	if msg.err != nil || msg.gen == nil {
		err := msg.err
		if err == nil {
			err = fmt.Errorf("no model returned")
		}
		m.errLine = "/model: " + oneLine(err.Error())
		return m, nil
	}
	old := m.gen
	m.gen = msg.gen
	m.info = msg.gen.Info()
	m.lora = loraState{seq: m.lora.seq + 1}
	m.last, m.ctxNow, m.sentReq = nil, -1, nil
	if old == nil {
		m.addNote(fmt.Sprintf("Loaded %s (%s). Say hello!", m.modelName(), msg.path))
		if len(m.msgs) == 0 {
			// The chat was opened without a model: save it under this one.
			model, sys := m.modelName(), m.system
			m.record(func(r Recorder) error { return r.NewChat(model, sys) })
		}
	} else {
		m.addNote(fmt.Sprintf("Switched to %s (%s).", m.modelName(), msg.path))
		name := m.modelName()
		m.recordSettings(func(r SettingsRecorder) error { return r.SetModel(name) })
	}
	m.toolsForModel()
	// What the load noticed about the file (bad special-token ids, keys of
	// the wrong type) is said here, as natter says it on stderr at start-up.
	if w, ok := msg.gen.(LoadWarner); ok {
		for _, s := range w.LoadWarnings() {
			m.addNote("⚠ " + s)
		}
	}
	var cmd tea.Cmd
	if c, ok := old.(io.Closer); ok && old != nil {
		cmd = func() tea.Msg {
			if err := c.Close(); err != nil {
				return errMsg{err}
			}
			return nil
		}
	}
	return m, tea.Batch(cmd, m.checkTemplate(true), m.flushPrints())
}

func expandHome(p string) string {
	if strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, p[2:])
		}
	}
	return p
}

// markdown exports the conversation.
func (m Model) markdown() string {
	var b strings.Builder
	if m.title != "" {
		fmt.Fprintf(&b, "# %s\n\n", m.title)
	} else {
		b.WriteString("# natter chat\n\n")
	}
	if name := m.modelLabel(); name != "" {
		fmt.Fprintf(&b, "Model: %s\n\n", name)
	}
	if m.system != "" {
		fmt.Fprintf(&b, "## System\n\n%s\n\n", m.system)
	}
	for _, msg := range m.msgs {
		switch msg.Role {
		case prompts.RoleUser:
			fmt.Fprintf(&b, "## You\n\n%s\n\n", msg.Content)
		case prompts.RoleAssistant:
			b.WriteString("## Assistant\n\n")
			if msg.Reasoning != "" {
				fmt.Fprintf(&b, "<details><summary>Reasoning</summary>\n\n%s\n\n</details>\n\n", strings.TrimSpace(msg.Reasoning))
			}
			fmt.Fprintf(&b, "%s\n\n", msg.Content)
		default:
			fmt.Fprintf(&b, "## %s\n\n%s\n\n", msg.Role, msg.Content)
		}
	}
	return b.String()
}

func cmdSave(m *Model, arg string) tea.Cmd {
	text := m.markdown()
	if arg == "" {
		if len(m.msgs) == 0 {
			m.errLine = "Nothing to save yet (/save FILE exports the chat as Markdown)."
			return nil
		}
		// Named after the chat, in the current folder; never over a file.
		base := fileNameFrom(m.title)
		return func() tea.Msg {
			path, err := writeNewFile(base, ".md", []byte(text))
			if err != nil {
				return errMsg{fmt.Errorf("/save: %w", err)}
			}
			return noteMsg{fmt.Sprintf("Saved the chat to %s.", path)}
		}
	}
	path := expandHome(arg)
	return func() tea.Msg {
		if err := writeFileAtomic(path, []byte(text)); err != nil {
			return errMsg{fmt.Errorf("/save: %w", err)}
		}
		return noteMsg{fmt.Sprintf("Saved the chat to %s.", path)}
	}
}

// titleFrom is a chat's title from its first message, as the history
// names it: the first non-empty line, spaces collapsed, at most 60 runes.
func titleFrom(text string) string {
	for _, line := range strings.Split(cleanText(text), "\n") {
		t := strings.Join(strings.Fields(line), " ")
		if t == "" {
			continue
		}
		if r := []rune(t); len(r) > 60 {
			t = strings.TrimSpace(string(r[:59])) + "…"
		}
		return t
	}
	return ""
}

// fileNameFrom makes a title a file name: letters and digits of any
// script kept, everything else one "-", at most 50 runes.
func fileNameFrom(title string) string {
	var b strings.Builder
	dash := false
	n := 0
	for _, r := range strings.TrimSuffix(title, "…") {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
				n++
			}
			dash = false
			b.WriteRune(r)
			n++
		} else {
			dash = true
		}
		if n >= 50 {
			break
		}
	}
	if b.Len() == 0 {
		return "natter-chat"
	}
	return b.String()
}

// writeNewFile writes base+ext, or base-2+ext, … whichever does not exist.
func writeNewFile(base, ext string, data []byte) (string, error) {
	for i := 1; i < 1000; i++ {
		name := base + ext
		if i > 1 {
			name = fmt.Sprintf("%s-%d%s", base, i, ext)
		}
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
			return "", err
		}
		return name, nil
	}
	return "", fmt.Errorf("%s%s and 998 numbered copies exist already", base, ext)
}

// writeFileAtomic never leaves a half-written file behind (full disk, crash).
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".natter-save-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
