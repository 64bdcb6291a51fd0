package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

// fixture is a home directory with one real model, one broken model in a
// NATTER_MODELS folder, a config file, a history database (not a real
// SQLite one: doctor must not care) with a WAL, and a KV-cache entry.
type fixture struct {
	home, model, broken, extra, db, config string
}

const (
	dbSize  = 8192
	walSize = 1234
	kvSize  = 321
)

func setup(t *testing.T) fixture {
	t.Helper()
	home := t.TempDir()
	f := fixture{home: home}
	data := filepath.Join(home, "data")
	for k, v := range map[string]string{
		"HOME":            home,
		"XDG_DATA_HOME":   data,
		"XDG_STATE_HOME":  filepath.Join(home, "state"),
		"XDG_CACHE_HOME":  filepath.Join(home, "cache"),
		"XDG_CONFIG_HOME": filepath.Join(home, "config"),
		"NATTER_MODELS":   filepath.Join(home, "extra"),
		"NATTER_API_KEY":  "sk-do-not-show",
		"NATTER_TEMP":     "0.5",
	} {
		t.Setenv(k, v)
	}
	for _, k := range []string{"HF_HOME", "HF_HUB_CACHE", "OLLAMA_MODELS", "LLAMA_CACHE",
		"NATTER_NO_HISTORY", "TMUX", "STY", "NATTER_CONFIG"} {
		t.Setenv(k, "")
		os.Unsetenv(k) // set-but-empty would still be listed
	}

	f.model = filepath.Join(data, "natter", "models", "tiny.gguf")
	mkdir(t, filepath.Dir(f.model))
	if err := synth.Write(f.model, synth.Tiny()); err != nil {
		t.Fatal(err)
	}
	f.extra = filepath.Join(home, "extra")
	f.broken = filepath.Join(f.extra, "broken.gguf")
	mkdir(t, f.extra)
	write(t, f.broken, []byte("GGUF but not really"))

	f.db = filepath.Join(data, "natter", "history.db")
	write(t, f.db, append([]byte("SQLite format 3\x00"), make([]byte, dbSize-16)...))
	write(t, f.db+"-wal", make([]byte, walSize))
	kv := filepath.Join(data, "natter", "kvcache")
	mkdir(t, kv)
	write(t, filepath.Join(kv, "entry.kv"), make([]byte, kvSize))

	f.config = filepath.Join(home, "config", "natter", "config.toml")
	mkdir(t, filepath.Dir(f.config))
	write(t, f.config, []byte("[chat]\ntemp = 0.5\n"))

	state := filepath.Join(home, "state", "natter")
	mkdir(t, state)
	write(t, filepath.Join(state, "last_model"), []byte(f.model+"\n"))
	return f
}

func mkdir(t *testing.T, d string) {
	t.Helper()
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func collect(t *testing.T, f fixture) Report {
	t.Helper()
	return Collect(context.Background(), Options{
		Version: "1.2.3-test", ConfigPath: f.config, ConfigErr: errors.New("line 2: bad value"),
	})
}

func TestCollect(t *testing.T) {
	f := setup(t)
	r := collect(t, f)
	if len(r.Failures) > 0 {
		t.Fatalf("failures: %v", r.Failures)
	}
	if r.Natter.Version != "1.2.3-test" || r.Natter.LogicalCPUs < 1 || r.Natter.PhysicalCores < 1 {
		t.Errorf("natter = %+v", r.Natter)
	}
	if !strings.Contains(r.Build.SystemInfo, "CPU") || len(r.Build.Backends) != 3 {
		t.Errorf("build = %+v", r.Build)
	}

	checkModels(t, f, r.Models)

	c := r.Config
	if c.Path != f.config || !c.Exists || c.Error != "line 2: bad value" || c.StatError != "" {
		t.Errorf("config = %+v", c)
	}

	h := r.History
	if h.Path != f.db || !h.Exists || h.DBBytes != dbSize || h.WALBytes != walSize || h.SizeBytes != dbSize+walSize {
		t.Errorf("history = %+v", h)
	}
	if !h.HeaderOK || h.Off || h.FreeBytes == 0 || h.FreeError != "" {
		t.Errorf("history header/off/free = %+v", h)
	}
	if h.KVCacheDir != filepath.Join(filepath.Dir(f.db), "kvcache") || !h.KVCacheExists || h.KVCacheBytes != kvSize || h.KVCacheFiles != 1 {
		t.Errorf("history kv cache = %+v", h)
	}

	if r.Memory.TotalBytes == 0 && r.Memory.TotalError == "" {
		t.Errorf("memory = %+v", r.Memory)
	}

	if r.Terminal.StdinTTY || r.Terminal.StdoutTTY || r.Terminal.SyncOutput.Status != "unknown" {
		t.Errorf("terminal = %+v", r.Terminal)
	}

	checkEnv(t, r.Environment)
}

func checkModels(t *testing.T, f fixture, m ModelsInfo) {
	t.Helper()
	if m.Dir != filepath.Dir(f.model) || !m.DirExists || m.FreeBytes == 0 {
		t.Errorf("models dir = %q exists %v free %d (%s)", m.Dir, m.DirExists, m.FreeBytes, m.FreeError)
	}
	if m.LastUsed != f.model || !m.LastUsedExists {
		t.Errorf("last used = %q exists %v (%s)", m.LastUsed, m.LastUsedExists, m.LastUsedError)
	}
	bySrc := map[string]SourceInfo{}
	for _, s := range m.Sources {
		bySrc[s.Kind+" "+s.Dir] = s
	}
	nat, ok := bySrc["natter "+filepath.Dir(f.model)]
	if !ok || !nat.Exists || len(nat.Models) != 1 {
		t.Fatalf("natter source = %+v (all: %+v)", nat, m.Sources)
	}
	mo := nat.Models[0]
	fi, err := os.Stat(f.model)
	if err != nil {
		t.Fatal(err)
	}
	if mo.Name != "tiny" || mo.Path != f.model || mo.Arch != "llama" || mo.SizeBytes != fi.Size() || mo.Params == 0 || mo.Error != "" {
		t.Errorf("model = %+v", mo)
	}
	env, ok := bySrc["NATTER_MODELS "+f.extra]
	if !ok || len(env.Models) != 1 || env.Models[0].Path != f.broken || env.Models[0].Error == "" {
		t.Errorf("NATTER_MODELS source = %+v", env)
	}
	hf, ok := bySrc["huggingface "+filepath.Join(f.home, "cache", "huggingface", "hub")]
	if !ok || hf.Exists || len(hf.Models) != 0 {
		t.Errorf("huggingface source = %+v", hf)
	}
}

func checkEnv(t *testing.T, e EnvInfo) {
	t.Helper()
	got := map[string]EnvVar{}
	for _, v := range e.Variables {
		got[v.Name] = v
	}
	if v := got["NATTER_API_KEY"]; !v.Masked || v.Value != maskedValue {
		t.Errorf("NATTER_API_KEY = %+v, want masked", v)
	}
	if v := got["NATTER_TEMP"]; v.Masked || v.Value != "0.5" {
		t.Errorf("NATTER_TEMP = %+v", v)
	}
	if _, ok := got["HOME"]; ok {
		t.Error("HOME listed among NATTER_* variables")
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	f := setup(t)
	r := collect(t, f)
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "sk-do-not-show") {
		t.Error("JSON shows the masked secret")
	}
	// Decode as a user's script would, by the tag names.
	var raw struct {
		Models struct {
			Sources []struct {
				Kind   string `json:"kind"`
				Models []struct {
					Path      string `json:"path"`
					Arch      string `json:"arch"`
					SizeBytes int64  `json:"size_bytes"`
				} `json:"models"`
			} `json:"sources"`
		} `json:"models"`
		Config struct {
			Path   string `json:"path"`
			Exists bool   `json:"exists"`
		} `json:"config"`
		History struct {
			SizeBytes int64 `json:"size_bytes"`
			WALBytes  int64 `json:"wal_bytes"`
		} `json:"history"`
		Environment struct {
			Variables []EnvVar `json:"variables"`
		} `json:"environment"`
	}
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range raw.Models.Sources {
		for _, m := range s.Models {
			if m.Path == f.model && s.Kind == "natter" && m.Arch == "llama" && m.SizeBytes > 0 {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("model not in JSON:\n%s", out)
	}
	if raw.Config.Path != f.config || !raw.Config.Exists {
		t.Errorf("config in JSON = %+v", raw.Config)
	}
	if raw.History.SizeBytes != dbSize+walSize || raw.History.WALBytes != walSize {
		t.Errorf("history in JSON = %+v", raw.History)
	}
	masked := false
	for _, v := range raw.Environment.Variables {
		masked = masked || (v.Name == "NATTER_API_KEY" && v.Masked && v.Value == maskedValue)
	}
	if !masked {
		t.Errorf("NATTER_API_KEY not masked in JSON: %+v", raw.Environment.Variables)
	}
	// The whole report survives a round trip.
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.History.Path != r.History.Path || len(back.Models.Sources) != len(r.Models.Sources) {
		t.Errorf("round trip lost fields: %+v", back.History)
	}
}

func TestWriteText(t *testing.T) {
	f := setup(t)
	t.Setenv("NATTER_SYSTEM", "evil\x1b[2Jvalue\ttab")
	r := collect(t, f)
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, h := range []string{"natter", "build", "models", "config", "history", "memory", "terminal", "environment"} {
		if !strings.Contains(out, "== "+h+" ==\n") {
			t.Errorf("no %q heading", h)
		}
	}
	for _, want := range []string{"1.2.3-test", f.model, f.db, f.config, "line 2: bad value", maskedValue, `evil\x1b[2Jvalue\x09tab`} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	if strings.ContainsAny(out, "\x1b\t") {
		t.Error("text holds an escape or a tab")
	}
	if strings.Contains(out, "sk-do-not-show") {
		t.Error("text shows the masked secret")
	}
	if testing.Verbose() {
		t.Log("\n" + out)
	}
}

// A missing history and config are reported, not errors.
func TestCollectEmptyHome(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, k := range []string{"XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "NATTER_MODELS", "TMUX", "STY"} {
		t.Setenv(k, "")
	}
	r := Collect(context.Background(), Options{ConfigPath: filepath.Join(home, "nope.toml")})
	if r.Config.Exists || r.Config.StatError != "" || r.History.Exists || r.History.StatError != "" {
		t.Errorf("config %+v history %+v", r.Config, r.History)
	}
	if r.Models.DirExists || r.Models.FreeBytes == 0 || r.Models.LastUsed != "" {
		t.Errorf("models = %+v", r.Models)
	}
	if r.History.FreeBytes == 0 {
		t.Errorf("no free space measured for a history folder still to be made: %+v", r.History)
	}
}

func TestParseModeReport(t *testing.T) {
	da1 := "\x1b[?62;22;52c"
	for _, tc := range []struct {
		name   string
		in     string
		ps     int
		ok     bool
		da1    bool
		status string
	}{
		{"set", "\x1b[?2026;1$y" + da1, 1, true, true, "supported"},
		{"reset", "\x1b[?2026;2$y" + da1, 2, true, true, "supported"},
		{"not recognised", "\x1b[?2026;0$y" + da1, 0, true, true, "not supported"},
		{"permanently reset", "\x1b[?2026;4$y" + da1, 4, true, true, "not supported"},
		{"8-bit CSI", "\x9b?2026;2$y", 2, true, false, "supported"},
		{"only DA1", da1, 0, false, true, "not supported"},
		{"other mode", "\x1b[?2027;1$y" + da1, 0, false, true, "not supported"},
		{"typed keys around", "abc\x1b[A\x1b[?2026;2$yq" + da1 + "zz", 2, true, true, "supported"},
		{"garbage", "\x1b[?2026;x$y\x1b[?;$y\x1b[2026;1$y\x00\xff", 0, false, false, "unknown"},
		{"nothing", "", 0, false, false, "unknown"},
		{"cut off", "\x1b[?2026;2$", 0, false, false, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, ok := parseModeReport([]byte(tc.in), 2026)
			if ps != tc.ps || ok != tc.ok {
				t.Errorf("parseModeReport = %d, %v; want %d, %v", ps, ok, tc.ps, tc.ok)
			}
			if got := hasDA1([]byte(tc.in)); got != tc.da1 {
				t.Errorf("hasDA1 = %v", got)
			}
			if c := interpretSync([]byte(tc.in)); c.Status != tc.status || c.Basis == "" {
				t.Errorf("interpretSync = %+v, want %s", c, tc.status)
			}
		})
	}
}

// A reply read in pieces is found once it is whole, whatever the split.
func TestParseModeReportSplit(t *testing.T) {
	reply := []byte("\x1b[?2026;2$y\x1b[?1;2c")
	whole := len("\x1b[?2026;2$y")
	var acc []byte
	for i, b := range reply {
		acc = append(acc, b)
		_, ok := parseModeReport(acc, 2026)
		if ok != (i+1 >= whole) {
			t.Fatalf("after %d bytes %q: found = %v", i+1, acc, ok)
		}
		if hasDA1(acc) != (i+1 == len(reply)) {
			t.Fatalf("after %d bytes %q: DA1 = %v", i+1, acc, hasDA1(acc))
		}
	}
}

func TestOSC52(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	tmux := func(v string, err error) func() (string, error) { return func() (string, error) { return v, err } }
	for _, tc := range []struct {
		name  string
		env   func(string) string
		clip  func() (string, error)
		wants string
	}{
		{"tmux on", env("TMUX", "/tmp/x", "TERM", "tmux-256color"), tmux("on", nil), "likely"},
		{"tmux external", env("TMUX", "/tmp/x", "TERM_PROGRAM", "WezTerm"), tmux("external", nil), "no"},
		{"tmux unreadable", env("TMUX", "/tmp/x"), tmux("", errors.New("no server")), "unknown"},
		{"screen", env("STY", "1.pts", "TERM", "screen"), nil, "no"},
		{"kitty", env("TERM", "xterm-kitty"), nil, "likely"},
		{"wezterm", env("TERM", "xterm-256color", "TERM_PROGRAM", "WezTerm"), nil, "likely"},
		{"apple", env("TERM", "xterm-256color", "TERM_PROGRAM", "Apple_Terminal"), nil, "no"},
		{"vte", env("TERM", "xterm-256color", "VTE_VERSION", "7600"), nil, "no"},
		{"plain xterm", env("TERM", "xterm-256color"), nil, "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := osc52Support(tc.env, tc.clip)
			if c.Status != tc.wants || c.Basis == "" {
				t.Errorf("= %+v, want %s", c, tc.wants)
			}
		})
	}
}

func TestCompiledFeatures(t *testing.T) {
	m := compiledFeatures("CPU : SSSE3 = 1 | AVX = 1 | AVX2 = 1 | REPACK = 1 | ")
	if m["SSE3"] != "" || m["SSSE3"] != "1" || m["AVX2"] != "1" || m["REPACK"] != "1" {
		t.Errorf("compiledFeatures = %v", m)
	}
}
