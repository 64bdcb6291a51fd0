package layers

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// natter itself obeys its layers, test imports included.
func TestModuleObeysLayers(t *testing.T) {
	g, err := Load("../..", "natter")
	if err != nil {
		t.Fatal(err)
	}
	// The graph is the real one: cgo files are listed (engine's binding
	// imports goengine) and so are the command tree and tests.
	for pkg, want := range map[string]string{
		"natter":        "natter/cli",
		"natter/cli":    "natter/ui",
		"natter/engine": "natter/engine/api",
		"natter/ui":     "natter/prompts",
	} {
		if !slices.Contains(g.Imports[pkg], want) {
			t.Errorf("%s does not import %s in the listed graph: %v", pkg, want, g.Imports[pkg])
		}
	}
	if !slices.Contains(g.TestImports["natter/ui"], "natter/history") {
		t.Errorf("ui's test imports are missing: %v", g.TestImports["natter/ui"])
	}
	for _, v := range Check(g, Rules) {
		t.Error(v)
	}
	// Every rule places at least one real package; a rule left behind by a
	// removed package would hide the next one put there by mistake.
	for _, r := range Rules {
		found := false
		for pkg := range g.Imports {
			if got, _ := RuleFor(pkg, Rules); got.Pkg == r.Pkg {
				found = true
			}
		}
		if !found {
			t.Errorf("rule %s matches no package", r.Pkg)
		}
		if r.Doc == "" {
			t.Errorf("rule %s says nothing about what its packages own", r.Pkg)
		}
	}
}

func TestMostSpecificRuleWins(t *testing.T) {
	for pkg, want := range map[string]string{
		"natter/engine":                "natter/engine/...",
		"natter/engine/goengine":       "natter/engine/...",
		"natter/engine/api":            "natter/engine/api",
		"natter/engine/gguf/synth":     "natter/engine/gguf/...",
		"natter":                       "natter",
		"natter/cli":                   "natter/cli/...",
		"natter/prompts/jinja":         "natter/prompts/...",
		"natter/internal/layers":       "natter/internal/...",
		"natter/internal/units":        "natter/internal/units",
		"natter/history/kvcache":       "natter/history/...",
		"natter/models/netcheck":       "natter/models/...",
		"natter/doctor":                "natter/doctor/...",
		"natter/config":                "natter/config/...",
		"natter/ui/markdown/somewhere": "natter/ui/...",
	} {
		r, ok := RuleFor(pkg, Rules)
		if !ok || r.Pkg != want {
			t.Errorf("RuleFor(%s) = %q, %v; want %s", pkg, r.Pkg, ok, want)
		}
	}
	if _, ok := RuleFor("natter/newthing", Rules); ok {
		t.Error("a package no rule names was given one")
	}
	if Match("natter/engine/...", "natter/engineering") {
		t.Error("natter/engine/... matched natter/engineering")
	}
}

func strs(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.String())
	}
	return out
}

// Each kind of break is found and named: an import the rule does not allow,
// a dependency through another package, a package without a rule, and a test
// import outside what tests may use.
func TestCheckFindsViolations(t *testing.T) {
	g := Graph{
		Imports: map[string][]string{
			"natter":            {"natter/cli", "natter/ui"},
			"natter/cli":        {"natter/ui", "natter/engine"},
			"natter/ui":         {"natter/engine/api", "natter/history"},
			"natter/history":    {"natter/engine/api", "natter/engine"},
			"natter/engine":     {"natter/engine/api", "natter/prompts"},
			"natter/engine/api": {"natter/prompts"},
			"natter/prompts":    {"natter/prompts/jinja", "natter/engine/api"},
			"natter/newthing":   {"natter/prompts"},
			"natter/models":     {"natter/engine/gguf"},
		},
		TestImports: map[string][]string{
			"natter":            {"natter/engine/gguf/synth", "natter/history"},
			"natter/models":     {"natter/engine/gguf/synth", "natter/engine"},
			"natter/engine/api": {"natter/engine"}, // a violation, but not compiled into ui
		},
	}
	got := strs(Check(g, Rules))
	want := []string{
		"no layer rule for natter/newthing: add one to internal/layers",
		"natter imports natter/ui (natter may import: natter/cli/...)",
		"natter/engine/api's tests import natter/engine (engine/api may import: natter/prompts/...)",
		"natter/history imports natter/engine (history may import: natter/history/..., natter/prompts/..., natter/engine/api, natter/internal/units)",
		"natter/prompts imports natter/engine/api (prompts may import: natter/prompts/...)",
		"natter/models's tests import natter/engine (models may import: natter/models/..., natter/engine/gguf/..., natter/internal/units)",
		"natter/ui imports natter/history (ui may import: natter/ui/..., natter/prompts/..., natter/engine/api, natter/tools, natter/media, natter/internal/units)",
		"natter/ui depends on natter/engine via natter/history (ui must not depend on natter/engine/... except natter/engine/api, even indirectly)",
	}
	slices.Sort(got)
	slices.Sort(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("violations:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// An allowed test import is not a violation; nor is a layer's own package
// path or an empty graph.
func TestCheckAllowsTheLayering(t *testing.T) {
	g := Graph{
		Imports: map[string][]string{
			"natter":         {"natter/cli"},
			"natter/cli":     {"natter/ui", "natter/engine", "natter/history", "natter/doctor", "natter/config"},
			"natter/ui":      {"natter/engine/api", "natter/prompts"},
			"natter/doctor":  {"natter/engine", "natter/models", "natter/config"},
			"natter/models":  {"natter/engine/gguf"},
			"natter/history": {"natter/engine/api"},
		},
		TestImports: map[string][]string{
			"natter/ui": {"natter/history", "natter/ui"},
			"natter":    {"natter/history", "natter/models/netcheck"},
		},
	}
	if v := Check(g, Rules); len(v) != 0 {
		t.Errorf("violations in an allowed graph: %v", strs(v))
	}
}

// Load sees what go list sees in a module on disk: the imports of a cgo
// file and a test import both break the rules here.
func TestLoadFindsViolationsOnDisk(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":           "module natter\n\ngo 1.22\n",
		"main.go":          "package main\n\nimport _ \"natter/cli\"\n\nfunc main() {}\n",
		"cli/cli.go":       "package cli\n\nimport _ \"natter/ui\"\n",
		"ui/ui.go":         "package ui\n\nimport _ \"natter/engine/api\"\n",
		"ui/ui_test.go":    "package ui\n\nimport (\n\t\"testing\"\n\t_ \"natter/engine\"\n)\n\nfunc TestX(t *testing.T) {}\n",
		"engine/engine.go": "package engine\n",
		"engine/cgo.go":    "package engine\n\n// int one(void) { return 1; }\nimport \"C\"\n\nimport _ \"natter/history\"\n",
		"engine/api/a.go":  "package api\n",
		"history/h.go":     "package history\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g, err := Load(dir, "natter")
	if err != nil {
		t.Fatal(err)
	}
	got := strs(Check(g, Rules))
	want := []string{
		"natter/engine imports natter/history (engine may import: natter/engine/..., natter/prompts/..., natter/media)",
		"natter/ui's tests import natter/engine (ui may import: natter/ui/..., natter/prompts/..., natter/engine/api, natter/tools, natter/media, natter/internal/units; its tests also natter/history)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("violations:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A module go list cannot read is an error, not an empty, passing graph.
func TestLoadReportsBrokenPackages(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module natter\n\ngo 1.22\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "ui"), 0o755)
	os.WriteFile(filepath.Join(dir, "ui", "ui.go"), []byte("package ui\n\nimport _ \"natter/missing\"\n"), 0o644)
	if _, err := Load(dir, "natter"); err == nil || !strings.Contains(err.Error(), "natter/missing") {
		t.Errorf("Load of a module with a missing package: %v", err)
	}
	if _, err := Load(t.TempDir(), "natter"); err == nil {
		t.Error("Load of a folder without a module succeeded")
	}
}
