package synth

import (
	"encoding/binary"
	"math"
	"slices"
)

// Block layouts follow ggml-common.h: Q8_0 is an f16 scale then 32 int8
// quants (34 bytes); Q4_0 is an f16 scale then 16 bytes whose low nibbles
// hold elements 0-15 and high nibbles elements 16-31, stored as q+8.
const (
	blockSize    = 32
	q8BlockBytes = 2 + 32
	q4BlockBytes = 2 + 16
)

// f32ToF16 converts with round-to-nearest-even, as ggml does.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff: // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp > 142: // >= 2^16: overflows to Inf
		return sign | 0x7c00
	case exp >= 113: // normal half (2^-14 and up)
		h := uint32(exp-112)<<10 | mant>>13
		rest := mant & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
			h++ // may carry into the exponent, which is still correct
		}
		return sign | uint16(h)
	case exp >= 102: // subnormal half
		m := mant | 0x800000
		shift := uint32(126 - exp) // 14..24
		h := m >> shift
		rest := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rest > half || (rest == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	default: // rounds to zero
		return sign
	}
}

// f16ToF32 is exact.
func f16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	default:
		// subnormal: mant * 2^-24
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
}

// quantQ8_0 appends the Q8_0 blocks of x (len a multiple of 32).
func quantQ8_0(dst []byte, x []float32) []byte {
	n := len(x) / blockSize * q8BlockBytes
	dst = slices.Grow(dst, n)
	out := dst[len(dst) : len(dst)+n]
	for i := 0; i+blockSize <= len(x); i += blockSize {
		blk := x[i : i+blockSize : i+blockSize]
		// Bit patterns of non-negative floats order like their values.
		var abits uint32
		for _, v := range blk {
			abits = max(abits, math.Float32bits(v)&^(1<<31))
		}
		d := math.Float32frombits(abits) / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		o := out[i/blockSize*q8BlockBytes:][:q8BlockBytes]
		binary.LittleEndian.PutUint16(o, f32ToF16(d))
		for j, v := range blk {
			o[2+j] = byte(int8(roundf(v * id)))
		}
	}
	return dst[:len(dst)+n]
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// roundf rounds halves away from zero like C's roundf; in float64 the
// +-0.5 is exact for any float32.
// Branch-free: weight signs are random, so a branch would mispredict.
func roundf(v float32) int {
	return int(float64(v) + math.Copysign(0.5, float64(v)))
}

// quantQ4_0 appends the Q4_0 blocks of x (len a multiple of 32).
func quantQ4_0(dst []byte, x []float32) []byte {
	for i := 0; i+blockSize <= len(x); i += blockSize {
		blk := x[i : i+blockSize]
		var amax, mx float32
		for _, v := range blk {
			if a := abs32(v); amax < a {
				amax, mx = a, v
			}
		}
		d := mx / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		dst = binary.LittleEndian.AppendUint16(dst, f32ToF16(d))
		for j := 0; j < blockSize/2; j++ {
			dst = append(dst, q4nibble(blk[j]*id)|q4nibble(blk[j+blockSize/2]*id)<<4)
		}
	}
	return dst
}

// q4nibble mirrors MIN(15, (int8_t)(x + 8.5f)).
func q4nibble(x float32) byte {
	v := int8(float32(x) + 8.5)
	return byte(min(v, 15))
}

// dequantQ8_0 and dequantQ4_0 invert the above (used by tests).
func dequantQ8_0(b []byte, n int) []float32 {
	out := make([]float32, 0, n)
	for i := 0; len(out) < n; i += q8BlockBytes {
		d := f16ToF32(binary.LittleEndian.Uint16(b[i:]))
		for j := 0; j < blockSize; j++ {
			out = append(out, float32(int8(b[i+2+j]))*d)
		}
	}
	return out
}

func dequantQ4_0(b []byte, n int) []float32 {
	out := make([]float32, 0, n)
	for i := 0; len(out) < n; i += q4BlockBytes {
		d := f16ToF32(binary.LittleEndian.Uint16(b[i:]))
		var blk [blockSize]float32
		for j := 0; j < blockSize/2; j++ {
			q := b[i+2+j]
			blk[j] = float32(int(q&0xf)-8) * d
			blk[j+blockSize/2] = float32(int(q>>4)-8) * d
		}
		out = append(out, blk[:]...)
	}
	return out
}
