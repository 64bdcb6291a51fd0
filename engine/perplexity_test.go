package engine

import (
	"context"
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/api"
)

// The counts follow llama-perplexity's scheme, the estimate is a real
// probability, a text too short for two chunks is refused, a cancel stops
// it, and the cache is empty afterwards.
func TestPerplexityScheme(t *testing.T) {
	e := load(t, tinySpec(), 256)
	text, err := os.ReadFile("testdata/perplexity.txt")
	if err != nil {
		t.Fatal(err)
	}
	var chunks []int
	res, err := e.Perplexity(context.Background(), string(text), 64, func(done, total int, ppl float64) {
		chunks = append(chunks, done)
	})
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := e.model.tokenize(string(text), true, false)
	if res.Tokens != len(toks) || res.Chunks != len(toks)/64 || res.Scored != res.Chunks*(64-32-1) || len(chunks) != res.Chunks {
		t.Fatalf("%+v (tokens %d, progress %v)", res, len(toks), chunks)
	}
	// A random-weight model over a 512-token vocabulary: near uniform.
	if !(res.PPL > 1 && res.PPL < 4*float64(e.VocabSize())) || res.StdErr <= 0 || math.IsNaN(res.PPL) {
		t.Fatalf("PPL %v ± %v", res.PPL, res.StdErr)
	}
	if len(e.CachedTokens()) != 0 {
		t.Fatalf("the cache holds %d tokens after perplexity", len(e.CachedTokens()))
	}
	if _, err := e.Perplexity(context.Background(), "Once upon a time", 64, nil); !errors.Is(err, ErrTooShort) {
		t.Fatalf("short text: %v", err)
	}
	if _, err := e.Perplexity(context.Background(), string(text), 1024, nil); err == nil || !strings.Contains(err.Error(), "do not fit") {
		t.Fatalf("chunk larger than the context: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = e.Perplexity(ctx, string(text), 64, func(done, _ int, _ float64) {
		if done == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// And the engine carries on.
	run(t, e, api.Request{Raw: true, Prompt: "hello", Sampling: greedy(), MaxTokens: 3})
}

// A trained model finds its own kind of text likelier than the same words
// shuffled, and the figure equals upstream llama-perplexity's on the same
// file (see the fixture's command).
func TestPerplexityStories260K(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "models", "stories260K.gguf")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("DID NOT RUN: %s is absent", path)
	}
	// Flash attention on, as upstream's default (auto) runs it on CPU: the
	// figures below are upstream's with it.
	e, err := Load(Options{ModelPath: path, ContextSize: 256, Threads: 1, FlashAttn: "on"})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	text, err := os.ReadFile("testdata/perplexity.txt")
	if err != nil {
		t.Fatal(err)
	}
	story, err := e.Perplexity(context.Background(), string(text), 128, nil)
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Fields(string(text))
	rand.New(rand.NewSource(1)).Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
	shuffled, err := e.Perplexity(context.Background(), strings.Join(words, " "), 128, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !(story.PPL*2 < shuffled.PPL) {
		t.Fatalf("stories %.4f, shuffled %.4f: the model should find the stories far likelier", story.PPL, shuffled.PPL)
	}
	t.Logf("stories PPL %.4f ± %.5f, shuffled %.4f", story.PPL, story.StdErr, shuffled.PPL)
	// Upstream prints 4 and 5 decimals.
	if math.Abs(story.PPL-upstreamStoriesPPL) > 1e-4 || math.Abs(story.StdErr-upstreamStoriesStdErr) > 1e-5 {
		t.Fatalf("PPL %.5f ± %.6f, upstream llama-perplexity %.4f ± %.5f", story.PPL, story.StdErr, upstreamStoriesPPL, upstreamStoriesStdErr)
	}

	// Without flash attention (natter's auto at this context), as upstream's -fa off.
	off, err := Load(Options{ModelPath: path, ContextSize: 256, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	r, err := off.Perplexity(context.Background(), string(text), 128, nil)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r.PPL-upstreamStoriesPPLNoFA) > 1e-4 || math.Abs(r.StdErr-upstreamStoriesStdErrNoFA) > 1e-5 {
		t.Fatalf("without flash attention PPL %.5f ± %.6f, upstream llama-perplexity -fa off %.4f ± %.5f", r.PPL, r.StdErr, upstreamStoriesPPLNoFA, upstreamStoriesStdErrNoFA)
	}
}

// upstreamStoriesPPL is upstream llama.cpp v0.5.0's (de3ff81, built from
// node-llama-cpp@3.22.1's bundle outside the repo) "Final estimate" for
// stories260K.gguf on testdata/perplexity.txt with chunks of 128, from
//
//	llama-perplexity -m stories260K.gguf -f engine/testdata/perplexity.txt -c 128 -t 1
//
// (it ran 16 chunks per batch; natter runs one: the figure is the same).
const (
	upstreamStoriesPPL    = 3.4784
	upstreamStoriesStdErr = 0.10772
	// The same with -fa off.
	upstreamStoriesPPLNoFA    = 3.4782
	upstreamStoriesStdErrNoFA = 0.10771
)
