package history

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"natter/prompts"
)

// Export writes chat chatID to w as "md" (readable Markdown) or "json" (the
// Chat structure, stable field names).
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
		if m.Role == prompts.RoleTool {
			writeToolResult(bw, m)
			continue
		}
		if m.Content != "" || len(m.ToolCalls) == 0 {
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
	}
	return bw.Flush()
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
