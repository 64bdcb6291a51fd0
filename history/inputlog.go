package history

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// InputLog is the chat's input history across sessions (Up recalls lines
// typed in earlier chats): one JSON string per line in a file beside the
// history database, readable by its owner only. Lines are appended as they
// are sent; the file is cut back to the newest MaxInputLines when it has
// grown to twice that.
type InputLog struct {
	path  string
	lines chan string
	done  chan struct{}
	once  sync.Once
}

// MaxInputLines is how many entries a session starts with.
const MaxInputLines = 1000

// maxInputBytes: longer entries (a big paste typed in) are not kept.
const maxInputBytes = 4096

// InputLogPath is $XDG_DATA_HOME/natter/input_history.
func InputLogPath() (string, error) {
	db, err := DefaultPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(db), "input_history"), nil
}

// ReadInputLog returns the newest MaxInputLines entries, oldest first; a
// missing file is an empty history, and lines that do not decode (a torn
// write) are skipped.
func ReadInputLog(path string) ([]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var s string
		if json.Unmarshal(sc.Bytes(), &s) == nil && s != "" {
			out = append(out, s)
		}
	}
	if len(out) > MaxInputLines {
		out = out[len(out)-MaxInputLines:]
	}
	return out, sc.Err()
}

// OpenInputLog starts the appender for path; Add never blocks the caller.
func OpenInputLog(path string) *InputLog {
	l := &InputLog{path: path, lines: make(chan string, 256), done: make(chan struct{})}
	go l.loop()
	return l
}

// Add queues a line to be appended (dropped if the queue is full or the
// line is too long to be worth recalling).
func (l *InputLog) Add(line string) {
	if strings.TrimSpace(line) == "" || len(line) > maxInputBytes {
		return
	}
	select {
	case l.lines <- line:
	default:
	}
}

// Close writes what is queued and stops.
func (l *InputLog) Close() {
	l.once.Do(func() { close(l.lines) })
	<-l.done
}

func (l *InputLog) loop() {
	defer close(l.done)
	for line := range l.lines {
		_ = l.append(line) // best effort: recall is a convenience
	}
}

func (l *InputLog) append(line string) error {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	st, serr := f.Stat()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && serr == nil && st.Size() > 2*MaxInputLines*64 {
		err = l.trim()
	}
	return err
}

// trim rewrites the file with its newest entries when it has twice as many
// as a session reads.
func (l *InputLog) trim() error {
	b, err := os.ReadFile(l.path)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) <= 2*MaxInputLines {
		return nil
	}
	keep := strings.Join(lines[len(lines)-MaxInputLines:], "\n") + "\n"
	tmp := l.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(keep), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.path)
}
