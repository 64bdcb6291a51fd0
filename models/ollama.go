package models

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Ollama keeps models as content-addressed blobs named by manifests:
//
//	manifests/HOST/NAMESPACE/MODEL/TAG   (JSON; one layer is the GGUF)
//	blobs/sha256-HEX
const (
	ollamaModelLayer = "application/vnd.ollama.image.model"
	ollamaHost       = "registry.ollama.ai"
	ollamaNamespace  = "library"
)

type ollamaManifest struct {
	Layers []struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	} `json:"layers"`
}

var ollamaDigestRe = regexp.MustCompile(`^sha256[:-]([0-9a-f]{64})$`)

// ollamaTag is how Ollama users write a model: "qwen2.5:0.5b" for the
// official library, "user/model:tag" for other namespaces, and the full
// "host/namespace/model:tag" for other registries (e.g. hf.co).
func ollamaTag(host, ns, model, tag string) string {
	switch {
	case host == ollamaHost && ns == ollamaNamespace:
		return model + ":" + tag
	case host == ollamaHost:
		return ns + "/" + model + ":" + tag
	}
	return host + "/" + ns + "/" + model + ":" + tag
}

// scanOllama maps every manifest under root to its GGUF blob.
func scanOllama(root string) []found {
	mroot := filepath.Join(root, "manifests")
	hosts, err := os.ReadDir(mroot)
	if err != nil {
		return nil
	}
	var out []found
	for _, h := range hosts {
		nss, _ := os.ReadDir(filepath.Join(mroot, h.Name()))
		for _, ns := range nss {
			mods, _ := os.ReadDir(filepath.Join(mroot, h.Name(), ns.Name()))
			for _, mod := range mods {
				tags, _ := os.ReadDir(filepath.Join(mroot, h.Name(), ns.Name(), mod.Name()))
				for _, tag := range tags {
					if tag.IsDir() {
						continue
					}
					mf := filepath.Join(mroot, h.Name(), ns.Name(), mod.Name(), tag.Name())
					blob := ollamaBlob(root, mf)
					if blob == "" {
						continue
					}
					out = append(out, found{
						name:   ollamaTag(h.Name(), ns.Name(), mod.Name(), tag.Name()),
						path:   blob,
						source: SourceOllama,
						repo:   h.Name() + "/" + ns.Name() + "/" + mod.Name(),
					})
				}
			}
		}
	}
	return out
}

// ollamaBlob returns the model blob a manifest names, or "" when the
// manifest is unreadable, has no model layer, or its blob is missing.
func ollamaBlob(root, manifest string) string {
	b, err := os.ReadFile(manifest)
	if err != nil || len(b) > 1<<20 {
		return ""
	}
	var m ollamaManifest
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	for _, l := range m.Layers {
		if l.MediaType != ollamaModelLayer {
			continue
		}
		// The digest becomes a file name: accept only the exact form.
		d := ollamaDigestRe.FindStringSubmatch(strings.ToLower(l.Digest))
		if d == nil {
			return ""
		}
		p := filepath.Join(root, "blobs", "sha256-"+d[1])
		if !isRegular(p) {
			return ""
		}
		return p
	}
	return ""
}
