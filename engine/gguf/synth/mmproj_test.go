package synth

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/gguf"
)

func projectorSpecs() map[string]ProjectorSpec {
	return map[string]ProjectorSpec{
		"gemma3":     TinyVisionProjector(64),
		"gemma3-f16": {Projector: ProjectorGemma3, TextEmbd: 64, ImageSize: 64, Type: F16, Seed: 2},
		"qwen2a":     TinyAudioProjector(64),
		"ultravox":   {Projector: ProjectorUltravox, TextEmbd: 64, Seed: 3},
	}
}

func writeProjectorBytes(t *testing.T, path string, s ProjectorSpec) []byte {
	t.Helper()
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The same spec gives the same bytes; another seed other weights.
func TestProjectorDeterministic(t *testing.T) {
	dir := t.TempDir()
	for name, s := range projectorSpecs() {
		a := writeProjectorBytes(t, filepath.Join(dir, name+"-a.gguf"), s)
		b := writeProjectorBytes(t, filepath.Join(dir, name+"-b.gguf"), s)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two writes differ", name)
		}
		s.Seed++
		c := writeProjectorBytes(t, filepath.Join(dir, name+"-c.gguf"), s)
		if len(c) != len(a) || bytes.Equal(a, c) {
			t.Errorf("%s: another seed gives %d bytes, equal %v", name, len(c), bytes.Equal(a, c))
		}
	}
}

// What the writer produces is what the Go validator reads back.
func TestProjectorRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for name, s := range projectorSpecs() {
		path := filepath.Join(dir, name+".gguf")
		if err := s.Write(path); err != nil {
			t.Fatal(err)
		}
		p, err := gguf.OpenProjector(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := gguf.CheckProjector(p, s.TextEmbd); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		d := s.withDefaults()
		if p.Vision != s.Vision() || p.Audio == s.Vision() || p.ProjectorType != d.Projector || p.ProjDim != s.TextEmbd ||
			p.ImageTokens != s.ImageTokens() || p.AudioTokens != s.AudioTokens() {
			t.Errorf("%s: read %+v", name, *p)
		}
		if s.Vision() && (p.ImageSize != d.ImageSize || p.PatchSize != d.PatchSize) {
			t.Errorf("%s: image %d patch %d", name, p.ImageSize, p.PatchSize)
		}
		if !s.Vision() && p.NMelBins != d.NMelBins {
			t.Errorf("%s: %d mel bins", name, p.NMelBins)
		}
		if got, want := p.ParamCount(), uint64(s.ParamCount()); got != want {
			t.Errorf("%s: %d params, spec says %d", name, got, want)
		}
		if p.String("general.architecture") != "clip" || p.Quantization() != map[TensorType]string{F32: "F32", F16: "F16"}[s.Type] {
			t.Errorf("%s: arch %q quantization %q", name, p.Arch(), p.Quantization())
		}
	}
}

func TestProjectorTokens(t *testing.T) {
	for _, c := range []struct {
		s            ProjectorSpec
		image, audio int
	}{
		{TinyVisionProjector(64), 4, 0},
		{ProjectorSpec{TextEmbd: 8, ImageSize: 64}, 16, 0},
		{ProjectorSpec{TextEmbd: 8, ImageSize: 64, PatchSize: 16, MergeFactor: 1}, 16, 0},
		{TinyAudioProjector(64), 0, 750},
		{ProjectorSpec{Projector: ProjectorUltravox, TextEmbd: 8}, 0, 50},
		{ProjectorSpec{Projector: ProjectorUltravox, TextEmbd: 8, StackFactor: 12}, 0, 125},
	} {
		if i, a := c.s.ImageTokens(), c.s.AudioTokens(); i != c.image || a != c.audio {
			t.Errorf("%+v: %d image and %d audio tokens, want %d and %d", c.s, i, a, c.image, c.audio)
		}
	}
}

func TestProjectorValidate(t *testing.T) {
	for _, c := range []struct {
		s    ProjectorSpec
		want string
	}{
		{ProjectorSpec{Projector: "mlp", TextEmbd: 8}, "unknown projector type"},
		{ProjectorSpec{}, "TextEmbd"},
		{ProjectorSpec{TextEmbd: 8, NLayer: -1}, "positive"},
		{ProjectorSpec{TextEmbd: 8, NEmbd: 30, NHead: 4}, "divisible"},
		{ProjectorSpec{TextEmbd: 8, ImageSize: 36}, "multiple of PatchSize"},
		{ProjectorSpec{TextEmbd: 8, MergeFactor: 3}, "MergeFactor"},
		{ProjectorSpec{TextEmbd: 8, Type: Q8_0}, "tensor type"},
		{ProjectorSpec{Projector: ProjectorUltravox, TextEmbd: 8, StackFactor: 8}, "does not divide 1500"},
	} {
		err := c.s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		}
		if err := c.s.Write(filepath.Join(t.TempDir(), "x.gguf")); err == nil {
			t.Errorf("%+v: written", c.s)
		}
	}
	if err := (ProjectorSpec{TextEmbd: 8, ShapeOf: func(string, []int) []int { return nil }}).Write(filepath.Join(t.TempDir(), "x.gguf")); err == nil || !strings.Contains(err.Error(), "ShapeOf") {
		t.Errorf("empty shape: %v", err)
	}
}

// Omit, KV and ShapeOf craft files.
func TestProjectorCrafted(t *testing.T) {
	dir := t.TempDir()
	s := TinyVisionProjector(64)
	s.Omit = []string{"mm.soft_emb_norm.weight"}
	s.KV = map[string]any{"clip.use_gelu": nil, "clip.projector_type": "idefics3", "x.extra": uint32(7)}
	s.ShapeOf = func(name string, dims []int) []int {
		if name == "v.post_ln.bias" {
			return []int{dims[0], 2}
		}
		return dims
	}
	path := filepath.Join(dir, "c.gguf")
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	f, err := gguf.Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Get("clip.use_gelu"); ok || f.String("clip.projector_type") != "idefics3" {
		t.Errorf("KV not applied: %v", f.KV)
	}
	if n, _ := f.Uint("x.extra"); n != 7 {
		t.Errorf("x.extra = %d", n)
	}
	for _, ti := range f.Tensors {
		switch ti.Name {
		case "mm.soft_emb_norm.weight":
			t.Errorf("omitted tensor written")
		case "v.post_ln.bias":
			if len(ti.Dims) != 2 || ti.Dims[1] != 2 {
				t.Errorf("ShapeOf not applied: %v", ti.Dims)
			}
		}
	}
}
