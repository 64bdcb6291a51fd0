// Command synthgen writes a synthetic GGUF model (random weights) for tests
// and benchmarks: go run ./engine/gguf/synth/synthgen -o FILE
// [-arch llama|qwen35|qwen35moe|gemma4] [-size tiny|...] [-type q8_0]
// [-mmproj gemma3|qwen2a|ultravox].
package main

import (
	"flag"
	"fmt"
	"os"

	"natter/engine/gguf/synth"
)

func main() {
	out := flag.String("o", "", "output file (required)")
	arch := flag.String("arch", "llama", "architecture: llama, qwen35, qwen35moe, gemma4 (upstream llama.cpp's layout)")
	typ := flag.String("type", "q8_0", "weight type: f32, f16, q8_0, q4_0")
	size := flag.String("size", "", "model size: tiny or bench (any arch); for llama also 400m (the default) and wide (0.35B with 2048-wide layers, the shape ggml's AMX kernels take); tiny is always F32 unless -type is given")
	std := flag.Float64("std", 0, "standard deviation of the random weights of qwen35/qwen35moe/gemma4 (0: the size's default)")
	scales := flag.Bool("scales", false, "qwen35/qwen35moe/gemma4: add the optional per-tensor .scale tensors (as NVFP4 conversions carry)")
	fuse := flag.Bool("fuse", false, "qwen35/qwen35moe/gemma4: fused attn_qkv in attention layers and ffn_gate_up_exps (the converter's --fuse-qkv --fuse-gate-up-exps)")
	mtp := flag.Bool("mtp", false, "qwen35/qwen35moe: append the MTP (nextn) block, as llama.cpp v0.5.0's converter does by default")
	omitKV := flag.Bool("omit-shared-kv", false, "gemma4: leave attn_k/attn_v/attn_k_norm out of the KV-shared layers")
	force := flag.Bool("f", false, "overwrite an existing file")
	lora := flag.Int("lora", 0, "llama: write a LoRA adapter of this rank for the model of -size instead of the model")
	mmproj := flag.String("mmproj", "", "-arch llama -size tiny: write a multimodal projector (mmproj) for that model instead: gemma3 (images), qwen2a or ultravox (audio)")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	types := map[string]synth.TensorType{"f32": synth.F32, "f16": synth.F16, "q8_0": synth.Q8_0, "q4_0": synth.Q4_0}
	t, ok := types[*typ]
	if !ok {
		fail("unknown type %q", *typ)
	}
	typeSet := false
	flag.Visit(func(f *flag.Flag) { typeSet = typeSet || f.Name == "type" })
	write, err := writer(*arch, *size, t, typeSet, float32(*std), *scales, *fuse, *mtp, *omitKV)
	if err != nil {
		fail("%v", err)
	}
	if *lora > 0 {
		if write, err = loraWriter(*arch, *size, *lora); err != nil {
			fail("%v", err)
		}
	}
	if *mmproj != "" {
		if *arch != "llama" || *size != "tiny" {
			fail("-mmproj is for -arch llama -size tiny")
		}
		write = synth.ProjectorSpec{Projector: *mmproj, TextEmbd: synth.Tiny().NEmbd, Seed: 1}.Write
	}
	if _, err := os.Stat(*out); err == nil && !*force {
		return // already there: generation is deterministic
	}
	if err := write(*out); err != nil {
		fail("%v", err)
	}
}

// loraWriter writes an adapter for the llama model of size.
func loraWriter(arch, size string, rank int) (func(string) error, error) {
	if arch != "llama" || size != "tiny" {
		return nil, fmt.Errorf("-lora is for -arch llama -size tiny")
	}
	return synth.LoraSpec{Base: synth.Tiny(), Rank: rank, Seed: 1}.Write, nil
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "synthgen: "+format+"\n", a...)
	os.Exit(2)
}

// writer picks the spec for arch and size; tiny models stay F32 unless the
// type was given.
func writer(arch, size string, t synth.TensorType, typeSet bool, std float32, scales, fuse, mtp, omitKV bool) (func(string) error, error) {
	switch arch {
	case "llama":
		var spec synth.Spec
		switch size {
		case "tiny":
			spec = synth.Tiny()
			spec.Type = t
		case "", "400m", "bench":
			spec = synth.Bench400M(t)
		case "wide":
			spec = synth.Spec{NLayer: 6, NEmbd: 2048, NFF: 6144, NHead: 16, NHeadKV: 4, NCtxTrain: 4096,
				Type: t, Seed: 2048, Name: "synth-wide-" + t.String()}
		default:
			return nil, fmt.Errorf("unknown size %q for llama", size)
		}
		return func(p string) error { return synth.Write(p, spec) }, nil
	case "qwen35", "qwen35moe":
		if omitKV {
			return nil, fmt.Errorf("-omit-shared-kv is for gemma4")
		}
		var s synth.Qwen35Spec
		switch {
		case size == "tiny" && arch == "qwen35":
			s = synth.Qwen35Tiny()
		case size == "tiny":
			s = synth.Qwen35MoETiny()
		case (size == "" || size == "bench") && arch == "qwen35":
			s = synth.Qwen35Bench500M(t)
		case size == "" || size == "bench":
			s = synth.Qwen35MoEBench(t)
		default:
			return nil, fmt.Errorf("unknown size %q for %s (tiny, bench)", size, arch)
		}
		if size != "tiny" || typeSet {
			s.Type = t
		}
		if std != 0 {
			s.WeightStd = std
		}
		s.Scales = scales
		s.FuseQKV, s.FuseGateUpExps = fuse, fuse
		s.MTP = mtp
		return s.Write, nil
	case "gemma4":
		if mtp {
			return nil, fmt.Errorf("-mtp is for qwen35 and qwen35moe")
		}
		var s synth.Gemma4Spec
		switch size {
		case "tiny":
			s = synth.Gemma4Tiny()
		case "", "bench":
			s = synth.Gemma4Bench(t)
		default:
			return nil, fmt.Errorf("unknown size %q for gemma4 (tiny, bench)", size)
		}
		if size != "tiny" || typeSet {
			s.Type = t
		}
		if std != 0 {
			s.WeightStd = std
		}
		s.Scales = scales
		s.FuseQKV = fuse
		s.OmitSharedKV = omitKV
		return s.Write, nil
	}
	return nil, fmt.Errorf("unknown arch %q (llama, qwen35, qwen35moe, gemma4)", arch)
}
