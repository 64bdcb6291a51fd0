package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"natter/engine/api"
	"natter/engine/gguf/synth"
)

// loraBase is the tiny synthetic model adapters are written for.
func loraBase() synth.Spec {
	s := synth.Tiny()
	s.Name = "synth-lora-base"
	return s
}

func writeLora(t *testing.T, name string, spec synth.LoraSpec) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := spec.Write(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// greedyTokens generates n tokens greedily and returns them.
func greedyTokens(t *testing.T, e *Engine, n int) []Token {
	t.Helper()
	run(t, e, api.Request{Raw: true, Prompt: "Once upon a time", Sampling: greedy(), MaxTokens: n, IgnoreEOS: true})
	return e.lastGenerated()
}

func TestLoraScaleZeroIsBaseAndOneChangesOutput(t *testing.T) {
	basePath := synthModel(t, loraBase())
	ad := writeLora(t, "style.gguf", synth.LoraSpec{Base: loraBase(), Rank: 4, Seed: 3})
	base, err := Load(Options{ModelPath: basePath, ContextSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	want := greedyTokens(t, base, 32)
	base.Close()

	off, err := Load(Options{ModelPath: basePath, ContextSize: 256, Loras: []LoraOption{{Path: ad, Scale: 0}}})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if got := greedyTokens(t, off, 32); !slices.Equal(got, want) {
		t.Fatalf("scale 0 changed the output:\n base %v\n lora %v", want, got)
	}
	ads := off.Adapters()
	if len(ads) != 1 || ads[0].Name != "style.gguf" || len(ads[0].SHA256) != 64 || ads[0].Scale != 0 {
		t.Fatalf("Adapters() = %+v", ads)
	}

	// Scale 1 set at run time, without a reload: the output changes, and
	// the cached prompt (computed without the adapter) is not reused.
	if err := off.SetAdapterScale(0, 1); err != nil {
		t.Fatal(err)
	}
	on1 := greedyTokens(t, off, 32)
	if slices.Equal(on1, want) {
		t.Fatalf("scale 1 left the greedy output unchanged: %v", on1)
	}
	if st := lastStats(t, off); len(st.Adapters) != 1 || st.Adapters[0].Scale != 1 {
		t.Fatalf("the reply's stats name adapters %+v; want style.gguf at 1", st.Adapters)
	}
	// Deterministic: again on the same engine, and on a fresh load with
	// the adapter at 1 from the start.
	if again := greedyTokens(t, off, 32); !slices.Equal(again, on1) {
		t.Fatalf("scale 1 twice: %v then %v", on1, again)
	}
	fresh, err := Load(Options{ModelPath: basePath, ContextSize: 256, Loras: []LoraOption{{Path: ad, Scale: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got := greedyTokens(t, fresh, 32); !slices.Equal(got, on1) {
		t.Fatalf("loaded at scale 1: %v; set to 1 at run time: %v", got, on1)
	}
	// Back to 0: the base's output again.
	if err := off.SetAdapterScale(0, 0); err != nil {
		t.Fatal(err)
	}
	if got := greedyTokens(t, off, 32); !slices.Equal(got, want) {
		t.Fatalf("scale back to 0: %v; base %v", got, want)
	}
	if st := lastStats(t, off); len(st.Adapters) != 0 {
		t.Fatalf("an adapter at 0 is named in the stats: %+v", st.Adapters)
	}
	for _, bad := range []float32{5, -5} {
		if err := off.SetAdapterScale(0, bad); err == nil {
			t.Errorf("scale %g accepted", bad)
		}
	}
	if err := off.SetAdapterScale(3, 1); err == nil || !strings.Contains(err.Error(), "no LoRA adapter 4") {
		t.Errorf("adapter 4 of 1: %v", err)
	}
}

// lastStats runs a one-token reply and returns its stats.
func lastStats(t *testing.T, e *Engine) api.Stats {
	t.Helper()
	ch, err := e.Generate(context.Background(), api.Request{Raw: true, Prompt: "Once", Sampling: greedy(), MaxTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	var st api.Stats
	for ev := range ch {
		if ev.Kind == api.EventDone {
			st = *ev.Stats
		}
		if ev.Kind == api.EventError {
			t.Fatal(ev.Err)
		}
	}
	return st
}

func TestLoraBadAdaptersAreClearErrors(t *testing.T) {
	basePath := synthModel(t, loraBase())
	other := loraBase()
	other.NEmbd, other.NFF = 32, 64
	mismatched := writeLora(t, "other.gguf", synth.LoraSpec{Base: other, Rank: 4, Seed: 1})
	good := writeLora(t, "good.gguf", synth.LoraSpec{Base: loraBase(), Rank: 4, Seed: 1})
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cases := map[string]struct {
		path string
		want []string
	}{
		"other shapes":  {mismatched, []string{"other.gguf", filepath.Base(basePath)}},
		"model as lora": {basePath, []string{"not a LoRA adapter"}},
		"missing":       {filepath.Join(dir, "nope.gguf"), []string{"nope.gguf", filepath.Base(basePath)}},
	}
	for _, cut := range []int{len(b) / 2, len(b) - 1, 100, 8} {
		p := filepath.Join(dir, fmt.Sprintf("cut-%d.gguf", cut))
		if err := os.WriteFile(p, b[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		cases[fmt.Sprintf("truncated to %d bytes", cut)] = struct {
			path string
			want []string
		}{p, []string{filepath.Base(p), filepath.Base(basePath)}}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e, err := Load(Options{ModelPath: basePath, ContextSize: 256, Loras: []LoraOption{{Path: c.path, Scale: 1}}})
			if err == nil {
				e.Close()
				t.Fatal("loaded")
			}
			t.Log(err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseLora(t *testing.T) {
	for in, want := range map[string]LoraOption{
		"a.gguf":        {"a.gguf", 1},
		"a.gguf:0.5":    {"a.gguf", 0.5},
		"a.gguf:-1":     {"a.gguf", -1},
		"C:x.gguf":      {"C:x.gguf", 1},
		"dir:v2/a.gguf": {"dir:v2/a.gguf", 1},
	} {
		got, err := ParseLora(in)
		if err != nil || got != want {
			t.Errorf("ParseLora(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a.gguf:9", "a.gguf:NaN", "a.gguf:-4.5"} {
		if _, err := ParseLora(bad); err == nil {
			t.Errorf("ParseLora(%q) accepted", bad)
		}
	}
}
