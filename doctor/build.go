package doctor

import (
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"golang.org/x/sys/cpu"

	"natter/engine"
	"natter/engine/ggmlamx"
)

// NatterInfo is the program and the machine it runs on.
type NatterInfo struct {
	Version       string `json:"version"`
	GoVersion     string `json:"go_version"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
	LogicalCPUs   int    `json:"logical_cpus"`
	PhysicalCores int    `json:"physical_cores"`
}

func collectNatter(version string) NatterInfo {
	return NatterInfo{
		Version:       version,
		GoVersion:     runtime.Version(),
		OS:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		LogicalCPUs:   runtime.NumCPU(),
		PhysicalCores: engine.PhysicalCores(),
	}
}

// BuildInfo is what llama.cpp was compiled with against what the CPU has.
type BuildInfo struct {
	SystemInfo string `json:"llama_system_info"`
	// CPUFeatures are the SIMD extensions this CPU (and OS) supports.
	CPUFeatures []string `json:"cpu_features"`
	// UnusedFeatures are CPU features llama.cpp's kernels could use but
	// this build was compiled without.
	UnusedFeatures []string `json:"unused_features"`
	SIMDWarning    string   `json:"simd_warning,omitempty"`
	// AMXKernels: ggml's AMX matrix kernels are compiled in and usable.
	AMXKernels bool      `json:"amx_kernels"`
	Backends   []Backend `json:"backends"`
}

// Backend is one value of --backend, described as `natter version` does.
type Backend struct {
	Name   string `json:"name"`
	Module string `json:"module,omitempty"`
	Detail string `json:"detail"`
}

// llamaCommit is the llama.cpp the ollama module vendors (its
// Makefile.sync); the module's build-info.cpp, which has it, is not linked.
// Keep in step with `natter version` when go.mod moves ollama.
const llamaCommit = "ec98e2002 (Dec 2025)"

const ollamaModule = "github.com/ollama/ollama"

func collectBuild() BuildInfo {
	info := engine.SystemInfo()
	b := BuildInfo{SystemInfo: info, AMXKernels: ggmlamx.Available()}
	compiled := compiledFeatures(info)
	for _, f := range cpuFeatures() {
		b.CPUFeatures = append(b.CPUFeatures, f.name)
		if f.llama != "" && compiled[f.llama] == "" {
			b.UnusedFeatures = append(b.UnusedFeatures, f.name)
		}
	}
	b.SIMDWarning = simdWarning(compiled)
	mod := moduleVersion(ollamaModule)
	var goArchs []string
	for a := range engine.GoArchitectures {
		goArchs = append(goArchs, a)
	}
	sort.Strings(goArchs)
	for _, name := range engine.Backends {
		be := Backend{Name: name}
		switch name {
		case engine.BackendLlama:
			be.Module, be.Detail = mod, "llama.cpp commit "+llamaCommit
		case engine.BackendGo:
			be.Module, be.Detail = mod, "Ollama's Go engine; runs "+strings.Join(goArchs, ", ")
		case engine.BackendAuto:
			be.Detail = "picks llama.cpp, or the Go engine for the architectures only it runs (--backend overrides)"
		}
		b.Backends = append(b.Backends, be)
	}
	return b
}

// cpuFeature is a CPU capability and the name llama.cpp's system info
// gives it when compiled in ("" when ggml has no kernel switch for it).
type cpuFeature struct {
	name, llama string
	has         bool
}

func cpuFeatures() []cpuFeature {
	var all []cpuFeature
	switch runtime.GOARCH {
	case "amd64", "386":
		x := cpu.X86
		all = []cpuFeature{
			{"SSE3", "SSE3", x.HasSSE3},
			{"SSSE3", "SSSE3", x.HasSSSE3},
			{"AVX", "AVX", x.HasAVX},
			{"AVX2", "AVX2", x.HasAVX2},
			{"FMA", "FMA", x.HasFMA},
			{"F16C", "F16C", x.HasF16C},
			{"AVX_VNNI", "AVX_VNNI", x.HasAVXVNNI},
			{"AVX512F", "AVX512", x.HasAVX512F},
			{"AVX512BW", "", x.HasAVX512BW},
			{"AVX512VNNI", "AVX512_VNNI", x.HasAVX512VNNI},
			{"AVX512BF16", "AVX512_BF16", x.HasAVX512BF16},
			{"AMX_TILE", "", x.HasAMXTile},
			{"AMX_INT8", "AMX_INT8", x.HasAMXInt8},
			{"AMX_BF16", "", x.HasAMXBF16},
		}
	case "arm64":
		a := cpu.ARM64
		all = []cpuFeature{
			{"ASIMD", "NEON", a.HasASIMD},
			{"ASIMDHP", "FP16_VA", a.HasASIMDHP},
			{"DOTPROD", "DOTPROD", a.HasASIMDDP},
			{"I8MM", "MATMUL_INT8", a.HasI8MM},
			{"SVE", "SVE", a.HasSVE},
			{"SVE2", "", a.HasSVE2},
		}
	}
	var out []cpuFeature
	for _, f := range all {
		if f.has {
			out = append(out, f)
		}
	}
	return out
}

// compiledFeatures parses llama.cpp's "CPU : SSE3 = 1 | AVX = 1 | ..."
// into name -> value. Parsing (not substring search) matters: "SSE3 = 1"
// is inside "SSSE3 = 1".
func compiledFeatures(info string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(info, "|") {
		// The backend's name prefixes its first feature: "CPU : SSE3 = 1".
		if _, rest, ok := strings.Cut(part, " : "); ok {
			part = rest
		}
		k, v, ok := strings.Cut(part, "=")
		if k, v = strings.TrimSpace(k), strings.TrimSpace(v); ok && k != "" {
			out[k] = v
		}
	}
	return out
}

// simdWarning is `natter version`'s check (cli.simdWarning): the CPU
// has the extension the matrix kernels are written for, the build lacks
// it because it was not compiled with -march=native. arm64's DOTPROD is
// the same case there.
func simdWarning(compiled map[string]string) string {
	const rebuild = "\n         Rebuild with `make build` (it sets -march=native), not PORTABLE=1."
	switch {
	case cpu.X86.HasAVX2 && compiled["AVX2"] != "1":
		return "warning: this CPU supports AVX2 but natter was built without it, so prompts process several times slower." + rebuild
	case runtime.GOARCH == "arm64" && cpu.ARM64.HasASIMDDP && compiled["DOTPROD"] != "1":
		return "warning: this CPU supports DOTPROD but natter was built without it, so prompts process several times slower." + rebuild
	}
	return ""
}

// moduleVersion is "path version" of a module linked into natter.
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Path + " " + d.Version
			}
		}
	}
	return path
}
