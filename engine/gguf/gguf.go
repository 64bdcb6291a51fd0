// Package gguf reads and validates GGUF model files in pure Go.
//
// llama.cpp aborts the whole process on some malformed files, so natter runs
// every file through Open first. Open checks the header, every metadata value
// and tensor record, the tensor data layout, and the metadata llama.cpp would
// assert on, and reports the first problem in one line naming the file. It
// never allocates more than the file could hold.
//
// It imports nothing of natter's outside engine/gguf/..., so models can read
// headers without the rest of the engine.
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Sentinel errors; match them with errors.Is.
var (
	ErrNotGGUF   = errors.New("not a GGUF file")
	ErrVersion   = errors.New("unsupported GGUF version")
	ErrTruncated = errors.New("truncated")
	ErrCorrupt   = errors.New("corrupt")
)

// Error is a validation failure of one file.
type Error struct {
	Path string // as passed to Open; "" for Parse
	Kind error  // one of the sentinels, or an fs error from Open
	Msg  string // the problem, without the path
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Kind }

// KV is one metadata entry. Value is uint8, int8, uint16, int16, uint32,
// int32, uint64, int64, float32, float64, bool or string; arrays are typed
// slices ([]uint8 … []string, []bool); arrays of arrays are []any.
type KV struct {
	Key   string
	Value any
}

// TensorInfo describes one tensor. Dims are ggml's ne, innermost first.
// Offset is relative to File.DataOffset; Size is the data size in bytes.
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   GGMLType
	Offset uint64
	Size   uint64
}

// Elements is the number of values in the tensor.
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed and validated GGUF file.
type File struct {
	Path       string
	Version    uint32
	KV         []KV
	Tensors    []TensorInfo
	Alignment  uint64
	DataOffset int64 // start of the tensor data section
	FileSize   int64

	index map[string]int
}

// Limits of the format as llama.cpp reads it.
const (
	DefaultAlignment = 32
	maxDims          = 4  // GGML_MAX_DIMS
	maxNameLen       = 63 // GGML_MAX_NAME - 1 (names are NUL-terminated)
	maxArrayDepth    = 8  // arrays of arrays; real files use none
)

// Open reads and validates the GGUF file at path.
func Open(path string) (*File, error) { return open(path, "model", parse) }

// open is Open with the parser and, for messages, the noun for the file
// wanted ("model", "LoRA adapter").
func open(path, noun string, parseFn func(io.ReaderAt, int64, string) (*File, error)) (*File, error) {
	fail := func(kind error, format string, a ...any) error {
		return &Error{Path: path, Kind: kind, Msg: fmt.Sprintf(format, a...)}
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fail(err, "no such file")
	case err != nil:
		return nil, fail(err, "cannot read: %v", unwrapPathError(err))
	case st.IsDir():
		return nil, fail(ErrNotGGUF, "is a directory, not a GGUF %s file", noun)
	case !st.Mode().IsRegular():
		return nil, fail(ErrNotGGUF, "is not a regular file")
	case st.Size() == 0:
		return nil, fail(ErrNotGGUF, "empty file (0 bytes), not a GGUF %s", noun)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fail(err, "cannot open: %v", unwrapPathError(err))
	}
	defer f.Close()
	gf, err := parseFn(f, st.Size(), path)
	if err != nil {
		return nil, err
	}
	return gf, nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse reads and validates a GGUF image of size bytes.
func Parse(r io.ReaderAt, size int64) (*File, error) {
	return parse(r, size, "")
}

// GGUF value types.
const (
	vUint8   = 0
	vInt8    = 1
	vUint16  = 2
	vInt16   = 3
	vUint32  = 4
	vInt32   = 5
	vFloat32 = 6
	vBool    = 7
	vString  = 8
	vArray   = 9
	vUint64  = 10
	vInt64   = 11
	vFloat64 = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

// fixedSize is the encoded size of a scalar type (0 for string and array).
var fixedSize = [...]uint64{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

// reader tracks the position and what is being read, for error messages.
type reader struct {
	br    *bufio.Reader
	arena []byte // backing store for short strings, to save an allocation each
	pos   uint64
	size  uint64
	path  string
	what  string // e.g. `key 3 ("general.name")`
	buf   [8]byte
}

func (r *reader) fail(kind error, format string, a ...any) error {
	return &Error{Path: r.path, Kind: kind, Msg: kind.Error() + ": " + fmt.Sprintf(format, a...)}
}

// need fails unless n more bytes exist.
func (r *reader) need(n uint64) error {
	if n > r.size-r.pos {
		end := "beyond byte 2^64"
		if sum, carry := bits.Add64(r.pos, n, 0); carry == 0 {
			end = fmt.Sprintf("at byte %d", sum)
		}
		return r.fail(ErrTruncated, "%s ends %s but the file has %d bytes", r.what, end, r.size)
	}
	return r.within(n)
}

// maxHeaderBytes caps the metadata and tensor infos, which are held in
// memory: real files need a few MB, and a huge value in a huge file should
// not take GBs of RAM. A variable so tests can lower it.
var maxHeaderBytes uint64 = 256 << 20

// within fails if n more bytes would pass maxHeaderBytes.
func (r *reader) within(n uint64) error {
	if n > maxHeaderBytes || r.pos > maxHeaderBytes-n {
		return r.fail(ErrCorrupt, "%s at byte %d takes the metadata past natter's limit of %d MiB", r.what, r.pos, maxHeaderBytes>>20)
	}
	return nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if err := r.need(uint64(n)); err != nil {
		return nil, err
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.br, b); err != nil {
		return nil, r.ioErr(err)
	}
	r.pos += uint64(n)
	return b, nil
}

// ioErr reports a read failure of bytes the size said exist (the file
// shrank, or a device error).
func (r *reader) ioErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return r.fail(ErrTruncated, "%s: file ended early at byte %d (did it change while being read?)", r.what, r.pos)
	}
	return &Error{Path: r.path, Kind: err, Msg: fmt.Sprintf("reading %s at byte %d: %v", r.what, r.pos, err)}
}

func (r *reader) u32() (uint32, error) {
	b, err := r.bytes(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (r *reader) u64() (uint64, error) {
	b, err := r.bytes(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (r *reader) str() (string, error) {
	n, err := r.u64()
	if err != nil {
		return "", err
	}
	if n > r.size-r.pos {
		return "", r.fail(ErrTruncated, "%s: string of %d bytes at byte %d runs past the end of the file (%d bytes)", r.what, n, r.pos, r.size)
	}
	if err := r.within(n); err != nil {
		return "", err
	}
	if n <= 256 && n <= uint64(r.br.Size()) {
		b, err := r.br.Peek(int(n))
		if err != nil {
			return "", r.ioErr(err)
		}
		if int(n) > cap(r.arena)-len(r.arena) {
			// Chunks of 64 KiB, smaller near the end of a small file.
			r.arena = make([]byte, 0, max(n, min(64<<10, r.size-r.pos)))
		}
		start := len(r.arena)
		r.arena = append(r.arena, b...)
		r.br.Discard(int(n))
		r.pos += n
		// The arena is append-only, so these bytes never change.
		return unsafe.String(unsafe.SliceData(r.arena[start:]), n), nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.br, b); err != nil {
		return "", r.ioErr(err)
	}
	r.pos += n
	return unsafe.String(unsafe.SliceData(b), n), nil // b is not kept elsewhere
}

// scalar reads one value of fixed-size type t.
func (r *reader) scalar(t uint32) (any, error) {
	b, err := r.bytes(int(fixedSize[t]))
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch t {
	case vUint8:
		return b[0], nil
	case vInt8:
		return int8(b[0]), nil
	case vUint16:
		return le.Uint16(b), nil
	case vInt16:
		return int16(le.Uint16(b)), nil
	case vUint32:
		return le.Uint32(b), nil
	case vInt32:
		return int32(le.Uint32(b)), nil
	case vFloat32:
		return math.Float32frombits(le.Uint32(b)), nil
	case vBool:
		return b[0] != 0, nil
	case vUint64:
		return le.Uint64(b), nil
	case vInt64:
		return int64(le.Uint64(b)), nil
	default: // vFloat64
		return math.Float64frombits(le.Uint64(b)), nil
	}
}

func (r *reader) valueType() (uint32, error) {
	t, err := r.u32()
	if err != nil {
		return 0, err
	}
	if t > vFloat64 {
		return 0, r.fail(ErrCorrupt, "%s has unknown value type %d at byte %d", r.what, t, r.pos-4)
	}
	return t, nil
}

func (r *reader) value(t uint32, depth int) (any, error) {
	switch t {
	case vString:
		return r.str()
	case vArray:
		return r.array(depth + 1)
	default:
		return r.scalar(t)
	}
}

func (r *reader) array(depth int) (any, error) {
	if depth > maxArrayDepth {
		return nil, r.fail(ErrCorrupt, "%s: arrays nested more than %d deep", r.what, maxArrayDepth)
	}
	et, err := r.valueType()
	if err != nil {
		return nil, err
	}
	n, err := r.u64()
	if err != nil {
		return nil, err
	}
	// Every element takes at least minSize bytes, so the count is bounded by
	// what is left of the file before anything is allocated.
	minSize := fixedSize[et]
	switch et {
	case vString:
		minSize = 8
	case vArray:
		minSize = 12
	}
	if n > (r.size-r.pos)/minSize {
		return nil, r.fail(ErrTruncated, "%s: array of %d %s values at byte %d needs at least %d bytes but only %d remain",
			r.what, n, valueTypeNames[et], r.pos, satMul(n, minSize), r.size-r.pos)
	}
	if err := r.within(n * minSize); err != nil {
		return nil, err
	}
	switch et {
	case vString:
		out := make([]string, n)
		for i := range out {
			if out[i], err = r.str(); err != nil {
				return nil, err
			}
		}
		return out, nil
	case vArray:
		out := make([]any, n)
		for i := range out {
			if out[i], err = r.array(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	// Fixed-size elements: read them in chunks straight from the buffer.
	raw := make([]byte, n*minSize)
	if _, err := io.ReadFull(r.br, raw); err != nil {
		return nil, r.ioErr(err)
	}
	r.pos += uint64(len(raw))
	return decodeArray(et, raw, int(n)), nil
}

func decodeArray(t uint32, b []byte, n int) any {
	le := binary.LittleEndian
	switch t {
	case vUint8:
		return b
	case vInt8:
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(b[i])
		}
		return out
	case vUint16:
		out := make([]uint16, n)
		for i := range out {
			out[i] = le.Uint16(b[2*i:])
		}
		return out
	case vInt16:
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(le.Uint16(b[2*i:]))
		}
		return out
	case vUint32:
		out := make([]uint32, n)
		for i := range out {
			out[i] = le.Uint32(b[4*i:])
		}
		return out
	case vInt32:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(le.Uint32(b[4*i:]))
		}
		return out
	case vFloat32:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
		return out
	case vBool:
		out := make([]bool, n)
		for i := range out {
			out[i] = b[i] != 0
		}
		return out
	case vUint64:
		out := make([]uint64, n)
		for i := range out {
			out[i] = le.Uint64(b[8*i:])
		}
		return out
	case vInt64:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(le.Uint64(b[8*i:]))
		}
		return out
	default: // vFloat64
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
		return out
	}
}

func satMul(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

// Smallest encodings, used to bound the header's counts: a KV is a key
// length, a type and at least one byte of value; a tensor info a name
// length, one name byte, n_dims, one dim, a type and an offset.
const (
	minKVBytes     = 8 + 4 + 1
	minTensorBytes = 8 + 1 + 4 + 8 + 4 + 8
)

// parse reads a model: the layout, then what llama.cpp's model loader
// would trip on.
func parse(ra io.ReaderAt, size int64, path string) (*File, error) {
	f, err := parseLayout(ra, size, path)
	if err != nil {
		return nil, err
	}
	if err := f.checkNotAdapter(); err != nil {
		return nil, err
	}
	if err := f.checkLlama(); err != nil {
		return nil, err
	}
	return f, nil
}

// parseLayout checks what any GGUF file must satisfy (header, metadata,
// tensor infos and data layout) and nothing model-specific, so adapters
// can share it.
func parseLayout(ra io.ReaderAt, size int64, path string) (*File, error) {
	if size < 0 {
		return nil, &Error{Path: path, Kind: ErrCorrupt, Msg: fmt.Sprintf("negative size %d", size)}
	}
	r := &reader{
		br:   bufio.NewReaderSize(io.NewSectionReader(ra, 0, size), int(min(size, 64<<10))),
		size: uint64(size),
		path: path,
	}
	if size == 0 {
		return nil, &Error{Path: path, Kind: ErrNotGGUF, Msg: "empty file (0 bytes), not a GGUF model"}
	}
	f := &File{Path: path, FileSize: size, Alignment: DefaultAlignment}

	// Header.
	r.what = "magic"
	if size < 4 {
		return nil, r.fail(ErrNotGGUF, "file has only %d bytes", size)
	}
	magic, err := r.bytes(4)
	if err != nil {
		return nil, err
	}
	if string(magic) != "GGUF" {
		return nil, &Error{Path: path, Kind: ErrNotGGUF, Msg: fmt.Sprintf("%v: starts with %q, not \"GGUF\"", ErrNotGGUF, magic)}
	}
	r.what = "header"
	if f.Version, err = r.u32(); err != nil {
		return nil, err
	}
	switch v := f.Version; {
	case v == 2 || v == 3:
	case v == 1:
		return nil, r.fail(ErrVersion, "version 1 is no longer supported (llama.cpp reads versions 2 and 3); convert the model again")
	case v&0xffff == 0:
		return nil, r.fail(ErrVersion, "version %#x looks like a big-endian file, which is not supported", v)
	default:
		return nil, r.fail(ErrVersion, "version %d (natter reads versions 2 and 3)", v)
	}
	nTensors, err := r.u64()
	if err != nil {
		return nil, err
	}
	nKV, err := r.u64()
	if err != nil {
		return nil, err
	}
	rest := r.size - r.pos
	if nKV > rest/minKVBytes || nTensors > rest/minTensorBytes || satMul(nKV, minKVBytes)+satMul(nTensors, minTensorBytes) > rest {
		return nil, r.fail(ErrTruncated, "header claims %d key-value pairs and %d tensors, more than the remaining %d bytes can hold", nKV, nTensors, rest)
	}

	// Metadata.
	f.KV = make([]KV, 0, nKV)
	f.index = make(map[string]int, nKV)
	for i := uint64(0); i < nKV; i++ {
		r.what = fmt.Sprintf("key %d", i)
		key, err := r.str()
		if err != nil {
			return nil, err
		}
		r.what = fmt.Sprintf("key %d (%s)", i, short(key))
		if j, dup := f.index[key]; dup {
			return nil, r.fail(ErrCorrupt, "duplicate key %s (entries %d and %d)", short(key), j, i)
		}
		t, err := r.valueType()
		if err != nil {
			return nil, err
		}
		v, err := r.value(t, 0)
		if err != nil {
			return nil, err
		}
		f.index[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Value: v})
	}
	if v, ok := f.Get("general.alignment"); ok {
		// llama.cpp asserts (aborts) unless this is a uint32.
		a, isU32 := v.(uint32)
		switch {
		case !isU32:
			return nil, r.fail(ErrCorrupt, "general.alignment is a %s, must be uint32", typeName(v))
		case a == 0 || a&(a-1) != 0:
			return nil, r.fail(ErrCorrupt, "general.alignment %d is not a power of two", a)
		}
		f.Alignment = uint64(a)
	}

	// Tensor infos.
	f.Tensors = make([]TensorInfo, 0, nTensors)
	names := make(map[string]int, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		r.what = fmt.Sprintf("tensor info %d", i)
		name, err := r.str()
		if err != nil {
			return nil, err
		}
		r.what = fmt.Sprintf("tensor info %d (%s)", i, short(name))
		switch {
		case name == "":
			return nil, r.fail(ErrCorrupt, "%s has an empty name", r.what)
		case strings.IndexByte(name, 0) >= 0:
			return nil, r.fail(ErrCorrupt, "%s: name contains a NUL byte", r.what)
		case len(name) > maxNameLen:
			return nil, r.fail(ErrCorrupt, "%s: name is %d bytes, longer than ggml's limit of %d", r.what, len(name), maxNameLen)
		}
		if j, dup := names[name]; dup {
			return nil, r.fail(ErrCorrupt, "duplicate tensor name %q (tensors %d and %d)", name, j, i)
		}
		names[name] = int(i)
		nDims, err := r.u32()
		if err != nil {
			return nil, err
		}
		if nDims < 1 || nDims > maxDims {
			return nil, r.fail(ErrCorrupt, "%s has %d dimensions, must be 1 to %d", r.what, nDims, maxDims)
		}
		ti := TensorInfo{Name: name, Dims: make([]uint64, nDims)}
		elems := uint64(1)
		for d := range ti.Dims {
			if ti.Dims[d], err = r.u64(); err != nil {
				return nil, err
			}
			if ti.Dims[d] == 0 {
				return nil, r.fail(ErrCorrupt, "%s: dimension %d is zero", r.what, d)
			}
			hi, lo := bits.Mul64(elems, ti.Dims[d])
			if hi != 0 || lo > math.MaxInt64 {
				return nil, r.fail(ErrCorrupt, "%s: shape %v has too many elements", r.what, ti.Dims[:d+1])
			}
			elems = lo
		}
		tt, err := r.u32()
		if err != nil {
			return nil, err
		}
		ti.Type = GGMLType(tt)
		info, known := typeTable[ti.Type]
		if !known {
			if old, ok := removedTypes[ti.Type]; ok {
				return nil, r.fail(ErrCorrupt, "%s has tensor type %d (%s), which ggml no longer supports; convert the model again", r.what, tt, old)
			}
			return nil, r.fail(ErrCorrupt, "%s has unknown tensor type %d", r.what, tt)
		}
		if ti.Dims[0]%info.blockSize != 0 {
			return nil, r.fail(ErrCorrupt, "%s: %s rows of %d elements are not a multiple of its block size %d", r.what, ti.Type, ti.Dims[0], info.blockSize)
		}
		// elems < 2^63 and typeSize/blockSize <= 292 bytes per element at
		// most, so this cannot overflow 128 bits; check 64.
		hi, lo := bits.Mul64(elems/info.blockSize, info.typeSize)
		if hi != 0 || lo > math.MaxInt64 {
			return nil, r.fail(ErrCorrupt, "%s: data size overflows", r.what)
		}
		ti.Size = lo
		if ti.Offset, err = r.u64(); err != nil {
			return nil, err
		}
		if ti.Offset%f.Alignment != 0 {
			return nil, r.fail(ErrCorrupt, "%s: data offset %d is not a multiple of the alignment %d", r.what, ti.Offset, f.Alignment)
		}
		f.Tensors = append(f.Tensors, ti)
	}

	// Tensor data: starts at the next aligned byte after the infos.
	start := (r.pos + f.Alignment - 1) / f.Alignment * f.Alignment
	if start < r.pos { // wrapped
		start = math.MaxUint64
	}
	if len(f.Tensors) > 0 && start > r.size {
		r.what = "tensor data section"
		return nil, r.fail(ErrTruncated, "tensor data section starts at byte %d but the file has %d bytes", start, r.size)
	}
	f.DataOffset = int64(min(start, r.size))
	dataLen := r.size - uint64(f.DataOffset)
	for i, t := range f.Tensors {
		if t.Offset > dataLen || t.Size > dataLen-t.Offset {
			end := "past byte 2^64"
			s, c1 := bits.Add64(uint64(f.DataOffset), t.Offset, 0)
			e, c2 := bits.Add64(s, t.Size, 0)
			if c1 == 0 && c2 == 0 {
				end = fmt.Sprintf("at byte %d", e)
			}
			return nil, &Error{Path: path, Kind: ErrTruncated, Msg: fmt.Sprintf("%v: tensor %d (%q) data ends %s but the file has %d bytes",
				ErrTruncated, i, t.Name, end, r.size)}
		}
	}
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmpU64(f.Tensors[a].Offset, f.Tensors[b].Offset)
	})
	for k := 1; k < len(order); k++ {
		a, b := f.Tensors[order[k-1]], f.Tensors[order[k]]
		if b.Offset < a.Offset+a.Size {
			return nil, &Error{Path: path, Kind: ErrCorrupt, Msg: fmt.Sprintf("%v: tensors %d (%q, bytes %d-%d) and %d (%q, from byte %d) overlap",
				ErrCorrupt, order[k-1], a.Name, a.Offset, a.Offset+a.Size, order[k], b.Name, b.Offset)}
		}
	}
	// llama.cpp (gguf.cpp) also insists that tensors follow each other in
	// order, each at the next aligned offset; it refuses anything else with
	// only a log line, so say it here.
	var next uint64
	for i, t := range f.Tensors {
		if t.Offset != next {
			return nil, &Error{Path: path, Kind: ErrCorrupt, Msg: fmt.Sprintf("%v: tensor %d (%q) data is at offset %d but llama.cpp requires %d (tensors must be stored in order, each at the next aligned offset)",
				ErrCorrupt, i, t.Name, t.Offset, next)}
		}
		next += (t.Size + f.Alignment - 1) / f.Alignment * f.Alignment
	}
	return f, nil
}

// short quotes s for an error message, cut to 80 bytes so a hostile key
// cannot make a huge one.
func short(s string) string {
	const n = 80
	if len(s) <= n {
		return strconv.Quote(s)
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("… (%d bytes)", len(s))
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkLlama rejects metadata that llama.cpp trusts without checking and
// would crash on (GGML_ASSERT or out-of-bounds reads).
func (f *File) checkLlama() error {
	fail := func(format string, a ...any) error {
		return &Error{Path: f.Path, Kind: ErrCorrupt, Msg: ErrCorrupt.Error() + ": " + fmt.Sprintf(format, a...)}
	}
	if err := f.checkKeyTypes(fail); err != nil {
		return err
	}
	tv, hasTokens := f.Get("tokenizer.ggml.tokens")
	tokens, isStrings := tv.([]string)
	if hasTokens && !isStrings {
		return fail("tokenizer.ggml.tokens is a %s, must be an array of strings", typeName(tv))
	}
	if v, ok := f.Get("tokenizer.ggml.merges"); ok {
		if _, isStrings := v.([]string); !isStrings {
			return fail("tokenizer.ggml.merges is a %s, must be an array of strings", typeName(v))
		}
	}
	if v, ok := f.Get("tokenizer.ggml.scores"); ok {
		s, isF32 := v.([]float32)
		if !isF32 || !hasTokens || len(s) != len(tokens) {
			return fail("tokenizer.ggml.scores is a %s of %d, must be %d float32 values (one per token)", typeName(v), arrayLen(v), len(tokens))
		}
	}
	if v, ok := f.Get("tokenizer.ggml.token_type"); ok {
		s, isI32 := v.([]int32)
		if !isI32 || !hasTokens || len(s) != len(tokens) {
			return fail("tokenizer.ggml.token_type is a %s of %d, must be %d int32 values (one per token)", typeName(v), arrayLen(v), len(tokens))
		}
	}
	if v, ok := f.Get("tokenizer.ggml.precompiled_charsmap"); ok {
		if _, isStrings := v.([]string); isStrings || arrayLen(v) < 0 {
			return fail("tokenizer.ggml.precompiled_charsmap is a %s, must be an array of numbers", typeName(v))
		}
	}
	// llama.cpp asserts that token texts are unique; it renames empty ones.
	if i, j, dup := firstDuplicate(tokens); dup {
		return fail("tokenizer.ggml.tokens: tokens %d and %d are both %s", i, j, short(tokenText(tokens, i)))
	}
	return f.checkHparams(fail)
}

// checkHparams mirrors the GGML_ASSERTs of llama_model::load_hparams that
// depend only on metadata (llama-model.cpp).
func (f *File) checkHparams(fail func(string, ...any) error) error {
	a := f.Arch()
	if a == "" {
		return nil
	}
	if v, ok := f.Get(a + ".rope.scaling.type"); ok {
		switch v {
		case "none", "linear", "yarn", "longrope":
		default:
			if s, isStr := v.(string); isStr {
				return fail("%s.rope.scaling.type %s is not one llama.cpp knows (none, linear, yarn, longrope)", a, short(s))
			}
		}
	}
	u := func(key string) uint64 { n, _ := f.Uint(a + "." + key); return n }
	for _, key := range []string{"expert_count", "expert_used_count", "expert_group_count", "expert_group_used_count"} {
		if v, ok := f.Get(a + "." + key); ok {
			if _, isUint := f.Uint(a + "." + key); !isUint {
				return fail("%s.%s is a %s, must be an unsigned integer", a, key, typeName(v))
			}
		}
	}
	experts, used := u("expert_count"), u("expert_used_count")
	groups, groupsUsed := u("expert_group_count"), u("expert_group_used_count")
	const maxExperts = 512 // LLAMA_MAX_EXPERTS
	switch {
	case experts > maxExperts:
		return fail("%s.expert_count %d is more than llama.cpp's limit of %d", a, experts, maxExperts)
	case used > experts:
		return fail("%s.expert_used_count %d is more than expert_count %d", a, used, experts)
	case experts > 0 && used == 0:
		return fail("%s.expert_count is %d but expert_used_count is 0", a, experts)
	case experts > 0 && groups >= experts:
		return fail("%s.expert_group_count %d must be less than expert_count %d", a, groups, experts)
	case experts > 0 && groups > 1 && (experts%groups != 0 || groupsUsed == 0 || groupsUsed >= groups):
		return fail("%s: %d experts in %d groups with %d groups used is not a valid split", a, experts, groups, groupsUsed)
	case experts == 0 && groups != 0:
		return fail("%s.expert_group_count is %d but the model has no experts", a, groups)
	}
	return nil
}

func tokenText(tokens []string, i int) string {
	if tokens[i] == "" {
		return fmt.Sprintf("[EMPTY_%d]", i)
	}
	return tokens[i]
}

// firstDuplicate finds two equal tokens (i < j). Sorting 64-bit hashes is
// several times faster than a map for 100k+ vocabularies; only if two
// hashes collide does it look at the texts.
func firstDuplicate(tokens []string) (int, int, bool) {
	seed := maphash.MakeSeed()
	hs := make([]uint64, len(tokens))
	for i, t := range tokens {
		hs[i] = maphash.String(seed, t)
	}
	slices.Sort(hs)
	collide := false
	for k := 1; k < len(hs) && !collide; k++ {
		collide = hs[k] == hs[k-1]
	}
	if !collide {
		// Distinct texts; a renamed empty token can still equal a real
		// "[EMPTY_n]" token.
		empty := map[string]int{}
		for i, t := range tokens {
			if t == "" {
				empty[tokenText(tokens, i)] = i
			}
		}
		if len(empty) == 0 {
			return 0, 0, false
		}
	}
	seen := make(map[string]int, len(tokens))
	for j := range tokens {
		t := tokenText(tokens, j)
		if i, dup := seen[t]; dup {
			return i, j, true
		}
		seen[t] = j
	}
	return 0, 0, false
}

func arrayLen(v any) int {
	switch v := v.(type) {
	case []uint8:
		return len(v)
	case []int8:
		return len(v)
	case []uint16:
		return len(v)
	case []int16:
		return len(v)
	case []uint32:
		return len(v)
	case []int32:
		return len(v)
	case []float32:
		return len(v)
	case []bool:
		return len(v)
	case []string:
		return len(v)
	case []uint64:
		return len(v)
	case []int64:
		return len(v)
	case []float64:
		return len(v)
	case []any:
		return len(v)
	}
	return -1
}

// typeName names a metadata value's GGUF type, e.g. "uint32", "[]string".
func typeName(v any) string {
	switch v.(type) {
	case uint8:
		return "uint8"
	case int8:
		return "int8"
	case uint16:
		return "uint16"
	case int16:
		return "int16"
	case uint32:
		return "uint32"
	case int32:
		return "int32"
	case float32:
		return "float32"
	case bool:
		return "bool"
	case string:
		return "string"
	case uint64:
		return "uint64"
	case int64:
		return "int64"
	case float64:
		return "float64"
	case []any:
		return "array of arrays"
	}
	return fmt.Sprintf("array of %s", strings.TrimPrefix(fmt.Sprintf("%T", v), "[]"))
}

// Get returns the value of a metadata key.
func (f *File) Get(key string) (any, bool) {
	if f.index == nil {
		f.index = make(map[string]int, len(f.KV))
		for i, kv := range f.KV {
			f.index[kv.Key] = i
		}
	}
	i, ok := f.index[key]
	if !ok {
		return nil, false
	}
	return f.KV[i].Value, true
}

// String returns a string value, or "" if the key is missing or not a string.
func (f *File) String(key string) string {
	v, _ := f.Get(key)
	s, _ := v.(string)
	return s
}

// Uint returns an integer value of any integer type; negative values and
// non-integers report false.
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return AsUint(v)
}

// AsUint reads a metadata value of any integer type as a uint64; negative
// values and non-integers report false.
func AsUint(v any) (uint64, bool) {
	switch v := v.(type) {
	case uint8:
		return uint64(v), true
	case uint16:
		return uint64(v), true
	case uint32:
		return uint64(v), true
	case uint64:
		return v, true
	case int8:
		return uint64(v), v >= 0
	case int16:
		return uint64(v), v >= 0
	case int32:
		return uint64(v), v >= 0
	case int64:
		return uint64(v), v >= 0
	}
	return 0, false
}

// Arch is general.architecture, e.g. "llama".
func (f *File) Arch() string { return f.String("general.architecture") }

// Name is general.name, else the file's base name without ".gguf".
func (f *File) Name() string {
	if n := strings.TrimSpace(f.String("general.name")); n != "" {
		return n
	}
	base := filepath.Base(f.Path)
	if f.Path == "" {
		return ""
	}
	if strings.HasSuffix(strings.ToLower(base), ".gguf") {
		base = base[:len(base)-len(".gguf")]
	}
	return base
}

// License is what the file says of its license: general.license (an SPDX id
// such as "apache-2.0", or "other"), with general.license.name after it when
// that adds something, and general.license.link. All are "" when unset.
func (f *File) License() (license, link string) {
	id := strings.TrimSpace(f.String("general.license"))
	name := strings.TrimSpace(f.String("general.license.name"))
	switch {
	case id == "":
		license = name
	case name != "" && !strings.EqualFold(name, id):
		license = id + " (" + name + ")"
	default:
		license = id
	}
	return license, strings.TrimSpace(f.String("general.license.link"))
}

// ChatTemplate is tokenizer.chat_template, "" if the model has none.
func (f *File) ChatTemplate() string { return f.String("tokenizer.chat_template") }

// ContextLength is <arch>.context_length, 0 if absent.
func (f *File) ContextLength() uint64 {
	n, _ := f.Uint(f.Arch() + ".context_length")
	return n
}

// ParamCount is the total number of tensor elements.
func (f *File) ParamCount() uint64 {
	var n uint64
	for _, t := range f.Tensors {
		n += t.Elements()
	}
	return n
}

// Quantization names the model's quantization, e.g. "Q4_K_M": from
// general.file_type when it is set and known, else the type holding the
// most tensor bytes. "" for a file without tensors or file type.
func (f *File) Quantization() string {
	if ft, ok := f.Uint("general.file_type"); ok {
		if n, ok := fileTypeNames[ft&^1024]; ok { // 1024: LLAMA_FTYPE_GUESSED
			return n
		}
	}
	bytesByType := map[GGMLType]uint64{}
	for _, t := range f.Tensors {
		bytesByType[t.Type] += t.Size
	}
	best, bestBytes := "", uint64(0)
	for t, n := range bytesByType {
		if n > bestBytes || (n == bestBytes && t.String() < best) {
			best, bestBytes = t.String(), n
		}
	}
	return best
}
