package goengine_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"natter/engine/gguf/synth"
	"natter/engine/goengine"
)

// audioFixture is testdata/upstream_audio_greedy.json: upstream llama.cpp
// v0.5.0's greedy ids for a prompt holding one clip, through its mtmd
// gemma4a encoder (see the file's "about").
type audioFixture struct {
	About      string
	ModelSHA   string `json:"model_sha256"`
	MmprojSHA  string `json:"mmproj_sha256"`
	Prompt     []int32
	Expected   []int32
	Margins    []float64
	EmbdStride int       `json:"embd_stride"`
	EmbdRows   int       `json:"embd_rows"`
	EmbdSample []float64 `json:"embd_sample"`
}

// The fixture's files: synth.Gemma4Tiny() with AudioTokens, a gemma4a
// projector (Seed 7, 128 mel bins as Gemma 4's) and 2.5 s of a gliding
// chord, as raw little-endian float32 samples so that no decoder stands
// between the two engines.
func audioFixtureFiles(t testing.TB, dir string) (model, mmproj string, pcm []float32) {
	spec := synth.Gemma4Tiny()
	spec.AudioTokens = true
	model, mmproj = filepath.Join(dir, "gemma4.gguf"), filepath.Join(dir, "mmproj.gguf")
	if err := spec.Write(model); err != nil {
		t.Fatal(err)
	}
	if err := (synth.ProjectorSpec{Projector: synth.ProjectorGemma4A, TextEmbd: spec.NEmbd, NMelBins: 128, Seed: 7}).Write(mmproj); err != nil {
		t.Fatal(err)
	}
	pcm = make([]float32, 40000)
	for i := range pcm {
		x := float64(i) / 16000
		f := 200 + 300*x // a glide, so frames differ
		pcm[i] = float32(0.3*math.Sin(2*math.Pi*f*x) + 0.15*math.Sin(2*math.Pi*3.1*f*x) + 0.05*math.Sin(float64(i)*0.7))
	}
	return model, mmproj, pcm
}

// TestWriteAudioFixtureInputs writes the fixture's model, projector and
// samples (audio.f32) into $NATTER_AUDIO_FIXTURE_DIR for upstream's tools
// to read; it does nothing otherwise.
func TestWriteAudioFixtureInputs(t *testing.T) {
	dir := os.Getenv("NATTER_AUDIO_FIXTURE_DIR")
	if dir == "" {
		t.Skip("set NATTER_AUDIO_FIXTURE_DIR to write the fixture's inputs")
	}
	model, mmproj, pcm := audioFixtureFiles(t, dir)
	b := make([]byte, 0, 4*len(pcm))
	for _, v := range pcm {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	if err := os.WriteFile(filepath.Join(dir, "audio.f32"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("model %s\nmmproj %s", fileSHA(t, model), fileSHA(t, mmproj))
}

// Gemma 4 audio on the Go engine against upstream llama.cpp on the same
// files: the clip's embeddings (natter's features and encoder) equal
// upstream's within float rounding, and the greedy ids after the clip
// (natter's placement, causal, in pieces when longer than a batch) equal
// upstream's at every step where upstream's choice is clear.
func TestAudioGreedyMatchesUpstream(t *testing.T) {
	b, err := os.ReadFile("testdata/upstream_audio_greedy.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx audioFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	model, mmproj, pcm := audioFixtureFiles(t, t.TempDir())
	if got := fileSHA(t, model); got != fx.ModelSHA {
		t.Fatalf("synth now writes the model with sha256 %s, the fixture's was %s: regenerate the fixture", got, fx.ModelSHA)
	}
	if got := fileSHA(t, mmproj); got != fx.MmprojSHA {
		t.Fatalf("synth now writes the projector with sha256 %s, the fixture's was %s: regenerate the fixture", got, fx.MmprojSHA)
	}
	for _, batch := range []int{0, 32} {
		e, err := goengine.Load(goengine.Options{ModelPath: model, ProjectorPath: mmproj, ContextSize: 1024, BatchSize: batch, Threads: 1, FlashAttention: true,
			ProjectorCache: filepath.Join(t.TempDir(), "cache")})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		c, err := e.PrepareAudio(pcm)
		if err != nil {
			t.Fatal(err)
		}
		start, n := slices.Index(fx.Prompt, -1), 0
		for _, tk := range fx.Prompt {
			if tk == -1 {
				n++
			}
		}
		if start < 0 || c.Tokens() != n || n != fx.EmbdRows {
			t.Fatalf("the clip takes %d positions here, %d upstream", c.Tokens(), n)
		}
		rows, err := e.EncodeAudio(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		worst, mean := 0.0, 0.0
		for i, want := range fx.EmbdSample {
			worst = max(worst, math.Abs(float64(rows[i*fx.EmbdStride])-want))
			mean += math.Abs(want) / float64(len(fx.EmbdSample))
		}
		if len(fx.EmbdSample) != (len(rows)+fx.EmbdStride-1)/fx.EmbdStride || !(worst <= 2e-3*max(1, mean)) { // (NaN fails)
			t.Fatalf("audio embeddings differ from upstream's by up to %g (mean |value| %g; %d samples of %d values)", worst, mean, len(fx.EmbdSample), len(rows))
		}
		toks := slices.Clone(fx.Prompt)
		for i := start; i < start+n; i++ {
			toks[i] = int32(-1000 - i)
		}
		span := goengine.Span{Start: start, N: n, Causal: true, Embed: func() ([]float32, error) { return rows, nil }}
		logits, _, err := e.PrefillMedia(context.Background(), toks, []goengine.Span{span})
		if err != nil {
			t.Fatal(err)
		}
		// Upstream's ids are fed back (teacher forcing), so a near-tie
		// that rounding tips the other way does not end the comparison;
		// each step where upstream's choice is clear must match.
		clear := 0
		for step, want := range fx.Expected {
			got := int32(slices.Index(logits, slices.Max(logits)))
			if fx.Margins[step] >= 0.1 {
				if got != want {
					t.Fatalf("batch %d, step %d: natter picks %d, upstream %d (upstream's margin %.3f)", batch, step, got, want, fx.Margins[step])
				}
				clear++
			}
			if logits, err = e.Decode(want); err != nil {
				t.Fatal(err)
			}
		}
		if clear < 12 {
			t.Fatalf("only %d clear steps: the fixture shows little", clear)
		}
		t.Logf("batch %d: embeddings within %.1e of upstream's (mean |value| %.3g); %d greedy ids match", batch, worst, mean, clear)
	}
}
