package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadText(t *testing.T, text string) (*Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(p)
}

// Endpoints come as tables, inline tables or dotted keys, in file order.
func TestEndpoints(t *testing.T) {
	c, err := loadText(t, `[sampling]
temp = 0.5

[endpoints.gpu]
url = "https://gpu.example:8000/v1"
model = "qwen3.5-27b"
api_key_env = "GPU_KEY"

[endpoints]
local = { url = "http://127.0.0.1:8080/v1", insecure = true }

[chat]
theme = "dark"
`)
	if err != nil {
		t.Fatal(err)
	}
	eps := c.Endpoints()
	if len(eps) != 2 || eps[0].Name != "gpu" || eps[0].URL != "https://gpu.example:8000/v1" || eps[0].Model != "qwen3.5-27b" ||
		eps[0].APIKeyEnv != "GPU_KEY" || eps[0].Line != 4 || eps[1].Name != "local" || !eps[1].Insecure {
		t.Fatalf("%+v", eps)
	}
	if v := c.Get("chat.theme"); v.Text != "dark" {
		t.Errorf("a section after the endpoints: theme %q", v.Text)
	}
	if _, ok := c.Endpoint("gpu"); !ok {
		t.Error("Endpoint(gpu) not found")
	}
	show := c.Show()
	if !strings.Contains(show, "[endpoints.gpu]\nurl = \"https://gpu.example:8000/v1\"\nmodel = \"qwen3.5-27b\"\napi_key_env = \"GPU_KEY\"\n") {
		t.Errorf("show:\n%s", show)
	}
	// What show prints loads back to the same endpoints.
	back, err := loadText(t, show)
	if err != nil || len(back.Endpoints()) != 2 || back.Endpoints()[1].URL != eps[1].URL {
		t.Fatalf("show does not load back: %v %+v", err, back)
	}
	dotted, err := loadText(t, "endpoints.box.url = \"http://box:1234/v1\"\n")
	if err != nil || len(dotted.Endpoints()) != 1 || dotted.Endpoints()[0].URL != "http://box:1234/v1" {
		t.Fatalf("dotted: %v %+v", err, dotted.Endpoints())
	}
}

func TestEndpointErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"[endpoints.gpu]\nurl = \"https://x/v1\"\napi_key = \"sk-123\"\n", ":3:1: endpoints.gpu.api_key: the key itself does not go in the config file"},
		{"[endpoints.gpu]\nurl = \"https://x/v1\"\nmodle = \"m\"\n", `unknown key "endpoints.gpu.modle" (did you mean "model"?)`},
		{"[endpoints.gpu]\nurl = \"ftp://x\"\n", ":2:7: endpoints.gpu.url: want an http:// or https:// URL"},
		{"[endpoints.gpu]\nmodel = \"m\"\n", ":1: endpoints.gpu: an endpoint needs a url"},
		{"[endpoints.gpu]\nurl = 7\n", "endpoints.gpu.url: want a string, got an integer"},
		{"[endpoints.gpu]\nurl = \"https://x/v1\"\ninsecure = \"yes\"\n", "endpoints.gpu.insecure: want true or false"},
		{"[endpoints.\"a/b\"]\nurl = \"https://x/v1\"\n", "endpoint names use letters"},
		{"[endpoints.gpu.extra]\n", "an endpoint is a table [endpoints.NAME]"},
		{"endpoints = 3\n", "want tables [endpoints.NAME]"},
		{"[endpoints.gpu]\nurl = \"https://x/v1\"\nurl = \"https://y/v1\"\n", ""},
	} {
		_, err := loadText(t, c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want %q", c.text, err, c.want)
		}
	}
}

// init documents endpoints in comments, so its file still has none.
func TestInitDocumentsEndpoints(t *testing.T) {
	text := InitText()
	if !strings.Contains(text, "# [endpoints.gpu]") || !strings.Contains(text, "# api_key_env = \"GPU_KEY\"") {
		t.Fatalf("init text has no endpoint example:\n%s", text)
	}
	c, err := loadText(t, text)
	if err != nil || len(c.Endpoints()) != 0 {
		t.Fatalf("%v %+v", err, c.Endpoints())
	}
}
