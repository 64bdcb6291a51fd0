package models

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzQuantNames(f *testing.F) {
	for _, s := range [][2]string{{"Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "Q4_K_M"}, {"a-Q8_0-00001-of-00002.gguf", "q8_0"}, {"", ""}, {"QQQ", "Q"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, quant string) {
		got := hasQuantToken(name, quant)
		if got && !strings.Contains(strings.ToUpper(name), strings.ToUpper(quant)) {
			t.Fatalf("%q matched %q without containing it", name, quant)
		}
		quantsOf([]hfFile{{Path: name}})
	})
}

func FuzzParseMemInfo(f *testing.F) {
	f.Add("MemTotal: 100 kB\nMemAvailable: 50 kB\n")
	f.Add("MemFree: 18446744073709551615 kB\n")
	f.Add(":\n::\n")
	f.Fuzz(func(t *testing.T, s string) {
		parseMemInfo(strings.NewReader(s))
	})
}

// Whatever a manifest says, the blob it maps to stays inside blobs/.
func FuzzOllamaManifest(f *testing.F) {
	f.Add(`{"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:` + strings.Repeat("a", 64) + `"}]}`)
	f.Add(`{"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:../../x"}]}`)
	f.Add(`{"layers":null}`)
	f.Add(`[`)
	root := f.TempDir()
	mustWriteF(f, filepath.Join(root, "blobs", "sha256-"+strings.Repeat("a", 64)), []byte("GGUF"))
	mf := filepath.Join(root, "manifest")
	f.Fuzz(func(t *testing.T, manifest string) {
		if err := os.WriteFile(mf, []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		if p := ollamaBlob(root, mf); p != "" && filepath.Dir(p) != filepath.Join(root, "blobs") {
			t.Fatalf("blob outside blobs/: %s", p)
		}
	})
}

func mustWriteF(f *testing.F, p string, b []byte) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		f.Fatal(err)
	}
}

// Whatever the argument, resolving it never panics and never yields a file
// name that could leave the models folder.
func FuzzPullSpec(f *testing.F) {
	for _, s := range []string{"qwen3.5-2b", "hf.co/o/r:Q4_K_M", "hf.co/o/r/sub/f.gguf", "https://h/x/%2e%2e%2fy.gguf",
		"hf.co/o/r/resolve/main/../../x.gguf", "http://", "hf.co/", "hf.co/o/r:", "https://huggingface.co/o/r/blob/main/a.gguf"} {
		f.Add(s)
	}
	srv := newHFServer(f)
	srv.add("o/r/f-Q4_K_M.gguf", []byte("x"))
	srv.add("o/r/sub/../../../evil-Q8_0.gguf", []byte("x"))
	p, err := newPuller(PullOptions{Dir: "/models", HFBaseURL: srv.URL})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		tg, err := p.resolveTarget(context.Background(), spec)
		if err != nil {
			return
		}
		if joinInside("/models", tg.FileName) == "" {
			t.Fatalf("%q gives unsafe file name %q", spec, tg.FileName)
		}
	})
}
