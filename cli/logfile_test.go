package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"natter/models"
)

// llama.log never grows past its cap: the full file moves to llama.log.1.
func TestLlamaLogIsCapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "llama.log")
	l, err := openRotatingLog(path)
	if err != nil {
		t.Fatal(err)
	}
	line := bytes.Repeat([]byte("x"), 999)
	line = append(line, '\n')
	total := 0
	for total < 3*maxLogBytes {
		n, err := l.Write(line)
		if err != nil || n != len(line) {
			t.Fatalf("write: %d %v", n, err)
		}
		total += n
	}
	l.Close()
	for _, p := range []string{path, path + ".1"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Size() > maxLogBytes || fi.Size() == 0 {
			t.Fatalf("%s: %v %v", p, fi, err)
		}
	}
	if fi, _ := os.Stat(path + ".1"); fi.Size() < maxLogBytes-int64(len(line)) {
		t.Fatalf("rotated file holds only %d bytes", fi.Size())
	}
	// A file already over the cap (an older natter) is moved at start.
	big := bytes.Repeat([]byte("y"), maxLogBytes+10)
	os.WriteFile(path, big, 0o600)
	l, err = openRotatingLog(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("new\n"))
	l.Close()
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Fatalf("log after start: %d bytes", len(b))
	}
}

// The first-run screen writes catalog sizes as `natter models --catalog` does.
func TestCatalogSizesMatchTheCLI(t *testing.T) {
	var b, e strings.Builder
	st := models.ModelsCmd(models.ModelsOptions{Catalog: true}, &b, &e)
	out := b.String()
	if st != 0 {
		t.Fatalf("natter models --catalog: %d", st)
	}
	items := catalogItems(0)
	if len(items) == 0 {
		t.Fatal("empty catalog")
	}
	for _, it := range items {
		if it.SizeText == "" || !strings.Contains(out, it.Name) || !strings.Contains(out, it.SizeText) {
			t.Fatalf("%s: the TUI says %q; the CLI:\n%s", it.Name, it.SizeText, out)
		}
	}
}

// The --resume list lines up CJK titles (two cells a character).
func TestPadCellsAlignsCJK(t *testing.T) {
	for _, s := range []string{"hello", "你好世界", "a long 标题 that goes on and on and on and on past fifty cells", ""} {
		if got := padCells(s, 50); ansi.StringWidth(got) != 50 {
			t.Errorf("%q padded to %d cells: %q", s, ansi.StringWidth(got), got)
		}
	}
}
