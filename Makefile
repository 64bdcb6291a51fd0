# natter build. llama.cpp and ggml come from the ollama Go module (compiled by cgo);
# our binding in engine/ compiles against llama.h from the same module.
GO        ?= go
BIN       := bin/natter
OLLAMA_DIR = $(shell $(GO) list -m -f '{{.Dir}}' github.com/ollama/ollama)

# Without SIMD flags the ggml CPU kernels fall back to scalar code (~8x slower prefill).
ifeq ($(PORTABLE),1)
OPTFLAGS := -O3
else
OPTFLAGS := -O3 -march=native
endif

export CGO_ENABLED  := 1
export CGO_CFLAGS   := $(OPTFLAGS)
export CGO_CXXFLAGS := $(OPTFLAGS)
GGML_DIR   = $(OLLAMA_DIR)/ml/backend/ggml/ggml
# The ggml src paths are for engine/ggmlamx, which builds ggml's AMX kernels;
# tools/mtmd is for engine/mtmdlib (images and audio). GGML_USE_CPU_REPACK turns on the repacked Q4_0/Q4_K/IQ4_NL
# kernels that upstream llama.cpp builds by default (much faster on AVX2).
export CGO_CPPFLAGS  = -I$(OLLAMA_DIR)/llama/llama.cpp/include -I$(GGML_DIR)/include -I$(GGML_DIR)/src -I$(GGML_DIR)/src/ggml-cpu -I$(OLLAMA_DIR)/llama/llama.cpp/tools/mtmd -DGGML_USE_CPU_REPACK

# Models generated for benchmarks live here (git-ignored).
BENCH_DIR := testdata/bench

.PHONY: all build run test bench fuzz vet fmt clean deps

all: build

deps:
	$(GO) mod download

build: deps
	$(GO) build -trimpath -o $(BIN) .

run: build
	./$(BIN) $(ARGS)

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

# The ~0.4B-parameter models are generated once into $(BENCH_DIR) (git-ignored).
bench: build
	mkdir -p $(BENCH_DIR)
	$(GO) run ./engine/gguf/synth/synthgen -type q8_0 -o $(BENCH_DIR)/q8_0.gguf
	$(GO) run ./engine/gguf/synth/synthgen -type q4_0 -o $(BENCH_DIR)/q4_0.gguf
	./$(BIN) bench -m $(BENCH_DIR)/q8_0.gguf -p 512 -n 128 -r 3
	./$(BIN) bench -m $(BENCH_DIR)/q4_0.gguf -p 512 -n 128 -r 3
	NATTER_BENCH_MODEL=$(BENCH_DIR)/q8_0.gguf $(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./engine

# Each fuzzer for FUZZTIME (their seed corpora also run in make test).
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s ./engine/gguf
	$(GO) test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME) ./prompts/jinja
	$(GO) test -run '^$$' -fuzz '^FuzzParsePrompt$$' -fuzztime $(FUZZTIME) ./prompts
	$(GO) test -run '^$$' -fuzz '^FuzzSearchQuery$$' -fuzztime $(FUZZTIME) ./history
	$(GO) test -run '^$$' -fuzz '^FuzzStreamDoc$$' -fuzztime $(FUZZTIME) ./ui
	$(GO) test -run '^$$' -fuzz '^FuzzPullSpec$$' -fuzztime $(FUZZTIME) ./models

vet:
	$(GO) vet ./...

fmt:
	gofmt -l -w .

clean:
	rm -rf bin
