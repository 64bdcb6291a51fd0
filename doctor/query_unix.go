//go:build linux || darwin || freebsd || netbsd || openbsd

package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// queryTerminal writes q to out with in in raw mode (so the replies are
// neither echoed nor line-buffered) and reads replies from in until a DA1
// reply arrives or timeout passes. The terminal mode is restored on every
// path. os.File deadlines do not work on a terminal stdin (it is not
// opened non-blocking), hence poll(2).
func queryTerminal(ctx context.Context, in, out *os.File, q string, timeout time.Duration) (reply []byte, err error) {
	fd := int(in.Fd())
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("raw mode: %w", err)
	}
	defer func() {
		if rerr := term.Restore(fd, old); rerr != nil && err == nil {
			err = fmt.Errorf("restoring the terminal: %w", rerr)
		}
	}()
	if _, err := out.WriteString(q); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var buf bytes.Buffer
	chunk := make([]byte, 256)
	for buf.Len() < 4096 && !hasDA1(buf.Bytes()) {
		if ctx.Err() != nil {
			return buf.Bytes(), ctx.Err()
		}
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return buf.Bytes(), fmt.Errorf("poll: %w", err)
		}
		if n == 0 {
			break // timed out
		}
		m, err := unix.Read(fd, chunk)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return buf.Bytes(), fmt.Errorf("read: %w", err)
		}
		if m == 0 {
			break // end of input
		}
		buf.Write(chunk[:m])
	}
	return buf.Bytes(), nil
}
