package synth

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// LoraSpec describes a synthetic LoRA adapter for a model written from Base,
// in the layout llama.cpp's llama_adapter_lora_init loads (the one
// convert_lora_to_gguf.py writes): for each adapted weight W of ggml shape
// [in, out], F32 tensors W.lora_a [in, Rank] and W.lora_b [Rank, out]; for
// token_embd.weight [n_embd, n_vocab] the halves swap roles, A [Rank, n_vocab]
// and B [Rank, n_embd]. Output is deterministic for a given LoraSpec.
type LoraSpec struct {
	Base  Spec    // the base model the adapter is for (its shapes)
	Rank  int     // e.g. 4
	Alpha float32 // adapter.lora.alpha; 0 = Rank
	Seed  int64
	// Targets are the base tensor names to adapt, without "blk.N." and
	// ".weight": "attn_q" adapts blk.N.attn_q.weight in every block,
	// "output" adapts output.weight. nil = attn_q, attn_k, attn_v and
	// attn_output. A target that matches no tensor of Base is an error.
	Targets []string
	// Magnitude is the standard deviation of the random A and B weights
	// (uniform); 0 = DefaultLoraMagnitude(Rank, Alpha).
	Magnitude float32
	// ShapeOf, when non-nil, overrides the base shapes (tests of
	// mismatched adapters): it gets each adapted tensor's name and ggml
	// shape in Base and returns the shape to build A and B for.
	ShapeOf func(name string, dims []int) []int
	// KV replaces metadata values by key, or adds keys, like Spec.KV (e.g.
	// "general.architecture" for an adapter of another architecture); a
	// nil value removes the key.
	KV map[string]any
	// Omit lists tensor names to leave out, e.g.
	// "blk.0.attn_q.weight.lora_b" for an adapter missing a pair half.
	Omit []string
}

// DefaultLoraTargets are the tensors adapted when LoraSpec.Targets is nil.
var DefaultLoraTargets = []string{"attn_q", "attn_k", "attn_v", "attn_output"}

// loraDelta is the standard deviation of the weight change B·A·alpha/rank
// the default magnitude aims at: 1.5 times the base weights' 0.02, so at
// scale 1 the adapter changes the tiny models' greedy output, while
// activations stay as tame as the base model's.
const loraDelta = 0.03

// DefaultLoraMagnitude is the Magnitude used when it is 0. Each element of
// B·A sums rank products of two weights of standard deviation m, so the
// change has deviation |alpha|/sqrt(rank) * m²; m is chosen to make that
// loraDelta.
func DefaultLoraMagnitude(rank int, alpha float32) float32 {
	if alpha == 0 {
		alpha = float32(rank)
	}
	return float32(math.Sqrt(loraDelta * math.Sqrt(float64(rank)) / math.Abs(float64(alpha))))
}

// Validate reports a LoraSpec that cannot be written.
func (s LoraSpec) Validate() error {
	if err := s.Base.Validate(); err != nil {
		return err
	}
	finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	switch {
	case s.Rank < 1:
		return errors.New("synth: LoRA rank must be positive")
	case !finite(s.Alpha):
		return fmt.Errorf("synth: LoRA alpha %g is not finite", s.Alpha)
	case !finite(s.Magnitude) || s.Magnitude < 0:
		return fmt.Errorf("synth: LoRA magnitude %g must be a finite non-negative number", s.Magnitude)
	}
	return nil
}

func (s LoraSpec) alpha() float32 {
	if s.Alpha == 0 {
		return float32(s.Rank)
	}
	return s.Alpha
}

// loraTarget reports whether base tensor name is adapted for target.
func loraTarget(name, target string) bool {
	if rest, ok := strings.CutPrefix(name, "blk."); ok {
		// blk.N.<target>.weight
		if i := strings.IndexByte(rest, '.'); i > 0 {
			if _, err := strconv.Atoi(rest[:i]); err == nil {
				return rest[i+1:] == target+".weight"
			}
		}
		return false
	}
	return name == target+".weight"
}

// tensors lists the adapter's tensors: each adapted weight's A then B, in
// the base file's order.
func (s LoraSpec) tensors() ([]tensor, error) {
	targets := s.Targets
	if targets == nil {
		targets = DefaultLoraTargets
	}
	used := make([]bool, len(targets))
	var ts []tensor
	for _, bt := range s.Base.tensors() {
		if bt.norm || len(bt.dims) != 2 {
			continue // norms are not adapted (llama.cpp skips *_norm.weight)
		}
		hit := false
		for i, tg := range targets {
			if loraTarget(bt.name, tg) {
				used[i], hit = true, true
			}
		}
		if !hit {
			continue
		}
		dims := slices.Clone(bt.dims)
		if s.ShapeOf != nil {
			dims = slices.Clone(s.ShapeOf(bt.name, dims))
		}
		if len(dims) < 2 || slices.ContainsFunc(dims, func(d int) bool { return d < 1 }) {
			return nil, fmt.Errorf("synth: ShapeOf(%s) = %v, want at least 2 positive dimensions", bt.name, dims)
		}
		outer := dims[2:]
		a := append([]int{dims[0], s.Rank}, outer...)
		b := append([]int{s.Rank, dims[1]}, outer...)
		if bt.name == "token_embd.weight" {
			// llm_build_inp_embd gathers rows of A by token, then
			// multiplies by B untransposed.
			a = append([]int{s.Rank, dims[1]}, outer...)
			b = append([]int{s.Rank, dims[0]}, outer...)
		}
		for _, h := range []struct {
			suffix string
			dims   []int
		}{{".lora_a", a}, {".lora_b", b}} {
			name := bt.name + h.suffix
			if slices.Contains(s.Omit, name) {
				continue
			}
			// A stream per tensor name: the values of one pair do not
			// depend on which others the adapter has.
			ts = append(ts, tensor{name: name, dims: h.dims, typ: F32, stream: name})
		}
	}
	for i, ok := range used {
		if !ok {
			return nil, fmt.Errorf("synth: LoRA target %q matches no tensor of the base model", targets[i])
		}
	}
	return ts, nil
}

func (s LoraSpec) header(ts []tensor) []byte {
	name := s.Base.Name
	if name == "" {
		name = "synth"
	}
	kvs := []kvPair{
		{"general.architecture", "llama"},
		{"general.type", "adapter"},
		{"general.name", name + "-lora"},
		{"general.alignment", uint32(Alignment)},
		{"adapter.type", "lora"},
		{"adapter.lora.alpha", s.alpha()},
	}
	return header(overrideKVs(kvs, s.KV), ts)
}

// overrideKVs applies a spec's KV overrides to kvs: a value replaces or
// adds its key (added in key order, so files stay deterministic), nil
// removes it.
func overrideKVs(kvs []kvPair, over map[string]any) []kvPair {
	keys := make([]string, 0, len(over))
	for k := range over {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		i := slices.IndexFunc(kvs, func(p kvPair) bool { return p.k == k })
		switch v := over[k]; {
		case v == nil && i >= 0:
			kvs = slices.Delete(kvs, i, i+1)
		case v == nil:
		case i < 0:
			kvs = append(kvs, kvPair{k, v})
		default:
			kvs[i].v = v
		}
	}
	return kvs
}

// Write writes the adapter to path atomically.
func (s LoraSpec) Write(path string) error {
	if err := s.Validate(); err != nil {
		return err
	}
	ts, err := s.tensors()
	if err != nil {
		return err
	}
	m := s.Magnitude
	if m == 0 {
		m = DefaultLoraMagnitude(s.Rank, s.Alpha)
	}
	// Random weights have standard deviation 0.02 at gain 1.
	return writeFile(path, s.header(ts), ts, s.Seed, m/0.02)
}
