package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// /set schema puts the grammar and schema on the next requests, a reply
// that does not validate says why under it, and /set schema off ends it.
func TestSetSchema(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mood.json")
	os.WriteFile(file, []byte(`{"type":"object","properties":{"mood":{"enum":["ok"]}},"required":["mood"]}`), 0o644)
	g := newFakeGen("not ", "json")
	h := newHarness(t, Config{Gen: g, Fullscreen: true}, 120, 40)
	h.typeText("/set schema " + file)
	h.enter()
	h.settle()
	if h.m.format == nil || !strings.Contains(h.screen(), "Replies are now JSON schema mood.json") {
		t.Fatalf("after /set schema:\n%s", h.screen())
	}
	sendAndWait(h, "how are you")
	reqs := g.requests()
	last := reqs[len(reqs)-1]
	if !strings.Contains(last.Grammar, "root ::=") || !strings.Contains(string(last.JSONSchema), `"mood"`) {
		t.Fatalf("request grammar %q schema %s", last.Grammar, last.JSONSchema)
	}
	if !strings.Contains(h.screen(), "⚠ the reply is not valid JSON") {
		t.Fatalf("no warning under an invalid reply:\n%s", h.screen())
	}
	h.typeText("/set")
	h.enter()
	h.settle()
	if !strings.Contains(h.m.settingsText(), "replies JSON schema mood.json") || !strings.Contains(h.screen(), "replies JSON") {
		t.Errorf("/set does not list the format:\n%s", h.screen())
	}
	h.typeText("/set schema off")
	h.enter()
	h.settle()
	sendAndWait(h, "again")
	reqs = g.requests()
	if last := reqs[len(reqs)-1]; last.Grammar != "" || last.JSONSchema != nil {
		t.Errorf("after /set schema off the request still has a grammar")
	}
	// Errors leave the format as it was and say what is wrong.
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"type":"object","properties":{"a":{"not":{}}}}`), 0o644)
	h.typeText("/set schema " + bad)
	h.enter()
	h.settle()
	if h.m.format != nil || !strings.Contains(h.m.errLine, `"not"`) {
		t.Errorf("bad schema: format %v, error line %q", h.m.format, h.m.errLine)
	}
	h.typeText(`/set grammar ` + filepath.Join(dir, "none.gbnf"))
	h.enter()
	h.settle()
	if h.m.format != nil || !strings.Contains(h.m.errLine, "no such file") {
		t.Errorf("missing grammar: error line %q", h.m.errLine)
	}
	h.typeText(`/set schema {"enum": ["a", "b"]}`)
	h.enter()
	h.settle()
	if h.m.format == nil || h.m.format.String() != "JSON schema (inline)" {
		t.Errorf("inline schema: %v (%s)", h.m.format, h.m.errLine)
	}
	h.typeText("/set json on")
	h.enter()
	h.settle()
	if h.m.format == nil || h.m.format.String() != "JSON" {
		t.Errorf("/set json on: %v", h.m.format)
	}
}
