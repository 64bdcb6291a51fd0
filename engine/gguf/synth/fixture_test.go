package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The upstream greedy fixtures (engine/goengine/testdata) hold ids that
// upstream llama.cpp produced on files this package wrote. If the writer
// changes a byte of those files, the fixtures are stale: regenerate them
// with the command they record.
func TestUpstreamFixtureModels(t *testing.T) {
	raw, err := os.ReadFile("../../goengine/testdata/upstream_greedy.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Cases []struct {
			Arch, Type  string
			Scales      bool
			Fused       bool
			MTP         bool
			ModelSHA256 string `json:"model_sha256"`
		}
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	checked := 0
	for _, c := range fx.Cases {
		var m archModel
		typ := map[string]TensorType{"F32": F32, "Q8_0": Q8_0}[c.Type]
		switch c.Arch {
		case "qwen35":
			s := Qwen35Tiny()
			s.Type, s.Scales, s.FuseQKV, s.MTP = typ, c.Scales, c.Fused, c.MTP
			m = s
		case "qwen35moe":
			s := Qwen35MoETiny()
			s.Type, s.Scales, s.FuseQKV, s.FuseGateUpExps, s.MTP = typ, c.Scales, c.Fused, c.Fused, c.MTP
			m = s
		case "gemma4":
			s := Gemma4Tiny()
			s.Type, s.Scales, s.FuseQKV = typ, c.Scales, c.Fused
			m = s
		default:
			continue // a real model file
		}
		path := filepath.Join(dir, fmt.Sprint(c.Arch, c.Type, c.Scales, c.Fused, c.MTP, ".gguf"))
		if err := m.Write(path); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != c.ModelSHA256 {
			t.Errorf("%s %s: the writer now makes a file with sha256 %s, the fixture's ids are for %s", c.Arch, c.Type, got, c.ModelSHA256)
		}
		checked++
	}
	if checked < 14 {
		t.Errorf("only %d synthetic cases in the fixtures", checked)
	}
}
