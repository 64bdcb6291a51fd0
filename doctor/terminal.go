package doctor

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/colorprofile"
	"golang.org/x/term"
)

// TerminalInfo is what natter's TUI can expect of the terminal.
type TerminalInfo struct {
	StdinTTY           bool   `json:"stdin_tty"`
	StdoutTTY          bool   `json:"stdout_tty"`
	Width              int    `json:"width"`
	Height             int    `json:"height"`
	SizeError          string `json:"size_error,omitempty"`
	Term               string `json:"term"`
	ColorTerm          string `json:"colorterm"`
	TermProgram        string `json:"term_program"`
	TermProgramVersion string `json:"term_program_version"`
	// Multiplexer is "tmux", "screen" or "" (none seen).
	Multiplexer  string `json:"multiplexer"`
	ColorProfile string `json:"color_profile"`
	// OSC52 is whether /copy (OSC 52) is likely to reach the clipboard.
	OSC52 Capability `json:"osc52_clipboard"`
	// SyncOutput is synchronized output (mode 2026), which stops redraws
	// from tearing.
	SyncOutput Capability `json:"synchronized_output"`
}

// Capability is a terminal feature: Status, and what it was judged on.
type Capability struct {
	// Status is "supported", "likely", "no", "not supported" or "unknown".
	Status string `json:"status"`
	Basis  string `json:"basis"`
}

// queryTimeout bounds the wait for the terminal's replies: local terminals
// answer in well under a millisecond, ssh adds a round trip.
const queryTimeout = 300 * time.Millisecond

func collectTerminal(ctx context.Context, o Options) TerminalInfo {
	t := TerminalInfo{
		StdinTTY:           isTerminal(o.Stdin),
		StdoutTTY:          isTerminal(o.Stdout),
		Term:               o.Getenv("TERM"),
		ColorTerm:          o.Getenv("COLORTERM"),
		TermProgram:        o.Getenv("TERM_PROGRAM"),
		TermProgramVersion: o.Getenv("TERM_PROGRAM_VERSION"),
	}
	if f := firstTTY(t, o); f != nil {
		w, h, err := term.GetSize(int(f.Fd()))
		if err != nil {
			t.SizeError = err.Error()
		}
		t.Width, t.Height = w, h
	}
	switch {
	case o.Getenv("TMUX") != "":
		t.Multiplexer = "tmux"
	case o.Getenv("STY") != "":
		t.Multiplexer = "screen"
	}

	var out io.Writer = io.Discard // Detect reads it as "not a terminal"
	if o.Stdout != nil {
		out = o.Stdout
	}
	t.ColorProfile = colorprofile.Detect(out, profileEnv(o.Getenv)).String()

	t.OSC52 = osc52Support(o.Getenv, func() (string, error) { return tmuxOption(ctx, "set-clipboard") })
	t.SyncOutput = syncOutput(ctx, o, t)
	return t
}

func isTerminal(f *os.File) bool { return f != nil && term.IsTerminal(int(f.Fd())) }

// firstTTY is the file to ask for the window size: stdout, else stdin.
func firstTTY(t TerminalInfo, o Options) *os.File {
	switch {
	case t.StdoutTTY:
		return o.Stdout
	case t.StdinTTY:
		return o.Stdin
	}
	return nil
}

// profileEnv is the environment colorprofile reads, through Getenv so the
// report follows the caller's view of the environment.
func profileEnv(getenv func(string) string) []string {
	var env []string
	for _, k := range []string{"TERM", "COLORTERM", "NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE",
		"TTY_FORCE", "TMUX", "WT_SESSION", "GOOGLE_CLOUD_SHELL", "ConEmuANSI", "ANSICON", "ANSICON_VER"} {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// tmuxOption reads a global tmux option from the server natter runs under.
func tmuxOption(ctx context.Context, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, "tmux", "show-options", "-gv", name).Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// osc52Support judges OSC 52 from the environment: terminals do not answer
// a query for it (the read-back form is disabled nearly everywhere), so
// this is knowledge of terminals, and Basis says which.
func osc52Support(getenv func(string) string, tmuxSetClipboard func() (string, error)) Capability {
	// Multiplexers first: they sit between natter and the terminal and
	// inherit the outer terminal's variables.
	if getenv("TMUX") != "" {
		v, err := tmuxSetClipboard()
		switch {
		case err != nil:
			return Capability{"unknown", "inside tmux; reading set-clipboard failed: " + err.Error()}
		case v == "on":
			return Capability{"likely", "inside tmux with set-clipboard on: tmux passes OSC 52 on to the outer terminal, which must support it too"}
		default:
			return Capability{"no", "inside tmux with set-clipboard " + v + ": tmux drops OSC 52 from applications (set -g set-clipboard on)"}
		}
	}
	if getenv("STY") != "" {
		return Capability{"no", "inside GNU screen, which does not pass OSC 52 through"}
	}
	tp, tm := getenv("TERM_PROGRAM"), getenv("TERM")
	switch strings.ToLower(tp) {
	case "wezterm", "ghostty":
		return Capability{"likely", "TERM_PROGRAM=" + tp + " supports OSC 52"}
	case "iterm.app":
		return Capability{"unknown", "TERM_PROGRAM=iTerm.app supports OSC 52 only with \"Applications in terminal may access clipboard\" enabled"}
	case "apple_terminal":
		return Capability{"no", "TERM_PROGRAM=Apple_Terminal does not support OSC 52"}
	}
	switch {
	case tm == "xterm-kitty" || getenv("KITTY_WINDOW_ID") != "":
		return Capability{"likely", "kitty (TERM=" + tm + ") supports OSC 52"}
	case tm == "xterm-ghostty" || tm == "wezterm" || tm == "alacritty" || strings.HasPrefix(tm, "foot") || tm == "contour":
		return Capability{"likely", "TERM=" + tm + " supports OSC 52"}
	case getenv("WT_SESSION") != "":
		return Capability{"likely", "Windows Terminal (WT_SESSION is set) supports OSC 52"}
	case tm == "linux":
		return Capability{"no", "TERM=linux: the Linux console has no clipboard escape"}
	case tm == "dumb" || tm == "":
		return Capability{"no", fmt.Sprintf("TERM=%q: not a terminal that takes escape sequences", tm)}
	case getenv("VTE_VERSION") != "":
		return Capability{"no", "VTE_VERSION is set: VTE terminals (GNOME Terminal, Tilix, ...) do not implement OSC 52"}
	}
	return Capability{"unknown", fmt.Sprintf("TERM=%s TERM_PROGRAM=%s: not a terminal known either way", tm, tp)}
}

// syncOutput asks the terminal about mode 2026 when allowed and possible.
// A reply arriving after the timeout lands in the shell's input, which is
// why the caller must opt in and DA1 (answered by every terminal) ends the
// wait as soon as it comes.
func syncOutput(ctx context.Context, o Options, t TerminalInfo) Capability {
	switch {
	case !o.QueryTerminal:
		return Capability{"unknown", "not queried"}
	case !t.StdinTTY || !t.StdoutTTY:
		return Capability{"unknown", "not queried: stdin and stdout are not both terminals"}
	}
	reply, err := queryTerminal(ctx, o.Stdin, o.Stdout, queryDECRQM2026+queryDA1, queryTimeout)
	if err != nil {
		return Capability{"unknown", "query failed: " + err.Error()}
	}
	return interpretSync(reply)
}

const (
	queryDECRQM2026 = "\x1b[?2026$p" // DECRQM: report private mode 2026
	queryDA1        = "\x1b[c"       // primary device attributes: every terminal answers
)

// interpretSync turns the terminal's replies to DECRQM 2026 + DA1 into a
// Capability. DA1 is the sentinel: a terminal that answers it but not the
// DECRQM does not know the mode.
func interpretSync(reply []byte) Capability {
	ps, ok := parseModeReport(reply, 2026)
	if ok {
		basis := fmt.Sprintf("DECRQM reply CSI ? 2026 ; %d $ y", ps)
		switch ps {
		case 1, 2, 3: // set, reset, permanently set: the mode exists
			return Capability{"supported", basis}
		case 0, 4: // not recognised, permanently reset
			return Capability{"not supported", basis}
		}
		return Capability{"unknown", basis + " (unexpected value)"}
	}
	if hasDA1(reply) {
		return Capability{"not supported", "the terminal answered DA1 but not DECRQM for mode 2026"}
	}
	if len(reply) == 0 {
		return Capability{"unknown", fmt.Sprintf("no reply within %v", queryTimeout)}
	}
	return Capability{"unknown", fmt.Sprintf("unrecognised reply %q", reply)}
}

// csi is one control sequence: CSI params intermediates final.
type csi struct {
	params, inter string
	final         byte
}

// scanCSI finds the complete control sequences in b (7-bit ESC [ or 8-bit
// CSI introducer). Other bytes (keys typed meanwhile, other replies) are
// skipped, malformed sequences dropped, and a sequence cut off at the end
// of b ignored, so a split reply is found once its rest has been read.
func scanCSI(b []byte) []csi {
	var out []csi
	for i := 0; i < len(b); {
		start := -1
		switch {
		case b[i] == 0x1b && i+1 < len(b) && b[i+1] == '[':
			start = i + 2
		case b[i] == 0x9b:
			start = i + 1
		}
		if start < 0 {
			i++
			continue
		}
		j := start
		for j < len(b) && b[j] >= 0x30 && b[j] <= 0x3f {
			j++
		}
		k := j
		for k < len(b) && b[k] >= 0x20 && b[k] <= 0x2f {
			k++
		}
		if k >= len(b) {
			return out // incomplete
		}
		if b[k] >= 0x40 && b[k] <= 0x7e {
			out = append(out, csi{string(b[start:j]), string(b[j:k]), b[k]})
			i = k + 1
			continue
		}
		i = k // not a valid sequence: rescan from the offending byte
	}
	return out
}

// parseModeReport finds DECRPM for private mode in b, CSI ? mode ; Ps $ y,
// and returns Ps (0 not recognised, 1 set, 2 reset, 3 permanently set,
// 4 permanently reset).
func parseModeReport(b []byte, mode int) (ps int, ok bool) {
	for _, s := range scanCSI(b) {
		if s.final != 'y' || s.inter != "$" || !strings.HasPrefix(s.params, "?") {
			continue
		}
		m, v, found := strings.Cut(s.params[1:], ";")
		if !found {
			continue
		}
		mn, err1 := strconv.Atoi(m)
		pn, err2 := strconv.Atoi(v)
		if err1 == nil && err2 == nil && mn == mode {
			return pn, true
		}
	}
	return 0, false
}

// hasDA1 reports whether b holds a primary device attributes reply,
// CSI ? Ps ; ... c.
func hasDA1(b []byte) bool {
	for _, s := range scanCSI(b) {
		if s.final == 'c' && s.inter == "" && strings.HasPrefix(s.params, "?") {
			return true
		}
	}
	return false
}
