package bpe

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"natter/engine/gguf"
)

// vocabDir holds llama.cpp's tokenizer test files (ggml-vocab-*.gguf with
// .inp/.out vectors from tests/test-tokenizer-0).
const vocabDir = "../../../shared/models/vocab/"

// vectors reads a vocab file's inputs and expected ids, skipping with DID
// NOT RUN when they are absent.
func vectors(t testing.TB, name string) (*gguf.File, []string, [][]int32) {
	t.Helper()
	base := vocabDir + "ggml-vocab-" + name + ".gguf"
	inp, err1 := os.ReadFile(base + ".inp")
	out, err2 := os.ReadFile(base + ".out")
	if _, err3 := os.Stat(base); err1 != nil || err2 != nil || err3 != nil {
		t.Skipf("DID NOT RUN: %s or its test vectors are absent", base)
	}
	f, err := gguf.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	inputs := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(inputs) > len(lines) && inputs[len(inputs)-1] == "" {
		inputs = inputs[:len(inputs)-1]
	}
	if len(inputs) != len(lines) {
		t.Fatalf("%d inputs but %d expected lines", len(inputs), len(lines))
	}
	want := make([][]int32, len(lines))
	for i, l := range lines {
		for _, fld := range strings.Fields(l) {
			n, err := strconv.Atoi(fld)
			if err != nil {
				t.Fatal(err)
			}
			want[i] = append(want[i], int32(n))
		}
	}
	return f, inputs, want
}

// Every llama.cpp test vector of both vocabularies, exactly.
func TestVocabVectors(t *testing.T) {
	for _, name := range []string{"qwen35", "gemma-4"} {
		t.Run(name, func(t *testing.T) {
			f, inputs, want := vectors(t, name)
			tok, err := New(f)
			if err != nil {
				t.Fatal(err)
			}
			bad := 0
			for i, in := range inputs {
				if got := tok.Encode(in); !slices.Equal(got, want[i]) {
					bad++
					t.Errorf("vector %d %q:\n got  %v\n want %v", i, in, got, want[i])
				}
			}
			t.Logf("%d of %d vectors match llama.cpp", len(inputs)-bad, len(inputs))
		})
	}
}
