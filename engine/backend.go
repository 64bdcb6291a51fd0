package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"natter/engine/api"
	"natter/engine/gguf"
	"natter/prompts"
)

// Backend names, as --backend takes them and the status line shows them.
const (
	BackendAuto  = "auto"
	BackendLlama = "llama.cpp"
	BackendGo    = "go"
)

// Backends lists the values --backend accepts.
var Backends = []string{BackendAuto, BackendLlama, BackendGo}

// Model is a loaded model on either backend, as natter's commands use it.
// *Engine (llama.cpp) and *GoEngine (Ollama's Go engine) implement it.
type Model interface {
	api.Generator
	Close() error
	Options() Options
	VocabSize() int
	TokenText(t Token) string
	// Reset empties the cache, so the next request is processed cold.
	Reset() error
	// SaveState and LoadState serialise the cache beside a saved chat;
	// ErrNoState means the backend cannot, and a resume re-reads the chat.
	SaveState() (toks []Token, state []byte, err error)
	LoadState(toks []Token, state []byte) error
	BuiltinTemplate() prompts.ChatTemplate
	// PromptTokens are the tokens req's prompt becomes.
	PromptTokens(req api.Request) ([]Token, error)
}

// ErrNoState is returned by backends that cannot serialise their cache.
var ErrNoState = errors.New("this backend cannot save its cache")

var (
	_ Model = (*Engine)(nil)
	_ Model = (*GoEngine)(nil)
)

// ChooseBackend picks the backend for a model of architecture arch: want
// is "auto" (or ""), "llama.cpp" or "go". Auto runs llama.cpp wherever it
// knows the architecture and the Go engine for those only it has.
func ChooseBackend(arch, want string) (string, error) {
	switch want {
	case "", BackendAuto:
		if GoArchitectures[arch] {
			return BackendGo, nil
		}
		return BackendLlama, nil
	case BackendLlama:
		if GoArchitectures[arch] {
			return "", fmt.Errorf("the llama.cpp built into natter (Dec 2025) does not know architecture %q; use --backend go or auto", arch)
		}
		return BackendLlama, nil
	case BackendGo:
		if !goRuns(arch) {
			return "", fmt.Errorf("the Go engine does not run architecture %q; use --backend llama.cpp or auto", arch)
		}
		return BackendGo, nil
	}
	return "", CheckBackend(want)
}

// CheckBackend reports a --backend value that is not one of Backends.
func CheckBackend(name string) error {
	for _, b := range Backends {
		if name == b {
			return nil
		}
	}
	return fmt.Errorf("--backend %q: want %s", name, strings.Join(Backends, ", "))
}

// goRuns reports whether Ollama's Go engine registers arch. Only the
// architectures natter tests on it are listed: llama (checked against
// llama.cpp in the tests) and those only the Go engine has.
func goRuns(arch string) bool {
	return arch == "llama" || GoArchitectures[arch]
}

// Open validates the file and loads it on the backend that opts.Backend and
// its architecture select.
func Open(opts Options) (Model, error) {
	f, err := Validate(opts.ModelPath)
	if err != nil {
		return nil, err
	}
	b, err := ChooseBackend(f.Arch(), opts.Backend)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opts.ModelPath, err)
	}
	if b == BackendGo {
		return openGo(opts, f)
	}
	return Load(opts)
}

// openGo checks the options the Go engine does not have before loading.
func openGo(opts Options, f *gguf.File) (Model, error) {
	if opts.CacheType != "" && opts.CacheType != "f16" {
		return nil, fmt.Errorf("--cache-type %s: the Go engine (which runs %s) keeps its cache in f16", opts.CacheType, f.Arch())
	}
	var note string
	if opts.Projector != "" && !goProjectorArch(f.Arch()) {
		note = fmt.Sprintf("the Go engine, which runs %s models, cannot read a separate projector (%s) yet; natter reads Gemma 4's and Qwen3.5's", f.Arch(), filepath.Base(opts.Projector))
		if !opts.ProjectorFound {
			return nil, errors.New("--mmproj: " + note)
		}
		opts.Projector = ""
	}
	g, err := LoadGo(opts)
	if err != nil && opts.Projector != "" {
		if !opts.ProjectorFound {
			return nil, fmt.Errorf("--mmproj: %w", err)
		}
		// A projector found beside the model that does not load: the
		// model runs text-only, and says why.
		note = err.Error()
		opts.Projector = ""
		g, err = LoadGo(opts)
	}
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	if note != "" {
		g.info.ProjectorNote = note
	}
	return g, nil
}

// SavesState reports whether m can serialise its cache (SaveState); the Go
// engine cannot, so a resumed chat is read again.
func SavesState(m Model) bool {
	_, isGo := m.(*GoEngine)
	return !isGo
}
