package models

import (
	"strings"
)

// CatalogEntry is one recommended model: where to download it and enough
// of its shape to estimate memory before downloading.
type CatalogEntry struct {
	Name        string `json:"name"`        // what the user types: natter pull NAME
	Description string `json:"description"` // one line: the model and what it is good for
	Repo        string `json:"repo"`        // Hugging Face OWNER/REPO
	File        string `json:"file"`        // GGUF file in the repo
	Arch        string `json:"arch"`        // general.architecture of the file
	Params      uint64 `json:"params"`
	Quant       string `json:"quantization"`
	Size        int64  `json:"size_bytes"` // approximate
	Context     uint64 `json:"context_length"`
	License     string `json:"license"`
	// Verified: Repo and File were seen together in a published listing
	// (the repo's model card, its file list, or download URLs of that
	// exact file); Source says where. Unverified entries are best guesses
	// and say so in `natter models --catalog`.
	Verified bool   `json:"verified"`
	Source   string `json:"source,omitempty"`

	// Shape for the memory estimate, from each model's config.json.
	// kvLayers: layers that keep a KV cache, when fewer than layers.
	layers, kvLayers, embd, heads, kvHeads, headDim, vocab uint64
}

// Meta describes the entry as if read from its file, so the memory
// estimate can run before the download.
func (e CatalogEntry) Meta() Meta {
	return Meta{
		Arch: e.Arch, Name: e.Name, Quantization: e.Quant, Params: e.Params,
		TrainCtx: e.Context, HasTemplate: true, FileSize: e.Size,
		Layers: e.layers, KVLayers: e.kvLayers, Embd: e.embd, Heads: e.heads, KVHeads: e.kvHeads,
		KeyLen: e.headDim, ValLen: e.headDim, Vocab: e.vocab,
	}
}

// URLPath is the download path below the Hugging Face base URL.
func (e CatalogEntry) URLPath() string {
	return "/" + e.Repo + "/resolve/main/" + e.File
}

// The catalog, smallest download first. It was written without access to
// Hugging Face itself: each Source is the exact download URL that several
// public projects use for that file (found by code search), checked against
// the publishers' model cards where the search had them; sizes are the
// published file sizes where one was found, rounded otherwise, and the real
// size and sha256 are taken from the server at pull time. Shapes come from
// each model's config.json (or its model card's architecture table) and
// only feed the memory estimate; they are meant to match what ReadMeta
// reports for the downloaded file (not checked: no file was downloaded). Hybrid models keep a KV cache only in
// their attention layers (kvLayers): Qwen3.5 every 4th layer, LFM2.5 6 of
// 16, Granite 4.0 H 4 of 40; Gemma 4's last layers reuse earlier caches.
//
// Where the facts come from, besides Source (looked up in December 2026):
// Qwen3.5 shapes from the architecture tables of fitmygpu.com and
// apxml.com (16Q/4KV or 8Q/2KV heads of 256, 8 or 6 attention layers);
// Gemma 4 from the config.json copies in Ollama v0.24.0's x/models/gemma4
// tests (35/42 layers, 20/18 of them KV-shared, head_dim 256 and
// global_head_dim 512, which llama.cpp writes as key_length); LFM2.5 from
// its model card (16 layers, 6 of them GQA, 32K context) and LFM2 1.2B
// config copies; Granite 4.0 H Micro and Micro, SmolLM3, Ministral 3 3B
// (Ministral3ForCausalLM) and gpt-oss-20b from config.json copies; Phi-4
// mini and Llama 3.2 as in natter's earlier catalog.
// granite4-micro's "granite" arch is what its GGUF listing names.
// Not confirmed, and best guesses: the KV heads of granite4-micro (8); the
// arch of ministral3-3b ("mistral3", the architecture llama.cpp added for
// Ministral 3); the size of gemma4-e2b (rounded from 2963 MiB); parameter
// counts given as round numbers.
var catalog = []CatalogEntry{
	{Name: "qwen3.5-0.8b", Description: "Qwen3.5 0.8B: tiny and fast, thinks by default; for machines under 8 GB",
		Repo: "unsloth/Qwen3.5-0.8B-GGUF", File: "Qwen3.5-0.8B-Q4_K_M.gguf",
		Arch: "qwen35", Params: 800_000_000, Quant: "Q4_K_M", Size: 532_517_120, Context: 262144, License: "Apache-2.0",
		Verified: true, Source: "https://huggingface.co/unsloth/Qwen3.5-0.8B-GGUF/resolve/main/Qwen3.5-0.8B-Q4_K_M.gguf",
		layers: 24, kvLayers: 6, embd: 1024, heads: 8, kvHeads: 2, headDim: 256, vocab: 248320},
	{Name: "lfm2.5-1.2b", Description: "LFM2.5 1.2B Instruct (Liquid AI): hybrid, very fast on CPU; quick answers, tools",
		Repo: "LiquidAI/LFM2.5-1.2B-Instruct-GGUF", File: "LFM2.5-1.2B-Instruct-Q4_K_M.gguf",
		Arch: "lfm2", Params: 1_170_000_000, Quant: "Q4_K_M", Size: 730_895_168, Context: 32768, License: "LFM Open License v1.0",
		Verified: true, Source: "https://huggingface.co/LiquidAI/LFM2.5-1.2B-Instruct-GGUF/resolve/main/LFM2.5-1.2B-Instruct-Q4_K_M.gguf",
		layers: 16, kvLayers: 6, embd: 2048, heads: 32, kvHeads: 8, headDim: 64, vocab: 65536},
	{Name: "llama3.2-1b", Description: "Llama 3.2 1B Instruct (Meta): small and well-known, plain chat",
		Repo: "bartowski/Llama-3.2-1B-Instruct-GGUF", File: "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
		Arch: "llama", Params: 1_240_000_000, Quant: "Q4_K_M", Size: 808_000_000, Context: 131072, License: "Llama 3.2 Community License",
		Verified: true, Source: "https://huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF/resolve/main/Llama-3.2-1B-Instruct-Q4_K_M.gguf",
		layers: 16, embd: 2048, heads: 32, kvHeads: 8, headDim: 64, vocab: 128256},
	{Name: "qwen3.5-2b", Description: "Qwen3.5 2B: good quality for little memory, thinks by default",
		Repo: "unsloth/Qwen3.5-2B-GGUF", File: "Qwen3.5-2B-Q4_K_M.gguf",
		Arch: "qwen35", Params: 2_000_000_000, Quant: "Q4_K_M", Size: 1_280_835_840, Context: 262144, License: "Apache-2.0",
		Verified: true, Source: "https://huggingface.co/unsloth/Qwen3.5-2B-GGUF/resolve/main/Qwen3.5-2B-Q4_K_M.gguf",
		layers: 24, kvLayers: 6, embd: 2048, heads: 8, kvHeads: 2, headDim: 256, vocab: 248320},
	{Name: "smollm3-3b", Description: "SmolLM3 3B (Hugging Face): fully open, reasoning on request, 64K context",
		Repo: "ggml-org/SmolLM3-3B-GGUF", File: "SmolLM3-Q4_K_M.gguf",
		Arch: "smollm3", Params: 3_080_000_000, Quant: "Q4_K_M", Size: 1_915_305_312, Context: 65536, License: "Apache-2.0",
		Verified: true, Source: "https://huggingface.co/ggml-org/SmolLM3-3B-GGUF/resolve/main/SmolLM3-Q4_K_M.gguf",
		layers: 36, embd: 2048, heads: 16, kvHeads: 4, headDim: 128, vocab: 128256},
	{Name: "granite4-h-micro", Description: "Granite 4.0 H Micro 3B (IBM): Mamba2 hybrid, small KV cache; long documents, tools",
		Repo: "ibm-granite/granite-4.0-h-micro-GGUF", File: "granite-4.0-h-micro-Q4_K_M.gguf",
		Arch: "granitehybrid", Params: 3_190_000_000, Quant: "Q4_K_M", Size: 1_942_564_512, Context: 131072, License: "Apache-2.0",
		Verified: true, Source: "https://huggingface.co/ibm-granite/granite-4.0-h-micro-GGUF/resolve/main/granite-4.0-h-micro-Q4_K_M.gguf",
		layers: 40, kvLayers: 4, embd: 2048, heads: 32, kvHeads: 8, headDim: 64, vocab: 100352},
	{Name: "llama3.2-3b", Description: "Llama 3.2 3B Instruct (Meta): solid general chat",
		Repo: "bartowski/Llama-3.2-3B-Instruct-GGUF", File: "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
		Arch: "llama", Params: 3_210_000_000, Quant: "Q4_K_M", Size: 2_020_000_000, Context: 131072, License: "Llama 3.2 Community License",
		Verified: true, Source: "https://huggingface.co/bartowski/Llama-3.2-3B-Instruct-GGUF/resolve/main/Llama-3.2-3B-Instruct-Q4_K_M.gguf",
		layers: 28, embd: 3072, heads: 24, kvHeads: 8, headDim: 128, vocab: 128256},
	{Name: "granite4-micro", Description: "Granite 4.0 Micro 3B (IBM): dense transformer; instructions, tools, business text",
		Repo: "ibm-granite/granite-4.0-micro-GGUF", File: "granite-4.0-micro-Q4_K_M.gguf",
		Arch: "granite", Params: 3_400_000_000, Quant: "Q4_K_M", Size: 2_099_502_528, Context: 131072, License: "Apache-2.0",
		Verified: true, Source: "https://huggingface.co/ibm-granite/granite-4.0-micro-GGUF/resolve/main/granite-4.0-micro-Q4_K_M.gguf",
		layers: 40, embd: 2560, heads: 40, kvHeads: 8, headDim: 64, vocab: 100352},
	{Name: "ministral3-3b", Description: "Ministral 3 3B Instruct (Mistral AI): multilingual, follows system prompts closely",
		Repo: "mistralai/Ministral-3-3B-Instruct-2512-GGUF", File: "Ministral-3-3B-Instruct-2512-Q4_K_M.gguf",
		Arch: "mistral3", Params: 3_400_000_000, Quant: "Q4_K_M", Size: 2_147_023_008, Context: 262144, License: "Apache-2.0",
		Verified: true, Source: "https://huggingface.co/mistralai/Ministral-3-3B-Instruct-2512-GGUF/resolve/main/Ministral-3-3B-Instruct-2512-Q4_K_M.gguf",
		layers: 26, embd: 3072, heads: 32, kvHeads: 8, headDim: 128, vocab: 131072},
	{Name: "phi4-mini", Description: "Phi-4 mini instruct 3.8B (Microsoft): reasoning and maths for its size",
		Repo: "unsloth/Phi-4-mini-instruct-GGUF", File: "Phi-4-mini-instruct-Q4_K_M.gguf",
		Arch: "phi3", Params: 3_840_000_000, Quant: "Q4_K_M", Size: 2_491_874_272, Context: 131072, License: "MIT",
		Verified: true, Source: "https://huggingface.co/unsloth/Phi-4-mini-instruct-GGUF/resolve/main/Phi-4-mini-instruct-Q4_K_M.gguf",
		layers: 32, embd: 3072, heads: 24, kvHeads: 8, headDim: 128, vocab: 200064},
	{Name: "qwen3.5-4b", Description: "Qwen3.5 4B: the best all-rounder for 8-16 GB, thinks by default, 262K context",
		Repo: "unsloth/Qwen3.5-4B-GGUF", File: "Qwen3.5-4B-Q4_K_M.gguf",
		Arch: "qwen35", Params: 4_000_000_000, Quant: "Q4_K_M", Size: 2_740_938_080, Context: 262144, License: "Apache-2.0",
		Verified: true, Source: "https://huggingface.co/unsloth/Qwen3.5-4B-GGUF/resolve/main/Qwen3.5-4B-Q4_K_M.gguf",
		layers: 32, kvLayers: 8, embd: 2560, heads: 16, kvHeads: 4, headDim: 256, vocab: 248320},
	{Name: "gemma4-e2b", Description: "Gemma 4 E2B (Google): 2B effective, strong multilingual chat for small machines",
		Repo: "unsloth/gemma-4-E2B-it-GGUF", File: "gemma-4-E2B-it-Q4_K_M.gguf",
		Arch: "gemma4", Params: 5_100_000_000, Quant: "Q4_K_M", Size: 3_110_000_000, Context: 131072, License: "Apache-2.0",
		Verified: true, Source: "https://huggingface.co/unsloth/gemma-4-E2B-it-GGUF/resolve/main/gemma-4-E2B-it-Q4_K_M.gguf",
		layers: 35, kvLayers: 15, embd: 1536, heads: 8, kvHeads: 1, headDim: 512, vocab: 262144},
	{Name: "gemma4-e4b", Description: "Gemma 4 E4B (Google): 4B effective, better writing and reasoning than E2B",
		Repo: "unsloth/gemma-4-E4B-it-GGUF", File: "gemma-4-E4B-it-Q4_K_M.gguf",
		Arch: "gemma4", Params: 8_000_000_000, Quant: "Q4_K_M", Size: 4_977_169_568, Context: 131072, License: "Apache-2.0",
		Verified: true, Source: "https://huggingface.co/unsloth/gemma-4-E4B-it-GGUF/resolve/main/gemma-4-E4B-it-Q4_K_M.gguf",
		layers: 42, kvLayers: 24, embd: 2560, heads: 8, kvHeads: 2, headDim: 512, vocab: 262144},
	{Name: "qwen3.5-9b", Description: "Qwen3.5 9B: the strongest small model here, for 16 GB and up",
		Repo: "unsloth/Qwen3.5-9B-GGUF", File: "Qwen3.5-9B-Q4_K_M.gguf",
		Arch: "qwen35", Params: 8_950_000_000, Quant: "Q4_K_M", Size: 5_680_522_464, Context: 262144, License: "Apache-2.0",
		Verified: true, Source: "https://huggingface.co/unsloth/Qwen3.5-9B-GGUF/resolve/main/Qwen3.5-9B-Q4_K_M.gguf",
		layers: 32, kvLayers: 8, embd: 4096, heads: 16, kvHeads: 4, headDim: 256, vocab: 248320},
	{Name: "gpt-oss-20b", Description: "gpt-oss 20B (OpenAI): MoE with 3.6B active, reasoning; for 32 GB machines",
		Repo: "unsloth/gpt-oss-20b-GGUF", File: "gpt-oss-20b-Q4_K_M.gguf",
		Arch: "gpt-oss", Params: 20_900_000_000, Quant: "Q4_K_M", Size: 11_624_759_488, Context: 131072, License: "Apache-2.0",
		Verified: true, Source: "https://huggingface.co/unsloth/gpt-oss-20b-GGUF/resolve/main/gpt-oss-20b-Q4_K_M.gguf",
		layers: 24, embd: 2880, heads: 64, kvHeads: 8, headDim: 64, vocab: 201088},
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
	Estimate    Estimate `json:"estimate"`
	Fit         Fit      `json:"fit"`
	Downloaded  string   `json:"downloaded,omitempty"` // local path when already in the models folder
	Recommended bool     `json:"recommended"`          // the one Recommend picks for this machine
}

// CatalogWithFit returns the catalog with a fit mark for each entry at ctx
// tokens (0: the default context) and the recommendation for this machine,
// for `natter models --catalog` and the chat's first-run screen.
func CatalogWithFit(ctx int) []CatalogFit {
	avail, err := AvailableMemory()
	if err != nil {
		avail = 0
	}
	rec := Recommend(totalMemory(), avail)
	dir := ModelsDir()
	var out []CatalogFit
	for _, e := range catalog {
		m := e.Meta()
		est := EstimateMemory(&m, m.ContextFor(ctx))
		cf := CatalogFit{CatalogEntry: e, Estimate: est, Fit: FitFor(est.Total, avail), Recommended: e.Name == rec}
		if dir != "" {
			if p := joinInside(dir, e.File); p != "" && isRegular(p) {
				cf.Downloaded = p
			}
		}
		out = append(out, cf)
	}
	return out
}

// RecommendHere is Recommend for this machine's memory now.
func RecommendHere() string {
	avail, err := AvailableMemory()
	if err != nil {
		avail = 0
	}
	return Recommend(totalMemory(), avail)
}

// recommendTiers picks by installed memory, largest first. The bounds sit
// about 10% under the nominal sizes (8, 16, 32 GB) because MemTotal leaves
// out what the firmware and an integrated GPU reserve.
var recommendTiers = []struct {
	minTotal uint64
	name     string
}{
	{28_800_000_000, "gpt-oss-20b"}, // 32 GB and up
	{14_400_000_000, "qwen3.5-9b"},  // 16-32 GB
	{7_200_000_000, "qwen3.5-4b"},   // 8-16 GB
	{5_400_000_000, "gemma4-e2b"},   // 6-8 GB
	{0, "qwen3.5-0.8b"},             // less
}

// Recommend names the catalog model to suggest on a machine with total
// bytes of memory, avail of them free now (0: unknown): the tier its
// memory calls for, stepped down while that model would not fit in free
// memory at the default context. Nothing known at all (no /proc/meminfo)
// gives the 8-16 GB choice.
func Recommend(total, avail uint64) string {
	if total == 0 {
		total = avail
	}
	if total == 0 {
		return "qwen3.5-4b"
	}
	i := 0
	for i < len(recommendTiers)-1 && total < recommendTiers[i].minTotal {
		i++
	}
	for ; i < len(recommendTiers)-1; i++ {
		e, ok := CatalogLookup(recommendTiers[i].name)
		if !ok {
			continue
		}
		m := e.Meta()
		if FitFor(EstimateMemory(&m, 0).Total, avail) != FitNo {
			break
		}
	}
	return recommendTiers[i].name
}
