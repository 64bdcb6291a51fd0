package gguf

import (
	"fmt"
	"sort"
)

// MaxChatTemplate is the largest tokenizer.chat_template accepted, in
// bytes: the same bound as prompts.MaxTemplateSize (real templates are
// under 64 KB; a bigger one costs seconds and gigabytes before any useful
// error).
const MaxChatTemplate = 1 << 20

// llamaKeyTypes are the metadata keys llama.cpp reads with a fixed type
// (it throws "key ... has wrong type" and the load fails with only a log
// line otherwise). "%s" is the architecture. Values list the accepted Go
// types: arrays are the per-layer form llama.cpp also accepts.
var llamaKeyTypes = map[string][]string{
	"general.architecture":                    {"string"},
	"general.name":                            {"string"},
	"general.file_type":                       {"uint32"},
	"general.quantization_version":            {"uint32"},
	"%s.context_length":                       {"uint32"},
	"%s.embedding_length":                     {"uint32"},
	"%s.block_count":                          {"uint32"},
	"%s.feed_forward_length":                  {"uint32", "[]uint32", "[]int32"},
	"%s.attention.head_count":                 {"uint32", "[]uint32", "[]int32"},
	"%s.attention.head_count_kv":              {"uint32", "[]uint32", "[]int32"},
	"%s.attention.key_length":                 {"uint32"},
	"%s.attention.value_length":               {"uint32"},
	"%s.attention.layer_norm_rms_epsilon":     {"float32"},
	"%s.attention.layer_norm_epsilon":         {"float32"},
	"%s.attention.sliding_window":             {"uint32"},
	"%s.rope.dimension_count":                 {"uint32"},
	"%s.rope.freq_base":                       {"float32"},
	"%s.rope.scaling.type":                    {"string"},
	"%s.rope.scaling.factor":                  {"float32"},
	"%s.rope.scaling.original_context_length": {"uint32"},
	"%s.expert_count":                         {"uint32"},
	"%s.expert_used_count":                    {"uint32"},
	"%s.vocab_size":                           {"uint32"},
	"tokenizer.ggml.model":                    {"string"},
	"tokenizer.ggml.pre":                      {"string"},
	"tokenizer.ggml.bos_token_id":             {"uint32"},
	"tokenizer.ggml.eos_token_id":             {"uint32"},
	"tokenizer.ggml.unknown_token_id":         {"uint32"},
	"tokenizer.ggml.seperator_token_id":       {"uint32"},
	"tokenizer.ggml.padding_token_id":         {"uint32"},
	"tokenizer.ggml.eot_token_id":             {"uint32"},
	"tokenizer.ggml.eom_token_id":             {"uint32"},
	"tokenizer.ggml.add_bos_token":            {"bool"},
	"tokenizer.ggml.add_eos_token":            {"bool"},
	"tokenizer.ggml.add_space_prefix":         {"bool"},
	"tokenizer.chat_template":                 {"string"},
}

// specialIDKeys are the special-token ids llama.cpp replaces (with a log
// line only) when they are out of range.
var specialIDKeys = []string{"bos", "eos", "unknown", "seperator", "padding", "eot", "eom"}

func goType(v any) string { return fmt.Sprintf("%T", v) }

// checkKeyTypes rejects a known key of the wrong type, naming it.
func (f *File) checkKeyTypes(fail func(string, ...any) error) error {
	arch := f.Arch()
	keys := make([]string, 0, len(llamaKeyTypes))
	for k := range llamaKeyTypes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, pat := range keys {
		key := pat
		if pat[0] == '%' {
			if arch == "" {
				continue
			}
			key = fmt.Sprintf(pat, arch)
		}
		v, ok := f.Get(key)
		if !ok {
			continue
		}
		want := llamaKeyTypes[pat]
		got := goType(v)
		match := false
		for _, w := range want {
			match = match || w == got
		}
		if !match {
			return fail("metadata key %s is a %s, but llama.cpp reads it as %s", key, typeName(v), ggufTypeNames(want))
		}
	}
	if n := len(f.String("tokenizer.chat_template")); n > MaxChatTemplate {
		return fail("tokenizer.chat_template is %d bytes, over natter's limit of %d (1 MiB; real chat templates are under 64 KB)", n, MaxChatTemplate)
	}
	return nil
}

func ggufTypeNames(goTypes []string) string {
	names := map[string]string{"string": "a string", "uint32": "a uint32", "float32": "a float32", "bool": "a bool",
		"[]uint32": "an array of uint32", "[]int32": "an array of int32"}
	s := ""
	for i, g := range goTypes {
		if i > 0 {
			s += " or "
		}
		s += names[g]
	}
	return s
}

// Warnings lists metadata problems llama.cpp works around silently (a
// special-token id outside the vocabulary, which it replaces by a
// default): the model loads, but the user should know.
func (f *File) Warnings() []string {
	tv, _ := f.Get("tokenizer.ggml.tokens")
	tokens, _ := tv.([]string)
	var out []string
	for _, name := range specialIDKeys {
		key := "tokenizer.ggml." + name + "_token_id"
		id, ok := f.Uint(key)
		// 0xFFFFFFFF is -1 as uint32, llama.cpp's "no such token".
		if ok && tokens != nil && id >= uint64(len(tokens)) && id != 0xFFFFFFFF {
			out = append(out, fmt.Sprintf("%s: %s is %d, but the vocabulary has only %d tokens; llama.cpp ignores it and uses a default, so the model may not start or stop its turns correctly",
				f.Path, key, id, len(tokens)))
		}
	}
	return out
}

// MaxTokenBytes is the longest token text in the vocabulary, in bytes, an
// upper bound on the bytes of text one token can stand for (stored pieces
// are never shorter than the text they decode to); 0 without a vocabulary.
func (f *File) MaxTokenBytes() int {
	tv, _ := f.Get("tokenizer.ggml.tokens")
	tokens, _ := tv.([]string)
	n := 0
	for _, t := range tokens {
		n = max(n, len(t))
	}
	return n
}
