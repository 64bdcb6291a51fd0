package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

type runCommandTool struct{ s *Set }

func (runCommandTool) ReadOnly() bool { return false }

func (t runCommandTool) Spec() Spec {
	return Spec{
		Name:        "run_command",
		Description: "Run a shell command with /bin/sh -c in the working directory and return its output (stdout and stderr together) and exit status. There is no input: commands that wait for input or never end are stopped at the timeout. Processes it starts in the background are stopped when it ends.",
		Parameters: json.RawMessage(fmt.Sprintf(`{
  "type": "object",
  "properties": {
    "command": {"type": "string", "description": "Shell command line, e.g. \"go test ./...\""},
    "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": %d, "description": "Stop the command after this many seconds; default and most %d"}
  },
  "required": ["command"],
  "additionalProperties": false
}`, t.maxSeconds(), t.maxSeconds())),
	}
}

func (t runCommandTool) maxSeconds() int { return max(1, int(t.s.box.Timeout/time.Second)) }

func (t runCommandTool) Prepare(text string) (*Call, error) {
	const name = "run_command"
	a, err := parseArgs(name, text, "command", "timeout_seconds")
	if err != nil {
		return nil, err
	}
	command, _, err := a.str("command", true)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(command) == "" {
		return nil, a.errf("command", "must not be empty")
	}
	if strings.IndexByte(command, 0) >= 0 {
		return nil, a.errf("command", "contains a NUL byte")
	}
	secs, hasSecs, err := a.integer("timeout_seconds", 1)
	if err != nil {
		return nil, err
	}
	timeout := t.s.box.Timeout
	norm := struct {
		Command string `json:"command"`
		Timeout *int   `json:"timeout_seconds,omitempty"`
	}{Command: command}
	if hasSecs {
		norm.Timeout = &secs
		if d := time.Duration(secs) * time.Second; d < timeout {
			timeout = d
		}
	}
	c := t.s.newCall(name, false, norm)
	first, rest, multi := strings.Cut(strings.TrimSpace(command), "\n")
	c.Summary = "run_command " + oneLine(first)
	if multi {
		// The whole script goes in the preview: the user approves all of it.
		c.Summary += fmt.Sprintf(" … (+%d lines)", strings.Count(rest, "\n")+1)
		c.Preview = Sanitize(command)
	}
	c.run = func(ctx context.Context) outcome { return t.s.runShell(ctx, command, timeout) }
	return c, nil
}

// capture keeps the first and the last part of a stream and counts the
// rest, so a command printing without end costs bounded memory.
type capture struct {
	head    []byte
	headMax int
	tail    []byte // ring buffer once full; pos is its oldest byte
	tailMax int
	pos     int
	total   int64
}

func newCapture(max int) *capture {
	h := max / 2
	return &capture{headMax: h, tailMax: max - h}
}

func (c *capture) Write(p []byte) (int, error) {
	n := len(p)
	c.total += int64(n)
	if room := c.headMax - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	if len(p) == 0 || c.tailMax == 0 {
		return n, nil
	}
	if len(p) >= c.tailMax {
		c.tail = append(c.tail[:0], p[len(p)-c.tailMax:]...)
		c.pos = 0
		return n, nil
	}
	if room := c.tailMax - len(c.tail); room > 0 {
		k := min(room, len(p))
		c.tail = append(c.tail, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		k := copy(c.tail[c.pos:], p)
		p = p[k:]
		c.pos = (c.pos + k) % c.tailMax
	}
	return n, nil
}

// text renders what was kept: sanitized, each part within its share of
// max bytes, with a note on what was left out between them.
func (c *capture) text(max int) (string, bool) {
	tail := append(append([]byte(nil), c.tail[c.pos:]...), c.tail[:c.pos]...)
	dropped := c.total - int64(len(c.head)) - int64(len(tail))
	if dropped == 0 {
		all := Sanitize(string(c.head) + string(tail))
		if len(all) <= max {
			return all, false
		}
		// Escapes made it longer than max: split it like a long stream.
		h := runeStart(all, max/2)
		t := runeStart(all, len(all)-(max-h))
		return all[:h] + leftOut(int64(t-h)) + all[t:], true
	}
	head, tailS := string(c.head), string(tail)
	// Do not split a rune at either cut.
	hc := len(head)
	if i := runeStart(head, hc-1); i >= 0 && i < hc && !utf8.FullRuneInString(head[i:]) {
		hc = i
	}
	tc := 0
	for tc < len(tailS) && tc < utf8.UTFMax-1 && !utf8.RuneStart(tailS[tc]) {
		tc++
	}
	dropped += int64(len(head)-hc) + int64(tc)
	hs, ts := Sanitize(head[:hc]), Sanitize(tailS[tc:])
	if len(hs) > c.headMax {
		cut := runeStart(hs, c.headMax)
		dropped += int64(len(hs) - cut)
		hs = hs[:cut]
	}
	if len(ts) > c.tailMax {
		cut := runeStart(ts, len(ts)-c.tailMax)
		dropped += int64(cut)
		ts = ts[cut:]
	}
	return hs + leftOut(dropped) + ts, true
}

func leftOut(n int64) string {
	return fmt.Sprintf("\n… (%d bytes of output left out) …\n", n)
}

// finish appends the status line to a command's captured output.
func finish(out *capture, max int, status string, isErr bool) outcome {
	text, cut := out.text(max)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return outcome{text: text + status, isErr: isErr, truncated: cut, final: true}
}

func seconds(d time.Duration) string { return fmt.Sprintf("%gs", d.Seconds()) }
