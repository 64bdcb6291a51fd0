package models

import (
	"os"
	"path/filepath"
	"testing"

	"natter/engine/gguf/synth"
)

// The config file's models.dirs are searched after $NATTER_MODELS.
func TestSetExtraDirs(t *testing.T) {
	isolate(t)
	t.Cleanup(func() { SetExtraDirs(nil) })
	env, cfg := t.TempDir(), t.TempDir()
	if err := synth.Write(filepath.Join(cfg, "from-config.gguf"), synth.Tiny()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NATTER_MODELS", env)
	SetExtraDirs([]string{" ", cfg})
	var kinds []string
	for _, s := range DefaultSources() {
		if s.Dir == env || s.Dir == cfg {
			kinds = append(kinds, s.Kind)
		}
	}
	if len(kinds) != 2 || kinds[0] != SourceEnv || kinds[1] != SourceConfig {
		t.Fatalf("sources for NATTER_MODELS and models.dirs: %v", kinds)
	}
	found := false
	for _, m := range Discover() {
		if m.Name == "from-config" && m.Source == SourceConfig {
			found = true
		}
	}
	if !found {
		t.Errorf("a model in models.dirs was not found: %+v", Discover())
	}
	SetExtraDirs(nil)
	for _, m := range Discover() {
		if m.Name == "from-config" {
			t.Error("still found after SetExtraDirs(nil)")
		}
	}
}

func TestSetOffline(t *testing.T) {
	isolate(t)
	t.Cleanup(func() { SetOffline(false) })
	if Offline() {
		t.Fatal("offline with nothing set")
	}
	SetOffline(true)
	if !Offline() {
		t.Error("SetOffline(true) is not offline")
	}
	SetOffline(false)
	os.Setenv("NATTER_OFFLINE", "1")
	if !Offline() {
		t.Error("NATTER_OFFLINE=1 is not offline")
	}
}
