package cli

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"natter/engine"
	"natter/engine/gguf"
	"natter/prompts"
)

func promptsCommand() *cobra.Command {
	cli := func() prompts.PromptsCLI {
		return prompts.PromptsCLI{Env: promptsEnv(""), Stdout: os.Stdout, Stderr: os.Stderr}
	}
	cmd := &cobra.Command{
		Use:   "prompts",
		Short: "list, show, render and edit personas (named system prompts)",
		Long: "Personas are named system prompts: natter's built-in ones and your own Markdown files in\n" +
			"the config dir's prompts/ folder (front matter sets a description, variables and sampling).",
		Example: `  natter prompts
  natter prompts show coder
  natter prompts render coder --var lang=Go
  natter prompts edit reviewer
  natter --prompt reviewer`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return status(cli().List()) },
	}
	list := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "list personas: name, source, description",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return status(cli().List()) },
	}
	show := &cobra.Command{
		Use: "show NAME", Short: "print a persona's file",
		Args: cobra.ExactArgs(1), ValidArgsFunction: completePersonaArg,
		RunE: func(_ *cobra.Command, args []string) error { return status(cli().Show(args[0])) },
	}
	var vars []string
	render := &cobra.Command{
		Use: "render NAME", Short: "print a persona's system prompt with its variables filled in",
		Args: cobra.ExactArgs(1), ValidArgsFunction: completePersonaArg,
		RunE: func(_ *cobra.Command, args []string) error { return status(cli().Render(args[0], vars)) },
	}
	render.Flags().StringArrayVar(&vars, "var", nil, "variable KEY=VALUE (repeatable)")
	edit := &cobra.Command{
		Use: "edit NAME", Short: "edit a persona in $VISUAL or $EDITOR (a built-in one is copied first)",
		Args: cobra.ExactArgs(1), ValidArgsFunction: completePersonaArg,
		RunE: func(_ *cobra.Command, args []string) error { return status(cli().Edit(args[0])) },
	}
	cmd.AddCommand(list, show, render, edit)
	return cmd
}

func templateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "template",
		Short: "render a chat template exactly, as Hugging Face transformers would",
		Example: `  # the prompt a model's own template builds for a chat
  natter template render --model model.gguf --messages chat.json --add-generation-prompt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	var o prompts.RenderOptions
	var bos, eos string
	render := &cobra.Command{
		Use:   "render (--template FILE.jinja | --model FILE.gguf) --messages FILE.json",
		Short: "render a Jinja chat template with messages, printed with no added newline",
		Long: "Render a Jinja chat template exactly as Hugging Face transformers would and print the result\n" +
			"with no added newline. The messages file is a JSON array of messages, or an object with\n" +
			"\"messages\" and optionally \"tools\"; --messages - reads it from standard input.",
		Example: `  natter template render --model qwen.gguf --messages chat.json --add-generation-prompt
  echo '[{"role":"user","content":"hi"}]' | natter template render --template t.jinja --messages -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("bos-token") {
				o.BOS = &bos
			}
			if cmd.Flags().Changed("eos-token") {
				o.EOS = &eos
			}
			return status(prompts.TemplateRender(o, os.Stdin, os.Stdout, os.Stderr, ggufTemplate))
		},
	}
	fs := render.Flags()
	fs.StringVar(&o.Template, "template", "", "the template: a FILE.jinja")
	fs.StringVar(&o.Model, "model", "", "the template of a FILE.gguf")
	fs.StringVar(&o.Messages, "messages", "", "the messages: FILE.json, or - for standard input")
	fs.StringVar(&o.Tools, "tools", "", "tool definitions: FILE.json (default: the messages file's \"tools\")")
	fs.BoolVar(&o.AddGenerationPrompt, "add-generation-prompt", false, "end with the assistant's turn opening")
	fs.StringVar(&bos, "bos-token", "", "bos_token's text (default: the model's, with --model)")
	fs.StringVar(&eos, "eos-token", "", "eos_token's text (default: the model's, with --model)")
	fs.StringArrayVar(&o.Vars, "var", nil, "template variable KEY=JSON (repeatable)")
	_ = render.MarkFlagFilename("template", "jinja")
	_ = render.MarkFlagFilename("model", "gguf")
	_ = render.MarkFlagFilename("messages", "json")
	_ = render.MarkFlagFilename("tools", "json")
	cmd.AddCommand(render)
	return cmd
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
