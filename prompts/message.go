// Package prompts holds conversations and turns them into model prompts:
// messages, chat-template rendering, personas and user-editable prompt files.
// Pure Go: no cgo, no UI. The bottom layer: it imports nothing of natter's
// outside prompts/... (internal/layers checks this).
package prompts

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
)

// Roles used in messages.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// Reasoning is the model's thinking for an assistant turn, kept apart
	// from Content so templates that take reasoning_content can use it.
	Reasoning string `json:"reasoning_content,omitempty"`
	// ToolCalls are the calls an assistant turn made.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID and Name tie a tool-role message (a result) to its call.
	ToolCallID string `json:"tool_call_id,omitempty"`
	Name       string `json:"name,omitempty"`
	// Media are the files attached to a user turn (images, audio), in
	// order. The engine puts each where the template places the turn's
	// content, before its text.
	Media []Attachment `json:"media,omitempty"`
}

// Media kinds.
const (
	MediaImage = "image"
	MediaAudio = "audio"
)

// Attachment is a file given with a message. Data is not serialised: a
// saved chat keeps the hash, and the bytes live once in a content store.
type Attachment struct {
	Kind   string `json:"kind"`             // MediaImage or MediaAudio
	Name   string `json:"name"`             // the file's base name, for display
	SHA256 string `json:"sha256"`           // of Data, hex
	Format string `json:"format,omitempty"` // "png", "wav", ...
	Size   int64  `json:"size"`
	Data   []byte `json:"-"`
}

// NewAttachment is an attachment of data, with its hash and size.
func NewAttachment(kind, format, name string, data []byte) Attachment {
	return Attachment{Kind: kind, Format: format, Name: name, SHA256: hashHex(data), Size: int64(len(data)), Data: data}
}

// Sum is the attachment's SHA256: as recorded, else computed from Data.
func (a Attachment) Sum() string {
	if a.SHA256 != "" {
		return a.SHA256
	}
	return hashHex(a.Data)
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// ToolCall is one call of a tool by the model.
type ToolCall struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	// Arguments is a JSON object, as text.
	Arguments string `json:"arguments"`
}

// ChatTemplate turns a conversation into the exact prompt text a model expects.
// Implementations: the Jinja renderer (this package) and llama.cpp's built-in
// formatter (engine package).
type ChatTemplate interface {
	// Name says which formatter this is, e.g. "gguf:jinja", "llama.cpp:chatml".
	Name() string
	Render(msgs []Message, addGenerationPrompt bool) (string, error)
}

// Equal reports whether two messages are the same turn.
func (m Message) Equal(o Message) bool {
	return m.Role == o.Role && m.Content == o.Content && m.Reasoning == o.Reasoning &&
		m.ToolCallID == o.ToolCallID && m.Name == o.Name && slices.Equal(m.ToolCalls, o.ToolCalls)
}
