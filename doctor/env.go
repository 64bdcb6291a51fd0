package doctor

import (
	"sort"
	"strings"
)

// EnvInfo is the environment that changes what natter does.
type EnvInfo struct {
	// Variables are every NATTER_* variable that is set.
	Variables []EnvVar `json:"variables"`
	// Related are other variables natter's paths follow (XDG, Hugging
	// Face, Ollama, llama.cpp caches), when set.
	Related []EnvVar `json:"related"`
}

// EnvVar is one variable; Masked values read "<masked>".
type EnvVar struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Masked bool   `json:"masked"`
}

const maskedValue = "<masked>"

var relatedVars = []string{"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME",
	"HF_HOME", "HF_HUB_CACHE", "OLLAMA_MODELS", "LLAMA_CACHE"}

func collectEnv(environ []string) EnvInfo {
	ei := EnvInfo{Variables: []EnvVar{}, Related: []EnvVar{}}
	vals := map[string]string{}
	var names []string
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if _, dup := vals[k]; dup {
			continue // the first wins, as in os.Getenv
		}
		vals[k] = v
		if strings.HasPrefix(k, "NATTER_") {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		ei.Variables = append(ei.Variables, envVar(k, vals[k]))
	}
	for _, k := range relatedVars {
		if v, ok := vals[k]; ok {
			ei.Related = append(ei.Related, envVar(k, v))
		}
	}
	return ei
}

func envVar(name, value string) EnvVar {
	if secretName(name) {
		return EnvVar{Name: name, Value: maskedValue, Masked: true}
	}
	return EnvVar{Name: name, Value: value}
}

// secretName: a report gets pasted into public issues, so anything named
// like a credential is hidden (PASS as well, for PASSWORD/PASSPHRASE).
func secretName(name string) bool {
	n := strings.ToUpper(name)
	for _, s := range []string{"KEY", "TOKEN", "SECRET", "PASS"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}
