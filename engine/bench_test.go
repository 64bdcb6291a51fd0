package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/media"
	"natter/prompts"
)

// Benchmarks run on a generated model; NATTER_BENCH_MODEL points them at
// another file (make bench passes the ~0.4B Q8_0 one).
func benchEngine(b *testing.B, ctx int) *Engine {
	b.Helper()
	path := os.Getenv("NATTER_BENCH_MODEL")
	if path == "" {
		path = synthModel(b, mediumSpec())
	}
	e, err := Load(Options{ModelPath: path, ContextSize: ctx})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

func benchRun(b *testing.B, e *Engine, req api.Request) *api.Stats {
	b.Helper()
	ch, err := e.Generate(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	var st *api.Stats
	for ev := range ch {
		if ev.Kind == api.EventError {
			b.Fatal(ev.Err)
		}
		if ev.Kind == api.EventDone {
			st = ev.Stats
		}
	}
	return st
}

func randomTokens(n int) []Token {
	toks := make([]Token, n)
	for i := range toks {
		toks[i] = Token(synth.TokFirstText + (i*7919)%400)
	}
	return toks
}

// BenchmarkPrefill512 is llama-bench's pp512 through the engine.
func BenchmarkPrefill512(b *testing.B) {
	e := benchEngine(b, 1024)
	req := api.Request{Raw: true, Tokens: randomTokens(512), MaxTokens: 1, IgnoreEOS: true, Sampling: greedy()}
	var tps float64
	for b.Loop() {
		e.Reset()
		tps += benchRun(b, e, req).PrefillTPS
	}
	b.ReportMetric(tps/float64(b.N), "tok/s")
}

// BenchmarkDecode128 is llama-bench's tg128 through the engine (sampling included).
func BenchmarkDecode128(b *testing.B) {
	e := benchEngine(b, 1024)
	req := api.Request{Raw: true, Tokens: randomTokens(1), MaxTokens: 129, IgnoreEOS: true, Sampling: greedy()}
	var tps float64
	for b.Loop() {
		e.Reset()
		tps += benchRun(b, e, req).DecodeTPS
	}
	b.ReportMetric(tps/float64(b.N), "tok/s")
}

// conversation builds a chat of about n prompt tokens.
func conversation(n int) []prompts.Message {
	msgs := []prompts.Message{{Role: prompts.RoleSystem, Content: "You are a helpful assistant."}}
	for i := 0; i < n/110; i++ {
		msgs = append(msgs,
			prompts.Message{Role: prompts.RoleUser, Content: longPrompt(50)},
			prompts.Message{Role: prompts.RoleAssistant, Content: longPrompt(50)})
	}
	return append(msgs, prompts.Message{Role: prompts.RoleUser, Content: "and then?"})
}

// BenchmarkFollowUpTTFT: time to first token of a follow-up turn in a
// ~2,000-token chat, with the KV prefix reused (warm) and without (cold).
func BenchmarkFollowUpTTFT(b *testing.B) {
	for _, warm := range []bool{true, false} {
		name := "cold"
		if warm {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			e := benchEngine(b, 4096)
			msgs := conversation(2000)
			req := api.Request{Messages: msgs, MaxTokens: 1, Sampling: greedy()}
			benchRun(b, e, req)
			var ttft float64
			for b.Loop() {
				if !warm {
					e.Reset()
				}
				st := benchRun(b, e, req)
				ttft += st.TTFT.Seconds()
			}
			b.ReportMetric(ttft/float64(b.N)*1000, "ms-ttft")
		})
	}
}

// BenchmarkResumeTTFT: first reply after resuming a saved ~2,000-token chat,
// restoring the saved KV state versus re-processing the history.
func BenchmarkResumeTTFT(b *testing.B) {
	e := benchEngine(b, 4096)
	msgs := conversation(2000)
	benchRun(b, e, api.Request{Messages: msgs, MaxTokens: 1, Sampling: greedy()})
	toks, state, err := e.SaveState()
	if err != nil {
		b.Fatal(err)
	}
	next := append(append([]prompts.Message(nil), msgs...), prompts.Message{Role: prompts.RoleAssistant, Content: "ok"}, prompts.Message{Role: prompts.RoleUser, Content: "more please"})
	req := api.Request{Messages: next, MaxTokens: 1, Sampling: greedy()}
	b.Run("restore", func(b *testing.B) {
		var ttft float64
		for b.Loop() {
			t0 := time.Now() // the restore counts toward the first token
			if err := e.LoadState(toks, state); err != nil {
				b.Fatal(err)
			}
			restore := time.Since(t0)
			st := benchRun(b, e, req)
			ttft += (restore + st.TTFT).Seconds()
		}
		b.ReportMetric(ttft/float64(b.N)*1000, "ms-ttft")
	})
	b.Run("reprocess", func(b *testing.B) {
		var ttft float64
		for b.Loop() {
			e.Reset()
			st := benchRun(b, e, req)
			ttft += st.TTFT.Seconds()
		}
		b.ReportMetric(ttft/float64(b.N)*1000, "ms-ttft")
	})
}

// BenchmarkHybridTurnTTFT: time to first token of turns 2 and 10 of a chat
// on a hybrid (Gated DeltaNet + attention) qwen35 model on the Go engine,
// with the turn snapshots and without (what a runner that cannot roll back
// recurrent state pays). NATTER_BENCH_HYBRID names another qwen35 file.
func BenchmarkHybridTurnTTFT(b *testing.B) {
	path := os.Getenv("NATTER_BENCH_HYBRID")
	if path == "" {
		path = filepath.Join(b.TempDir(), "qwen35.gguf")
		s := synth.Qwen35Tiny()
		s.NLayer, s.NEmbd, s.NFF, s.HeadDim, s.RopeDim = 8, 512, 1536, 64, 16
		s.RopeSections = [4]int{3, 3, 2, 0}
		s.LinKeyHeads, s.LinValueHeads, s.LinHeadDim = 4, 8, 64
		s.NHead, s.NHeadKV, s.Type, s.WeightStd, s.Name = 8, 2, synth.Q8_0, 0, "synth-qwen35-medium"
		if err := s.Write(path); err != nil {
			b.Fatal(err)
		}
	}
	for _, snap := range []bool{true, false} {
		name := "snapshots"
		if !snap {
			name = "no-snapshots"
		}
		b.Run(name, func(b *testing.B) {
			g, err := LoadGo(Options{ModelPath: path, ContextSize: 8192, NoSnapshots: !snap})
			if err != nil {
				b.Fatal(err)
			}
			defer g.Close()
			var t2, t10 float64
			for b.Loop() {
				g.Reset()
				var msgs []prompts.Message
				for turn := 1; turn <= 10; turn++ {
					msgs = append(msgs, prompts.Message{Role: prompts.RoleUser, Content: longPrompt(30)})
					ch, err := g.Generate(context.Background(), api.Request{Messages: msgs, MaxTokens: 48, IgnoreEOS: true, Sampling: greedy()})
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
					case 10:
						t10 += st.TTFT.Seconds()
					}
					msgs = append(msgs, prompts.Message{Role: prompts.RoleAssistant, Content: reply})
				}
			}
			b.ReportMetric(t2/float64(b.N)*1000, "ms-ttft-turn2")
			b.ReportMetric(t10/float64(b.N)*1000, "ms-ttft-turn10")
		})
	}
}

// BenchmarkGrammarDecode is decode speed free and under grammars: an open
// string grammar (nearly every token allowed) and a JSON array of numbers
// (few allowed, so the full mask runs often on the Go engine). Greedy; the
// grammars never finish, so every run decodes 128 tokens.
func BenchmarkGrammarDecode(b *testing.B) {
	grammars := []struct{ name, src string }{
		{"free", ""},
		{"text", "root ::= t\nt ::= [^\\x00] t"},
		{"numbers", "root ::= \"[\" n\nn ::= [0-9]{1,4} \", \" n"},
	}
	for _, g := range grammars {
		b.Run("llama.cpp/"+g.name, func(b *testing.B) {
			e := benchEngine(b, 1024)
			req := api.Request{Raw: true, Tokens: randomTokens(1), MaxTokens: 129, Sampling: greedy(), Grammar: g.src}
			var tps float64
			for b.Loop() {
				e.Reset()
				tps += benchRun(b, e, req).DecodeTPS
			}
			b.ReportMetric(tps/float64(b.N), "tok/s")
		})
	}
	path := filepath.Join(b.TempDir(), "qwen35.gguf")
	if err := synth.Qwen35Tiny().Write(path); err != nil {
		b.Fatal(err)
	}
	e, err := LoadGo(Options{ModelPath: path, ContextSize: 1024})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	// The first generation sets up graphs: keep it out of the figures.
	if ch, err := e.Generate(context.Background(), api.Request{Raw: true, Prompt: "x", MaxTokens: 8, Sampling: greedy()}); err == nil {
		collect(b, ch, nil)
	}
	for _, g := range grammars {
		b.Run("go/"+g.name, func(b *testing.B) {
			req := api.Request{Raw: true, Prompt: "x", MaxTokens: 129, Sampling: greedy(), Grammar: g.src}
			var tps float64
			for b.Loop() {
				e.Reset()
				ch, err := e.Generate(context.Background(), req)
				if err != nil {
					b.Fatal(err)
				}
				r := collect(b, ch, nil)
				if r.err != nil || r.stats == nil {
					b.Fatal(r.err)
				}
				tps += r.stats.DecodeTPS
			}
			b.ReportMetric(tps/float64(b.N), "tok/s")
		})
	}
}

// BenchmarkQwenVisionEncode times one image through a Qwen3.5-sized vision
// encoder (synth.Qwen35VisionBench) as the Go engine's Qwen3.5 runs it: a
// 768×512 picture, kept as it is (1,536 patches, 384 embeddings). With
// NATTER_BENCH_DIR the files (and the picture as raw RGB, bench-768x512.rgb)
// are written there for upstream's tools.
func BenchmarkQwenVisionEncode(b *testing.B) {
	dir := os.Getenv("NATTER_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	spec := synth.Qwen35Tiny()
	spec.VisionTokens = true
	model, mmproj := filepath.Join(dir, "qwen35-tiny-vision.gguf"), filepath.Join(dir, "mmproj-qwen35-bench.gguf")
	if err := spec.Write(model); err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(mmproj); err != nil {
		if err := synth.Qwen35VisionBench(spec.NEmbd).Write(mmproj); err != nil {
			b.Fatal(err)
		}
	}
	img := &media.Image{W: 768, H: 512, RGB: make([]byte, 768*512*3)}
	for i := range img.RGB {
		img.RGB[i] = byte(i*7 + i/2311)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench-768x512.rgb"), img.RGB, 0o644); err != nil {
		b.Fatal(err)
	}
	clip, err := openClipVision(mmproj, spec.NEmbd, 2, 4096)
	if err != nil {
		b.Fatal(err)
	}
	defer clip.Close()
	encode := func() {
		cim, err := clip.prepare(img)
		if err != nil {
			b.Fatal(err)
		}
		defer cim.free()
		if cim.tokens() != 384 {
			b.Fatalf("%d image tokens, want 384", cim.tokens())
		}
		if _, err := clip.encode(context.Background(), cim); err != nil {
			b.Fatal(err)
		}
	}
	encode() // warm up
	b.ResetTimer()
	for range b.N {
		encode()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/image")
}

// BenchmarkGemma3VisionEncode times the llama.cpp backend's encoder on a
// SigLIP-style projector (768 wide, 12 blocks, 896-pixel images in
// 14-pixel patches: 4,096 patches pooled to 256 embeddings; Gemma 3's
// tower is 1152 wide with 27 blocks) with flash attention off (natter's
// default) and on.
func BenchmarkGemma3VisionEncode(b *testing.B) {
	dir := b.TempDir()
	mmproj := filepath.Join(dir, "mmproj-gemma3-bench.gguf")
	if err := (synth.ProjectorSpec{TextEmbd: tinyChatSpec().NEmbd, NEmbd: 768, NHead: 12, NLayer: 12, ImageSize: 896, PatchSize: 14, MergeFactor: 4, Type: synth.F16, Seed: 3}).Write(mmproj); err != nil {
		b.Fatal(err)
	}
	model := synthModel(b, tinyChatSpec())
	img := attachment(prompts.MediaImage, "bench.png", "png", pngOf(b, 640, 480, false))
	for _, fa := range []string{"off", "on"} {
		b.Run("flash-attn="+fa, func(b *testing.B) {
			e, err := Load(Options{ModelPath: model, Projector: mmproj, ContextSize: 1024, Threads: 2, FlashAttn: fa})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			p, err := e.buildPrompt(imageRequest([]prompts.Attachment{img}, "x"))
			if err != nil {
				b.Fatal(err)
			}
			encode := func() {
				if err := encodeFirst(e, p); err != nil {
					b.Fatal(err)
				}
			}
			encode() // the first encode sizes the buffers
			b.ResetTimer()
			for range b.N {
				encode()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/image")
		})
	}
}
