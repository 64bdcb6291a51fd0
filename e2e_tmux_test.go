package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"natter/models/netcheck"
)

// End-to-end tests of the chat in a real terminal: tmux runs bash, bash runs
// the natter binary built by TestMain, and the tests type into the pane and
// read the screen back. Each test has its own tmux server (-L) and session,
// and kills only that session.

const (
	paneW, paneH = 100, 30
	waitLong     = 30 * time.Second // generous: the machine is shared
)

type pane struct {
	t       *testing.T
	socket  string
	name    string
	home    string
	lastCmd string
	runs    int // commands run by run
}

// newPane starts bash --norc in a detached 100x30 tmux session with an
// isolated environment; env adds or overrides variables.
func newPane(t *testing.T, env ...string) *pane {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("DID NOT RUN: tmux not installed")
	}
	home := t.TempDir()
	tag := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
	p := &pane{
		t:      t,
		socket: fmt.Sprintf("natter-e2e-%d", os.Getpid()),
		name:   fmt.Sprintf("natter-e2e-%s-%d-%d", tag, os.Getpid(), paneSeq.Add(1)),
		home:   home,
	}
	vars := []string{
		"PATH=" + os.Getenv("PATH"),
		"TERM=screen-256color",
		"LANG=C.UTF-8",
		"PS1=$ ",
		"HISTFILE=", // bash writes no history into the temp home as it dies
		"HOME=" + home,
		"XDG_STATE_HOME=" + filepath.Join(home, "state"),
		"XDG_DATA_HOME=" + filepath.Join(home, "data"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, "cache"),
		"NATTER_MODEL=",
		"NATTER_NO_HISTORY=1",
	}
	vars = append(vars, env...)
	args := []string{"-L", p.socket, "-f", "/dev/null", "new-session", "-d", "-s", p.name,
		"-x", strconv.Itoa(paneW), "-y", strconv.Itoa(paneH), "-c", home, "env", "-i"}
	args = append(args, vars...)
	args = append(args, "bash", "--norc", "--noprofile")
	// The previous test's kill-session can stop the tmux server just as
	// this one connects ("server exited unexpectedly"): try again.
	for try := 0; ; try++ {
		out, err := exec.Command("tmux", args...).CombinedOutput()
		if err == nil {
			break
		}
		if try == 4 || !strings.Contains(string(out), "server exited") {
			t.Fatalf("tmux new-session: %v: %s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() {
		out, _ := exec.Command("tmux", "-L", p.socket, "display-message", "-p", "-t", p.name, "#{pane_pid}").Output()
		shell := strings.TrimSpace(string(out))
		exec.Command("tmux", "-L", p.socket, "kill-session", "-t", p.name).Run()
		// Let the shell (and a natter still running) die before the temp
		// home is removed.
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat("/proc/" + shell); err != nil {
				break
			}
		}
	})
	// Let the shell draw its prompt so typed keys are not lost.
	p.waitFor("shell prompt", func(s string) bool { return strings.Contains(s, "$") })
	return p
}

func (p *pane) tmux(args ...string) string {
	p.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", p.socket}, args...)...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return string(out)
}

// typeText types text literally (no key names) without pressing Enter.
func (p *pane) typeText(s string) { p.t.Helper(); p.tmux("send-keys", "-t", p.name, "-l", s) }

// keys sends named keys (Enter, Escape, C-c, C-d…).
func (p *pane) keys(k ...string) {
	p.t.Helper()
	p.tmux(append([]string{"send-keys", "-t", p.name}, k...)...)
	// A lone Esc and a key that follows within the terminal input parser's
	// escape timeout are one Alt+key: after Esc, wait like a person would.
	if k[len(k)-1] == "Escape" {
		time.Sleep(150 * time.Millisecond)
	}
}

// line types text and presses Enter.
func (p *pane) line(s string) {
	p.t.Helper()
	p.typeText(s)
	p.keys("Enter")
	// Keys that follow within ~10 ms are one typed burst (a paste without
	// bracketed paste), where Enter is a newline: type like a person.
	time.Sleep(40 * time.Millisecond)
}

// screen is what the pane shows now.
func (p *pane) screen() string { p.t.Helper(); return p.tmux("capture-pane", "-p", "-t", p.name) }

// all is the scrollback plus the screen.
func (p *pane) all() string {
	p.t.Helper()
	return p.tmux("capture-pane", "-p", "-S", "-", "-E", "-", "-t", p.name)
}

func (p *pane) format(f string) string {
	p.t.Helper()
	return strings.TrimSpace(p.tmux("display-message", "-p", "-t", p.name, f))
}

// waitFor polls the screen until ok holds, failing with the screen after
// waitLong.
func (p *pane) waitFor(what string, ok func(screen string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		s := p.screen()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s; the screen:\n%s", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// natter runs the binary in the shell (then prints its exit status) and
// waits for the chat's status line.
func (p *pane) natter(args ...string) {
	p.t.Helper()
	p.launch(args...)
	p.waitFor("the chat", func(s string) bool {
		return strings.Contains(s, "Message natter") && strings.Contains(statusOf(s), "ctx ")
	})
}

// launch starts natter with args without waiting for anything.
func (p *pane) launch(args ...string) {
	p.t.Helper()
	q := make([]string, 0, len(args)+1)
	for _, a := range append([]string{natterBin}, args...) {
		q = append(q, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	p.lastCmd = strings.Join(q, " ")
	p.line("clear; " + p.lastCmd + "; echo natter-exit=$?")
}

// A Ctrl+C that reaches the terminal as natter exits is echoed (^C) on
// the line the shell then prints the status on.
var exitRE = regexp.MustCompile(`(?m)^(?:\^C)*natter-exit=(\d+)$`)

// exited waits for natter to end and returns its exit status.
func (p *pane) exited() int {
	p.t.Helper()
	s := p.waitFor("natter to exit", func(s string) bool { return exitRE.MatchString(s) })
	n, _ := strconv.Atoi(exitRE.FindStringSubmatch(s)[1])
	return n
}

// statusOf is the chat's status line: the last non-blank line of the screen.
func statusOf(screen string) string {
	lines := strings.Split(strings.TrimRight(screen, "\n "), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

var (
	liveRE = regexp.MustCompile(`● ([\d,]+) tok`)
	doneRE = regexp.MustCompile(`ctx ([\d,]+)/([\d,]+) · ([\d.]+) tok/s`)
	// statusCtxRE is the context figure every status line holds.
	statusCtxRE = regexp.MustCompile(`ctx [\d,]+/[\d,]+`)
)

// screenRows is the screen down to its last non-blank row, untrimmed.
func screenRows(s string) []string {
	return strings.Split(strings.TrimRight(s, "\n "), "\n")
}

// checkLiveArea checks, after a reply, that the input box and status line
// are whole and where they belong: the status line last, from its first
// column on, the empty input's placeholder right above it, and typed text
// showing in the prompt. It clears what it typed.
func (p *pane) checkLiveArea(wantName string) {
	p.t.Helper()
	rows := screenRows(p.screen())
	n := len(rows)
	if n < 2 || !strings.HasPrefix(rows[n-1], wantName) || !strings.Contains(rows[n-1], "ctx ") ||
		!strings.HasPrefix(rows[n-2], "› Message natter") {
		p.t.Fatalf("the input box and status line are not the last two rows:\n%s", strings.Join(rows, "\n"))
	}
	p.typeText("xyz")
	s := p.waitFor("typed text in the prompt", func(s string) bool {
		rows := screenRows(s)
		n := len(rows)
		return n >= 2 && strings.HasPrefix(rows[n-2], "› xyz") && strings.HasPrefix(rows[n-1], wantName)
	})
	if strings.Contains(s, "  xyz") {
		p.t.Fatalf("typed text drawn off the prompt:\n%s", s)
	}
	p.keys("C-u")
	p.waitFor("the input to clear", func(s string) bool { return strings.Contains(s, "› Message natter") })
}

var ctxRE = regexp.MustCompile(`ctx ([\d,]+)/`)

// ctxUsed is the context use the status line shows, or -1.
func ctxUsed(s string) int {
	m := ctxRE.FindStringSubmatch(statusOf(s))
	if m == nil {
		return -1
	}
	return atoiCommas(m[1])
}

func streaming(s string) bool { return liveRE.MatchString(statusOf(s)) }

// liveTokens is the token count of the reply being streamed, or -1.
func liveTokens(s string) int {
	m := liveRE.FindStringSubmatch(statusOf(s))
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	return n
}

// finished reports a status line with the finished reply's figures.
// finished: the reply is over, with figures, or empty (a random-weight
// model may end its turn with its first token; the status then has no tok/s).
func finished(s string) bool {
	return !streaming(s) && (doneRE.MatchString(statusOf(s)) || strings.Contains(s, "empty reply: the model ended its turn"))
}

func atoiCommas(s string) int { n, _ := strconv.Atoi(strings.ReplaceAll(s, ",", "")); return n }

// replyAfter returns the text of the reply that follows the line marker
// (a user message "› …" or a note) in the transcript, up to its footer or
// the input prompt.
func replyAfter(transcript, marker string) string {
	i := strings.LastIndex(transcript, marker)
	if i < 0 {
		return ""
	}
	rest := transcript[i+len(marker):]
	var out []string
	for _, l := range strings.Split(rest, "\n")[1:] {
		tl := strings.TrimSpace(l)
		if strings.HasPrefix(tl, "›") || strings.HasPrefix(tl, "■") || strings.HasPrefix(tl, "↻") {
			break
		}
		out = append(out, strings.TrimRight(l, " "))
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// chatCase is a model to chat with, plus the flags that make its replies
// long (for stop and resize) or short.
type chatCase struct {
	name      string
	model     func(t *testing.T) string
	wantName  string   // model name in the status line
	longArgs  []string // a reply that lasts seconds
	stopArgs  []string // a reply that lasts until Esc (tens of seconds): tests that stop it must not race its end
	shortArgs []string // a reply that ends quickly, at max tokens, with a fixed seed
}

func chatCases() []chatCase {
	return []chatCase{
		{
			name:     "synth",
			model:    func(*testing.T) string { return chatModel },
			wantName: "synth-chat",
			// Random weights: greedy decoding loops without reaching the end
			// of turn, so the reply runs to -n.
			// 2,000 tokens take 0.35 s here, which a loaded CI machine
			// outran before the test's Esc arrived; 6,000 take about 3 s,
			// 16,000 about 15 s.
			longArgs: []string{"--temp", "0", "--ctx", "8192", "-n", "6000"},
			stopArgs: []string{"--temp", "0", "--ctx", "16384", "-n", "16000"},
			// A random seed sometimes draws the end of turn first (an empty
			// reply, seen in CI); this one is known to give 16 tokens.
			shortArgs: []string{"-n", "16", "--seed", "3"},
		},
		{
			name:      "stories260K",
			model:     func(t *testing.T) string { return sharedModel(t, "stories260K.gguf") },
			wantName:  "stories260K F32",
			longArgs:  []string{"--ctx", "4096", "--seed", "3"},
			stopArgs:  []string{"--ctx", "8192", "--seed", "3"},
			shortArgs: []string{"-n", "16", "--seed", "3"},
		},
	}
}

func forEachModel(t *testing.T, f func(t *testing.T, c chatCase, model string)) {
	for _, c := range chatCases() {
		t.Run(c.name, func(t *testing.T) { f(t, c, c.model(t)) })
	}
}

func chatArgs(model string, extra ...string) []string {
	return append([]string{"-t", "1", "-m", model}, extra...)
}

func TestTmuxChatStreamsReplyWithStatus(t *testing.T) {
	forEachModel(t, func(t *testing.T, c chatCase, model string) {
		p := newPane(t)
		p.natter(chatArgs(model, c.longArgs...)...)
		s := p.screen()
		if st := statusOf(s); !strings.Contains(st, c.wantName) || !strings.Contains(st, "ctx 0/") {
			t.Fatalf("status line before chatting %q lacks the model name %q or ctx 0/N", st, c.wantName)
		}
		p.line("Once upon a time")
		// The reply streams: the status line counts its tokens while the
		// text grows on screen.
		s = p.waitFor("the reply to stream", func(s string) bool { return liveTokens(s) > 10 })
		first := replyAfter(s, "› Once upon a time")
		if first == "" {
			// On a loaded machine the first look may come late, when the
			// reply has pushed the message into the scrollback.
			first = replyAfter(p.all(), "› Once upon a time")
		}
		if first == "" {
			t.Fatalf("streaming (%q) but no reply text on screen:\n%s", statusOf(s), s)
		}
		// The context figure counts the prompt and the reply as it streams.
		used0 := ctxUsed(s)
		if used0 <= 0 || !strings.Contains(statusOf(s), "cache ") {
			t.Fatalf("streaming status line %q lacks live context use or this turn's cache figure", statusOf(s))
		}
		p.waitFor("the context figure to grow while streaming", func(s string) bool {
			return (streaming(s) && ctxUsed(s) > used0) || finished(s)
		})
		s = p.waitFor("the reply to finish", finished)
		m := doneRE.FindStringSubmatch(statusOf(s))
		used, size := atoiCommas(m[1]), atoiCommas(m[2])
		tps, _ := strconv.ParseFloat(m[3], 64)
		if used <= 10 || size <= 0 || used > size || tps <= 0 {
			t.Fatalf("implausible figures in the status line %q", statusOf(s))
		}
		if !strings.Contains(statusOf(s), c.wantName) {
			t.Errorf("status line %q lost the model name", statusOf(s))
		}
		all := p.all()
		if reply := replyAfter(all, "› Once upon a time"); len(reply) < len(first) {
			t.Fatalf("the finished reply (%d bytes) is shorter than what streamed (%d):\n%s", len(reply), len(first), all)
		}
		t.Logf("status after the reply: %s", statusOf(s))
		p.checkLiveArea(c.wantName)
		p.keys("C-d")
		if st := p.exited(); st != 0 {
			t.Fatalf("exit status %d after Ctrl+D", st)
		}
	})
}

func TestTmuxEscStopsReply(t *testing.T) {
	forEachModel(t, func(t *testing.T, c chatCase, model string) {
		p := newPane(t)
		p.natter(chatArgs(model, c.stopArgs...)...)
		p.line("Tell me a long story")
		p.waitFor("the reply to stream", func(s string) bool { return liveTokens(s) > 20 })
		p.keys("Escape")
		s := p.waitFor("the stop marker", func(s string) bool {
			return regexp.MustCompile(`(?m)^\s*■ stopped\s*$`).MatchString(s) && !streaming(s)
		})
		if strings.Contains(s, "context window is full") || strings.Contains(s, "max tokens") {
			t.Fatalf("the reply ended by itself, not by Esc:\n%s", s)
		}
		if reply := replyAfter(p.all(), "› Tell me a long story"); reply == "" {
			t.Fatalf("the stopped reply's text is gone:\n%s", p.all())
		}
		// The input works again: a second message gets its own reply.
		p.line("And another")
		p.waitFor("a second reply", func(s string) bool {
			return strings.Contains(s, "› And another") && liveTokens(s) > 0
		})
		p.keys("Escape")
		p.waitFor("the second stop", func(s string) bool { return !streaming(s) && strings.Contains(statusOf(s), "tok/s") })
		p.keys("C-d")
		if st := p.exited(); st != 0 {
			t.Fatalf("exit status %d", st)
		}
	})
}

func TestTmuxRetryGreedyIsRepeatable(t *testing.T) {
	forEachModel(t, func(t *testing.T, c chatCase, model string) {
		p := newPane(t)
		p.natter(chatArgs(model, c.shortArgs...)...)
		p.line("Once upon a time")
		p.waitFor("the first reply", finished)
		first := replyAfter(p.all(), "› Once upon a time")
		if first == "" {
			t.Fatalf("no first reply:\n%s", p.all())
		}

		p.line("/set temp 0")
		p.waitFor("the /set acknowledgement", func(s string) bool { return strings.Contains(s, "temp set · temp 0 ·") })

		// A retried reply is over when its footer is drawn: the status line
		// alone may still show the previous reply's figures.
		const note = "↻ retrying the last reply"
		retry := func(n int) string {
			t.Helper()
			before := strings.Count(p.all(), note)
			p.line("/retry")
			p.waitFor(fmt.Sprintf("retry %d to stop at max tokens", n), func(s string) bool {
				all := p.all()
				i := strings.LastIndex(all, note)
				return strings.Count(all, note) == before+1 && strings.Contains(all[i:], "■ stopped at max tokens") && finished(s)
			})
			return replyAfter(p.all(), note)
		}
		a, b := retry(1), retry(2)
		if a == "" {
			t.Fatalf("/retry produced no reply:\n%s", p.all())
		}
		if a != b {
			t.Fatalf("two greedy /retry runs differ:\n--- first\n%s\n--- second\n%s", a, b)
		}
		t.Logf("greedy reply (%d bytes), identical twice; the sampled one was %d bytes", len(a), len(first))
		p.keys("C-d")
		if st := p.exited(); st != 0 {
			t.Fatalf("exit status %d", st)
		}
	})
}

func TestTmuxResizeWhileStreaming(t *testing.T) {
	forEachModel(t, func(t *testing.T, c chatCase, model string) {
		p := newPane(t)
		p.natter(chatArgs(model, c.stopArgs...)...)
		p.line("Once upon a time")
		s := p.waitFor("the reply to stream", func(s string) bool { return liveTokens(s) > 10 })
		for _, size := range [][2]int{{60, 20}, {paneW, paneH}, {40, 12}, {paneW, paneH}} {
			before := liveTokens(s)
			p.tmux("resize-window", "-t", p.name, "-x", strconv.Itoa(size[0]), "-y", strconv.Itoa(size[1]))
			// The chat redraws for the new size and keeps streaming: more
			// tokens, a status line that fits and, when there is room, still
			// names the model.
			s = p.waitFor(fmt.Sprintf("tokens to keep flowing at %dx%d with the status line intact", size[0], size[1]), func(s string) bool {
				st := statusOf(s)
				return (liveTokens(s) > before || finished(s)) && strings.Contains(st, "ctx ") &&
					len([]rune(st)) <= size[0] && (size[0] < paneW || strings.Contains(st, c.wantName))
			})
			if exitRE.MatchString(s) {
				t.Fatalf("natter exited on resize to %dx%d:\n%s", size[0], size[1], s)
			}
			if got := p.format("#{pane_width}x#{pane_height}"); got != fmt.Sprintf("%dx%d", size[0], size[1]) {
				t.Fatalf("pane is %s, want %dx%d", got, size[0], size[1])
			}
		}
		p.keys("Escape")
		p.waitFor("the reply to end with the full status line", func(s string) bool {
			return finished(s) && strings.Contains(statusOf(s), c.wantName)
		})
		p.checkLiveArea(c.wantName)
		// The terminal re-wraps the live area it drew at the old width;
		// none of those frames may stay behind in the scrollback: one input
		// box, one status line, and the reply's first words once.
		all := p.all()
		if n := strings.Count(all, "› xyz") + strings.Count(all, "› Message natter"); n != 1 {
			t.Fatalf("%d input boxes in the scrollback after resizes:\n%s", n, all)
		}
		// A status line's context figure, not the "--ctx N" of a notice.
		if n := len(statusCtxRE.FindAllString(all, -1)); n != 1 {
			t.Fatalf("%d status lines in the scrollback after resizes:\n%s", n, all)
		}
		if n := strings.Count(all, "› Once upon a time"); n != 1 {
			t.Fatalf("the prompt is in the scrollback %d times after resizes:\n%s", n, all)
		}
		// The reply's first words (within the narrowest width) once: a
		// partial copy from an old width would hold them again.
		reply := []rune(strings.TrimSpace(replyAfter(all, "› Once upon a time")))
		if len(reply) < 12 {
			t.Fatalf("no reply after resizes:\n%s", all)
		}
		head := string(reply[:min(len(reply), 24)])
		head, _, _ = strings.Cut(head, "\n")
		if n := strings.Count(all, head); len(head) >= 10 && n != 1 {
			t.Fatalf("the reply's first words %q are in the scrollback %d times after resizes:\n%s", head, n, all)
		}
		p.keys("C-d")
		if st := p.exited(); st != 0 {
			t.Fatalf("exit status %d", st)
		}
	})
}

// saneTerminal checks that the shell in the pane works normally after natter
// quit: normal screen, cursor shown, no mouse reporting, echo and canonical
// input on.
func saneTerminal(t *testing.T, p *pane) {
	t.Helper()
	for f, want := range map[string]string{
		"#{alternate_on}": "0", "#{cursor_flag}": "1", "#{mouse_any_flag}": "0",
		"#{mouse_button_flag}": "0", "#{mouse_all_flag}": "0", "#{wrap_flag}": "1",
	} {
		if got := p.format(f); got != want {
			t.Errorf("after natter quit %s = %q, want %q", f, got, want)
		}
	}
	p.line(`echo "flags: $(stty -a | tr ' ;' '\n\n' | grep -E '^-?(icanon|echo|isig|icrnl|opost)$' | tr '\n' ' ')"; echo ok-$((6*7))-done`)
	s := p.waitFor("the shell's echo", func(s string) bool {
		return regexp.MustCompile(`(?m)^ok-42-done$`).MatchString(s)
	})
	// The typed command line itself is echoed as typed.
	if !strings.Contains(s, "echo ok-$((6*7))-done") {
		t.Errorf("typed input was not echoed:\n%s", s)
	}
	m := regexp.MustCompile(`(?m)^flags: (.*)$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no stty output:\n%s", s)
	}
	flags := strings.Fields(m[1])
	for _, f := range []string{"icanon", "echo", "isig", "icrnl", "opost"} {
		if !slices.Contains(flags, f) {
			t.Errorf("stty: %s is off after natter quit (%v)\n%s", f, flags, s)
		}
	}
}

func TestTmuxQuitLeavesTerminalSane(t *testing.T) {
	quits := []struct {
		name string
		quit func(p *pane)
	}{
		{"ctrl+d", func(p *pane) { p.keys("C-d") }},
		{"ctrl+c twice", func(p *pane) {
			p.keys("C-c")
			p.waitFor("the quit hint", func(s string) bool { return strings.Contains(s, "Ctrl+C again") })
			p.keys("C-c")
		}},
	}
	for _, q := range quits {
		t.Run(q.name, func(t *testing.T) {
			p := newPane(t)
			p.natter(chatArgs(chatModel, "--temp", "0", "-n", "16")...)
			p.line("Hello")
			p.waitFor("the reply", finished)
			q.quit(p)
			if st := p.exited(); st != 0 {
				t.Fatalf("exit status %d", st)
			}
			saneTerminal(t, p)
		})
	}
	t.Run("ctrl+c stops a reply first", func(t *testing.T) {
		p := newPane(t)
		p.natter(chatArgs(chatModel, "--temp", "0", "--ctx", "8192", "-n", "8000")...)
		p.line("Hello")
		p.waitFor("the reply to stream", func(s string) bool { return liveTokens(s) > 10 })
		p.keys("C-c")
		s := p.waitFor("the reply to stop", func(s string) bool { return finished(s) })
		if exitRE.MatchString(s) {
			t.Fatalf("one Ctrl+C during a reply quit natter:\n%s", s)
		}
		// The press that stopped the reply arms the next one (for 2 s; on a
		// slow machine the hint may be gone already and one more press is
		// needed).
		p.keys("C-c")
		if s := p.waitFor("natter to exit or re-arm", func(s string) bool {
			return exitRE.MatchString(s) || strings.Contains(s, "Ctrl+C again")
		}); !exitRE.MatchString(s) {
			p.keys("C-c")
		}
		if st := p.exited(); st != 0 {
			t.Fatalf("exit status %d", st)
		}
		saneTerminal(t, p)
	})
}

func TestTmuxFirstRunWithoutModel(t *testing.T) {
	p := newPane(t)
	p.lastCmd = natterBin + " -t 1"
	p.line("clear; " + p.lastCmd + "; echo natter-exit=$?")
	s := p.waitFor("the first-run help", func(s string) bool {
		return strings.Contains(s, "natter -m") && strings.Contains(statusOf(s), "no model")
	})
	for _, want := range []string{
		"natter looked for GGUF models in:",
		p.home, // where it looked: under the (empty) home
		"natter -m PATH/TO/model.gguf",
		"export NATTER_MODEL=",
	} {
		if !strings.Contains(p.all(), want) {
			t.Errorf("first-run screen lacks %q:\n%s", want, s)
		}
	}
	// Chatting without a model says so and does not hang.
	p.line("hello?")
	p.waitFor("an answer without a model", func(s string) bool {
		return strings.Contains(s, "No model is loaded")
	})
	if streaming(p.screen()) {
		t.Fatal("a reply started without a model")
	}
	p.keys("C-u") // clear the input, if the message went back there
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		// Ctrl+D on a non-empty input does nothing; say what was on screen.
		t.Fatalf("exit status %d:\n%s", st, p.screen())
	}
	saneTerminal(t, p)
}

// childPID finds the process running natterBin under the pane's shell.
func childPID(t *testing.T, p *pane) int {
	t.Helper()
	shell, err := strconv.Atoi(p.format("#{pane_pid}"))
	if err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so cut at the last ')'.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(shell) {
			if exe, _ := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); exe == natterBin {
				return pid
			}
		}
	}
	t.Fatalf("no natter process under the pane's shell %d", shell)
	return 0
}

func TestTmuxChatOpensNoNetworkSockets(t *testing.T) {
	// The check can fail: it sees a socket this test process holds.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if own, err := netcheck.InetSockets(os.Getpid()); err != nil || len(own) == 0 {
		t.Fatalf("netcheck does not see this test's own listener: %v %v", own, err)
	}

	p := newPane(t)
	p.natter(chatArgs(chatModel, "--temp", "0", "--ctx", "8192", "-n", "8000")...)
	pid := childPID(t, p)
	check := func(when string) {
		t.Helper()
		socks, err := netcheck.InetSockets(pid)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if len(socks) > 0 {
			t.Fatalf("%s: natter holds network sockets: %v", when, socks)
		}
	}
	check("at start")
	p.line("Hello")
	p.waitFor("the reply to stream", func(s string) bool { return liveTokens(s) > 10 })
	check("while streaming")
	p.keys("Escape")
	p.waitFor("the reply to stop", finished)
	p.line("/retry")
	p.waitFor("the retried reply", func(s string) bool { return liveTokens(s) > 10 })
	p.keys("Escape")
	p.waitFor("the reply to stop", finished)
	check("after replies")
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
}

func TestTmuxHistoryContinue(t *testing.T) {
	p := newPane(t, "NATTER_NO_HISTORY=")
	p.natter(chatArgs(chatModel, "--temp", "0", "-n", "24")...)
	p.line("tell me about zebras")
	p.waitFor("the reply", finished)
	reply := replyAfter(p.all(), "› tell me about zebras")
	if reply == "" {
		t.Fatalf("no reply:\n%s", p.all())
	}
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
	if _, err := os.Stat(filepath.Join(p.home, "data", "natter")); err != nil {
		t.Fatalf("nothing saved under XDG_DATA_HOME: %v", err)
	}

	p.natter(chatArgs(chatModel, "-c")...)
	s := p.waitFor("the earlier conversation", func(s string) bool { return strings.Contains(s, "› tell me about zebras") })
	if got := replyAfter(p.all(), "› tell me about zebras"); got != reply {
		t.Fatalf("the continued chat shows a different reply:\n--- saved\n%s\n--- shown\n%s\n%s", reply, got, s)
	}
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
}

// TestTmuxDecodeSpeedVsBench logs (does not assert) the decode speed the
// chat shows after a reply next to natter bench's tg figure and natter ask's
// for the very same greedy reply, all on one thread with stories260K. The
// machine is shared, so each figure is the best of a few runs.
func TestTmuxDecodeSpeedVsBench(t *testing.T) {
	model := sharedModel(t, "stories260K.gguf")
	p := newPane(t)
	const prompt = "Once upon a time"
	chat := func(n string) float64 {
		p.natter(chatArgs(model, "--temp", "0", "--ctx", "2048", "-n", n)...)
		p.line(prompt)
		s := p.waitFor("the reply", finished)
		tps, _ := strconv.ParseFloat(doneRE.FindStringSubmatch(statusOf(s))[3], 64)
		t.Logf("chat -n %s: %s", n, statusOf(s))
		p.keys("C-d")
		if st := p.exited(); st != 0 {
			t.Fatalf("exit status %d", st)
		}
		return tps
	}
	askRE := regexp.MustCompile(`reply: (\d+) tokens, ([\d.]+) tok/s`)
	ask := func(n string) float64 {
		_, errOut, st := natter(t, "", "ask", "-t", "1", "-m", model, "--temp", "0", "--ctx", "2048", "-n", n, "--stats", prompt)
		m := askRE.FindStringSubmatch(errOut)
		if st != 0 || m == nil {
			t.Fatalf("ask: %d %s", st, errOut)
		}
		tps, _ := strconv.ParseFloat(m[2], 64)
		t.Logf("ask -n %s: %s tokens, %.1f tok/s", n, m[1], tps)
		return tps
	}
	bench := func() float64 {
		// The chat's prompt is 46 tokens (ChatML around "Once upon a time"),
		// so the bench decodes at the same positions: depth 45 plus one.
		out, errOut, st := natter(t, "", "bench", "-m", model, "-p", "0", "-d", "45", "-n", "256", "-r", "3", "-t", "1", "--json")
		if st != 0 {
			t.Fatalf("bench: %d %s", st, errOut)
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var r struct {
				Test string  `json:"test"`
				TPS  float64 `json:"tokens_per_second"`
			}
			if json.Unmarshal([]byte(l), &r) == nil && r.Test == "tg256 @ d45" {
				t.Logf("bench tg256 @ d45: %.1f tok/s", r.TPS)
				return r.TPS
			}
		}
		t.Fatalf("no tg256 @ d45 figure in:\n%s", out)
		return 0
	}
	best := func(runs int, f func() float64) float64 {
		b := 0.0
		for range runs {
			b = max(b, f())
		}
		return b
	}
	tg := best(2, bench)
	chat256 := best(3, func() float64 { return chat("256") })
	ask256 := best(3, func() float64 { return ask("256") })
	chatLong := best(1, func() float64 { return chat("-1") })
	askLong := best(1, func() float64 { return ask("-1") })
	t.Logf("bench tg256 @ d45 %.1f tok/s; 256-token greedy reply: chat %.1f (%.0f%% of bench), ask %.1f (%.0f%%); "+
		"reply to a full 2048 context: chat %.1f, ask %.1f (chat %.0f%% of ask)",
		tg, chat256, 100*chat256/tg, ask256, 100*ask256/tg, chatLong, askLong, 100*chatLong/askLong)
}

// -c before any chat was saved says there is none yet and how to start one.
func TestTmuxContinueWithNoChatsYet(t *testing.T) {
	p := newPane(t)
	p.line("clear; '" + natterBin + "' -c -m '" + chatModel + "'; echo natter-exit=$?")
	if st := p.exited(); st != 1 {
		t.Fatalf("exit status %d:\n%s", st, p.screen())
	}
	if s := p.screen(); !strings.Contains(s, "no saved chats yet") || !strings.Contains(s, "start one with `natter`") {
		t.Fatalf("no helpful message:\n%s", s)
	}
}

// A paste from a terminal without bracketed paste (tmux paste-buffer sends
// the text as keystrokes) while a reply streams: it arrives whole and folded
// into one placeholder, no line is sent on its own or refused and lost, and
// when the context cannot hold it, it comes back folded.
func TestTmuxKeystrokePaste(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 20000; i++ {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "line %d of the pasted file, with words", i)
	}
	file := filepath.Join(t.TempDir(), "20k.txt")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newPane(t)
	// The context fills after some seconds of reply, and is far too small
	// for the paste.
	p.natter(chatArgs(chatModel, "--temp", "0", "--ctx", "8192", "-n", "8000")...)
	p.line("Hello")
	p.waitFor("the reply to stream", func(s string) bool { return liveTokens(s) > 5 })
	p.tmux("load-buffer", "-b", "natter-e2e", file)
	p.tmux("paste-buffer", "-b", "natter-e2e", "-t", p.name)
	p.waitFor("the paste folded in the input", func(s string) bool {
		return strings.Contains(s, "› [paste #1: 503 lines, 20 kB]")
	})
	if s := p.all(); strings.Contains(s, "line 0 of the pasted") || strings.Contains(s, "still streaming") {
		t.Fatalf("a pasted line was sent or refused:\n%s", s)
	}
	p.waitFor("the reply to end", finished)
	p.keys("Enter")
	s := p.waitFor("the refusal", func(s string) bool { return strings.Contains(s, "needs") && finished(s) })
	if !strings.Contains(s, "› [paste #1: 503 lines, 20 kB]") {
		t.Fatalf("the refused paste did not come back folded:\n%s", s)
	}
	all := p.all()
	if n := strings.Count(all, "line 0 of the pasted"); n != 1 || !strings.Contains(all, "line 502 of the pasted") {
		t.Fatalf("the paste was not sent whole, once (%d copies of its first line):\n%s", n, all)
	}
}

// run runs a natter command (not the chat) in the shell and returns the
// screen once it has exited.
func (p *pane) run(args ...string) string {
	p.t.Helper()
	q := []string{"'" + natterBin + "'"}
	for _, a := range args {
		q = append(q, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	p.runs++
	done := fmt.Sprintf("run-%d-exit=", p.runs)
	p.line("clear; " + strings.Join(q, " ") + "; echo " + done + "$?")
	return p.waitFor(strings.Join(args, " "), func(s string) bool { return strings.Contains(s, "\n"+done) })
}

// The model is named by its file (stories260K's GGUF name is just "llama")
// in the header, the status line, the history listing and its exports.
func TestTmuxModelNamedByItsFile(t *testing.T) {
	model := sharedModel(t, "stories260K.gguf")
	p := newPane(t, "NATTER_NO_HISTORY=")
	p.natter(chatArgs(model, "--temp", "0", "-n", "8")...)
	p.line("Once upon a time")
	s := p.waitFor("the reply", finished)
	if !strings.Contains(p.all(), "natter · stories260K F32 ·") || !strings.HasPrefix(statusOf(s), "stories260K F32 · ctx") {
		t.Fatalf("header or status line does not name the file:\n%s", p.all())
	}
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
	if s := p.run("history", "list"); !strings.Contains(s, "stories260K") || strings.Contains(s, " llama ") {
		t.Fatalf("history list:\n%s", s)
	}
	if s := p.run("history", "export", "1"); !strings.Contains(s, "- Model: stories260K") {
		t.Fatalf("export:\n%s", s)
	}
}

// A reply that fills the context window stops with a note and the chat
// goes on: the next prompt leaves out the oldest turn and says so, and
// /compact summarizes with the model itself.
func TestTmuxContextFullChatGoesOn(t *testing.T) {
	model := sharedModel(t, "stories260K.gguf")
	p := newPane(t)
	p.natter(chatArgs(model, "--temp", "0", "--ctx", "128")...)
	p.line("Once upon a time")
	s := p.waitFor("the first reply", finished)
	if !regexp.MustCompile(`this reply alone filled the [\d,]+-token context window · the chat goes on`).MatchString(p.all()) {
		t.Fatalf("no clear note for a reply that fills the window:\n%s", s)
	}
	p.line("The end")
	p.waitFor("the second reply", func(s string) bool {
		return finished(s) && strings.Contains(s, "no longer fits the context window")
	})
	all := p.all()
	if !strings.Contains(all, "The oldest turn (“Once upon a time”) no longer fits") {
		t.Fatalf("the note does not say which turn was left out:\n%s", all)
	}
	if replyAfter(all, "› The end") == "" {
		t.Fatalf("no second reply:\n%s", all)
	}
	p.line("/compact")
	p.waitFor("the summary", func(s string) bool { return finished(s) && strings.Contains(s, "summary of 2 messages") })
	p.line("And then?")
	s = p.waitFor("a reply after /compact", func(s string) bool {
		return finished(s) && replyAfter(p.all(), "› And then?") != ""
	})
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d:\n%s", st, s)
	}
}

// The chat warns when the model has no chat template and when the template
// drops the persona's system prompt (issue 18: a persona silently dropped).
func TestTmuxTemplateWarnings(t *testing.T) {
	model := sharedModel(t, "stories260K.gguf")
	p := newPane(t)
	p.natter(chatArgs(model)...)
	p.waitFor("the no-template warning", func(s string) bool {
		return strings.Contains(s, "stories260K has no chat template, so chats are formatted with") && strings.Contains(s, "--raw")
	})
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
	tmpl := filepath.Join(p.home, "nosys.jinja")
	src := "{% for m in messages %}{% if m['role'] != 'system' %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
	if err := os.WriteFile(tmpl, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p.natter(chatArgs(chatModel, "--prompt", "coder", "--chat-template", tmpl)...)
	s := p.waitFor("the dropped-persona warning", func(s string) bool {
		return strings.Contains(strings.Join(strings.Fields(s), " "), "leaves the system prompt out, so persona coder has no effect")
	})
	if strings.Contains(s, "no chat template") {
		t.Fatalf("a no-template warning for a model with one:\n%s", s)
	}
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
}

// Resuming restores the chat's own sampling settings (flags on the command
// line still win) and says when another model is loaded; natter ask and
// bench with another model do not change the chat's default model.
func TestTmuxResumeRestoresSettingsAndModel(t *testing.T) {
	p := newPane(t, "NATTER_NO_HISTORY=")
	p.natter(chatArgs(chatModel, "--temp", "0", "--seed", "7", "-n", "8")...)
	p.line("/set top-k 5")
	p.line("hello there")
	p.waitFor("the reply", finished)
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
	p.run("ask", "-t", "1", "-m", tinyModel, "-n", "2", "--no-save", "hi")
	p.run("bench", "-t", "1", "-m", tinyModel, "-p", "8", "-n", "4", "-r", "1")

	// No -m: the chat's last model, not the one ask and bench used.
	p.natter("-t", "1", "-c")
	p.line("/set")
	s := p.waitFor("the settings", func(s string) bool { return strings.Contains(s, "temp 0 · top-k 5") })
	if !strings.Contains(s, "seed 7") || !strings.HasPrefix(statusOf(s), "synth-chat") {
		t.Fatalf("resumed settings or model:\n%s", s)
	}
	p.keys("C-d")
	p.exited()

	// Another model: the chat says so; --temp on the command line wins.
	p.natter("-t", "1", "-c", "-m", tinyModel, "--temp", "0.5")
	p.line("/set")
	s = p.waitFor("the settings", func(s string) bool { return strings.Contains(s, "temp 0.5 · top-k 5") })
	flat := strings.Join(strings.Fields(p.all()), " ")
	if !strings.Contains(s, "seed 7") || !strings.Contains(flat, "This chat was saved with synth-chat; it goes on with tiny") {
		t.Fatalf("resumed with another model:\n%s", p.all())
	}
	p.keys("C-d")
	p.exited()

	// --resume with no ID: the chat's searchable history list.
	p.launch("-t", "1", "--resume")
	p.waitFor("the history list", func(s string) bool {
		return strings.Contains(s, "type to search") && strings.Contains(s, "hello there")
	})
	p.keys("hello", "Enter")
	p.waitFor("the resumed chat", func(s string) bool { return strings.Contains(s, "resumed chat #") })
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
}

// /model alone lists the local models as `natter models` finds them, and
// /model N switches to one of them.
func TestTmuxModelListAndPick(t *testing.T) {
	stories := sharedModel(t, "stories260K.gguf")
	dir := t.TempDir()
	for _, f := range []string{stories, chatModel} {
		if err := os.Symlink(f, filepath.Join(dir, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
	p := newPane(t, "NATTER_MODELS="+dir)
	p.natter(chatArgs(stories)...)
	p.line("/model")
	s := p.waitFor("the list", func(s string) bool { return strings.Contains(s, "/model N or /model NAME loads one") })
	var pick string
	for _, l := range strings.Split(s, "\n") {
		if m := regexp.MustCompile(`^\s*\*?\s*(\d+)\. synth-chat\b`).FindStringSubmatch(l); m != nil {
			pick = m[1]
		}
	}
	if pick == "" || !regexp.MustCompile(`\*\s*\d+\. stories260K\s+llama`).MatchString(s) {
		t.Fatalf("the list lacks the models or the loaded mark:\n%s", s)
	}
	listed := regexp.MustCompile(`(?m)^\s*\*?\s*\d+\. (\S+)`).FindAllStringSubmatch(s, -1)
	p.line("/model " + pick)
	s = p.waitFor("the switch", func(s string) bool { return strings.HasPrefix(statusOf(s), "synth-chat") })
	if !strings.Contains(s, "Switched to synth-chat") {
		t.Fatalf("no switch note:\n%s", s)
	}
	p.keys("C-d")
	if st := p.exited(); st != 0 {
		t.Fatalf("exit status %d", st)
	}
	// The same models as `natter models` lists.
	out := p.run("models")
	rows := regexp.MustCompile(`(?m)^\s*\*?\s+(\S+)\s+[a-z0-9]+\s+\d`).FindAllStringSubmatch(out, -1)
	var names, cli []string
	for _, m := range listed {
		names = append(names, m[1])
	}
	for _, m := range rows {
		cli = append(cli, m[1])
	}
	slices.Sort(names)
	slices.Sort(cli)
	if len(names) != 2 || !slices.Equal(names, cli) {
		t.Fatalf("/model listed %v, natter models %v:\n%s", names, cli, out)
	}
}

// Up recalls lines sent in earlier sessions; a --no-save chat adds none.
func TestTmuxInputHistoryPersists(t *testing.T) {
	p := newPane(t, "NATTER_NO_HISTORY=")
	p.natter(chatArgs(chatModel, "-n", "4")...)
	p.line("first question")
	p.waitFor("the reply", finished)
	p.line("/set temp 0")
	p.keys("C-d")
	p.exited()

	p.natter(chatArgs(chatModel, "-n", "4", "--no-save")...)
	p.line("secret line")
	p.waitFor("the reply", finished)
	p.keys("C-d")
	p.exited()

	p.natter(chatArgs(chatModel, "-n", "4")...)
	p.keys("Up")
	p.waitFor("the last command recalled", func(s string) bool { return strings.Contains(s, "› /set temp 0") })
	p.keys("Up")
	s := p.waitFor("the first question recalled", func(s string) bool { return strings.Contains(s, "› first question") })
	if strings.Contains(s, "secret") {
		t.Fatalf("a --no-save line was kept:\n%s", s)
	}
	b, err := os.ReadFile(filepath.Join(p.home, "data", "natter", "input_history"))
	if err != nil || strings.Contains(string(b), "secret") {
		t.Fatalf("input history file: %v\n%s", err, b)
	}
	p.keys("C-u")
	p.keys("C-d")
	p.exited()
}
