package remote

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/respjson"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"natter/engine/api"
	"natter/media"
	"natter/prompts"
)

// Delta is one piece of a streamed reply, as the server sent it.
type Delta struct {
	Content   string
	Reasoning string // reasoning_content or reasoning
}

// ToolCall is a tool call the server streamed (joined from its fragments).
type ToolCall struct {
	ID, Name, Arguments string
}

// Result is what a whole stream came to.
type Result struct {
	Content, Reasoning string
	FinishReason       string // "" when the stream ended without one
	PromptTokens       int    // -1 when the server sent no usage
	CompletionTokens   int
	CachedTokens       int
	ToolCalls          []ToolCall
	// Server timings (llama-server's "timings"), 0 when absent.
	ServerPromptPerSecond, ServerPredictedPerSecond float64
	Chunks                                          int

	frags []toolFrag // one chunk's tool-call fragments
}

// toolFrag is a piece of a streamed tool call; servers send the name and
// id once and the arguments in pieces, all under the call's index.
type toolFrag struct {
	index               int
	id, name, arguments string
}

// stream is a chat or completion stream, seen through what natter needs.
type stream interface {
	Next() bool
	Err() error
	Close() error
	chunk() (deltas []Delta, r *Result)
}

// Stream sends req and calls onDelta for every piece of the reply. It
// returns the whole result; on an error the result holds what arrived.
func (c *Client) Stream(ctx context.Context, req api.Request, onDelta func(Delta)) (*Result, error) {
	return c.stream(ctx, req, onDelta, c.opts.Notify)
}

func (c *Client) stream(ctx context.Context, req api.Request, onDelta func(Delta), notify func(string)) (*Result, error) {
	res := &Result{PromptTokens: -1}
	var s stream
	err := c.retryNotify(ctx, func() error {
		s = c.open(ctx, req)
		if s.Next() {
			return nil
		}
		err := s.Err()
		s.Close()
		if err == nil {
			err = errors.New("the server sent an empty stream")
		}
		return err
	}, notify)
	if err != nil {
		return res, c.explain(err)
	}
	defer s.Close()
	var calls []*ToolCall
	for {
		deltas, part := s.chunk()
		res.Chunks++
		for _, d := range deltas {
			res.Content += d.Content
			res.Reasoning += d.Reasoning
			if onDelta != nil && (d.Content != "" || d.Reasoning != "") {
				onDelta(d)
			}
		}
		merge(res, part, &calls)
		if !s.Next() {
			break
		}
	}
	for _, tc := range calls {
		res.ToolCalls = append(res.ToolCalls, *tc)
	}
	if err := s.Err(); err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, fmt.Errorf("the reply broke off after %d characters: %w", len(res.Content)+len(res.Reasoning), c.explain(err))
	}
	if res.FinishReason == "" && ctx.Err() == nil {
		return res, fmt.Errorf("%s ended the stream before the reply was complete (%d characters kept)", c.ep.Host(), len(res.Content)+len(res.Reasoning))
	}
	return res, ctx.Err()
}

// merge folds one chunk's non-text parts into res.
func merge(res, part *Result, calls *[]*ToolCall) {
	if part == nil {
		return
	}
	if part.FinishReason != "" {
		res.FinishReason = part.FinishReason
	}
	if part.PromptTokens >= 0 {
		res.PromptTokens, res.CompletionTokens, res.CachedTokens = part.PromptTokens, part.CompletionTokens, part.CachedTokens
	}
	if part.ServerPredictedPerSecond > 0 {
		res.ServerPromptPerSecond, res.ServerPredictedPerSecond = part.ServerPromptPerSecond, part.ServerPredictedPerSecond
	}
	for _, f := range part.frags {
		idx := min(max(f.index, 0), 63) // a hostile index must not grow memory
		for len(*calls) <= idx {
			*calls = append(*calls, &ToolCall{})
		}
		dst := (*calls)[idx]
		if f.id != "" {
			dst.ID = f.id
		}
		dst.Name += f.name
		dst.Arguments += f.arguments
	}
}

func (c *Client) open(ctx context.Context, req api.Request) stream {
	extra := []option.RequestOption{}
	s := req.Sampling
	if s.TopK > 0 {
		extra = append(extra, option.WithJSONSet("top_k", s.TopK))
	}
	if s.MinP > 0 {
		extra = append(extra, option.WithJSONSet("min_p", s.MinP))
	}
	if s.RepeatPenalty > 0 && s.RepeatPenalty != 1 {
		extra = append(extra, option.WithJSONSet("repeat_penalty", s.RepeatPenalty))
	}
	if on := c.Thinking(); on != nil && !req.Raw {
		extra = append(extra, option.WithJSONSet("chat_template_kwargs", map[string]any{"enable_thinking": *on}))
	}
	// Structured output: a schema travels as response_format (or, for raw
	// completions, llama-server's json_schema); a bare GBNF grammar as the
	// "grammar" field llama-server and natter serve read. natter checks the
	// reply afterwards either way, since a server may ignore the field.
	schema := json.RawMessage(req.JSONSchema)
	switch {
	case len(schema) > 0 && req.Raw: // chat requests take it as response_format
		extra = append(extra, option.WithJSONSet("json_schema", schema))
	case len(schema) == 0 && req.Grammar != "":
		extra = append(extra, option.WithJSONSet("grammar", req.Grammar))
	}
	if req.Raw {
		p := openai.CompletionNewParams{
			Model:         openai.CompletionNewParamsModel(c.ep.Model),
			Prompt:        openai.CompletionNewParamsPromptUnion{OfString: openai.String(req.Prompt)},
			Temperature:   openai.Float(float64(s.Temperature)),
			TopP:          openai.Float(float64(s.TopP)),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		}
		if s.Seed != api.SeedRandom {
			p.Seed = openai.Int(int64(s.Seed))
		}
		if req.MaxTokens > 0 {
			p.MaxTokens = openai.Int(int64(req.MaxTokens))
		}
		if len(req.Stop) > 0 {
			p.Stop = openai.CompletionNewParamsStopUnion{OfStringArray: req.Stop}
		}
		return sseStream[openai.Completion]{c.oc.Completions.NewStreaming(ctx, p, extra...), completionChunk}
	}
	p := openai.ChatCompletionNewParams{
		Model:         c.ep.Model,
		Messages:      chatParams(req.Messages),
		Temperature:   openai.Float(float64(s.Temperature)),
		TopP:          openai.Float(float64(s.TopP)),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
	if s.Seed != api.SeedRandom {
		p.Seed = openai.Int(int64(s.Seed))
	}
	if req.MaxTokens > 0 {
		p.MaxTokens = openai.Int(int64(req.MaxTokens))
	}
	if len(req.Stop) > 0 {
		p.Stop = openai.ChatCompletionNewParamsStopUnion{OfStringArray: req.Stop}
	}
	switch {
	case string(schema) == `{"type":"object"}`:
		// --json: any object is json_object mode, which servers that are
		// strict about json_schema (OpenAI's needs closed objects) accept.
		p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}
	case len(schema) > 0:
		p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "natter_reply", Schema: schema, Strict: openai.Bool(true)},
		}}
	}
	return sseStream[openai.ChatCompletionChunk]{c.oc.Chat.Completions.NewStreaming(ctx, p, extra...), chatChunk}
}

func chatParams(msgs []prompts.Message) []openai.ChatCompletionMessageParamUnion {
	out := make([]openai.ChatCompletionMessageParamUnion, 0, len(msgs))
	for _, m := range msgs {
		switch m.Role {
		case prompts.RoleSystem:
			out = append(out, openai.SystemMessage(m.Content))
		case prompts.RoleAssistant:
			out = append(out, openai.AssistantMessage(m.Content))
		case prompts.RoleTool:
			out = append(out, openai.ToolMessage(m.Content, ""))
		default:
			if len(m.Media) > 0 {
				out = append(out, openai.UserMessage(mediaParts(m)))
				continue
			}
			out = append(out, openai.UserMessage(m.Content))
		}
	}
	return out
}

// mediaParts is a user turn with attachments as OpenAI content parts: each
// file inline as base64 (a data URL for images), then the text.
func mediaParts(m prompts.Message) []openai.ChatCompletionContentPartUnionParam {
	var parts []openai.ChatCompletionContentPartUnionParam
	for _, a := range m.Media {
		data, format := a.Data, a.Format
		if a.Kind == prompts.MediaAudio && format != "wav" && format != "mp3" {
			// OpenAI's API takes only wav and mp3: send anything else
			// (FLAC) as 16 kHz mono WAV, the rate speech encoders read.
			// A file that does not decode goes as it is, for the server
			// to name (attaching it decoded it already).
			if au, err := media.DecodeAudio(data, 16000, media.AudioLimits{}); err == nil {
				data, format = media.EncodeWAV(au.Samples, au.Rate), "wav"
			}
		}
		b64 := base64.StdEncoding.EncodeToString(data)
		if a.Kind == prompts.MediaAudio {
			parts = append(parts, openai.InputAudioContentPart(openai.ChatCompletionContentPartInputAudioInputAudioParam{Data: b64, Format: format}))
			continue
		}
		parts = append(parts, openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/" + a.Format + ";base64," + b64}))
	}
	if m.Content != "" {
		parts = append(parts, openai.TextContentPart(m.Content))
	}
	return parts
}

// sseStream is openai-go's stream of T, with what natter reads from each
// chunk of it.
type sseStream[T any] struct {
	*ssestream.Stream[T]
	read func(T) ([]Delta, *Result)
}

func (s sseStream[T]) chunk() ([]Delta, *Result) { return s.read(s.Current()) }

func chatChunk(ch openai.ChatCompletionChunk) ([]Delta, *Result) {
	part := &Result{PromptTokens: -1}
	usageOf(part, ch.JSON.Usage, ch.Usage.PromptTokens, ch.Usage.CompletionTokens, ch.Usage.PromptTokensDetails.CachedTokens)
	timingsOf(part, ch.JSON.ExtraFields["timings"])
	var out []Delta
	for _, choice := range ch.Choices {
		if choice.Index != 0 {
			continue
		}
		d := Delta{Content: choice.Delta.Content}
		for _, k := range []string{"reasoning_content", "reasoning"} {
			d.Reasoning += rawString(choice.Delta.JSON.ExtraFields[k])
		}
		out = append(out, d)
		if choice.FinishReason != "" {
			part.FinishReason = choice.FinishReason
		}
		for _, tc := range choice.Delta.ToolCalls {
			part.frags = append(part.frags, toolFrag{index: int(tc.Index), id: tc.ID, name: tc.Function.Name, arguments: tc.Function.Arguments})
		}
	}
	return out, part
}

func completionChunk(ch openai.Completion) ([]Delta, *Result) {
	part := &Result{PromptTokens: -1}
	usageOf(part, ch.JSON.Usage, ch.Usage.PromptTokens, ch.Usage.CompletionTokens, ch.Usage.PromptTokensDetails.CachedTokens)
	timingsOf(part, ch.JSON.ExtraFields["timings"])
	var out []Delta
	for _, choice := range ch.Choices {
		if choice.Index != 0 {
			continue
		}
		out = append(out, Delta{Content: choice.Text})
		if choice.FinishReason != "" {
			part.FinishReason = string(choice.FinishReason)
		}
	}
	return out, part
}

func usageOf(part *Result, f respjson.Field, prompt, completion, cached int64) {
	if f.Valid() && prompt+completion > 0 {
		part.PromptTokens, part.CompletionTokens, part.CachedTokens = int(prompt), int(completion), int(cached)
	}
}

// timingsOf reads llama-server's per-request timings.
func timingsOf(part *Result, f respjson.Field) {
	if !present(f) {
		return
	}
	var t struct {
		PromptPerSecond    float64 `json:"prompt_per_second"`
		PredictedPerSecond float64 `json:"predicted_per_second"`
	}
	if json.Unmarshal([]byte(f.Raw()), &t) == nil {
		part.ServerPromptPerSecond, part.ServerPredictedPerSecond = t.PromptPerSecond, t.PredictedPerSecond
	}
}

// present: openai-go marks fields it has no type for (the servers' extra
// fields) as not Valid, though their raw JSON is there.
func present(f respjson.Field) bool { r := f.Raw(); return r != "" && r != respjson.Null }

func rawString(f respjson.Field) string {
	if !present(f) {
		return ""
	}
	var s string
	if json.Unmarshal([]byte(f.Raw()), &s) != nil {
		return ""
	}
	return s
}

// Generate implements api.Generator: the reply streams as text events, a
// reasoning model's thinking wrapped in <think>…</think> (which the chat
// shows as its collapsed thinking block), then the figures: the server's
// token counts, and time to first token and tok/s as natter measured them.
func (c *Client) Generate(ctx context.Context, req api.Request) (<-chan api.Event, error) {
	ch := make(chan api.Event, 64)
	go func() {
		defer close(ch)
		start := time.Now()
		var first time.Time
		thinking := false
		prefillSent := false
		onDelta := func(d Delta) {
			if first.IsZero() {
				first = time.Now()
			}
			if !prefillSent {
				prefillSent = true
				ch <- api.Event{Kind: api.EventPrefill, Stats: &api.Stats{PromptTokens: -1, ContextSize: c.info.ContextSize, Template: "server", PrefillTime: first.Sub(start)}}
			}
			var b strings.Builder
			if d.Reasoning != "" {
				if !thinking {
					b.WriteString("<think>")
					thinking = true
				}
				b.WriteString(d.Reasoning)
			}
			if d.Content != "" {
				if thinking {
					b.WriteString("</think>")
					thinking = false
				}
				b.WriteString(d.Content)
			}
			ch <- api.Event{Kind: api.EventText, Text: b.String()}
		}
		// Retry notes travel in the stream, for whoever shows it.
		notify := func(s string) { ch <- api.Event{Kind: api.EventNotice, Text: s} }
		res, err := c.stream(ctx, req, onDelta, notify)
		if thinking {
			ch <- api.Event{Kind: api.EventText, Text: "</think>"}
		}
		end := time.Now()
		if err != nil && !errors.Is(err, context.Canceled) {
			ch <- api.Event{Kind: api.EventError, Err: err}
			return
		}
		st := &api.Stats{PromptTokens: res.PromptTokens, CachedTokens: res.CachedTokens, GeneratedTokens: res.CompletionTokens,
			ContextSize: c.info.ContextSize, Template: "server", PrefillTPS: res.ServerPromptPerSecond}
		if res.PromptTokens < 0 {
			st.PromptTokens, st.GeneratedTokens = 0, res.Chunks // no usage: the chunk count stands in
		}
		if !first.IsZero() {
			st.TTFT, st.PrefillTime, st.DecodeTime = first.Sub(start), first.Sub(start), end.Sub(first)
			if n := st.GeneratedTokens - 1; n > 0 && st.DecodeTime > 0 {
				st.DecodeTPS = float64(n) / st.DecodeTime.Seconds()
			}
		}
		if res.PromptTokens >= 0 {
			st.ContextUsed = res.PromptTokens + res.CompletionTokens
		}
		switch {
		case err != nil:
			st.StopReason = api.StopCancelled
		case res.FinishReason == "length":
			st.StopReason = api.StopMaxTokens
		default:
			st.StopReason = api.StopEOG
		}
		ch <- api.Event{Kind: api.EventDone, Stats: st}
	}()
	return ch, nil
}
