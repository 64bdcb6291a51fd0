//go:build !(linux || darwin || freebsd)

package doctor

import "errors"

func diskFree(string) (uint64, error) {
	return 0, errors.New("free disk space is not known on this system")
}
