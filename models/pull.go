package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"natter/engine/gguf"
)

// Errors a caller may want to tell apart (wrapped; use errors.Is).
var (
	ErrChecksum = errors.New("checksum mismatch")
	ErrNoSpace  = errors.New("not enough free disk space")
	ErrNotGGUF  = errors.New("downloaded file is not a valid GGUF model")
	ErrStalled  = errors.New("download stalled")
	// ErrTooLarge: the file is over MaxPullBytes, or the body runs past the
	// size the source announced.
	ErrTooLarge = errors.New("download too large")
	ErrNoAnswer = errors.New("server did not answer")
	// ErrRedirects: the server redirected more than maxRedirects times
	// (a loop, most likely); not retried, since it would loop again.
	ErrRedirects = errors.New("too many redirects")
)

// maxIdleAttempts is how many attempts in a row may time out without
// bringing a byte (no answer, or a body that never starts) before a pull
// gives up: a silent server costs two HeaderTimeouts, not one per retry.
const maxIdleAttempts = 2

// maxRedirects bounds the redirects one request follows (Hugging Face
// needs one, to its CDN).
const maxRedirects = 10

// HTTPError is a server's refusal (4xx/5xx).
type HTTPError struct {
	URL    string
	Status int
	Text   string
}

func (e *HTTPError) Error() string {
	hint := ""
	switch {
	case e.Status == http.StatusNotFound:
		hint = ": no such file on the server"
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		hint = ": access denied (a gated or private repository needs HF_TOKEN)"
	case e.Status >= 500:
		hint = ": the server failed; try again later"
	}
	return fmt.Sprintf("HTTP %d %s from %s%s", e.Status, e.Text, e.URL, hint)
}

func (e *HTTPError) retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// Phases of a pull, as reported in Progress.
const (
	PhaseConnecting  = "connecting"
	PhaseDownloading = "downloading"
	PhaseVerifying   = "verifying"
	PhaseDone        = "done"
)

// Progress is reported to PullOptions.Progress while a pull runs (from the
// pulling goroutine, at most every ~100 ms while downloading, and once at
// each phase change).
type Progress struct {
	File    string        // local file name
	Phase   string        // Phase*
	Done    int64         // bytes on disk so far (resumed bytes included)
	Total   int64         // -1 when the server does not say
	Resumed int64         // bytes that were already in the .part at the start
	Speed   float64       // bytes per second, recent average
	ETA     time.Duration // -1 when unknown
	Attempt int           // 1 for the first connection, more after retries
}

// Fraction is Done/Total, or -1 when Total is unknown.
func (p Progress) Fraction() float64 {
	if p.Total <= 0 {
		return -1
	}
	return float64(p.Done) / float64(p.Total)
}

// PullOptions configures Pull. The zero value pulls into ModelsDir() from
// Hugging Face (or $HF_ENDPOINT).
type PullOptions struct {
	Dir       string // destination folder; default ModelsDir()
	SHA256    string // expected sha256 (hex); overrides what the server says
	HFBaseURL string // default $HF_ENDPOINT, else DefaultHFBaseURL

	Client   *http.Client // its Transport is used; default http.DefaultTransport
	Progress func(Progress)
	// FreeSpace reports the bytes free in dir; default statfs. An error
	// skips the check (unknown).
	FreeSpace func(dir string) (uint64, error)
	// Warn receives advice that does not stop the pull (the file will not
	// fit in free memory).
	Warn func(string)
	// Validate checks the finished .part before it is renamed; default ValidateGGUF.
	Validate func(path string) error

	HeaderTimeout time.Duration // wait for response headers; default 30s
	StallTimeout  time.Duration // longest gap between body bytes; default 60s
	// A body that brings fewer than MinProgressBytes in any ProgressInterval
	// is cut (a trickle of one byte a minute never trips StallTimeout);
	// defaults 30s and 64 KiB, a floor of about 2 KB/s.
	ProgressInterval time.Duration
	MinProgressBytes int64
	Retries          int           // extra attempts after a dropped connection or 5xx; 0: 3, <0: none
	RetryDelay       time.Duration // first back-off, doubled each time; default 2s
}

// MaxPullBytes is the largest model file a pull accepts (1 TiB, far above
// any model natter can run); a body with no Content-Length is cut there.
const MaxPullBytes = 1 << 40

// PullResult describes a finished pull.
type PullResult struct {
	Path           string `json:"path"`
	URL            string `json:"url"`
	Size           int64  `json:"size_bytes"`
	SHA256         string `json:"sha256"` // of the file on disk
	Verified       bool   `json:"verified"`
	AlreadyPresent bool   `json:"already_present"` // nothing was downloaded
	Resumed        int64  `json:"resumed_bytes"`
	// Projector is the multimodal projector pulled beside the model (nil:
	// the repository has none); ProjectorError why it could not be.
	Projector      *PullResult `json:"projector,omitempty"`
	ProjectorError string      `json:"projector_error,omitempty"`
}

type puller struct {
	opts   PullOptions
	base   string
	client *http.Client
	t      *target
	dir    string
	dest   string
	part   string

	// linkedEtag is X-Linked-Etag as seen on a redirect (Hugging Face puts
	// the LFS sha256 there, on the 302 to its CDN).
	mu         sync.Mutex
	linkedEtag string
	linkedSize int64

	hash      hash.Hash
	hashed    int64 // bytes of .part fed to hash
	resumed   int64
	total     int64
	attempt   int
	warned    bool
	serverSHA string

	lastReport time.Time
	samples    []sample
}

type sample struct {
	t time.Time
	n int64
}

// Pull downloads spec (a catalog name, hf.co/OWNER/REPO[:QUANT],
// hf.co/OWNER/REPO/FILE.gguf or an http(s) URL) into the models folder.
//
// It writes NAME.part, resuming it with a Range request when one is left
// from an interrupted pull; verifies the sha256 (from opts.SHA256, else the
// server's X-Linked-Etag / Hugging Face LFS id / a sha256 ETag) and removes
// the .part on a mismatch; validates the file as GGUF; and only then renames
// it into place. A lock keeps two pulls of the same file apart. Cancelling
// ctx stops it and keeps the .part for a later resume.
func Pull(ctx context.Context, spec string, opts PullOptions) (*PullResult, error) {
	if Offline() {
		return nil, ErrOffline
	}
	p, err := newPuller(opts)
	if err != nil {
		return nil, err
	}
	// A catalog model already on disk elsewhere (HF cache, LM Studio, ...)
	// is used where it is, without any network use.
	if e, ok := CatalogLookup(spec); ok && opts.Dir == "" {
		for _, c := range listCandidates(DefaultSources()) {
			if filepath.Base(c.path) == e.File && isRegular(c.path) {
				fi, _ := os.Stat(c.path)
				return &PullResult{Path: c.path, Size: fi.Size(), AlreadyPresent: true}, nil
			}
		}
	}
	p.t, err = p.resolveTarget(ctx, spec)
	if err != nil {
		return nil, err
	}
	res, err := p.run(ctx)
	if err != nil || p.t.Projector == nil {
		return res, err
	}
	// The repository's projector (images, audio) comes along, verified the
	// same way. The model is usable without it, so only an interrupt is an
	// error; another failure is reported in the result.
	popts := opts
	popts.SHA256, popts.Validate = "", validateProjector
	pp, err := newPuller(popts)
	if err != nil {
		return nil, err
	}
	pp.t = p.t.Projector
	pr, err := pp.run(ctx)
	switch {
	case ctx.Err() != nil:
		return nil, err
	case err != nil:
		res.ProjectorError = err.Error()
		if opts.Warn != nil {
			opts.Warn("the model is in place, but its projector (for images and audio) was not pulled: " + err.Error())
		}
	default:
		res.Projector = pr
	}
	return res, nil
}

// validateProjector checks a downloaded mmproj file.
func validateProjector(path string) error {
	_, err := gguf.OpenProjector(path)
	return err
}

func newPuller(opts PullOptions) (*puller, error) {
	p := &puller{opts: opts}
	p.base = strings.TrimSuffix(opts.HFBaseURL, "/")
	if p.base == "" {
		p.base = strings.TrimSuffix(os.Getenv("HF_ENDPOINT"), "/")
	}
	if p.base == "" {
		p.base = DefaultHFBaseURL
	}
	if p.opts.HeaderTimeout <= 0 {
		p.opts.HeaderTimeout = 30 * time.Second
	}
	if p.opts.StallTimeout <= 0 {
		p.opts.StallTimeout = 60 * time.Second
	}
	if p.opts.ProgressInterval <= 0 {
		p.opts.ProgressInterval = 30 * time.Second
	}
	if p.opts.MinProgressBytes <= 0 {
		p.opts.MinProgressBytes = 64 << 10
	}
	switch {
	case p.opts.Retries == 0:
		p.opts.Retries = 3
	case p.opts.Retries < 0:
		p.opts.Retries = 0
	}
	if p.opts.RetryDelay <= 0 {
		p.opts.RetryDelay = 2 * time.Second
	}
	if p.opts.FreeSpace == nil {
		p.opts.FreeSpace = statfsFree
	}
	if p.opts.Validate == nil {
		p.opts.Validate = ValidateGGUF
	}
	if s := strings.ToLower(strings.TrimSpace(opts.SHA256)); s != "" {
		if !sha256Re.MatchString(s) {
			return nil, fmt.Errorf("--sha256 must be 64 hex digits, got %q", opts.SHA256)
		}
		p.opts.SHA256 = s
	}
	p.dir = opts.Dir
	if p.dir == "" {
		p.dir = ModelsDir()
		if p.dir == "" {
			return nil, errors.New("no models folder: set XDG_DATA_HOME or HOME, or pass -o DIR")
		}
	}

	var tr http.RoundTripper = http.DefaultTransport
	if opts.Client != nil && opts.Client.Transport != nil {
		tr = opts.Client.Transport
	}
	p.client = &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("%w: gave up after %d, the last to %s", ErrRedirects, maxRedirects, req.URL.Redacted())
			}
			if r := req.Response; r != nil {
				p.noteLinked(r.Header)
			}
			return nil
		},
	}
	return p, nil
}

func (p *puller) noteLinked(h http.Header) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := cleanEtag(h.Get("X-Linked-Etag")); e != "" {
		p.linkedEtag = e
	}
	if n, err := strconv.ParseInt(h.Get("X-Linked-Size"), 10, 64); err == nil && n > 0 {
		p.linkedSize = n
	}
}

// cleanEtag returns the lower-case sha256 an ETag holds, or "".
func cleanEtag(e string) string {
	e = strings.TrimPrefix(strings.TrimSpace(e), "W/")
	e = strings.ToLower(strings.Trim(e, `"`))
	if sha256Re.MatchString(e) {
		return e
	}
	return ""
}

func (p *puller) report(phase string, force bool) {
	if p.opts.Progress == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(p.lastReport) < 100*time.Millisecond {
		return
	}
	p.lastReport = now
	pr := Progress{File: p.t.FileName, Phase: phase, Done: p.hashed, Total: p.total,
		Resumed: p.resumed, ETA: -1, Attempt: p.attempt}
	if len(p.samples) >= 2 {
		a, b := p.samples[0], p.samples[len(p.samples)-1]
		if dt := b.t.Sub(a.t).Seconds(); dt > 0 {
			pr.Speed = float64(b.n-a.n) / dt
		}
	}
	if pr.Speed > 0 && p.total > 0 {
		pr.ETA = time.Duration(float64(p.total-p.hashed) / pr.Speed * float64(time.Second))
	}
	p.opts.Progress(pr)
}

// addSample keeps about five seconds of (time, bytes) for the speed.
func (p *puller) addSample(now time.Time) {
	p.samples = append(p.samples, sample{now, p.hashed})
	cut := 0
	for cut < len(p.samples)-2 && now.Sub(p.samples[cut].t) > 5*time.Second {
		cut++
	}
	p.samples = p.samples[cut:]
}

func (p *puller) run(ctx context.Context) (*PullResult, error) {
	p.dest = joinInside(p.dir, p.t.FileName)
	if p.dest == "" {
		return nil, fmt.Errorf("refusing unsafe file name %q", p.t.FileName)
	}
	p.part = p.dest + ".part"
	res := &PullResult{Path: p.dest, URL: p.t.URL}

	if fi, err := os.Stat(p.dest); err == nil && fi.Mode().IsRegular() {
		res.AlreadyPresent, res.Size = true, fi.Size()
		return res, nil
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating models folder: %w", err)
	}
	lock, err := acquireLock(p.dest + ".lock")
	if err != nil {
		return nil, err
	}
	defer lock.release()
	// Someone may have finished it while we waited for the lock.
	if fi, err := os.Stat(p.dest); err == nil && fi.Mode().IsRegular() {
		res.AlreadyPresent, res.Size = true, fi.Size()
		return res, nil
	}

	p.total = p.t.Size
	p.hash = sha256.New()
	delay := p.opts.RetryDelay
	idle := 0 // attempts in a row that timed out without a byte
	for p.attempt = 1; ; p.attempt++ {
		before := p.hashed
		err = p.download(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, p.interrupted(ctx)
		}
		if p.hashed == before && (errors.Is(err, ErrNoAnswer) || errors.Is(err, ErrStalled)) {
			idle++
		} else {
			idle = 0
		}
		if !isRetryable(err) || p.attempt > p.opts.Retries || idle >= maxIdleAttempts {
			if p.hashed > 0 {
				err = fmt.Errorf("%w (%s of it is kept in %s; run the same pull again to resume)",
					err, HumanBytes(uint64(p.hashed)), p.part)
			}
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, p.interrupted(ctx)
		case <-time.After(delay):
		}
		delay *= 2
	}
	res.Resumed = p.resumed

	p.report(PhaseVerifying, true)
	got := hex.EncodeToString(p.hash.Sum(nil))
	want := p.expectedSHA()
	if want != "" && got != want {
		os.Remove(p.part)
		return nil, fmt.Errorf("%w for %s: expected sha256 %s, got %s; the partial file was removed, so the next pull starts afresh",
			ErrChecksum, p.t.FileName, want, got)
	}
	if err := p.opts.Validate(p.part); err != nil {
		os.Remove(p.part)
		return nil, fmt.Errorf("%w: %s: %v (removed)", ErrNotGGUF, p.t.FileName, err)
	}
	if err := os.Rename(p.part, p.dest); err != nil {
		return nil, fmt.Errorf("moving the finished download into place: %w", err)
	}
	res.Size, res.SHA256, res.Verified = p.hashed, got, want != ""
	p.report(PhaseDone, true)
	return res, nil
}

func (p *puller) interrupted(ctx context.Context) error {
	msg := "download interrupted"
	if p.hashed > 0 {
		msg += fmt.Sprintf("; %s kept in %s: run the same pull again to resume", HumanBytes(uint64(p.hashed)), p.part)
	}
	return fmt.Errorf("%s: %w", msg, context.Cause(ctx))
}

// expectedSHA: the user's --sha256, else the repository listing's LFS id,
// else what the server sent (X-Linked-Etag on the redirect or response, or
// a sha256 ETag).
func (p *puller) expectedSHA() string {
	if p.opts.SHA256 != "" {
		return p.opts.SHA256
	}
	if p.t.SHA256 != "" {
		return p.t.SHA256
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.linkedEtag != "" {
		return p.linkedEtag
	}
	return p.serverSHA
}

// warnMemory tells the caller, once, when the file alone is larger than
// the memory free now (the full estimate needs the header, read after).
func (p *puller) warnMemory() {
	if p.warned || p.opts.Warn == nil {
		return
	}
	p.warned = true
	if avail, err := AvailableMemory(); err == nil && uint64(p.total)+runtimeOverhead > avail {
		p.opts.Warn(fmt.Sprintf("%s is %s but only %s of memory is free: it will not run well here; a smaller quantization or model would fit better",
			p.t.FileName, HumanBytes(uint64(p.total)), HumanBytes(avail)))
	}
}

// retryableError marks failures worth another attempt (a dropped or
// stalled connection, a 5xx).
type retryableError struct{ err error }

func (e retryableError) Error() string { return e.err.Error() }
func (e retryableError) Unwrap() error { return e.err }

func isRetryable(err error) bool {
	var r retryableError
	if errors.As(err, &r) {
		return true
	}
	var h *HTTPError
	return errors.As(err, &h) && h.retryable()
}

// doWithHeaderTimeout sends req and gives up when headers do not arrive in
// time. (http.Transport has such a timeout, but the transport may be the
// caller's.)
func (p *puller) doWithHeaderTimeout(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(p.opts.HeaderTimeout, func() {
		cancel(fmt.Errorf("%w within %s (%s)", ErrNoAnswer, p.opts.HeaderTimeout, req.URL.Host))
	})
	resp, err := p.client.Do(req.WithContext(ctx))
	timer.Stop()
	if err != nil {
		defer cancel(nil)
		if c := context.Cause(ctx); c != nil && req.Context().Err() == nil {
			return nil, retryableError{c}
		}
		if req.Context().Err() != nil {
			return nil, req.Context().Err()
		}
		if errors.Is(err, ErrRedirects) {
			return nil, err // *url.Error names the URL
		}
		return nil, retryableError{fmt.Errorf("connecting to %s: %w", req.URL.Host, err)}
	}
	// The body is read under the caller's own watchdog; cancel with it.
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel(nil)
	return err
}

// download makes one attempt: request from the end of the .part and append.
func (p *puller) download(ctx context.Context) error {
	off := int64(0)
	if fi, err := os.Stat(p.part); err == nil {
		off = fi.Size()
	}
	if p.attempt == 1 {
		p.resumed = off
	}
	if err := p.syncHash(off); err != nil {
		return err
	}
	if p.total > 0 && off == p.total {
		return nil // complete already: verify it
	}
	if p.total > 0 && off > p.total {
		if err := p.restart(); err != nil {
			return err
		}
		off = 0
	}

	p.report(PhaseConnecting, true)
	bodyCtx, cancelBody := context.WithCancelCause(ctx)
	defer cancelBody(nil)
	req, err := http.NewRequestWithContext(bodyCtx, http.MethodGet, p.t.URL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "natter")
	// Compression would make Range offsets meaningless.
	req.Header.Set("Accept-Encoding", "identity")
	if off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	p.authorize(req)
	resp, err := p.doWithHeaderTimeout(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	p.noteLinked(resp.Header)

	switch resp.StatusCode {
	case http.StatusOK:
		if off > 0 { // the server ignored Range: start over
			if err := p.restart(); err != nil {
				return err
			}
			off = 0
		}
		if resp.ContentLength >= 0 {
			p.total = resp.ContentLength
		}
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != off {
			// Not the bytes we asked for: drop the .part and try afresh.
			if err := p.restart(); err != nil {
				return err
			}
			return retryableError{fmt.Errorf("server answered a resume with an unexpected range %q", resp.Header.Get("Content-Range"))}
		}
		if total > 0 {
			p.total = total
		} else if resp.ContentLength >= 0 {
			p.total = off + resp.ContentLength
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// Either the .part is complete, or it is longer than the file now is.
		_, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if ok && total == off {
			p.total = total
			return nil
		}
		if err := p.restart(); err != nil {
			return err
		}
		return retryableError{errors.New("server refused to resume the partial file; starting over")}
	default:
		return &HTTPError{URL: p.t.URL, Status: resp.StatusCode, Text: http.StatusText(resp.StatusCode)}
	}
	if p.serverSHA == "" && !p.t.HF {
		p.serverSHA = cleanEtag(resp.Header.Get("ETag"))
	}
	if p.total <= 0 {
		p.mu.Lock()
		if p.linkedSize > 0 {
			p.total = p.linkedSize
		}
		p.mu.Unlock()
	}

	if p.total > MaxPullBytes {
		return fmt.Errorf("%w: the server announces %s, more than natter's limit of %s for one model file",
			ErrTooLarge, HumanBytes(uint64(p.total)), HumanBytes(MaxPullBytes))
	}
	if p.total > 0 {
		need := uint64(p.total - off)
		if free, err := p.opts.FreeSpace(p.dir); err == nil && free < need {
			return fmt.Errorf("%w in %s: %s needed, %s free", ErrNoSpace, p.dir,
				HumanBytes(need), HumanBytes(free))
		}
		p.warnMemory()
	}

	f, err := os.OpenFile(p.part, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("opening %s: %w", p.part, err)
	}
	if err := f.Truncate(off); err != nil {
		f.Close()
		return fmt.Errorf("preparing %s: %w", p.part, err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	copyErr := p.copyBody(bodyCtx, cancelBody, f, resp.Body)
	syncErr := f.Sync()
	closeErr := f.Close()
	if copyErr != nil {
		return copyErr
	}
	if syncErr != nil {
		return fmt.Errorf("writing %s: %w", p.part, syncErr)
	}
	if closeErr != nil {
		return fmt.Errorf("writing %s: %w", p.part, closeErr)
	}
	if p.total > 0 && p.hashed != p.total {
		return retryableError{fmt.Errorf("connection closed after %s of %s",
			HumanBytes(uint64(p.hashed)), HumanBytes(uint64(p.total)))}
	}
	if p.total <= 0 {
		p.total = p.hashed
	}
	return nil
}

// copyBody streams body into f and the hash, cancelling the request when
// no byte arrives for StallTimeout.
func (p *puller) copyBody(ctx context.Context, cancel context.CancelCauseFunc, f *os.File, body io.Reader) error {
	stall := p.opts.StallTimeout
	stalled := fmt.Errorf("%w: no data for %s", ErrStalled, stall)
	watchdog := time.AfterFunc(stall, func() { cancel(stalled) })
	defer watchdog.Stop()
	// The rate floor: every interval, the bytes since the last check must
	// reach the minimum.
	var got atomic.Int64
	every, least := p.opts.ProgressInterval, p.opts.MinProgressBytes
	tick := time.NewTicker(every)
	done := make(chan struct{})
	defer func() { tick.Stop(); close(done) }()
	go func() {
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if n := got.Swap(0); n < least {
					cancel(fmt.Errorf("%w: only %d bytes in %s (the minimum is %s per %s)",
						ErrStalled, n, every, HumanBytes(uint64(least)), every))
					return
				}
			}
		}
	}()

	p.samples = p.samples[:0]
	p.addSample(time.Now())
	p.report(PhaseDownloading, true)
	buf := make([]byte, 256<<10)
	for {
		n, rerr := body.Read(buf)
		// A body without Content-Length (chunked) may not run past the size
		// announced elsewhere (catalog, X-Linked-Size), nor MaxPullBytes.
		limit := int64(MaxPullBytes)
		if p.total > 0 {
			limit = p.total
		}
		if p.hashed+int64(n) > limit {
			return fmt.Errorf("%w: the server sent more than the %s announced; stopped", ErrTooLarge, HumanBytes(uint64(limit)))
		}
		if n > 0 {
			watchdog.Reset(stall)
			got.Add(int64(n))
			if _, err := f.Write(buf[:n]); err != nil {
				if errors.Is(err, syscall.ENOSPC) {
					return fmt.Errorf("%w: the disk filled up while writing %s: %v", ErrNoSpace, p.part, err)
				}
				return fmt.Errorf("writing %s: %w", p.part, err)
			}
			p.hash.Write(buf[:n])
			p.hashed += int64(n)
			now := time.Now()
			if now.Sub(p.samples[len(p.samples)-1].t) >= 200*time.Millisecond {
				p.addSample(now)
			}
			p.report(PhaseDownloading, false)
		}
		if rerr == io.EOF {
			p.addSample(time.Now())
			p.report(PhaseDownloading, true)
			return nil
		}
		if rerr != nil {
			if c := context.Cause(ctx); c != nil && errors.Is(c, ErrStalled) {
				return retryableError{c}
			}
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return retryableError{fmt.Errorf("connection lost: %w", rerr)}
		}
	}
}

// syncHash makes the running hash cover exactly the first off bytes of the
// .part, rereading it when they differ (a resume, or a retry).
func (p *puller) syncHash(off int64) error {
	if p.hashed == off {
		return nil
	}
	p.hash.Reset()
	p.hashed = 0
	if off == 0 {
		return nil
	}
	f, err := os.Open(p.part)
	if err != nil {
		return fmt.Errorf("reading %s to resume: %w", p.part, err)
	}
	defer f.Close()
	n, err := io.Copy(p.hash, io.LimitReader(f, off))
	p.hashed = n
	if err != nil {
		return fmt.Errorf("reading %s to resume: %w", p.part, err)
	}
	return nil
}

// restart empties the .part.
func (p *puller) restart() error {
	if err := os.Truncate(p.part, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("starting %s afresh: %w", p.part, err)
	}
	p.hash.Reset()
	p.hashed = 0
	return nil
}

// parseContentRange reads "bytes START-END/TOTAL" (TOTAL may be "*": -1)
// and "bytes */TOTAL" (from a 416: start -1).
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		n, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false
		}
		total = n
	}
	if rng == "*" {
		return -1, total, true
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, false
	}
	return start, total, true
}
