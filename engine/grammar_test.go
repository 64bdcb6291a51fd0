package engine

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"natter/engine/api"
	"natter/engine/gguf/synth"
	"natter/prompts"
	"natter/prompts/grammar"
)

const pairGrammar = `root ::= "{\"n\": " num ", \"w\": \"" [a-zé]{1,6} "\"}"
num ::= "0" | [1-9] [0-9]{0,2}`

// Random weights at temperature 1 write anything; under a grammar every
// reply matches it and ends because the grammar is complete (only the
// end-of-generation token is left), on both backends.
func TestGrammarConstrainsSampling(t *testing.T) {
	ref, goe := loadBoth(t)
	g, err := grammar.Parse(pairGrammar)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		name string
		gen  api.Generator
	}{{"llama.cpp", ref}, {"go", goe}} {
		seen := map[string]bool{}
		for seed := range uint32(12) {
			r := collectGen(t, b.gen, api.Request{
				Messages: []prompts.Message{{Role: "user", Content: "give me a pair"}},
				Sampling: api.Sampling{Temperature: 1, RepeatPenalty: 1, Seed: seed + 1},
				Grammar:  pairGrammar, MaxTokens: 64,
			})
			if !g.MatchString(r.text) {
				t.Errorf("%s seed %d: %q does not match the grammar", b.name, seed, r.text)
			}
			if r.stats.StopReason != api.StopEOG {
				t.Errorf("%s seed %d: stopped by %v, want the end of generation", b.name, seed, r.stats.StopReason)
			}
			seen[r.text] = true
		}
		if len(seen) < 4 {
			t.Errorf("%s: only %d distinct replies in 12 seeds: the sampling is not random under the grammar", b.name, len(seen))
		}
	}
	// Greedy under a grammar agrees across the backends for the same tokens.
	toks, err := ref.Tokenize("one two", true)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]int32, len(toks))
	for i, tk := range toks {
		raw[i] = int32(tk)
	}
	req := api.Request{Raw: true, Tokens: raw, Sampling: greedy(), Grammar: pairGrammar, MaxTokens: 64}
	a, b := collectGen(t, ref, req), collectGen(t, goe, req)
	if a.text != b.text || !g.MatchString(a.text) {
		t.Errorf("greedy under the grammar: llama.cpp %q, go %q", a.text, b.text)
	}
}

func TestBadGrammarIsRefusedBeforeGenerating(t *testing.T) {
	ref, goe := loadBoth(t)
	for _, gen := range []api.Generator{ref, goe} {
		for _, src := range []string{`root ::= "a" | root "a"`, `root ::= x`, `rot ::= "a"`, `root ::= [`} {
			_, err := gen.Generate(context.Background(), api.Request{Raw: true, Prompt: "x", Grammar: src})
			var ge *grammar.Error
			if !errors.As(err, &ge) {
				t.Errorf("grammar %q: error %v, want a grammar error", src, err)
			}
		}
	}
}

// A template that opens a reasoning block itself would put the grammar on
// the thinking: a clear error instead.
func TestGrammarRefusesAnOpenReasoningBlock(t *testing.T) {
	ref, goe := loadBoth(t)
	for _, gen := range []api.Generator{ref, goe} {
		ch, err := gen.Generate(context.Background(), api.Request{Raw: true, Prompt: "question <think>\n", Grammar: `root ::= "x"`})
		if err != nil {
			t.Fatal(err)
		}
		r := collect(t, ch, nil)
		if r.err == nil || !strings.Contains(r.err.Error(), "thinking off") {
			t.Errorf("error %v, want one saying thinking must be off", r.err)
		}
	}
}

// The bar: 200 replies at temperature 1 from random weights under a
// schema with objects, arrays, enums, required fields and bounded numbers
// all parse and validate (with a JSON Schema validator, not the grammar).
func TestSchemaRepliesAllValidate(t *testing.T) {
	ref, goe := loadBoth(t)
	f, err := grammar.SchemaFormat(`{
	  "type": "object",
	  "properties": {
	    "name": {"type": "string", "minLength": 1, "maxLength": 12},
	    "age": {"type": "integer", "minimum": 18, "maximum": 99},
	    "score": {"type": "number", "minimum": -1.5, "maximum": 2},
	    "color": {"enum": ["red", "green", "blue"]},
	    "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "minItems": 1, "maxItems": 3},
	    "pet": {"type": "object", "properties": {"kind": {"const": "cat"}, "lives": {"type": "integer", "minimum": 1, "maximum": 9}}, "required": ["kind"], "additionalProperties": false},
	    "note": {"type": ["string", "null"], "maxLength": 8}
	  },
	  "required": ["name", "age", "color", "tags"],
	  "additionalProperties": false
	}`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range []struct {
		name  string
		gen   api.Generator
		count uint32
	}{{"llama.cpp", ref, 150}, {"go", goe, 50}} {
		optional := map[string]int{}
		for seed := range b.count {
			r := collectGen(t, b.gen, api.Request{
				Raw: true, Prompt: "person:",
				Sampling: api.Sampling{Temperature: 1, RepeatPenalty: 1, Seed: seed + 100},
				Grammar:  f.GBNF, MaxTokens: 400,
			})
			n++
			if err := f.Check(r.text); err != nil {
				t.Errorf("%s seed %d: %v\n%s", b.name, seed, err, r.text)
				continue
			}
			for _, k := range []string{`"score"`, `"pet"`, `"note"`} {
				if strings.Contains(r.text, k) {
					optional[k]++
				}
			}
		}
		// Optional properties are sampled, not always left out.
		if len(optional) == 0 {
			t.Errorf("%s: no reply used an optional property", b.name)
		}
	}
	if n != 200 {
		t.Fatalf("%d replies", n)
	}
}

// On a Qwen3.5-architecture file (Go engine, byte-level BPE vocabulary
// with multi-byte pieces) schema replies at temperature 1 validate too,
// including non-ASCII string content split across tokens.
func TestSchemaRepliesOnQwen35(t *testing.T) {
	path := filepath.Join(t.TempDir(), "qwen35.gguf")
	if err := synth.Qwen35Tiny().Write(path); err != nil {
		t.Fatal(err)
	}
	e, err := LoadGo(Options{ModelPath: path, ContextSize: 512, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	f, err := grammar.SchemaFormat(`{"type":"object","properties":{"word":{"type":"string","minLength":2,"maxLength":8},"k":{"type":"integer","minimum":-5,"maximum":5},"ok":{"type":"boolean"}},"required":["word","k","ok"],"additionalProperties":false}`)
	if err != nil {
		t.Fatal(err)
	}
	for seed := range uint32(25) {
		r := collectGen(t, e, api.Request{
			Messages: []prompts.Message{{Role: "user", Content: "日本語 please"}},
			Sampling: api.Sampling{Temperature: 1, RepeatPenalty: 1, Seed: seed + 7},
			Grammar:  f.GBNF, MaxTokens: 200,
		})
		if err := f.Check(r.text); err != nil {
			t.Errorf("seed %d: %v\n%q", seed, err, r.text)
		}
	}
}
