package gguf

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// LoRA adapters. llama.cpp (llama_adapter_lora_init_impl in
// llama-adapter.cpp) throws on most bad adapters, which natter survives,
// but a few reach a GGML_ASSERT and abort the process: a general.type,
// general.architecture or adapter.type that is not a string, an
// adapter.lora.alpha that is not a float32, and pairs whose shapes make
// ggml_mul_mat assert when the graph is built (or, for a tensor type with
// no CPU kernel, segfault). OpenAdapter and CheckAdapter refuse all of
// those, and name the file and tensor.

// kindError is a sentinel that also matches a broader one, so callers and
// fuzz targets that only know the older sentinels still classify it.
type kindError struct {
	msg    string
	parent error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.parent }

// Sentinels of adapter checks; match them with errors.Is. ErrNotAdapter
// and ErrNotModel also match ErrNotGGUF (not the kind of GGUF file asked
// for).
var (
	ErrNotAdapter error = &kindError{"not a LoRA adapter", ErrNotGGUF}
	ErrNotModel   error = &kindError{"a LoRA adapter, not a model", ErrNotGGUF}
	ErrMismatch   error = &kindError{"LoRA adapter does not fit the model", nil}
)

// Metadata keys llama.cpp reads from an adapter (llama-arch.cpp).
const (
	keyGeneralType  = "general.type"
	keyAdapterType  = "adapter.type"
	keyLoraAlpha    = "adapter.lora.alpha"
	keyAloraTokens  = "adapter.alora.invocation_tokens"
	suffixLoraA     = ".lora_a"
	suffixLoraB     = ".lora_b"
	suffixNorm      = "_norm.weight" // skipped by llama.cpp (no norm LoRA yet)
	suffixTokenEmbd = "token_embd.weight"
)

// OpenAdapter parses and validates a LoRA adapter file on its own: the
// GGUF layout as Open checks it, general.type "adapter", adapter.type
// "lora", the key types llama.cpp would assert on, tensors that are all
// lora_a/lora_b halves in complete pairs of one rank, and tensor types
// llama.cpp can multiply by. Whether it fits a model is CheckAdapter's job.
func OpenAdapter(path string) (*File, error) { return open(path, "LoRA adapter", parseAdapter) }

// ParseAdapter is OpenAdapter for an image of size bytes.
func ParseAdapter(r io.ReaderAt, size int64) (*File, error) { return parseAdapter(r, size, "") }

func parseAdapter(ra io.ReaderAt, size int64, path string) (*File, error) {
	f, err := parseLayout(ra, size, path)
	if err != nil {
		return nil, err
	}
	if err := f.checkAdapter(); err != nil {
		return nil, err
	}
	return f, nil
}

// checkNotAdapter keeps Open from taking an adapter for a model: it has
// no vocabulary or hyperparameters, and llama.cpp cannot load it as one.
func (f *File) checkNotAdapter() error {
	if f.String(keyGeneralType) != "adapter" {
		return nil
	}
	what := "LoRA adapter"
	if t := f.String(keyAdapterType); t != "lora" && t != "" {
		what = short(t) + " adapter"
	}
	return &Error{Path: f.Path, Kind: ErrNotModel, Msg: fmt.Sprintf(
		"is a %s, not a model (general.type is \"adapter\"); load it on top of the model it was made for", what)}
}

// checkAdapter validates f as an adapter without a base model.
func (f *File) checkAdapter() error {
	notAdapter := func(format string, a ...any) error {
		return &Error{Path: f.Path, Kind: ErrNotAdapter, Msg: fmt.Sprintf(format, a...)}
	}
	corrupt := func(format string, a ...any) error {
		return &Error{Path: f.Path, Kind: ErrCorrupt, Msg: ErrCorrupt.Error() + ": " + fmt.Sprintf(format, a...)}
	}
	// llama.cpp reads these three with gguf_get_val_str, which asserts
	// (aborts) on a value that is not a string.
	for _, key := range []string{keyGeneralType, "general.architecture", keyAdapterType} {
		if v, ok := f.Get(key); ok {
			if _, isStr := v.(string); !isStr {
				return corrupt("%s is %s, must be a string", key, aType(v))
			}
		}
	}
	switch gt, ok := f.Get(keyGeneralType); {
	case !ok:
		if _, hasVocab := f.Get("tokenizer.ggml.tokens"); hasVocab {
			return notAdapter("is a model, not a LoRA adapter (it has a vocabulary and no general.type)")
		}
		return notAdapter("is not a LoRA adapter: it has no general.type (an adapter has general.type \"adapter\")")
	case gt == "model":
		return notAdapter("is a model, not a LoRA adapter (general.type is \"model\")")
	case gt != "adapter":
		return notAdapter("is not a LoRA adapter (general.type is %s; an adapter has \"adapter\")", short(gt.(string)))
	}
	switch at, ok := f.Get(keyAdapterType); {
	case !ok:
		return notAdapter("is not a LoRA adapter: general.type is \"adapter\" but adapter.type is missing (llama.cpp loads only adapter.type \"lora\")")
	case at != "lora":
		return notAdapter("is a %s adapter, not a LoRA adapter (llama.cpp loads only adapter.type \"lora\")", short(at.(string)))
	}
	if f.Arch() == "" {
		return corrupt("general.architecture is missing or empty, so no model can take this adapter")
	}
	if v, ok := f.Get(keyLoraAlpha); ok {
		// gguf_get_val_f32 asserts on any other type.
		a, isF32 := v.(float32)
		switch {
		case !isF32:
			return corrupt("%s is %s, must be a float32", keyLoraAlpha, aType(v))
		case math.IsNaN(float64(a)) || math.IsInf(float64(a), 0):
			return corrupt("%s is %g, must be a finite number", keyLoraAlpha, a)
		}
	}
	if v, ok := f.Get(keyAloraTokens); ok {
		if _, isU32 := v.([]uint32); !isU32 {
			return corrupt("%s is %s, must be an array of uint32 (llama.cpp refuses anything else)", keyAloraTokens, aType(v))
		}
	}
	pairs, err := f.loraPairs()
	if err != nil {
		return err
	}
	if len(pairs) == 0 {
		return corrupt("has no LoRA tensors (no .lora_a/.lora_b pairs), so it would change nothing")
	}
	return nil
}

// loraPair is one adapted tensor: base is the model tensor's name, a and b
// index f.Tensors.
type loraPair struct {
	base string
	a, b int
}

// embd reports whether llama.cpp treats the pair as an embedding one:
// A and B swap roles (llm_build_inp_embd gathers rows of A, then multiplies
// by B untransposed), so the shape rules differ.
func (p loraPair) embd() bool { return strings.HasSuffix(p.base, suffixTokenEmbd) }

// dim is ggml's ne[i] of t: 1 past its stored dimensions.
func dim(t TensorInfo, i int) uint64 {
	if i < len(t.Dims) {
		return t.Dims[i]
	}
	return 1
}

// loraMatmulType reports whether ggml's CPU backend can use t as the
// weight of a matrix product (it has a vec_dot kernel). llama.cpp does
// not check; a LoRA half of another type (integers, F64, or the
// activation-only Q8_1 and Q8_K) would crash at the first token.
func loraMatmulType(t GGMLType) bool {
	switch t {
	case TypeQ8_1, TypeQ8_K, TypeI8, TypeI16, TypeI32, TypeI64, TypeF64:
		return false
	}
	return t.Known()
}

// loraPairs groups f's tensors as llama.cpp does and checks each pair on
// its own: both halves present, a type ggml can multiply by, and one rank.
// Pairs are in the order their first half appears.
func (f *File) loraPairs() ([]loraPair, error) {
	corrupt := func(format string, a ...any) error {
		return &Error{Path: f.Path, Kind: ErrCorrupt, Msg: ErrCorrupt.Error() + ": " + fmt.Sprintf(format, a...)}
	}
	var pairs []loraPair
	byBase := map[string]int{}
	for i, t := range f.Tensors {
		// The same tests in the same order as llama.cpp: the suffix picks
		// the half, and the base name drops every occurrence of it.
		var suffix string
		switch {
		case strings.HasSuffix(t.Name, suffixLoraA):
			suffix = suffixLoraA
		case strings.HasSuffix(t.Name, suffixLoraB):
			suffix = suffixLoraB
		case strings.HasSuffix(t.Name, suffixNorm):
			continue // llama.cpp ignores norm tensors in adapters
		default:
			return nil, corrupt("tensor %s is not a LoRA half (its name must end in .lora_a or .lora_b); llama.cpp refuses the adapter", tname(t.Name))
		}
		base := strings.ReplaceAll(t.Name, suffix, "")
		if base == "" {
			return nil, corrupt("tensor %s does not name the model tensor it adapts", tname(t.Name))
		}
		if !loraMatmulType(t.Type) {
			return nil, corrupt("tensor %s is %s; llama.cpp can only apply float or quantized LoRA weights (F32, F16, BF16, Q8_0, ...)", tname(t.Name), t.Type)
		}
		k, seen := byBase[base]
		if !seen {
			k = len(pairs)
			byBase[base] = k
			pairs = append(pairs, loraPair{base: base, a: -1, b: -1})
		}
		half := &pairs[k].a
		if suffix == suffixLoraB {
			half = &pairs[k].b
		}
		if *half >= 0 {
			// Only names like "x.lora_a" and "x.lora_a.lora_a" collide;
			// llama.cpp would silently keep the later one.
			return nil, corrupt("tensors %s and %s are both the %s of %s", tname(f.Tensors[*half].Name), tname(t.Name), suffix[1:], tname(base))
		}
		*half = i
	}
	for _, p := range pairs {
		if p.a < 0 || p.b < 0 {
			have, want := p.b, p.base+suffixLoraA
			if p.a >= 0 {
				have, want = p.a, p.base+suffixLoraB
			}
			return nil, corrupt("%s has no matching %s (LoRA tensors come in pairs)", tname(f.Tensors[have].Name), tname(want))
		}
		a, b := f.Tensors[p.a], f.Tensors[p.b]
		// The rank is B's ne[0] (llama.cpp scales by alpha/rank with it);
		// A must produce that many values, or ggml_mul_mat asserts. It is
		// A's ne[1], or ne[0] for an embedding pair.
		rankA, where := dim(a, 1), "dimension 1 of lora_a and 0 of lora_b"
		if p.embd() {
			rankA, where = dim(a, 0), "dimension 0 of both halves, for an embedding"
		}
		if rankA != dim(b, 0) {
			hint := ""
			if !p.embd() && dim(a, 0) == dim(b, 0) {
				hint = "; lora_a looks transposed, as in adapters of llama.cpp's old finetune example, which it no longer supports"
			}
			return nil, corrupt("%s is %v and %s is %v, so their ranks (%s) differ: %d and %d%s",
				tname(a.Name), a.Dims, tname(b.Name), b.Dims, where, rankA, dim(b, 0), hint)
		}
		if dim(a, 2) != dim(b, 2) || dim(a, 3) != dim(b, 3) {
			return nil, corrupt("%s is %v and %s is %v: their outer dimensions differ", tname(a.Name), a.Dims, tname(b.Name), b.Dims)
		}
	}
	return pairs, nil
}

// CheckAdapter checks that adapter (from OpenAdapter) fits base (from
// Open) as llama.cpp requires: the same architecture, every pair adapting
// a tensor base has, with matching shapes. The error names both files and
// the first tensor (in file order) that does not fit, with both shapes.
func CheckAdapter(base, adapter *File) error {
	if base == nil || adapter == nil {
		return &Error{Kind: ErrMismatch, Msg: "CheckAdapter needs both a model and an adapter"}
	}
	misfit := func(format string, a ...any) error {
		return &Error{Kind: ErrMismatch, Msg: fmt.Sprintf("adapter %s does not fit model %s: ", fileLabel(adapter, "the adapter"), fileLabel(base, "the model")) +
			fmt.Sprintf(format, a...)}
	}
	if got, want := adapter.Arch(), base.Arch(); got != want {
		return misfit("the adapter is for architecture %s but the model is %s", short(got), short(want))
	}
	pairs, err := adapter.loraPairs()
	if err != nil {
		return err
	}
	model := make(map[string]int, len(base.Tensors))
	for i, t := range base.Tensors {
		model[t.Name] = i
	}
	_, hasOutput := model["output.weight"]
	for _, p := range pairs {
		mi, ok := model[p.base]
		if !ok {
			return misfit("%s adapts %s, which the model does not have (is the adapter for another model?)",
				tname(adapter.Tensors[p.a].Name), tname(p.base))
		}
		m, a, b := base.Tensors[mi], adapter.Tensors[p.a], adapter.Tensors[p.b]
		if p.base == suffixTokenEmbd && !hasOutput {
			// Without output.weight llama.cpp reuses token_embd as the
			// output layer under the same name, so the LoRA would also be
			// applied there as a plain matrix product with the embedding
			// pair's swapped shapes: ggml_mul_mat asserts.
			return misfit("%s adapts token_embd.weight, which this model also uses as its output layer (it has no output.weight); llama.cpp cannot apply such an adapter",
				tname(a.Name))
		}
		// The model tensor's ne[0] and ne[1] each match one half, as in
		// llama.cpp; the outer dimensions (experts) must match both, or
		// ggml_mul_mat(_id) asserts or indexes past A and B.
		outer := func(t TensorInfo) bool { return dim(t, 2) == dim(m, 2) && dim(t, 3) == dim(m, 3) }
		aFits, bFits := dim(a, 0) == dim(m, 0), dim(b, 1) == dim(m, 1)
		if p.embd() {
			aFits, bFits = dim(a, 1) == dim(m, 1), dim(b, 1) == dim(m, 0)
		}
		switch {
		case !aFits || !outer(a):
			return misfit("%s is %v but the model's %s is %v", tname(a.Name), a.Dims, tname(m.Name), m.Dims)
		case !bFits || !outer(b):
			return misfit("%s is %v but the model's %s is %v", tname(b.Name), b.Dims, tname(m.Name), m.Dims)
		}
	}
	if tv, ok := base.Get("tokenizer.ggml.tokens"); ok {
		n := arrayLen(tv)
		for _, id := range adapter.AloraInvocationTokens() {
			if n >= 0 && uint64(id) >= uint64(n) {
				return misfit("%s has token %d but the model's vocabulary has %d tokens", keyAloraTokens, id, n)
			}
		}
	}
	return nil
}

// aType is typeName with its article: "a uint32", "an array of string".
func aType(v any) string {
	n := typeName(v)
	if strings.HasPrefix(n, "array") || strings.HasPrefix(n, "int") {
		return "an " + n
	}
	return "a " + n
}

// tname is a tensor name for a message: bare when it is plain (as real
// names are), else quoted.
func tname(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return short(s)
		}
	}
	return s
}

// fileLabel names f in a message: its path, or what it is when parsed
// from memory.
func fileLabel(f *File, anon string) string {
	if f.Path == "" {
		return anon
	}
	return f.Path
}

// AdapterAlpha returns adapter.lora.alpha, 0 when absent. llama.cpp scales
// each pair by scale*alpha/rank, or by scale alone when alpha is 0.
func (f *File) AdapterAlpha() float32 {
	v, _ := f.Get(keyLoraAlpha)
	a, _ := v.(float32)
	return a
}

// AloraInvocationTokens returns adapter.alora.invocation_tokens, the
// token sequence that activates an activated LoRA (aLoRA); nil for a
// plain LoRA. llama.cpp only stores it: applying the adapter from that
// point on is the caller's job, so an aLoRA loaded as a plain LoRA acts on
// every token.
func (f *File) AloraInvocationTokens() []uint32 {
	v, _ := f.Get(keyAloraTokens)
	ids, _ := v.([]uint32)
	return ids
}
