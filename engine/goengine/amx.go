package goengine

import (
	"reflect"
	"strings"
	"unsafe"

	"github.com/ollama/ollama/ml"
	"github.com/ollama/ollama/ml/nn"

	"natter/engine/ggmlamx"
)

// Ollama's backend loads every weight into the plain CPU buffer, so its
// products never reach ggml's AMX kernels, which upstream llama.cpp (and
// natter's llama.cpp path) use for most of a small model's generation
// time. After the load, the weights of the model's nn.Linear layers move
// into natter's AMX buffer type (ggmlamx): a Linear's weight is used only
// as the weight of a matrix product (nn.Linear.Forward), and that buffer
// type takes every such product. A weight the model also holds anywhere
// else (a tied output sharing token_embd, which get_rows reads) stays.

// moveLinearWeights moves what it can and returns the buffer to free after
// the model.
func moveLinearWeights(m any) *ggmlamx.Moved {
	if !ggmlamx.Available() {
		return &ggmlamx.Moved{}
	}
	linear, other := map[unsafe.Pointer]bool{}, map[unsafe.Pointer]bool{}
	walkTensors(reflect.ValueOf(m), map[uintptr]bool{}, linear, other)
	var ts []unsafe.Pointer
	for p := range linear {
		if !other[p] {
			ts = append(ts, p)
		}
	}
	return ggmlamx.Rehome(ts)
}

var (
	tensorType  = reflect.TypeFor[ml.Tensor]()
	backendType = reflect.TypeFor[ml.Backend]()
	linearType  = reflect.TypeFor[nn.Linear]()
)

// holdsValues: a slice, array or map of these kinds may hold tensors.
func holdsValues(t reflect.Type) bool {
	switch t.Elem().Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Struct, reflect.Slice, reflect.Array, reflect.Map:
		return true
	}
	return false
}

// walkTensors records the C tensor of every ml.Tensor reachable from v:
// in linear when it is an nn.Linear's Weight, else in other.
func walkTensors(v reflect.Value, seen map[uintptr]bool, linear, other map[unsafe.Pointer]bool) {
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		if v.Type() == backendType {
			return // the backend's own tables, not the model's layers
		}
		if v.Type() == tensorType {
			if p := cTensor(v.Elem()); p != nil {
				other[p] = true
			}
			return
		}
		walkTensors(v.Elem(), seen, linear, other)
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] || strings.HasPrefix(v.Type().Elem().Name(), "_Ctype_") {
			return
		}
		seen[v.Pointer()] = true
		if v.Type().Elem() == linearType {
			l := v.Elem()
			if w := l.FieldByName("Weight"); !w.IsNil() {
				if p := cTensor(w.Elem()); p != nil {
					linear[p] = true
				}
			}
			walkTensors(l.FieldByName("Bias"), seen, linear, other)
			return
		}
		walkTensors(v.Elem(), seen, linear, other)
	case reflect.Struct:
		for i := range v.NumField() {
			walkTensors(v.Field(i), seen, linear, other)
		}
	case reflect.Slice, reflect.Array:
		if holdsValues(v.Type()) {
			for i := range v.Len() {
				walkTensors(v.Index(i), seen, linear, other)
			}
		}
	case reflect.Map:
		if !holdsValues(v.Type()) {
			return
		}
		it := v.MapRange()
		for it.Next() {
			walkTensors(it.Value(), seen, linear, other)
		}
	}
}

// cTensor is the ggml_tensor behind one of the ggml backend's tensors (its
// unexported field t), or nil for anything else.
func cTensor(v reflect.Value) unsafe.Pointer {
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("t")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return nil
	}
	return unsafe.Pointer(f.Pointer())
}
