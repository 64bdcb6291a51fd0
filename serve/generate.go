package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"natter/engine/api"
	"natter/prompts"
)

type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

func usageOf(st *api.Stats) *usage {
	u := &usage{PromptTokens: st.PromptTokens, CompletionTokens: st.GeneratedTokens, TotalTokens: st.PromptTokens + st.GeneratedTokens}
	u.PromptTokensDetails.CachedTokens = st.CachedTokens
	return u
}

// finishReason maps natter's stop reasons onto OpenAI's.
func finishReason(stop string) string {
	switch stop {
	case api.StopMaxTokens, api.StopContext:
		return "length"
	default:
		return "stop"
	}
}

// piece is what a generation produced since the last one.
type piece struct{ answer, reasoning string }

// run queues req, generates, and calls emit for every piece of text (after
// splitting reasoning from the answer) and begin once, when the prompt has
// been accepted. It returns the final stats, or an error for the client.
func (s *Server) run(ctx context.Context, want string, req api.Request, l *reqLog, begin func(), emit func(piece) bool) (*api.Stats, *apiError) {
	queued := time.Now()
	if err := s.queue.acquire(ctx); err != nil {
		if errors.Is(err, errQueueFull) {
			return nil, &apiError{status: http.StatusServiceUnavailable, typ: typeServer, code: "overloaded",
				msg: fmt.Sprintf("%d requests are already waiting for the model; retry later", s.cfg.MaxQueue)}
		}
		return nil, gone(ctx)
	}
	defer s.queue.release()
	l.queued = time.Since(queued)
	cur, aerr := s.use(ctx, want)
	if aerr != nil {
		return nil, aerr
	}
	l.model = cur.ID
	if !req.Raw {
		req.Template = cur.Template
	}

	var split prompts.Splitter
	if !req.Raw {
		// Does the prompt itself open a reasoning block (a template that
		// ends in "<think>")? Rendering alone tells, without tokenizing.
		var text string
		var err error
		if req.Template != nil {
			text, err = req.Template.Render(req.Messages, true)
		} else {
			text, _, err = cur.Model.RenderPrompt(req)
		}
		if err != nil {
			return nil, promptError(req, err)
		}
		if closeTag, ok := prompts.PromptOpensReasoning(text); ok {
			split.StartInReasoning(closeTag)
		}
	}
	ch, err := cur.Model.Generate(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, gone(ctx)
		}
		return nil, promptError(req, err)
	}
	started := false
	start := func() {
		if !started {
			started = true
			begin()
		}
	}
	// Drain the stream whatever happens, so the engine is free for the next
	// request when run returns.
	defer func() {
		for range ch {
		}
	}()
	clientOK := true
	send := func(p piece) {
		if clientOK && (p.answer != "" || p.reasoning != "") {
			clientOK = emit(p)
		}
	}
	for ev := range ch {
		switch ev.Kind {
		case api.EventPrefill:
			start()
		case api.EventText:
			start()
			if req.Raw {
				send(piece{answer: ev.Text})
				continue
			}
			a, r := split.Feed(ev.Text)
			send(piece{answer: a, reasoning: r})
		case api.EventError:
			if !started && ctx.Err() == nil {
				return nil, promptError(req, ev.Err)
			}
			return nil, &apiError{status: http.StatusInternalServerError, typ: typeServer, code: "generation_failed", msg: "generation failed: " + ev.Err.Error()}
		case api.EventDone:
			start()
			a, r := split.Flush()
			send(piece{answer: a, reasoning: r})
			l.stats = ev.Stats
			if ev.Stats.StopReason == api.StopCancelled {
				return ev.Stats, gone(ctx)
			}
			return ev.Stats, nil
		}
	}
	return nil, &apiError{status: http.StatusInternalServerError, typ: typeServer, code: "generation_failed", msg: "the engine ended the reply without a result"}
}

// gone is the error for a request whose context ended: the client left or
// the server is stopping.
func gone(ctx context.Context) *apiError {
	msg := "the client went away; generation stopped"
	if errors.Is(context.Cause(ctx), ErrShutdown) {
		msg = "the server is shutting down"
	}
	return &apiError{status: http.StatusServiceUnavailable, typ: typeServer, code: "cancelled", msg: msg}
}

// ErrShutdown is the cause a server's base context is cancelled with when it
// stops; requests still running then end with a "shutting down" error.
var ErrShutdown = errors.New("natter serve is shutting down")

// promptError classifies an error from building or starting a prompt.
func promptError(req api.Request, err error) *apiError {
	param := "messages"
	if req.Raw {
		param = "prompt"
	}
	if errors.Is(err, api.ErrContextExceeded) {
		return &apiError{status: http.StatusBadRequest, typ: typeInvalid, param: param, code: "context_length_exceeded", msg: err.Error()}
	}
	msg := err.Error()
	if strings.Contains(msg, "template") {
		return &apiError{status: http.StatusBadRequest, typ: typeInvalid, param: param, code: "template_error", msg: msg}
	}
	return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "invalid_request", msg: msg}
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request, l *reqLog) *apiError {
	var in chatRequest
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	switch {
	case in.Tools.set() || in.Functions.set():
		return invalid("tools", "tool calling is not supported by natter serve yet")
	case in.ToolChoice.set() && string(in.ToolChoice) != `"none"` && string(in.ToolChoice) != `"auto"`:
		return invalid("tool_choice", "tool calling is not supported by natter serve yet")
	case in.Logprobs != nil && *in.Logprobs, in.TopLogprobs != nil && *in.TopLogprobs > 0:
		return invalid("logprobs", "logprobs are not supported")
	}
	maxTok := in.MaxCompletionTokens
	if maxTok == nil {
		maxTok = in.MaxTokens
	}
	req, aerr := s.build(&in.sampling, maxTok)
	if aerr != nil {
		return aerr
	}
	fm, aerr := format(in.ResponseFormat, &in.sampling)
	if aerr != nil {
		return aerr
	}
	if fm != nil {
		req.Grammar, req.JSONSchema = fm.GBNF, fm.Schema
	}
	msgs, aerr := chatMessages(in.Messages)
	if aerr != nil {
		return aerr
	}
	if s.cfg.System != "" && msgs[0].Role != prompts.RoleSystem {
		msgs = append([]prompts.Message{{Role: prompts.RoleSystem, Content: s.cfg.System}}, msgs...)
	}
	req.Messages = msgs

	env := newEnvelope("chatcmpl-", "chat.completion", "chat.completion.chunk", l, in.includeUsage())
	sw := w.(*statusWriter)
	chunk := func(delta map[string]any, finish any) map[string]any {
		return env.chunk(map[string]any{"index": 0, "delta": delta, "finish_reason": finish})
	}
	var answer, reasoning strings.Builder
	begin := func() {
		if in.Stream {
			sw.startStream()
			sw.event(chunk(map[string]any{"role": "assistant", "content": ""}, nil))
		}
	}
	emit := func(p piece) bool {
		answer.WriteString(p.answer)
		reasoning.WriteString(p.reasoning)
		if !in.Stream {
			return true
		}
		d := map[string]any{}
		if p.answer != "" {
			d["content"] = p.answer
		}
		if p.reasoning != "" {
			d["reasoning_content"] = p.reasoning
		}
		return sw.event(chunk(d, nil))
	}
	stats, aerr := s.run(r.Context(), in.Model, req, l, begin, emit)
	if aerr != nil {
		return aerr
	}
	reply := prompts.Message{Role: prompts.RoleAssistant, Content: answer.String(), Reasoning: reasoning.String()}
	if s.cfg.Save != nil {
		s.cfg.Save(Exchange{Messages: msgs, Reply: reply, Stats: stats})
	}
	finish := finishReason(stats.StopReason)
	if in.Stream {
		env.endStream(sw, chunk(map[string]any{}, finish), stats)
		return nil
	}
	msg := map[string]any{"role": "assistant", "content": reply.Content}
	if reply.Reasoning != "" {
		msg["reasoning_content"] = reply.Reasoning
	}
	env.whole(w, map[string]any{"index": 0, "message": msg, "finish_reason": finish, "logprobs": nil}, stats)
	return nil
}

func (s *Server) completion(w http.ResponseWriter, r *http.Request, l *reqLog) *apiError {
	var in completionRequest
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	switch {
	case in.Echo:
		return invalid("echo", "echo is not supported")
	case in.Suffix != nil && *in.Suffix != "":
		return invalid("suffix", "suffix (fill in the middle) is not supported")
	case in.Logprobs != nil && *in.Logprobs > 0:
		return invalid("logprobs", "logprobs are not supported")
	case in.BestOf != nil && *in.BestOf != 1:
		return invalid("best_of", "best_of must be 1")
	}
	req, aerr := s.build(&in.sampling, in.MaxTokens)
	if aerr != nil {
		return aerr
	}
	fm, aerr := format(nil, &in.sampling)
	if aerr != nil {
		return aerr
	}
	if fm != nil {
		req.Grammar, req.JSONSchema = fm.GBNF, fm.Schema
	}
	prompt, aerr := completionPrompt(in.Prompt)
	if aerr != nil {
		return aerr
	}
	req.Raw, req.Prompt = true, prompt

	env := newEnvelope("cmpl-", "text_completion", "text_completion", l, in.includeUsage())
	sw := w.(*statusWriter)
	choice := func(text string, finish any) map[string]any {
		return map[string]any{"index": 0, "text": text, "logprobs": nil, "finish_reason": finish}
	}
	var text strings.Builder
	begin := func() {
		if in.Stream {
			sw.startStream()
		}
	}
	emit := func(p piece) bool {
		text.WriteString(p.answer)
		if !in.Stream {
			return true
		}
		return sw.event(env.chunk(choice(p.answer, nil)))
	}
	stats, aerr := s.run(r.Context(), in.Model, req, l, begin, emit)
	if aerr != nil {
		return aerr
	}
	finish := finishReason(stats.StopReason)
	if in.Stream {
		env.endStream(sw, env.chunk(choice("", finish)), stats)
		return nil
	}
	env.whole(w, choice(text.String(), finish), stats)
	return nil
}

// envelope is what every object of one response shares: id, created time,
// model; streamed chunks and the whole response differ in their object name.
type envelope struct {
	id, object, chunkObject string
	created                 int64
	l                       *reqLog // its model is known once the request runs
	usage                   bool    // stream_options.include_usage
}

func newEnvelope(idPrefix, object, chunkObject string, l *reqLog, usage bool) *envelope {
	return &envelope{id: newID(idPrefix), object: object, chunkObject: chunkObject, created: time.Now().Unix(), l: l, usage: usage}
}

// chunk is one streamed object holding choice (usage null until the end
// when the client asked for it).
func (e *envelope) chunk(choice map[string]any) map[string]any {
	c := map[string]any{"id": e.id, "object": e.chunkObject, "created": e.created, "model": e.l.model, "choices": []any{choice}}
	if e.usage {
		c["usage"] = nil
	}
	return c
}

// endStream sends the last chunk, the usage chunk when asked for, and [DONE].
func (e *envelope) endStream(sw *statusWriter, last map[string]any, st *api.Stats) {
	sw.event(last)
	if e.usage {
		sw.event(map[string]any{"id": e.id, "object": e.chunkObject, "created": e.created, "model": e.l.model,
			"choices": []any{}, "usage": usageOf(st)})
	}
	fmt.Fprint(sw, "data: [DONE]\n\n")
	sw.Flush()
}

// whole writes the response that was not streamed.
func (e *envelope) whole(w http.ResponseWriter, choice map[string]any, st *api.Stats) {
	writeJSON(w, http.StatusOK, map[string]any{
		"id": e.id, "object": e.object, "created": e.created, "model": e.l.model,
		"choices": []any{choice}, "usage": usageOf(st),
	})
}
