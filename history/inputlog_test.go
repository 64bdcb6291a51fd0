package history

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInputLogRoundTripAndCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "natter", "input_history")
	if got, err := ReadInputLog(path); err != nil || got != nil {
		t.Fatalf("missing file: %q %v", got, err)
	}
	l := OpenInputLog(path)
	l.Add("hello")
	l.Add("two\nlines")
	l.Add("   ")
	l.Add(strings.Repeat("x", maxInputBytes+1))
	l.Close()
	got, err := ReadInputLog(path)
	if err != nil || strings.Join(got, "|") != "hello|two\nlines" {
		t.Fatalf("read back %q %v", got, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v %v", fi.Mode(), err)
	}
	// A torn last line is skipped; the file is cut back once it has grown
	// to twice the entries a session reads.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`"torn`)
	f.Close()
	f, _ = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\n")
	f.Close()
	l = OpenInputLog(path)
	for i := range 3 * MaxInputLines {
		l.lines <- fmt.Sprintf("line %d with some words to make it longer than sixty-four bytes......", i)
	}
	l.Close()
	got, _ = ReadInputLog(path)
	if len(got) != MaxInputLines || got[len(got)-1] != fmt.Sprintf("line %d with some words to make it longer than sixty-four bytes......", 3*MaxInputLines-1) {
		t.Fatalf("%d entries, last %q", len(got), got[len(got)-1])
	}
	b, _ := os.ReadFile(path)
	if n := strings.Count(string(b), "\n"); n > 2*MaxInputLines+1 {
		t.Fatalf("the file keeps %d lines", n)
	}
}
