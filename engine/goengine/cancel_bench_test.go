package goengine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"natter/engine/gguf/synth"
	"natter/engine/goengine"
)

// benchModels: gemma4 is the ~0.5B Q8_0 benchmark model; qwen35 is the
// test's 8-layer one, as Ollama's chunked Gated DeltaNet prompt code takes
// minutes for a 512-token batch of the ~0.5B one on the 2-core test
// machine (6m23s measured). NATTER_BENCH_HYBRID and NATTER_BENCH_GEMMA4
// name other files.
func benchModels(b *testing.B) map[string]string {
	b.Helper()
	paths := map[string]string{"qwen35": os.Getenv("NATTER_BENCH_HYBRID"), "gemma4": os.Getenv("NATTER_BENCH_GEMMA4")}
	if paths["qwen35"] == "" {
		paths["qwen35"] = cancelModels(b)["qwen35"]
	}
	if paths["gemma4"] == "" {
		paths["gemma4"] = filepath.Join(b.TempDir(), "gemma4-bench.gguf")
		if err := synth.Gemma4Bench(synth.Q8_0).Write(paths["gemma4"]); err != nil {
			b.Fatal(err)
		}
	}
	return paths
}

// BenchmarkCancelLatency: how long a Prefill of two 512-token batches
// takes to return after its context is cancelled a quarter of the way into
// the first, with the in-graph cancel ("in-graph") and with cancellation
// between batches only, as before ("between-batches"), beside the time of
// one batch. Reported: ms-cancel (cancel to return), ms-batch. One thread:
// on the shared 2-core test machine two threads' barriers stall whenever
// the host takes a core, which swamps both figures.
func BenchmarkCancelLatency(b *testing.B) {
	prompt := cancelPrompt(1024)
	models := benchModels(b)
	for _, name := range []string{"qwen35", "gemma4"} {
		path := models[name]
		for _, inGraph := range []bool{true, false} {
			mode := "in-graph"
			if !inGraph {
				mode = "between-batches"
			}
			b.Run(name+"/"+mode, func(b *testing.B) {
				e, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 2048, BatchSize: 512, Threads: 1, FlashAttention: true})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				c0 := goengine.CancelChecks(e)
				t0 := time.Now()
				if _, _, err := e.Prefill(context.Background(), prompt); err != nil {
					b.Fatal(err)
				}
				batch := time.Since(t0) / 2
				nodes := (goengine.CancelChecks(e) - c0) / 2
				if !inGraph {
					goengine.WithoutInGraphCancel(e)
				}
				var total time.Duration
				for b.Loop() {
					if err := e.Reset(); err != nil {
						b.Fatal(err)
					}
					ctx, cancel := context.WithCancel(context.Background())
					cancelled := make(chan time.Time, 1)
					start := goengine.CancelChecks(e)
					go func() {
						// A quarter of the first batch: by the in-graph
						// flag's count of nodes, or without it by time.
						if inGraph {
							for goengine.CancelChecks(e) < start+nodes/4 {
								time.Sleep(time.Millisecond)
							}
						} else {
							time.Sleep(batch / 4)
						}
						cancelled <- time.Now()
						cancel()
					}()
					_, _, err := e.Prefill(ctx, prompt)
					end := time.Now()
					at := <-cancelled
					if !errors.Is(err, context.Canceled) {
						b.Fatalf("a cancelled prefill returned %v", err)
					}
					total += end.Sub(at)
				}
				b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-cancel")
				b.ReportMetric(float64(batch.Microseconds())/1000, "ms-batch")
			})
		}
	}
}

// BenchmarkPrefillCancelCost is pp512 with a cancellable context, with the
// in-graph cancel installed and without: the callback's cost per node.
func BenchmarkPrefillCancelCost(b *testing.B) {
	prompt := cancelPrompt(512)
	models := benchModels(b)
	for _, name := range []string{"qwen35", "gemma4"} {
		path := models[name]
		for _, inGraph := range []bool{true, false} {
			mode := "in-graph"
			if !inGraph {
				mode = "between-batches"
			}
			b.Run(name+"/"+mode, func(b *testing.B) {
				e, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 1024, Threads: 1, FlashAttention: true})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				if !inGraph {
					goengine.WithoutInGraphCancel(e)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				var d time.Duration
				for b.Loop() {
					if err := e.Reset(); err != nil {
						b.Fatal(err)
					}
					t0 := time.Now()
					if _, _, err := e.Prefill(ctx, prompt); err != nil {
						b.Fatal(err)
					}
					d += time.Since(t0)
				}
				b.ReportMetric(float64(len(prompt)*b.N)/d.Seconds(), "tok/s")
			})
		}
	}
}
