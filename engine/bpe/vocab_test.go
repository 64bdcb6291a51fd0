package bpe

import (
	"errors"
	"fmt"
	"io/fs"
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

// loadVectors reads a vocab file and its inputs and expected ids.
func loadVectors(name string) (*gguf.File, []string, [][]int32, error) {
	base := vocabDir + "ggml-vocab-" + name + ".gguf"
	inp, err := os.ReadFile(base + ".inp")
	if err != nil {
		return nil, nil, nil, err
	}
	out, err := os.ReadFile(base + ".out")
	if err != nil {
		return nil, nil, nil, err
	}
	f, err := gguf.Open(base)
	if err != nil {
		return nil, nil, nil, err
	}
	inputs := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(inputs) > len(lines) && inputs[len(inputs)-1] == "" {
		inputs = inputs[:len(inputs)-1]
	}
	if len(inputs) != len(lines) {
		return nil, nil, nil, fmt.Errorf("%s: %d inputs but %d expected lines", base, len(inputs), len(lines))
	}
	want := make([][]int32, len(lines))
	for i, l := range lines {
		for _, fld := range strings.Fields(l) {
			n, err := strconv.Atoi(fld)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s.out line %d: %v", base, i+1, err)
			}
			want[i] = append(want[i], int32(n))
		}
	}
	return f, inputs, want, nil
}

// vectors is loadVectors for a test, which says DID NOT RUN when the files
// are absent.
func vectors(t testing.TB, name string) (*gguf.File, []string, [][]int32) {
	t.Helper()
	f, inputs, want, err := loadVectors(name)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("DID NOT RUN: %s: %v", name, err)
	}
	if err != nil {
		t.Fatal(err)
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
