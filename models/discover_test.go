package models

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"natter/engine/gguf/synth"
)

// layout is a fake machine: natter's folder, $NATTER_MODELS, a Hugging Face
// cache, an Ollama store, LM Studio's folders and llama.cpp's cache, built
// as those tools lay them out (real manifests, relative symlinks).
type layout struct {
	home, dirA, dirB string
	ollamaBlob       string // the GGUF blob of qwen2.5:0.5b
	hfMain, hfOld    string // snapshot paths of the same file in two revisions
	model            []byte // content of the template-less model files
}

func buildLayout(t *testing.T) *layout {
	t.Helper()
	home := isolate(t)
	l := &layout{home: home}
	withTmpl := tinyModel(t, filepath.Join(t.TempDir(), "t.gguf"), "synth-chat", true)
	plain := tinyModel(t, filepath.Join(t.TempDir(), "p.gguf"), "", false)
	l.model = plain
	put := func(p string, b []byte) string {
		p = filepath.Join(home, p)
		mustWrite(t, p, b)
		return p
	}
	link := func(target, at string) {
		at = filepath.Join(home, at)
		if err := os.MkdirAll(filepath.Dir(at), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, at); err != nil {
			t.Fatal(err)
		}
	}

	// natter's own folder, with one broken file.
	put(".local/share/natter/models/own-chat.gguf", withTmpl)
	put(".local/share/natter/models/broken.gguf", []byte("GGUF but not really"))
	put(".local/share/natter/models/half.gguf.part", plain[:100])
	put(".local/share/natter/models/vocab-only.gguf", emptyGGUF())

	// $NATTER_MODELS: two folders; B links to A's file (listed once).
	l.dirA, l.dirB = filepath.Join(home, "a"), filepath.Join(home, "b")
	put("a/alpha.gguf", plain)
	put("b/deep/er/beta.gguf", plain)
	link(filepath.Join(l.dirA, "alpha.gguf"), "b/alpha-link.gguf")
	put("b/notes.txt", []byte("x"))
	put("b/.hidden/secret.gguf", plain)
	// A listed folder may itself be a symlink (to another disk).
	put("elsewhere/gamma.gguf", plain)
	link(filepath.Join(home, "elsewhere"), "c-link")
	t.Setenv("NATTER_MODELS", l.dirA+string(os.PathListSeparator)+l.dirB+string(os.PathListSeparator)+filepath.Join(home, "c-link"))

	// Hugging Face cache: refs/main names rev1; rev0 holds an older copy.
	hf := ".cache/huggingface/hub/models--bartowski--Tiny-GGUF"
	put(hf+"/blobs/"+sha(withTmpl), withTmpl)
	put(hf+"/blobs/"+sha(plain), plain)
	put(hf+"/refs/main", []byte("rev1\n"))
	link("../../blobs/"+sha(withTmpl), hf+"/snapshots/rev1/Tiny-Q8_0.gguf")
	link("../../blobs/"+sha(plain), hf+"/snapshots/rev0/Tiny-Q8_0.gguf")
	link("../../../blobs/"+sha(plain), hf+"/snapshots/rev1/sub/Tiny-F32.gguf")
	link("../../blobs/0000-incomplete", hf+"/snapshots/rev1/Unfinished.gguf")
	put(".cache/huggingface/hub/datasets--x--y/snapshots/r/data.gguf", plain)
	l.hfMain = filepath.Join(home, hf, "snapshots/rev1/Tiny-Q8_0.gguf")
	l.hfOld = filepath.Join(home, hf, "snapshots/rev0/Tiny-Q8_0.gguf")

	// Ollama: library, user namespace, another registry, and bad manifests.
	ol := ".ollama/models"
	digest := sha(plain)
	l.ollamaBlob = put(ol+"/blobs/sha256-"+digest, plain)
	put(ol+"/blobs/sha256-"+strings.Repeat("c", 64), []byte(`{"model_format":"gguf"}`))
	manifest := func(layers ...[2]string) []byte {
		type layer struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
			Size      int    `json:"size"`
		}
		m := struct {
			SchemaVersion int     `json:"schemaVersion"`
			MediaType     string  `json:"mediaType"`
			Config        layer   `json:"config"`
			Layers        []layer `json:"layers"`
		}{2, "application/vnd.docker.distribution.manifest.v2+json",
			layer{"application/vnd.docker.container.image.v1+json", "sha256:" + strings.Repeat("c", 64), 23}, nil}
		for _, x := range layers {
			m.Layers = append(m.Layers, layer{x[0], x[1], len(plain)})
		}
		b, _ := json.Marshal(m)
		return b
	}
	good := [2]string{ollamaModelLayer, "sha256:" + digest}
	tmpl := [2]string{"application/vnd.ollama.image.template", "sha256:" + strings.Repeat("d", 64)}
	put(ol+"/manifests/registry.ollama.ai/library/qwen2.5/0.5b", manifest(good, tmpl))
	put(ol+"/manifests/registry.ollama.ai/library/smol/latest", manifest(good))
	put(ol+"/manifests/registry.ollama.ai/someone/mine/v1", manifest(good))
	put(ol+"/manifests/hf.co/bartowski/Foo-GGUF/Q4_K_M", manifest(good))
	put(ol+"/manifests/registry.ollama.ai/library/evil/latest", manifest([2]string{ollamaModelLayer, "sha256:../../../../etc/passwd"}))
	put(ol+"/manifests/registry.ollama.ai/library/nomodel/latest", manifest(tmpl))
	put(ol+"/manifests/registry.ollama.ai/library/gone/latest", manifest([2]string{ollamaModelLayer, "sha256:" + strings.Repeat("e", 64)}))
	put(ol+"/manifests/registry.ollama.ai/library/garbage/latest", []byte("{not json"))

	// LM Studio (both folders), with a vision projector to skip.
	put(".lmstudio/models/lmstudio-community/Foo-GGUF/Foo-Q4_K_M.gguf", plain)
	put(".lmstudio/models/lmstudio-community/Foo-GGUF/mmproj-Foo-F16.gguf", plain)
	put(".cache/lm-studio/models/old/Bar-GGUF/Bar-Q8_0.gguf", plain)

	// llama.cpp cache: flat files with .json sidecars, and a split model.
	put(".cache/llama.cpp/ggml-org_gemma-GGUF_gemma-Q4_K_M.gguf", plain)
	put(".cache/llama.cpp/ggml-org_gemma-GGUF_gemma-Q4_K_M.gguf.json", []byte(`{"etag":"x"}`))
	put(".cache/llama.cpp/big-Q4_K_M-00001-of-00002.gguf", plain)
	put(".cache/llama.cpp/big-Q4_K_M-00002-of-00002.gguf", []byte("second shard"))
	return l
}

func TestDiscoverLayouts(t *testing.T) {
	l := buildLayout(t)
	fakeMemory(t, 8<<30)
	ms := Discover()

	byName := map[string]Model{}
	var names []string
	for _, m := range ms {
		if _, dup := byName[m.Name]; dup {
			t.Errorf("listed twice: %s", m.Name)
		}
		byName[m.Name] = m
		names = append(names, m.Source+":"+m.Name)
	}
	want := []string{
		"natter:own-chat", "natter:broken", "natter:vocab-only",
		"NATTER_MODELS:alpha", "NATTER_MODELS:beta", "NATTER_MODELS:gamma",
		"huggingface:Tiny-Q8_0", "huggingface:Tiny-F32",
		"ollama:qwen2.5:0.5b", "ollama:smol:latest", "ollama:someone/mine:v1", "ollama:hf.co/bartowski/Foo-GGUF:Q4_K_M",
		"lmstudio:Foo-Q4_K_M", "lmstudio:Bar-Q8_0",
		"llama.cpp:ggml-org_gemma-GGUF_gemma-Q4_K_M", "llama.cpp:big-Q4_K_M",
	}
	sort.Strings(names)
	sort.Strings(want)
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("found\n  %v\nwant\n  %v", names, want)
	}

	// Precedence: natter's folder first, then the listed order of sources.
	if ms[0].Source != SourceNatter || ms[len(ms)-1].Source != SourceLlamaCpp {
		t.Errorf("order: first %s, last %s", ms[0].Source, ms[len(ms)-1].Source)
	}

	// Metadata comes from the files themselves.
	own := byName["own-chat"]
	tiny := synth.Tiny()
	if own.Arch != "llama" || own.Params != uint64(tiny.ParamCount()) || own.TrainCtx != uint64(tiny.NCtxTrain) ||
		!own.HasTemplate || own.Name != "own-chat" || own.FileSize <= 0 || own.Err != "" {
		t.Errorf("own-chat: %+v", own)
	}
	if own.Estimate.Total <= uint64(own.FileSize) || own.Estimate.Context != tiny.NCtxTrain || own.Fit != FitOK {
		t.Errorf("own-chat estimate %+v fit %v", own.Estimate, own.Fit)
	}
	if byName["alpha"].HasTemplate {
		t.Error("alpha has no chat template")
	}
	if b := byName["broken"]; b.Err == "" || b.FileSize != int64(len("GGUF but not really")) || strings.Contains(b.Err, b.Path) {
		t.Errorf("broken file: %+v", b)
	}
	if v := byName["vocab-only"]; !strings.Contains(v.Err, "no tensors") {
		t.Errorf("vocab-only file: %+v", v)
	}

	// The HF file comes from the snapshot refs/main names, with its repo.
	hf := byName["Tiny-Q8_0"]
	if hf.Path != l.hfMain || hf.Repo != "bartowski/Tiny-GGUF" || !hf.HasTemplate {
		t.Errorf("HF model %+v", hf)
	}

	// Ollama names map to the manifest's blob.
	q := byName["qwen2.5:0.5b"]
	if q.Path != l.ollamaBlob || q.Arch != "llama" {
		t.Errorf("ollama model %+v", q)
	}
	for _, bad := range []string{"evil:latest", "nomodel:latest", "gone:latest", "garbage:latest"} {
		if _, ok := byName[bad]; ok {
			t.Errorf("bad manifest listed: %s", bad)
		}
	}
}

// The HF cache reached through a symlink lists the same files once.
func TestDiscoverHFCacheBehindSymlink(t *testing.T) {
	l := buildLayout(t)
	real := filepath.Join(l.home, ".cache/huggingface/hub")
	t.Setenv("HF_HUB_CACHE", filepath.Join(l.home, "hub-link"))
	if err := os.Symlink(real, filepath.Join(l.home, "hub-link")); err != nil {
		t.Fatal(err)
	}
	var hf []string
	for _, m := range Discover() {
		if m.Source == SourceHF {
			hf = append(hf, m.Name)
		}
	}
	sort.Strings(hf)
	if fmt.Sprint(hf) != "[Tiny-F32 Tiny-Q8_0]" {
		t.Errorf("HF models via symlink: %v", hf)
	}
}

func TestDiscoverNothing(t *testing.T) {
	isolate(t)
	if ms := Discover(); len(ms) != 0 {
		t.Fatalf("empty home lists %v", ms)
	}
}

func TestDefaultSourcesFollowEnvironment(t *testing.T) {
	home := isolate(t)
	t.Setenv("XDG_DATA_HOME", "/data")
	t.Setenv("HF_HOME", "/hfhome")
	t.Setenv("OLLAMA_MODELS", "/ollama")
	t.Setenv("LLAMA_CACHE", "/lc")
	t.Setenv("NATTER_MODELS", "/m1::~/m2")
	got := map[string][]string{}
	for _, s := range DefaultSources() {
		got[s.Kind] = append(got[s.Kind], s.Dir)
	}
	want := map[string][]string{
		SourceNatter:   {"/data/natter/models"},
		SourceEnv:      {"/m1", filepath.Join(home, "m2")},
		SourceHF:       {"/hfhome/hub"},
		SourceOllama:   {"/ollama"},
		SourceLMStudio: {filepath.Join(home, ".lmstudio/models"), filepath.Join(home, ".cache/lm-studio/models")},
		SourceLlamaCpp: {"/lc"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	t.Setenv("HF_HUB_CACHE", "/direct")
	for _, s := range DefaultSources() {
		if s.Kind == SourceHF && s.Dir != "/direct" {
			t.Errorf("HF_HUB_CACHE ignored: %s", s.Dir)
		}
	}
	// A relative XDG value is ignored, as the spec says.
	t.Setenv("XDG_DATA_HOME", "rel")
	if d := ModelsDir(); d != filepath.Join(home, ".local/share/natter/models") {
		t.Errorf("ModelsDir with relative XDG_DATA_HOME: %s", d)
	}
}

func TestResolve(t *testing.T) {
	l := buildLayout(t)
	cases := []struct{ arg, want string }{
		{"alpha", filepath.Join(l.dirA, "alpha.gguf")},
		{"ALPHA", filepath.Join(l.dirA, "alpha.gguf")},
		{"qwen2.5:0.5b", l.ollamaBlob},
		{"smol", l.ollamaBlob}, // :latest implied
		{"someone/mine:v1", l.ollamaBlob},
		{"Tiny-Q8_0", l.hfMain},
		{"bartowski/Tiny-GGUF/Tiny-Q8_0", l.hfMain},
		{filepath.Join(l.dirB, "deep/er/beta.gguf"), filepath.Join(l.dirB, "deep/er/beta.gguf")},
		{"~/a/alpha.gguf", filepath.Join(l.dirA, "alpha.gguf")},
	}
	for _, c := range cases {
		got, err := Resolve(c.arg)
		if err != nil || got != c.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", c.arg, got, err, c.want)
		}
	}

	// A relative path resolves against the working directory.
	t.Chdir(l.dirA)
	if got, err := Resolve("./alpha.gguf"); err != nil || got != filepath.Join(l.dirA, "alpha.gguf") {
		t.Errorf("relative path: %q %v", got, err)
	}

	// A path that does not exist says so, rather than searching names.
	if _, err := Resolve("./missing.gguf"); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path: %v", err)
	}
	if _, err := Resolve(l.dirA); err == nil || !strings.Contains(err.Error(), "folder") {
		t.Errorf("folder: %v", err)
	}

	// A catalog name not downloaded says how to get it.
	_, err := Resolve("qwen3.5-2b")
	var nf *NotFoundError
	if !errors.As(err, &nf) || nf.Catalog == nil || !strings.Contains(err.Error(), "natter pull qwen3.5-2b") {
		t.Errorf("catalog name: %v", err)
	}
	// Once its file is in the models folder, the catalog name finds it.
	e, _ := CatalogLookup("qwen3.5-2b")
	p := filepath.Join(ModelsDir(), e.File)
	mustWrite(t, p, l.model)
	if got, err := Resolve("qwen3.5-2b"); err != nil || got != p {
		t.Errorf("downloaded catalog name: %q %v", got, err)
	}

	// Unknown names suggest look-alikes.
	_, err = Resolve("tiny")
	if !errors.As(err, &nf) || nf.Catalog != nil || !strings.Contains(err.Error(), "Tiny-Q8_0") {
		t.Errorf("unknown name: %v", err)
	}
}

func TestRememberLastUsed(t *testing.T) {
	l := buildLayout(t)
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)

	if _, err := Resolve(""); !errors.Is(err, ErrNoModel) {
		t.Fatalf("nothing remembered: %v", err)
	}
	p := filepath.Join(l.dirA, "alpha.gguf")
	if err := Remember(p); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(state, "natter", "last_model")); err != nil || strings.TrimSpace(string(b)) != p {
		t.Fatalf("state file: %q %v", b, err)
	}
	if got, err := Resolve(""); err != nil || got != p {
		t.Fatalf("Resolve(\"\") = %q %v", got, err)
	}
	// The remembered file is deleted: a clear error, not a crash later.
	os.Remove(p)
	if _, err := Resolve(""); !errors.Is(err, ErrNoModel) || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("deleted default: %v", err)
	}
}

// emptyGGUF is a well-formed GGUF v3 header with no metadata and no tensors.
func emptyGGUF() []byte {
	b := []byte("GGUF")
	b = binary.LittleEndian.AppendUint32(b, 3)
	b = binary.LittleEndian.AppendUint64(b, 0) // tensors
	b = binary.LittleEndian.AppendUint64(b, 0) // metadata
	return b
}
