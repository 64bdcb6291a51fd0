package jinja

import (
	"sort"
	"strings"
	"unsafe"
)

// Span is a byte range [Start, End) of rendered output that holds the bytes
// of tracked string Src (an index into the track list given to
// RenderTracked), copied there by the template rather than written by it.
type Span struct{ Start, End, Src int }

// Provenance is followed by construction, not by searching the output: a
// tracked string keeps its identity (its bytes in memory) through variables,
// attribute access, slicing and the string methods that return substrings
// (strip, split, ...). Concatenation (+, ~), join, captured blocks and macro
// results are new strings; the renderer records which of their bytes came
// from tracked strings. Anything else (replace, tojson, format, ...) makes
// bytes that count as the template's own: callers that must not let such
// bytes act as control tokens check for them (see prompts.RenderProtected).

// maxDerived bounds the strings whose provenance is recorded, so a hostile
// template cannot grow the table without limit; past it provenance of new
// strings is lost, which callers detect.
const maxDerived = 1 << 16

// maxScan bounds the linear search for a substring of a recorded string.
const maxScan = 256

type origin struct {
	p   uintptr
	s   string // keeps the memory alive, so no other string can reuse it
	src int
}

type derived struct {
	s     string
	spans []Span // relative to s
}

type tracker struct {
	origins []origin // sorted by p
	derived map[uintptr]*derived
	scan    []uintptr // recorded strings in insertion order, for maxScan
	out     []Span    // spans of the current output buffer
}

func strPtr(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }

func newTracker(track []string) *tracker {
	t := &tracker{derived: map[uintptr]*derived{}}
	for i, s := range track {
		if s != "" {
			t.origins = append(t.origins, origin{p: strPtr(s), s: s, src: i})
		}
	}
	sort.Slice(t.origins, func(i, j int) bool { return t.origins[i].p < t.origins[j].p })
	return t
}

// spansOf is where tracked bytes lie in s (relative to s).
func (t *tracker) spansOf(s string) []Span {
	if t == nil || s == "" {
		return nil
	}
	p := strPtr(s)
	i := sort.Search(len(t.origins), func(i int) bool { return t.origins[i].p > p }) - 1
	if i >= 0 {
		if o := t.origins[i]; p < o.p+uintptr(len(o.s)) {
			return []Span{{0, len(s), o.src}}
		}
	}
	if d, ok := t.derived[p]; ok {
		return clipSpans(d.spans, 0, len(s))
	}
	if len(t.scan) <= maxScan {
		for _, dp := range t.scan {
			d := t.derived[dp]
			if p > dp && p < dp+uintptr(len(d.s)) {
				off := int(p - dp)
				return clipSpans(d.spans, off, len(s))
			}
		}
	}
	return nil
}

// clipSpans shifts spans by -off and keeps what lies in [0, n).
func clipSpans(spans []Span, off, n int) []Span {
	var out []Span
	for _, sp := range spans {
		a, b := max(sp.Start-off, 0), min(sp.End-off, n)
		if a < b {
			out = append(out, Span{a, b, sp.Src})
		}
	}
	return out
}

// record notes the tracked bytes of s, a new string made of parts.
func (t *tracker) record(s string, parts ...string) {
	if t == nil || s == "" {
		return
	}
	var spans []Span
	off := 0
	for _, part := range parts {
		for _, sp := range t.spansOf(part) {
			spans = appendSpan(spans, Span{sp.Start + off, sp.End + off, sp.Src})
		}
		off += len(part)
	}
	t.recordSpans(s, spans)
}

func (t *tracker) recordSpans(s string, spans []Span) {
	if len(spans) == 0 || len(t.derived) >= maxDerived {
		return
	}
	p := strPtr(s)
	if _, ok := t.derived[p]; !ok {
		t.scan = append(t.scan, p)
	}
	t.derived[p] = &derived{s: s, spans: spans}
}

// appendSpan adds sp, merging it with the last span when they touch.
func appendSpan(spans []Span, sp Span) []Span {
	if n := len(spans); n > 0 && spans[n-1].End == sp.Start && spans[n-1].Src == sp.Src {
		spans[n-1].End = sp.End
		return spans
	}
	return append(spans, sp)
}

// wrote notes that s was appended to the output at offset at.
func (t *tracker) wrote(s string, at int) {
	if t == nil {
		return
	}
	for _, sp := range t.spansOf(s) {
		t.out = appendSpan(t.out, Span{sp.Start + at, sp.End + at, sp.Src})
	}
}

// RenderTracked is Render that also reports where the bytes of the track
// strings (which must be the very strings passed in vars, e.g. message
// contents) landed in the output.
func (t *Template) RenderTracked(vars map[string]any, opts Options, track []string) (string, []Span, error) {
	tr := newTracker(track)
	out, err := t.render(vars, opts, tr)
	if err != nil {
		return "", nil, err
	}
	return out, tr.out, nil
}

// join is strings.Join that records provenance.
func (r *renderer) join(parts []string, sep string) string {
	s := strings.Join(parts, sep)
	if r.tr != nil && len(parts) > 1 {
		all := make([]string, 0, 2*len(parts))
		for i, p := range parts {
			if i > 0 {
				all = append(all, sep)
			}
			all = append(all, p)
		}
		r.tr.record(s, all...)
	}
	return s
}
