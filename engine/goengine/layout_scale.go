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
// scaled copy of the weight, handed to the model in place of the file's:
// exact up to rounding for F32 weights; for F16 the scaled values, and for
// Q8_0/Q4_0 the per-block f16 scales, are rounded to f16 once more
// (relative error ≤ 2⁻¹¹). Other weight types with a scale other than 1
// are refused. The copy costs the weight's size again in memory.

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
		switch w.Type {
		case gguf.TypeF32, gguf.TypeF16, gguf.TypeQ8_0, gguf.TypeQ4_0:
		default:
			return c.fail("tensor %s scales %s, a %s weight: the Go engine can apply scales to F32, F16, Q8_0 and Q4_0 weights only", name, wname, w.Type)
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
	dt, step := map[gguf.GGMLType]ml.DType{gguf.TypeF32: ml.DTypeF32, gguf.TypeF16: ml.DTypeF16,
		gguf.TypeQ8_0: ml.DTypeQ80, gguf.TypeQ4_0: ml.DTypeQ40}[sw.info.Type],
		map[gguf.GGMLType]int{gguf.TypeF32: 4, gguf.TypeF16: 2, gguf.TypeQ8_0: 34, gguf.TypeQ4_0: 18}[sw.info.Type]
	per := len(data) / len(sw.scale) // bytes per expert
	for e, s := range sw.scale {
		part := data[e*per : (e+1)*per]
		for i := 0; i+step <= len(part); i += step {
			if sw.info.Type == gguf.TypeF32 {
				v := math.Float32frombits(binary.LittleEndian.Uint32(part[i:]))
				binary.LittleEndian.PutUint32(part[i:], math.Float32bits(v*s))
				continue
			}
			// F16 values, or the f16 scale d leading each Q8_0/Q4_0 block.
			binary.LittleEndian.PutUint16(part[i:], f32ToF16(f16ToF32(binary.LittleEndian.Uint16(part[i:]))*s))
		}
	}
	shape := make([]int, len(sw.info.Dims))
	for i, d := range sw.info.Dims {
		shape[i] = int(d)
	}
	return b.ctx.Input().FromBytes(dt, data, shape...), nil
}

func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf, nan
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: man × 2⁻²⁴
		v := float32(man) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

// f32ToF16 rounds to nearest even, as ggml's conversion does.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff: // inf, nan
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp-127 > 15: // overflow
		return sign | 0x7c00
	case exp-127 < -25: // underflows to 0
		return sign
	case exp-127 < -14: // subnormal half
		man |= 0x800000
		shift := uint32(-14 - (exp - 127) + 13)
		half := man >> shift
		rem := man & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || rem == mid && half&1 == 1 {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(exp-127+15)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && half&1 == 1 {
		half++ // may carry into the exponent: still correct, up to inf
	}
	return sign | uint16(half)
}
