package goengine

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/ollama/ollama/fs"
	"github.com/ollama/ollama/kvcache"
	"github.com/ollama/ollama/ml"
	"github.com/ollama/ollama/model"

	"natter/engine/gguf"
)

// GGUF files on Hugging Face are written by upstream llama.cpp's
// converter; Ollama's model code reads its own converter's layout. The two
// differ in metadata (keys, defaults, block_count with MTP layers) and in
// tensors (optionally fused Q/K/V and gate/up experts). natter maps one to
// the other at load time, never touching the file: a layoutBackend wraps
// Ollama's ggml backend and answers the model's Config() and Get(name)
// calls in Ollama's terms from the upstream file.

// layoutBackend is an ml.Backend whose metadata and tensor names follow
// what Ollama's model code expects.
type layoutBackend struct {
	ml.Backend
	cfg   *layoutConfig       // nil: the file's metadata as Ollama reads it
	views map[string]viewSpec // Ollama name → part of a fused file tensor
	made  map[string]ml.Tensor
	ctx   ml.Context // owns the view tensors; freed by Close

	// reads is every file tensor upstream reads; Ollama asking for any
	// other name gets nil, as if the file lacked it. nil: no filter.
	reads map[string]bool

	scaled     map[string]scaledWeight // weights to hand over scaled (layout_scale.go)
	path       string
	dataOffset int64

	// proj is the projector's backend (vision.go), which holds the
	// tensors the vision encoder reads; nil without one.
	proj      ml.Backend
	projPlan  *projectorPlan
	projCache string         // where a loadable copy of the projector goes ("" = the user cache)
	projCopy  *ProjectorCopy // the copy opened instead of the file, if any
}

// prepare builds what Get hands out besides the file's own tensors: the
// scaled weights, in a context of their own that Close frees.
func (b *layoutBackend) prepare() error {
	if len(b.views)+len(b.scaled) == 0 {
		return nil
	}
	b.ctx = b.Backend.NewContextSize(len(b.views) + len(b.scaled) + 1)
	for name, sw := range b.scaled {
		t, err := b.scaledTensor(sw)
		if err != nil {
			return err
		}
		b.made[name] = t
	}
	return nil
}

// viewSpec is a row range of a fused weight: rows [row, row+rows) of ne[1]
// of the file tensor src (for each expert, when it is 3-D).
type viewSpec struct {
	src       string
	row, rows int
}

func (b *layoutBackend) Config() fs.Config {
	if b.cfg == nil {
		return b.Backend.Config()
	}
	return b.cfg
}

func (b *layoutBackend) Get(name string) ml.Tensor {
	if t, ok := b.made[name]; ok {
		return t
	}
	if v, ok := b.views[name]; ok {
		src, ok := b.made[v.src] // a scaled fused weight
		if !ok {
			src = b.Backend.Get(v.src)
		}
		if src == nil {
			return nil
		}
		nb1 := src.Stride(1)
		var t ml.Tensor
		if src.Dim(2) > 1 {
			t = src.View(b.ctx, v.row*nb1, src.Dim(0), nb1, v.rows, src.Stride(2), src.Dim(2))
		} else {
			t = src.View(b.ctx, v.row*nb1, src.Dim(0), nb1, v.rows)
		}
		b.made[name] = t
		return t
	}
	if projectorTensor(name) {
		if b.proj == nil {
			return nil // the model file's own vision weights are not read
		}
		return b.proj.Get(name)
	}
	if b.reads != nil && !b.reads[name] {
		return nil
	}
	return b.Backend.Get(name)
}

// CacheConfig forwards the optional interface kvcache looks for.
func (b *layoutBackend) CacheConfig() ml.CacheConfig {
	if cc, ok := b.Backend.(ml.BackendCacheConfig); ok {
		return cc.CacheConfig()
	}
	return ml.CacheConfig{}
}

func (b *layoutBackend) Close() {
	if b.ctx != nil {
		b.ctx.Close()
		b.ctx = nil
	}
	if b.proj != nil {
		b.proj.Close()
		b.proj = nil
	}
	b.Backend.Close()
}

var _ ml.BackendCacheConfig = (*layoutBackend)(nil)

// The steps of model.New (github.com/ollama/ollama/model, v0.24.0), which
// has no hook between opening the backend and building the model: natter
// needs the model built against layoutBackend. modelForArch and
// populateFields are unexported, so they are linked by name; model.Base's
// fields are unexported, so baseMirror copies its layout (checked below
// and at init). Bumping the ollama module means re-reading model.New.

//go:linkname modelForArch github.com/ollama/ollama/model.modelForArch
func modelForArch(c fs.Config) (model.Model, error)

//go:linkname populateFields github.com/ollama/ollama/model.populateFields
func populateFields(base model.Base, v reflect.Value, tags ...model.Tag) reflect.Value

// baseMirror has model.Base's layout: {b ml.Backend; config{Cache kvcache.Cache}}.
type baseMirror struct {
	b     ml.Backend
	cache kvcache.Cache
}

func init() {
	bt := reflect.TypeFor[model.Base]()
	if bt.Size() != unsafe.Sizeof(baseMirror{}) || bt.NumField() != 2 ||
		bt.Field(0).Type != reflect.TypeFor[ml.Backend]() ||
		bt.Field(1).Type.NumField() != 1 || bt.Field(1).Type.Field(0).Type != reflect.TypeFor[kvcache.Cache]() {
		panic("goengine: model.Base changed layout; re-check layout.go against the ollama module")
	}
}

// newModel is model.New with the backend wrapped for the file's layout.
func newModel(path, projector, projCache string, f *gguf.File, params ml.BackendParams) (model.Model, error) {
	lb, err := planLayout(f)
	if err != nil {
		return nil, err
	}
	if projector != "" {
		if lb.cfg == nil {
			return nil, fmt.Errorf("%s: the Go engine reads projectors only for gemma4 models, not %s", projector, f.Arch())
		}
		if err := planProjector(f, lb, projector); err != nil {
			return nil, projectorError{err}
		}
	}
	inner, err := ml.NewBackend(path, params)
	if err != nil {
		return nil, err
	}
	lb.Backend = inner
	lb.projCache = projCache
	if err := lb.openProjector(params); err != nil {
		lb.Close()
		return nil, projectorError{err}
	}
	if err := lb.prepare(); err != nil {
		lb.Close()
		return nil, err
	}
	// Free the backend if Ollama's constructors panic (Load turns the
	// panic into an error).
	defer func() {
		if r := recover(); r != nil {
			lb.Close()
			panic(r)
		}
	}()
	m, err := modelForArch(lb.Config())
	if err != nil {
		lb.Close()
		if err == model.ErrUnsupportedModel {
			return nil, fmt.Errorf("the Go engine does not support architecture %q", f.Arch())
		}
		return nil, err
	}
	var base model.Base
	*(*baseMirror)(unsafe.Pointer(&base)) = baseMirror{b: lb, cache: m.Config().Cache}
	v := reflect.ValueOf(m)
	v.Elem().Set(populateFields(base, v.Elem()))
	if val, ok := m.(model.Validator); ok {
		if err := val.Validate(); err != nil {
			lb.Close()
			return nil, err
		}
	}
	return m, nil
}

// planLayout checks the file against its architecture's upstream layout
// and prepares the mapping. Architectures without a known mapping load
// as Ollama's model.New would load them.
func planLayout(f *gguf.File) (*layoutBackend, error) {
	lb := &layoutBackend{
		views: map[string]viewSpec{},
		made:  map[string]ml.Tensor{},

		scaled:     map[string]scaledWeight{},
		path:       f.Path,
		dataOffset: f.DataOffset,
	}
	if len(f.Tensors) == 0 {
		return nil, newChecker(f).fail("the file has no tensors (a vocabulary-only file?)")
	}
	var err error
	switch f.Arch() {
	case "qwen35", "qwen35moe":
		lb.cfg = newLayoutConfig(f)
		err = planQwen35(f, lb)
	case "gemma4":
		lb.cfg = newLayoutConfig(f)
		err = planGemma4(f, lb)
	}
	if err != nil {
		return nil, err
	}
	return lb, nil
}
