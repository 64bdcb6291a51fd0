package history

import (
	"context"
	"sync"

	"natter/prompts"
)

// Session is the chat a front end is in. Its chat row is created with the
// first message, so opening natter and leaving without a word (or /new
// twice) leaves no empty chats behind.
type Session struct {
	s    *Store
	mu   sync.Mutex
	meta ChatMeta
	id   int64
}

// NewSession starts a chat that is saved once it has a message.
func (s *Store) NewSession(meta ChatMeta) *Session { return &Session{s: s, meta: meta} }

// ResumeSession continues saved chat id; the Chat holds its messages.
func (s *Store) ResumeSession(ctx context.Context, id int64) (*Session, *Chat, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	meta := ChatMeta{Title: c.Title, Model: c.Model, Persona: c.Persona, SystemPrompt: c.SystemPrompt, Template: c.Template, Sampling: c.Sampling}
	return &Session{s: s, meta: meta, id: id}, c, nil
}

// ID is the chat id, 0 until the first message is saved.
func (ss *Session) ID() int64 {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.id
}

func (ss *Session) ensure(ctx context.Context) (int64, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.id != 0 {
		return ss.id, nil
	}
	id, err := ss.s.NewChat(ctx, ss.meta)
	if err != nil {
		return 0, err
	}
	ss.id = id
	return id, nil
}

// Add saves a message, creating the chat first if needed.
func (ss *Session) Add(ctx context.Context, m prompts.Message, meta MessageMeta) (int64, error) {
	id, err := ss.ensure(ctx)
	if err != nil {
		return 0, err
	}
	return ss.s.AddMessage(ctx, id, m, meta)
}

// BeginReply starts streaming an assistant reply into the chat.
func (ss *Session) BeginReply(ctx context.Context, meta ReplyMeta) (*ReplyWriter, error) {
	id, err := ss.ensure(ctx)
	if err != nil {
		return nil, err
	}
	return ss.s.BeginReply(ctx, id, meta)
}

// Rename sets the title (kept for when the chat is created, if it is not yet).
func (ss *Session) Rename(ctx context.Context, title string) error {
	ss.mu.Lock()
	id := ss.id
	if id == 0 {
		ss.meta.Title = title
		ss.mu.Unlock()
		return nil
	}
	ss.mu.Unlock()
	return ss.s.Rename(ctx, id, title)
}

// SetMeta changes model, persona, system prompt, template or sampling for
// the rest of the chat.
func (ss *Session) SetMeta(ctx context.Context, meta ChatMeta) error {
	ss.mu.Lock()
	meta.Title = ss.meta.Title
	ss.meta = meta
	id := ss.id
	ss.mu.Unlock()
	if id == 0 {
		return nil
	}
	return ss.s.UpdateChat(ctx, id, meta)
}
