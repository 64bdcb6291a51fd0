package layers

// Rules is natter's layering, bottom layer first. Every natter package must
// be matched by one of them (the most specific Pkg wins: an exact path beats
// a pattern, a longer pattern beats a shorter one).
var Rules = []Rule{
	{
		Pkg:     "natter/prompts/...",
		May:     []string{"natter/prompts/..."},
		NotDeps: []string{"natter/...", "!natter/prompts/..."},
		Doc:     "messages, chat templates (prompts/jinja), personas and prompt files; pure Go, the bottom layer",
	},
	{
		Pkg:     "natter/media/...",
		May:     []string{"natter/media/..."},
		NotDeps: []string{"natter/...", "!natter/media/..."},
		Doc:     "decodes user images and audio into RGB pixels and mono PCM for the engines; pure Go",
	},
	{
		Pkg: "natter/engine/...",
		May: []string{"natter/engine/...", "natter/prompts/...", "natter/media"},
		Doc: "runs models (llama.cpp through cgo, the Go engine, tokenizer); the only cgo in natter",
	},
	{
		Pkg: "natter/engine/api",
		May: []string{"natter/prompts/..."},
		Doc: "plain data types that cross the engine boundary; no cgo, so ui and history can use them",
	},
	{
		Pkg: "natter/engine/gguf/...",
		May: []string{"natter/engine/gguf/..."},
		Doc: "pure-Go GGUF reader (and synthetic GGUF writer); models imports it, so it stays free of the rest of engine",
	},
	{
		Pkg:     "natter/models/...",
		May:     []string{"natter/models/...", "natter/engine/gguf/...", "natter/internal/units"},
		NotDeps: []string{"natter/engine/...", "!natter/engine/gguf/..."},
		Doc:     "the model store: discovery, catalog, pulls, memory fit; reads GGUF headers but never loads the engine",
	},
	{
		Pkg:     "natter/history/...",
		May:     []string{"natter/history/...", "natter/prompts/...", "natter/engine/api", "natter/internal/units"},
		NotDeps: []string{"natter/engine/...", "!natter/engine/api"},
		Doc:     "saved chats in SQLite and the KV-state cache; never loads the engine",
	},
	{
		Pkg:     "natter/tools/...",
		May:     []string{"natter/tools/...", "natter/prompts/..."},
		NotDeps: []string{"natter/engine/...", "natter/history/...", "natter/ui/..."},
		Doc:     "what the model may call: built-in file and command tools with their safety bounds; pure Go",
	},
	{
		Pkg:     "natter/ui/...",
		May:     []string{"natter/ui/...", "natter/prompts/...", "natter/engine/api", "natter/tools", "natter/media", "natter/internal/units"},
		TestMay: []string{"natter/history"}, // chats saved to real SQLite, still no cgo
		NotDeps: []string{"natter/engine/...", "!natter/engine/api"},
		Doc:     "the Bubble Tea chat; knows the engine only through engine/api, so its tests need no cgo",
	},
	{
		Pkg:     "natter/serve/...",
		May:     []string{"natter/serve/...", "natter/prompts/...", "natter/engine/api", "natter/media"},
		TestMay: []string{"natter/engine/...", "natter/history/..."}, // a real engine behind the server
		Doc:     "the OpenAI-compatible HTTP server; knows the engine only through engine/api",
	},
	{
		Pkg:     "natter/remote/...",
		May:     []string{"natter/remote/...", "natter/prompts/...", "natter/engine/api", "natter/media"},
		TestMay: []string{"natter/engine/...", "natter/serve/..."}, // natter serve as the server
		Doc:     "the remote backend: an OpenAI-compatible server behind api.Generator; pure Go",
	},
	{
		Pkg:     "natter/eval/...",
		May:     []string{"natter/eval/...", "natter/prompts/...", "natter/engine/api", "natter/internal/editdist"},
		TestMay: []string{"natter/engine/...", "natter/remote/...", "natter/serve/..."}, // real models behind the runner
		Doc:     "test suites: parsing, checks, the runner, reports and saved runs; knows models only through engine/api",
	},
	{
		Pkg: "natter/tune/...",
		May: []string{"natter/tune/...", "natter/engine/...", "natter/prompts/..."},
		Doc: "fine-tuning: the training data, its windows and targets, the run with checkpoints; trains through the engine's Trainer",
	},
	{
		Pkg: "natter/config/...",
		May: []string{"natter/config/...", "natter/internal/editdist"},
		Doc: "the config file; imports nothing of natter's but the typo distance",
	},
	{
		Pkg: "natter/doctor/...",
		May: []string{
			"natter/doctor/...", "natter/engine/...", "natter/models/...",
			"natter/history/...", "natter/config/...", "natter/prompts/...",
		},
		Doc: "bug-report checks over the engine, models, history and config",
	},
	{
		Pkg: "natter/cli/...",
		May: []string{
			"natter/cli/...", "natter/prompts/...", "natter/engine/...", "natter/models/...",
			"natter/history/...", "natter/ui/...", "natter/config/...", "natter/doctor/...",
			"natter/serve/...", "natter/remote/...", "natter/eval/...", "natter/tools/...", "natter/tune/...",
		},
		Doc: "the cobra command tree; wires every layer below together",
	},
	{
		Pkg: "natter",
		May: []string{"natter/cli/..."},
		// The end-to-end tests beside main.go build model files, read the
		// history database and check for the network.
		TestMay: []string{"natter/engine/gguf/...", "natter/history/...", "natter/models/..."},
		Doc:     "main.go: wiring only, everything else lives in cli",
	},
	{
		Pkg: "natter/internal/editdist",
		May: []string{},
		Doc: "the edit distance of \"did you mean\" hints; imports nothing, so config and eval share it",
	},
	{
		Pkg: "natter/internal/units",
		May: []string{},
		Doc: "how sizes are written (\"120 kB\"); imports nothing, so the model store, history and the chat agree",
	},
	{
		Pkg: "natter/internal/...",
		May: []string{"natter/internal/..."},
		Doc: "repository tooling and checks (this package); imported by nothing",
	},
}
