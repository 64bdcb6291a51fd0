package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"natter/engine/api"
	"natter/models"
	"natter/prompts"
	"natter/remote"
	"natter/ui"
)

// modelName is how natter names a loaded model in the chat, the history
// and exports: the catalog name for a file `natter pull` fetched, else the
// file name without .gguf (an Ollama blob has none worth showing: its
// GGUF name then).
func modelName(info api.ModelInfo) string {
	if info.Arch == "remote" {
		return info.Name // NAME:MODEL or openai://HOST/MODEL
	}
	base := filepath.Base(info.Path)
	for _, e := range models.Catalog() {
		if strings.EqualFold(e.File, base) {
			return e.Name
		}
	}
	if strings.HasPrefix(base, "sha256-") && info.Name != "" {
		return info.Name
	}
	return ui.DefaultModelName(info)
}

// askTemplateWarnings says, for natter ask, when the model has no chat
// template (a fallback format is used; a base model wants --raw) and when
// the template leaves the system prompt out (the chat's UI says the same).
// raw names the command's plain-completion way ("--raw").
func askTemplateWarnings(chain *prompts.Chain, info api.ModelInfo, system, raw string) []string {
	const probe = "natter-system-prompt-probe"
	var msgs []prompts.Message
	if system != "" {
		msgs = append(msgs, prompts.Message{Role: prompts.RoleSystem, Content: probe})
	}
	msgs = append(msgs, prompts.Message{Role: prompts.RoleUser, Content: "hi"})
	text, used, err := chain.RenderWith(msgs, true)
	if err != nil {
		return nil // the request reports it
	}
	var out []string
	if info.ChatTemplate == "" && !strings.HasPrefix(used, "user:") && !strings.HasPrefix(used, "file:") {
		out = append(out, fmt.Sprintf("warning: %s has no chat template, so the prompt is formatted with %s; "+
			"a base model (not tuned for chat) does better with %s (plain completion), or pass --chat-template NAME or FILE.jinja",
			modelName(info), used, raw))
	}
	if system != "" && !strings.Contains(text, probe) {
		out = append(out, fmt.Sprintf("warning: the chat template %s leaves the system prompt out, so it has no effect; "+
			"use a template that keeps system messages (--chat-template NAME or FILE.jinja), or put the instructions in the prompt", used))
	}
	return out
}

// resumedSampling is a resumed chat's saved sampling settings with the
// ones given on the command line (set: flag names) taking precedence.
func resumedSampling(saved, flags api.Sampling, set map[string]bool) api.Sampling {
	s := saved
	if set["temp"] {
		s.Temperature = flags.Temperature
	}
	if set["top-k"] {
		s.TopK = flags.TopK
	}
	if set["top-p"] {
		s.TopP = flags.TopP
	}
	if set["min-p"] {
		s.MinP = flags.MinP
	}
	if set["repeat-penalty"] {
		s.RepeatPenalty = flags.RepeatPenalty
	}
	if set["seed"] {
		s.Seed = flags.Seed
	}
	return s
}

// localModels is /model's list: what `natter models` shows.
func localModels() []ui.LocalModel {
	var out []ui.LocalModel
	for _, m := range models.Discover() {
		x := ui.LocalModel{Name: m.Name, Path: m.Path, Source: m.Source, Size: models.HumanBytes(uint64(m.FileSize)), Err: m.Err}
		if m.Err == "" {
			x.Arch, x.Params, x.Quant = m.Arch, models.HumanParams(m.Params), m.Quantization
			x.Fit, x.Template = m.Fit.Mark(), m.HasTemplate
		}
		out = append(out, x)
	}
	return append(out, endpointModels()...)
}

// endpointModels are the models of the config file's endpoints, for /model
// (asked for only when the user lists models; a server that does not answer
// within a few seconds shows as unreachable).
func endpointModels() []ui.LocalModel {
	var out []ui.LocalModel
	for _, n := range configEndpoints() {
		ep, err := remote.ForListing(n.Name, []remote.Named{n}, false)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var list []remote.ServerModel
			list, err = remote.ListModels(ctx, ep, remote.Options{ConnectTimeout: 3 * time.Second, MaxRetries: 1, MaxRetryAfter: time.Second})
			cancel()
			for _, m := range list {
				name := n.Name + ":" + m.ID
				out = append(out, ui.LocalModel{Name: name, Path: name, Source: "endpoint " + n.Name, Arch: "remote", Template: true})
			}
		}
		if err != nil {
			out = append(out, ui.LocalModel{Name: n.Name + ":", Path: n.Name, Source: "endpoint " + n.Name, Err: err.Error()})
		}
	}
	return out
}
