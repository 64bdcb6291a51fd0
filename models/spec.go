package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
)

// DefaultHFBaseURL is Hugging Face; HF_ENDPOINT (as huggingface_hub reads
// it) or PullOptions.HFBaseURL point elsewhere (a mirror, or a test server).
const DefaultHFBaseURL = "https://huggingface.co"

// DefaultQuant is picked from a repository when hf.co/OWNER/REPO names no quantization.
const DefaultQuant = "Q4_K_M"

// target is a resolved pull: one URL and the local file name it becomes.
type target struct {
	URL      string
	FileName string
	SHA256   string // expected, lower-case hex; "" when not known yet
	Size     int64  // expected, -1 when unknown
	HF       bool   // served by Hugging Face (X-Linked-Etag is the LFS sha256)
	Label    string // what to call it in messages
	// Projector is the repository's multimodal projector, pulled beside
	// the model (nil: none).
	Projector *target
}

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// hfRepoRe matches OWNER/REPO as Hugging Face allows them.
var hfRepoRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)

// resolveTarget turns a pull argument into a target. It may ask the Hugging
// Face API for a repository's file list (for hf.co/OWNER/REPO[:QUANT]).
func (p *puller) resolveTarget(ctx context.Context, spec string) (*target, error) {
	spec = strings.TrimSpace(spec)
	if e, ok := CatalogLookup(spec); ok {
		return &target{
			URL:      p.base + e.URLPath(),
			FileName: e.File,
			Size:     -1,
			HF:       true,
			Label:    e.Name,
		}, nil
	}

	rest, isHF := cutHFPrefix(spec)
	if isHF {
		return p.resolveHF(ctx, rest)
	}

	if strings.HasPrefix(spec, "http://") || strings.HasPrefix(spec, "https://") {
		u, err := url.Parse(spec)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("invalid URL %q", spec)
		}
		name, err := url.PathUnescape(path.Base(u.EscapedPath()))
		if err != nil {
			return nil, fmt.Errorf("invalid URL path %q: %w", u.Path, err)
		}
		if name == "/" || name == "." {
			name = ""
		}
		if _, err := safeFileName(name); err != nil {
			return nil, fmt.Errorf("cannot take a file name from %s: %w", spec, err)
		}
		if !strings.EqualFold(path.Ext(name), ".gguf") {
			name += ".gguf"
		}
		base, _ := url.Parse(p.base)
		hf := base != nil && u.Host == base.Host && strings.Contains(u.Path, "/resolve/")
		return &target{URL: spec, FileName: name, Size: -1, HF: hf, Label: name}, nil
	}
	return nil, fmt.Errorf("unknown model %q: give a catalog name (see `natter models --catalog`), hf.co/OWNER/REPO[:QUANT] or an http(s) URL", spec)
}

// cutHFPrefix recognises hf.co/..., huggingface.co/... (with or without
// https://) and returns what follows the host.
func cutHFPrefix(s string) (string, bool) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	for _, h := range []string{"hf.co/", "huggingface.co/", "www.huggingface.co/"} {
		if strings.HasPrefix(t, h) {
			return t[len(h):], true
		}
	}
	return "", false
}

// resolveHF handles OWNER/REPO[:QUANT], OWNER/REPO/FILE.gguf and
// OWNER/REPO/resolve/REV/FILE.gguf.
func (p *puller) resolveHF(ctx context.Context, rest string) (*target, error) {
	rest = strings.TrimSuffix(rest, "/")
	parts := strings.Split(rest, "/")
	if len(parts) < 2 {
		return nil, fmt.Errorf("expected hf.co/OWNER/REPO[:QUANT], got %q", rest)
	}
	repo := parts[0] + "/" + parts[1]
	quant := ""
	if r, q, ok := strings.Cut(parts[1], ":"); ok && len(parts) == 2 {
		repo, quant = parts[0]+"/"+r, q
	}
	if !hfRepoRe.MatchString(repo) {
		return nil, fmt.Errorf("invalid Hugging Face repository %q", repo)
	}

	files, err := p.hfListFiles(ctx, repo)
	if len(parts) > 2 {
		file := strings.Join(parts[2:], "/")
		if (parts[2] == "resolve" || parts[2] == "blob") && len(parts) > 4 {
			file = strings.Join(parts[4:], "/")
		}
		t := p.hfTarget(repo, file)
		if t == nil {
			return nil, fmt.Errorf("cannot take a file name from %q", file)
		}
		if err == nil {
			for _, f := range files {
				if f.Path == file {
					t.SHA256, t.Size = f.sha256(), f.Size
				}
			}
		}
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	return p.pickQuant(repo, quant, files)
}

func (p *puller) hfTarget(repo, file string) *target {
	name := path.Base(file)
	if _, err := safeFileName(name); err != nil {
		return nil
	}
	for _, seg := range strings.Split(file, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return nil
		}
	}
	esc := make([]string, 0, 4)
	for _, seg := range strings.Split(file, "/") {
		esc = append(esc, url.PathEscape(seg))
	}
	return &target{
		URL:      p.base + "/" + repo + "/resolve/main/" + strings.Join(esc, "/"),
		FileName: name,
		Size:     -1,
		HF:       true,
		Label:    repo + "/" + file,
	}
}

// hfFile is one entry of the Hugging Face tree API.
type hfFile struct {
	Type string `json:"type"`
	Path string `json:"path"`
	Size int64  `json:"size"`
	LFS  *struct {
		OID  string `json:"oid"` // sha256 of the content
		Size int64  `json:"size"`
	} `json:"lfs"`
}

func (f hfFile) sha256() string {
	if f.LFS != nil && sha256Re.MatchString(strings.ToLower(f.LFS.OID)) {
		return strings.ToLower(f.LFS.OID)
	}
	return ""
}

// hfListFiles asks GET /api/models/OWNER/REPO/tree/main?recursive=true.
func (p *puller) hfListFiles(ctx context.Context, repo string) ([]hfFile, error) {
	u := p.base + "/api/models/" + repo + "/tree/main?recursive=true"
	// The listing is small: bound the whole exchange, body included.
	ctx, cancel := context.WithTimeout(ctx, 2*p.opts.HeaderTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	p.authorize(req)
	resp, err := p.doWithHeaderTimeout(req)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", repo, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("listing %s: no such repository on Hugging Face (HTTP 404)", repo)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("listing %s: access denied (HTTP %d); the repository may be private or gated (set HF_TOKEN)", repo, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("listing %s: HTTP %s", repo, resp.Status)
	}
	var files []hfFile
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&files); err != nil {
		return nil, fmt.Errorf("listing %s: unreadable answer: %w", repo, err)
	}
	return files, nil
}

// pickQuant chooses the single-file GGUF of repo whose name carries quant.
func (p *puller) pickQuant(repo, quant string, files []hfFile) (*target, error) {
	if quant == "" {
		quant = DefaultQuant
	}
	var ggufs, match, shards []hfFile
	for _, f := range files {
		base := path.Base(f.Path)
		if f.Type != "file" && f.Type != "" || !strings.EqualFold(path.Ext(base), ".gguf") || strings.HasPrefix(strings.ToLower(base), "mmproj") {
			continue
		}
		ggufs = append(ggufs, f)
		if !hasQuantToken(f.Path, quant) {
			continue
		}
		if m := shardRe.FindStringSubmatch(base); m != nil {
			shards = append(shards, f)
			continue
		}
		match = append(match, f)
	}
	switch {
	case len(ggufs) == 0:
		return nil, fmt.Errorf("%s has no GGUF files", repo)
	case len(match) == 0 && len(shards) > 0:
		return nil, fmt.Errorf("%s:%s is split into %d files; natter pulls single-file models only", repo, quant, len(shards))
	case len(match) == 0:
		return nil, fmt.Errorf("%s has no %s file; it has: %s", repo, quant, strings.Join(quantsOf(ggufs), ", "))
	case len(match) > 1:
		var names []string
		for _, f := range match {
			names = append(names, f.Path)
		}
		return nil, fmt.Errorf("%s has several %s files (%s); name one: hf.co/%s/FILE", repo, quant, strings.Join(names, ", "), repo)
	}
	t := p.hfTarget(repo, match[0].Path)
	if t == nil {
		return nil, fmt.Errorf("%s: refusing unsafe file name %q", repo, match[0].Path)
	}
	t.SHA256, t.Size = match[0].sha256(), match[0].Size
	if match[0].LFS != nil && match[0].LFS.Size > 0 {
		t.Size = match[0].LFS.Size
	}
	t.Projector = p.pickProjector(repo, files, t.FileName)
	return t, nil
}

// pickProjector chooses the repository's mmproj file for a model saved as
// model (F16 first, as FindProjector prefers), or nil. It is saved as
// mmproj-MODEL, so FindProjector pairs the two in a shared folder.
func (p *puller) pickProjector(repo string, files []hfFile, model string) *target {
	var names []string
	byName := map[string]hfFile{}
	for _, f := range files {
		base := path.Base(f.Path)
		if (f.Type == "file" || f.Type == "") && strings.EqualFold(path.Ext(base), ".gguf") && strings.HasPrefix(strings.ToLower(base), "mmproj") {
			names = append(names, f.Path)
			byName[f.Path] = f
		}
	}
	if len(names) == 0 {
		return nil
	}
	best := bestProjector(names)
	t := p.hfTarget(repo, best)
	if t == nil {
		return nil
	}
	f := byName[best]
	t.FileName = "mmproj-" + model
	t.SHA256, t.Size = f.sha256(), f.Size
	if f.LFS != nil && f.LFS.Size > 0 {
		t.Size = f.LFS.Size
	}
	return t
}

// hasQuantToken: quant appears in name as a whole token, so Q4_K does not
// pick Q4_K_M and Q8_0 does not pick Q8_0_L.
func hasQuantToken(name, quant string) bool {
	n, q := strings.ToUpper(path.Base(name)), strings.ToUpper(quant)
	if q == "" {
		return false
	}
	for i := 0; ; {
		j := strings.Index(n[i:], q)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || strings.ContainsRune("-._ ", rune(n[j-1]))
		after := n[j+len(q):]
		if before && (strings.HasPrefix(after, ".GGUF") || after != "" && strings.ContainsRune("-. ", rune(after[0]))) {
			return true
		}
		i = j + 1
	}
}

var quantNameRe = regexp.MustCompile(`(?i)(?:^|[-._])((?:I?Q\d+(?:_[A-Z0-9]+)*)|F16|BF16|F32)(?:[-.]|$)`)

// quantsOf lists the quantizations seen in file names, for an error message.
func quantsOf(files []hfFile) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		base := strings.TrimSuffix(path.Base(f.Path), path.Ext(f.Path))
		if m := quantNameRe.FindAllStringSubmatch(base, -1); m != nil {
			q := strings.ToUpper(m[len(m)-1][1])
			if !seen[q] {
				seen[q] = true
				out = append(out, q)
			}
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		out = []string{"(no recognisable quantization names)"}
	}
	return out
}

// authorize adds HF_TOKEN for requests to the Hugging Face base URL (Go drops
// it when a redirect leaves that host).
func (p *puller) authorize(req *http.Request) {
	tok := os.Getenv("HF_TOKEN")
	if tok == "" {
		return
	}
	if b, err := url.Parse(p.base); err == nil && b.Host == req.URL.Host {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
}

// ErrOffline is what Pull returns under NATTER_OFFLINE.
var ErrOffline = errors.New("NATTER_OFFLINE is set: natter will not use the network (unset it to download)")
