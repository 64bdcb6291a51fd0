package goengine_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"natter/engine/gguf/synth"
	"natter/engine/goengine"
)

// Models big enough that a prompt batch of 2,000 tokens is a long graph
// (about a second on one thread): a hybrid qwen35 (Gated DeltaNet + full
// attention, snapshots) and a gemma4 (sliding-window and full attention,
// shared KV), each 8 layers of 512, Q8_0.
func cancelModels(t testing.TB) map[string]string {
	t.Helper()
	dir := t.TempDir()
	q := synth.Qwen35Tiny()
	q.NLayer, q.NEmbd, q.NFF, q.HeadDim, q.RopeDim = 8, 512, 1536, 64, 16
	q.RopeSections = [4]int{3, 3, 2, 0}
	q.LinKeyHeads, q.LinValueHeads, q.LinHeadDim = 4, 8, 64
	q.NHead, q.NHeadKV, q.Type, q.WeightStd, q.Name = 8, 2, synth.Q8_0, 0.1, "synth-qwen35-medium"
	g := synth.Gemma4Tiny()
	g.NEmbd, g.NFF, g.NHead, g.HeadDimSWA, g.HeadDimFull = 512, 1536, 8, 64, 128
	g.SlidingWindow, g.NEmbdPerLayer, g.Type, g.WeightStd, g.Name = 256, 64, synth.Q8_0, 0.1, "synth-gemma4-medium"
	paths := map[string]string{"qwen35": filepath.Join(dir, "qwen35.gguf"), "gemma4": filepath.Join(dir, "gemma4.gguf")}
	if err := q.Write(paths["qwen35"]); err != nil {
		t.Fatal(err)
	}
	if err := g.Write(paths["gemma4"]); err != nil {
		t.Fatal(err)
	}
	return paths
}

// cancelPrompt is n token ids of text.
func cancelPrompt(n int) []int32 {
	p := []int32{1}
	for i := 1; i < n; i++ {
		p = append(p, int32(5+(i*37)%800))
	}
	return p
}

// cancelBatch is the prompt batch of each model: the whole long prompt in
// one for gemma4; qwen35 keeps the default, as Ollama's graph of a Gated
// DeltaNet prompt outgrows its context's node pool (a ggml abort) at about
// 2,000 tokens on this model.
var cancelBatch = map[string]int{"gemma4": 2560, "qwen35": 512}

// loadBig loads on one thread (one core stays free for the goroutine that
// cancels).
func loadBig(t testing.TB, path string, batch int) *goengine.Engine {
	t.Helper()
	e, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 4096, BatchSize: batch, Threads: 1, FlashAttention: true})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// cancelWhenComputing cancels once the engine's prompt graph has run past
// node `after` (the callback's count of reads of the flag), or when done is
// closed.
func cancelWhenComputing(e *goengine.Engine, cancel func(), after int64, done <-chan struct{}) {
	go func() {
		defer cancel()
		for goengine.CancelChecks(e) < after {
			select {
			case <-done:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
}

// TestCancelStopsPrefillInsideBatch: cancelling a 2,100-token prompt half
// way through the graph of its first batch (all of it on gemma4, 512
// tokens on qwen35) stops that graph there: the callback stopped it before
// its last node and the batch is not cached. The same request sent again
// gives exactly the greedy tokens of a fresh engine that never saw the
// cancel, from the same logits — a hybrid model going back to its snapshot
// of the earlier prompt, a causal one keeping its earlier batch.
func TestCancelStopsPrefillInsideBatch(t *testing.T) {
	head := cancelPrompt(100)
	long := cancelPrompt(2200)
	for name, path := range cancelModels(t) {
		t.Run(name, func(t *testing.T) {
			batch := min(cancelBatch[name], len(long)-len(head))
			// The fresh engine reads the same batches, so its rounding is
			// the same; its first batch after head gives the graph's size.
			fresh := loadBig(t, path, cancelBatch[name])
			greedy(t, fresh, head, 4)
			c0 := goengine.CancelChecks(fresh)
			if c0 < 0 {
				t.Fatal("the engine has no in-graph cancel (Ollama's backend fields were not found)")
			}
			logits, _, err := fresh.Prefill(context.Background(), long[:len(head)+batch])
			if err != nil {
				t.Fatal(err)
			}
			nodes := goengine.CancelChecks(fresh) - c0
			if len(head)+batch < len(long) {
				if logits, _, err = fresh.Prefill(context.Background(), long); err != nil {
					t.Fatal(err)
				}
			}
			wantLogits := slices.Clone(logits)
			want := greedyAfter(t, fresh, logits, 8)
			fresh.Close()

			e := loadBig(t, path, cancelBatch[name])
			defer e.Close()
			greedy(t, e, head, 4)
			before, stops := goengine.CancelChecks(e), goengine.CancelStops(e)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			cancelWhenComputing(e, cancel, before+nodes/2, done)
			_, _, err = e.Prefill(ctx, long)
			close(done)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("a cancelled prefill returned %v, want context.Canceled", err)
			}
			if got := goengine.CancelStops(e) - stops; got != 1 {
				t.Fatalf("the callback stopped %d graphs, want 1", got)
			}
			ran := goengine.CancelChecks(e) - before
			cached := len(e.CachedTokens())
			t.Logf("stopped after %d of the batch graph's %d nodes; %d of %d tokens cached", ran, nodes, cached, len(long))
			if ran >= nodes {
				t.Fatalf("the graph ran %d nodes of %d before it stopped", ran, nodes)
			}
			if wantCached := map[string]int{"qwen35": 0, "gemma4": len(head)}[name]; cached != wantCached {
				t.Errorf("%d tokens cached after the cancel, want %d", cached, wantCached)
			}

			// The same request again: it reads what the cancel dropped.
			logits, reused, err := e.Prefill(context.Background(), long)
			if err != nil {
				t.Fatal(err)
			}
			if reused != len(head) {
				t.Errorf("the request after the cancel reused %d tokens, want the %d of the earlier prompt", reused, len(head))
			}
			// The same batches on one thread: the same logits to the bit,
			// which a stale cell or state would move even where, as on
			// qwen35 here, the greedy tokens hang on the last few tokens.
			if !slices.Equal(logits, wantLogits) {
				d, scale := maxDiff(logits, wantLogits)
				t.Errorf("the logits after the cancel differ from a fresh engine's by up to %g (largest |logit| %g)", d, scale)
			}
			if got := greedyAfter(t, e, logits, 8); !slices.Equal(got, want) {
				t.Fatalf("after a cancelled prefill %v, fresh engine %v", got, want)
			}
		})
	}
}

// greedyAfter generates n tokens from a prefill's logits.
func greedyAfter(t testing.TB, e *goengine.Engine, logits []float32, n int) []int32 {
	t.Helper()
	s := goengine.NewSampler(0, 0, 0, 0, 1)
	var out []int32
	for range n {
		tok := s.Sample(logits)
		out = append(out, tok)
		var err error
		if logits, err = e.Decode(tok); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// A qwen35 prompt longer than 2,048 tokens with a big --batch: Ollama's
// graph for one such batch overflows its node pool and aborts the process
// (ggml_new_object), so the engine caps the batch; the prompt goes through.
func TestQwen35LargeBatchDoesNotAbort(t *testing.T) {
	if testing.Short() {
		t.Skip("a 2,200-token prefill")
	}
	e := loadBig(t, cancelModels(t)["qwen35"], 2560)
	defer e.Close()
	logits, _, err := e.Prefill(context.Background(), cancelPrompt(2200))
	if err != nil || len(logits) == 0 {
		t.Fatalf("prefill: %v (%d logits)", err, len(logits))
	}
	for _, x := range logits {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t.Fatal("non-finite logits")
		}
	}
}
