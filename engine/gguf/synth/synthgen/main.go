// Command synthgen writes a synthetic llama-architecture GGUF model (random
// weights) for benchmarks: go run ./engine/gguf/synth/synthgen -o FILE.
package main

import (
	"flag"
	"fmt"
	"os"

	"natter/engine/gguf/synth"
)

func main() {
	out := flag.String("o", "", "output file (required)")
	typ := flag.String("type", "q8_0", "weight type: f32, f16, q8_0, q4_0")
	size := flag.String("size", "400m", "model size: tiny, 400m, or wide (0.35B with 2048-wide layers, the shape ggml's AMX kernels take)")
	force := flag.Bool("f", false, "overwrite an existing file")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	types := map[string]synth.TensorType{"f32": synth.F32, "f16": synth.F16, "q8_0": synth.Q8_0, "q4_0": synth.Q4_0}
	t, ok := types[*typ]
	if !ok {
		fmt.Fprintf(os.Stderr, "synthgen: unknown type %q\n", *typ)
		os.Exit(2)
	}
	var spec synth.Spec
	switch *size {
	case "tiny":
		spec = synth.Tiny()
		spec.Type = t
	case "400m":
		spec = synth.Bench400M(t)
	case "wide":
		spec = synth.Spec{NLayer: 6, NEmbd: 2048, NFF: 6144, NHead: 16, NHeadKV: 4, NCtxTrain: 4096,
			Type: t, Seed: 2048, Name: "synth-wide-" + t.String()}
	default:
		fmt.Fprintf(os.Stderr, "synthgen: unknown size %q\n", *size)
		os.Exit(2)
	}
	if _, err := os.Stat(*out); err == nil && !*force {
		return // already there: generation is deterministic
	}
	if err := synth.Write(*out, spec); err != nil {
		fmt.Fprintln(os.Stderr, "synthgen:", err)
		os.Exit(1)
	}
}
