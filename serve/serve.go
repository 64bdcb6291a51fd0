// Package serve puts a loaded model behind the OpenAI HTTP API
// (/v1/chat/completions, /v1/completions, /v1/models, /health), for
// editors and scripts that speak it.
//
// It knows the engine only through engine/api (so it compiles no cgo) and
// imports prompts for messages, templates and the reasoning splitter. One
// engine runs one generation at a time: requests wait in a first-come,
// first-served queue, and a client that goes away cancels its place or its
// generation at once. Follow-up requests that repeat a conversation reuse
// the engine's KV cache, reported as usage.prompt_tokens_details.cached_tokens.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"natter/engine/api"
	"natter/prompts"
)

// Defaults for Config's limits.
const (
	DefaultMaxBody  = 8 << 20 // request bodies above this get 413
	DefaultMaxQueue = 64      // requests waiting beyond this get 503
)

// Config is what a Server serves and how.
type Config struct {
	Model api.Generator
	// ModelID is the id clients name and /v1/models lists; Aliases are
	// other names accepted for it (the file name, the -m argument).
	ModelID string
	Aliases []string
	// Template formats chat messages; nil means the model's own.
	Template prompts.ChatTemplate
	// System is put first in conversations that bring no system message
	// (--system, --prompt PERSONA).
	System string
	// Sampling holds the defaults for what a request leaves out.
	Sampling api.Sampling
	// MaxTokens is the default reply limit when a request sets none
	// (<= 0: until the model stops or the context fills).
	MaxTokens int
	// ReasoningBudget caps thinking tokens (0: no cap), as --reasoning-budget.
	ReasoningBudget int
	// APIKey, when set, is required as "Authorization: Bearer KEY" on /v1.
	APIKey   string
	MaxBody  int64 // 0: DefaultMaxBody
	MaxQueue int   // 0: DefaultMaxQueue
	// CloseModel frees Model when a request loads another in its place
	// (Load); ModelSource is what Load takes to load it back.
	CloseModel  func() error
	ModelSource string
	// Local lists other models of this machine a request may name;
	// Load loads one (a name from Local, or a ModelSource). Both nil: only
	// Model is served.
	Local func() []string
	Load  func(ctx context.Context, name string) (*Loaded, error)
	// Log gets one line per request; nil discards.
	Log io.Writer
	// Save, when set, is called with each finished chat exchange (the
	// request's messages and the reply) — `natter serve --save`.
	Save func(Exchange)
}

// Exchange is one answered chat request, for Config.Save.
type Exchange struct {
	Messages []prompts.Message
	Reply    prompts.Message
	Stats    *api.Stats
}

// Server answers OpenAI-style requests with one model.
type Server struct {
	cfg     Config
	created int64
	queue   fifo
	models  models
	logMu   sync.Mutex
	mux     *http.ServeMux
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	s := &Server{cfg: cfg, created: time.Now().Unix()}
	s.queue.max = cfg.MaxQueue
	if cfg.Model != nil {
		s.models.cur = &Loaded{Model: cfg.Model, ID: cfg.ModelID, Aliases: cfg.Aliases, Template: cfg.Template,
			Source: cfg.ModelSource, Close: cfg.CloseModel}
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/v1/chat/completions", s.post(s.chat))
	s.mux.HandleFunc("/v1/completions", s.post(s.completion))
	s.mux.HandleFunc("/v1/models", s.get(s.listModels))
	s.mux.HandleFunc("/v1/models/{id...}", s.get(s.model))
	s.mux.HandleFunc("/health", s.health)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, &apiError{status: http.StatusNotFound, typ: typeInvalid, code: "not_found",
			msg: fmt.Sprintf("no such endpoint: %s %s (natter serves /v1/chat/completions, /v1/completions, /v1/models and /health)", r.Method, r.URL.Path)})
	})
	return s
}

// Handler is the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.mux }

// NewHTTPServer wraps h with natter's timeouts: slow headers and idle
// connections are cut; replies may stream as long as they need.
func NewHTTPServer(h http.Handler, base func(net.Listener) context.Context) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second, // the whole request, body included
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       base,
	}
}

// IsLoopback reports whether addr (host:port) only listens on this machine.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Error types of OpenAI's error objects.
const (
	typeInvalid = "invalid_request_error"
	typeAuth    = "authentication_error"
	typeServer  = "server_error"
)

// apiError is an OpenAI-style error: {"error":{"message","type","param","code"}}.
type apiError struct {
	status int
	typ    string
	code   string
	param  string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func invalid(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typeInvalid, param: param, code: "invalid_value", msg: fmt.Sprintf(format, args...)}
}

func (e *apiError) body() map[string]any {
	var param, code any
	if e.param != "" {
		param = e.param
	}
	if e.code != "" {
		code = e.code
	}
	return map[string]any{"error": map[string]any{"message": e.msg, "type": e.typ, "param": param, "code": code}}
}

// reqLog collects what a request's log line says.
type reqLog struct {
	model  string
	stats  *api.Stats
	status int
	note   string
	queued time.Duration
}

func (s *Server) logLine(r *http.Request, start time.Time, l *reqLog) {
	if s.cfg.Log == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", start.Format("2006-01-02T15:04:05.000"), r.Method, r.URL.Path)
	if l.model != "" {
		fmt.Fprintf(&b, " model=%s", l.model)
	}
	if st := l.stats; st != nil {
		fmt.Fprintf(&b, " prompt=%d cached=%d generated=%d ttft=%s %.1f tok/s", st.PromptTokens, st.CachedTokens, st.GeneratedTokens,
			st.TTFT.Round(time.Millisecond/10), st.DecodeTPS)
		if st.StopReason != "" {
			fmt.Fprintf(&b, " stop=%s", st.StopReason)
		}
	}
	if l.queued >= time.Millisecond {
		fmt.Fprintf(&b, " queued=%s", l.queued.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, " status=%d time=%s", l.status, time.Since(start).Round(time.Millisecond/10))
	if l.note != "" {
		fmt.Fprintf(&b, " (%s)", l.note)
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintln(s.cfg.Log, b.String())
}

type handler func(w http.ResponseWriter, r *http.Request, l *reqLog) *apiError

// wrap authenticates, checks the method, logs, and writes errors.
func (s *Server) wrap(method string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		l := &reqLog{status: http.StatusOK}
		rw := &statusWriter{ResponseWriter: w}
		defer func() {
			if rw.status != 0 {
				l.status = rw.status
			}
			s.logLine(r, start, l)
		}()
		if err := s.authorize(r); err != nil {
			l.note = err.msg
			s.fail(rw, r, err)
			return
		}
		if r.Method != method {
			rw.Header().Set("Allow", method)
			err := &apiError{status: http.StatusMethodNotAllowed, typ: typeInvalid, code: "method_not_allowed",
				msg: fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, method)}
			l.note = err.msg
			s.fail(rw, r, err)
			return
		}
		if err := h(rw, r, l); err != nil {
			l.note = err.msg
			s.fail(rw, r, err)
		}
	}
}

func (s *Server) post(h handler) http.HandlerFunc { return s.wrap(http.MethodPost, h) }
func (s *Server) get(h handler) http.HandlerFunc  { return s.wrap(http.MethodGet, h) }

func (s *Server) authorize(r *http.Request) *apiError {
	if s.cfg.APIKey == "" {
		return nil
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.cfg.APIKey)) == 1 {
		return nil
	}
	msg := "missing API key: send it as \"Authorization: Bearer KEY\""
	if ok {
		msg = "incorrect API key"
	}
	return &apiError{status: http.StatusUnauthorized, typ: typeAuth, code: "invalid_api_key", msg: msg}
}

// fail writes err as an error object, or as a stream event once a stream
// has begun.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err *apiError) {
	if sw, ok := w.(*statusWriter); ok && sw.streaming {
		sw.event(err.body())
		return
	}
	writeJSON(w, err.status, err.body())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// statusWriter remembers the status and whether an event stream began.
type statusWriter struct {
	http.ResponseWriter
	status    int
	streaming bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// startStream sends the event-stream headers.
func (w *statusWriter) startStream() {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.streaming = true
}

// event writes one server-sent event holding v as JSON; it reports whether
// the client is still there.
func (w *statusWriter) event(v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
		return false
	}
	w.Flush()
	return true
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	cur := s.current()
	if cur == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "no model loaded"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "model": cur.ID})
}

// modelObject is one /v1/models entry; the served model's carries its
// context size (context_length, as LM Studio names it), which clients
// such as natter's remote backend show.
func (s *Server) modelObject(id string) map[string]any {
	o := map[string]any{"id": id, "object": "model", "created": s.created, "owned_by": "natter"}
	if cur := s.current(); cur != nil && cur.ID == id {
		if n := cur.Model.Info().ContextSize; n > 0 {
			o["context_length"] = n
		}
	}
	return o
}

// listModels is the served model first, then the local ones a request may load.
func (s *Server) listModels(w http.ResponseWriter, r *http.Request, l *reqLog) *apiError {
	var data []any
	var ids []string
	if cur := s.current(); cur != nil {
		ids = append(ids, cur.ID)
	}
	for _, name := range s.localModels() {
		if !slices.Contains(ids, name) {
			ids = append(ids, name)
		}
	}
	for _, id := range ids {
		data = append(data, s.modelObject(id))
	}
	if data == nil {
		data = []any{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
	return nil
}

func (s *Server) model(w http.ResponseWriter, r *http.Request, l *reqLog) *apiError {
	id := r.PathValue("id")
	if err := s.checkModel(id); err != nil || id == "" {
		if err == nil {
			err = &apiError{status: http.StatusNotFound, typ: typeInvalid, code: "model_not_found", msg: "GET /v1/models/ID needs an ID"}
		}
		return err
	}
	if cur := s.current(); cur != nil && cur.names(id) {
		id = cur.ID
	}
	writeJSON(w, http.StatusOK, s.modelObject(id))
	return nil
}

// decode reads a JSON body into v, with the size limit and clear errors.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) *apiError {
	// The body is read as JSON whatever its Content-Type says: curl -d
	// sends form encoding unless told otherwise, and the JSON errors below
	// say what is wrong with anything else.
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	dec := json.NewDecoder(body)
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "invalid_json", msg: "the body holds more than one JSON value"}
		}
		return nil
	}
	var tooBig *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return &apiError{status: http.StatusRequestEntityTooLarge, typ: typeInvalid, code: "request_too_large",
			msg: fmt.Sprintf("the request body is larger than %d bytes", s.cfg.MaxBody)}
	case errors.As(err, &syn):
		return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "invalid_json",
			msg: fmt.Sprintf("the body is not valid JSON: %v (at byte %d)", err, syn.Offset)}
	case errors.As(err, &typ):
		// Fields of the embedded shared struct carry its name.
		field := strings.TrimPrefix(typ.Field, "sampling.")
		if field == "" {
			field = "(body)"
		}
		return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "invalid_type", param: field,
			msg: fmt.Sprintf("%s: expected %s, got a JSON %s", field, jsonKind(typ.Type.String()), typ.Value)}
	case errors.Is(err, io.EOF):
		return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "invalid_json", msg: "the request body is empty; send a JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "invalid_json", msg: "the body ends in the middle of its JSON"}
	default:
		var fe *fieldError
		if errors.As(err, &fe) {
			return invalid(fe.field, "%s: %s", fe.field, fe.msg)
		}
		return &apiError{status: http.StatusBadRequest, typ: typeInvalid, code: "invalid_json", msg: "the body could not be read: " + err.Error()}
	}
}

// jsonKind names a Go type the way a JSON user thinks of it.
func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "int"), strings.Contains(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	default:
		return "an object"
	}
}

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// fifo admits one generation at a time, in arrival order.
type fifo struct {
	mu      sync.Mutex
	busy    bool
	waiting []chan struct{}
	max     int
}

var errQueueFull = errors.New("queue full")

// acquire waits for the engine; it fails when ctx ends first or too many
// requests already wait.
func (q *fifo) acquire(ctx context.Context) error {
	q.mu.Lock()
	if !q.busy {
		q.busy = true
		q.mu.Unlock()
		return nil
	}
	if len(q.waiting) >= q.max {
		q.mu.Unlock()
		return errQueueFull
	}
	ch := make(chan struct{})
	q.waiting = append(q.waiting, ch)
	q.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		for i, c := range q.waiting {
			if c == ch {
				q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
				q.mu.Unlock()
				return ctx.Err()
			}
		}
		q.mu.Unlock()
		// Handed the engine just as ctx ended: pass it on.
		q.release()
		return ctx.Err()
	}
}

func (q *fifo) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) == 0 {
		q.busy = false
		return
	}
	next := q.waiting[0]
	q.waiting = q.waiting[1:]
	close(next)
}
