package ui

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"natter/engine/api"
	"natter/media"
	"natter/prompts"
)

// /attach FILE (or a dropped or pasted path alone on the input line) adds an
// image or audio file to the next message; the files wait as chips above the
// input until it is sent.

const attachUsage = "Usage: /attach FILE (an image or audio file; it goes with your next message), /attach clear"

// attachMsg is a file read for /attach.
type attachMsg struct {
	att prompts.Attachment
	err error
}

// ReadAttachment reads a media file and tells its kind from its bytes (not
// its name). Decoding waits for the engine, which knows the sizes its
// encoder wants.
func ReadAttachment(path string) (prompts.Attachment, error) {
	kind, format, data, err := media.Load(path)
	if err != nil {
		return prompts.Attachment{}, err
	}
	return prompts.NewAttachment(kind, format, filepath.Base(path), data), nil
}

func cmdAttach(m *Model, arg string) tea.Cmd {
	switch strings.ToLower(arg) {
	case "":
		if len(m.attach) == 0 {
			m.notice = attachUsage
			return nil
		}
		m.notice = "Attached to your next message: " + attachList(m.attach) + " (/attach clear removes them)"
		return nil
	case "clear", "none", "off":
		m.notice = fmt.Sprintf("Removed %s.", plural(len(m.attach), "attachment", "attachments"))
		m.attach = nil
		return nil
	}
	if m.gen == nil {
		m.errLine = "No model is loaded: use /model PATH."
		return nil
	}
	if why := m.noMediaReason(""); why != "" {
		m.errLine = "/attach: " + why
		return nil
	}
	path := expandHome(unquotePath(arg))
	m.notice = "reading " + filepath.Base(path) + "…"
	return func() tea.Msg {
		a, err := ReadAttachment(path)
		return attachMsg{att: a, err: err}
	}
}

// noMediaReason says why the model cannot take attachments of kind (""
// for any kind), or "" when it can. A remote server's abilities are not
// known: it answers for itself.
func (m Model) noMediaReason(kind string) string {
	in := m.info
	switch {
	case in.Arch == "remote":
		return ""
	case in.ProjectorNote != "":
		return "this model takes text only here: " + in.ProjectorNote
	case !in.Vision && !in.Audio:
		return "this model takes text only: no mmproj-*.gguf projector was found beside it (restart with --mmproj FILE)"
	case kind == prompts.MediaImage && !in.Vision:
		return "this model's projector takes audio, not images"
	case kind == prompts.MediaAudio && !in.Audio:
		return "this model's projector takes images, not audio"
	}
	return ""
}

func (m Model) onAttach(msg attachMsg) (tea.Model, tea.Cmd) {
	m.notice = ""
	if msg.err != nil {
		m.errLine = "/attach: " + msg.err.Error()
		return m, nil
	}
	if why := m.noMediaReason(msg.att.Kind); why != "" {
		m.errLine = "/attach " + msg.att.Name + ": " + why
		return m, nil
	}
	for _, a := range m.attach {
		if a.SHA256 == msg.att.SHA256 {
			m.notice = a.Name + " is attached already."
			return m, nil
		}
	}
	m.attach = append(m.attach, msg.att)
	m.errLine = ""
	m.notice = "Attached " + msg.att.Name + ": type your message and press Enter."
	return m, nil
}

// attachLines are the chips above the input.
func (m Model) attachLines() []string {
	if len(m.attach) == 0 {
		return nil
	}
	return []string{ansi.Truncate(m.st.dim.Render("  📎 "+attachList(m.attach)), max(m.width, 10), "…")}
}

func attachList(atts []prompts.Attachment) string {
	parts := make([]string, len(atts))
	for i, a := range atts {
		parts[i] = attachLabel(a)
	}
	return strings.Join(parts, "  ")
}

// attachLabel is a chip: "receipt.png (image, 120 kB)".
func attachLabel(a prompts.Attachment) string {
	return fmt.Sprintf("%s (%s, %s)", TerminalSafe(a.Name), a.Kind, humanBytes(int(a.Size)))
}

// userText is a user entry's text: a chip line per attachment, then the
// message.
func userText(msg prompts.Message) string {
	text := cleanText(msg.Content)
	if len(msg.Media) == 0 {
		return text
	}
	var b strings.Builder
	for _, a := range msg.Media {
		b.WriteString("📎 " + attachLabel(a))
		if a.Data == nil {
			b.WriteString(" — missing from the history store")
		}
		b.WriteString("\n")
	}
	b.WriteString(text)
	return strings.TrimRight(b.String(), "\n")
}

// droppedPath returns the file a line names when the line is nothing but
// the path of a media file, as a terminal types it for a dropped file
// (quoted, or with backslash-escaped spaces, or a file:// URL).
func droppedPath(line string) (string, bool) {
	raw := strings.TrimSpace(line)
	quoted := strings.HasPrefix(raw, "'") || strings.HasPrefix(raw, `"`)
	if !quoted && strings.Contains(strings.ReplaceAll(raw, `\ `, ""), " ") {
		return "", false // words, not one path: "/attach x.png", a sentence
	}
	p := unquotePath(raw)
	if strings.ContainsAny(p, "\n\r") {
		return "", false
	}
	if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "~/") && !strings.HasPrefix(p, "./") {
		return "", false
	}
	if isMediaFile(p) {
		return expandHome(p), true
	}
	return "", false
}

// unquotePath undoes how terminals and shells quote a path: 'a b', "a b",
// a\ b, file:///a%20b.
func unquotePath(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '\'' && s[len(s)-1] == '\'' || s[0] == '"' && s[len(s)-1] == '"') {
		return s[1 : len(s)-1]
	}
	if rest, ok := strings.CutPrefix(s, "file://"); ok {
		s = strings.ReplaceAll(rest, "%20", " ")
	}
	if strings.Contains(s, `\`) {
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		}
		s = b.String()
	}
	return s
}

// presentMedia drops the attachments whose bytes are gone (a resumed chat
// whose file left the history store): the model reads the turn without
// them, and the transcript marks them missing (userText).
func presentMedia(msgs []prompts.Message) []prompts.Message {
	var out []prompts.Message
	for i, m := range msgs {
		for _, a := range m.Media {
			if a.Data != nil {
				continue
			}
			if out == nil {
				out = slices.Clone(msgs)
			}
			out[i].Media = slices.DeleteFunc(slices.Clone(m.Media), func(a prompts.Attachment) bool { return a.Data == nil })
			break
		}
	}
	if out == nil {
		return msgs
	}
	return out
}

// mediaStatus is the status line's word for a model that takes images or
// audio: "+vision", "+audio", "+vision+audio"; "" for text only.
func mediaStatus(in api.ModelInfo) string {
	var s string
	if in.Vision {
		s += "+vision"
	}
	if in.Audio {
		s += "+audio"
	}
	return s
}
