package remote

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"natter/engine/api"
	"natter/prompts"
)

// Options tune a Client; zero values take the defaults.
type Options struct {
	ConnectTimeout time.Duration // dialing and TLS (default 10 s)
	// FirstByteTimeout bounds the wait for the response headers, which a
	// server sends once it has read (and often processed) the prompt
	// (default 5 min: a big prompt on a slow box takes a while). There is
	// no limit while tokens flow.
	FirstByteTimeout time.Duration
	MaxRetries       int // 429 and 503 retries honouring Retry-After (default 3)
	MaxRetryAfter    time.Duration
	// Notify gets one-line notes the user should see (a retry countdown)
	// while Open and Stream wait; Generate sends them as EventNotice.
	Notify func(string)
	// HTTPClient replaces the transport (tests); its timeouts then apply.
	HTTPClient *http.Client
}

// Client talks to one endpoint. It is safe for one generation at a time.
type Client struct {
	ep     Endpoint
	key    string
	opts   Options
	oc     openai.Client
	info   api.ModelInfo
	models []ServerModel

	mu       sync.Mutex
	thinking *bool // nil: the server's template decides
}

// SetThinking asks the server's chat template to think or not, with
// chat_template_kwargs.enable_thinking (llama-server, vLLM and SGLang read
// it; servers that do not, ignore it). nil leaves it to the template.
func (c *Client) SetThinking(on *bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.thinking = on
}

// Thinking is what SetThinking set.
func (c *Client) Thinking() *bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.thinking
}

// ServerModel is one entry of the server's /v1/models.
type ServerModel struct {
	ID         string
	ContextLen int // 0 when the server does not say
}

// Open connects to the endpoint: it reads the key, lists the server's
// models (so a wrong host, key or model fails now, clearly) and learns the
// context size when the server reports one.
func Open(ctx context.Context, ep Endpoint, opts Options) (*Client, error) {
	key, err := ep.Key()
	if err != nil {
		return nil, err
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.FirstByteTimeout <= 0 {
		opts.FirstByteTimeout = 5 * time.Minute
	}
	if opts.MaxRetries <= 0 {
		opts.MaxRetries = 3
	}
	if opts.MaxRetryAfter <= 0 {
		opts.MaxRetryAfter = 2 * time.Minute
	}
	hc := opts.HTTPClient
	if hc == nil {
		dialer := &net.Dialer{Timeout: opts.ConnectTimeout, KeepAlive: 30 * time.Second}
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   opts.ConnectTimeout,
			ResponseHeaderTimeout: opts.FirstByteTimeout,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		}}
	}
	reqOpts := []option.RequestOption{
		option.WithBaseURL(ep.BaseURL + "/"),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0), // natter retries itself, visibly
		// openai-go adds OPENAI_ORG_ID and OPENAI_PROJECT_ID from the
		// environment: they are OpenAI's, not this server's business.
		option.WithHeaderDel("OpenAI-Organization"), option.WithHeaderDel("OpenAI-Project"),
	}
	if key != "" {
		reqOpts = append(reqOpts, option.WithAPIKey(key))
	} else {
		// openai-go would read OPENAI_API_KEY from the environment and send
		// a real OpenAI key to whatever server this is: send none.
		reqOpts = append(reqOpts, option.WithAPIKey(""), option.WithHeaderDel("Authorization"))
	}
	c := &Client{ep: ep, key: key, opts: opts, oc: openai.NewClient(reqOpts...)}
	models, err := c.listModels(ctx)
	if err != nil {
		return nil, err
	}
	c.models = models
	c.info = api.ModelInfo{Path: ep.BaseURL, Name: ep.ID(), Arch: "remote", Backend: "remote " + ep.Host(), Description: ep.Model + " on " + ep.Host()}
	if ep.Model != "" {
		found := false
		var ids []string
		for _, m := range models {
			ids = append(ids, m.ID)
			if m.ID == ep.Model {
				found = true
				c.info.ContextSize, c.info.TrainCtx = m.ContextLen, m.ContextLen
			}
		}
		// A server with one model (llama-server lists it by its file path)
		// usually answers to any name, and one that does not says 404 at
		// the first request, which names what it has; a list of several
		// that lacks the name is a mistake to stop at now.
		if !found && len(models) == 1 {
			c.info.ContextSize, c.info.TrainCtx = models[0].ContextLen, models[0].ContextLen
		}
		if !found && len(ids) > 1 {
			return nil, fmt.Errorf("%s has no model %q; it has: %s", ep.Host(), ep.Model, strings.Join(ids, ", "))
		}
	}
	return c, nil
}

// Models are the server's /v1/models, as Open read them.
func (c *Client) Models() []ServerModel { return c.models }

// ListModels lists an endpoint's models (natter models --endpoint).
func ListModels(ctx context.Context, ep Endpoint, opts Options) ([]ServerModel, error) {
	c, err := Open(ctx, ep, opts)
	if err != nil {
		return nil, err
	}
	return c.models, nil
}

func (c *Client) listModels(ctx context.Context) ([]ServerModel, error) {
	// Read as bytes: some servers label their JSON text/plain.
	var body []byte
	if err := c.retry(ctx, func() error {
		return c.oc.Get(ctx, "models", nil, &body)
	}); err != nil {
		return nil, c.explain(err)
	}
	var raw struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%s/models is not an OpenAI model list (is %s an OpenAI-compatible server?): %v", c.ep.BaseURL, c.ep.Host(), err)
	}
	var out []ServerModel
	for _, m := range raw.Data {
		id, _ := m["id"].(string)
		out = append(out, ServerModel{ID: id, ContextLen: contextLen(m)})
	}
	return out, nil
}

// contextLen finds the context size the common servers report in a
// /v1/models entry: vLLM max_model_len, llama-server meta.n_ctx_train,
// natter serve and LM Studio context_length.
func contextLen(m map[string]any) int {
	num := func(v any) int {
		if f, ok := v.(float64); ok && f > 0 && f < 1<<31 {
			return int(f)
		}
		return 0
	}
	for _, k := range []string{"max_model_len", "context_length", "max_context_length"} {
		if n := num(m[k]); n > 0 {
			return n
		}
	}
	if meta, ok := m["meta"].(map[string]any); ok {
		for _, k := range []string{"n_ctx", "n_ctx_train"} {
			if n := num(meta[k]); n > 0 {
				return n
			}
		}
	}
	return 0
}

// Info implements api.Generator.
func (c *Client) Info() api.ModelInfo { return c.info }

// Endpoint is what the client talks to.
func (c *Client) Endpoint() Endpoint { return c.ep }

// ErrServerTokenizes is returned where natter would need the server's tokenizer.
var ErrServerTokenizes = errors.New("the server tokenizes; natter cannot count tokens for it")

// CountTokens implements api.Generator; a remote model's tokenizer is the
// server's.
func (c *Client) CountTokens(string, bool) (int, error) { return 0, ErrServerTokenizes }

// RenderPrompt implements api.Generator: the server applies its own chat
// template, so what natter can show is the messages it sends.
func (c *Client) RenderPrompt(req api.Request) (string, string, error) {
	if req.Raw {
		return req.Prompt, "raw", nil
	}
	b, err := json.MarshalIndent(wireMessages(req.Messages), "", "  ")
	if err != nil {
		return "", "", err
	}
	return string(b), "server (" + c.ep.Host() + " applies its chat template; these are the messages sent)", nil
}

type wireMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func wireMessages(msgs []prompts.Message) []wireMessage {
	out := make([]wireMessage, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, wireMessage{Role: m.Role, Content: m.Content})
	}
	return out
}

// Close implements a backend's Close (nothing to free).
func (c *Client) Close() error { return nil }

// retry runs call, retrying 429 and 503 answers after the server's
// Retry-After (bounded), saying so through Notify.
func (c *Client) retry(ctx context.Context, call func() error) error {
	return c.retryNotify(ctx, call, c.opts.Notify)
}

// retryNotify is retry with notes going to notify instead.
func (c *Client) retryNotify(ctx context.Context, call func() error, notify func(string)) error {
	for attempt := 0; ; attempt++ {
		err := call()
		var apiErr *openai.Error
		if err == nil || !errors.As(err, &apiErr) || attempt >= c.opts.MaxRetries {
			return err
		}
		if apiErr.StatusCode != http.StatusTooManyRequests && apiErr.StatusCode != http.StatusServiceUnavailable {
			return err
		}
		wait := retryAfter(apiErr.Response, attempt)
		if wait > c.opts.MaxRetryAfter {
			return err
		}
		if err := c.countdown(ctx, apiErr.StatusCode, wait, attempt+1, notify); err != nil {
			return err
		}
	}
}

// countdown waits, telling the user each second (or each 10 for long waits).
func (c *Client) countdown(ctx context.Context, status int, wait time.Duration, attempt int, notify func(string)) error {
	what := "busy"
	if status == http.StatusTooManyRequests {
		what = "rate-limited"
	}
	end := time.Now().Add(wait)
	for left := wait; left > 0; left = time.Until(end) {
		if notify != nil {
			notify(fmt.Sprintf("%s is %s (HTTP %d): retry %d of %d in %ds", c.ep.Host(), what, status, attempt, c.opts.MaxRetries, int(left.Round(time.Second)/time.Second)))
		}
		step := min(left, time.Second)
		if left > 20*time.Second {
			step = min(left, 10*time.Second)
		}
		t := time.NewTimer(step)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// retryAfter reads Retry-After (seconds or an HTTP date); without one it
// backs off 1, 2, 4 s.
func retryAfter(resp *http.Response, attempt int) time.Duration {
	if resp != nil {
		v := resp.Header.Get("Retry-After")
		if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(time.Until(t), 0)
		}
	}
	return time.Duration(1<<attempt) * time.Second
}

// explain turns transport and HTTP errors into one clear sentence. It
// never includes the key.
func (c *Client) explain(err error) error {
	if err == nil {
		return nil
	}
	host := c.ep.Host()
	var apiErr *openai.Error
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var opErr *net.OpError
	msg := ""
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &apiErr):
		detail := serverMessage(apiErr)
		switch apiErr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			env := c.ep.KeyEnv
			how := "set $" + env + " to a valid key"
			if c.ep.KeyFile != "" {
				how = "put a valid key in " + c.ep.KeyFile
			} else if env == "" {
				how = "give the endpoint an api_key_env in the config file"
			}
			msg = fmt.Sprintf("%s refused the request (HTTP %d%s): %s", host, apiErr.StatusCode, detail, how)
		case http.StatusNotFound:
			msg = fmt.Sprintf("%s answered 404%s", host, detail)
			if ids := c.modelIDs(); len(ids) > 0 {
				msg += fmt.Sprintf(" (model %q?) it has: %s", c.ep.Model, strings.Join(ids, ", "))
			} else {
				msg += " (is the URL's path right? natter adds /v1)"
			}
		case http.StatusTooManyRequests:
			msg = fmt.Sprintf("%s is rate-limiting (HTTP 429%s); try again later", host, detail)
		default:
			if apiErr.StatusCode >= 500 {
				msg = fmt.Sprintf("%s failed (HTTP %d%s)", host, apiErr.StatusCode, detail)
			} else {
				msg = fmt.Sprintf("%s rejected the request (HTTP %d%s)", host, apiErr.StatusCode, detail)
			}
		}
	case errors.As(err, &dnsErr):
		msg = fmt.Sprintf("cannot find %s: %s (check the host name, or the network)", host, dnsErr.Err)
	case errors.As(err, &certErr):
		msg = fmt.Sprintf("TLS: %s's certificate is not trusted: %v", host, certErr.Err)
	case errors.As(err, &recErr) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		msg = fmt.Sprintf("TLS: %s does not speak TLS here (an http:// server? give its url as http:// in the config)", host)
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = fmt.Sprintf("cannot connect to %s: connection refused (is the server running?)", host)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		msg = fmt.Sprintf("%s did not answer in time (%v)", host, rootCause(err))
	case errors.As(err, &opErr):
		msg = fmt.Sprintf("cannot reach %s: %v", host, rootCause(err))
	default:
		msg = fmt.Sprintf("talking to %s: %v", host, rootCause(err))
	}
	return errors.New(c.scrub(msg))
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// rootCause is the innermost error's text, without the request URL the
// HTTP client puts around it.
func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// serverMessage is the error object's message, if the server sent one.
func serverMessage(e *openai.Error) string {
	m := strings.TrimSpace(e.Message)
	if m == "" {
		var v struct {
			Error   any    `json:"error"`
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(e.RawJSON()), &v) == nil {
			if s, ok := v.Error.(string); ok {
				m = s
			} else if v.Message != "" {
				m = v.Message
			}
		}
	}
	if m == "" {
		return ""
	}
	if len(m) > 300 {
		m = m[:300] + "…"
	}
	return ": " + m
}

func (c *Client) modelIDs() []string {
	var ids []string
	for _, m := range c.models {
		ids = append(ids, m.ID)
	}
	return ids
}

// scrub removes the key from text, should a server echo it back.
func (c *Client) scrub(s string) string {
	if len(c.key) >= 4 {
		s = strings.ReplaceAll(s, c.key, "[key]")
	}
	return s
}

var _ io.Closer = (*Client)(nil)
