package tools

import (
	"context"
	"strings"
)

// ExternalCall builds a Call for a tool that lives outside this package (an
// MCP server's, say). Call.run is unexported so that every Call gets the same
// bounds; this is the one door in. The summary is made one sanitized line
// here, and what run returns is sanitized and cut to maxOutput (0: the
// default) by Call.Run, like the built-in tools' output. When ctx is
// cancelled while run works, the result is "stopped by the user" whatever
// run returned, since run only sees its own error (a closed pipe, say).
func ExternalCall(tool, args, summary string, readOnly bool, maxOutput int, run func(ctx context.Context) (text string, isErr bool)) *Call {
	if maxOutput <= 0 {
		maxOutput = DefaultMaxOutput
	}
	if strings.TrimSpace(args) == "" {
		args = "{}"
	}
	c := &Call{Tool: tool, Args: args, Summary: oneLine(summary), ReadOnly: readOnly, maxOutput: maxOutput}
	if run != nil {
		c.run = func(ctx context.Context) outcome {
			text, isErr := run(ctx)
			if ctx.Err() != nil {
				return failf(stoppedByUser)
			}
			return outcome{text: text, isErr: isErr}
		}
	}
	return c
}
