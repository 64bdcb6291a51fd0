package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"natter/engine"
	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/prompts"
	"natter/serve"
)

var chatModel string

// testThreads: tests run llama.cpp on one thread (packages test side by
// side); benchmarks use two.
var testThreads = 1

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "natter-serve-test")
	if err != nil {
		panic(err)
	}
	spec := synth.Tiny()
	spec.Name, spec.ChatTemplate = "synth-chat", synth.ChatML
	chatModel = filepath.Join(dir, "synth-chat.gguf")
	if err := synth.Write(chatModel, spec); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuf is the server log, written by handlers and read by the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type server struct {
	url string
	log *syncBuf
	eng engine.Model
}

// start loads path in a real engine and serves it on a free loopback port.
func start(t *testing.T, path string, ctx int, edit func(*serve.Config)) *server {
	t.Helper()
	return startOpts(t, engine.Options{ModelPath: path, ContextSize: ctx}, edit)
}

// startOpts is start for a model loaded with opts.
func startOpts(t *testing.T, opts engine.Options, edit func(*serve.Config)) *server {
	t.Helper()
	opts.Threads = testThreads
	eng, err := engine.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	info := eng.Info()
	chain, err := prompts.BuildChain(prompts.ChainConfig{ModelTemplate: info.ChatTemplate, ModelName: "m",
		Options: prompts.JinjaOptions{BOS: info.BOS, EOS: info.EOS}, Builtin: eng.BuiltinTemplate()})
	if err != nil {
		t.Fatal(err)
	}
	log := &syncBuf{}
	sampling := api.DefaultSampling()
	sampling.Temperature = 0
	cfg := serve.Config{Model: eng, ModelID: "synth-chat", Aliases: []string{"synth-chat.gguf"}, Template: chain,
		Sampling: sampling, Log: log}
	if edit != nil {
		edit(&cfg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handler := serve.New(cfg)
	srv := serve.NewHTTPServer(handler.Handler(), nil)
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		handler.Close() // a model loaded on request
		eng.Close()
	})
	return &server{url: "http://" + ln.Addr().String(), log: log, eng: eng}
}

func (s *server) client(opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{option.WithBaseURL(s.url + "/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0)}, opts...)...)
}

func (s *server) clientPtr(opts ...option.RequestOption) *openai.Client {
	c := s.client(opts...)
	return &c
}

func user(text string) openai.ChatCompletionMessageParamUnion { return openai.UserMessage(text) }

// The official client gets the same answer streamed and whole at
// temperature 0, with usage that adds up, and a follow-up reuses the cache.
func TestChatStreamAndWholeAgree(t *testing.T) {
	s := start(t, chatModel, 512, nil)
	c := s.client()
	ctx := context.Background()
	params := openai.ChatCompletionNewParams{
		Model:     "synth-chat",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("You are a test."), user("Once upon a time there was")},
		MaxTokens: openai.Int(24),
	}
	whole, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole.Choices) != 1 || whole.Object != "chat.completion" || whole.Model != "synth-chat" {
		t.Fatalf("response: %+v", whole)
	}
	got := whole.Choices[0].Message.Content
	u := whole.Usage
	if got == "" || u.CompletionTokens < 1 || u.CompletionTokens > 24 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Fatalf("content %q, usage %+v", got, u)
	}
	// The prompt count is the engine's own count of the rendered chat.
	msgs := []prompts.Message{{Role: "system", Content: "You are a test."}, {Role: "user", Content: "Once upon a time there was"}}
	toks, err := s.eng.PromptTokens(api.Request{Messages: msgs})
	if err != nil {
		t.Fatal(err)
	}
	if int(u.PromptTokens) != len(toks) {
		t.Errorf("usage.prompt_tokens %d, the engine makes %d tokens of that chat", u.PromptTokens, len(toks))
	}
	if fr := whole.Choices[0].FinishReason; (u.CompletionTokens == 24) != (fr == "length") {
		t.Errorf("finish_reason %q after %d of 24 tokens", fr, u.CompletionTokens)
	}

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := c.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].Message.Content != got {
		t.Fatalf("streamed %q, whole %q", acc.Choices[0].Message.Content, got)
	}
	if chunks < 3 || acc.Usage.CompletionTokens != u.CompletionTokens || acc.Usage.PromptTokens != u.PromptTokens {
		t.Fatalf("%d chunks, stream usage %+v, whole %+v", chunks, acc.Usage, u)
	}
	// The repeated conversation came from the cache.
	if acc.Usage.PromptTokensDetails.CachedTokens < u.PromptTokens-1 {
		t.Errorf("the repeated request reused %d of %d prompt tokens", acc.Usage.PromptTokensDetails.CachedTokens, u.PromptTokens)
	}

	// A follow-up turn reuses the conversation so far.
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{}
	params.Messages = append(params.Messages, openai.AssistantMessage(got), user("And then?"))
	next, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if cached := next.Usage.PromptTokensDetails.CachedTokens; cached < u.PromptTokens {
		t.Errorf("the follow-up reused %d prompt tokens; the first turn alone was %d", cached, u.PromptTokens)
	}
	if !strings.Contains(s.log.String(), "POST /v1/chat/completions model=synth-chat prompt=") {
		t.Errorf("log:\n%s", s.log)
	}
}

// /v1/completions continues raw text, streamed or whole alike.
func TestCompletions(t *testing.T) {
	s := start(t, chatModel, 512, nil)
	c := s.client()
	ctx := context.Background()
	p := openai.CompletionNewParams{Model: "synth-chat", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")}, MaxTokens: openai.Int(16)}
	whole, err := c.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(whole.Choices) != 1 || whole.Choices[0].Text == "" || whole.Usage.CompletionTokens < 1 {
		t.Fatalf("%+v", whole)
	}
	stream := c.Completions.NewStreaming(ctx, p)
	var text strings.Builder
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			text.WriteString(ch.Text)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != whole.Choices[0].Text {
		t.Fatalf("streamed %q, whole %q", text.String(), whole.Choices[0].Text)
	}
}

// A client that goes away mid-stream stops its generation, and the server
// goes on serving.
func TestClientCancelStopsGeneration(t *testing.T) {
	s := start(t, chatModel, 512, nil)
	c := s.client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "synth-chat", Messages: []openai.ChatCompletionMessageParamUnion{user("Tell me a long story")}, MaxTokens: openai.Int(400),
	})
	n := 0
	for stream.Next() {
		if n++; n == 3 {
			cancel()
		}
	}
	stream.Close()
	if n < 3 {
		t.Fatalf("the stream ended after %d chunks, before the test could cancel", n)
	}
	// The next request waits for the cancelled one to stop; after it the
	// log shows the first stopped early, cancelled.
	if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "synth-chat", Messages: []openai.ChatCompletionMessageParamUnion{user("hi")}, MaxTokens: openai.Int(4),
	}); err != nil {
		t.Fatal(err)
	}
	// Its handler logs after handing the engine on, so wait for the line.
	var first, log string
	for range 500 {
		log = s.log.String()
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "Tell") || strings.Contains(l, "stop=cancelled") {
				first = l
			}
		}
		if first != "" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(first, "stop=cancelled") || !strings.Contains(first, "client went away") {
		t.Fatalf("the cancelled request's log line: %q\n%s", first, log)
	}
	var gen int
	if i := strings.Index(first, "generated="); i >= 0 {
		fmt.Sscanf(first[i:], "generated=%d", &gen)
	}
	if gen >= 400 || gen < 2 {
		t.Fatalf("the cancelled request generated %d tokens of 400", gen)
	}
}

// Twenty clients at once all get complete, correct answers: each the same
// as that prompt's answer alone.
func TestConcurrentClients(t *testing.T) {
	s := start(t, chatModel, 512, nil)
	c := s.client()
	ctx := context.Background()
	prompts := []string{"Once upon a time", "The little dog", "In the park", "She said hello"}
	ask := func(p string) (string, error) {
		r, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "synth-chat", Messages: []openai.ChatCompletionMessageParamUnion{user(p)}, MaxTokens: openai.Int(12),
		})
		if err != nil {
			return "", err
		}
		return r.Choices[0].Message.Content, nil
	}
	want := map[string]string{}
	for _, p := range prompts {
		a, err := ask(p)
		if err != nil {
			t.Fatal(err)
		}
		want[p] = a
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := prompts[i%len(prompts)]
			got, err := ask(p)
			if err == nil && got != want[p] {
				err = fmt.Errorf("client %d (%q): %q, alone %q", i, p, got, want[p])
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// raw sends body to path and decodes the error object.
func raw(t *testing.T, s *server, method, path, body string, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s: not JSON (%v): %s", method, path, err, b)
	}
	return resp.StatusCode, v
}

func errField(v map[string]any, k string) string {
	e, _ := v["error"].(map[string]any)
	s, _ := e[k].(string)
	return s
}

// Every kind of bad request gets its status and an OpenAI error object, and
// the server keeps serving.
func TestBadRequests(t *testing.T) {
	s := start(t, chatModel, 256, func(c *serve.Config) { c.MaxBody = 64 << 10 })
	long := strings.Repeat("once upon a time ", 400)
	cases := []struct {
		name, method, path, body string
		status                   int
		code, param, msg         string
	}{
		{"malformed JSON", "POST", "/v1/chat/completions", `{"messages": [`, 400, "invalid_json", "", "JSON"},
		{"not JSON", "POST", "/v1/chat/completions", `hello`, 400, "invalid_json", "", "not valid JSON"},
		{"empty body", "POST", "/v1/chat/completions", ``, 400, "invalid_json", "", "empty"},
		{"two values", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]} {}`, 400, "invalid_json", "", "more than one"},
		{"wrong type", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}`, 400, "invalid_type", "temperature", "number"},
		{"wrong type deep", "POST", "/v1/chat/completions", `{"messages":[{"role":7,"content":"hi"}]}`, 400, "invalid_type", "messages.role", "string"},
		{"messages not array", "POST", "/v1/chat/completions", `{"messages":"hi"}`, 400, "invalid_type", "messages", "array"},
		{"empty messages", "POST", "/v1/chat/completions", `{"messages":[]}`, 400, "invalid_value", "messages", "empty"},
		{"no messages", "POST", "/v1/chat/completions", `{"model":"synth-chat"}`, 400, "invalid_value", "messages", "empty"},
		{"bad role", "POST", "/v1/chat/completions", `{"messages":[{"role":"wizard","content":"hi"}]}`, 400, "invalid_value", "messages[0].role", "wizard"},
		{"image part", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, 400, "invalid_value", "messages.content.image_url", "data: URLs"},
		{"unknown model", "POST", "/v1/chat/completions", `{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}`, 404, "model_not_found", "model", "gpt-9"},
		{"temperature range", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"temperature":3}`, 400, "invalid_value", "temperature", "between 0 and 2"},
		{"n", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"n":2}`, 400, "invalid_value", "n", "n must be 1"},
		{"max_tokens 0", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, 400, "invalid_value", "max_tokens", "at least 1"},
		{"tools", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}`, 400, "invalid_value", "tools", "not supported"},
		{"json_schema", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema"}}`, 400, "invalid_value", "response_format", "json_schema"},
		{"schema keyword", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"not":{"type":"string"}}}}}`, 400, "invalid_value", "response_format", `"not"`},
		{"format type", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"yaml"}}`, 400, "invalid_value", "response_format", "yaml"},
		{"bad grammar", "POST", "/v1/completions", `{"prompt":"x","grammar":"root ::= root \"a\""}`, 400, "invalid_value", "grammar", "left-recursive"},
		{"two formats", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"},"grammar":"root ::= \"a\""}`, 400, "invalid_value", "grammar", "exclude each other"},
		{"penalty", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"presence_penalty":0.5}`, 400, "invalid_value", "presence_penalty", "repeat_penalty"},
		{"context exceeded", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"` + long + `"}]}`, 400, "context_length_exceeded", "messages", "context"},
		{"old turns are not dropped", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"` + long[:2000] + `"},{"role":"assistant","content":"ok"},{"role":"user","content":"` + long[:2000] + `"}]}`, 400, "context_length_exceeded", "messages", "context"},
		{"raw context exceeded", "POST", "/v1/completions", `{"prompt":"` + long + `"}`, 400, "context_length_exceeded", "prompt", "context"},
		{"prompt missing", "POST", "/v1/completions", `{"max_tokens":3}`, 400, "invalid_value", "prompt", "missing"},
		{"body over the limit", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"` + strings.Repeat("x", 70<<10) + `"}]}`, 413, "request_too_large", "", "larger than"},
		{"wrong method", "GET", "/v1/chat/completions", ``, 405, "method_not_allowed", "", "use POST"},
		{"unknown path", "GET", "/v2/things", ``, 404, "not_found", "", "/v1/chat/completions"},
	}
	for _, c := range cases {
		st, v := raw(t, s, c.method, c.path, c.body)
		if st != c.status || errField(v, "code") != c.code || errField(v, "param") != c.param || !strings.Contains(errField(v, "message"), c.msg) || errField(v, "type") == "" {
			t.Errorf("%s: %d %v; want %d code %q param %q message containing %q", c.name, st, v, c.status, c.code, c.param, c.msg)
		}
	}
	// Still serving, and the models list names the model.
	if st, v := raw(t, s, "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}`); st != 200 {
		t.Fatalf("after the bad requests: %d %v", st, v)
	}
	c := s.client()
	list, err := c.Models.List(context.Background())
	if err != nil || len(list.Data) != 1 || list.Data[0].ID != "synth-chat" {
		t.Fatalf("models: %+v %v", list, err)
	}
	if _, err := c.Models.Get(context.Background(), "nope"); err == nil {
		t.Fatal("GET /v1/models/nope succeeded")
	} else if apiErr := new(openai.Error); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("GET /v1/models/nope: %v", err)
	}
	if st, v := raw(t, s, "GET", "/health", ""); st != 200 || v["status"] != "ok" {
		t.Fatalf("health: %d %v", st, v)
	}
}

// response_format constrains the reply: json_schema and json_object through
// the official client, llama-server's grammar field on /v1/completions.
func TestStructuredOutput(t *testing.T) {
	s := start(t, chatModel, 512, nil)
	c := s.client()
	ctx := context.Background()
	schema := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"mood":  map[string]any{"enum": []any{"happy", "sad"}},
			"count": map[string]any{"type": "integer", "minimum": 1, "maximum": 5},
		},
		"required":             []any{"mood", "count"},
		"additionalProperties": false,
	}
	for seed := range int64(4) {
		resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "synth-chat", Messages: []openai.ChatCompletionMessageParamUnion{user("how are you")},
			Temperature: openai.Float(1), Seed: openai.Int(seed), MaxTokens: openai.Int(80),
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
				JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "mood", Schema: schema, Strict: openai.Bool(true)},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Mood  string
			Count int
		}
		got := resp.Choices[0].Message.Content
		if err := json.Unmarshal([]byte(got), &v); err != nil || (v.Mood != "happy" && v.Mood != "sad") || v.Count < 1 || v.Count > 5 {
			t.Errorf("seed %d: %q (%v)", seed, got, err)
		}
		if resp.Choices[0].FinishReason != "stop" {
			t.Errorf("seed %d: finish_reason %q", seed, resp.Choices[0].FinishReason)
		}
	}
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "synth-chat", Messages: []openai.ChatCompletionMessageParamUnion{user("json please")}, MaxTokens: openai.Int(200),
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if got := resp.Choices[0].Message.Content; resp.Choices[0].FinishReason == "stop" && json.Unmarshal([]byte(got), &obj) != nil {
		t.Errorf("json_object reply %q is not a JSON object", got)
	}
	st, v := raw(t, s, "POST", "/v1/completions", `{"prompt":"Once","grammar":"root ::= (\"yes\" | \"no\") \"!\"","max_tokens":8}`)
	if st != 200 {
		t.Fatalf("grammar completion: %d %v", st, v)
	}
	if text := v["choices"].([]any)[0].(map[string]any)["text"]; text != "yes!" && text != "no!" {
		t.Errorf("grammar completion text %q", text)
	}
}

// With a key, /v1 needs it; /health does not.
func TestAPIKey(t *testing.T) {
	s := start(t, chatModel, 256, func(c *serve.Config) { c.APIKey = "sekrit" })
	body := `{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}`
	if st, v := raw(t, s, "POST", "/v1/chat/completions", body); st != 401 || errField(v, "code") != "invalid_api_key" || !strings.Contains(errField(v, "message"), "missing") {
		t.Errorf("no key: %d %v", st, v)
	}
	if st, v := raw(t, s, "POST", "/v1/chat/completions", body, "Authorization", "Bearer wrong"); st != 401 || !strings.Contains(errField(v, "message"), "incorrect") {
		t.Errorf("wrong key: %d %v", st, v)
	}
	if st, _ := raw(t, s, "POST", "/v1/chat/completions", body, "Authorization", "Bearer sekrit"); st != 200 {
		t.Errorf("right key: %d", st)
	}
	if _, err := s.clientPtr(option.WithAPIKey("sekrit")).Models.List(context.Background()); err != nil {
		t.Errorf("the client with the key: %v", err)
	}
	if st, _ := raw(t, s, "GET", "/health", ""); st != 200 {
		t.Errorf("health with a key set: %d", st)
	}
}

// A reasoning model's thinking arrives as reasoning_content, apart from
// the answer, streamed and whole.
func TestReasoningContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "think.gguf")
	spec := synth.Tiny()
	// The template opens a thought block, so everything the model says
	// until </think> is reasoning; a stop at "</think>"-free output keeps it all there.
	spec.Name, spec.ChatTemplate = "synth-think", synth.ChatML+"{% if add_generation_prompt %}{{ '<think>\\n' }}{% endif %}"
	if err := synth.Write(path, spec); err != nil {
		t.Fatal(err)
	}
	s := start(t, path, 512, nil)
	c := s.client()
	r, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Messages: []openai.ChatCompletionMessageParamUnion{user("hi")}, MaxTokens: openai.Int(8),
	})
	if err != nil {
		t.Fatal(err)
	}
	var msg struct {
		Content   string `json:"content"`
		Reasoning string `json:"reasoning_content"`
	}
	if err := json.Unmarshal([]byte(r.Choices[0].Message.RawJSON()), &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Reasoning == "" || msg.Content != "" {
		t.Fatalf("a reply inside an open <think> block: content %q, reasoning %q", msg.Content, msg.Reasoning)
	}
}

// A real trained model (stories260K, no chat template): raw completions
// stream and whole agree at temperature 0 and tell a story.
func TestStories260K(t *testing.T) {
	path, _ := filepath.Abs(filepath.Join("..", "..", "shared", "models", "stories260K.gguf"))
	if _, err := os.Stat(path); err != nil {
		t.Skipf("DID NOT RUN: %s is absent", path)
	}
	s := start(t, path, 512, func(c *serve.Config) { c.ModelID = "stories260K" })
	c := s.client()
	ctx := context.Background()
	p := openai.CompletionNewParams{Model: "stories260K", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")}, MaxTokens: openai.Int(40)}
	whole, err := c.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	text := whole.Choices[0].Text
	if whole.Usage.CompletionTokens != 40 || len(strings.Fields(text)) < 10 {
		t.Fatalf("%d tokens: %q", whole.Usage.CompletionTokens, text)
	}
	stream := c.Completions.NewStreaming(ctx, p)
	var got strings.Builder
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			got.WriteString(ch.Text)
		}
	}
	if err := stream.Err(); err != nil || got.String() != text {
		t.Fatalf("streamed %q (%v), whole %q", got.String(), err, text)
	}
	// A chat request works too, through the fallback template.
	r, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "stories260K", Messages: []openai.ChatCompletionMessageParamUnion{user("Once upon a time")}, MaxTokens: openai.Int(8),
	})
	if err != nil || r.Usage.PromptTokens < 4 {
		t.Fatalf("chat: %+v %v", r, err)
	}
}

// With Local and Load, a request may name another model of the machine: it
// is loaded in place of the served one; a model that fails to load leaves
// the previous one served.
func TestLoadOnRequest(t *testing.T) {
	dir := t.TempDir()
	second := filepath.Join(dir, "second.gguf")
	spec := synth.Tiny()
	spec.Seed, spec.Name, spec.ChatTemplate = 7, "second", synth.ChatML
	if err := synth.Write(second, spec); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.gguf")
	if err := os.WriteFile(broken, []byte("GGUF but not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{"synth-chat": chatModel, "second": second, "broken": broken}
	var mu sync.Mutex
	var loads []string
	load := func(ctx context.Context, name string) (*serve.Loaded, error) {
		path := paths[name]
		if path == "" {
			path = name // a Source
		}
		mu.Lock()
		loads = append(loads, name)
		mu.Unlock()
		eng, err := engine.Open(engine.Options{ModelPath: path, ContextSize: 256, Threads: 1})
		if err != nil {
			return nil, err
		}
		id := strings.TrimSuffix(filepath.Base(path), ".gguf")
		return &serve.Loaded{Model: eng, ID: id, Source: path, Close: eng.Close}, nil
	}
	s := start(t, chatModel, 256, func(c *serve.Config) {
		c.Local = func() []string { return []string{"synth-chat", "second", "broken"} }
		c.Load = load
		c.ModelSource = chatModel
	})
	c := s.client()
	ctx := context.Background()
	list, err := c.Models.List(ctx)
	if err != nil || len(list.Data) != 3 || list.Data[0].ID != "synth-chat" || list.Data[1].ID != "second" {
		t.Fatalf("models: %+v %v", list.Data, err)
	}
	ask := func(model string) (*openai.ChatCompletion, error) {
		return c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: model, Messages: []openai.ChatCompletionMessageParamUnion{user("Once upon a time")}, MaxTokens: openai.Int(4),
		})
	}
	r, err := ask("second")
	if err != nil || r.Model != "second" {
		t.Fatalf("asking for the second model: %+v %v", r, err)
	}
	if r, err := ask(""); err != nil || r.Model != "second" {
		t.Fatalf("no model named after the switch: %+v %v", r, err)
	}
	_, err = ask("broken")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 500 || !strings.Contains(apiErr.RawJSON(), "model_load_failed") {
		t.Fatalf("a model that cannot load: %v", err)
	}
	// The model served before is back.
	if r, err := ask(""); err != nil || r.Model != "second" {
		t.Fatalf("after the failed switch: %+v %v", r, err)
	}
	if _, err := ask("gpt-9"); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.RawJSON(), "3 local models") {
		t.Fatalf("an unknown model: %v", err)
	}
	if !strings.Contains(s.log.String(), "loading second in place of synth-chat") {
		t.Errorf("log:\n%s", s.log)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(loads, ",") != "second,broken,"+second {
		t.Errorf("loads: %v", loads)
	}
}
