package engine

/*
#define _GNU_SOURCE // O_TMPFILE
#include <stdlib.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#ifndef _WIN32
#include <sys/statvfs.h>
#endif
#include "llama.h"

// natter_open_unnamed opens an unnamed file in dir: nothing of a half
// written model ever has a name, whatever happens to the process. errno is
// EOPNOTSUPP where the system or file system has no such files.
static int natter_open_unnamed(const char *dir) {
#ifdef O_TMPFILE
	return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
#else
	(void)dir;
	errno = EOPNOTSUPP;
	return -1;
#endif
}

// natter_link_fd gives the unnamed file behind /proc/self/fd/N a name.
static int natter_link_fd(const char *procpath, const char *path) {
#if defined(__linux__) && defined(AT_SYMLINK_FOLLOW)
	return linkat(AT_FDCWD, procpath, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
#else
	(void)procpath; (void)path;
	errno = EOPNOTSUPP;
	return -1;
#endif
}

// natter_free_bytes is the space an unprivileged user may still fill on
// dir's file system, or -1 when the system cannot tell.
static long long natter_free_bytes(const char *dir) {
#ifndef _WIN32
	struct statvfs st;
	if (statvfs(dir, &st) == 0) {
		return (long long)st.f_bavail * (long long)st.f_frsize;
	}
#else
	(void)dir;
#endif
	return -1;
}
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"natter/engine/gguf"
)

// QuantType is a target of Quantize: a llama_ftype, named as llama.cpp's
// quantize tool names it.
type QuantType struct {
	Name        string // e.g. "Q4_K_M"
	Description string // one line, for help and shell completion
	ftype       uint32 // llama_ftype
	base        gguf.GGMLType
}

// quantTypes are the llama_ftypes llama_model_quantize makes without an
// importance matrix, best quality first. base is the default type of
// llama-quant.cpp; the mixes (_M, _L) give some tensors (attn_v, ffn_down,
// output) more bits.
var quantTypes = []QuantType{
	{"F32", "32-bit float, lossless; the trainable base natter tune needs", 0, gguf.TypeF32},
	{"F16", "16-bit float, practically lossless at half of F32", 1, gguf.TypeF16},
	{"BF16", "bfloat16: F32's range at half its size", 32, gguf.TypeBF16},
	{"Q8_0", "8.5 bits per weight, nearly lossless", 7, gguf.TypeQ8_0},
	{"Q6_K", "6.6 bpw k-quant, very close to Q8_0", 18, gguf.TypeQ6_K},
	{"Q5_K_M", "5.5 bpw k-quant mix (some tensors Q6_K), very low loss", 17, gguf.TypeQ5_K},
	{"Q5_K_S", "5.5 bpw k-quant, very low loss", 16, gguf.TypeQ5_K},
	{"Q5_1", "6 bpw, legacy (Q5_K_M is better at the size)", 9, gguf.TypeQ5_1},
	{"Q5_0", "5.5 bpw, legacy (Q5_K_S is better at the size)", 8, gguf.TypeQ5_0},
	{"Q4_K_M", "4.5 bpw k-quant mix (some tensors Q6_K): the usual choice", 15, gguf.TypeQ4_K},
	{"Q4_K_S", "4.5 bpw k-quant, a little smaller than Q4_K_M", 14, gguf.TypeQ4_K},
	{"Q4_1", "5 bpw, legacy", 3, gguf.TypeQ4_1},
	{"Q4_0", "4.5 bpw, legacy; fast repacked CPU kernels", 2, gguf.TypeQ4_0},
	{"IQ4_NL", "4.5 bpw non-linear, in 32-weight blocks", 25, gguf.TypeIQ4_NL},
	{"IQ4_XS", "4.25 bpw non-linear", 30, gguf.TypeIQ4_XS},
	{"Q3_K_L", "3.4 bpw k-quant mix (many tensors Q5_K), noticeable loss", 13, gguf.TypeQ3_K},
	{"Q3_K_M", "3.4 bpw k-quant mix (some tensors Q4_K/Q5_K), noticeable loss", 12, gguf.TypeQ3_K},
	{"Q3_K_S", "3.4 bpw k-quant, clear loss", 11, gguf.TypeQ3_K},
	{"IQ3_M", "3.4 bpw non-linear mix, clear loss", 27, gguf.TypeIQ3_S},
	{"IQ3_S", "3.4 bpw non-linear, clear loss", 26, gguf.TypeIQ3_S},
	{"IQ3_XS", "3.3 bpw non-linear mix, clear loss", 22, gguf.TypeIQ3_S},
	{"Q2_K", "2.6 bpw k-quant mix (some tensors Q3_K/Q4_K), large loss", 10, gguf.TypeQ2_K},
	{"TQ2_0", "2.06 bpw ternary: only for models trained ternary (BitNet)", 37, gguf.TypeTQ2_0},
	{"TQ1_0", "1.69 bpw ternary: only for models trained ternary (BitNet)", 36, gguf.TypeTQ1_0},
	{"MXFP4_MOE", "MXFP4 (4.25 bpw) for mixture-of-experts tensors, Q8_0 elsewhere", 38, gguf.TypeMXFP4},
}

// imatrixTypes are llama_ftypes whose tensors llama.cpp refuses to quantize
// without an importance matrix (llama-quant.cpp bails out: "the result
// will be garbage"). IQ3_XXS is one of them because it puts attn_k in IQ2_S.
var imatrixTypes = []string{"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "Q2_K_S"}

// QuantTypes lists the types Quantize accepts, best quality first.
func QuantTypes() []QuantType { return append([]QuantType(nil), quantTypes...) }

// Errors of Quantize, for errors.Is.
var (
	ErrUnknownQuantType = errors.New("unknown quantization type")
	ErrNeedsImatrix     = errors.New("needs an importance matrix")
	ErrSameFile         = errors.New("input and output are the same file")
	ErrRequantize       = errors.New("already quantized")
	ErrNoSpace          = errors.New("not enough free space")
)

// ParseQuantType finds a type by name, in any case.
func ParseQuantType(name string) (QuantType, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	for _, q := range quantTypes {
		if q.Name == n {
			return q, nil
		}
	}
	for _, m := range imatrixTypes {
		if m == n {
			return QuantType{}, fmt.Errorf("%s %w (llama-imatrix's statistics of the model on sample text), which natter cannot make, and without one llama.cpp refuses it (the result would be garbage); for a small file use IQ3_XS, Q2_K or a larger type",
				n, ErrNeedsImatrix)
		}
	}
	names := make([]string, len(quantTypes))
	for i, q := range quantTypes {
		names[i] = q.Name
	}
	return QuantType{}, fmt.Errorf("%w %q: valid types are %s", ErrUnknownQuantType, name, strings.Join(names, ", "))
}

// QuantizeOptions configure Quantize.
type QuantizeOptions struct {
	Type string // a QuantTypes name, e.g. "Q4_K_M" (any case)
	// AllowRequantize lets an input whose weights are already quantized be
	// quantized again (or expanded to a float type).
	AllowRequantize bool
	// Pure gives every matrix the type itself: no mix, no Q6_K output.
	Pure    bool
	Threads int // 0 = physical cores
	// Progress is called on Quantize's goroutine as each tensor starts and
	// when it is written: done tensors of total are finished; tensor is the
	// one starting or just written.
	Progress func(done, total int, tensor string)
}

// QuantizeResult describes a finished Quantize.
type QuantizeResult struct {
	InBytes, OutBytes int64
	Type              string // the QuantType name
	Tensors           int
	// Fallbacks counts tensors whose rows do not divide into the type's
	// blocks, so llama.cpp gave them another type.
	Fallbacks int
	Elapsed   time.Duration
}

// quantSem lets one Quantize run at a time: its progress comes from
// llama.cpp's process-wide log callback, which one capture reads.
var quantSem = make(chan struct{}, 1)

// Quantize writes in, converted to o.Type, to out with llama.cpp's
// llama_model_quantize. Everything that can be checked is checked before
// llama.cpp starts: the input validates, out is another file in a writable
// folder with room for the result. The result is validated before it
// replaces out, so out is the old file or the whole new one, never part.
//
// llama.cpp cannot be stopped inside llama_model_quantize. When ctx ends,
// Quantize returns ctx.Err() at once if the output is an unnamed file
// (Linux): it vanishes when llama.cpp, still working in the background,
// closes it; the next Quantize waits for that. Elsewhere the output is a
// hidden temporary file, and Quantize waits for llama.cpp to finish, then
// removes it.
func Quantize(ctx context.Context, in, out string, o QuantizeOptions) (QuantizeResult, error) {
	start := time.Now()
	qt, err := ParseQuantType(o.Type)
	if err != nil {
		return QuantizeResult{}, err
	}
	if o.Threads < 0 {
		return QuantizeResult{}, errors.New("threads must not be negative")
	}
	if o.Threads == 0 {
		o.Threads = PhysicalCores()
	}
	f, err := Validate(in)
	if err != nil {
		return QuantizeResult{}, err
	}
	if GoArchitectures[f.Arch()] {
		return QuantizeResult{}, fmt.Errorf("%s: the llama.cpp built into natter (Dec 2025) does not know architecture %q, so it cannot quantize it (natter runs it on Ollama's Go engine, which has no quantizer)", in, f.Arch())
	}
	dir, err := checkOutput(in, out)
	if err != nil {
		return QuantizeResult{}, err
	}
	if err := checkRequantize(f, qt, o.AllowRequantize); err != nil {
		return QuantizeResult{}, err
	}
	if err := checkRows(f, qt, o.Pure); err != nil {
		return QuantizeResult{}, err
	}
	est := estimateBytes(f, qt, o.Pure)
	if free := freeSpace(dir); free >= 0 && free < est+est/10 {
		return QuantizeResult{}, fmt.Errorf("%w in %s for %s: the %s file needs about %s, and %s is free",
			ErrNoSpace, dir, filepath.Base(out), qt.Name, HumanBytes(est), HumanBytes(free))
	}
	select {
	case quantSem <- struct{}{}:
	case <-ctx.Done():
		return QuantizeResult{}, ctx.Err()
	}
	s, err := newScratch(dir, filepath.Base(out))
	if err != nil {
		<-quantSem
		return QuantizeResult{}, err
	}
	res, err := runQuantize(ctx, f, s, qt, o)
	if err != nil {
		return QuantizeResult{}, err
	}
	if err := s.commit(out); err != nil {
		return QuantizeResult{}, err
	}
	res.InBytes, res.Type, res.Elapsed = f.FileSize, qt.Name, time.Since(start)
	return res, nil
}

// runQuantize runs llama.cpp into s and checks what it wrote. It owns s
// and the semaphore: on success s is ready to commit, otherwise gone.
func runQuantize(ctx context.Context, f *gguf.File, s *scratch, qt QuantType, o QuantizeOptions) (QuantizeResult, error) {
	initBackend()
	c := &quantCapture{tensors: map[string]string{}, wake: make(chan struct{}, 1)}
	logMu.Lock()
	c.next, logOut = logOut, c
	logMu.Unlock()

	done := make(chan C.uint32_t, 1)
	go func() {
		cin, cout := C.CString(f.Path), C.CString(s.cpath)
		defer C.free(unsafe.Pointer(cin))
		defer C.free(unsafe.Pointer(cout))
		p := C.llama_model_quantize_default_params()
		p.ftype = C.enum_llama_ftype(qt.ftype)
		p.nthread = C.int32_t(o.Threads)
		p.allow_requantize = C.bool(o.AllowRequantize)
		p.pure = C.bool(o.Pure)
		rc := C.llama_model_quantize(cin, cout, &p)
		logMu.Lock()
		if logOut == io.Writer(c) { // else SetLogOutput replaced it meanwhile
			logOut = c.next
		}
		logMu.Unlock()
		done <- rc
	}()
	var rc C.uint32_t
wait:
	for {
		select {
		case <-c.wake:
			c.deliver(o.Progress)
		case rc = <-done:
			c.deliver(o.Progress)
			break wait
		case <-ctx.Done():
			if s.named {
				<-done
				s.discard()
				<-quantSem
				return QuantizeResult{}, ctx.Err()
			}
			// The unnamed file disappears when its last descriptor closes;
			// ours must stay open until llama.cpp is done with its path.
			go func() {
				<-done
				s.discard()
				<-quantSem
			}()
			return QuantizeResult{}, ctx.Err()
		}
	}
	defer func() { <-quantSem }()
	// llama.cpp is done and the capture removed (under logMu): its fields
	// are ours now.
	if rc != 0 {
		s.discard()
		why := c.failure
		if why == "" {
			why = logHint()
		}
		return QuantizeResult{}, fmt.Errorf("%s: llama.cpp could not quantize it to %s: %s", f.Path, qt.Name, why)
	}
	if ctx.Err() != nil {
		s.discard()
		return QuantizeResult{}, ctx.Err()
	}
	g, err := s.check(f, qt, c)
	if err != nil {
		s.discard()
		return QuantizeResult{}, err
	}
	return QuantizeResult{OutBytes: g.FileSize, Tensors: len(g.Tensors), Fallbacks: c.fallbacks}, nil
}

// checkOutput refuses an out that is in itself, missing its folder or a
// folder itself, and returns out's folder.
func checkOutput(in, out string) (string, error) {
	dir := filepath.Dir(out)
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%s: the output folder %s does not exist", out, dir)
		}
		return "", fmt.Errorf("%s: %w", out, err)
	} else if !st.IsDir() {
		return "", fmt.Errorf("%s: %s is not a folder", out, dir)
	}
	ost, err := os.Stat(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return dir, nil
	case err != nil:
		return "", fmt.Errorf("%s: %w", out, err)
	case ost.IsDir():
		return "", fmt.Errorf("%s is a folder; give the output file's name", out)
	}
	if ist, err := os.Stat(in); err == nil && os.SameFile(ist, ost) {
		return "", fmt.Errorf("%w: %s is %s; write the result to a new file", ErrSameFile, out, in)
	}
	return dir, nil
}

// isFloat: the types llama.cpp converts from without requantizing.
func isFloat(t gguf.GGMLType) bool {
	return t == gguf.TypeF32 || t == gguf.TypeF16 || t == gguf.TypeBF16 || t == gguf.TypeF64
}

// checkRequantize refuses an input with quantized matrices unless allowed:
// they already lost precision, and quantizing them again loses more.
func checkRequantize(f *gguf.File, qt QuantType, allow bool) error {
	if allow {
		return nil
	}
	from := ""
	for _, t := range f.Tensors {
		if len(t.Dims) >= 2 && !isFloat(t.Type) {
			if from = f.Quantization(); from == "" || from == "F32" || from == "F16" || from == "BF16" {
				from = t.Type.String() // general.file_type missing or wrong
			}
			break
		}
	}
	if from == "" || from == qt.Name {
		return nil // floats, or already this type: llama.cpp copies
	}
	if isFloat(qt.base) {
		return fmt.Errorf("%s is %w (%s): %s brings back none of the precision %s rounded away, so the file grows and its quality stays that of %s; allow requantizing to do it anyway (fine for a trainable base)",
			f.Path, ErrRequantize, from, qt.Name, from, from)
	}
	return fmt.Errorf("%s is %w (%s): quantizing it again to %s rounds weights that were rounded once already, which loses more quality than quantizing the F16 or F32 original to %s; start from the original, or allow requantizing",
		f.Path, ErrRequantize, from, qt.Name, qt.Name)
}

// converted reports whether llama.cpp changes t's type (llama-quant.cpp's
// main rules: 2-D and larger weights except norms and MoE routers).
func converted(t gguf.TensorInfo) bool {
	return len(t.Dims) >= 2 && strings.HasSuffix(t.Name, "weight") &&
		!strings.Contains(t.Name, "_norm.weight") && !strings.Contains(t.Name, "ffn_gate_inp.weight")
}

// checkRows refuses, before llama.cpp fails on it midway, a legacy type
// (Q4_0 … Q8_0, IQ4_NL) for a model with rows its 32-value blocks do not
// divide: llama.cpp falls back to another type only for the k-quants.
func checkRows(f *gguf.File, qt QuantType, pure bool) error {
	switch qt.base {
	case gguf.TypeQ4_0, gguf.TypeQ4_1, gguf.TypeQ5_0, gguf.TypeQ5_1, gguf.TypeQ8_0, gguf.TypeIQ4_NL:
	default:
		return nil
	}
	tied := true
	for _, t := range f.Tensors {
		tied = tied && t.Name != "output.weight"
	}
	for _, t := range f.Tensors {
		if !converted(t) || t.Dims[0]%qt.base.BlockSize() == 0 {
			continue
		}
		// The output layer gets Q6_K (not with --pure), which can fall back.
		if !pure && qt.base != gguf.TypeQ8_0 && (t.Name == "output.weight" || tied && t.Name == "token_embd.weight") {
			continue
		}
		return fmt.Errorf("%s: %s has rows of %d values, which %s's blocks of %d do not divide; llama.cpp cannot make that type of this model. A k-quant (Q6_K, Q5_K_M, Q4_K_M), which keeps such tensors in another type, works",
			filepath.Base(f.Path), t.Name, t.Dims[0], qt.Name, qt.base.BlockSize())
	}
	return nil
}

// estimateBytes is about the output's size: each converted tensor at its
// type's bits per weight (output.weight at Q6_K as llama.cpp does, rows
// that do not fit the blocks at F16), the rest as it is.
func estimateBytes(f *gguf.File, qt QuantType, pure bool) int64 {
	const align = 32
	n := f.DataOffset + 4096 // the input's header and the keys llama.cpp adds
	tied := true
	for _, t := range f.Tensors {
		tied = tied && t.Name != "output.weight"
	}
	for _, t := range f.Tensors {
		size := t.Size
		if converted(t) {
			typ := qt.base
			switch {
			case qt.Name == "MXFP4_MOE":
				typ = gguf.TypeQ8_0
				if len(t.Dims) >= 3 && t.Dims[2] > 1 {
					typ = gguf.TypeMXFP4
				}
			case pure || isFloat(typ):
			case t.Name == "output.weight" || tied && t.Name == "token_embd.weight":
				if typ != gguf.TypeQ8_0 {
					typ = gguf.TypeQ6_K
				}
			}
			if t.Dims[0]%typ.BlockSize() != 0 {
				typ = gguf.TypeF16
			}
			size = t.Elements() / typ.BlockSize() * typ.TypeSize()
		}
		n += int64((size + align - 1) / align * align)
	}
	return n
}

// freeSpace is freeBytes; tests replace it.
var freeSpace = freeBytes

// freeBytes is the space left for this user on dir's file system, or -1
// when the system cannot tell.
func freeBytes(dir string) int64 {
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	return int64(C.natter_free_bytes(cdir))
}

// HumanBytes is n in kB, MB or GB (powers of 1000, as file managers show).
func HumanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// scratch is the file llama.cpp writes, in out's folder so that the final
// rename stays on one file system.
type scratch struct {
	f     *os.File
	cpath string // the path llama.cpp opens
	named bool   // a hidden temporary file (no unnamed files here)
	dir   string
	base  string
}

// unnamedFiles: try an unnamed file first (tests turn it off to check
// the hidden temporary file that other systems get).
var unnamedFiles = true

func newScratch(dir, base string) (*scratch, error) {
	fd, err := C.int(-1), error(syscall.EOPNOTSUPP)
	if unnamedFiles {
		cdir := C.CString(dir)
		fd, err = C.natter_open_unnamed(cdir)
		C.free(unsafe.Pointer(cdir))
	}
	if fd >= 0 {
		// llama.cpp opens the file by this path (its ofstream truncates it,
		// which is the same empty file); without /proc there is none.
		p := "/proc/self/fd/" + strconv.Itoa(int(fd))
		f := os.NewFile(uintptr(fd), p)
		if pst, err := os.Stat(p); err == nil {
			if fst, err := f.Stat(); err == nil && os.SameFile(pst, fst) {
				return &scratch{f: f, cpath: p, dir: dir, base: base}, nil
			}
		}
		f.Close()
	} else if !unsupported(err) {
		return nil, writeError(dir, err)
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return nil, writeError(dir, err)
	}
	return &scratch{f: f, cpath: f.Name(), named: true, dir: dir, base: base}, nil
}

// unsupported: the file system or kernel has no O_TMPFILE.
func unsupported(err error) bool {
	return errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.EINVAL)
}

func writeError(dir string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("cannot write in %s: %w", dir, err)
}

// check validates what llama.cpp wrote: natter's GGUF validator, every
// tensor of the input with its shape, the file type, and each tensor's
// type as llama.cpp logged it.
func (s *scratch) check(in *gguf.File, qt QuantType, c *quantCapture) (*gguf.File, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("llama.cpp's %s output of %s is wrong: %s", qt.Name, in.Path, fmt.Sprintf(format, a...))
	}
	g, err := gguf.Open(s.cpath)
	if err != nil {
		var ge *gguf.Error
		if errors.As(err, &ge) {
			return nil, bad("%s (was the disk full?)", ge.Msg)
		}
		return nil, bad("%v", err)
	}
	if len(g.Tensors) != len(in.Tensors) {
		return nil, bad("%d tensors, the input has %d", len(g.Tensors), len(in.Tensors))
	}
	shapes := make(map[string][]uint64, len(in.Tensors))
	for _, t := range in.Tensors {
		shapes[t.Name] = t.Dims
	}
	for _, t := range g.Tensors {
		dims, ok := shapes[t.Name]
		if !ok {
			return nil, bad("tensor %s is not in the input", t.Name)
		}
		if !slices.Equal(dims, t.Dims) {
			return nil, bad("tensor %s has shape %v, in the input %v", t.Name, t.Dims, dims)
		}
		// All or nothing: a log format that changed reports no tensors.
		if want, ok := c.tensors[t.Name]; ok && len(c.tensors) == len(g.Tensors) && !strings.EqualFold(want, t.Type.String()) {
			return nil, bad("tensor %s is %s, llama.cpp made it %s", t.Name, t.Type, want)
		}
	}
	if ft, ok := g.Uint("general.file_type"); !ok || ft != uint64(qt.ftype) {
		return nil, bad("general.file_type is %d, not %d", ft, qt.ftype)
	}
	return g, nil
}

// commit gives the checked file the name out (replacing any file there).
func (s *scratch) commit(out string) error {
	defer s.f.Close()
	if err := s.f.Sync(); err != nil {
		s.discard()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if s.named {
		if err := os.Chmod(s.cpath, 0o644); err != nil {
			s.discard()
			return err
		}
		if err := os.Rename(s.cpath, out); err != nil {
			s.discard()
			return fmt.Errorf("writing %s: %w", out, err)
		}
		return nil
	}
	// linkat cannot replace a file: link to a fresh hidden name, then rename.
	cproc := C.CString(s.cpath)
	defer C.free(unsafe.Pointer(cproc))
	for range 100 {
		tmp := filepath.Join(s.dir, fmt.Sprintf(".%s.tmp%d", s.base, rand.Uint32()))
		ctmp := C.CString(tmp)
		rc, err := C.natter_link_fd(cproc, ctmp)
		C.free(unsafe.Pointer(ctmp))
		if rc != 0 {
			if errors.Is(err, syscall.EEXIST) {
				continue
			}
			return fmt.Errorf("writing %s: %w", out, err)
		}
		if err := os.Rename(tmp, out); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("writing %s: %w", out, err)
		}
		return nil
	}
	return fmt.Errorf("writing %s: no free temporary name in %s", out, s.dir)
}

// discard closes the file; a named one is removed.
func (s *scratch) discard() {
	s.f.Close()
	if s.named {
		os.Remove(s.cpath)
	}
}

// quantCapture stands in for the log output during Quantize: it passes
// every line on and reads llama.cpp's per-tensor lines, e.g.
//
//	[   3/  12]   blk.0.attn_k.weight - [  256,   128,     1,     1], type =    f32, converting to q8_0 .. size = ...
//
// which come in three log calls. The parse fields belong to the log
// callback (under logMu) until llama.cpp returns.
type quantCapture struct {
	next      io.Writer
	n, total  int    // the tensor in work: its number (from 1) and of how many
	cur       string // its name
	curType   string // its type so far: the input's, then the new one
	tensors   map[string]string
	failure   string // llama.cpp's reason for giving up
	fallbacks int

	// Events wait here for Quantize's goroutine, which calls Progress
	// without holding logMu (a callback may log, or take its time).
	evMu   sync.Mutex
	events []quantEvent
	wake   chan struct{} // capacity 1
}

type quantEvent struct {
	done, total int
	tensor      string
}

var (
	tensorStart = regexp.MustCompile(`^\[\s*(\d+)/\s*(\d+)\]\s+(\S+) - \[[^\]]*\], type =\s*(\S+),`)
	converting  = regexp.MustCompile(`^converting to (\S+) \.\.`)
)

func (c *quantCapture) Write(p []byte) (int, error) {
	c.parse(string(p))
	if c.next != nil {
		_, _ = c.next.Write(p) // a failing log file must not fail the quantize
	}
	return len(p), nil
}

func (c *quantCapture) parse(s string) {
	switch {
	case strings.HasPrefix(s, "["):
		if m := tensorStart.FindStringSubmatch(s); m != nil {
			c.n, _ = strconv.Atoi(m[1])
			c.total, _ = strconv.Atoi(m[2])
			c.cur, c.curType = m[3], m[4]
			c.push(quantEvent{c.n - 1, c.total, c.cur})
		}
	case strings.HasPrefix(s, "converting to "):
		if m := converting.FindStringSubmatch(s); m != nil {
			c.curType = m[1]
		}
	case strings.HasPrefix(s, "size = ") && c.cur != "":
		c.tensors[c.cur] = c.curType
		c.push(quantEvent{c.n, c.total, c.cur})
		c.cur = ""
	case strings.Contains(s, "using fallback quantization"):
		c.fallbacks++
	}
	if _, why, ok := strings.Cut(s, "failed to quantize: "); ok {
		c.failure = strings.Join(strings.Fields(why), " ")
	}
}

func (c *quantCapture) push(e quantEvent) {
	c.evMu.Lock()
	c.events = append(c.events, e)
	c.evMu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// deliver calls fn with the events so far, in order.
func (c *quantCapture) deliver(fn func(done, total int, tensor string)) {
	c.evMu.Lock()
	evs := c.events
	c.events = nil
	c.evMu.Unlock()
	if fn == nil {
		return
	}
	for _, e := range evs {
		fn(e.done, e.total, e.tensor)
	}
}
