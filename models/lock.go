package models

import (
	"errors"
	"fmt"
	"os"
)

// ErrLocked means another pull of the same file is running.
var ErrLocked = errors.New("another natter pull of this file is already running")

// fileLock is held for the whole of a pull so that two pulls of the same
// file never write the same .part.
type fileLock struct {
	f    *os.File
	path string
}

// acquireLock locks path (created if needed). It fails at once with
// ErrLocked when another process holds it.
func acquireLock(path string) (*fileLock, error) {
	for range 5 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("creating lock file: %w", err)
		}
		ok, err := tryLockFile(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !ok {
			f.Close()
			return nil, fmt.Errorf("%w (lock %s)", ErrLocked, path)
		}
		// The holder before us may have removed the file after we opened
		// it; then our lock is on an orphan inode and must be retaken.
		a, err1 := f.Stat()
		b, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(a, b) {
			fmt.Fprintf(f, "%d\n", os.Getpid())
			return &fileLock{f: f, path: path}, nil
		}
		unlockFile(f)
		f.Close()
	}
	return nil, fmt.Errorf("%w (lock %s keeps changing)", ErrLocked, path)
}

// release removes the lock file while still holding the lock, then unlocks.
func (l *fileLock) release() {
	if l == nil {
		return
	}
	os.Remove(l.path)
	unlockFile(l.f)
	l.f.Close()
}
