//go:build linux || darwin || freebsd

package doctor

import "syscall"

// diskFree is the space an unprivileged user may still write in dir's
// filesystem (Bavail, not Bfree: the root reserve is not theirs), the
// measure models uses before a pull.
func diskFree(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
