package gguf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

// writeProjector writes a synthetic projector and returns its path.
func writeProjector(t testing.TB, dir, name string, s synth.ProjectorSpec) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenProjector(t *testing.T) {
	dir := t.TempDir()
	text := synth.Tiny().NEmbd
	for i, c := range []struct {
		s                    synth.ProjectorSpec
		vision               bool
		typ                  string
		image, patch, tokens int
		mel, audioTokens     int
	}{
		{synth.TinyVisionProjector(text), true, "gemma3", 32, 8, 4, 0, 0},
		{synth.ProjectorSpec{TextEmbd: text, ImageSize: 64, PatchSize: 16, MergeFactor: 1, Type: synth.F16}, true, "gemma3", 64, 16, 16, 0, 0},
		// A pool that does not divide the patch grid but gives the count
		// clip.cpp expects (checked in C: 1 embedding).
		{withProjKV(synth.TinyVisionProjector(text), "clip.vision.projector.scale_factor", uint32(3)), true, "gemma3", 32, 8, 1, 0, 0},
		{synth.TinyAudioProjector(text), false, "qwen2a", 0, 0, 0, 80, 750},
		{synth.ProjectorSpec{Projector: synth.ProjectorUltravox, TextEmbd: text, NMelBins: 128, StackFactor: 15}, false, "ultravox", 0, 0, 0, 128, 100},
		// Gemma 4 (the Go engine's): sized per image, no image_size read.
		{synth.ProjectorSpec{Projector: synth.ProjectorGemma4V, TextEmbd: text, Seed: 1}, true, "gemma4v", 0, 8, 0, 0, 0},
		{synth.ProjectorSpec{Projector: synth.ProjectorGemma4A, TextEmbd: text, Seed: 1}, false, "gemma4a", 0, 0, 0, 32, 750},
		{synth.ProjectorSpec{Projector: synth.ProjectorQwen3VL, TextEmbd: text, Seed: 1}, true, "qwen3vl_merger", 32, 8, 0, 0, 0},
		{synth.ProjectorSpec{Projector: synth.ProjectorQwen25VL, TextEmbd: text, Seed: 1}, true, "qwen2.5vl_merger", 32, 8, 0, 0, 0},
	} {
		path := writeProjector(t, dir, strconv.Itoa(i)+"-"+c.typ+".gguf", c.s)
		p, err := OpenProjector(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckProjector(p, text); err != nil {
			t.Errorf("%s: %v", c.typ, err)
		}
		want := Projector{File: p.File, Vision: c.vision, Audio: !c.vision, ProjectorType: c.typ, ProjDim: text,
			ImageSize: c.image, PatchSize: c.patch, ImageTokens: c.tokens, NMelBins: c.mel, AudioTokens: c.audioTokens}
		if c.vision {
			want.VisionType = c.typ
		} else {
			want.AudioType = c.typ
		}
		if *p != want {
			t.Errorf("%s: got %+v\nwant %+v", c.typ, *p, want)
		}
		if p.Path != path || !p.IsProjector() {
			t.Errorf("%s: path %q, IsProjector %v", c.typ, p.Path, p.IsProjector())
		}
		b, _ := os.ReadFile(path)
		q, err := ParseProjector(bytes.NewReader(b), int64(len(b)))
		if err != nil || q.ProjDim != p.ProjDim || q.Path != "" {
			t.Errorf("%s: ParseProjector: %v", c.typ, err)
		}
	}
}

// projectorCase is a file CheckProjector (or OpenProjector before it)
// must refuse.
type projectorCase struct {
	name string
	file func(t *testing.T, dir string) string
	want error  // sentinel
	msg  string // in the message
}

func specCase(name string, s synth.ProjectorSpec, want error, msg string) projectorCase {
	return projectorCase{name, func(t *testing.T, dir string) string { return writeProjector(t, dir, name+".gguf", s) }, want, msg}
}

func withProjKV(s synth.ProjectorSpec, kv ...any) synth.ProjectorSpec {
	s.KV = map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		s.KV[kv[i].(string)] = kv[i+1]
	}
	return s
}

func withOmit(s synth.ProjectorSpec, names ...string) synth.ProjectorSpec {
	s.Omit = names
	return s
}

func withF16(s synth.ProjectorSpec, names ...string) synth.ProjectorSpec {
	s.TypeOf = map[string]synth.TensorType{}
	for _, n := range names {
		s.TypeOf[n] = synth.F16
	}
	return s
}

func withShape(s synth.ProjectorSpec, shapes map[string][]int) synth.ProjectorSpec {
	s.ShapeOf = func(name string, dims []int) []int {
		if d, ok := shapes[name]; ok {
			return d
		}
		return dims
	}
	return s
}

func TestCheckProjectorRejects(t *testing.T) {
	text := synth.Tiny().NEmbd
	vision, audio := synth.TinyVisionProjector(text), synth.TinyAudioProjector(text)
	ultravox := synth.ProjectorSpec{Projector: synth.ProjectorUltravox, TextEmbd: text, Seed: 1}
	gemma4v := synth.ProjectorSpec{Projector: synth.ProjectorGemma4V, TextEmbd: text, Seed: 1}
	gemma4a := synth.ProjectorSpec{Projector: synth.ProjectorGemma4A, TextEmbd: text, Seed: 1}
	qwen3vl := synth.ProjectorSpec{Projector: synth.ProjectorQwen3VL, TextEmbd: text, Seed: 1}
	qwen25vl := synth.ProjectorSpec{Projector: synth.ProjectorQwen25VL, TextEmbd: text, Seed: 1}
	cases := []projectorCase{
		{"text model", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "text.gguf")
			if err := synth.Write(p, synth.Tiny()); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrNotProjector, `is a text model (general.architecture "llama"), not a multimodal projector`},
		{"adapter", func(t *testing.T, dir string) string {
			return writeAdapter(t, dir, "a.gguf", synth.LoraSpec{Base: synth.Tiny(), Rank: 2})
		}, ErrNotProjector, "is a LoRA adapter"},
		{"truncated", func(t *testing.T, dir string) string {
			p := writeProjector(t, dir, "full.gguf", vision)
			b, _ := os.ReadFile(p)
			out := filepath.Join(dir, "trunc.gguf")
			os.WriteFile(out, b[:len(b)-100], 0o644)
			return out
		}, ErrTruncated, "tensor 38"},
		{"empty", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "empty.gguf")
			os.WriteFile(p, nil, 0o644)
			return p
		}, ErrNotGGUF, "empty file (0 bytes), not a GGUF multimodal projector"},
		{"missing", func(t *testing.T, dir string) string { return filepath.Join(dir, "nope.gguf") }, os.ErrNotExist, "no such file"},
		{"not gguf", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "x.png")
			os.WriteFile(p, []byte("\x89PNG\r\n\x1a\nxxxxxxxx"), 0o644)
			return p
		}, ErrNotGGUF, `not "GGUF"`},
		specCase("no arch", withProjKV(vision, "general.architecture", nil), ErrNotProjector, "no general.architecture"),
		specCase("arch type", withProjKV(vision, "general.architecture", uint32(1)), ErrCorrupt, "general.architecture is a uint32"),
		specCase("wrong dim", synth.TinyVisionProjector(text/2), ErrProjectorMismatch, "image embeddings have 32 values but the text model's have 64"),
		specCase("wrong dim audio", synth.TinyAudioProjector(text*2), ErrProjectorMismatch, "audio embeddings have 128 values"),
		specCase("unknown type", withProjKV(vision, "clip.projector_type", "gemma9"), ErrCorrupt, `clip.projector_type "gemma9" is not a projector type natter knows (mlp, ldp`),
		specCase("gemma4v pos 2-D", withShape(gemma4v, map[string][]int{"v.position_embd.weight": {32, 128}}), ErrCorrupt, "v.position_embd.weight is [32 128], want [32 positions 2]"),
		specCase("gemma4v no q norm", withOmit(gemma4v, "v.blk.1.attn_q_norm.weight"), ErrCorrupt, "no tensor v.blk.1.attn_q_norm.weight"),
		specCase("gemma4v gate", withShape(gemma4v, map[string][]int{"v.blk.0.ffn_gate.weight": {32, 64}}), ErrCorrupt, "v.blk.0.ffn_gate.weight is [32 64], want [32 128]"),
		specCase("gemma4v heads", withProjKV(gemma4v, "clip.vision.attention.head_count", uint32(16)), ErrCorrupt, "head size 2 (embedding_length / head_count) must be a multiple of 4"),
		specCase("gemma4v width", synth.ProjectorSpec{Projector: synth.ProjectorGemma4V, TextEmbd: text / 2, Seed: 1}, ErrProjectorMismatch, "image embeddings have 32 values but the text model's have 64"),
		specCase("gemma4a input proj", withShape(gemma4a, map[string][]int{"a.input_projection.weight": {60, 32}}), ErrCorrupt, "a.input_projection.weight is [60 32], want [64 32]"),
		specCase("gemma4a no pw1", withOmit(gemma4a, "a.blk.1.conv_pw1.weight"), ErrCorrupt, "no tensor a.blk.1.conv_pw1.weight"),
		specCase("gemma4a dw taps", withShape(gemma4a, map[string][]int{"a.blk.0.conv_dw.weight": {100, 32}}), ErrCorrupt, "a.blk.0.conv_dw.weight has a kernel of 100 taps"),
		specCase("gemma4a ffn_up_1", withShape(gemma4a, map[string][]int{"a.blk.0.ffn_up_1.weight": {32, 64}}), ErrCorrupt, "a.blk.0.ffn_up_1.weight is [32 64], want [32 128]"),
		specCase("gemma4a out", withShape(gemma4a, map[string][]int{"mm.a.input_projection.weight": {32, 64}}), ErrCorrupt, "mm.a.input_projection.weight is [32 64], want [64 64]"),
		specCase("gemma4a width", synth.ProjectorSpec{Projector: synth.ProjectorGemma4A, TextEmbd: text / 2, Seed: 1}, ErrProjectorMismatch, "audio embeddings have 32 values but the text model's have 64"),
		specCase("qwen3vl no patch bias", withOmit(qwen3vl, "v.patch_embd.bias"), ErrCorrupt, "no tensor v.patch_embd.bias"),
		specCase("qwen3vl no qkv bias", withOmit(qwen3vl, "v.blk.1.attn_qkv.bias"), ErrCorrupt, "no tensor v.blk.1.attn_qkv.bias"),
		specCase("qwen3vl split qkv", withShape(qwen3vl, map[string][]int{"v.blk.0.attn_qkv.weight": {32, 32}}), ErrCorrupt, "v.blk.0.attn_qkv.weight is [32 32], want [32 96]"),
		specCase("qwen3vl positions", withShape(qwen3vl, map[string][]int{"v.position_embd.weight": {32, 15}}), ErrCorrupt, "v.position_embd.weight is [32 15], want [32 n] with n a square"),
		specCase("qwen3vl merger", withShape(qwen3vl, map[string][]int{"mm.2.weight": {64, 64}}), ErrCorrupt, "mm.2.weight is [64 64], want [128 64]"),
		specCase("qwen3vl heads", withProjKV(qwen3vl, "clip.vision.attention.head_count", uint32(16)), ErrCorrupt, "head size 2 (embedding_length / head_count) must be a multiple of 4"),
		specCase("qwen2.5vl no q bias", withOmit(qwen25vl, "v.blk.0.attn_q.bias"), ErrCorrupt, "no tensor v.blk.0.attn_q.bias"),
		specCase("qwen2.5vl second kernel", withOmit(qwen25vl, "v.patch_embd.weight.1"), ErrCorrupt, "no tensor v.patch_embd.weight.1"),
		specCase("qwen2.5vl merger", withShape(qwen25vl, map[string][]int{"mm.0.weight": {32, 128}}), ErrCorrupt, "mm.0.weight is [32 128], want [128 128]"),
		specCase("vision with audio type", withProjKV(vision, "clip.projector_type", "qwen2a"), ErrCorrupt, "vision encoder but its projector type \"qwen2a\" is for audio"),
		specCase("audio with vision type", withProjKV(audio, "clip.projector_type", "gemma3"), ErrCorrupt, "audio encoder but its projector type \"gemma3\" is for images"),
		specCase("glma", withProjKV(audio, "clip.projector_type", "glma", "clip.audio.projector.stack_factor", uint32(2)), ErrCorrupt, `audio projector type "glma" is not one this llama.cpp can run`),
		specCase("audio no type", withProjKV(audio, "clip.projector_type", nil), ErrCorrupt, "audio encoder but no projector type"),
		specCase("no encoder", withProjKV(vision, "clip.has_vision_encoder", false), ErrCorrupt, "has no encoder"),
		specCase("flag type", withProjKV(vision, "clip.has_vision_encoder", uint32(1)), ErrCorrupt, "clip.has_vision_encoder is a uint32, must be a bool"),
		specCase("key type", withProjKV(vision, "clip.vision.projection_dim", float32(64)), ErrCorrupt, "clip.vision.projection_dim is a float32, must be a uint32"),
		specCase("eps type", withProjKV(audio, "clip.audio.attention.layer_norm_epsilon", uint32(0)), ErrCorrupt, "layer_norm_epsilon is a uint32, must be a float32"),
		specCase("mean", withProjKV(vision, "clip.vision.image_mean", []float32{0.5, 0.5}), ErrCorrupt, "image_mean is an array of float32 of 2, must be an array of 3 float32"),
		specCase("pinpoints", withProjKV(vision, "clip.vision.image_grid_pinpoints", []int32{336, 672, 672}), ErrCorrupt, "width/height pairs"),
		specCase("gelu silu", withProjKV(vision, "clip.use_silu", true), ErrCorrupt, "both true"),
		specCase("no image size", withProjKV(vision, "clip.vision.image_size", nil), ErrCorrupt, "clip.vision.image_size is missing"),
		specCase("patch 0", withProjKV(vision, "clip.vision.patch_size", uint32(0)), ErrCorrupt, "clip.vision.patch_size is 0, must be at least 1"),
		specCase("no mel", withProjKV(audio, "clip.audio.num_mel_bins", nil), ErrCorrupt, "num_mel_bins is missing"),
		specCase("heads", withProjKV(vision, "clip.vision.attention.head_count", uint32(3)), ErrCorrupt, "not divisible by attention.head_count 3"),
		specCase("merge", withProjKV(synth.ProjectorSpec{TextEmbd: text, ImageSize: 48}, "clip.vision.projector.scale_factor", nil), ErrCorrupt,
			"with 6 patches per side (image_size 48 / patch_size 8) and a pool of 4 (clip.vision.projector.scale_factor) this llama.cpp counts 2 embeddings per image but makes 1, and aborts"),
		specCase("merge 0", withProjKV(vision, "clip.vision.projector.scale_factor", uint32(0)), ErrCorrupt, "scale_factor is 0, must be at least 1"),
		specCase("image < patch", withProjKV(vision, "clip.vision.patch_size", uint32(64)), ErrCorrupt, "image_size 32 is smaller than patch_size 64"),
		specCase("missing projection", withOmit(vision, "mm.input_projection.weight"), ErrCorrupt, "no output tensor mm.input_projection.weight"),
		specCase("missing ffn", withOmit(vision, "v.blk.1.ffn_down.weight"), ErrCorrupt, "no tensor v.blk.1.ffn_down.weight"),
		specCase("missing k", withOmit(vision, "v.blk.0.attn_k.weight"), ErrCorrupt, "no tensor v.blk.0.attn_k.weight"),
		specCase("missing patch", withOmit(vision, "v.patch_embd.weight"), ErrCorrupt, "no tensor v.patch_embd.weight"),
		specCase("missing norm", withOmit(vision, "mm.soft_emb_norm.weight"), ErrCorrupt, "mm.soft_emb_norm.weight"),
		specCase("missing pos audio", withOmit(audio, "a.position_embd.weight"), ErrCorrupt, "no tensor a.position_embd.weight"),
		specCase("missing q bias", withOmit(audio, "a.blk.1.attn_q.bias"), ErrCorrupt, "no tensor a.blk.1.attn_q.bias"),
		specCase("missing ln", withOmit(audio, "a.blk.0.ln2.bias"), ErrCorrupt, "no tensor a.blk.0.ln2.bias"),
		specCase("missing fc", withOmit(audio, "mm.a.fc.weight"), ErrCorrupt, "no output tensor mm.a.fc.weight"),
		specCase("mlp without mm.2", withProjKV(vision, "clip.projector_type", "mlp"), ErrCorrupt, "the mlp projector has no output tensor mm.2.weight"),
		specCase("vision type default", withProjKV(vision, "clip.projector_type", nil), ErrCorrupt, "the mlp projector has no output tensor"),
		specCase("pos shape", withShape(vision, map[string][]int{"v.position_embd.weight": {32, 17}}), ErrCorrupt, "tensor v.position_embd.weight is [32 17], want [32 16]"),
		specCase("q shape", withShape(vision, map[string][]int{"v.blk.1.attn_q.weight": {32, 16}}), ErrCorrupt, "v.blk.1.attn_q.weight is [32 16], want [32 32]"),
		specCase("bias shape", withShape(vision, map[string][]int{"v.blk.0.ffn_up.bias": {64}}), ErrCorrupt, "v.blk.0.ffn_up.bias is [64], want [128]"),
		specCase("patch shape", withShape(vision, map[string][]int{"v.patch_embd.weight": {16, 16, 3, 32}}), ErrCorrupt, "v.patch_embd.weight is [16 16 3 32], want [8 8 3 32]"),
		specCase("width", withProjKV(vision, "clip.vision.embedding_length", uint32(64)), ErrCorrupt, "v.patch_embd.weight is [8 8 3 32], want [8 8 3 64]"),
		specCase("proj shape", withShape(vision, map[string][]int{"mm.input_projection.weight": {64, 16}}), ErrCorrupt, "mm.input_projection.weight is [64 16], want [64 32]"),
		specCase("short pos audio", withShape(audio, map[string][]int{"a.position_embd.weight": {32, 1499}}), ErrCorrupt, "want [32 n] with n at least 1500"),
		specCase("conv kernel", withShape(audio, map[string][]int{"a.conv1d.1.weight": {4, 80, 32}}), ErrCorrupt, "a.conv1d.1.weight is [4 80 32], want [3 80 32]"),
		specCase("conv bias", withShape(audio, map[string][]int{"a.conv1d.2.bias": {32}}), ErrCorrupt, "a.conv1d.2.bias is [32], want [1 32]"),
		specCase("mel", withProjKV(audio, "clip.audio.num_mel_bins", uint32(128)), ErrCorrupt, "want [3 128 32]"),
		specCase("fc shape", withShape(audio, map[string][]int{"mm.a.fc.bias": {63}}), ErrCorrupt, "mm.a.fc.bias is [63], want [64]"),
		specCase("ultravox stack", withProjKV(ultravox, "clip.audio.projector.stack_factor", uint32(10)), ErrCorrupt, "mm.a.norm_pre.weight is [960], want [320]"),
		specCase("ultravox no stack", withProjKV(ultravox, "clip.audio.projector.stack_factor", nil), ErrCorrupt, "stack_factor is missing"),
		// A self-consistent file with Ultravox's real stack factor 8: this
		// llama.cpp aborts on the first encode (checked in C: "expected
		// output 187 tokens, got 188").
		specCase("ultravox 8", withShape(withProjKV(ultravox, "clip.audio.projector.stack_factor", uint32(8)),
			map[string][]int{"mm.a.norm_pre.weight": {256}, "mm.a.mlp.1.weight": {256, 128}}),
			ErrCorrupt, "stack_factor is 8, for which this llama.cpp counts 187 audio embeddings per chunk but makes 188, and aborts"),
		specCase("voxtral 4", withShape(withProjKV(ultravox, "clip.projector_type", "voxtral", "clip.audio.projector.stack_factor", uint32(4)),
			map[string][]int{"mm.a.mlp.1.weight": {128, 64}, "mm.a.mlp.2.weight": {64, 64}}),
			ErrCorrupt, "stack_factor is 4, for which this llama.cpp counts 187 audio embeddings per chunk but makes 188"),
		// Whisper has no key bias (whisper-enc.cpp asserts).
		{"k bias", func(t *testing.T, dir string) string {
			b := projectorBytes(t, audio)
			return writeFile(t, dir, "kbias.gguf", renameTensor(t, b, "a.blk.0.ffn_up.bias", "a.blk.0.attn_k.bias"))
		}, ErrCorrupt, "a.blk.0.attn_k.bias must not be there"},
		{"int tensor", func(t *testing.T, dir string) string {
			b := projectorBytes(t, vision)
			return writeFile(t, dir, "int.gguf", retypeTensor(t, b, "v.post_ln.weight", TypeI32))
		}, ErrCorrupt, "tensor v.post_ln.weight is I32"},
	}

	dir := t.TempDir()
	for _, c := range cases {
		path := c.file(t, dir)
		p, err := OpenProjector(path)
		if err == nil {
			err = CheckProjector(p, text)
		}
		switch {
		case err == nil:
			t.Errorf("%s: accepted", c.name)
			continue
		case !errors.Is(err, c.want):
			t.Errorf("%s: %v is not %v", c.name, err, c.want)
		case !strings.HasPrefix(err.Error(), path+": "):
			t.Errorf("%s: %q does not name the file", c.name, err)
		case !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "\n"):
			t.Errorf("%s: %q, want %q", c.name, err, c.msg)
		}
	}
}

// A Gemma 4 projector with both encoders (as the converter writes E2B and
// E4B) opens with both; an F16 audio conv kernel, which ggml's depthwise
// conv cannot read, is refused.
func TestProjectorGemma4Both(t *testing.T) {
	text := synth.Tiny().NEmbd
	dir := t.TempDir()
	s := synth.ProjectorSpec{Projector: synth.ProjectorGemma4V, Gemma4Audio: true, TextEmbd: text, Seed: 1}
	p, err := OpenProjector(writeProjector(t, dir, "both.gguf", s))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Vision || !p.Audio || p.VisionType != "gemma4v" || p.AudioType != "gemma4a" || p.AudioTokens != 750 || p.NMelBins != 32 {
		t.Fatalf("got vision %v audio %v types %q %q tokens %d mel %d", p.Vision, p.Audio, p.VisionType, p.AudioType, p.AudioTokens, p.NMelBins)
	}
	if err := CheckProjector(p, text); err != nil {
		t.Fatal(err)
	}
	_, err = OpenProjector(writeProjector(t, dir, "f16.gguf", withF16(s, "a.blk.0.conv_dw.weight")))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "a.blk.0.conv_dw.weight is F16; Gemma 4's audio convolutions take F32 kernels only") {
		t.Fatalf("F16 depthwise kernel: %v", err)
	}
}

// Types clip.cpp resolves per modality.
func TestProjectorTypeResolution(t *testing.T) {
	dir := t.TempDir()
	text := synth.Tiny().NEmbd
	for _, c := range []struct {
		s    synth.ProjectorSpec
		want string
	}{
		{withProjKV(synth.TinyAudioProjector(text), "clip.projector_type", "qwen2.5o"), "qwen2a"},
		{withProjKV(synth.TinyAudioProjector(text), "clip.projector_type", nil, "clip.audio.projector_type", "qwen2a"), "qwen2a"},
		{withProjKV(synth.TinyVisionProjector(text), "clip.projector_type", "", "clip.vision.projector_type", "gemma3"), "gemma3"},
	} {
		p, err := OpenProjector(writeProjector(t, dir, "p.gguf", c.s))
		if err != nil {
			t.Fatal(err)
		}
		if p.ProjectorType != c.want {
			t.Errorf("%v: type %q, want %q", c.s.KV, p.ProjectorType, c.want)
		}
	}
	if err := CheckProjector(nil, 64); !errors.Is(err, ErrNotProjector) {
		t.Errorf("nil: %v", err)
	}
}

func projectorBytes(t testing.TB, s synth.ProjectorSpec) []byte {
	t.Helper()
	path := writeProjector(t, t.TempDir(), "p.gguf", s)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tensorInfoAt finds the byte offset of tensor name's info record (just
// past its name) in a GGUF image.
func tensorInfoAt(t *testing.T, b []byte, name string) int {
	t.Helper()
	rec := append(binaryU64(uint64(len(name))), name...)
	i := bytes.Index(b, rec)
	if i < 0 {
		t.Fatalf("no tensor info for %s", name)
	}
	return i + len(rec)
}

func binaryU64(v uint64) []byte {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b[:]
}

// renameTensor renames a tensor to another name of the same length.
func renameTensor(t *testing.T, b []byte, from, to string) []byte {
	t.Helper()
	if len(from) != len(to) {
		t.Fatal("names differ in length")
	}
	b = bytes.Clone(b)
	i := tensorInfoAt(t, b, from)
	copy(b[i-len(from):i], to)
	return b
}

// retypeTensor changes a tensor's type to one of the same element size.
func retypeTensor(t *testing.T, b []byte, name string, typ GGMLType) []byte {
	t.Helper()
	b = bytes.Clone(b)
	i := tensorInfoAt(t, b, name)
	nDims := int(b[i])
	at := i + 4 + 8*nDims
	b[at], b[at+1], b[at+2], b[at+3] = byte(typ), 0, 0, 0
	return b
}

// projectorFuzzSeeds are small projectors of each kind and damaged copies.
func projectorFuzzSeeds(t testing.TB) [][]byte {
	vision := projectorBytes(t, synth.ProjectorSpec{TextEmbd: 8, NEmbd: 8, NFF: 16, NLayer: 1, ImageSize: 16, PatchSize: 8, MergeFactor: 2})
	audio := projectorBytes(t, synth.ProjectorSpec{Projector: synth.ProjectorQwen2A, TextEmbd: 4, NEmbd: 2, NFF: 4, NHead: 1, NLayer: 1, NMelBins: 2})
	gemma4 := projectorBytes(t, synth.ProjectorSpec{Projector: synth.ProjectorGemma4V, Gemma4Audio: true, TextEmbd: 8, NEmbd: 8, NFF: 16, NHead: 2, NLayer: 1,
		PatchSize: 4, Positions: 4, NMelBins: 8, Channels: [2]int{2, 2}, AudioOut: 8})
	qwen := projectorBytes(t, synth.ProjectorSpec{Projector: synth.ProjectorQwen3VL, TextEmbd: 8, NEmbd: 8, NFF: 16, NHead: 2, NLayer: 1, ImageSize: 16, PatchSize: 8})
	qwen25 := projectorBytes(t, synth.ProjectorSpec{Projector: synth.ProjectorQwen25VL, TextEmbd: 8, NEmbd: 8, NFF: 16, NHead: 2, NLayer: 1, ImageSize: 16, PatchSize: 8})
	qwen2 := projectorBytes(t, synth.ProjectorSpec{Projector: synth.ProjectorQwen2VL, TextEmbd: 8, NEmbd: 8, NFF: 16, NHead: 2, NLayer: 1, ImageSize: 16, PatchSize: 8})
	seeds := [][]byte{vision, audio, gemma4, qwen, qwen25, qwen2, vision[:len(vision)/2], gemma4[:len(gemma4)/2], nil, smallFile()}
	for _, off := range []int{24, 200, 600} {
		c := bytes.Clone(vision)
		c[off] ^= 0xff
		seeds = append(seeds, c)
	}
	return seeds
}

func FuzzOpenProjector(f *testing.F) {
	for _, s := range projectorFuzzSeeds(f) {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.gguf")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := OpenProjector(path)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, path+": ") || strings.Contains(msg, "\n") || len(msg) > 800 {
				t.Fatalf("bad error message %q", msg)
			}
			if !errors.Is(err, ErrNotGGUF) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		checkInvariants(t, p.File, len(data))
		if !p.IsProjector() || (!p.Vision && !p.Audio) || p.ProjDim < 1 || p.ProjectorType == "" {
			t.Fatalf("accepted %+v", *p)
		}
		// Gemma 4 sizes images itself (no image_size).
		if p.Vision && ((p.ImageSize < 1 && p.VisionType != "gemma4v") || p.PatchSize < 1) || p.Audio && p.NMelBins < 1 {
			t.Fatalf("accepted %+v", *p)
		}
		if err := CheckProjector(p, p.ProjDim); err != nil {
			t.Fatalf("CheckProjector after OpenProjector: %v", err)
		}
		if err := CheckProjector(p, p.ProjDim+1); !errors.Is(err, ErrProjectorMismatch) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("CheckProjector with another width: %v", err)
		}
	})
}

// The fuzz seeds cover both outcomes.
func TestProjectorFuzzSeeds(t *testing.T) {
	valid := 0
	for _, s := range projectorFuzzSeeds(t) {
		if _, err := ParseProjector(bytes.NewReader(s), int64(len(s))); err == nil {
			valid++
		}
	}
	if valid < 2 {
		t.Errorf("%d valid seeds, want at least 2", valid)
	}
}
