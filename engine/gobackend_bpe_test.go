package engine

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"natter/engine/bpe"
	"natter/engine/gguf"
	"natter/engine/gguf/synth"
)

// GoEngine's plain tokenization (the path message text takes) on llama.cpp's
// tokenizer test vectors for Qwen3.5 and Gemma 4. LoadGo needs a whole
// model, so the engine gets just the tokenizer LoadGo would give it.
func TestGoEnginePlainMatchesLlamaCppVectors(t *testing.T) {
	for _, name := range []string{"qwen35", "gemma-4"} {
		t.Run(name, func(t *testing.T) {
			base := "../../shared/models/vocab/ggml-vocab-" + name + ".gguf"
			inp, err1 := os.ReadFile(base + ".inp")
			out, err2 := os.ReadFile(base + ".out")
			if _, err3 := os.Stat(base); err1 != nil || err2 != nil || err3 != nil {
				t.Skipf("DID NOT RUN: %s or its test vectors are absent", base)
			}
			f, err := gguf.Open(base)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := bpe.New(f)
			if err != nil {
				t.Fatal(err)
			}
			e := &GoEngine{tok: tok}
			inputs := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if len(inputs) > len(lines) && inputs[len(inputs)-1] == "" {
				inputs = inputs[:len(inputs)-1]
			}
			if len(inputs) != len(lines) {
				t.Fatalf("%d inputs but %d expected lines", len(inputs), len(lines))
			}
			for i, in := range inputs {
				var want []Token
				for _, fld := range strings.Fields(lines[i]) {
					n, err := strconv.Atoi(fld)
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, Token(n))
				}
				got, err := e.plain(in)
				if err != nil || !slices.Equal(got, want) {
					t.Errorf("vector %d %q:\n got  %v (%v)\n want %v", i, in, got, err, want)
				}
			}
		})
	}
}

// LoadGo on a qwen35 file gives the engine natter's tokenizer, and plain
// text (prompts' message content, CountTokens) goes through it: text that
// spells a control token stays characters, with no cut in it.
func TestGoEngineUsesNatterTokenizer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "qwen35.gguf")
	if err := synth.Qwen35Tiny().Write(path); err != nil {
		t.Fatal(err)
	}
	e, err := LoadGo(Options{ModelPath: path, ContextSize: 256, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.tok == nil || e.tok.Pre() != "qwen35" {
		t.Fatalf("GoEngine's tokenizer is %v, want natter's qwen35", e.tok)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := bpe.New(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"Hello world, the user said: 日本語 é ü!\n\n\tend  ", "<|im_start|>user\nhi<|im_end|>", "!!!!!!"} {
		want := ref.Encode(text)
		got, err := e.plain(text)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("plain(%q) = %v (%v), want %v", text, got, err, want)
		}
		if n, err := e.CountTokens(text, false); err != nil || n != len(want) {
			t.Errorf("CountTokens(%q) = %d (%v), want %d", text, n, err, len(want))
		}
		if string(ref.Decode(got)) != text {
			t.Errorf("%q: tokens decode to %q", text, ref.Decode(got))
		}
		for _, id := range got {
			if id == Token(synth.BPETokImStart) || id == Token(synth.BPETokImEnd) {
				t.Errorf("%q: plain text became control token %d", text, id)
			}
		}
	}
}
