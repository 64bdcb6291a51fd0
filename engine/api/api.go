// Package api holds the plain data types that cross the engine boundary.
// It has no cgo, so the UI and other packages can use it (and fake a
// generator in tests) without compiling llama.cpp. It imports only prompts.
package api

import (
	"context"
	"errors"
	"time"

	"natter/prompts"
)

// Sampling controls token selection. Temperature 0 means greedy.
type Sampling struct {
	Temperature   float32 `json:"temperature"`
	TopK          int     `json:"top_k"`
	TopP          float32 `json:"top_p"`
	MinP          float32 `json:"min_p"`
	RepeatPenalty float32 `json:"repeat_penalty"`
	RepeatLastN   int     `json:"repeat_last_n"`
	Seed          uint32  `json:"seed"`
}

// DefaultSampling is what natter uses when the user sets nothing (llama.cpp's
// defaults, so greedy output matches upstream tools).
func DefaultSampling() Sampling {
	return Sampling{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.0, RepeatLastN: 64, Seed: SeedRandom}
}

// SeedRandom asks for a random seed.
const SeedRandom uint32 = 0xFFFFFFFF

// Request is one generation.
type Request struct {
	// Messages is the conversation, rendered by Template (or the model's
	// built-in template when Template is nil). Ignored when Raw is set.
	Messages []prompts.Message
	// Template formats Messages; nil means the engine's default
	// (the model's template via llama.cpp, else ChatML).
	Template prompts.ChatTemplate
	// Raw: plain completion of Prompt, no chat template.
	Raw    bool
	Prompt string
	// Tokens, when set with Raw, is the prompt already tokenized (benchmarks,
	// restored sessions); Prompt is then ignored.
	Tokens []int32

	Sampling  Sampling
	MaxTokens int // <= 0: until end of generation or context full
	// ReasoningBudget > 0 caps the tokens spent inside a reasoning block
	// (<think>…</think>, Gemma 4's thought channel): the engine then closes
	// the block itself and the model answers. 0: no cap.
	ReasoningBudget int
	Stop            []string // extra stop sequences, matched on text
	// Grammar (GBNF, llama.cpp's format with a "root" rule) constrains the
	// reply from its first token, so it is valid by construction; empty for
	// none. A template that leaves a reasoning block open is an error then:
	// the grammar would constrain the thinking, not the answer.
	Grammar string
	// JSONSchema is the JSON Schema Grammar was made from, if any: a remote
	// server gets it as response_format (it cannot take a GBNF grammar).
	JSONSchema []byte
	// IgnoreEOS keeps generating past end-of-generation tokens (benchmarks).
	IgnoreEOS bool
	// NoDrop: a conversation too long for the context is an error
	// (ErrContextExceeded) instead of losing its oldest turns.
	NoDrop bool
}

// ErrContextExceeded is wrapped by the errors of a prompt that cannot fit
// the context window.
var ErrContextExceeded = errors.New("context length exceeded")

// EventKind tells what an Event carries.
type EventKind int

const (
	EventText  EventKind = iota // Text holds a piece of valid UTF-8 output
	EventDone                   // Stats is set; the stream closes after it
	EventError                  // Err is set; the stream closes after it
	// EventPrefill: the prompt is processed. Stats holds the prompt figures
	// (PromptTokens, CachedTokens, DroppedTurns, PrefillTPS, ContextUsed,
	// ContextSize, Template). Sent at most once, before any text.
	EventPrefill
	// EventNotice: Text is a note for the user while the stream waits
	// (a remote server's retry countdown); it is not part of the reply.
	EventNotice
)

// Event is one item of a generation stream. The last event of every stream
// is EventDone or EventError. Consumers ignore kinds they do not know.
type Event struct {
	Kind  EventKind
	Text  string
	Stats *Stats
	Err   error
}

// Stop reasons.
const (
	StopEOG       = "eog"        // the model ended its turn
	StopMaxTokens = "max_tokens" // MaxTokens reached
	StopSequence  = "stop"       // a stop sequence matched
	StopCancelled = "cancelled"  // the caller's context was cancelled
	StopContext   = "context"    // the context window filled up
)

// Stats describes a finished generation.
type Stats struct {
	PromptTokens    int           `json:"prompt_tokens"`
	CachedTokens    int           `json:"cached_tokens"` // prompt tokens reused from the KV cache
	GeneratedTokens int           `json:"generated_tokens"`
	PrefillTime     time.Duration `json:"prefill_ns"`
	DecodeTime      time.Duration `json:"decode_ns"`
	PrefillTPS      float64       `json:"prefill_tps"`
	DecodeTPS       float64       `json:"decode_tps"`
	TTFT            time.Duration `json:"ttft_ns"`
	StopReason      string        `json:"stop_reason"`
	DroppedTurns    int           `json:"dropped_turns"` // oldest turns left out to fit the context
	ContextUsed     int           `json:"context_used"`  // tokens in the KV cache at the end
	ContextSize     int           `json:"context_size"`
	Template        string        `json:"template"` // which formatter produced the prompt
	// Adapters are the LoRA adapters that were on (scale != 0) while the
	// reply was generated, so a saved reply says what produced it.
	Adapters []Adapter `json:"adapters,omitempty"`
}

// Adapter is a LoRA adapter loaded on top of a model's weights.
type Adapter struct {
	Path   string  `json:"path"`
	Name   string  `json:"name"`   // the file's base name
	SHA256 string  `json:"sha256"` // of the file, hex
	Scale  float32 `json:"scale"`  // 0 = loaded but off
}

// AdapterScaler is a model whose LoRA adapters can be rescaled (0 turns
// one off) without reloading it.
type AdapterScaler interface {
	// Adapters lists the loaded adapters with their current scales.
	Adapters() []Adapter
	// SetAdapterScale sets adapter i's scale; the cache is cleared, since
	// what it holds was computed with the old weights.
	SetAdapterScale(i int, scale float32) error
}

// ModelInfo describes the loaded model.
type ModelInfo struct {
	Path         string `json:"path"`
	Name         string `json:"name"`
	Arch         string `json:"arch"`
	Description  string `json:"description"` // llama.cpp's e.g. "llama 1B Q8_0"
	Quantization string `json:"quantization"`
	SizeBytes    int64  `json:"size_bytes"`
	Params       int64  `json:"params"`
	TrainCtx     int    `json:"train_ctx"`
	ContextSize  int    `json:"context_size"`
	ChatTemplate string `json:"chat_template,omitempty"` // tokenizer.chat_template, "" if none
	BOS          string `json:"bos"`
	EOS          string `json:"eos"`
	AddBOS       bool   `json:"add_bos"`
	Backend      string `json:"backend"` // "llama.cpp" or "go"
	// License is general.license (with general.license.name), LicenseLink
	// general.license.link; "" when the file does not say.
	License     string `json:"license,omitempty"`
	LicenseLink string `json:"license_link,omitempty"`
	// Adapters are the LoRA adapters loaded with the model, as loaded.
	Adapters []Adapter `json:"adapters,omitempty"`
	// Projector is the multimodal projector file, "" if none; Vision and
	// Audio say what attachments the model takes.
	Projector string `json:"projector,omitempty"`
	Vision    bool   `json:"vision,omitempty"`
	Audio     bool   `json:"audio,omitempty"`
	// ProjectorNote says why a projector found beside the model is not in
	// use ("" when none was found or it loaded).
	ProjectorNote string `json:"projector_note,omitempty"`
	// ProjectorCopy is the loadable copy of the projector the Go engine
	// opened instead of the file (Ollama's loader cannot open Gemma 4
	// projectors with audio as they are), "" when none; ProjectorCopyNote
	// says so, with its size, on the load that made it.
	ProjectorCopy     string `json:"projector_copy,omitempty"`
	ProjectorCopyNote string `json:"-"`
}

// Generator is what a front end needs from an engine.
type Generator interface {
	Generate(ctx context.Context, req Request) (<-chan Event, error)
	Info() ModelInfo
	// CountTokens tokenizes text (special tokens parsed when special is true).
	CountTokens(text string, special bool) (int, error)
	// RenderPrompt returns the exact prompt text req would send to the model
	// (after any dropping of old turns to fit the context) and the name of
	// the formatter that produced it.
	RenderPrompt(req Request) (text string, template string, err error)
}
