package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"natter/tools"
)

// tool is one server tool as a tools.Tool.
type tool struct {
	set      *Set
	conn     *conn
	remote   string // the server's name for it
	spec     tools.Spec
	readOnly bool
}

var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

func newTool(s *Set, c *conn, name string, t *sdk.Tool) *tool {
	params := emptySchema
	if t.InputSchema != nil {
		if b, err := json.Marshal(t.InputSchema); err == nil && len(b) > 0 && b[0] == '{' {
			params = b
		}
	}
	return &tool{
		set:      s,
		conn:     c,
		remote:   t.Name,
		spec:     tools.Spec{Name: name, Description: t.Description, Parameters: params},
		readOnly: t.Annotations != nil && t.Annotations.ReadOnlyHint,
	}
}

func (t *tool) Spec() tools.Spec { return t.spec }
func (t *tool) ReadOnly() bool   { return t.readOnly }

const summaryArgs = 200 // bytes of the arguments shown in the summary

// Prepare checks only that the arguments are a JSON object: the server
// checks them against its schema and says what is wrong in its answer.
func (t *tool) Prepare(args string) (*tools.Call, error) {
	name := t.spec.Name
	raw, err := object(args)
	if err != nil {
		return nil, &tools.ArgError{Tool: name, Reason: "arguments must be a JSON object: " + err.Error()}
	}
	summary := name + " " + cut(string(raw), summaryArgs)
	return tools.ExternalCall(name, string(raw), summary, t.readOnly, t.set.opt.MaxOutput, func(ctx context.Context) (string, bool) {
		return t.call(ctx, raw)
	}), nil
}

// object compacts args, which must be a JSON object. Like the built-in
// tools it takes "" and null as {} and unwraps an object sent encoded once
// more as a string, which small models do.
func object(args string) (json.RawMessage, error) {
	args = strings.TrimSpace(args)
	if args == "" || args == "null" {
		return json.RawMessage("{}"), nil
	}
	var inner string
	if json.Unmarshal([]byte(args), &inner) == nil {
		args = strings.TrimSpace(inner)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(args), &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("got null")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(args)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// cut shortens s to max bytes on a rune boundary.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func (t *tool) call(ctx context.Context, args json.RawMessage) (string, bool) {
	c := t.conn
	select {
	case <-c.closed:
		return fmt.Sprintf("mcp server %q is closed", c.server.Name), true
	default:
	}
	callCtx, cancel := context.WithTimeout(ctx, t.set.opt.Timeout)
	defer cancel()
	res, err := c.session.CallTool(callCtx, &sdk.CallToolParams{Name: t.remote, Arguments: args})
	if err != nil {
		if ctx.Err() == nil && callCtx.Err() != nil {
			return fmt.Sprintf("mcp server %q: %s: no answer within %v", c.server.Name, t.remote, t.set.opt.Timeout), true
		}
		return fmt.Sprintf("mcp server %q: %s: %v", c.server.Name, t.remote, err), true
	}
	return resultText(res), res.IsError
}

// resultText joins the text parts of a result and names the others, which
// a text model cannot take in.
func resultText(res *sdk.CallToolResult) string {
	var parts []string
	for _, ct := range res.Content {
		switch ct := ct.(type) {
		case *sdk.TextContent:
			parts = append(parts, ct.Text)
		case *sdk.ImageContent:
			parts = append(parts, fmt.Sprintf("[image: %s, %s]", orUnknown(ct.MIMEType), size(len(ct.Data))))
		case *sdk.AudioContent:
			parts = append(parts, fmt.Sprintf("[audio: %s, %s]", orUnknown(ct.MIMEType), size(len(ct.Data))))
		case *sdk.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource link: %s %s]", ct.Name, ct.URI))
		case *sdk.EmbeddedResource:
			r := ct.Resource
			switch {
			case r == nil:
				parts = append(parts, "[resource]")
			case r.Text != "":
				parts = append(parts, fmt.Sprintf("[resource: %s]\n%s", r.URI, r.Text))
			default:
				parts = append(parts, fmt.Sprintf("[resource: %s, %s, %s]", r.URI, orUnknown(r.MIMEType), size(len(r.Blob))))
			}
		default:
			parts = append(parts, fmt.Sprintf("[%T content]", ct))
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			return string(b)
		}
	}
	return strings.Join(parts, "\n")
}

func orUnknown(mime string) string {
	if mime == "" {
		return "unknown type"
	}
	return mime
}

func size(n int) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%d KB", (n+1<<9)>>10)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
}
