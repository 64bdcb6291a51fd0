//go:build unix

package history

import (
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// A Store holds an exclusive flock on <db>-owners/<token> for its lifetime.
// The kernel drops the lock when the process dies, even by SIGKILL, so
// another process can tell a live streaming reply from an abandoned one.
type ownerLock struct {
	f    *os.File
	path string
}

func ownerDir(dbPath string) string { return dbPath + "-owners" }

func acquireOwner(dbPath, token string) (*ownerLock, error) {
	dir := ownerDir(dbPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, token)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return &ownerLock{f: f, path: p}, nil
}

func (l *ownerLock) release() {
	os.Remove(l.path)
	l.f.Close()
}

// ownerAlive reports whether the Store that wrote token still runs. If it
// does not, its lock file is removed.
func ownerAlive(dbPath, token string) bool {
	if token == "" || filepath.Base(token) != token {
		return false
	}
	p := filepath.Join(ownerDir(dbPath), token)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return false // no lock file: the owner is gone
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	os.Remove(p)
	return false
}

// cleanOwners removes lock files of Stores that died. A file younger than a
// minute is left alone: its Store may not have locked it yet.
func cleanOwners(dbPath string) {
	dir := ownerDir(dbPath)
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range des {
		info, err := de.Info()
		if err != nil || time.Since(info.ModTime()) < time.Minute {
			continue
		}
		ownerAlive(dbPath, de.Name()) // removes the file if its owner is gone
	}
}
