//go:build linux

package models

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// smallTmpfs mounts a tmpfs of size bytes, or skips when this process may
// not mount (not root, or in a container without the right).
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// The real free-space check (statfs) refuses a file larger than the disk.
func TestPullRealDiskTooSmall(t *testing.T) {
	isolate(t)
	dir := smallTmpfs(t, "256k")
	srv := newHFServer(t)
	content := tinyBytes(t)
	if len(content) < 300<<10 {
		t.Fatalf("test model is only %d bytes; it must exceed the tmpfs", len(content))
	}
	srv.add(tKey, content)
	_, err := Pull(context.Background(), "qwen3.5-0.8b", pullOpts(srv, dir))
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("want ErrNoSpace, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, tFile+".part")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a .part was written")
	}
}

// When the server gives no size the check cannot run first; the disk then
// fills up mid-download, and that is reported as a space problem too.
func TestPullDiskFillsUp(t *testing.T) {
	isolate(t)
	dir := smallTmpfs(t, "256k")
	srv := newHFServer(t)
	srv.add("x/tiny.gguf", tinyBytes(t))
	_, err := Pull(context.Background(), srv.URL+"/chunked/x/tiny.gguf", pullOpts(srv, dir))
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("want ErrNoSpace, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tiny.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a partial file was moved into place")
	}
}
