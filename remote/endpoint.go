// Package remote is natter's third backend: generation done by a server
// that speaks the OpenAI HTTP API (llama-server, vLLM, SGLang, Ollama,
// LM Studio, natter serve), through the official openai-go client.
//
// It implements api.Generator, so `ask` (and anything else written against
// that interface) runs on it unchanged. It is pure Go and imports only
// engine/api and prompts. The API key comes from the environment or a
// private key file, and never appears in errors, logs or model names.
package remote

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Scheme is how -m names a server directly: openai://HOST:PORT/MODEL.
const Scheme = "openai://"

// DefaultKeyEnv holds the key for openai:// models given without a named
// endpoint (a named one says which variable in the config file).
const DefaultKeyEnv = "NATTER_API_KEY"

// Endpoint is a server and the model to ask it for.
type Endpoint struct {
	Name     string // the config file's endpoint name; "" for an openai:// URL
	BaseURL  string // e.g. https://gpu.example:8000/v1
	Model    string
	KeyEnv   string // variable holding the API key ("" : none)
	KeyFile  string // file holding it ("" : none)
	Insecure bool   // plain http allowed beyond loopback
}

// Named is an endpoint as the config file describes it.
type Named struct {
	Name, URL, Model, KeyEnv, KeyFile string
	Insecure                          bool
}

// IsURL reports whether a -m value names a server directly.
func IsURL(arg string) bool { return strings.HasPrefix(arg, Scheme) }

// Resolve turns a -m value into an endpoint: openai://HOST:PORT/MODEL, or
// NAME / NAME:MODEL for an endpoint of the config file. ok is false when
// arg is neither (a local model).
func Resolve(arg string, named []Named, insecure bool) (ep Endpoint, ok bool, err error) {
	if IsURL(arg) {
		ep, err := parseURL(arg, insecure, true)
		return ep, true, err
	}
	name, model, _ := strings.Cut(arg, ":")
	for _, n := range named {
		if n.Name != name {
			continue
		}
		if model == "" {
			model = n.Model
		}
		if model == "" {
			return Endpoint{}, true, fmt.Errorf("endpoint %s names no model: use -m %s:MODEL (natter models --endpoint %s lists them)", name, name, name)
		}
		ep := n.endpoint(model, insecure)
		return ep, true, ep.checkScheme()
	}
	return Endpoint{}, false, nil
}

// endpoint is the named endpoint asking for model.
func (n Named) endpoint(model string, insecure bool) Endpoint {
	return Endpoint{Name: n.Name, BaseURL: strings.TrimRight(n.URL, "/"), Model: model, KeyEnv: n.KeyEnv, KeyFile: n.KeyFile, Insecure: n.Insecure || insecure}
}

// parseURL reads openai://HOST:PORT/MODEL; MODEL may hold slashes
// (Qwen/Qwen3.5-27B), and may be left out when needModel is false.
func parseURL(arg string, insecure, needModel bool) (Endpoint, error) {
	rest := strings.TrimPrefix(arg, Scheme)
	host, model, _ := strings.Cut(rest, "/")
	if host == "" {
		return Endpoint{}, fmt.Errorf("%s: want openai://HOST:PORT/MODEL", arg)
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		return Endpoint{}, fmt.Errorf("%s: want openai://HOST:PORT/MODEL (the port is missing)", arg)
	}
	if model == "" && needModel {
		return Endpoint{}, fmt.Errorf("%s: no model after the host: openai://%s/MODEL (natter models --endpoint %s lists them)", arg, host, arg)
	}
	scheme := "https"
	if loopback(host) || insecure {
		scheme = "http"
	}
	return Endpoint{BaseURL: scheme + "://" + host + "/v1", Model: model, KeyEnv: DefaultKeyEnv, Insecure: insecure}, nil
}

// ForListing is the endpoint behind a -m value or endpoint name for
// `natter models --endpoint`, where no model is needed.
func ForListing(arg string, named []Named, insecure bool) (Endpoint, error) {
	if IsURL(arg) {
		ep, err := parseURL(arg, insecure, false)
		ep.Model = ""
		return ep, err
	}
	name, _, _ := strings.Cut(arg, ":")
	for _, n := range named {
		if n.Name == name {
			ep := n.endpoint("", insecure)
			return ep, ep.checkScheme()
		}
	}
	var names []string
	for _, n := range named {
		names = append(names, n.Name)
	}
	if len(names) == 0 {
		return Endpoint{}, fmt.Errorf("no endpoint %q: the config file has none ([endpoints.NAME] tables; natter config init shows an example), or give openai://HOST:PORT", name)
	}
	return Endpoint{}, fmt.Errorf("no endpoint %q in the config file (it has %s)", name, strings.Join(names, ", "))
}

// checkScheme refuses plain http beyond this machine unless allowed: the
// key and the conversation would cross the network in the clear.
func (e Endpoint) checkScheme() error {
	u, err := url.Parse(e.BaseURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("endpoint %s: bad url %q", e.Name, e.BaseURL)
	}
	if u.Scheme == "http" && !loopback(u.Host) && !e.Insecure {
		return fmt.Errorf("endpoint %s uses plain http to %s, which sends the conversation (and key) unencrypted; use https, or --insecure (insecure = true in the config) if the network is trusted", e.Name, u.Host)
	}
	return nil
}

// Host is the server's host:port, for the status line.
func (e Endpoint) Host() string {
	if u, err := url.Parse(e.BaseURL); err == nil {
		return u.Host
	}
	return e.BaseURL
}

// ID names the model in the history and the UI: NAME:MODEL for a named
// endpoint, openai://HOST/MODEL otherwise (never the key).
func (e Endpoint) ID() string {
	if e.Name != "" {
		return e.Name + ":" + e.Model
	}
	return Scheme + e.Host() + "/" + e.Model
}

func loopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ErrKeyFileMode is returned for a key file others can read.
var ErrKeyFileMode = errors.New("the key file must be readable only by you (chmod 600)")

// Key reads the endpoint's API key: from KeyFile (which must be private)
// or KeyEnv. No key is not an error (local servers need none); a named
// source that gives nothing is.
func (e Endpoint) Key() (string, error) {
	if e.KeyFile != "" {
		path := e.KeyFile
		if strings.HasPrefix(path, "~/") {
			if home, err := os.UserHomeDir(); err == nil {
				path = filepath.Join(home, path[2:])
			}
		}
		st, err := os.Stat(path)
		if err != nil {
			return "", fmt.Errorf("endpoint %s: api_key_file: %v", e.Name, err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("endpoint %s: %s is mode %04o: %w", e.Name, path, st.Mode().Perm(), ErrKeyFileMode)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("endpoint %s: api_key_file: %v", e.Name, err)
		}
		key := strings.TrimSpace(string(b))
		if key == "" {
			return "", fmt.Errorf("endpoint %s: %s is empty", e.Name, path)
		}
		return key, nil
	}
	if e.KeyEnv != "" {
		key := strings.TrimSpace(os.Getenv(e.KeyEnv))
		if key == "" && e.Name != "" {
			return "", fmt.Errorf("endpoint %s needs its API key in $%s, which is empty or unset", e.Name, e.KeyEnv)
		}
		return key, nil
	}
	return "", nil
}
