package serve

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"natter/engine/api"
	"natter/media"
	"natter/prompts"
	"natter/prompts/grammar"
)

// fieldError is a value of the right JSON type that natter cannot take.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// sampling are the generation fields both completion endpoints share.
type sampling struct {
	Model            string      `json:"model"`
	Stream           bool        `json:"stream"`
	StreamOptions    *streamOpts `json:"stream_options"`
	Temperature      *float64    `json:"temperature"`
	TopP             *float64    `json:"top_p"`
	TopK             *int        `json:"top_k"`
	MinP             *float64    `json:"min_p"`
	RepeatPenalty    *float64    `json:"repeat_penalty"`
	Seed             *int64      `json:"seed"`
	MaxTokens        *int        `json:"max_tokens"`
	Stop             stopList    `json:"stop"`
	N                *int        `json:"n"`
	FrequencyPenalty *float64    `json:"frequency_penalty"`
	PresencePenalty  *float64    `json:"presence_penalty"`
	LogitBias        rawField    `json:"logit_bias"`
	// llama-server's extras: a GBNF grammar, or a JSON Schema.
	Grammar    *string         `json:"grammar"`
	JSONSchema json.RawMessage `json:"json_schema"`
}

type streamOpts struct {
	IncludeUsage bool `json:"include_usage"`
}

func (p *sampling) includeUsage() bool { return p.StreamOptions != nil && p.StreamOptions.IncludeUsage }

// rawField is a field natter does not support; null, {} and [] mean unset.
type rawField json.RawMessage

func (r *rawField) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

func (r rawField) set() bool {
	t := string(bytes.TrimSpace(r))
	return t != "" && t != "null" && t != "{}" && t != "[]"
}

// stopList is "stop": a string, an array of strings, or null.
type stopList []string

func (s *stopList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stopList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &fieldError{"stop", "expected a string or an array of strings"}
	}
	*s = many
	return nil
}

type chatRequest struct {
	sampling
	Messages            []chatMessage   `json:"messages"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Logprobs            *bool           `json:"logprobs"`
	TopLogprobs         *int            `json:"top_logprobs"`
	Tools               rawField        `json:"tools"`
	ToolChoice          rawField        `json:"tool_choice"`
	Functions           rawField        `json:"functions"`
	ResponseFormat      *responseFormat `json:"response_format"`
}

// responseFormat is OpenAI's structured-output request.
type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Strict *bool           `json:"strict"`
	} `json:"json_schema"`
}

type chatMessage struct {
	Role             string   `json:"role"`
	Content          content  `json:"content"`
	ReasoningContent string   `json:"reasoning_content"`
	ToolCalls        rawField `json:"tool_calls"`
	ToolCallID       string   `json:"tool_call_id"`
	Name             string   `json:"name"`
}

// content is a message's content: a string, null, or an array of parts:
// text, images (image_url with a data: URL; natter fetches nothing) and
// audio (input_audio).
type content struct {
	text  string
	media []prompts.Attachment
}

func (c *content) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		c.text = ""
		return nil
	}
	if err := json.Unmarshal(b, &c.text); err == nil {
		return nil
	}
	var parts []struct {
		Type       string     `json:"type"`
		Text       *string    `json:"text"`
		ImageURL   *imagePart `json:"image_url"`
		InputAudio *audioPart `json:"input_audio"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return &fieldError{"messages.content", "expected a string or an array of content parts"}
	}
	var texts []string
	for _, p := range parts {
		switch {
		case p.Type == "text" && p.Text != nil:
			texts = append(texts, *p.Text)
		case p.Type == "text":
			return &fieldError{"messages.content", `a "text" part needs a "text" string`}
		case p.Type == "image_url" || p.Type == "input_audio":
			a, err := partMedia(p.Type, p.ImageURL, p.InputAudio, len(c.media)+1)
			if err != nil {
				return err
			}
			c.media = append(c.media, a)
		case p.Type == "":
			return &fieldError{"messages.content", `a content part needs a "type"`}
		default:
			return &fieldError{"messages.content", fmt.Sprintf("content parts of type %q are not supported (natter serve takes text, image_url and input_audio)", p.Type)}
		}
	}
	c.text = strings.Join(texts, "\n")
	return nil
}

type completionRequest struct {
	sampling
	Prompt   json.RawMessage `json:"prompt"`
	Echo     bool            `json:"echo"`
	Suffix   *string         `json:"suffix"`
	Logprobs *int            `json:"logprobs"`
	BestOf   *int            `json:"best_of"`
}

// build turns the shared fields into an engine request on top of the
// server's defaults.
func (s *Server) build(p *sampling, maxTokens *int) (api.Request, *apiError) {
	req := api.Request{Sampling: s.cfg.Sampling, MaxTokens: s.cfg.MaxTokens, ReasoningBudget: s.cfg.ReasoningBudget, NoDrop: true}
	if err := s.checkModel(p.Model); err != nil {
		return req, err
	}
	if p.N != nil && *p.N != 1 {
		return req, invalid("n", "n must be 1: natter serve returns one choice per request")
	}
	if v := p.Temperature; v != nil {
		if *v < 0 || *v > 2 || math.IsNaN(*v) {
			return req, invalid("temperature", "temperature must be between 0 and 2, got %g", *v)
		}
		req.Sampling.Temperature = float32(*v)
	}
	if v := p.TopP; v != nil {
		if !(*v >= 0 && *v <= 1) {
			return req, invalid("top_p", "top_p must be between 0 and 1, got %g", *v)
		}
		req.Sampling.TopP = float32(*v)
	}
	if v := p.MinP; v != nil {
		if !(*v >= 0 && *v <= 1) {
			return req, invalid("min_p", "min_p must be between 0 and 1, got %g", *v)
		}
		req.Sampling.MinP = float32(*v)
	}
	if v := p.TopK; v != nil {
		if *v < 0 {
			return req, invalid("top_k", "top_k must be 0 (all tokens) or more, got %d", *v)
		}
		req.Sampling.TopK = *v
	}
	if v := p.RepeatPenalty; v != nil {
		if !(*v > 0 && *v <= 10) {
			return req, invalid("repeat_penalty", "repeat_penalty must be above 0 and at most 10 (1 = none), got %g", *v)
		}
		req.Sampling.RepeatPenalty = float32(*v)
	}
	if v := p.Seed; v != nil {
		if *v < 0 || *v >= int64(api.SeedRandom) {
			return req, invalid("seed", "seed must be between 0 and %d, got %d", int64(api.SeedRandom)-1, *v)
		}
		req.Sampling.Seed = uint32(*v)
	}
	if v := maxTokens; v != nil {
		if *v < 1 {
			return req, invalid("max_tokens", "max_tokens must be at least 1, got %d", *v)
		}
		req.MaxTokens = *v
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"frequency_penalty", p.FrequencyPenalty}, {"presence_penalty", p.PresencePenalty}} {
		if f.v != nil && *f.v != 0 {
			return req, invalid(f.name, "%s is not supported; repeat_penalty (1 = none) penalises repeated tokens", f.name)
		}
	}
	if p.LogitBias.set() {
		return req, invalid("logit_bias", "logit_bias is not supported")
	}
	if len(p.Stop) > 16 {
		return req, invalid("stop", "at most 16 stop sequences, got %d", len(p.Stop))
	}
	for _, st := range p.Stop {
		if st == "" {
			return req, invalid("stop", "a stop sequence is empty")
		}
	}
	req.Stop = p.Stop
	return req, nil
}

// format reads the structured-output fields: OpenAI's response_format or
// llama-server's grammar / json_schema, at most one of them. A schema or
// grammar natter cannot enforce is a 400 here, before the model runs.
func format(rf *responseFormat, p *sampling) (*grammar.Format, *apiError) {
	var out []*grammar.Format
	var param string
	add := func(name string, f *grammar.Format, err error) *apiError {
		if err != nil {
			return invalid(name, "%s: %v", name, err)
		}
		out, param = append(out, f), name
		return nil
	}
	if rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			add("response_format", grammar.JSONFormat(), nil)
		case "json_schema":
			if rf.JSONSchema == nil || len(bytes.TrimSpace(rf.JSONSchema.Schema)) == 0 {
				return nil, invalid("response_format", "response_format json_schema needs json_schema.schema")
			}
			name := rf.JSONSchema.Name
			if name == "" {
				name = "schema"
			}
			f, err := grammar.SchemaFromJSON(name, rf.JSONSchema.Schema)
			if aerr := add("response_format", f, err); aerr != nil {
				return nil, aerr
			}
		default:
			return nil, invalid("response_format", "response_format type %q is unknown (text, json_object or json_schema)", rf.Type)
		}
	}
	if p.Grammar != nil && *p.Grammar != "" {
		g, err := grammar.Parse(*p.Grammar)
		var f *grammar.Format
		if err == nil {
			f = grammar.FromGrammar("request", *p.Grammar, g)
		}
		if aerr := add("grammar", f, err); aerr != nil {
			return nil, aerr
		}
	}
	if t := bytes.TrimSpace(p.JSONSchema); len(t) > 0 && string(t) != "null" {
		f, err := grammar.SchemaFromJSON("json_schema", t)
		if aerr := add("json_schema", f, err); aerr != nil {
			return nil, aerr
		}
	}
	switch len(out) {
	case 0:
		return nil, nil
	case 1:
		return out[0], nil
	}
	return nil, invalid(param, "response_format, grammar and json_schema exclude each other")
}

// chatMessages checks and converts the conversation.
func chatMessages(in []chatMessage) ([]prompts.Message, *apiError) {
	if len(in) == 0 {
		return nil, invalid("messages", "messages is empty: send at least one message")
	}
	out := make([]prompts.Message, 0, len(in))
	for i, m := range in {
		param := fmt.Sprintf("messages[%d]", i)
		role := m.Role
		switch role {
		case "developer":
			role = prompts.RoleSystem
		case prompts.RoleSystem, prompts.RoleUser, prompts.RoleAssistant, prompts.RoleTool:
		case "":
			return nil, invalid(param+".role", "%s has no role (system, user, assistant or tool)", param)
		default:
			return nil, invalid(param+".role", "%s: unknown role %q (system, developer, user, assistant or tool)", param, m.Role)
		}
		if m.ToolCalls.set() {
			return nil, invalid(param+".tool_calls", "%s: tool calls are not supported by natter serve yet", param)
		}
		out = append(out, prompts.Message{Role: role, Content: m.Content.text, Reasoning: m.ReasoningContent, Media: m.Content.media})
	}
	return out, nil
}

// completionPrompt reads "prompt": a string, or an array of one string.
func completionPrompt(raw json.RawMessage) (string, *apiError) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return "", invalid("prompt", "prompt is missing")
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return one, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err == nil {
		if len(many) != 1 {
			return "", invalid("prompt", "prompt must be one string (an array holds %d; natter serve answers one prompt per request)", len(many))
		}
		return many[0], nil
	}
	return "", invalid("prompt", "prompt must be a string (token-id prompts are not supported)")
}

type imagePart struct {
	URL string `json:"url"`
}

type audioPart struct {
	Data string `json:"data"`
}

// partMedia is the attachment of an image_url or input_audio part: base64
// data, sniffed for its kind (a file's name or a stated format may lie).
func partMedia(typ string, img *imagePart, audio *audioPart, n int) (prompts.Attachment, error) {
	field := "messages.content." + typ
	var b64 string
	switch {
	case typ == "image_url" && img != nil:
		rest, ok := strings.CutPrefix(img.URL, "data:")
		_, data, isB64 := strings.Cut(rest, ";base64,")
		if !ok || !isB64 {
			return prompts.Attachment{}, &fieldError{field, "only data: URLs with base64 data are taken (natter serve fetches nothing from the network)"}
		}
		b64 = data
	case typ == "input_audio" && audio != nil:
		b64 = audio.Data
	default:
		return prompts.Attachment{}, &fieldError{field, fmt.Sprintf("a %q part needs its %q object", typ, typ)}
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return prompts.Attachment{}, &fieldError{field, "the data is not valid base64"}
	}
	if len(data) > media.MaxFileSize {
		return prompts.Attachment{}, &fieldError{field, fmt.Sprintf("the file is larger than %d MiB", media.MaxFileSize>>20)}
	}
	kind, format := media.Sniff(data)
	want := map[string]string{"image_url": prompts.MediaImage, "input_audio": prompts.MediaAudio}[typ]
	if kind != want {
		return prompts.Attachment{}, &fieldError{field, "the data is not " + map[string]string{"image_url": "an image (PNG, JPEG, WebP, GIF, BMP)", "input_audio": "audio (WAV, FLAC, MP3)"}[typ]}
	}
	return prompts.NewAttachment(kind, format, fmt.Sprintf("%s-%d.%s", kind, n, format), data), nil
}
