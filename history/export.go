package history

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"natter/engine/api"
	"natter/internal/units"
	"natter/prompts"
)

// Export writes chat chatID to w as "md" (readable Markdown) or "json" (the
// Chat structure, stable field names). Attachments are referenced, not
// embedded: their metadata, and the path of the file holding the bytes.
func (s *Store) Export(ctx context.Context, chatID int64, format string, w io.Writer) error {
	if format != "md" && format != "json" {
		return fmt.Errorf("unknown export format %q (want md or json)", format)
	}
	c, err := s.Get(ctx, chatID)
	if err != nil {
		return err
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	return writeMarkdown(w, c)
}

func writeMarkdown(w io.Writer, c *Chat) error {
	bw := bufio.NewWriter(w)
	title := c.Title
	if title == "" {
		title = "Untitled chat"
	}
	fmt.Fprintf(bw, "# %s\n\n", title)
	fmt.Fprintf(bw, "- Chat: %d\n", c.ID)
	if c.Model != "" {
		fmt.Fprintf(bw, "- Model: %s\n", c.Model)
	}
	if c.Persona != "" {
		fmt.Fprintf(bw, "- Persona: %s\n", c.Persona)
	}
	fmt.Fprintf(bw, "- Started: %s\n", c.CreatedAt.Format(time.RFC3339))
	if c.SystemPrompt != "" {
		fmt.Fprintf(bw, "\n## System\n\n%s\n", c.SystemPrompt)
	}
	for _, m := range c.Messages {
		heading := roleHeading(m.Role)
		if m.Status == StatusInterrupted {
			heading += " (interrupted)"
		}
		fmt.Fprintf(bw, "\n## %s\n\n", heading)
		if m.Reasoning != "" {
			fmt.Fprintf(bw, "<details><summary>Thinking</summary>\n\n%s\n\n</details>\n\n", m.Reasoning)
		}
		if len(m.Media) > 0 {
			for i, a := range m.Media {
				if i > 0 {
					bw.WriteString("\n")
				}
				fmt.Fprintf(bw, "%s\n", attachmentLine(a))
			}
			if m.Content != "" || len(m.ToolCalls) > 0 || m.Role == prompts.RoleTool {
				bw.WriteString("\n")
			}
		}
		if m.Role == prompts.RoleTool {
			writeToolResult(bw, m)
			continue
		}
		if m.Content != "" || len(m.ToolCalls) == 0 && len(m.Media) == 0 {
			fmt.Fprintf(bw, "%s\n", m.Content)
		}
		for i, tc := range m.ToolCalls {
			if i > 0 || m.Content != "" {
				bw.WriteString("\n")
			}
			fmt.Fprintf(bw, "**Tool call** %s", codeSpan(tc.Name))
			if tc.Arguments != "" {
				fmt.Fprintf(bw, " %s", tc.Arguments)
			}
			bw.WriteString("\n")
		}
		if m.Stats != nil && len(m.Stats.Adapters) > 0 {
			// The adapters changed the weights: the reply is not the bare model's.
			fmt.Fprintf(bw, "\n%s\n", adaptersNote(m.Stats.Adapters))
		}
	}
	return bw.Flush()
}

// attachmentLine references an attachment (the bytes stay in the blob
// store): name, kind, size, the start of its hash, and the file holding
// it when there is one, or that it is missing.
func attachmentLine(a Attachment) string {
	name := cmp.Or(a.Name, "attachment")
	sum := a.SHA256
	if len(sum) > 12 {
		sum = sum[:12] + "…"
	}
	s := fmt.Sprintf("📎 %s (%s, %s, sha256 %s)", mdEscape(name), cmp.Or(a.Kind, "file"), units.Bytes(a.Size), sum)
	switch {
	case a.Missing && a.Path != "":
		s += " *missing* (expected at " + codeSpan(a.Path) + ")"
	case a.Missing:
		s += " *missing*"
	case a.Path != "":
		s += " at " + codeSpan(a.Path)
	}
	return s
}

// adaptersNote names the LoRA adapters a reply was made with, and their
// hashes, since a file name alone does not say which weights they were.
func adaptersNote(list []api.Adapter) string {
	var parts []string
	for _, a := range list {
		name := a.Name
		if name == "" {
			name = filepath.Base(a.Path)
		}
		s := mdEscape(name) + " ×" + strconv.FormatFloat(float64(a.Scale), 'g', -1, 32)
		if a.SHA256 != "" {
			s += ", sha256 " + mdEscape(a.SHA256[:min(len(a.SHA256), 12)])
		}
		parts = append(parts, s)
	}
	return "*(LoRA: " + strings.Join(parts, "; ") + ")*"
}

// mdEscape keeps a file name literal inside the italic note. Underscores
// stay: common in file names, and inside a word they are not emphasis.
func mdEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*[]<>", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writeToolResult shows a tool's output verbatim in a fenced block: it is
// program output (files, listings), not Markdown.
func writeToolResult(bw *bufio.Writer, m Message) {
	bw.WriteString("**Tool result**")
	if name := cmp.Or(m.Name, m.ToolCallID); name != "" {
		fmt.Fprintf(bw, " (%s)", name)
	}
	fence := backticks(m.Content, 3)
	content := m.Content
	if content != "" && !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	fmt.Fprintf(bw, "\n\n%s\n%s%s\n", fence, content, fence)
}

// codeSpan quotes s as inline code, whatever backticks it holds.
func codeSpan(s string) string {
	ticks := backticks(s, 1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return ticks + s + ticks
}

// backticks is a run of backticks longer than any in s (and at least
// atLeast), so s cannot close the code span or fence it delimits.
func backticks(s string, atLeast int) string {
	n, run := atLeast, 0
	for _, r := range s {
		if r != '`' {
			run = 0
			continue
		}
		if run++; run >= n {
			n = run + 1
		}
	}
	return strings.Repeat("`", n)
}

func roleHeading(role string) string {
	for i, r := range role {
		if i == 0 {
			return strings.ToUpper(string(r)) + role[len(string(r)):]
		}
	}
	return "Message"
}
