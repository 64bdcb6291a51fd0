package goengine_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
	"natter/engine/goengine"
)

// synthFixture is one case of testdata/upstream_greedy.json (written with
// upstream llama.cpp v0.5.0's ref-greedy; see the file's "about").
type synthFixture struct {
	Arch, Spec, Type string
	SHA256           string `json:"model_sha256"`
	Prompt           []int32
	N                int
	Expected         []int32
	Margin           float64 `json:"min_top1_top2_logit_margin"`
}

// writeSynth writes the synth model a fixture names.
func writeSynth(t *testing.T, fx synthFixture, path string) {
	t.Helper()
	typ := map[string]synth.TensorType{"F32": synth.F32, "Q8_0": synth.Q8_0}[fx.Type]
	if typ.String() != fx.Type {
		t.Fatalf("fixture type %q", fx.Type)
	}
	// "synth.X()" or "synth.X() with A, B = true (...)"; Type is its own field.
	spec, with, _ := strings.Cut(fx.Spec, " with ")
	scales := strings.Contains(with, "Scales")
	fuseQKV, fuseGateUp := strings.Contains(with, "FuseQKV"), strings.Contains(with, "FuseGateUpExps")
	mtp := strings.Contains(with, "MTP")
	omitKV := strings.Contains(with, "OmitSharedKV")
	var err error
	switch spec {
	case "synth.Qwen35Tiny()", "synth.Qwen35MoETiny()":
		if omitKV {
			t.Fatalf("fixture spec %q: not a qwen35 option", fx.Spec)
		}
		s := synth.Qwen35Tiny()
		if spec == "synth.Qwen35MoETiny()" {
			s = synth.Qwen35MoETiny()
		}
		s.Type, s.Scales, s.FuseQKV, s.FuseGateUpExps, s.MTP = typ, scales, fuseQKV, fuseGateUp, mtp
		err = s.Write(path)
	case "synth.Gemma4Tiny()":
		if mtp || fuseGateUp {
			t.Fatalf("fixture spec %q: not a gemma4 option", fx.Spec)
		}
		s := synth.Gemma4Tiny()
		s.Type, s.Scales, s.FuseQKV, s.OmitSharedKV = typ, scales, fuseQKV, omitKV
		err = s.Write(path)
	default:
		t.Fatalf("fixture spec %q", fx.Spec)
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != fx.SHA256 {
		t.Skipf("DID NOT RUN: %s (%s) now writes sha256 %s, the fixture's file was %s: regenerate the fixture", fx.Spec, fx.Type, got, fx.SHA256)
	}
}

// The Go engine's greedy ids on synth's upstream-layout models (F32 and
// Q8_0; with per-tensor scales; with fused Q/K/V and gate/up experts)
// equal upstream llama.cpp's.
func TestGreedyMatchesUpstreamSynth(t *testing.T) {
	b, err := os.ReadFile("testdata/upstream_greedy.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Cases []synthFixture }
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ran := 0
	for i, fx := range doc.Cases {
		if !slices.Contains([]string{"qwen35", "qwen35moe", "gemma4"}, fx.Arch) {
			continue // llama-architecture files run on llama.cpp
		}
		ran++
		variant := ""
		if _, with, ok := strings.Cut(fx.Spec, " with "); ok && !strings.HasPrefix(with, "Type") {
			variant = "-" + strings.Fields(strings.NewReplacer(",", "", "=", "").Replace(with))[0]
		}
		t.Run(fmt.Sprintf("%s-%s%s-prompt%d", fx.Arch, fx.Type, variant, len(fx.Prompt)), func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%d.gguf", i))
			writeSynth(t, fx, path)
			e := loadFA(t, path)
			defer e.Close()
			got := greedy(t, e, fx.Prompt, fx.N)
			if !slices.Equal(got, fx.Expected) {
				t.Fatalf("Go engine %v\nupstream  %v (upstream's smallest top-2 margin %g)", got, fx.Expected, fx.Margin)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no qwen35/qwen35moe/gemma4 cases in the fixture")
	}
}

// Scales on quantized weights cannot be folded exactly: a clear error.
func TestScaledQuantizedWeightsRefused(t *testing.T) {
	s := synth.Qwen35Tiny()
	s.Type, s.Scales = synth.Q8_0, true
	path := filepath.Join(t.TempDir(), "q8s.gguf")
	if err := s.Write(path); err != nil {
		t.Fatal(err)
	}
	_, err := goengine.Load(goengine.Options{ModelPath: path, ContextSize: 64, Threads: 1})
	if !errors.Is(err, goengine.ErrLayout) || !strings.Contains(err.Error(), ".scale scales") || !strings.Contains(err.Error(), "Q8_0") {
		t.Fatalf("got %v", err)
	}
	t.Log(err)
}
