// Package models finds GGUF models already on disk (natter's own folder,
// $NATTER_MODELS, the Hugging Face cache, Ollama, LM Studio, llama.cpp),
// resolves -m names to files, estimates whether a model fits in memory,
// carries a small catalog of recommended chat models and downloads them
// safely (resume, sha256, lock, disk-space and GGUF checks).
//
// Pure Go: no cgo, and it never touches the network except from Pull. It
// imports only engine/gguf of the engine, never the engine that runs models.
package models

import (
	"os"
	"path/filepath"
	"strings"
)

// homeDir is os.UserHomeDir, or "" when it cannot be found.
func homeDir() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return h
}

// xdgDir returns $env, or ~/fallback when the variable is unset or not
// absolute (the XDG spec says relative values must be ignored).
func xdgDir(env, fallback string) string {
	if v := os.Getenv(env); v != "" && filepath.IsAbs(v) {
		return v
	}
	h := homeDir()
	if h == "" {
		return ""
	}
	return filepath.Join(h, fallback)
}

// ModelsDir is natter's own models folder, where pull writes:
// $XDG_DATA_HOME/natter/models (default ~/.local/share/natter/models).
func ModelsDir() string {
	d := xdgDir("XDG_DATA_HOME", filepath.Join(".local", "share"))
	if d == "" {
		return ""
	}
	return filepath.Join(d, "natter", "models")
}

// stateDir holds small things natter remembers between runs (the last model).
// $XDG_STATE_HOME/natter, default ~/.local/state/natter.
func stateDir() string {
	d := xdgDir("XDG_STATE_HOME", filepath.Join(".local", "state"))
	if d == "" {
		return ""
	}
	return filepath.Join(d, "natter")
}

// expandHome turns a leading "~/" into the home directory.
func expandHome(p string) string {
	if p == "~" {
		return homeDir()
	}
	if strings.HasPrefix(p, "~/") {
		if h := homeDir(); h != "" {
			return filepath.Join(h, p[2:])
		}
	}
	return p
}

// Offline reports whether NATTER_OFFLINE (or the config file's
// models.offline, see SetOffline) forbids all network use.
func Offline() bool {
	if forcedOffline.Load() {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(os.Getenv("NATTER_OFFLINE"))) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}
