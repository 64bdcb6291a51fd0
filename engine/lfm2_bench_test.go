package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/prompts"
)

// BenchmarkLlamaHybridTurnTTFT: time to first token of turns 2 and 10 of a
// chat on a hybrid (short convolution + attention) lfm2 model through
// llama.cpp, with the turn checkpoints and without (then every turn whose
// prompt leaves the cache inside the recurrent state reads the whole chat).
// The model is synth.LFM2Bench350M(Q8_0); NATTER_BENCH_LFM2 names another
// lfm2 (or other hybrid) file.
func BenchmarkLlamaHybridTurnTTFT(b *testing.B) {
	path := os.Getenv("NATTER_BENCH_LFM2")
	if path == "" {
		path = filepath.Join(b.TempDir(), "lfm2.gguf")
		if err := synth.LFM2Bench350M(synth.Q8_0).Write(path); err != nil {
			b.Fatal(err)
		}
	}
	for _, ckpt := range []bool{true, false} {
		name := "checkpoints"
		if !ckpt {
			name = "no-checkpoints"
		}
		b.Run(name, func(b *testing.B) {
			e, err := Load(Options{ModelPath: path, ContextSize: 8192, NoSnapshots: !ckpt})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			var t2, t10 float64
			var read2, read10 int
			for b.Loop() {
				e.Reset()
				var msgs []prompts.Message
				for turn := 1; turn <= 10; turn++ {
					msgs = append(msgs, prompts.Message{Role: prompts.RoleUser, Content: longPrompt(30)})
					ch, err := e.Generate(context.Background(), api.Request{Messages: msgs, MaxTokens: 48, IgnoreEOS: true, Sampling: greedy()})
					if err != nil {
						b.Fatal(err)
					}
					var reply string
					var st *api.Stats
					for ev := range ch {
						switch ev.Kind {
						case api.EventError:
							b.Fatal(ev.Err)
						case api.EventText:
							reply += ev.Text
						case api.EventDone:
							st = ev.Stats
						}
					}
					switch turn {
					case 2:
						t2 += st.TTFT.Seconds()
						read2 += st.PromptTokens - st.CachedTokens
					case 10:
						t10 += st.TTFT.Seconds()
						read10 += st.PromptTokens - st.CachedTokens
					}
					msgs = append(msgs, prompts.Message{Role: prompts.RoleAssistant, Content: reply})
				}
			}
			b.ReportMetric(t2/float64(b.N)*1000, "ms-ttft-turn2")
			b.ReportMetric(t10/float64(b.N)*1000, "ms-ttft-turn10")
			b.ReportMetric(float64(read2)/float64(b.N), "read-turn2")
			b.ReportMetric(float64(read10)/float64(b.N), "read-turn10")
		})
	}
}
