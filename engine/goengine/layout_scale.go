package goengine

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/ollama/ollama/ml"

	"natter/engine/gguf"
)

// Per-tensor ".scale" multipliers: upstream llama.cpp multiplies a
// weight's matmul output by its scale (one per tensor, or one per expert
// for 3-D expert weights; NVFP4 conversions write them as "scale2").
// Ollama's model code has no such step, so natter folds the scale into a
// scaled copy of an F32 weight, handed to the model in place of the
// file's: (s·W)·x equals upstream's (W·x)·s up to one rounding per
// product. The copy costs the weight's size again in memory. For F16 and
// quantized weights the fold would round s·w (or each block's f16 scale)
// to f16 again: measured on synth's Q8_0 models with scales, that is
// enough to part from upstream's greedy ids within 2-15 tokens, so such
// files are refused. (The files that carry scales in practice are NVFP4
// ones, a type this ggml cannot load anyway.)

// scaledWeight is a weight to hand over multiplied by its scales.
type scaledWeight struct {
	info  gguf.TensorInfo
	scale []float32 // one value, or one per expert (ne[2])
}

// foldScales records, for every scale upstream applies (names), the
// weight to replace; scales that are all exactly 1 change nothing.
func (c *checker) foldScales(names []string, lb *layoutBackend) error {
	for _, name := range names {
		st, ok := c.tensors[name]
		if !ok {
			continue
		}
		vals, err := c.readF32(st)
		if err != nil {
			return err
		}
		unit := true
		for _, v := range vals {
			unit = unit && v == 1
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return c.fail("tensor %s holds %g", name, v)
			}
		}
		if unit {
			continue
		}
		wname := strings.TrimSuffix(name, ".scale") + ".weight"
		w, ok := c.tensors[wname]
		if !ok {
			continue // upstream loads a scale only beside its weight
		}
		experts := uint64(1)
		if len(w.Dims) == 3 {
			experts = w.Dims[2]
		}
		if uint64(len(vals)) != experts {
			return c.fail("tensor %s has %d values for %s with %d experts", name, len(vals), wname, experts)
		}
		if w.Type != gguf.TypeF32 {
			return c.fail("tensor %s scales %s, a %s weight: the Go engine applies such scales only to F32 weights", name, wname, w.Type)
		}
		lb.scaled[wname] = scaledWeight{info: w, scale: vals}
	}
	return nil
}

// scaledTensor builds the scaled copy of a weight in the backend's memory.
func (b *layoutBackend) scaledTensor(sw scaledWeight) (ml.Tensor, error) {
	fh, err := os.Open(b.path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data := make([]byte, sw.info.Size)
	if _, err := fh.ReadAt(data, b.dataOffset+int64(sw.info.Offset)); err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading %s: %w", sw.info.Name, err)
	}
	per := len(data) / len(sw.scale) // bytes per expert
	for e, s := range sw.scale {
		part := data[e*per : (e+1)*per]
		for i := 0; i+4 <= len(part); i += 4 {
			v := math.Float32frombits(binary.LittleEndian.Uint32(part[i:]))
			binary.LittleEndian.PutUint32(part[i:], math.Float32bits(v*s))
		}
	}
	shape := make([]int, len(sw.info.Dims))
	for i, d := range sw.info.Dims {
		shape[i] = int(d)
	}
	return b.ctx.Input().FromBytes(ml.DTypeF32, data, shape...), nil
}
