// Package synth writes synthetic llama-architecture GGUF models with random
// weights and a small fixed SentencePiece vocabulary (see Vocab). The files
// load and run in llama.cpp, so tests and benchmarks need no downloaded model.
// Output is deterministic for a given Spec.
package synth

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// TensorType is the storage type of the 2-D weight matrices. Values are
// ggml type ids.
type TensorType int

const (
	F32  TensorType = 0
	F16  TensorType = 1
	Q4_0 TensorType = 2
	Q8_0 TensorType = 8
)

func (t TensorType) String() string {
	switch t {
	case F32:
		return "F32"
	case F16:
		return "F16"
	case Q4_0:
		return "Q4_0"
	case Q8_0:
		return "Q8_0"
	}
	return fmt.Sprintf("TensorType(%d)", int(t))
}

// fileType is llama.cpp's LLAMA_FTYPE for a model whose matrices are t.
func (t TensorType) fileType() uint32 {
	switch t {
	case F16:
		return 1
	case Q4_0:
		return 2
	case Q8_0:
		return 7
	}
	return 0
}

// rowBytes is the encoded size of n elements.
func (t TensorType) rowBytes(n int) int {
	switch t {
	case F16:
		return 2 * n
	case Q4_0:
		return n / blockSize * q4BlockBytes
	case Q8_0:
		return n / blockSize * q8BlockBytes
	}
	return 4 * n
}

// Spec describes a synthetic model.
type Spec struct {
	NLayer, NEmbd, NFF, NHead, NHeadKV, NCtxTrain int
	Type                                          TensorType // 2-D weight matrices; norms are always F32
	Seed                                          int64
	Name                                          string // general.name
	ChatTemplate                                  string // tokenizer.chat_template; "" = none
	TiedOutput                                    bool   // no output.weight: llama.cpp reuses token_embd
}

// ChatML is a Jinja ChatML template that uses the vocab's <|im_start|> and
// <|im_end|> control tokens; set it as Spec.ChatTemplate for a "chat" model.
const ChatML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

// Tiny is a model of a few hundred KB for tests.
func Tiny() Spec {
	return Spec{NLayer: 2, NEmbd: 64, NFF: 128, NHead: 4, NHeadKV: 2, NCtxTrain: 512,
		Type: F32, Seed: 1, Name: "synth-tiny"}
}

// Bench400M is a ~0.4B-parameter model for benchmarks (its small vocab
// puts nearly all of them in the transformer blocks, as compute goes).
func Bench400M(t TensorType) Spec {
	return Spec{NLayer: 24, NEmbd: 1024, NFF: 4608, NHead: 16, NHeadKV: 4, NCtxTrain: 4096,
		Type: t, Seed: 400, Name: "synth-400m-" + t.String()}
}

// Alignment is the general.alignment written to every file.
const Alignment = 32

// tensor is one entry of the file's tensor list. Its values are random
// weights unless norm, neg or values says otherwise.
type tensor struct {
	name   string
	dims   []int // ne0 first, as ggml
	typ    TensorType
	norm   bool      // all ones
	neg    bool      // uniform in [-1.5, -0.5): a decay such as Gated DeltaNet's A = -exp(A_log)
	values []float32 // the whole tensor, in order
	stream string    // names the random stream; "" = the tensor's index
	parts  []part    // a fused tensor's sources, repeated for each group (e.g. expert)
}

func (t tensor) elems() int {
	n := 1
	for _, d := range t.dims {
		n *= d
	}
	return n
}

func (t tensor) bytes() int { return t.typ.rowBytes(t.dims[0]) * t.elems() / t.dims[0] }

// Validate reports a Spec that llama.cpp could not load.
func (s Spec) Validate() error {
	switch {
	case s.NLayer < 1 || s.NEmbd < 1 || s.NFF < 1 || s.NHead < 1 || s.NHeadKV < 1 || s.NCtxTrain < 1:
		return errors.New("synth: all sizes must be positive")
	case s.NEmbd%s.NHead != 0:
		return fmt.Errorf("synth: NEmbd %d not divisible by NHead %d", s.NEmbd, s.NHead)
	case (s.NEmbd/s.NHead)%2 != 0:
		return fmt.Errorf("synth: head size %d must be even for RoPE", s.NEmbd/s.NHead)
	case s.NHead%s.NHeadKV != 0:
		return fmt.Errorf("synth: NHead %d not divisible by NHeadKV %d", s.NHead, s.NHeadKV)
	}
	switch s.Type {
	case F32, F16:
	case Q4_0, Q8_0:
		if s.NEmbd%blockSize != 0 || s.NFF%blockSize != 0 {
			return fmt.Errorf("synth: %v needs NEmbd and NFF to be multiples of %d", s.Type, blockSize)
		}
	default:
		return fmt.Errorf("synth: unsupported tensor type %v", s.Type)
	}
	return nil
}

func (s Spec) tensors() []tensor {
	nVocab := len(vocabTokens)
	kv := s.NEmbd / s.NHead * s.NHeadKV
	m := func(name string, dims ...int) tensor { return tensor{name: name, dims: dims, typ: s.Type} }
	n := func(name string) tensor { return tensor{name: name, dims: []int{s.NEmbd}, typ: F32, norm: true} }
	ts := []tensor{m("token_embd.weight", s.NEmbd, nVocab), n("output_norm.weight")}
	if !s.TiedOutput {
		ts = append(ts, m("output.weight", s.NEmbd, nVocab))
	}
	for i := 0; i < s.NLayer; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		ts = append(ts,
			n(p+"attn_norm.weight"),
			m(p+"attn_q.weight", s.NEmbd, s.NEmbd),
			m(p+"attn_k.weight", s.NEmbd, kv),
			m(p+"attn_v.weight", s.NEmbd, kv),
			m(p+"attn_output.weight", s.NEmbd, s.NEmbd),
			n(p+"ffn_norm.weight"),
			m(p+"ffn_gate.weight", s.NEmbd, s.NFF),
			m(p+"ffn_up.weight", s.NEmbd, s.NFF),
			m(p+"ffn_down.weight", s.NFF, s.NEmbd),
		)
	}
	return ts
}

// ParamCount is the number of weights in the model.
func (s Spec) ParamCount() int64 {
	var n int64
	for _, t := range s.tensors() {
		n += int64(t.elems())
	}
	return n
}

var vocabTokens, vocabScores, vocabTypes = Vocab()

// GGUF metadata value types.
const (
	tUint32  = 4
	tInt32   = 5
	tFloat32 = 6
	tBool    = 7
	tString  = 8
	tArray   = 9
)

// enc builds the GGUF header in memory (it is small: the vocab and tensor
// infos); tensor data is streamed separately.
type enc struct{ b []byte }

func (e *enc) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *enc) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *enc) str(s string) { e.u64(uint64(len(s))); e.b = append(e.b, s...) }

func (e *enc) kv(key string, v any) {
	e.str(key)
	switch v := v.(type) {
	case uint32:
		e.u32(tUint32)
		e.u32(v)
	case float32:
		e.u32(tFloat32)
		e.u32(math.Float32bits(v))
	case bool:
		e.u32(tBool)
		if v {
			e.b = append(e.b, 1)
		} else {
			e.b = append(e.b, 0)
		}
	case string:
		e.u32(tString)
		e.str(v)
	case []string:
		e.u32(tArray)
		e.u32(tString)
		e.u64(uint64(len(v)))
		for _, s := range v {
			e.str(s)
		}
	case []float32:
		e.u32(tArray)
		e.u32(tFloat32)
		e.u64(uint64(len(v)))
		for _, f := range v {
			e.u32(math.Float32bits(f))
		}
	case []bool:
		e.u32(tArray)
		e.u32(tBool)
		e.u64(uint64(len(v)))
		for _, x := range v {
			if x {
				e.b = append(e.b, 1)
			} else {
				e.b = append(e.b, 0)
			}
		}
	case []int32:
		e.u32(tArray)
		e.u32(tInt32)
		e.u64(uint64(len(v)))
		for _, x := range v {
			e.u32(uint32(x))
		}
	default:
		panic(fmt.Sprintf("synth: unsupported metadata type %T", v))
	}
}

func pad(n int) int { return (n + Alignment - 1) / Alignment * Alignment }

// kvPair is one metadata entry, written in order.
type kvPair struct {
	k string
	v any
}

func (s Spec) header(ts []tensor) []byte {
	kvs := []kvPair{
		{"general.architecture", "llama"},
		{"general.name", s.Name},
		{"general.alignment", uint32(Alignment)},
		{"general.file_type", s.Type.fileType()},
		{"llama.vocab_size", uint32(len(vocabTokens))},
		{"llama.context_length", uint32(s.NCtxTrain)},
		{"llama.embedding_length", uint32(s.NEmbd)},
		{"llama.block_count", uint32(s.NLayer)},
		{"llama.feed_forward_length", uint32(s.NFF)},
		{"llama.attention.head_count", uint32(s.NHead)},
		{"llama.attention.head_count_kv", uint32(s.NHeadKV)},
		{"llama.rope.dimension_count", uint32(s.NEmbd / s.NHead)},
		{"llama.rope.freq_base", float32(10000)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", vocabTokens},
		{"tokenizer.ggml.scores", vocabScores},
		{"tokenizer.ggml.token_type", vocabTypes},
		{"tokenizer.ggml.bos_token_id", uint32(TokBOS)},
		{"tokenizer.ggml.eos_token_id", uint32(TokEOS)},
		{"tokenizer.ggml.unknown_token_id", uint32(TokUnk)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
	}
	if s.ChatTemplate != "" {
		kvs = append(kvs, kvPair{"tokenizer.chat_template", s.ChatTemplate})
	}
	return header(kvs, ts)
}

// header encodes the GGUF header: metadata, then the tensor infos with
// Alignment-padded offsets, padded to the data section.
func header(kvs []kvPair, ts []tensor) []byte {
	var e enc
	e.b = append(e.b, "GGUF"...)
	e.u32(3)
	e.u64(uint64(len(ts)))
	e.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		e.kv(kv.k, kv.v)
	}
	off := 0
	for _, t := range ts {
		e.str(t.name)
		e.u32(uint32(len(t.dims)))
		for _, d := range t.dims {
			e.u64(uint64(d))
		}
		e.u32(uint32(t.typ))
		e.u64(uint64(off))
		off += pad(t.bytes())
	}
	for len(e.b)%Alignment != 0 {
		e.b = append(e.b, 0)
	}
	return e.b
}

// Write writes the model to path atomically (a temporary file in the same
// directory, then rename). Memory use is one row of weights at a time.
func Write(path string, s Spec) (err error) {
	if err := s.Validate(); err != nil {
		return err
	}
	ts := s.tensors()
	return writeFile(path, s.header(ts), ts, s.Seed, 1)
}

// writeFile writes a header and the tensors' data to path atomically;
// random weights are scaled by gain (1: standard deviation 0.02).
func writeFile(path string, hdr []byte, ts []tensor, seed int64, gain float32) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := writeData(w, hdr, ts, seed, gain); err != nil {
		return fmt.Errorf("synth: writing %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("synth: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("synth: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("synth: writing %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

func writeData(w *bufio.Writer, hdr []byte, ts []tensor, seed int64, gain float32) error {
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	var row []float32
	var buf []byte
	zeros := make([]byte, Alignment)
	for i, t := range ts {
		row = row[:0]
		for range t.dims[0] {
			row = append(row, 0)
		}
		// Each tensor has its own stream so its values do not depend on the
		// tensors before it: the tensor's index, or a hash of its stream
		// name. A fused tensor takes its rows from its parts' streams in
		// turn, so it holds the very values of the tensors it fuses.
		own := newRNG(uint64(seed), uint64(i))
		if t.stream != "" {
			own = newRNG(uint64(seed), streamID(t.stream))
		}
		parts, groups := t.parts, 1
		if parts == nil {
			parts = []part{{rows: t.elems() / t.dims[0]}}
		} else {
			groups = t.elems() / t.dims[0] / partRows(parts)
		}
		rngs := make([]*rng, len(parts))
		for k, p := range parts {
			rngs[k] = own
			if p.stream != "" {
				rngs[k] = newRNG(uint64(seed), streamID(p.stream))
			}
		}
		r := 0
		for g := 0; g < groups; g++ {
			for k, p := range parts {
				for n := 0; n < p.rows; n, r = n+1, r+1 {
					if err := writeRow(w, &buf, row, t, r, rngs[k], gain); err != nil {
						return err
					}
				}
			}
		}
		if p := pad(t.bytes()) - t.bytes(); p > 0 {
			if _, err := w.Write(zeros[:p]); err != nil {
				return err
			}
		}
	}
	return nil
}

// part is one source of a fused tensor's rows: rows rows per group from the
// stream of the tensor named stream.
type part struct {
	stream string
	rows   int
}

func partRows(ps []part) int {
	n := 0
	for _, p := range ps {
		n += p.rows
	}
	return n
}

// streamID is FNV-1a of a stream name.
func streamID(name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return h
}

// writeRow generates and writes row r of t.
func writeRow(w *bufio.Writer, buf *[]byte, row []float32, t tensor, r int, rng *rng, gain float32) error {
	switch {
	case t.values != nil:
		copy(row, t.values[r*len(row):])
	case t.norm:
		for j := range row {
			row[j] = 1
		}
	case t.neg:
		for j := range row {
			row[j] = -1 - rng.weight()/weightScale*0.5
		}
	default:
		for j := range row {
			row[j] = rng.weight() * gain
		}
	}
	*buf = encodeRow((*buf)[:0], t.typ, row)
	_, err := w.Write(*buf)
	return err
}

func encodeRow(dst []byte, t TensorType, row []float32) []byte {
	switch t {
	case F16:
		for _, v := range row {
			dst = binary.LittleEndian.AppendUint16(dst, f32ToF16(v))
		}
	case Q4_0:
		dst = quantQ4_0(dst, row)
	case Q8_0:
		dst = quantQ8_0(dst, row)
	default:
		for _, v := range row {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
		}
	}
	return dst
}

// rng is splitmix64: fast, and good enough for weights.
type rng struct{ s uint64 }

func newRNG(seed, stream uint64) *rng {
	r := &rng{s: seed*0x9e3779b97f4a7c15 + stream*0xbf58476d1ce4e5b9 + 1}
	r.next()
	return r
}

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// weightScale makes uniform weights with standard deviation 0.02, small
// enough that activations stay finite in any depth we generate.
const weightScale = 0.02 * 1.7320508 // sqrt(3) * sigma

// weight is uniform in [-weightScale, weightScale).
func (r *rng) weight() float32 {
	u := float32(r.next()>>40) * (1.0 / (1 << 24)) // [0,1)
	return (2*u - 1) * weightScale
}
