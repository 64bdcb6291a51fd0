package engine

// Link llama.cpp and ggml (sources carried by the ollama module) into the binary.
import (
	_ "natter/engine/ggmlamx"

	_ "github.com/ollama/ollama/llama/llama.cpp/src"
	_ "github.com/ollama/ollama/ml/backend/ggml/ggml/src"
)
