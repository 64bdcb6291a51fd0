// Package layers states and enforces which natter packages may import which.
//
// natter is layered, and imports only point downwards:
//
//	prompts ← engine ← models, history, ui ← config, doctor ← cli ← natter (main.go)
//
// prompts is pure Go and imports nothing of natter's outside prompts/...;
// engine is the only cgo; models may use engine/gguf only, history and ui
// engine/api only, so none of them (nor ui's tests) ever compile llama.cpp.
// config imports nothing of natter's, doctor sits on engine, models, history
// and config, cli on everything, and main.go imports only cli. Rules spells
// this out; the test in this package (part of `make test`) checks the real
// module, test imports included, and fails on any natter package no rule
// names, so every new package is placed deliberately.
package layers

import (
	"fmt"
	"sort"
	"strings"
)

// A Rule says what the packages matched by Pkg may import.
//
// Patterns are import paths; one ending in "/..." matches that path and
// everything below it ("natter/engine/..." matches natter/engine and
// natter/engine/api). In NotDeps a pattern starting with "!" is an exception:
// a dependency is forbidden if it matches a plain pattern and no "!" one.
type Rule struct {
	Pkg     string   // import path or pattern of the packages the rule is for
	May     []string // natter packages they may import directly (patterns)
	TestMay []string // further packages only their tests may import
	NotDeps []string // natter packages they must not depend on even indirectly
	Doc     string   // what these packages own, one line
}

// A Violation is one import that breaks the rules, or a package no rule
// covers (then To is empty).
type Violation struct {
	From, To string
	Via      []string // for transitive violations: the packages between From and To
	Test     bool     // the import is made by From's tests only
	Rule     string   // the broken rule, in words
}

func (v Violation) String() string {
	switch {
	case v.To == "":
		return v.Rule
	case len(v.Via) > 0:
		return fmt.Sprintf("%s depends on %s via %s (%s)", v.From, v.To, strings.Join(v.Via, " → "), v.Rule)
	case v.Test:
		return fmt.Sprintf("%s's tests import %s (%s)", v.From, v.To, v.Rule)
	default:
		return fmt.Sprintf("%s imports %s (%s)", v.From, v.To, v.Rule)
	}
}

// Match reports whether the import path pkg matches pattern.
func Match(pattern, pkg string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

func matchAny(patterns []string, pkg string) bool {
	for _, p := range patterns {
		if Match(p, pkg) {
			return true
		}
	}
	return false
}

// forbidden reports whether pkg is excluded by a NotDeps list.
func forbidden(notDeps []string, pkg string) bool {
	hit := false
	for _, p := range notDeps {
		if ex, ok := strings.CutPrefix(p, "!"); ok {
			if Match(ex, pkg) {
				return false
			}
		} else if Match(p, pkg) {
			hit = true
		}
	}
	return hit
}

// specificity orders rules for one package: exact paths first, then longer
// patterns.
func specificity(pattern string) int {
	if !strings.HasSuffix(pattern, "/...") {
		return 1 << 20
	}
	return len(pattern)
}

// RuleFor returns the most specific rule matching pkg.
func RuleFor(pkg string, rules []Rule) (Rule, bool) {
	best, found := Rule{}, false
	for _, r := range rules {
		if Match(r.Pkg, pkg) && (!found || specificity(r.Pkg) > specificity(best.Pkg)) {
			best, found = r, true
		}
	}
	return best, found
}

// name is the short name of a rule's packages in messages: "engine" for
// "natter/engine/...".
func name(pattern string) string {
	p := strings.TrimSuffix(pattern, "/...")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func describeMay(r Rule) string {
	if len(r.May) == 0 {
		return name(r.Pkg) + " may import nothing of natter's"
	}
	return name(r.Pkg) + " may import: " + strings.Join(r.May, ", ")
}

func describeNotDeps(r Rule) string {
	var deny, except []string
	for _, p := range r.NotDeps {
		if ex, ok := strings.CutPrefix(p, "!"); ok {
			except = append(except, ex)
		} else {
			deny = append(deny, p)
		}
	}
	s := name(r.Pkg) + " must not depend on " + strings.Join(deny, ", ")
	if len(except) > 0 {
		s += " except " + strings.Join(except, ", ")
	}
	return s + ", even indirectly"
}

// A Graph is the import graph of natter's packages: for each package, the
// natter packages its build imports, and those only its tests import
// (in-package and _test package tests together).
type Graph struct {
	Imports     map[string][]string
	TestImports map[string][]string
}

// Check returns every violation of rules in g.
//
// Every package a build or a test imports must have a rule. A package's
// imports must match its rule's May, its test imports May or TestMay.
// NotDeps is checked over everything the package's build or tests pull in:
// its own imports and test imports, then the build imports of those, since
// a dependency's tests are never compiled into it. Each path stops at the
// first forbidden package, and a forbidden direct import already reported
// against May is not reported twice. The result is sorted by From, then To.
func Check(g Graph, rules []Rule) []Violation {
	var out []Violation

	nodes := map[string]bool{}
	for _, m := range []map[string][]string{g.Imports, g.TestImports} {
		for p, imps := range m {
			nodes[p] = true
			for _, q := range imps {
				nodes[q] = true
			}
		}
	}
	for _, p := range sortedKeys(nodes) {
		if _, ok := RuleFor(p, rules); !ok {
			out = append(out, Violation{From: p, Rule: "no layer rule for " + p + ": add one to internal/layers"})
		}
	}

	for _, from := range sortedKeys(nodes) {
		r, ok := RuleFor(from, rules)
		if !ok {
			continue
		}
		bad := map[string]bool{}
		for _, to := range dedupe(g.Imports[from]) {
			if to != from && !matchAny(r.May, to) {
				bad[to] = true
				out = append(out, Violation{From: from, To: to, Rule: describeMay(r)})
			}
		}
		for _, to := range dedupe(g.TestImports[from]) {
			if to != from && !bad[to] && !matchAny(r.May, to) && !matchAny(r.TestMay, to) {
				bad[to] = true
				rule := describeMay(r)
				if len(r.TestMay) > 0 {
					rule += "; its tests also " + strings.Join(r.TestMay, ", ")
				}
				out = append(out, Violation{From: from, To: to, Test: true, Rule: rule})
			}
		}
		if len(r.NotDeps) == 0 {
			continue
		}
		// Breadth first, so each forbidden package is reported with a
		// shortest path.
		parent := map[string]string{from: ""}
		queue := []string{from}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			next := g.Imports[p]
			if p == from {
				next = append(append([]string(nil), next...), g.TestImports[p]...)
			}
			for _, q := range dedupe(next) {
				if _, seen := parent[q]; seen {
					continue
				}
				parent[q] = p
				if !forbidden(r.NotDeps, q) {
					queue = append(queue, q)
					continue
				}
				if p == from && bad[q] {
					continue // already reported as a direct import
				}
				via := []string{}
				for x := p; x != from; x = parent[x] {
					via = append([]string{x}, via...)
				}
				out = append(out, Violation{From: from, To: q, Via: via, Rule: describeNotDeps(r)})
			}
		}
	}

	sort.SliceStable(out, func(i, j int) bool {
		if out[i].From != out[j].From {
			return out[i].From < out[j].From
		}
		return out[i].To < out[j].To
	})
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func dedupe(s []string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
