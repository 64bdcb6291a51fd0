package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// Exit codes of the CLI entry points.
const (
	ExitOK        = 0
	ExitFail      = 1
	ExitUsage     = 2
	ExitInterrupt = 130
)

// modelJSON is the stable --json shape of one local model.
type modelJSON struct {
	Name          string `json:"name"`
	Path          string `json:"path"`
	Source        string `json:"source"`
	Repo          string `json:"repo,omitempty"`
	Arch          string `json:"arch"`
	Params        uint64 `json:"params"`
	Quantization  string `json:"quantization"`
	SizeBytes     int64  `json:"size_bytes"`
	ContextLength uint64 `json:"context_length"`
	ChatTemplate  bool   `json:"chat_template"`
	RAMBytes      uint64 `json:"ram_bytes"`
	RAMContext    int    `json:"ram_context"`
	Fit           Fit    `json:"fit"`
	Default       bool   `json:"default"`
	Error         string `json:"error,omitempty"`
}

type catalogJSON struct {
	Name          string `json:"name"`
	Description   string `json:"description"`
	Repo          string `json:"repo"`
	File          string `json:"file"`
	Pull          string `json:"pull"` // the argument for natter pull
	Arch          string `json:"arch"`
	Params        uint64 `json:"params"`
	Quantization  string `json:"quantization"`
	SizeBytes     int64  `json:"size_bytes"` // approximate
	ContextLength uint64 `json:"context_length"`
	License       string `json:"license"`
	RAMBytes      uint64 `json:"ram_bytes"`
	RAMContext    int    `json:"ram_context"`
	Fit           Fit    `json:"fit"`
	Downloaded    string `json:"downloaded,omitempty"`
	Recommended   bool   `json:"recommended"`
	Verified      bool   `json:"verified"` // repo and file confirmed from a published listing
	Source        string `json:"source,omitempty"`
}

// ModelsOptions are the flags of `natter models`.
type ModelsOptions struct {
	JSON, Catalog, Paths bool
	Ctx                  int // context length for the memory estimate (0: 4096, capped by each model's)
}

// ModelsCmd implements `natter models` with parsed flags and returns the
// exit code.
func ModelsCmd(o ModelsOptions, stdout, stderr io.Writer) int {
	if o.Ctx < 0 {
		fmt.Fprintln(stderr, "natter models: --ctx must be positive")
		return ExitUsage
	}
	avail, memErr := AvailableMemory()
	if o.Catalog {
		return printCatalog(stdout, stderr, o.JSON, o.Ctx, avail, memErr)
	}
	return printModels(stdout, stderr, o.JSON, o.Ctx, o.Paths, avail, memErr)
}

func printModels(stdout, stderr io.Writer, asJSON bool, ctxLen int, paths bool, avail uint64, memErr error) int {
	srcs := DefaultSources()
	found := DiscoverIn(srcs)
	last, _ := LastUsed()
	rows := make([]modelJSON, 0, len(found))
	for _, m := range found {
		r := modelJSON{Name: m.Name, Path: m.Path, Source: m.Source, Repo: m.Repo, Arch: m.Arch,
			Params: m.Params, Quantization: m.Quantization, SizeBytes: m.FileSize,
			ContextLength: m.TrainCtx, ChatTemplate: m.HasTemplate, Error: m.Err,
			Default: last != "" && sameFile(last, m.Path)}
		if m.Err == "" {
			est := EstimateMemory(&m.Meta, m.ContextFor(ctxLen))
			r.RAMBytes, r.RAMContext, r.Fit = est.Total, est.Context, FitFor(est.Total, avail)
		}
		rows = append(rows, r)
	}
	if asJSON {
		out := struct {
			Models          []modelJSON `json:"models"`
			AvailableMemory uint64      `json:"available_memory_bytes"`
			Searched        []string    `json:"searched"`
		}{rows, avail, sourceDirs(srcs)}
		return writeJSON(stdout, stderr, out)
	}
	if len(rows) == 0 {
		fmt.Fprintln(stdout, "No GGUF models found. Looked in:")
		for _, d := range sourceDirs(srcs) {
			fmt.Fprintln(stdout, "  "+d)
		}
		fmt.Fprintln(stdout, "\nSee recommended models with `natter models --catalog`, then `natter pull NAME`")
		fmt.Fprintf(stdout, "(for this machine: natter pull %s).\n", RecommendHere())
		return ExitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	head := "  NAME\tARCH\tPARAMS\tQUANT\tSIZE\tCTX\tTEMPLATE\tRAM\tFIT\tSOURCE"
	if paths {
		head += "\tPATH"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rows {
		mark := " "
		if r.Default {
			mark = "*"
		}
		if r.Error != "" {
			line := fmt.Sprintf("%s %s\t-\t-\t-\t%s\t-\t-\t-\t-\t%s", mark, r.Name, HumanBytes(uint64(r.SizeBytes)), r.Source)
			if paths {
				line += "\t" + r.Path
			}
			fmt.Fprintln(tw, line+"\t(unreadable: "+r.Error+")")
			continue
		}
		tmpl := "no"
		if r.ChatTemplate {
			tmpl = "yes"
		}
		line := fmt.Sprintf("%s %s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s", mark, r.Name, orDash(r.Arch),
			HumanParams(r.Params), orDash(r.Quantization), HumanBytes(uint64(r.SizeBytes)),
			r.ContextLength, tmpl, HumanBytes(r.RAMBytes), r.Fit.Mark(), r.Source)
		if paths {
			line += "\t" + r.Path
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, ramNote(ctxLen, avail, memErr))
	if last != "" {
		fmt.Fprintln(stdout, "* the default (last used) model")
	}
	return ExitOK
}

func printCatalog(stdout, stderr io.Writer, asJSON bool, ctxLen int, avail uint64, memErr error) int {
	entries := CatalogWithFit(ctxLen)
	if asJSON {
		rows := make([]catalogJSON, 0, len(entries))
		for _, e := range entries {
			rows = append(rows, catalogJSON{Name: e.Name, Description: e.Description, Repo: e.Repo, File: e.File,
				Pull: e.Name, Arch: e.Arch, Params: e.Params, Quantization: e.Quant, SizeBytes: e.Size,
				ContextLength: e.Context, License: e.License, RAMBytes: e.Estimate.Total,
				RAMContext: e.Estimate.Context, Fit: e.Fit, Downloaded: e.Downloaded,
				Recommended: e.Recommended, Verified: e.Verified, Source: e.Source})
		}
		out := struct {
			Catalog         []catalogJSON `json:"catalog"`
			AvailableMemory uint64        `json:"available_memory_bytes"`
			TotalMemory     uint64        `json:"total_memory_bytes"`
		}{rows, avail, totalMemory()}
		return writeJSON(stdout, stderr, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIT\tNAME\tPARAMS\tQUANT\tSIZE\tRAM\tLICENSE\tDESCRIPTION")
	rec := ""
	for _, e := range entries {
		desc := e.Description
		if e.Downloaded != "" {
			desc += " [downloaded]"
		}
		if !e.Verified {
			desc += " [unverified]"
		}
		name := e.Name
		if e.Recommended {
			name += " *"
			rec = e.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t~%s\t%s\t%s\t%s\n", e.Fit.Mark(), name, HumanParams(e.Params),
			e.Quant, HumanBytes(uint64(e.Size)), HumanBytes(e.Estimate.Total), e.License, desc)
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, ramNote(ctxLen, avail, memErr))
	if rec != "" {
		fmt.Fprintf(stdout, "* recommended for this machine%s: natter pull %s\n", memoryFor(), rec)
	}
	for _, e := range entries {
		if !e.Verified {
			fmt.Fprintln(stdout, "[unverified]: the repository or file name could not be confirmed when the catalog was written; the pull may fail.")
			break
		}
	}
	fmt.Fprintln(stdout, "Download one with `natter pull NAME` (from Hugging Face; sizes are approximate).")
	return ExitOK
}

func ramNote(ctxLen int, avail uint64, memErr error) string {
	if ctxLen <= 0 {
		ctxLen = DefaultContext
	}
	s := fmt.Sprintf("RAM: estimated need at a %d-token context (or the model's own, if smaller). ", ctxLen)
	if memErr != nil || avail == 0 {
		return s + "Free memory unknown (FIT ?)."
	}
	return s + fmt.Sprintf("Free memory now: %s. FIT: ✓ fits, ~ tight, ✗ too big.", HumanBytes(avail))
}

// totalMemory is TotalMemory, 0 when unknown.
func totalMemory() uint64 {
	n, err := TotalMemory()
	if err != nil {
		return 0
	}
	return n
}

// memoryFor says what the recommendation went by, e.g. " (16.7 GB of
// memory)", or "" when that is unknown.
func memoryFor() string {
	if n := totalMemory(); n > 0 {
		return " (" + HumanBytes(n) + " of memory)"
	}
	return ""
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func sourceDirs(srcs []Source) []string {
	var out []string
	for _, s := range srcs {
		out = append(out, s.Dir+" ("+s.Kind+")")
	}
	return out
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, "natter:", err)
		return ExitFail
	}
	return ExitOK
}

// PullCmdOptions are the flags of `natter pull`.
type PullCmdOptions struct {
	Dir, SHA256 string // -o DIR (default ModelsDir()), --sha256 HEX
	Quiet       bool   // -q: no progress output
}

// PullCmd implements `natter pull NAME|hf.co/OWNER/REPO[:QUANT]|URL`.
// Cancelling ctx (Ctrl+C) keeps the .part and returns ExitInterrupt.
func PullCmd(ctx context.Context, name string, o PullCmdOptions, stdout, stderr io.Writer) int {
	return pullCmd(ctx, name, o, stdout, stderr, PullOptions{})
}

// pullCmd lets tests pass options (free-space function, timeouts).
func pullCmd(ctx context.Context, spec string, o PullCmdOptions, stdout, stderr io.Writer, opts PullOptions) int {
	dir, sum, quiet := &o.Dir, &o.SHA256, &o.Quiet
	if strings.TrimSpace(spec) == "" {
		fmt.Fprintln(stderr, "natter pull: want a model: a catalog NAME, hf.co/OWNER/REPO[:QUANT] or a URL")
		return ExitUsage
	}
	if Offline() {
		fmt.Fprintln(stderr, "natter pull:", ErrOffline)
		return ExitFail
	}
	if *dir != "" {
		opts.Dir = expandHome(*dir)
	}
	opts.SHA256 = *sum

	if e, ok := CatalogLookup(spec); ok {
		m := e.Meta()
		if w := CheckFit(&m, 0).Warning(); w != "" {
			fmt.Fprintln(stderr, "warning: "+w)
		}
	} else {
		opts.Warn = func(w string) { fmt.Fprintln(stderr, "warning: "+w) }
	}

	var pp *ProgressPrinter
	if !*quiet {
		pp = NewProgressPrinter(stdout, IsTerminal(stdout))
		opts.Progress = pp.Update
	}
	res, err := Pull(ctx, spec, opts)
	if pp != nil {
		pp.Finish()
	}
	if err != nil {
		fmt.Fprintln(stderr, "natter pull:", err)
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return ExitInterrupt
		}
		return ExitFail
	}
	name := strings.TrimSuffix(filepath.Base(res.Path), filepath.Ext(res.Path))
	switch {
	case res.AlreadyPresent:
		fmt.Fprintf(stdout, "%s is already on disk: %s\n", spec, res.Path)
	case res.Verified:
		fmt.Fprintf(stdout, "saved %s (%s, sha256 verified)\n", res.Path, HumanBytes(uint64(res.Size)))
	default:
		fmt.Fprintf(stdout, "saved %s (%s)\n", res.Path, HumanBytes(uint64(res.Size)))
		fmt.Fprintf(stderr, "warning: the server published no sha256 for this file, so it could not be verified (sha256 %s; pass --sha256 HEX to check it)\n", res.SHA256)
	}
	if pr := res.Projector; pr != nil {
		if pr.AlreadyPresent {
			fmt.Fprintf(stdout, "its projector (images, audio) is on disk: %s\n", pr.Path)
		} else {
			fmt.Fprintf(stdout, "saved its projector (images, audio) %s (%s)\n", pr.Path, HumanBytes(uint64(pr.Size)))
		}
	}
	if meta, err := ReadMeta(res.Path); err == nil {
		if w := CheckFit(meta, 0).Warning(); w != "" {
			fmt.Fprintln(stderr, "warning: "+w)
		}
	}
	if filepath.Dir(res.Path) != ModelsDir() {
		name = res.Path
	}
	fmt.Fprintf(stdout, "chat with it: natter -m %s\n", name)
	return ExitOK
}
