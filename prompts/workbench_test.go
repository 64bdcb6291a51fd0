package prompts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildChainModelTemplate(t *testing.T) {
	msgs := []Message{{Role: RoleSystem, Content: "s"}, {Role: RoleUser, Content: "u"}}
	c, err := BuildChain(ChainConfig{ModelTemplate: "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}", Options: JinjaOptions{BOS: "<s>"}})
	if err != nil {
		t.Fatal(err)
	}
	if out, used, err := c.RenderWith(msgs, true); err != nil || out != "<s>su" || used != "gguf:jinja" {
		t.Fatalf("%q %q %v", out, used, err)
	}
	info := DescribeTemplate(c)
	if info.Name != "gguf:jinja" || !strings.Contains(info.Origin, "GGUF") || !strings.Contains(info.Source, "bos_token") || info.InUse != "gguf:jinja" {
		t.Fatalf("%+v", info)
	}

	// A model template that does not parse: ChatML takes over and says why.
	c, err = BuildChain(ChainConfig{ModelTemplate: "{% for %}"})
	if err != nil {
		t.Fatal(err)
	}
	out, used, err := c.RenderWith(msgs, true)
	if err != nil || used != "chatml" || !strings.HasPrefix(out, "<|im_start|>system\ns<|im_end|>") {
		t.Fatalf("%q %q %v", out, used, err)
	}
	info = DescribeTemplate(c)
	if info.InUse != "chatml" || !strings.Contains(info.FallbackReason, "gguf:jinja:1:") {
		t.Fatalf("%+v", info)
	}
	// No template at all.
	c, _ = BuildChain(ChainConfig{})
	if _, used, _ := c.RenderWith(msgs, false); used != "chatml" {
		t.Fatal(used)
	}
	if info := DescribeTemplate(c); !strings.Contains(info.Origin, "ChatML") || info.Source == "" {
		t.Fatalf("%+v", info)
	}
}

func TestBuildChainOverride(t *testing.T) {
	cfg := t.TempDir()
	os.MkdirAll(filepath.Join(cfg, "templates"), 0o755)
	p := filepath.Join(cfg, "templates", "plain.jinja")
	os.WriteFile(p, []byte("{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"), 0o644)
	c, err := BuildChain(ChainConfig{Override: "plain", ConfigDir: cfg, ModelTemplate: "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	out, used, err := c.RenderWith([]Message{{Role: RoleUser, Content: "hi"}}, true)
	if err != nil || out != "user: hi\n" || used != "user:plain" {
		t.Fatalf("%q %q %v", out, used, err)
	}
	if info := DescribeTemplate(c); info.Path != p || !strings.Contains(info.Origin, "user override") || info.ReloadError != "" {
		t.Fatalf("%+v", info)
	}
	writeLater(t, p, "{% if %}")
	out, _, err = c.RenderWith([]Message{{Role: RoleUser, Content: "hi"}}, true)
	if info := DescribeTemplate(c); err != nil || out != "user: hi\n" || !strings.Contains(info.ReloadError, p+":1:") {
		t.Fatalf("broken edit: %q %v %+v", out, err, info)
	}
	writeLater(t, p, "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")
	// Named after the model: picked up without --chat-template.
	c, err = BuildChain(ChainConfig{ModelName: "plain", ConfigDir: cfg, ModelTemplate: "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if _, used, _ := c.RenderWith([]Message{{Role: RoleUser, Content: "hi"}}, true); used != "user:plain" {
		t.Fatalf("per-model override not used: %s", used)
	}
	c, _ = BuildChain(ChainConfig{ModelName: "other", ConfigDir: cfg, ModelTemplate: "M"})
	if out, used, _ := c.RenderWith(nil, true); used != "gguf:jinja" || out != "M" {
		t.Fatalf("%q %s", out, used)
	}
	if _, err := BuildChain(ChainConfig{Override: "missing", ConfigDir: cfg}); err == nil {
		t.Fatal("unknown override must be an error")
	}
}

// The /template text shown for the ChatML fallback must be what ChatML does.
func TestChatMLSourceMatchesChatML(t *testing.T) {
	jt, err := NewJinja("chatml-src", chatMLSource, JinjaOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Role: RoleSystem, Content: "a\n"}, {Role: RoleUser, Content: " b"}, {Role: RoleAssistant, Content: "c"}}
	for _, gen := range []bool{false, true} {
		want, _ := ChatML().Render(msgs, gen)
		got, err := jt.Render(msgs, gen)
		if err != nil || got != want {
			t.Fatalf("gen=%v: %q vs %q (%v)", gen, got, want, err)
		}
	}
}
