package gguf

import (
	"encoding/binary"
	"math"
)

// builder assembles GGUF images byte by byte, so tests can write both valid
// files and precisely broken ones.
type builder struct{ b []byte }

func (b *builder) u8(v uint8)   { b.b = append(b.b, v) }
func (b *builder) u16(v uint16) { b.b = binary.LittleEndian.AppendUint16(b.b, v) }
func (b *builder) u32(v uint32) { b.b = binary.LittleEndian.AppendUint32(b.b, v) }
func (b *builder) u64(v uint64) { b.b = binary.LittleEndian.AppendUint64(b.b, v) }
func (b *builder) str(s string) { b.u64(uint64(len(s))); b.b = append(b.b, s...) }
func (b *builder) raw(p []byte) { b.b = append(b.b, p...) }

func (b *builder) header(version uint32, nTensors, nKV uint64) {
	b.b = append(b.b, "GGUF"...)
	b.u32(version)
	b.u64(nTensors)
	b.u64(nKV)
}

// kv writes a key and a value of the Go type's GGUF type.
func (b *builder) kv(key string, v any) {
	b.str(key)
	b.value(v, true)
}

func (b *builder) value(v any, withType bool) {
	typ := func(t uint32) {
		if withType {
			b.u32(t)
		}
	}
	switch v := v.(type) {
	case uint8:
		typ(vUint8)
		b.u8(v)
	case int8:
		typ(vInt8)
		b.u8(uint8(v))
	case uint16:
		typ(vUint16)
		b.u16(v)
	case int16:
		typ(vInt16)
		b.u16(uint16(v))
	case uint32:
		typ(vUint32)
		b.u32(v)
	case int32:
		typ(vInt32)
		b.u32(uint32(v))
	case float32:
		typ(vFloat32)
		b.u32(math.Float32bits(v))
	case bool:
		typ(vBool)
		if v {
			b.u8(1)
		} else {
			b.u8(0)
		}
	case string:
		typ(vString)
		b.str(v)
	case uint64:
		typ(vUint64)
		b.u64(v)
	case int64:
		typ(vInt64)
		b.u64(uint64(v))
	case float64:
		typ(vFloat64)
		b.u64(math.Float64bits(v))
	case []string:
		array(b, withType, vString, v)
	case []float32:
		array(b, withType, vFloat32, v)
	case []int32:
		array(b, withType, vInt32, v)
	case []uint8:
		array(b, withType, vUint8, v)
	case []int8:
		array(b, withType, vInt8, v)
	case []uint16:
		array(b, withType, vUint16, v)
	case []int16:
		array(b, withType, vInt16, v)
	case []uint32:
		array(b, withType, vUint32, v)
	case []uint64:
		array(b, withType, vUint64, v)
	case []int64:
		array(b, withType, vInt64, v)
	case []float64:
		array(b, withType, vFloat64, v)
	case []bool:
		array(b, withType, vBool, v)
	case []any:
		// Arrays of arrays: the element type is array.
		typ(vArray)
		b.u32(vArray)
		b.u64(uint64(len(v)))
		for _, e := range v {
			b.value(e, false)
		}
	default:
		panic("builder: unsupported type")
	}
}

func array[T any](b *builder, withType bool, et uint32, v []T) {
	if withType {
		b.u32(vArray)
	}
	b.u32(et)
	b.u64(uint64(len(v)))
	for _, e := range v {
		b.value(e, false)
	}
}

func (b *builder) tensor(name string, dims []uint64, typ GGMLType, offset uint64) {
	b.str(name)
	b.u32(uint32(len(dims)))
	for _, d := range dims {
		b.u64(d)
	}
	b.u32(uint32(typ))
	b.u64(offset)
}

func (b *builder) align(a int) {
	for len(b.b)%a != 0 {
		b.b = append(b.b, 0)
	}
}

func (b *builder) fill(n int, v byte) {
	for range n {
		b.b = append(b.b, v)
	}
}

// smallFile is a valid image with every value type, a nested array, and
// three tensors (F32, Q8_0, Q4_K) laid out with padding.
func smallFile() []byte {
	var b builder
	b.header(3, 3, 20)
	b.kv("general.architecture", "llama")
	b.kv("general.name", "small")
	b.kv("general.alignment", uint32(32))
	b.kv("general.file_type", uint32(7))
	b.kv("llama.context_length", uint32(128))
	b.kv("t.u8", uint8(200))
	b.kv("t.i8", int8(-5))
	b.kv("t.u16", uint16(60000))
	b.kv("t.i16", int16(-30000))
	b.kv("t.i32", int32(-7))
	b.kv("t.f32", float32(1.5))
	b.kv("t.bool", true)
	b.kv("t.u64", uint64(1)<<40)
	b.kv("t.i64", int64(-1)<<40)
	b.kv("t.f64", 2.25)
	b.kv("t.nested", []any{[]int32{1, 2}, []string{"x"}})
	b.kv("tokenizer.ggml.tokens", []string{"<unk>", "a", "é"})
	b.kv("tokenizer.ggml.scores", []float32{0, -1, -2})
	b.kv("tokenizer.ggml.token_type", []int32{2, 1, 1})
	b.kv("tokenizer.chat_template", "{{ messages }}")
	b.tensor("a", []uint64{8}, TypeF32, 0)              // 32 bytes
	b.tensor("b.weight", []uint64{32, 2}, TypeQ8_0, 32) // 68 bytes, padded to 96
	b.tensor("c", []uint64{256, 1, 1, 1}, TypeQ4_K, 128)
	b.align(32)
	b.fill(32, 1)
	b.fill(68, 2)
	b.fill(28, 0)
	b.fill(144, 3)
	return b.b
}
