//go:build !(linux || darwin || freebsd)

package models

import "errors"

func statfsFree(dir string) (uint64, error) {
	return 0, errors.New("free disk space is not known on this system")
}
