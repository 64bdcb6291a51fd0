package models

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Settings from natter's config file. The package reads the environment
// itself; these are what the CLI passes on from the file, which ranks
// below the environment.

var (
	extraMu   sync.Mutex
	extraDirs []string

	forcedOffline atomic.Bool
)

// SetExtraDirs adds folders searched for models after $NATTER_MODELS (the
// config file's models.dirs).
func SetExtraDirs(dirs []string) {
	var clean []string
	for _, d := range dirs {
		if d = strings.TrimSpace(d); d != "" {
			clean = append(clean, d)
		}
	}
	extraMu.Lock()
	extraDirs = clean
	extraMu.Unlock()
}

func configDirs() []string {
	extraMu.Lock()
	defer extraMu.Unlock()
	return append([]string(nil), extraDirs...)
}

// SetOffline forces offline mode, as NATTER_OFFLINE=1 does, when on.
func SetOffline(on bool) { forcedOffline.Store(on) }
