package models

import (
	"strings"
)

// CatalogEntry is one recommended model: where to download it and enough
// of its shape to estimate memory before downloading.
type CatalogEntry struct {
	Name        string `json:"name"` // what the user types: natter pull NAME
	Description string `json:"description"`
	Repo        string `json:"repo"` // Hugging Face OWNER/REPO
	File        string `json:"file"` // GGUF file in the repo
	Arch        string `json:"arch"`
	Params      uint64 `json:"params"`
	Quant       string `json:"quantization"`
	Size        int64  `json:"size_bytes"` // approximate
	Context     uint64 `json:"context_length"`
	License     string `json:"license"`

	layers, embd, heads, kvHeads, headDim, vocab uint64
}

// Meta describes the entry as if read from its file, so the memory
// estimate can run before the download.
func (e CatalogEntry) Meta() Meta {
	return Meta{
		Arch: e.Arch, Name: e.Name, Quantization: e.Quant, Params: e.Params,
		TrainCtx: e.Context, HasTemplate: true, FileSize: e.Size,
		Layers: e.layers, Embd: e.embd, Heads: e.heads, KVHeads: e.kvHeads,
		KeyLen: e.headDim, ValLen: e.headDim, Vocab: e.vocab,
	}
}

// URLPath is the download path below the Hugging Face base URL.
func (e CatalogEntry) URLPath() string {
	return "/" + e.Repo + "/resolve/main/" + e.File
}

// The catalog. Repositories and file names are the publishers' well-known
// GGUF uploads (the official Qwen/ggml-org repos, bartowski, unsloth);
// natter could not reach Hugging Face when this list was written, so the
// sizes are approximate (from the publishers' listings, rounded) and the
// real size and sha256 are taken from the server at pull time. Shapes
// (layers, heads, ...) come from each model's published config and only
// feed the memory estimate.
var catalog = []CatalogEntry{
	{Name: "qwen2.5-0.5b", Description: "Qwen2.5 0.5B Instruct: tiny and fast, basic chat",
		Repo: "bartowski/Qwen2.5-0.5B-Instruct-GGUF", File: "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf",
		Arch: "qwen2", Params: 494_000_000, Quant: "Q4_K_M", Size: 398_000_000, Context: 32768, License: "Apache-2.0",
		layers: 24, embd: 896, heads: 14, kvHeads: 2, headDim: 64, vocab: 151936},
	{Name: "qwen3-0.6b", Description: "Qwen3 0.6B: smallest Qwen3, with thinking mode",
		Repo: "unsloth/Qwen3-0.6B-GGUF", File: "Qwen3-0.6B-Q4_K_M.gguf",
		Arch: "qwen3", Params: 596_000_000, Quant: "Q4_K_M", Size: 397_000_000, Context: 40960, License: "Apache-2.0",
		layers: 28, embd: 1024, heads: 16, kvHeads: 8, headDim: 128, vocab: 151936},
	{Name: "gemma3-1b", Description: "Gemma 3 1B instruction-tuned, Google",
		Repo: "ggml-org/gemma-3-1b-it-GGUF", File: "gemma-3-1b-it-Q4_K_M.gguf",
		Arch: "gemma3", Params: 1_000_000_000, Quant: "Q4_K_M", Size: 806_000_000, Context: 32768, License: "Gemma Terms of Use",
		layers: 26, embd: 1152, heads: 4, kvHeads: 1, headDim: 256, vocab: 262144},
	{Name: "llama3.2-1b", Description: "Llama 3.2 1B Instruct, Meta",
		Repo: "bartowski/Llama-3.2-1B-Instruct-GGUF", File: "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
		Arch: "llama", Params: 1_240_000_000, Quant: "Q4_K_M", Size: 808_000_000, Context: 131072, License: "Llama 3.2 Community License",
		layers: 16, embd: 2048, heads: 32, kvHeads: 8, headDim: 64, vocab: 128256},
	{Name: "qwen2.5-1.5b", Description: "Qwen2.5 1.5B Instruct: good quality for its size",
		Repo: "bartowski/Qwen2.5-1.5B-Instruct-GGUF", File: "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf",
		Arch: "qwen2", Params: 1_540_000_000, Quant: "Q4_K_M", Size: 986_000_000, Context: 32768, License: "Apache-2.0",
		layers: 28, embd: 1536, heads: 12, kvHeads: 2, headDim: 128, vocab: 151936},
	{Name: "qwen3-1.7b", Description: "Qwen3 1.7B, with thinking mode",
		Repo: "unsloth/Qwen3-1.7B-GGUF", File: "Qwen3-1.7B-Q4_K_M.gguf",
		Arch: "qwen3", Params: 1_720_000_000, Quant: "Q4_K_M", Size: 1_110_000_000, Context: 40960, License: "Apache-2.0",
		layers: 28, embd: 2048, heads: 16, kvHeads: 8, headDim: 128, vocab: 151936},
	{Name: "smollm2-1.7b", Description: "SmolLM2 1.7B Instruct, Hugging Face",
		Repo: "bartowski/SmolLM2-1.7B-Instruct-GGUF", File: "SmolLM2-1.7B-Instruct-Q4_K_M.gguf",
		Arch: "llama", Params: 1_710_000_000, Quant: "Q4_K_M", Size: 1_060_000_000, Context: 8192, License: "Apache-2.0",
		layers: 24, embd: 2048, heads: 32, kvHeads: 32, headDim: 64, vocab: 49152},
	{Name: "qwen2.5-3b", Description: "Qwen2.5 3B Instruct",
		Repo: "bartowski/Qwen2.5-3B-Instruct-GGUF", File: "Qwen2.5-3B-Instruct-Q4_K_M.gguf",
		Arch: "qwen2", Params: 3_090_000_000, Quant: "Q4_K_M", Size: 1_930_000_000, Context: 32768, License: "Qwen Research License",
		layers: 36, embd: 2048, heads: 16, kvHeads: 2, headDim: 128, vocab: 151936},
	{Name: "llama3.2-3b", Description: "Llama 3.2 3B Instruct, Meta",
		Repo: "bartowski/Llama-3.2-3B-Instruct-GGUF", File: "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
		Arch: "llama", Params: 3_210_000_000, Quant: "Q4_K_M", Size: 2_020_000_000, Context: 131072, License: "Llama 3.2 Community License",
		layers: 28, embd: 3072, heads: 24, kvHeads: 8, headDim: 128, vocab: 128256},
	{Name: "phi3.5-mini", Description: "Phi-3.5 mini instruct 3.8B, Microsoft",
		Repo: "bartowski/Phi-3.5-mini-instruct-GGUF", File: "Phi-3.5-mini-instruct-Q4_K_M.gguf",
		Arch: "phi3", Params: 3_820_000_000, Quant: "Q4_K_M", Size: 2_390_000_000, Context: 131072, License: "MIT",
		layers: 32, embd: 3072, heads: 32, kvHeads: 32, headDim: 96, vocab: 32064},
	{Name: "phi4-mini", Description: "Phi-4 mini instruct 3.8B, Microsoft",
		Repo: "unsloth/Phi-4-mini-instruct-GGUF", File: "Phi-4-mini-instruct-Q4_K_M.gguf",
		Arch: "phi3", Params: 3_840_000_000, Quant: "Q4_K_M", Size: 2_490_000_000, Context: 131072, License: "MIT",
		layers: 32, embd: 3072, heads: 24, kvHeads: 8, headDim: 128, vocab: 200064},
	{Name: "qwen3-4b", Description: "Qwen3 4B, with thinking mode: the strongest here",
		Repo: "unsloth/Qwen3-4B-GGUF", File: "Qwen3-4B-Q4_K_M.gguf",
		Arch: "qwen3", Params: 4_020_000_000, Quant: "Q4_K_M", Size: 2_500_000_000, Context: 40960, License: "Apache-2.0",
		layers: 36, embd: 2560, heads: 32, kvHeads: 8, headDim: 128, vocab: 151936},
}

// Catalog returns the recommended models, smallest first.
func Catalog() []CatalogEntry {
	out := make([]CatalogEntry, len(catalog))
	copy(out, catalog)
	return out
}

// CatalogLookup finds an entry by name (case-insensitive; a ":" is accepted
// for the last "-", so "qwen3:1.7b" finds "qwen3-1.7b").
func CatalogLookup(name string) (CatalogEntry, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, e := range catalog {
		if n == e.Name || n == strings.Replace(e.Name, "-", ":", 1) {
			return e, true
		}
	}
	return CatalogEntry{}, false
}

// CatalogFit is a catalog entry judged against this machine.
type CatalogFit struct {
	CatalogEntry
	Estimate   Estimate `json:"estimate"`
	Fit        Fit      `json:"fit"`
	Downloaded string   `json:"downloaded,omitempty"` // local path when already in the models folder
}

// CatalogWithFit returns the catalog with a fit mark for each entry at ctx
// tokens (0: the default context), for `natter models --catalog` and the
// chat's first-run screen.
func CatalogWithFit(ctx int) []CatalogFit {
	avail, err := AvailableMemory()
	if err != nil {
		avail = 0
	}
	dir := ModelsDir()
	var out []CatalogFit
	for _, e := range catalog {
		m := e.Meta()
		est := EstimateMemory(&m, m.ContextFor(ctx))
		cf := CatalogFit{CatalogEntry: e, Estimate: est, Fit: FitFor(est.Total, avail)}
		if dir != "" {
			if p := joinInside(dir, e.File); p != "" && isRegular(p) {
				cf.Downloaded = p
			}
		}
		out = append(out, cf)
	}
	return out
}
