//go:build unix

package history

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDeadOwnerLockFilesCleaned(t *testing.T) {
	s, path := openTemp(t) // live, with an old lock file
	dir := ownerDir(path)
	dead, fresh := filepath.Join(dir, "0000000000000dead"), filepath.Join(dir, "00000000000fresh")
	os.WriteFile(dead, nil, 0o600)
	os.WriteFile(fresh, nil, 0o600)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(dead, past, past)
	os.Chtimes(filepath.Join(dir, s.owner), past, past)
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := os.Stat(dead); err == nil {
		t.Error("dead Store's lock file kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("fresh lock file removed")
	}
	if _, err := os.Stat(filepath.Join(dir, s.owner)); err != nil {
		t.Error("live Store's lock file removed")
	}
}
