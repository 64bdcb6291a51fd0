package serve

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"natter/engine/api"
	"natter/prompts"
)

// Loaded is a model a Server serves.
type Loaded struct {
	Model    api.Generator
	ID       string   // the id clients name and /v1/models lists
	Aliases  []string // other names accepted for it
	Template prompts.ChatTemplate
	// Source is what Config.Load takes to load it again (a path).
	Source string
	// Close frees it when another model takes its place; nil: never freed
	// by the server.
	Close func() error
}

func (l *Loaded) names(name string) bool {
	return name == l.ID || slices.Contains(l.Aliases, name)
}

// models holds the served model and, when the server may load others on
// request, the list of those (refreshed at most every localTTL).
type models struct {
	mu        sync.Mutex
	cur       *Loaded // nil after a failed switch
	local     []string
	localTime time.Time
}

const localTTL = 30 * time.Second

func (s *Server) current() *Loaded {
	s.models.mu.Lock()
	defer s.models.mu.Unlock()
	return s.models.cur
}

// localModels are the other models a request may name (none unless
// Config.Local and Config.Load are set).
func (s *Server) localModels() []string {
	if s.cfg.Local == nil || s.cfg.Load == nil {
		return nil
	}
	s.models.mu.Lock()
	defer s.models.mu.Unlock()
	if s.models.local == nil || time.Since(s.models.localTime) > localTTL {
		s.models.local = s.cfg.Local()
		s.models.localTime = time.Now()
	}
	return s.models.local
}

// checkModel accepts the served model's id or an alias, nothing (the served
// model), or a local model the server may load.
func (s *Server) checkModel(name string) *apiError {
	if name == "" {
		return nil
	}
	if cur := s.current(); cur != nil && cur.names(name) {
		return nil
	}
	local := s.localModels()
	if slices.Contains(local, name) {
		return nil
	}
	id := "none"
	if cur := s.current(); cur != nil {
		id = fmt.Sprintf("%q", cur.ID)
	}
	hint := "; start natter serve with --load-on-request to serve the models `natter models` lists"
	if local != nil {
		hint = fmt.Sprintf(" or one of the %d local models GET /v1/models lists", len(local))
	}
	return &apiError{status: http.StatusNotFound, typ: typeInvalid, param: "model", code: "model_not_found",
		msg: fmt.Sprintf("the model %q is not served here: this server has %s%s", name, id, hint)}
}

// use makes name the served model, loading it in place of the current one
// when it is another. The caller holds the queue, so nothing is generating.
func (s *Server) use(ctx context.Context, name string) (*Loaded, *apiError) {
	cur := s.current()
	if cur != nil && (name == "" || cur.names(name)) {
		return cur, nil
	}
	if name == "" || s.cfg.Load == nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, typ: typeServer, code: "no_model",
			msg: "no model is loaded (the last switch failed); name one in \"model\""}
	}
	// Free the current model first: two may not fit in memory together.
	if cur != nil && cur.Close != nil {
		cur.Close()
	}

	s.models.mu.Lock()
	s.models.cur = nil
	s.models.mu.Unlock()
	s.logf("loading %s in place of %s", name, idOf(cur))
	next, err := s.cfg.Load(ctx, name)
	if err != nil {
		switch {
		case cur == nil:
		case cur.Close == nil:
			// Never closed, so still there.
			s.models.mu.Lock()
			s.models.cur = cur
			s.models.mu.Unlock()
		case cur.Source != "":
			// Back to the model that was served, so the next request
			// that names it (or none) still gets an answer.
			if back, err2 := s.cfg.Load(context.Background(), cur.Source); err2 == nil {
				back.Aliases = append(back.Aliases, cur.ID)
				s.models.mu.Lock()
				s.models.cur = back
				s.models.mu.Unlock()
				s.logf("%s is loaded again", cur.ID)
			} else {
				s.logf("could not load %s again: %v", cur.ID, err2)
			}
		}
		return nil, &apiError{status: http.StatusInternalServerError, typ: typeServer, param: "model", code: "model_load_failed",
			msg: fmt.Sprintf("could not load %s: %v", name, err)}
	}
	s.models.mu.Lock()
	s.models.cur = next
	s.models.mu.Unlock()
	return next, nil
}

func idOf(l *Loaded) string {
	if l == nil {
		return "nothing"
	}
	return l.ID
}

// Close frees a model the server loaded on request (not Config.Model).
func (s *Server) Close() error {
	s.models.mu.Lock()
	defer s.models.mu.Unlock()
	if cur := s.models.cur; cur != nil && cur.Close != nil {
		s.models.cur = nil
		return cur.Close()
	}
	return nil
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Log == nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(s.cfg.Log, "%s %s\n", time.Now().Format("2006-01-02T15:04:05.000"), fmt.Sprintf(format, args...))
}
