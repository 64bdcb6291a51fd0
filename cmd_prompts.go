package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"

	"natter/engine"
	"natter/engine/gguf"
	"natter/prompts"
)

func init() {
	register("template", "render a chat template exactly (natter template render -h)", func(args []string) int {
		return prompts.RunTemplateCmd(args, os.Stdin, os.Stdout, os.Stderr, ggufTemplate)
	})
	register("prompts", "list, show, render and edit personas (system prompts)", func(args []string) int {
		return prompts.RunPromptsCmd(args, os.Stdout, os.Stderr, promptsEnv(""))
	})
}

// ggufTemplate reads a model's chat template and BOS/EOS texts (validated
// by the pure-Go reader; llama.cpp is not involved).
func ggufTemplate(path string) (tmpl, bos, eos string, err error) {
	f, err := gguf.Open(path)
	if err != nil {
		return "", "", "", err
	}
	toks, _ := mustGet(f, "tokenizer.ggml.tokens").([]string)
	text := func(key string) string {
		if id, ok := f.Uint(key); ok && id < uint64(len(toks)) {
			return toks[id]
		}
		return ""
	}
	return f.ChatTemplate(), text("tokenizer.ggml.bos_token_id"), text("tokenizer.ggml.eos_token_id"), nil
}

func mustGet(f *gguf.File, key string) any {
	v, _ := f.Get(key)
	return v
}

func promptsEnv(model string) prompts.Env {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	return prompts.Env{ConfigDir: prompts.ConfigDir(), Editor: editor, Model: model, User: userName(), OS: runtime.GOOS}
}

func userName() string {
	if u, err := user.Current(); err == nil {
		if u.Name != "" {
			return strings.Split(u.Name, ",")[0]
		}
		return u.Username
	}
	return os.Getenv("USER")
}

// chatTemplate builds the chat-template chain for a loaded model: an override
// file or the model's own Jinja template rendered exactly, then llama.cpp's
// built-in formatter, then ChatML.
// vars are extra template variables (--think's enable_thinking).
func chatTemplate(eng engine.Model, override string, vars map[string]any) (*prompts.Chain, error) {
	info := eng.Info()
	name := strings.TrimSuffix(filepath.Base(info.Path), filepath.Ext(info.Path))
	return prompts.BuildChain(prompts.ChainConfig{
		Override:      override,
		ModelName:     name,
		ConfigDir:     prompts.ConfigDir(),
		ModelTemplate: info.ChatTemplate,
		Options:       prompts.JinjaOptions{BOS: info.BOS, EOS: info.EOS, Vars: vars},
		Builtin:       eng.BuiltinTemplate(),
	})
}

// personaPrompt renders a persona's system prompt ("" name: none).
func personaPrompt(name, model string, vars []string) (string, *prompts.Prompt, error) {
	if name == "" {
		return "", nil, nil
	}
	env := promptsEnv(model)
	lib, err := prompts.LoadLibrary(env.PromptsDir())
	if lib == nil {
		return "", nil, err
	}
	extra, err := personaVars(vars)
	if err != nil {
		return "", nil, err
	}
	return lib.SystemPrompt(name, prompts.Vars{Model: model, User: env.User, OS: env.OS, Extra: extra})
}

// multiVar is a repeatable string flag.
type multiVar []string

func (m *multiVar) String() string     { return strings.Join(*m, ",") }
func (m *multiVar) Set(s string) error { *m = append(*m, s); return nil }

// personaVars parses --var KEY=VALUE values.
func personaVars(vars []string) (map[string]string, error) {
	extra := map[string]string{}
	for _, kv := range vars {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--var %q: want KEY=VALUE", kv)
		}
		extra[k] = v
	}
	return extra, nil
}
