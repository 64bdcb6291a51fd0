package ui

import (
	"fmt"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"

	"natter/prompts"
)

const replyMarkdown = "## Reversing a string\n\nIn Go, strings are **bytes**, so reverse the runes:\n\n" +
	"```go\nfunc reverse(s string) string {\n\tr := []rune(s)\n\tfor i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {\n\t\tr[i], r[j] = r[j], r[i]\n\t}\n\treturn string(r)\n}\n```\n\n" +
	"- works with `UTF-8`\n- allocates once\n\nThat's it."

// tokens splits text into small pieces the way a model streams it.
func tokens(s string, n int) []string {
	var out []string
	r := []rune(s)
	for len(r) > 0 {
		k := min(n, len(r))
		out = append(out, string(r[:k]))
		r = r[k:]
	}
	return out
}

func TestGolden(t *testing.T) {
	scenarios := []struct {
		name string
		gen  func() *fakeGen
		run  func(h *harness)
	}{
		{"empty", func() *fakeGen { return newFakeGen() }, func(h *harness) {}},
		{"reply", func() *fakeGen { return newFakeGen(tokens(replyMarkdown, 3)...) }, func(h *harness) {
			h.typeText("How do I reverse a string in Go?")
			h.enter()
			h.waitFor("the reply", func(m Model) bool { return m.cur == nil })
		}},
		{"reasoning", func() *fakeGen {
			return newFakeGen(tokens("<think>The user wants a number. Forty-two is the classic answer, and it is short.</think>The answer is **42**.", 4)...)
		}, func(h *harness) {
			h.typeText("Pick a number")
			h.enter()
			h.waitFor("the reply", func(m Model) bool { return m.cur == nil })
		}},
		{"streaming", func() *fakeGen {
			g := newFakeGen(tokens(replyMarkdown, 3)...)
			g.gate, g.pauseAfter = make(chan struct{}), 40
			return g
		}, func(h *harness) {
			h.typeText("How do I reverse a string in Go?")
			h.enter()
			h.waitFor("40 tokens", func(m Model) bool { return m.cur != nil && m.cur.tokens == 40 })
		}},
		{"nomodel", nil, func(h *harness) {}},
		{"help", func() *fakeGen { return newFakeGen() }, func(h *harness) {
			h.typeText("?")
		}},
		{"error", func() *fakeGen { return newFakeGen() }, func(h *harness) {
			h.typeText("/frobnicate now")
			h.enter()
		}},
		{"firstrun", nil, func(h *harness) {
			h.key(tea.KeyDown, 0)
		}},
		{"template", func() *fakeGen { return newFakeGen() }, func(h *harness) {
			h.typeText("/template")
			h.enter()
		}},
	}
	// Extra settings per scenario.
	configs := map[string]func(c *Config){
		"firstrun": func(c *Config) { c.Catalog = testCatalog },
		"template": func(c *Config) {
			chain, _ := prompts.BuildChain(prompts.ChainConfig{ModelTemplate: "{%- for m in messages %}\n{{- '<|' + m.role + '|>\\n' + m.content + '\\n' }}\n{%- endfor %}\n{%- if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"})
			c.Gen = templateGen{c.Gen.(*fakeGen), chain}
		},
	}
	sizes := [][2]int{{80, 24}, {120, 40}}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			for _, full := range []bool{false, true} {
				for _, sz := range sizes {
					mode := "inline"
					if full {
						mode = "fullscreen"
					}
					t.Run(fmt.Sprintf("%s_%dx%d", mode, sz[0], sz[1]), func(t *testing.T) {
						cfg := Config{Fullscreen: full, Theme: "dark"}
						if sc.gen != nil {
							cfg.Gen = sc.gen()
						} else {
							cfg.NoModelHelp = "No model found (looked in $NATTER_MODEL, ~/.config/natter/config.toml, ~/.local/share/natter/models).\nStart with natter -m PATH/TO/model.gguf, or set NATTER_MODEL=PATH."
						}
						if f := configs[sc.name]; f != nil {
							f(&cfg)
						}
						h := newHarness(t, cfg, sz[0], sz[1])
						sc.run(h)
						h.settle()
						golden.RequireEqual(t, h.screen())
					})
				}
			}
		})
	}
}

var _ = tea.KeyEnter
