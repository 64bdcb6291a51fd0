package remote_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"natter/engine"
	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/prompts"
	"natter/prompts/grammar"
	"natter/remote"
	"natter/serve"
)

var chatModel string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "natter-remote-test")
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

// events collects a generation.
type events struct {
	text    string
	stats   *api.Stats
	err     error
	n       int
	notices []string
}

func collect(t *testing.T, g api.Generator, req api.Request) events {
	t.Helper()
	ch, err := g.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var e events
	for ev := range ch {
		switch ev.Kind {
		case api.EventText:
			e.text += ev.Text
			e.n++
		case api.EventDone:
			e.stats = ev.Stats
		case api.EventError:
			e.err = ev.Err
		case api.EventNotice:
			e.notices = append(e.notices, ev.Text)
		}
	}
	return e
}

func greedy() api.Sampling {
	s := api.DefaultSampling()
	s.Temperature, s.Seed = 0, 1
	return s
}

// The remote backend against natter serve gives exactly the local engine's
// greedy text, chat and raw, with the server's token counts.
func TestAgainstNatterServe(t *testing.T) {
	eng, err := engine.Open(engine.Options{ModelPath: chatModel, ContextSize: 512, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	info := eng.Info()
	chain, err := prompts.BuildChain(prompts.ChainConfig{ModelTemplate: info.ChatTemplate, ModelName: "m",
		Options: prompts.JinjaOptions{BOS: info.BOS, EOS: info.EOS}, Builtin: eng.BuiltinTemplate()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve.NewHTTPServer(serve.New(serve.Config{Model: eng, ModelID: "synth-chat", Template: chain, Sampling: greedy()}).Handler(), nil)
	go srv.Serve(ln)
	defer srv.Close()

	ep, ok, err := remote.Resolve("openai://"+ln.Addr().String()+"/synth-chat", nil, false)
	if !ok || err != nil || ep.BaseURL != "http://"+ln.Addr().String()+"/v1" {
		t.Fatalf("resolve: %+v %v %v", ep, ok, err)
	}
	c, err := remote.Open(context.Background(), ep, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []prompts.Message{{Role: prompts.RoleSystem, Content: "You are a test."}, {Role: prompts.RoleUser, Content: "Once upon a time there was"}}
	// Structured output crosses the wire: the schema as response_format,
	// a bare grammar as the grammar field; the server's constrained greedy
	// reply is the local one.
	schema, err := grammar.SchemaFormat(`{"type":"object","properties":{"w":{"enum":["a","b"]},"n":{"type":"integer","minimum":0,"maximum":9}},"required":["w","n"],"additionalProperties":false}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []api.Request{
		{Messages: msgs, Template: chain, Sampling: greedy(), MaxTokens: 24},
		{Raw: true, Prompt: "Once upon a time", Sampling: greedy(), MaxTokens: 24},
		{Messages: msgs, Template: chain, Sampling: greedy(), MaxTokens: 60, Grammar: schema.GBNF, JSONSchema: schema.Schema},
		{Raw: true, Prompt: "Once", Sampling: greedy(), MaxTokens: 24, Grammar: `root ::= [a-z ]{3,20} "."`},
	} {
		local := collect(t, eng, req)
		if local.err != nil || local.text == "" {
			t.Fatalf("local: %+v", local)
		}
		got := collect(t, c, req)
		if got.err != nil {
			t.Fatal(got.err)
		}
		if got.text != local.text {
			t.Fatalf("raw=%v: remote %q, local %q", req.Raw, got.text, local.text)
		}
		if req.JSONSchema != nil {
			if err := schema.Check(got.text); err != nil {
				t.Fatalf("the schema reply %q: %v", got.text, err)
			}
		}
		if got.stats.PromptTokens != local.stats.PromptTokens || got.stats.GeneratedTokens != local.stats.GeneratedTokens || got.stats.StopReason != local.stats.StopReason {
			t.Fatalf("raw=%v: remote stats %+v, local %+v", req.Raw, got.stats, local.stats)
		}
		if got.stats.TTFT <= 0 || got.n < 2 {
			t.Fatalf("not streamed: %d pieces, ttft %v", got.n, got.stats.TTFT)
		}
	}
	if c.Info().Backend != "remote "+ln.Addr().String() || c.Info().ContextSize != eng.Info().ContextSize {
		t.Errorf("backend %q, context %d (the server's is %d)", c.Info().Backend, c.Info().ContextSize, eng.Info().ContextSize)
	}
	// The server's own model list, for natter models --endpoint.
	list, err := remote.ListModels(context.Background(), remote.Endpoint{BaseURL: ep.BaseURL}, remote.Options{})
	if err != nil || len(list) != 1 || list[0].ID != "synth-chat" {
		t.Fatalf("models: %+v %v", list, err)
	}
	// A one-model server may answer to any name (llama-server does), so
	// Open lets it be; natter serve answers 404, which names what it has.
	ep.Model = "nope"
	c2, err := remote.Open(context.Background(), ep, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := collect(t, c2, userReq()); got.err == nil || !strings.Contains(got.err.Error(), "answered 404") || !strings.Contains(got.err.Error(), `(model "nope"?) it has: synth-chat`) {
		t.Fatalf("unknown model: %v", got.err)
	}
}

// A server listing several models, none of them the one asked for, is
// refused at Open with the list.
func TestOpenRefusesAModelTheServerLacks(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/models", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"data":[{"id":"a"},{"id":"b"}]}`)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	_, err = remote.Open(context.Background(), remote.Endpoint{BaseURL: "http://" + ln.Addr().String() + "/v1", Model: "c"}, remote.Options{})
	if err == nil || !strings.Contains(err.Error(), `no model "c"; it has: a, b`) {
		t.Fatalf("%v", err)
	}
}

// fake is a loopback server whose chat endpoint the test scripts.
func fake(t *testing.T, chat http.HandlerFunc) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/models", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"object":"list","data":[{"id":"m","object":"model","max_model_len":4096}]}`)
	})
	mux.HandleFunc("/v1/chat/completions", chat)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/v1"
}

func sse(w http.ResponseWriter, lines ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, l := range lines {
		io.WriteString(w, l)
		w.(http.Flusher).Flush()
	}
}

const (
	chunkHi   = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
	chunkStop = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
	done      = "data: [DONE]\n\n"
)

func userReq() api.Request {
	return api.Request{Messages: []prompts.Message{{Role: "user", Content: "hi"}}, Sampling: greedy()}
}

// Every fault gets its own clear message; text that arrived is kept; no
// goroutine is left behind; the key never shows.
func TestFaults(t *testing.T) {
	const key = "sk-natter-test-key-123456"
	t.Setenv("NATTER_TEST_KEY", key)
	before := runtime.NumGoroutine()
	var retries sync.Map
	cases := []struct {
		name    string
		handler http.HandlerFunc
		opts    remote.Options
		want    string // in the error
		text    string // text kept
		ok      bool
	}{
		{"401", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":{"message":"bad key `+r.Header.Get("Authorization")+`","type":"auth"}}`)
		}, remote.Options{}, "refused the request (HTTP 401: bad key Bearer [key]): set $NATTER_TEST_KEY to a valid key", "", false},
		{"500", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			io.WriteString(w, `{"error":{"message":"CUDA out of memory","type":"server_error"}}`)
		}, remote.Options{}, "failed (HTTP 500: CUDA out of memory)", "", false},
		{"429 then fine", func(w http.ResponseWriter, r *http.Request) {
			if _, again := retries.LoadOrStore("429", true); !again {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(429)
				io.WriteString(w, `{"error":{"message":"slow down"}}`)
				return
			}
			sse(w, chunkHi, chunkStop, done)
		}, remote.Options{}, "", "Hi", true},
		{"429 for ever", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
		}, remote.Options{MaxRetries: 2}, "is rate-limiting (HTTP 429)", "", false},
		{"cut mid-reply", func(w http.ResponseWriter, r *http.Request) {
			sse(w, chunkHi, chunkHi)
			// The handler returns: the body ends without a finish or [DONE].
		}, remote.Options{}, "ended the stream before the reply was complete (4 characters kept)", "HiHi", false},
		{"connection dropped mid-reply", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100000")
			sse(w, chunkHi)
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}, remote.Options{}, "broke off after 2 characters", "Hi", false},
		{"stalled first byte", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}, remote.Options{FirstByteTimeout: 300 * time.Millisecond}, "did not answer in time", "", false},
		{"malformed SSE", func(w http.ResponseWriter, r *http.Request) {
			sse(w, chunkHi, "data: {not json\n\n")
		}, remote.Options{}, "broke off after 2 characters", "Hi", false},
		{"100 MB line", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: ")
			block := strings.Repeat("x", 1<<20)
			for range 100 {
				if _, err := io.WriteString(w, block); err != nil {
					return
				}
			}
		}, remote.Options{}, "token too long", "", false},
		{"keep-alives and CRLF", func(w http.ResponseWriter, r *http.Request) {
			sse(w, ": ping\r\n\r\n", strings.ReplaceAll(chunkHi, "\n", "\r\n"), ": ping\n\n", chunkStop, done)
		}, remote.Options{}, "", "Hi", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := fake(t, c.handler)
			cl, err := remote.Open(context.Background(), remote.Endpoint{Name: "box", BaseURL: base, Model: "m", KeyEnv: "NATTER_TEST_KEY"}, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if cl.Info().ContextSize != 4096 {
				t.Errorf("context %d, the server said 4096", cl.Info().ContextSize)
			}
			got := collect(t, cl, userReq())
			if c.ok != (got.err == nil) || (got.err != nil && !strings.Contains(got.err.Error(), c.want)) {
				t.Fatalf("error %v; want %q", got.err, c.want)
			}
			if got.text != c.text {
				t.Fatalf("text %q, want %q", got.text, c.text)
			}
			if got.err != nil && strings.Contains(got.err.Error(), key) {
				t.Fatalf("the key is in the error: %v", got.err)
			}
			if c.name == "429 then fine" && (len(got.notices) == 0 || !strings.Contains(got.notices[0], "rate-limited (HTTP 429): retry 1 of 3 in 1s")) {
				t.Fatalf("no countdown in the stream: %q", got.notices)
			}
		})
	}
	// No goroutine outlives its generation (the servers are closed by now
	// only at cleanup, so allow for theirs to wind down).
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// Cancelling stops the stream at once and keeps the text so far.
func TestCancelKeepsPartialText(t *testing.T) {
	release := make(chan struct{})
	base := fake(t, func(w http.ResponseWriter, r *http.Request) {
		sse(w, chunkHi)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	cl, err := remote.Open(context.Background(), remote.Endpoint{BaseURL: base, Model: "m"}, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := cl.Generate(ctx, userReq())
	if err != nil {
		t.Fatal(err)
	}
	var text string
	var stats *api.Stats
	for ev := range ch {
		if ev.Kind == api.EventText {
			text += ev.Text
			cancel()
		}
		if ev.Kind == api.EventDone {
			stats = ev.Stats
		}
		if ev.Kind == api.EventError {
			t.Fatalf("cancel gave an error: %v", ev.Err)
		}
	}
	if text != "Hi" || stats == nil || stats.StopReason != api.StopCancelled {
		t.Fatalf("text %q stats %+v", text, stats)
	}
}

// Connection refused and DNS failures are named as such.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = remote.Open(context.Background(), remote.Endpoint{BaseURL: "http://" + addr + "/v1", Model: "m"}, remote.Options{})
	if err == nil || !strings.Contains(err.Error(), "connection refused (is the server running?)") {
		t.Fatalf("refused: %v", err)
	}
	_, err = remote.Open(context.Background(), remote.Endpoint{BaseURL: "http://no-such-host.invalid:1/v1", Model: "m"}, remote.Options{})
	if err == nil || !strings.Contains(err.Error(), "cannot find no-such-host.invalid:1") {
		t.Fatalf("dns: %v", err)
	}
}

func TestResolve(t *testing.T) {
	named := []remote.Named{{Name: "gpu", URL: "https://gpu.example:8000/v1/", Model: "qwen3.5-27b", KeyEnv: "GPU_KEY"}, {Name: "lan", URL: "http://10.0.0.5:8080/v1"}}
	for _, c := range []struct {
		arg, url, model, err string
		ok                   bool
	}{
		{"openai://127.0.0.1:8080/qwen", "http://127.0.0.1:8080/v1", "qwen", "", true},
		{"openai://localhost:8080/Qwen/Qwen3.5-27B", "http://localhost:8080/v1", "Qwen/Qwen3.5-27B", "", true},
		{"openai://gpu.example:8000/m", "https://gpu.example:8000/v1", "m", "", true},
		{"openai://gpu.example/m", "", "", "port is missing", true},
		{"openai://127.0.0.1:8080", "", "", "no model after the host", true},
		{"gpu", "https://gpu.example:8000/v1", "qwen3.5-27b", "", true},
		{"gpu:other", "https://gpu.example:8000/v1", "other", "", true},
		{"lan:m", "", "", "plain http to 10.0.0.5:8080", true},
		{"lan", "", "", "names no model", true},
		{"qwen3:4b", "", "", "", false}, // an Ollama-style local name
		{"model.gguf", "", "", "", false},
	} {
		ep, ok, err := remote.Resolve(c.arg, named, false)
		if ok != c.ok || (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) || (err == nil && ok && (ep.BaseURL != c.url || ep.Model != c.model)) {
			t.Errorf("%s: %+v %v %v", c.arg, ep, ok, err)
		}
	}
	if ep, _, err := remote.Resolve("lan:m", named, true); err != nil || ep.BaseURL != "http://10.0.0.5:8080/v1" {
		t.Errorf("--insecure: %+v %v", ep, err)
	}
	if ep, _, _ := remote.Resolve("gpu", named, false); ep.ID() != "gpu:qwen3.5-27b" {
		t.Errorf("id %q", ep.ID())
	}
}

func TestKeySources(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	os.WriteFile(good, []byte("sk-file\n"), 0o600)
	open := filepath.Join(dir, "open.key")
	os.WriteFile(open, []byte("sk-open\n"), 0o644)
	os.Chmod(open, 0o644)
	if k, err := (remote.Endpoint{Name: "a", KeyFile: good}).Key(); err != nil || k != "sk-file" {
		t.Errorf("key file: %q %v", k, err)
	}
	if _, err := (remote.Endpoint{Name: "a", KeyFile: open}).Key(); !errors.Is(err, remote.ErrKeyFileMode) {
		t.Errorf("a key file others can read: %v", err)
	}
	t.Setenv("NATTER_TEST_EMPTY", "")
	if _, err := (remote.Endpoint{Name: "a", KeyEnv: "NATTER_TEST_EMPTY"}).Key(); err == nil || !strings.Contains(err.Error(), "$NATTER_TEST_EMPTY") {
		t.Errorf("empty variable: %v", err)
	}
	// openai:// URLs need no key (local servers) unless NATTER_API_KEY has one.
	t.Setenv("NATTER_API_KEY", "")
	if k, err := (remote.Endpoint{KeyEnv: remote.DefaultKeyEnv}).Key(); err != nil || k != "" {
		t.Errorf("no key for a URL: %q %v", k, err)
	}
}

// A server whose certificate is not trusted, and a plain-http server
// reached as https, each get their own sentence.
func TestTLSErrors(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"data":[{"id":"m"}]}`)
	}))
	defer ts.Close()
	_, err := remote.Open(context.Background(), remote.Endpoint{BaseURL: ts.URL + "/v1", Model: "m"}, remote.Options{})
	if err == nil || !strings.Contains(err.Error(), "TLS: "+strings.TrimPrefix(ts.URL, "https://")+"'s certificate is not trusted") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	plain := fake(t, func(http.ResponseWriter, *http.Request) {})
	_, err = remote.Open(context.Background(), remote.Endpoint{BaseURL: strings.Replace(plain, "http://", "https://", 1), Model: "m"}, remote.Options{})
	if err == nil || !strings.Contains(err.Error(), "does not speak TLS here") {
		t.Fatalf("https to a plain server: %v", err)
	}
}

// --think and /think reach the server's template as
// chat_template_kwargs.enable_thinking; by default nothing is sent.
func TestThinkingGoesToTheTemplate(t *testing.T) {
	bodies := make(chan string, 4)
	base := fake(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- string(b)
		sse(w, chunkHi, chunkStop, done)
	})
	c, err := remote.Open(context.Background(), remote.Endpoint{BaseURL: base, Model: "m"}, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	collect(t, c, userReq())
	if b := <-bodies; strings.Contains(b, "chat_template_kwargs") {
		t.Errorf("sent without being asked: %s", b)
	}
	off := false
	c.SetThinking(&off)
	collect(t, c, userReq())
	if b := <-bodies; !strings.Contains(b, `"chat_template_kwargs":{"enable_thinking":false}`) {
		t.Errorf("--think off not sent: %s", b)
	}
	// --json is json_object mode (servers strict about json_schema take it).
	j := grammar.JSONFormat()
	req := userReq()
	req.Grammar, req.JSONSchema = j.GBNF, j.Schema
	collect(t, c, req)
	if b := <-bodies; !strings.Contains(b, `"response_format":{"type":"json_object"}`) || strings.Contains(b, `"grammar"`) {
		t.Errorf("--json sent as: %s", b)
	}
	// Sampling goes along as the servers' extra fields.
	collect(t, c, userReq())
	if b := <-bodies; !strings.Contains(b, `"top_k":40`) || !strings.Contains(b, `"min_p":0.05`) || !strings.Contains(b, `"temperature":0`) {
		t.Errorf("sampling fields: %s", b)
	}
}
