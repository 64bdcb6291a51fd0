package models

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestMain lets the test binary double as a helper process that holds a
// pull lock until it is killed.
func TestMain(m *testing.M) {
	if p := os.Getenv("NATTER_TEST_HOLD_LOCK"); p != "" {
		if _, err := acquireLock(p); err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	if spec := os.Getenv("NATTER_TEST_PULL"); spec != "" {
		_, err := Pull(context.Background(), spec, PullOptions{Dir: os.Getenv("NATTER_TEST_PULL_DIR"), StallTimeout: time.Minute})
		os.Stdout.WriteString(fmt.Sprint(err))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestLockAcrossProcessesAndAfterKill(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("flock only")
	}
	lockPath := filepath.Join(t.TempDir(), "m.gguf.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NATTER_TEST_HOLD_LOCK="+lockPath)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper: %q %v", line, err)
	}

	if _, err := acquireLock(lockPath); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock held by another process: got %v", err)
	}
	// A killed pull leaves its lock file, but not its lock.
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(lockPath); err != nil {
		t.Fatalf("lock file should remain after a kill: %v", err)
	}
	l, err := acquireLock(lockPath)
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	l.release()
	if _, err := os.Stat(lockPath); !errors.Is(err, os.ErrNotExist) {
		t.Error("release should remove the lock file")
	}
}

// A pull process killed mid-download leaves a .part that the next pull resumes.
func TestPullKilledProcessResumes(t *testing.T) {
	isolate(t)
	srv := newHFServer(t)
	content := tinyBytes(t)
	srv.add("x/tiny.gguf", content)
	// Set under the lock: the request comes from another process, so the
	// race detector sees no ordering with it.
	srv.set(func() { srv.stallAfter = true })
	dir := t.TempDir()
	url := srv.URL + "/plain/x/tiny.gguf"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NATTER_TEST_PULL="+url, "NATTER_TEST_PULL_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	part := filepath.Join(dir, "tiny.gguf.part")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(part); err == nil && fi.Size() == int64(len(content)/2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("helper never wrote half the file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()

	srv.set(func() { srv.stallAfter = false })
	opts := pullOpts(srv, dir)
	opts.SHA256 = sha(content)
	res, err := Pull(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != int64(len(content)/2) || !res.Verified {
		t.Errorf("resumed %d verified %v", res.Resumed, res.Verified)
	}
}
