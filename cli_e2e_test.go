package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// isolatedEnv is an environment with its own home, config and data dirs.
func isolatedEnv(t *testing.T, extra ...string) (home string, env []string) {
	t.Helper()
	home = t.TempDir()
	env = append(os.Environ(),
		"HOME="+home,
		"XDG_STATE_HOME="+filepath.Join(home, "state"),
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		"NATTER_MODEL=", "NATTER_MODELS=", "NATTER_CONFIG=",
		"NATTER_NO_HISTORY=1",
	)
	return home, append(env, extra...)
}

func runEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command(natterBin, args...)
	cmd.Env = env
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		status = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), status
}

// The bash completion script loads in bash and completes commands, flags,
// flag values, model names (from this machine) and persona names.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("DID NOT RUN: no bash here")
	}
	models := t.TempDir()
	data, err := os.ReadFile(chatModel)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(models, "zebra-chat.gguf"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	home, env := isolatedEnv(t, "NATTER_MODELS="+models)
	personas := filepath.Join(home, "config", "natter", "prompts")
	if err := os.MkdirAll(personas, 0o755); err != nil {
		t.Fatal(err)
	}
	persona := "---\nname: pirate-captain\ndescription: talks like a pirate\n---\nYou are a pirate.\n"
	if err := os.WriteFile(filepath.Join(personas, "pirate-captain.md"), []byte(persona), 0o644); err != nil {
		t.Fatal(err)
	}
	// Cobra's bash script builds on the bash-completion package, as the
	// scripts of most tools do; .ci/run installs it.
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bashCompletion); err != nil {
		t.Skip("bash completion test did not run: the bash-completion package is not installed (" + bashCompletion + ")")
	}
	script, errOut, st := runEnv(t, env, "completion", "bash", "--no-descriptions")
	if st != 0 {
		t.Fatalf("natter completion bash: exit %d: %s", st, errOut)
	}
	scriptPath := filepath.Join(home, "natter.bash")
	if err := os.WriteFile(scriptPath, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	// complete LINE: what bash offers for the last word of LINE (as bash
	// itself sets COMP_* before calling the completion function).
	// compopt only works inside a completion bash itself started, so it is
	// a no-op here; COMP_TYPE 9 is a plain TAB.
	driver := `source "$2"
source "$1"
compopt() { :; }
COMP_TYPE=9
complete -p natter
comp() {
  COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
  read -ra COMP_WORDS <<< "$1"
  [[ "$1" == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
  COMPREPLY=()
  __start_natter natter "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  echo "== $1"
  printf '%s\n' "${COMPREPLY[@]}"
}
comp "natter hi"
comp "natter ask --te"
comp "natter --them"
comp "natter --theme "
comp "natter -m zeb"
comp "natter ask --model zebra"
comp "natter --prompt pir"
comp "natter prompts show pir"
comp "natter conf"
comp "natter config "
`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", driver, "bash", scriptPath, bashCompletion)
	cmd.Env = append(env, "PATH="+filepath.Dir(natterBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	got := map[string][]string{}
	var cur string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "== ") {
			cur = strings.TrimPrefix(l, "== ")
			continue
		}
		if cur != "" && strings.TrimSpace(l) != "" {
			got[cur] = append(got[cur], strings.TrimSpace(l))
		}
	}
	if !strings.Contains(string(out), "complete -o default -F __start_natter natter") {
		t.Errorf("the script did not register a completion for natter:\n%s", out)
	}
	want := map[string][]string{
		"natter hi":                {"history"},
		"natter ask --te":          {"--temp"},
		"natter --them":            {"--theme"},
		"natter --theme ":          {"auto", "dark", "light"},
		"natter -m zeb":            {"zebra-chat"},
		"natter ask --model zebra": {"zebra-chat"},
		"natter --prompt pir":      {"pirate-captain"},
		"natter prompts show pir":  {"pirate-captain"},
		"natter conf":              {"config"},
		"natter config ":           {"edit", "init", "path", "show"},
	}
	for line, w := range want {
		slices.Sort(got[line]) // bash sorts what it shows
		if strings.Join(got[line], " ") != strings.Join(w, " ") {
			t.Errorf("%q completes to %q, want %q\n(all output:\n%s)", line, got[line], w, out)
		}
	}
}

// Settings come from the flag, else NATTER_*, else the config file, else
// the built-in default; a bad file is an error naming its line and key.
func TestConfigPrecedenceEndToEnd(t *testing.T) {
	home, env := isolatedEnv(t)
	cfgDir := filepath.Join(home, "config", "natter")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(cfgDir, "config.toml")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, _, st := runEnv(t, env, "config", "path")
	if st != 0 || strings.TrimSpace(out) != cfg {
		t.Fatalf("config path: exit %d, %q; want %s", st, out, cfg)
	}

	// The model comes from the file when there is no flag or variable.
	write("[model]\npath = \"" + chatModel + "\"\nthreads = 1\n")
	ask := []string{"ask", "--no-save", "--temp", "0", "-n", "2", "hi"}
	if _, errOut, st := runEnv(t, env, ask...); st != 0 {
		t.Fatalf("model from the config file: exit %d: %s", st, errOut)
	}
	// The variable beats the file ...
	envBad := append(env, "NATTER_MODEL=/nonexistent/from-env.gguf")
	if _, errOut, st := runEnv(t, envBad, ask...); st != 1 || !strings.Contains(errOut, "from-env") {
		t.Fatalf("NATTER_MODEL did not beat the file: exit %d: %s", st, errOut)
	}
	// ... and the flag beats the variable.
	if _, errOut, st := runEnv(t, envBad, append([]string{"ask", "-m", chatModel}, ask[1:]...)...); st != 0 {
		t.Fatalf("-m did not beat NATTER_MODEL: exit %d: %s", st, errOut)
	}
	// show names where each setting comes from.
	out, _, _ = runEnv(t, append(env, "NATTER_TEMP=0.25"), "config", "show")
	if !strings.Contains(out, "temp = 0.25") || !strings.Contains(out, "NATTER_TEMP") || !strings.Contains(out, chatModel) {
		t.Errorf("config show:\n%s", out)
	}

	// A bad value stops every command that uses the file, naming line and key.
	write("[model]\nthreads = 1\n[sampling]\ntemp = \"hot\"\n")
	_, errOut, st := runEnv(t, env, ask...)
	if st != 2 || !strings.Contains(errOut, "config.toml:4") || !strings.Contains(errOut, "sampling.temp") {
		t.Fatalf("bad config: exit %d: %s", st, errOut)
	}
	write("[sampling]\ntmp = 0.5\n")
	_, errOut, st = runEnv(t, env, "models")
	if st != 2 || !strings.Contains(errOut, "config.toml:2") || !strings.Contains(errOut, "sampling.temp") {
		t.Fatalf("unknown key: exit %d: %s", st, errOut)
	}
	// config path and init still work, so the file can be fixed.
	if _, _, st := runEnv(t, env, "config", "path"); st != 0 {
		t.Errorf("config path fails on a bad file: %d", st)
	}
	if _, errOut, st := runEnv(t, env, "config", "init"); st != 1 || !strings.Contains(errOut, cfg) {
		t.Errorf("init over an existing file: exit %d: %s", st, errOut)
	}
	if _, errOut, st := runEnv(t, env, "config", "init", "--force"); st != 0 {
		t.Fatalf("init --force: exit %d: %s", st, errOut)
	}
	// The file init writes holds every default: show then reports the
	// defaults as coming from that file, and a command runs with it.
	out, errOut, st = runEnv(t, env, "config", "show")
	if st != 0 || !strings.Contains(out, "temp = 0.8  # from "+cfg) || strings.Contains(out, "NATTER_TEMP=") {
		t.Errorf("config show after init: exit %d: %s\n%s", st, errOut, out)
	}
	if _, errOut, st := runEnv(t, env, "ask", "-m", chatModel, "-t", "1", "--no-save", "-n", "2", "hi"); st != 0 {
		t.Errorf("ask with the init file: exit %d: %s", st, errOut)
	}
}

// natter doctor reports what a bug report needs, as text and JSON.
func TestDoctorFindsModelsAndConfig(t *testing.T) {
	models := t.TempDir()
	data, err := os.ReadFile(chatModel)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(models, "doctor-model.gguf"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	home, env := isolatedEnv(t, "NATTER_MODELS="+models, "GPU_KEY=sk-doctor-must-not-print")
	// An endpoint in the config: doctor names it and whether its key is
	// there, never the key, and contacts nothing.
	cfgDir := filepath.Join(home, "config", "natter")
	os.MkdirAll(cfgDir, 0o700)
	cfg := "[endpoints.gpu]\nurl = \"https://gpu.invalid:8000/v1\"\nmodel = \"big\"\napi_key_env = \"GPU_KEY\"\n" +
		"[endpoints.box]\nurl = \"http://127.0.0.1:1/v1\"\napi_key_env = \"BOX_KEY\"\n"
	if err := os.WriteFile(filepath.Join(cfgDir, "config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, st := runEnv(t, env, "doctor")
	if st != 0 {
		t.Fatalf("doctor: exit %d: %s", st, errOut)
	}
	for _, want := range []string{"doctor-model", models, "config.toml", "history.db",
		"https://gpu.invalid:8000/v1 · model big · key $GPU_KEY (set)", "key $BOX_KEY (unset)"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "sk-doctor-must-not-print") {
		t.Errorf("doctor printed an API key:\n%s", out)
	}
	js, errOut, st := runEnv(t, env, "doctor", "--json")
	if st != 0 || !strings.HasPrefix(strings.TrimSpace(js), "{") || !strings.Contains(js, "doctor-model") {
		t.Fatalf("doctor --json: exit %d: %s\n%s", st, errOut, js)
	}
}

// natter eval --perplexity prints the figure (and JSON), refuses a text
// too short for two chunks, and refuses a suite given with it.
func TestEvalPerplexity(t *testing.T) {
	_, env := isolatedEnv(t)
	text := filepath.Join("engine", "testdata", "perplexity.txt")
	out, errOut, st := runEnv(t, env, "eval", "--perplexity", text, "-m", chatModel, "-t", "1", "--ctx", "64")
	if st != 0 || !strings.Contains(out, "PPL = ") || !strings.Contains(out, "chunks of 64 tokens") {
		t.Fatalf("exit %d: %s%s", st, out, errOut)
	}
	js, _, st := runEnv(t, env, "eval", "--perplexity", text, "-m", chatModel, "-t", "1", "--ctx", "64", "--json")
	var r struct {
		PPL    float64 `json:"ppl"`
		Chunks int     `json:"chunks"`
	}
	if st != 0 || json.Unmarshal([]byte(js), &r) != nil || r.PPL <= 1 || r.Chunks < 2 {
		t.Fatalf("--json: exit %d: %s", st, js)
	}
	short := filepath.Join(t.TempDir(), "short.txt")
	os.WriteFile(short, []byte("Once upon a time."), 0o644)
	if _, errOut, st := runEnv(t, env, "eval", "--perplexity", short, "-m", chatModel, "-t", "1"); st != 2 || !strings.Contains(errOut, "too short") {
		t.Errorf("short text: exit %d: %s", st, errOut)
	}
	if _, errOut, st := runEnv(t, env, "eval", "suite.yaml", "--perplexity", text, "-m", chatModel); st != 2 || !strings.Contains(errOut, "not both") {
		t.Errorf("a suite and --perplexity: exit %d: %s", st, errOut)
	}
}
