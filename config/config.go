// Package config owns natter's one config file, config.toml: the table of
// its keys with their built-in defaults, the NATTER_* environment variables
// that override them, parsing and validating the file (errors carry line,
// column and the full dotted key), and the commented file that
// `natter config init` writes.
//
// Precedence is flag > environment > file > default. This package resolves
// environment > file > default; the CLI applies flags on top using each
// Value's FlagText. It imports nothing of natter's, so any package can use it.
package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Type is the kind of value a key holds.
type Type int

const (
	String Type = iota
	Int
	Float
	Bool
	List // list of strings; in the environment, os.PathListSeparator-separated
)

func (t Type) String() string {
	switch t {
	case String:
		return "string"
	case Int:
		return "int"
	case Float:
		return "float"
	case Bool:
		return "bool"
	case List:
		return "list"
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// Key describes one setting of the config file.
type Key struct {
	Name     string   // "sampling.temp" (section.key)
	Type     Type     // String, Int, Float, Bool or List
	Default  string   // built-in default as text ("0.8"; "" for empty string/list)
	Env      string   // "NATTER_TEMP" ("" for none)
	Flag     string   // the CLI flag it sets ("temp"; "" for none)
	Inverted bool     // flag and env hold the opposite bool (history.save <-> --no-save)
	Choices  []string // allowed values of a String key (nil: any)
	Min, Max *float64 // inclusive bounds for Int/Float (nil: none)
	Doc      string   // one line for `config init` comments and `config show`

	// notZero excludes 0 from [Min, Max]: repeat_penalty must be > 0 and
	// max_tokens is -1 or positive, which inclusive bounds cannot say.
	notZero bool
}

// Section is the table the key lives in ("sampling").
func (k *Key) Section() string {
	s, _, _ := strings.Cut(k.Name, ".")
	return s
}

// Leaf is the key's name inside its section ("temp").
func (k *Key) Leaf() string {
	_, l, _ := strings.Cut(k.Name, ".")
	return l
}

func num(v float64) *float64 { return &v }

// Keys is the table of settings, in the order they appear in the file.
// The sampling defaults are engine/api.DefaultSampling's float32 values
// written as their shortest decimals.
var Keys = []Key{
	{Name: "model.path", Type: String, Env: "NATTER_MODEL", Flag: "model",
		Doc: "Model to load: a GGUF file path, a local model name or a catalog name"},
	{Name: "model.ctx", Type: Int, Default: "0", Env: "NATTER_CTX", Flag: "ctx",
		Min: num(0), Doc: "Context size in tokens; 0 = min(4096, the model's)"},
	{Name: "model.threads", Type: Int, Default: "0", Env: "NATTER_THREADS", Flag: "threads",
		Min: num(0), Max: num(1024), Doc: "CPU threads; 0 = number of physical cores"},
	{Name: "model.batch", Type: Int, Default: "2048", Env: "NATTER_BATCH", Flag: "batch",
		Min: num(1), Doc: "Prompt processing batch size in tokens"},
	{Name: "model.flash_attn", Type: String, Default: "auto", Env: "NATTER_FLASH_ATTN",
		Flag: "flash-attn", Choices: []string{"auto", "on", "off"},
		Doc: "Flash attention: auto, on or off"},
	{Name: "model.cache_type", Type: String, Default: "f16", Env: "NATTER_CACHE_TYPE",
		Flag: "cache-type", Choices: []string{"f16", "q8_0", "q4_0", "f32", "bf16"},
		Doc: "KV cache type: f16, q8_0, q4_0, f32 or bf16"},
	{Name: "model.backend", Type: String, Default: "auto", Env: "NATTER_BACKEND",
		Flag: "backend", Choices: []string{"auto", "llama.cpp", "go"},
		Doc: "Inference backend: auto, llama.cpp or go"},
	{Name: "models.dirs", Type: List, Env: "NATTER_MODELS",
		Doc: "Extra folders searched for GGUF files"},
	{Name: "models.offline", Type: Bool, Default: "false", Env: "NATTER_OFFLINE",
		Doc: "Never download models; pull refuses"},
	{Name: "sampling.temp", Type: Float, Default: "0.8", Env: "NATTER_TEMP", Flag: "temp",
		Min: num(0), Max: num(100), Doc: "Temperature; 0 = greedy, always the likeliest token"},
	{Name: "sampling.top_k", Type: Int, Default: "40", Env: "NATTER_TOP_K", Flag: "top-k",
		Min: num(0), Doc: "Sample from the k likeliest tokens; 0 = all"},
	{Name: "sampling.top_p", Type: Float, Default: "0.95", Env: "NATTER_TOP_P", Flag: "top-p",
		Min: num(0), Max: num(1), Doc: "Nucleus sampling: smallest token set with this total probability"},
	{Name: "sampling.min_p", Type: Float, Default: "0.05", Env: "NATTER_MIN_P", Flag: "min-p",
		Min: num(0), Max: num(1), Doc: "Drop tokens less likely than min_p times the likeliest one"},
	{Name: "sampling.repeat_penalty", Type: Float, Default: "1", Env: "NATTER_REPEAT_PENALTY",
		Flag: "repeat-penalty", Min: num(0), Max: num(10), notZero: true,
		Doc: "Penalty for repeating recent tokens; 1 = none"},
	{Name: "sampling.seed", Type: Int, Default: "-1", Env: "NATTER_SEED", Flag: "seed",
		Min: num(-1), Max: num(4294967294), Doc: "Random seed; -1 = a new one each time"},
	{Name: "sampling.max_tokens", Type: Int, Default: "-1", Env: "NATTER_MAX_TOKENS",
		Flag: "max-tokens", Min: num(-1), notZero: true,
		Doc: "Stop a reply after this many tokens; -1 = no limit"},
	{Name: "sampling.think", Type: String, Default: "auto", Env: "NATTER_THINK", Flag: "think",
		Choices: []string{"auto", "on", "off"},
		Doc:     "Reasoning for models that can think: auto, on or off"},
	{Name: "sampling.reasoning_budget", Type: Int, Default: "-1", Env: "NATTER_REASONING_BUDGET",
		Flag: "reasoning-budget", Min: num(-1),
		Doc: "Most tokens spent thinking before answering; -1 = no limit"},
	{Name: "chat.persona", Type: String, Env: "NATTER_PERSONA", Flag: "prompt",
		Doc: "Named system prompt to start chats with"},
	{Name: "chat.system", Type: String, Env: "NATTER_SYSTEM", Flag: "system",
		Doc: "System prompt text"},
	{Name: "chat.template", Type: String, Env: "NATTER_CHAT_TEMPLATE", Flag: "chat-template",
		Doc: "Chat template to use instead of the model's own"},
	{Name: "chat.theme", Type: String, Default: "auto", Env: "NATTER_THEME", Flag: "theme",
		Choices: []string{"auto", "dark", "light"}, Doc: "Colour theme: auto, dark or light"},
	{Name: "chat.fullscreen", Type: Bool, Default: "false", Env: "NATTER_FULLSCREEN",
		Flag: "fullscreen", Doc: "Run the chat in the terminal's alternate screen"},
	{Name: "history.save", Type: Bool, Default: "true", Env: "NATTER_NO_HISTORY",
		Flag: "no-save", Inverted: true, Doc: "Save chats to the history database"},
}

// index maps key names to positions in Keys, so values can live in a slice
// that follows the table order.
var index = func() map[string]int {
	m := make(map[string]int, len(Keys))
	for i := range Keys {
		m[Keys[i].Name] = i
	}
	return m
}()

// Lookup finds a key by its dotted name.
func Lookup(name string) (*Key, bool) {
	i, ok := index[name]
	if !ok || i >= len(Keys) {
		return nil, false
	}
	return &Keys[i], true
}

// Sections lists the file's tables in order of first appearance in Keys.
func Sections() []string {
	var out []string
	for i := range Keys {
		s := Keys[i].Section()
		if len(out) == 0 || out[len(out)-1] != s {
			out = append(out, s)
		}
	}
	return out
}

func isSection(name string) bool {
	for i := range Keys {
		if Keys[i].Section() == name {
			return true
		}
	}
	return false
}

// DefaultPath is where natter looks for its config file: $NATTER_CONFIG if
// set, else $XDG_CONFIG_HOME/natter/config.toml, else
// ~/.config/natter/config.toml. It returns "" when none can be worked out
// (no home directory), which Load treats as "no config file".
func DefaultPath() string {
	if p := os.Getenv("NATTER_CONFIG"); p != "" {
		return p
	}
	// The XDG spec says relative values are invalid and must be ignored.
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "natter", "config.toml")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".config", "natter", "config.toml")
}

// Source says where a value came from.
type Source int

const (
	Default Source = iota
	File
	Env
)

func (s Source) String() string {
	switch s {
	case Default:
		return "default"
	case File:
		return "config"
	case Env:
		return "env"
	}
	return "Source(" + strconv.Itoa(int(s)) + ")"
}

// Value is a key's effective setting.
type Value struct {
	Key    *Key
	Text   string // canonical text, in the form a pflag flag accepts
	Source Source
	Line   int    // line in the file, when Source == File (0 if unknown)
	Origin string // "NATTER_TEMP" or "/path/config.toml:12"; "" for defaults

	list []string // List keys: the items, since Text's separator may occur in them
}

// FlagText is the text to pass to the key's CLI flag: Text, except that
// Inverted keys hold the opposite of their flag (save=false is --no-save=true).
func (v Value) FlagText() string {
	if v.Key != nil && v.Key.Inverted && v.Key.Type == Bool {
		switch v.Text {
		case "true":
			return "false"
		case "false":
			return "true"
		}
	}
	return v.Text
}

// Int is the value of an Int key (0 if Text is not an integer).
func (v Value) Int() int64 {
	n, _ := strconv.ParseInt(v.Text, 10, 64)
	return n
}

// Float is the value of a Float or Int key (0 if Text is not a number).
func (v Value) Float() float64 {
	f, _ := strconv.ParseFloat(v.Text, 64)
	return f
}

// Bool is the value of a Bool key, in the key's own sense (history.save).
func (v Value) Bool() bool { return v.Text == "true" }

// Strings is the value of a List key (nil when empty).
func (v Value) Strings() []string {
	if v.list != nil {
		return append([]string(nil), v.list...)
	}
	return splitList(v.Text)
}

func splitList(s string) []string {
	var out []string
	for _, p := range filepath.SplitList(s) {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func joinList(l []string) string {
	return strings.Join(l, string(os.PathListSeparator))
}

func defaultValue(k *Key) Value {
	v := Value{Key: k, Text: k.Default, Source: Default}
	if k.Type == List {
		v.list = splitList(k.Default)
	}
	return v
}
