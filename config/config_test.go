package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// nonDefault is a valid, non-default value for every key: the TOML to write
// and the Text Get must return.
var nonDefault = map[string][2]string{
	"model.path":                {`"~/models/qwen.gguf"`, "~/models/qwen.gguf"},
	"model.ctx":                 {`8192`, "8192"},
	"model.threads":             {`6`, "6"},
	"model.batch":               {`512`, "512"},
	"model.flash_attn":          {`"on"`, "on"},
	"model.cache_type":          {`"q8_0"`, "q8_0"},
	"model.backend":             {`"llama.cpp"`, "llama.cpp"},
	"models.dirs":               {`["/a", "/b c"]`, "/a" + string(os.PathListSeparator) + "/b c"},
	"models.offline":            {`true`, "true"},
	"sampling.temp":             {`0.7`, "0.7"},
	"sampling.top_k":            {`20`, "20"},
	"sampling.top_p":            {`0.9`, "0.9"},
	"sampling.min_p":            {`0.1`, "0.1"},
	"sampling.repeat_penalty":   {`1.1`, "1.1"},
	"sampling.seed":             {`4294967294`, "4294967294"},
	"sampling.max_tokens":       {`256`, "256"},
	"sampling.think":            {`"off"`, "off"},
	"sampling.reasoning_budget": {`1024`, "1024"},
	"chat.persona":              {`"pirate"`, "pirate"},
	"chat.system":               {`"Be brief.\nReally."`, "Be brief.\nReally."},
	"chat.template":             {`'chatml'`, "chatml"},
	"chat.theme":                {`"light"`, "light"},
	"chat.fullscreen":           {`true`, "true"},
	"history.save":              {`false`, "false"},
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Load(writeFile(t, text))
	if err != nil {
		t.Fatalf("Load: %v\n%s", err, text)
	}
	return c
}

func TestTableIsConsistent(t *testing.T) {
	seenEnv, seenFlag := map[string]bool{}, map[string]bool{}
	for i := range Keys {
		k := &Keys[i]
		if _, ok := nonDefault[k.Name]; !ok {
			t.Errorf("%s: no non-default test value", k.Name)
		}
		if k.Section() == "" || k.Leaf() == "" || strings.Count(k.Name, ".") != 1 {
			t.Errorf("%s: want section.key", k.Name)
		}
		if got, ok := Lookup(k.Name); !ok || got != k {
			t.Errorf("Lookup(%q) = %v, %v", k.Name, got, ok)
		}
		// The default must be a value the key accepts, in canonical form.
		text, _, problem := k.parseText(k.Default)
		if problem != "" || text != k.Default {
			t.Errorf("%s: default %q parses to %q (%s)", k.Name, k.Default, text, problem)
		}
		if k.Doc == "" {
			t.Errorf("%s: no Doc", k.Name)
		}
		if k.Env != "" && seenEnv[k.Env] || k.Flag != "" && seenFlag[k.Flag] {
			t.Errorf("%s: env or flag used twice", k.Name)
		}
		seenEnv[k.Env], seenFlag[k.Flag] = true, true
	}
	if len(nonDefault) != len(Keys) {
		t.Errorf("nonDefault has %d entries, Keys %d", len(nonDefault), len(Keys))
	}
	if _, ok := Lookup("sampling.nope"); ok {
		t.Error("Lookup found an unknown key")
	}
	// engine/api.DefaultSampling's float32 values, as shortest decimals.
	for name, want := range map[string]string{"sampling.temp": "0.8", "sampling.top_k": "40",
		"sampling.top_p": "0.95", "sampling.min_p": "0.05", "sampling.repeat_penalty": "1"} {
		if k, _ := Lookup(name); k.Default != want {
			t.Errorf("%s default = %q, want %q", name, k.Default, want)
		}
	}
}

// checkAll asserts every key has its non-default value from the file, on
// the line recorded in lines.
func checkAll(t *testing.T, c *Config, lines map[string]int) {
	t.Helper()
	for i := range Keys {
		k := &Keys[i]
		v := c.Get(k.Name)
		want := nonDefault[k.Name][1]
		if v.Text != want || v.Source != File || v.Key != k {
			t.Errorf("%s = %q (%v), want %q from file", k.Name, v.Text, v.Source, want)
		}
		if v.Line != lines[k.Name] {
			t.Errorf("%s: line %d, want %d", k.Name, v.Line, lines[k.Name])
		}
		if wantO := c.Path + ":" + strconv.Itoa(lines[k.Name]); v.Origin != wantO {
			t.Errorf("%s: origin %q, want %q", k.Name, v.Origin, wantO)
		}
	}
}

func TestEveryKeyFromFile(t *testing.T) {
	// Sections with [headers].
	var b strings.Builder
	lines := map[string]int{}
	n := 0
	add := func(s string) { b.WriteString(s + "\n"); n++ }
	add("# a comment")
	section := ""
	for _, k := range Keys {
		if k.Section() != section {
			section = k.Section()
			add("")
			add("[" + section + "]")
		}
		add(k.Leaf() + " = " + nonDefault[k.Name][0] + "  # trailing comment")
		lines[k.Name] = n
	}
	c := mustLoad(t, b.String())
	if !c.Exists {
		t.Error("Exists = false")
	}
	checkAll(t, c, lines)

	// Dotted keys at the top level.
	b.Reset()
	n = 0
	for _, k := range Keys {
		add(k.Name + " = " + nonDefault[k.Name][0])
		lines[k.Name] = n
	}
	checkAll(t, mustLoad(t, b.String()), lines)

	// Inline tables, one per section, split over lines for some keys.
	b.Reset()
	n = 0
	section = ""
	line := ""
	for _, k := range Keys {
		if k.Section() != section {
			if line != "" {
				add(line + "}")
			}
			section = k.Section()
			line = section + " = { "
		} else {
			line += ", "
		}
		line += k.Leaf() + " = " + nonDefault[k.Name][0]
		lines[k.Name] = n + 1
	}
	add(line + "}")
	checkAll(t, mustLoad(t, b.String()), lines)
}

func TestFileValueForms(t *testing.T) {
	c := mustLoad(t, strings.Join([]string{
		"[sampling]",
		"temp = 1",            // an integer for a float
		"top_p = 5e-1",        // exponent
		"min_p = 0.0",         // zero
		"top_k = 1_000",       // underscores
		"seed = 0x10",         // hex
		"max_tokens = 4096.0", // a whole float for an int
		"[model]",
		`flash_attn = "OFF"`, // choices ignore case, stored canonically
		"[models]",
		"dirs = [",
		"  '/x', # comment",
		`  "/y",`,
		"]",
	}, "\n"))
	for name, want := range map[string]string{
		"sampling.temp": "1", "sampling.top_p": "0.5", "sampling.min_p": "0",
		"sampling.top_k": "1000", "sampling.seed": "16", "sampling.max_tokens": "4096",
		"model.flash_attn": "off",
		"models.dirs":      "/x" + string(os.PathListSeparator) + "/y",
	} {
		if got := c.Get(name).Text; got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if got := c.Get("models.dirs").Strings(); len(got) != 2 || got[0] != "/x" || got[1] != "/y" {
		t.Errorf("dirs = %q", got)
	}
	if v := c.Get("models.dirs"); v.Line != 11 {
		t.Errorf("dirs line %d, want 11", v.Line)
	}
	// Keys not in the file keep their defaults.
	if v := c.Get("model.batch"); v.Text != "2048" || v.Source != Default || v.Line != 0 {
		t.Errorf("batch = %+v", v)
	}
	if got := c.Get("sampling.top_p").Float(); got != 0.5 {
		t.Errorf("Float() = %v", got)
	}
	if got := c.Get("sampling.top_k").Int(); got != 1000 {
		t.Errorf("Int() = %v", got)
	}
}

func TestMissingAndEmpty(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope", "config.toml")
	c, err := Load(p)
	if err != nil || c.Exists || c.Path != p {
		t.Fatalf("missing file: %v %+v", err, c)
	}
	for i, v := range c.Values() {
		if v.Key != &Keys[i] || v.Text != Keys[i].Default || v.Source != Default {
			t.Errorf("%s = %+v", Keys[i].Name, v)
		}
	}
	if c, err := Load(""); err != nil || c.Exists {
		t.Errorf(`Load(""): %v`, err)
	}
	c = mustLoad(t, "\ufeff\n# nothing\n")
	if !c.Exists || c.Get("sampling.temp").Source != Default {
		t.Error("empty file")
	}
	// A directory is not a config file.
	dir := t.TempDir()
	_, err = Load(dir)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Path != dir {
		t.Errorf("dir: %v", err)
	}
	// Zero and nil configs read as defaults.
	var zero Config
	var nilc *Config
	if zero.Get("chat.theme").Text != "auto" || nilc.Get("chat.theme").Text != "auto" ||
		len(nilc.Values()) != len(Keys) {
		t.Error("zero/nil Config")
	}
	if v := c.Get("no.such"); v.Key != nil {
		t.Error("unknown key has a Key")
	}
}

func TestInvalidFiles(t *testing.T) {
	tests := []struct {
		name, text string
		line, col  int
		key, msg   string
	}{
		{"syntax", "[model]\nctx = 1\nbatch = \n", 3, 9, "", "unexpected character"},
		{"syntax unclosed string", "[chat]\nsystem = \"abc\n", 2, 0, "", "new lines"},
		{"unknown key", "[sampling]\n\ntmp = 1\n", 3, 1, "sampling.tmp",
			`unknown key "sampling.tmp" (did you mean "sampling.temp"?)`},
		{"unknown key dotted", "sampling.topk = 1\n", 1, 1, "sampling.topk",
			`(did you mean "sampling.top_k"?)`},
		{"leaf in wrong place", "temp = 0.5\n", 1, 1, "temp", `(did you mean "sampling.temp"?)`},
		{"unknown key far", "[chat]\ncolour_scheme_name = 1\n", 2, 1, "chat.colour_scheme_name",
			`unknown key "chat.colour_scheme_name"`},
		{"unknown key inline", "model = { pth = 'x' }\n", 1, 11, "model.pth",
			`(did you mean "model.path"?)`},
		{"unknown section", "[samplng]\ntemp = 1\n", 1, 2, "samplng",
			`unknown section "samplng" (did you mean "sampling"?)`},
		{"unknown section far", "\n[plugins]\n", 2, 2, "plugins", `unknown section "plugins"`},
		{"array of tables", "[[model]]\n", 1, 3, "model", "want a table, got an array of tables"},
		{"section as value", "chat = 'x'\n", 1, 1, "chat", "want a table, got a string"},
		{"key as table", "[sampling.temp]\n", 1, 2, "sampling.temp", "want a number, got a table"},
		{"wrong type", "[sampling]\ntemp = \"hot\"\n", 2, 8, "sampling.temp",
			"want a number, got a string"},
		{"wrong type bool", "[models]\noffline = 1\n", 2, 11, "models.offline",
			"want true or false, got an integer"},
		{"wrong type string", "[chat]\ntheme = true\n", 2, 9, "chat.theme", "want a string, got a boolean"},
		{"wrong type list", "[models]\ndirs = '/x'\n", 2, 8, "models.dirs",
			"want a list of strings, got a string"},
		{"list item", "[models]\ndirs = ['/x', 3]\n", 2, 15, "models.dirs",
			"item 2: want a string, got an integer"},
		{"date", "[model]\nctx = 2024-01-01\n", 2, 7, "model.ctx", "want an integer, got a date"},
		{"out of range", "[sampling]\ntemp = 150\n", 2, 8, "sampling.temp",
			"150: want a number from 0 to 100"},
		{"below min", "[model]\nbatch = 0\n", 2, 9, "model.batch", "0: want an integer >= 1"},
		{"negative", "[sampling]\ntop_p = -0.5\n", 2, 9, "sampling.top_p", "from 0 to 1"},
		{"not zero float", "[sampling]\nrepeat_penalty = 0\n", 2, 18, "sampling.repeat_penalty",
			"want a number > 0 and <= 10"},
		{"not zero int", "[sampling]\nmax_tokens = 0\n", 2, 14, "sampling.max_tokens",
			"0: want -1 or a positive integer"},
		{"seed too big", "[sampling]\nseed = 4294967295\n", 2, 8, "sampling.seed",
			"from -1 to 4294967294"},
		{"threads max", "model.threads = 2000\n", 1, 17, "model.threads", "from 0 to 1024"},
		{"int overflow", "[model]\nctx = 99999999999999999999\n", 2, 7, "model.ctx",
			"99999999999999999999: want an integer >= 0"},
		{"float overflow", "[sampling]\ntemp = 1e400\n", 2, 8, "sampling.temp", "1e400: want"},
		{"nan", "[sampling]\ntemp = nan\n", 2, 8, "sampling.temp", "nan: want a number"},
		{"inf", "[sampling]\ntemp = -inf\n", 2, 8, "sampling.temp", "-inf: want a number"},
		{"bad choice", "[chat]\ntheme = \"blue\"\n", 2, 9, "chat.theme",
			`"blue": want auto, dark or light`},
		{"bad choice inline", "chat = {\n  theme = 'blue' }\n", 2, 11, "chat.theme", "want auto"},
		{"duplicate", "[sampling]\ntemp = 1\ntop_k = 2\ntemp = 2\n", 4, 1, "sampling.temp",
			"set twice (first on line 2)"},
		{"duplicate dotted", "sampling.temp = 1\n[sampling]\ntemp = 2\n", 3, 1, "sampling.temp",
			"set twice"},
		{"duplicate inline", "sampling = { temp = 1, temp = 2 }\n", 1, 24, "sampling.temp",
			"set twice"},
		{"duplicate section", "[chat]\ntheme = 'dark'\n[chat]\n", 3, 0, "chat", "already exists"},
		{"int given float", "[sampling]\ntop_k = 1.5\n", 2, 9, "sampling.top_k",
			"1.5: want an integer >= 0"},
		{"quoted dotted key", "\"sampling.temp\" = 1\n", 1, 1, "sampling.temp", "unknown key"},
		{"crlf", "[chat]\r\ntheme = 'x'\r\n", 2, 9, "chat.theme", "want auto"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.text)
			c, err := Load(p)
			if err == nil {
				t.Fatalf("no error; temp=%q", c.Get("sampling.temp").Text)
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("%T %v, want *FileError", err, err)
			}
			if fe.Path != p || fe.Line != tt.line || (tt.col != 0 && fe.Col != tt.col) ||
				fe.Key != tt.key || !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("got %+v\nwant line %d col %d key %q msg ~%q", *fe, tt.line, tt.col,
					tt.key, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), p+":"+strconv.Itoa(tt.line)+":") {
				t.Errorf("Error() = %q", err)
			}
		})
	}
}

func TestFileErrorText(t *testing.T) {
	for _, tt := range []struct {
		e    FileError
		want string
	}{
		{FileError{Path: "/c.toml", Line: 3, Col: 7, Key: "sampling.temp", Msg: "bad"},
			"/c.toml:3:7: sampling.temp: bad"},
		{FileError{Path: "/c.toml", Line: 3, Msg: "bad"}, "/c.toml:3: bad"},
		{FileError{Path: "/c.toml", Msg: "permission denied"}, "/c.toml: permission denied"},
		{FileError{Key: "chat.theme", Msg: "bad"}, "chat.theme: bad"},
		{FileError{Path: "/c.toml", Line: 1, Col: 1, Key: "x", Msg: `unknown key "x"`,
			keyInMsg: true}, `/c.toml:1:1: unknown key "x"`},
	} {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestPrecedence(t *testing.T) {
	c := mustLoad(t, "[sampling]\ntemp = 0.5\ntop_k = 10\n[chat]\ntheme = 'dark'\n")
	err := c.ApplyEnv(env(map[string]string{
		"NATTER_TEMP":    "0.25",
		"NATTER_THEME":   "", // empty: unset
		"NATTER_SEED":    "42",
		"NATTER_MODELS":  strings.Join([]string{"/m1", "", "/m2"}, string(os.PathListSeparator)),
		"NATTER_OFFLINE": "Yes",
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, text string
		src        Source
		origin     string
	}{
		{"sampling.temp", "0.25", Env, "NATTER_TEMP"},     // env beats file
		{"sampling.top_k", "10", File, c.Path + ":3"},     // file beats default
		{"chat.theme", "dark", File, c.Path + ":5"},       // empty env ignored
		{"sampling.seed", "42", Env, "NATTER_SEED"},       // env beats default
		{"sampling.top_p", "0.95", Default, ""},           // default
		{"models.offline", "true", Env, "NATTER_OFFLINE"}, // bool words
		{"models.dirs", "/m1" + string(os.PathListSeparator) + "/m2", Env, "NATTER_MODELS"},
	} {
		v := c.Get(tt.name)
		if v.Text != tt.text || v.Source != tt.src || v.Origin != tt.origin {
			t.Errorf("%s = %q %v %q, want %q %v %q", tt.name, v.Text, v.Source, v.Origin,
				tt.text, tt.src, tt.origin)
		}
	}
	if got := c.Get("models.dirs").Strings(); len(got) != 2 {
		t.Errorf("dirs = %q", got)
	}
	if Default.String() != "default" || File.String() != "config" || Env.String() != "env" {
		t.Error("Source.String")
	}
}

func TestHistorySaveInverted(t *testing.T) {
	for _, tt := range []struct {
		file, env  string
		save, flag string
		src        Source
	}{
		{"", "", "true", "false", Default},
		{"[history]\nsave = false\n", "", "false", "true", File},
		{"", "1", "false", "true", Env},
		{"", "TRUE", "false", "true", Env},
		{"", "on", "false", "true", Env},
		{"", "yes", "false", "true", Env},
		{"[history]\nsave = false\n", "0", "true", "false", Env},
		{"[history]\nsave = false\n", "no", "true", "false", Env},
		{"[history]\nsave = false\n", "Off", "true", "false", Env},
	} {
		c := mustLoad(t, tt.file)
		if err := c.ApplyEnv(env(map[string]string{"NATTER_NO_HISTORY": tt.env})); err != nil {
			t.Fatal(err)
		}
		v := c.Get("history.save")
		if v.Text != tt.save || v.FlagText() != tt.flag || v.Source != tt.src || v.Bool() != (tt.save == "true") {
			t.Errorf("file %q env %q: save=%q flag=%q %v", tt.file, tt.env, v.Text, v.FlagText(), v.Source)
		}
	}
	// Other keys pass Text through.
	if v := (Value{Key: &Keys[index["chat.fullscreen"]], Text: "true"}); v.FlagText() != "true" {
		t.Error("FlagText inverted a plain bool")
	}
}

func TestEnvErrors(t *testing.T) {
	c := mustLoad(t, "")
	err := c.ApplyEnv(env(map[string]string{
		"NATTER_TEMP":       "hot",
		"NATTER_TOP_P":      "2",
		"NATTER_THEME":      "blue",
		"NATTER_NO_HISTORY": "maybe",
		"NATTER_CTX":        "1.5",
		"NATTER_SYSTEM":     "\xff",
		"NATTER_BATCH":      " 64 ", // spaces around numbers are fine
	}))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`NATTER_TEMP="hot": want a number`,
		`NATTER_TOP_P="2": want a number from 0 to 1`,
		`NATTER_THEME="blue": want auto, dark or light`,
		`NATTER_NO_HISTORY="maybe": want 1, 0, true, false, yes, no, on or off`,
		`NATTER_CTX="1.5": want an integer`,
		`NATTER_SYSTEM="\xff": want valid UTF-8`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in\n%s", want, msg)
		}
	}
	var ee *EnvError
	if !errors.As(err, &ee) || ee.Key == "" {
		t.Errorf("not an *EnvError: %v", err)
	}
	// The good variable still applied; the bad ones left the default.
	if c.Get("model.batch").Text != "64" || c.Get("sampling.temp").Source != Default {
		t.Error("partial apply")
	}
}

func TestApplyEnvOS(t *testing.T) {
	t.Setenv("NATTER_TOP_K", "7")
	c := mustLoad(t, "")
	if err := c.ApplyEnv(nil); err != nil {
		t.Fatal(err)
	}
	if c.Get("sampling.top_k").Text != "7" {
		t.Error("os env not read")
	}
}

func TestSet(t *testing.T) {
	c := mustLoad(t, "")
	for name, text := range map[string]string{
		"sampling.temp": "0.50", "model.ctx": "4096", "chat.theme": "Dark",
		"history.save": "false", "models.dirs": "/a",
	} {
		if err := c.Set(name, text); err != nil {
			t.Errorf("Set(%s, %q): %v", name, text, err)
		}
	}
	if c.Get("sampling.temp").Text != "0.5" || c.Get("chat.theme").Text != "dark" ||
		c.Get("history.save").Text != "false" || c.Get("sampling.temp").Source != File {
		t.Errorf("Set values: %+v", c.Values())
	}
	for name, text := range map[string]string{
		"sampling.temp": "hot", "model.ctx": "-1", "chat.theme": "blue", "history.save": "maybe",
		"sampling.tmp": "1",
	} {
		err := c.Set(name, text)
		var fe *FileError
		if !errors.As(err, &fe) || fe.Key != name {
			t.Errorf("Set(%s, %q) = %v", name, text, err)
		}
	}
	if err := c.Set("sampling.tmp", "1"); !strings.Contains(err.Error(), `did you mean "sampling.temp"`) {
		t.Errorf("no suggestion: %v", err)
	}
	var zero Config
	if err := zero.Set("chat.theme", "light"); err != nil || zero.Get("chat.theme").Text != "light" ||
		zero.Get("chat.fullscreen").Text != "false" {
		t.Errorf("zero Config Set: %v", err)
	}
}

func TestInitRoundTrip(t *testing.T) {
	text := InitText()
	for i, l := range strings.Split(text, "\n") {
		if len(l) >= 100 {
			t.Errorf("line %d is %d columns: %q", i+1, len(l), l)
		}
	}
	for _, k := range Keys {
		if !strings.Contains(text, "\n"+k.Leaf()+" = ") || k.Env != "" && !strings.Contains(text, k.Env) {
			t.Errorf("InitText lacks %s", k.Name)
		}
	}
	p := filepath.Join(t.TempDir(), "sub", "natter", "config.toml")
	if err := Init(p, false); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(p)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode: %v %v", fi.Mode(), err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range c.Values() {
		if v.Text != v.Key.Default || v.Source != File || v.Line == 0 {
			t.Errorf("%s = %q (%v line %d), want default %q from file", v.Key.Name, v.Text,
				v.Source, v.Line, v.Key.Default)
		}
	}
	// No temp files left behind.
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("dir holds %d entries", len(ents))
	}
}

func TestInitRefusesOverwrite(t *testing.T) {
	p := writeFile(t, "# mine\n")
	err := Init(p, false)
	if err == nil || !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), p) {
		t.Fatalf("Init over existing file: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "# mine\n" {
		t.Fatal("file was changed")
	}
	if err := Init(p, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != InitText() {
		t.Fatal("force did not overwrite")
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("dir holds %d entries", len(ents))
	}
	if err := Init("", false); err == nil {
		t.Error(`Init("") succeeded`)
	}
}

func TestShowRoundTrip(t *testing.T) {
	c := mustLoad(t, "[sampling]\ntemp = 0.5\n[chat]\nsystem = \"tab\\there \\\"q\\\" \\u0001 ünï\"\n"+
		"[models]\ndirs = ['/a', 'b\"c']\n")
	if err := c.ApplyEnv(env(map[string]string{"NATTER_TOP_K": "5", "NATTER_NO_HISTORY": "1"})); err != nil {
		t.Fatal(err)
	}
	show := c.Show()
	for _, want := range []string{
		"temp = 0.5  # from " + c.Path + ":2\n",
		"top_k = 5  # from NATTER_TOP_K\n",
		"save = false  # from NATTER_NO_HISTORY\n",
		"\nmin_p = 0.05\n", // defaults carry no origin
		"Config file: " + c.Path,
	} {
		if !strings.Contains(show, want) {
			t.Errorf("Show lacks %q:\n%s", want, show)
		}
	}
	back := mustLoad(t, show)
	for i, v := range back.Values() {
		if orig := c.Values()[i]; v.Text != orig.Text || fmt.Sprint(v.Strings()) != fmt.Sprint(orig.Strings()) {
			t.Errorf("%s: %q after round trip, was %q", v.Key.Name, v.Text, orig.Text)
		}
	}
	// A config without a file says so.
	none, _ := Load("")
	if !strings.Contains(none.Show(), "No config file") {
		t.Error("Show without file")
	}
	if _, err := Load(writeFile(t, none.Show())); err != nil {
		t.Error(err)
	}
}

func TestDefaultPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home) // os.UserHomeDir on Windows
	t.Setenv("NATTER_CONFIG", "/etc/natter.toml")
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	if got := DefaultPath(); got != "/etc/natter.toml" {
		t.Errorf("NATTER_CONFIG: %q", got)
	}
	t.Setenv("NATTER_CONFIG", "")
	if got, want := DefaultPath(), filepath.Join("/xdg", "natter", "config.toml"); got != want {
		t.Errorf("XDG: %q, want %q", got, want)
	}
	want := filepath.Join(home, ".config", "natter", "config.toml")
	t.Setenv("XDG_CONFIG_HOME", "relative/dir") // ignored, as the XDG spec says
	if got := DefaultPath(); got != want {
		t.Errorf("relative XDG: %q, want %q", got, want)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	if got := DefaultPath(); got != want {
		t.Errorf("HOME: %q, want %q", got, want)
	}
}

func TestSuggest(t *testing.T) {
	for typed, want := range map[string]string{
		"sampling.tmp": "sampling.temp", "model.pth": "model.path", "top-k": "sampling.top_k",
		"model.flash-attn": "model.flash_attn", "chat.them": "chat.theme", "seed": "sampling.seed",
		"history.no_save": "history.save", "history.disable": "", "x": "", "model.name": "",
	} {
		got := suggestKey(typed)
		if want == "" && got != "" || want != "" && got != ` (did you mean "`+want+`"?)` {
			t.Errorf("suggestKey(%q) = %q, want %q", typed, got, want)
		}
	}
	if got := suggestSection("histroy"); !strings.Contains(got, `"history"`) {
		t.Errorf("suggestSection = %q", got)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(InitText())
	f.Add("[sampling]\ntemp = 150\n")
	f.Add("[sampling]\ntmp = 1\n")
	f.Add("[[model]]\n")
	f.Add("a = [\n")
	f.Add("sampling = { temp = 1, temp = 2 }\n")
	f.Add("[models]\ndirs = [1, [2], {a=3}]\n")
	f.Add("model.ctx = 1.5e400\n\"\" = 1\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Skip(err)
		}
		c, err := Load(p)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || fe.Line < 0 || fe.Col < 0 {
				t.Fatalf("%T %v", err, err)
			}
			_ = err.Error()
			return
		}
		// Whatever loads must show as TOML that loads to the same values.
		back, err := Load(writeFile(t, c.Show()))
		if err != nil {
			t.Fatalf("Show does not load: %v\n%s", err, c.Show())
		}
		for i, v := range back.Values() {
			if v.Text != c.Values()[i].Text {
				t.Fatalf("%s: %q != %q", v.Key.Name, v.Text, c.Values()[i].Text)
			}
		}
	})
}
