//go:build !unix

package tools

import (
	"context"
	"time"
)

// runShell needs process groups to bound a command; without them it is
// not offered to run.
func (s *Set) runShell(ctx context.Context, command string, timeout time.Duration) outcome {
	return failf("run_command is not supported on this system")
}
