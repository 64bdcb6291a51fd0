package doctor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: natter's side (the slave, a real
// terminal to term.MakeRaw) and the terminal emulator's side (the master).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// emulate reads the query from the master and writes answer back, as a
// terminal would, and then sends what it was asked on the channel.
func emulate(t *testing.T, master *os.File, answer []byte) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		want := len(queryDECRQM2026 + queryDA1)
		buf := make([]byte, want)
		if _, err := io.ReadFull(master, buf); err != nil {
			got <- nil
			return
		}
		// In two writes, so the reader sees the reply split.
		half := len(answer) / 2
		for _, part := range [][]byte{answer[:half], answer[half:]} {
			if len(part) > 0 {
				_, _ = master.Write(part)
				time.Sleep(20 * time.Millisecond)
			}
		}
		got <- buf
	}()
	return got
}

func termios(t *testing.T, f *os.File) unix.Termios {
	t.Helper()
	st, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return *st
}

func TestCollectQueriesTerminal(t *testing.T) {
	// Keep the scan of models and history away from the real home.
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, k := range []string{"XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "NATTER_MODELS", "TMUX", "STY"} {
		t.Setenv(k, "")
	}
	master, slave := openPTY(t)
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	before := termios(t, slave)
	// The DA1 sentinel comes last.
	got := emulate(t, master, []byte("\x1b[?2026;2$y\x1b[?62;22c"))

	r := Collect(context.Background(), Options{Stdin: slave, Stdout: slave, QueryTerminal: true})
	tm := r.Terminal
	if !tm.StdinTTY || !tm.StdoutTTY || tm.Width != 120 || tm.Height != 40 {
		t.Errorf("terminal = %+v", tm)
	}
	if tm.SyncOutput.Status != "supported" {
		t.Errorf("sync output = %+v", tm.SyncOutput)
	}
	if q := <-got; !bytes.Equal(q, []byte(queryDECRQM2026+queryDA1)) {
		t.Errorf("terminal was sent %q", q)
	}
	if after := termios(t, slave); after != before {
		t.Error("terminal mode not restored")
	}
}

func TestQueryTerminalNoReply(t *testing.T) {
	master, slave := openPTY(t)
	before := termios(t, slave)
	got := emulate(t, master, nil)
	start := time.Now()
	reply, err := queryTerminal(context.Background(), slave, slave, queryDECRQM2026+queryDA1, 100*time.Millisecond)
	if err != nil || len(reply) != 0 {
		t.Fatalf("reply %q, err %v", reply, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("waited %v for a 100ms deadline", d)
	}
	<-got
	if c := interpretSync(reply); c.Status != "unknown" {
		t.Errorf("interpretSync = %+v", c)
	}
	if after := termios(t, slave); after != before {
		t.Error("terminal mode not restored")
	}
}

// A terminal that does not know DECRQM answers only DA1.
func TestQueryTerminalDA1Only(t *testing.T) {
	master, slave := openPTY(t)
	got := emulate(t, master, []byte("\x1b[?1;2c"))
	reply, err := queryTerminal(context.Background(), slave, slave, queryDECRQM2026+queryDA1, 2*time.Second)
	<-got
	if err != nil {
		t.Fatal(err)
	}
	if c := interpretSync(reply); c.Status != "not supported" {
		t.Errorf("interpretSync(%q) = %+v", reply, c)
	}
}
