package engine

/*
#include <stdlib.h>
#include "llama.h"
*/
import "C"

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"natter/engine/api"
	"natter/engine/gguf"
)

// LoraOption is one --lora FILE[:SCALE].
type LoraOption struct {
	Path  string
	Scale float32
}

// MaxLoraScale bounds a scale: beyond it an adapter only makes noise.
const MaxLoraScale = 4

// ParseLora reads FILE[:SCALE] (scale 1 when absent). A colon that is not
// followed by a number belongs to the file name.
func ParseLora(s string) (LoraOption, error) {
	if s == "" {
		return LoraOption{}, errors.New("--lora: want FILE[:SCALE]")
	}
	o := LoraOption{Path: s, Scale: 1}
	if i := strings.LastIndexByte(s, ':'); i > 0 {
		if v, err := strconv.ParseFloat(s[i+1:], 32); err == nil {
			o.Path, o.Scale = s[:i], float32(v)
		}
	}
	if err := CheckLoraScale(o.Scale); err != nil {
		return LoraOption{}, fmt.Errorf("--lora %s: %w", s, err)
	}
	return o, nil
}

// CheckLoraScale refuses scales that are not finite numbers in ±MaxLoraScale.
func CheckLoraScale(v float32) error {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v < -MaxLoraScale || v > MaxLoraScale {
		return fmt.Errorf("scale %g: want a number from -%d to %d (0 turns the adapter off)", v, MaxLoraScale, MaxLoraScale)
	}
	return nil
}

// CheckLoras validates each adapter against the model file at modelPath
// with the pure-Go reader, so llama.cpp never sees a file that would abort
// it. It returns the adapters' descriptions (with their file hashes).
func CheckLoras(base *gguf.File, opts []LoraOption) ([]api.Adapter, error) {
	var out []api.Adapter
	for _, o := range opts {
		if err := CheckLoraScale(o.Scale); err != nil {
			return nil, fmt.Errorf("--lora %s: %w", o.Path, err)
		}
		ad, err := gguf.OpenAdapter(o.Path)
		if err != nil {
			return nil, fmt.Errorf("--lora for %s: %w", filepath.Base(base.Path), err)
		}
		if err := gguf.CheckAdapter(base, ad); err != nil {
			return nil, err
		}
		// llama.cpp keeps an aLoRA's invocation tokens but applies the
		// adapter to every token, which is not what it was trained for.
		if len(ad.AloraInvocationTokens()) > 0 {
			return nil, fmt.Errorf("--lora %s: an activated LoRA (aLoRA), which natter cannot apply only after its invocation tokens", o.Path)
		}
		sum, err := fileSHA256(o.Path)
		if err != nil {
			return nil, fmt.Errorf("--lora: %w", err)
		}
		out = append(out, api.Adapter{Path: o.Path, Name: filepath.Base(o.Path), SHA256: sum, Scale: o.Scale})
	}
	return out, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// loraAdapter wraps a llama_adapter_lora. llama.cpp frees adapters with
// their model, so Close must run before the model's.
type loraAdapter struct {
	c    *C.struct_llama_adapter_lora
	info api.Adapter
}

func loadLora(m *model, info api.Adapter) (*loraAdapter, error) {
	cpath := C.CString(info.Path)
	defer C.free(unsafe.Pointer(cpath))
	a := C.llama_adapter_lora_init(m.c, cpath)
	if a == nil {
		return nil, fmt.Errorf("%s: llama.cpp could not load the LoRA adapter (%s)", info.Path, logHint())
	}
	return &loraAdapter{c: a, info: info}, nil
}

func (a *loraAdapter) Close() error {
	if a == nil || a.c == nil {
		return nil
	}
	C.llama_adapter_lora_free(a.c)
	a.c = nil
	return nil
}

// apply sets the adapter's scale on the context; 0 removes it, so an
// adapter that is off costs nothing per token.
func (lc *llamaContext) applyLora(a *loraAdapter, scale float32) {
	if scale == 0 {
		C.llama_rm_adapter_lora(lc.c, a.c)
		return
	}
	C.llama_set_adapter_lora(lc.c, a.c, C.float(scale))
}

// loadLoras loads and applies the adapters CheckLoras passed; on failure
// the ones loaded so far are freed.
func (e *Engine) loadLoras(infos []api.Adapter) error {
	for _, info := range infos {
		a, err := loadLora(e.model, info)
		if err != nil {
			e.closeLoras()
			return err
		}
		e.loras = append(e.loras, a)
		e.lc.applyLora(a, info.Scale)
	}
	return nil
}

func (e *Engine) closeLoras() {
	for _, a := range e.loras {
		a.Close()
	}
	e.loras = nil
}

// Adapters lists the loaded LoRA adapters with their current scales.
func (e *Engine) Adapters() []api.Adapter {
	e.loraMu.Lock()
	defer e.loraMu.Unlock()
	out := make([]api.Adapter, len(e.loras))
	for i, a := range e.loras {
		out[i] = a.info
	}
	return out
}

// activeAdapters are those with a scale other than 0, for Stats.
func (e *Engine) activeAdapters() []api.Adapter {
	var out []api.Adapter
	for _, a := range e.Adapters() {
		if a.Scale != 0 {
			out = append(out, a)
		}
	}
	return out
}

// SetAdapterScale changes adapter i's scale between generations. The KV
// cache (and any checkpoints) were computed with the old weights, so they
// are dropped and the next prompt is read afresh.
func (e *Engine) SetAdapterScale(i int, scale float32) error {
	if err := CheckLoraScale(scale); err != nil {
		return err
	}
	var err error
	if derr := e.do(func() {
		if i < 0 || i >= len(e.loras) {
			err = fmt.Errorf("no LoRA adapter %d (%d loaded)", i+1, len(e.loras))
			return
		}
		a := e.loras[i]
		if a.info.Scale == scale {
			return
		}
		e.lc.applyLora(a, scale)
		e.loraMu.Lock()
		a.info.Scale = scale
		e.loraMu.Unlock()
		e.lc.clear()
		e.cached, e.gaps = e.cached[:0], nil
		e.ckpts = checkpoints{}
	}); derr != nil {
		return derr
	}
	return err
}

var _ api.AdapterScaler = (*Engine)(nil)
