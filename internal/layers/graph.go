package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Load runs `go list` over every package of the module in dir and returns
// its import graph, natter packages only (module is the module path).
//
// cgo is switched on for the listing: without it go list drops the files
// that import "C", and with them the imports only those files make.
func Load(dir, module string) (Graph, error) {
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports,Error,DepsErrors", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Graph{}, fmt.Errorf("go list in %s: %v: %s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return parseList(out, module)
}

// parseList reads the stream of JSON objects go list -json prints.
func parseList(data []byte, module string) (Graph, error) {
	g := Graph{Imports: map[string][]string{}, TestImports: map[string][]string{}}
	ours := func(imps []string) []string {
		var out []string
		for _, p := range imps {
			if Match(module+"/...", p) {
				out = append(out, p)
			}
		}
		return out
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var errs []error
	for {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
			Error                              *struct{ Err string }
			DepsErrors                         []struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return Graph{}, fmt.Errorf("reading go list output: %w", err)
		}
		if p.Error != nil {
			errs = append(errs, fmt.Errorf("%s: %s", p.ImportPath, p.Error.Err))
		}
		for _, e := range p.DepsErrors {
			errs = append(errs, fmt.Errorf("%s: %s", p.ImportPath, e.Err))
		}
		g.Imports[p.ImportPath] = ours(p.Imports)
		g.TestImports[p.ImportPath] = ours(append(p.TestImports, p.XTestImports...))
	}
	if len(g.Imports) == 0 {
		return Graph{}, errors.New("go list found no packages")
	}
	return g, errors.Join(errs...)
}
