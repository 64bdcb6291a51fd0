package history

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
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
		fmt.Fprintf(bw, "%s\n", m.Content)
	}
	return bw.Flush()
}

func roleHeading(role string) string {
	for i, r := range role {
		if i == 0 {
			return strings.ToUpper(string(r)) + role[len(string(r)):]
		}
	}
	return "Message"
}
