package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
)

// withConfig points natter at a config file holding text (none for "")
// and a clean NATTER_* environment, for this test only.
func withConfig(t *testing.T, text string, env ...string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	if text != "" {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("NATTER_CONFIG", path)
	for _, kv := range os.Environ() {
		if k, _, _ := cutEq(kv); len(k) > 7 && k[:7] == "NATTER_" && k != "NATTER_CONFIG" {
			t.Setenv(k, "")
		}
	}
	for i := 0; i+1 < len(env); i += 2 {
		t.Setenv(env[i], env[i+1])
	}
	loadConfig = newConfigLoader()
	t.Cleanup(func() { loadConfig = newConfigLoader() })
}

func cutEq(kv string) (string, string, bool) {
	for i := range kv {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

// chatFlags parses args as the chat would, then applies the config.
func chatFlags(t *testing.T, args ...string) (*chatOptions, *cobra.Command, error) {
	t.Helper()
	o := &chatOptions{}
	cmd := &cobra.Command{Use: "natter"}
	o.mf.register(cmd)
	o.sf.register(cmd)
	o.pf.register(cmd)
	cmd.Flags().BoolVar(&o.noSave, "no-save", false, "")
	cmd.Flags().StringVar(&o.theme, "theme", "auto", "")
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return o, cmd, applyConfig(cmd)
}

// flag > env > config > built-in, key by key.
func TestConfigPrecedence(t *testing.T) {
	file := "[sampling]\ntemp = 0.5\ntop_k = 7\nseed = 42\n[model]\nctx = 2048\n[chat]\ntheme = \"light\"\npersona = \"coder\"\n[history]\nsave = false\n"
	withConfig(t, file, "NATTER_TEMP", "0.6", "NATTER_CTX", "1024")
	o, cmd, err := chatFlags(t, "--temp", "0.7")
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"temp: the flag beats env and file", o.sf.temp, 0.7},
		{"ctx: env beats the file", o.mf.ctx, 1024},
		{"top-k: the file beats the default", o.sf.topK, 7},
		{"seed from the file", o.sf.seed, int64(42)},
		{"min-p: the built-in default", o.sf.minP, 0.05},
		{"theme from the file", o.theme, "light"},
		{"persona from the file", o.pf.persona, "coder"},
		{"history.save = false is --no-save", o.noSave, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
	// Only the command line counts as given: a persona's own temperature
	// still beats the config file's.
	set := setFlags(cmd)
	if !set["temp"] || set["top-k"] || set["ctx"] || set["theme"] {
		t.Errorf("flags given on the command line: %v", set)
	}
}

// NATTER_NO_HISTORY beats history.save in the file.
func TestConfigNoHistoryEnv(t *testing.T) {
	withConfig(t, "[history]\nsave = true\n", "NATTER_NO_HISTORY", "1")
	o, _, err := chatFlags(t)
	if err != nil || !o.noSave {
		t.Fatalf("NATTER_NO_HISTORY=1 with save = true in the file: noSave %v, %v", o.noSave, err)
	}
}

// A bad file or variable stops the command with exit 2.
func TestConfigErrorsStopTheCommand(t *testing.T) {
	withConfig(t, "[sampling]\ntemp = 200\n")
	if _, _, err := chatFlags(t); err == nil || err.Error() != exitStatus(exitUsage).Error() {
		t.Errorf("out-of-range temp in the file: %v", err)
	}
	withConfig(t, "", "NATTER_TOP_K", "many")
	if _, _, err := chatFlags(t); err == nil {
		t.Error("NATTER_TOP_K=many was accepted")
	}
}

// Every config key that sets a flag names a real flag of the chat, ask or
// bench, and its default is that flag's default, so help and config init
// agree.
func TestConfigKeysMatchFlags(t *testing.T) {
	withConfig(t, "")
	c, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	root := NewRoot()
	cmds := []*cobra.Command{root}
	for _, n := range []string{"ask", "bench"} {
		sub, _, err := root.Find([]string{n})
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, sub)
	}
	for _, v := range c.Values() {
		if v.Key.Flag == "" {
			continue
		}
		found := false
		for _, cmd := range cmds {
			f := cmd.Flags().Lookup(v.Key.Flag)
			if f == nil {
				continue
			}
			found = true
			want := v.FlagText()
			if f.DefValue != want && !(f.Value.Type() == "stringArray" && want == "") {
				t.Errorf("%s: config default %q, but --%s of %s defaults to %q", v.Key.Name, want, f.Name, cmd.Name(), f.DefValue)
			}
		}
		if !found {
			t.Errorf("%s sets --%s, which no command has", v.Key.Name, v.Key.Flag)
		}
	}
}
