//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package doctor

import (
	"context"
	"errors"
	"os"
	"time"
)

func queryTerminal(context.Context, *os.File, *os.File, string, time.Duration) ([]byte, error) {
	return nil, errors.New("terminal queries are not implemented on this system")
}
