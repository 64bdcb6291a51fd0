package models

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// ollamaProjectorLayer is the media type of an Ollama manifest's vision
// projector blob.
const ollamaProjectorLayer = "application/vnd.ollama.image.projector"

// FindProjector returns the multimodal projector that belongs to the model
// at modelPath, or "" when there is none: for an Ollama blob, the projector
// layer of the manifest that names it; otherwise an mmproj*.gguf in the
// model's folder (a Hugging Face snapshot, a download folder, LM Studio's
// layout). Of several, F16 is preferred (the precision most repos ship as
// the default), then the shortest name.
func FindProjector(modelPath string) string {
	dir, base := filepath.Split(modelPath)
	if strings.HasPrefix(base, "sha256-") && filepath.Base(filepath.Clean(dir)) == "blobs" {
		return ollamaProjector(filepath.Dir(filepath.Clean(dir)), base)
	}
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return ""
	}
	var cands []string
	models := 0
	for _, e := range entries {
		n := e.Name()
		if !strings.EqualFold(filepath.Ext(n), ".gguf") || !isRegular(filepath.Join(dir, n)) {
			continue
		}
		if strings.HasPrefix(strings.ToLower(n), "mmproj") {
			cands = append(cands, n)
		} else if _, listed := ggufName(n); listed {
			models++
		}
	}
	if len(cands) == 0 {
		return ""
	}
	// natter pull saves a repository's projector as mmproj-MODEL.
	for _, c := range cands {
		if c == "mmproj-"+base {
			return filepath.Join(dir, c)
		}
	}
	if models > 1 {
		// A folder of several models (natter's own, a download folder):
		// only a projector named for this model belongs to it.
		stem := nameStem(base)
		cands = slices.DeleteFunc(cands, func(c string) bool {
			return nameStem(strings.TrimLeft(c[len("mmproj"):], "-_.")) != stem
		})
		if len(cands) == 0 {
			return ""
		}
	}
	return filepath.Join(dir, bestProjector(cands))
}

// bestProjector picks one of several projector file names: F16 (the
// precision most repositories ship as the default), then the shortest name.
func bestProjector(cands []string) string {
	cands = slices.Clone(cands)
	rank := func(n string) int {
		l := strings.ToLower(n)
		if strings.Contains(l, "f16") && !strings.Contains(l, "bf16") {
			return 0
		}
		return 1
	}
	slices.SortFunc(cands, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		if d := len(a) - len(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return cands[0]
}

// precisionRe matches a trailing quantization or precision tag.
var precisionRe = regexp.MustCompile(`(?i)[-_.](i?q\d\w*|f16|bf16|f32|fp16|fp32)$`)

// nameStem is a GGUF file name without its extension and trailing
// precision tags, lower-cased: gemma-3-4b-it-Q4_K_M.gguf and
// gemma-3-4b-it-f16.gguf share the stem gemma-3-4b-it.
func nameStem(name string) string {
	s := strings.ToLower(strings.TrimSuffix(name, filepath.Ext(name)))
	for {
		t := precisionRe.ReplaceAllString(s, "")
		if t == s {
			return s
		}
		s = t
	}
}

// ollamaProjector finds the manifest under root whose model layer is blob
// and returns its projector blob, or "".
func ollamaProjector(root, blob string) string {
	want := strings.TrimPrefix(blob, "sha256-")
	var out string
	n := 0
	_ = filepath.WalkDir(filepath.Join(root, "manifests"), func(p string, d os.DirEntry, err error) error {
		if err != nil || out != "" {
			return filepath.SkipDir
		}
		if n++; n > maxScanEntries {
			return filepath.SkipAll
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil || len(b) > 1<<20 {
			return nil
		}
		var m ollamaManifest
		if json.Unmarshal(b, &m) != nil {
			return nil
		}
		model, proj := "", ""
		for _, l := range m.Layers {
			d := ollamaDigestRe.FindStringSubmatch(strings.ToLower(l.Digest))
			if d == nil {
				continue
			}
			switch l.MediaType {
			case ollamaModelLayer:
				model = d[1]
			case ollamaProjectorLayer:
				proj = d[1]
			}
		}
		if model == want && proj != "" {
			if p := filepath.Join(root, "blobs", "sha256-"+proj); isRegular(p) {
				out = p
				return filepath.SkipAll
			}
		}
		return nil
	})
	return out
}
