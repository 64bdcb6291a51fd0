package config

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Endpoint is one [endpoints.NAME] table: a remote OpenAI-compatible
// server that -m NAME (or NAME:MODEL) talks to. The API key itself never
// lives in the file: it comes from the APIKeyEnv variable or the
// APIKeyFile (which must be private to the user).
type Endpoint struct {
	Name       string
	URL        string // base URL, e.g. https://gpu.example:8000/v1
	Model      string // default model name on that server
	APIKeyEnv  string
	APIKeyFile string
	Insecure   bool // allow plain http beyond loopback
	Line       int  // where its table starts
}

// endpointFields are the keys an endpoint table may hold.
var endpointFields = []string{"url", "model", "api_key_env", "api_key_file", "insecure"}

// Endpoints lists the file's endpoints in the order they appear.
func (c *Config) Endpoints() []Endpoint {
	if c == nil {
		return nil
	}
	out := make([]Endpoint, 0, len(c.endpoints))
	for _, e := range c.endpoints {
		out = append(out, *e)
	}
	return out
}

// Endpoint finds an endpoint by name.
func (c *Config) Endpoint(name string) (Endpoint, bool) {
	if c != nil {
		for _, e := range c.endpoints {
			if e.Name == name {
				return *e, true
			}
		}
	}
	return Endpoint{}, false
}

func (c *Config) endpoint(name string, line int) *Endpoint {
	for _, e := range c.endpoints {
		if e.Name == name {
			return e
		}
	}
	e := &Endpoint{Name: name, Line: line}
	c.endpoints = append(c.endpoints, e)
	return e
}

// validEndpointName: names are typed after -m, so they stay simple and
// never look like a path or a URL.
func validEndpointName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// endpointTable handles [endpoints.NAME].
func (w *walker) endpointTable(first *unstable.Node, parts []string) ([]string, *FileError) {
	if len(parts) != 2 {
		return nil, w.errAt(first, strings.Join(parts, "."), "an endpoint is a table [endpoints.NAME]")
	}
	if !validEndpointName(parts[1]) {
		return nil, w.errAt(first, strings.Join(parts, "."), "endpoint names use letters, digits, - and _ only")
	}
	line, _ := w.nodePos(first)
	w.cfg.endpoint(parts[1], line)
	return parts, nil
}

// endpointValue handles a key inside an endpoint: endpoints.NAME.FIELD.
func (w *walker) endpointValue(parts []string, val, first *unstable.Node) *FileError {
	name := strings.Join(parts, ".")
	switch {
	case len(parts) == 1:
		return w.errAt(first, name, "want tables [endpoints.NAME], got %s", kindName(val.Kind))
	case len(parts) == 2:
		if val.Kind != unstable.InlineTable {
			return w.errAt(first, name, "want a table (url, model, api_key_env, ...), got %s", kindName(val.Kind))
		}
		if !validEndpointName(parts[1]) {
			return w.errAt(first, name, "endpoint names use letters, digits, - and _ only")
		}
		line, _ := w.nodePos(first)
		w.cfg.endpoint(parts[1], line)
		it := val.Children()
		for it.Next() {
			if n := it.Node(); n.Kind == unstable.KeyValue {
				if err := w.keyValue(parts, n); err != nil {
					return err
				}
			}
		}
		return nil
	case len(parts) > 3:
		return w.unknown(first, "key", name, "")
	}
	line, _ := w.nodePos(first)
	e := w.cfg.endpoint(parts[1], line)
	field := parts[2]
	if prev, dup := w.seen[name]; dup {
		return w.errAt(first, name, "set twice (first on line %d)", prev)
	}
	w.seen[name] = line
	str := func() (string, *FileError) {
		if val.Kind != unstable.String {
			return "", w.errAt(first, name, "want a string, got %s", kindName(val.Kind))
		}
		return string(val.Data), nil
	}
	var err *FileError
	switch field {
	case "url":
		if e.URL, err = str(); err == nil {
			u, perr := url.Parse(e.URL)
			if perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				err = w.errAt(val, name, "want an http:// or https:// URL such as https://host:8000/v1, got %q", e.URL)
			}
		}
	case "model":
		e.Model, err = str()
	case "api_key_env":
		e.APIKeyEnv, err = str()
	case "api_key_file":
		e.APIKeyFile, err = str()
	case "insecure":
		if val.Kind != unstable.Bool {
			return w.errAt(first, name, "want true or false, got %s", kindName(val.Kind))
		}
		e.Insecure = string(val.Data) == "true"
	case "api_key", "key", "token":
		return w.errAt(first, name, "the key itself does not go in the config file: name the variable that holds it (api_key_env) or a file only you can read (api_key_file)")
	default:
		best, bestD := "", -1
		for _, f := range endpointFields {
			if d := distance(field, f); bestD < 0 || d < bestD {
				best, bestD = f, d
			}
		}
		return w.unknown(first, "key", name, hint(best, bestD, field)+" (an endpoint has "+strings.Join(endpointFields, ", ")+")")
	}
	return err
}

// checkEndpoints runs after the whole file: every endpoint needs a url.
func (c *Config) checkEndpoints() *FileError {
	for _, e := range c.endpoints {
		if e.URL == "" {
			return &FileError{Line: e.Line, Key: "endpoints." + e.Name, Msg: "an endpoint needs a url"}
		}
	}
	return nil
}

// endpointsText writes the endpoints as TOML (config show).
func endpointsText(b *strings.Builder, eps []*Endpoint) {
	for _, e := range eps {
		fmt.Fprintf(b, "\n[endpoints.%s]\n", e.Name)
		fmt.Fprintf(b, "url = %q\n", e.URL)
		for _, f := range []struct{ k, v string }{{"model", e.Model}, {"api_key_env", e.APIKeyEnv}, {"api_key_file", e.APIKeyFile}} {
			if f.v != "" {
				fmt.Fprintf(b, "%s = %q\n", f.k, f.v)
			}
		}
		if e.Insecure {
			b.WriteString("insecure = true\n")
		}
	}
}

// endpointsExample is the commented example config init writes.
const endpointsExample = `
# Remote OpenAI-compatible servers (llama-server, vLLM, Ollama, LM Studio,
# natter serve), used with -m NAME or -m NAME:MODEL. The API key never goes
# in this file: name the variable that holds it, or a file only you can read.
#
# [endpoints.gpu]
# url = "https://gpu.example:8000/v1"
# model = "qwen3.5-27b"
# api_key_env = "GPU_KEY"
# api_key_file = "~/.config/natter/gpu.key"   # mode 0600
# insecure = false                             # allow http:// beyond this machine
`
