package goengine_test

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"natter/engine/gguf/synth"
	"natter/engine/goengine"
)

// BenchmarkVisionEncode times one image through a Gemma 4-sized vision
// encoder (synth.Gemma4VisionBench): a 960×672 picture, which Ollama's
// processor keeps as it is (280 embeddings from 2,520 patches) and
// upstream's mtmd too, so the two encode the same work. With
// NATTER_BENCH_DIR the files are written there (and kept) for upstream's
// tools to read.
func BenchmarkVisionEncode(b *testing.B) {
	dir := os.Getenv("NATTER_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	spec := synth.Gemma4Tiny()
	spec.ImageTokens = true
	model, mmproj := filepath.Join(dir, "gemma4-tiny.gguf"), filepath.Join(dir, "mmproj-gemma4-bench.gguf")
	if err := spec.Write(model); err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(mmproj); err != nil {
		if err := synth.Gemma4VisionBench(spec.NEmbd).Write(mmproj); err != nil {
			b.Fatal(err)
		}
	}
	e, err := goengine.Load(goengine.Options{ModelPath: model, ProjectorPath: mmproj, ContextSize: 1024, Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	im, err := e.PrepareImage(testImage(960, 672, 1))
	if err != nil {
		b.Fatal(err)
	}
	if im.Tokens() != 280 {
		b.Fatalf("%d image tokens, want 280", im.Tokens())
	}
	if _, err := e.EncodeImage(context.Background(), im); err != nil { // warm up
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := e.EncodeImage(context.Background(), im); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/image")
}

// BenchmarkAudioEncode times 30 s of audio (one chunk, 750 embeddings)
// through a Gemma 4-sized audio encoder (synth.Gemma4AudioBench),
// features included. With NATTER_BENCH_DIR the files (and the clip as
// raw float32, bench-audio.f32) are written there for upstream's tools.
func BenchmarkAudioEncode(b *testing.B) {
	dir := os.Getenv("NATTER_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	spec := synth.Gemma4Tiny()
	spec.AudioTokens = true
	model, mmproj := filepath.Join(dir, "gemma4-tiny-audio.gguf"), filepath.Join(dir, "mmproj-gemma4-audio-bench.gguf")
	if err := spec.Write(model); err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(mmproj); err != nil {
		if err := synth.Gemma4AudioBench(spec.NEmbd).Write(mmproj); err != nil {
			b.Fatal(err)
		}
	}
	e, err := goengine.Load(goengine.Options{ModelPath: model, ProjectorPath: mmproj, ContextSize: 1024, Threads: 2, ProjectorCache: filepath.Join(dir, "cache")})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	pcm := tone(30, 1)
	raw := make([]byte, 0, 4*len(pcm))
	for _, v := range pcm {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	if err := os.WriteFile(filepath.Join(dir, "bench-audio.f32"), raw, 0o644); err != nil {
		b.Fatal(err)
	}
	c, err := e.PrepareAudio(pcm)
	if err != nil {
		b.Fatal(err)
	}
	if c.Tokens() != 750 {
		b.Fatalf("%d audio tokens, want 750", c.Tokens())
	}
	if _, err := e.EncodeAudio(context.Background(), c); err != nil { // warm up
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		c, err := e.PrepareAudio(pcm)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.EncodeAudio(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/30s")
}
