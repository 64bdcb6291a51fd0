package cli

import (
	"os"
	"strings"
	"sync"

	"github.com/charmbracelet/x/ansi"
)

// maxLogBytes caps llama.log: beyond it the file is moved to llama.log.1
// (replacing the one before) and a fresh one started, so at most about
// twice this is kept however long natter runs.
const maxLogBytes = 1 << 20

// rotatingLog is llama.cpp's log file (written under the engine's log lock,
// but locked here too so it stands alone).
type rotatingLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
}

func openRotatingLog(path string) (*rotatingLog, error) {
	l := &rotatingLog{path: path}
	if err := l.open(); err != nil {
		return nil, err
	}
	if l.size >= maxLogBytes {
		l.rotate()
	}
	return l, nil
}

func (l *rotatingLog) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, st.Size()
	return nil
}

// rotate moves the full file aside; on failure logging goes on in place.
func (l *rotatingLog) rotate() {
	l.f.Close()
	_ = os.Rename(l.path, l.path+".1")
	if err := l.open(); err != nil {
		l.f = nil
	}
}

func (l *rotatingLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return len(p), nil
	}
	if l.size+int64(len(p)) > maxLogBytes && l.size > 0 {
		l.rotate()
		if l.f == nil {
			return len(p), nil
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

func (l *rotatingLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// padCells cuts or pads s to exactly w terminal cells (CJK characters take
// two), so columns after it line up.
func padCells(s string, w int) string {
	s = strings.Join(strings.Fields(s), " ")
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	return s + strings.Repeat(" ", max(w-ansi.StringWidth(s), 0))
}
