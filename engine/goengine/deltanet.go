package goengine

import (
	"errors"
	"math"
	"reflect"
	"unsafe"

	"github.com/ollama/ollama/ml"
	"github.com/ollama/ollama/model/models/qwen3next"

	"natter/engine/ggmlops"
)

// Generation on qwen35 spends most of its non-matmul time in the Gated
// DeltaNet state update, which Ollama's code builds from about fifteen
// element-wise ggml ops over each layer's state (a MiB at Qwen3.5's
// sizes), each one a pass over memory and a thread barrier. Upstream
// llama.cpp has a fused operator for it; the module's ggml does not, but
// its RWKV-7 kernel computes the same generalised delta rule in one pass:
// with the state S (rows indexed by v, columns by k), Gated DeltaNet is
//
//	S' = g·S + β·v·kᵀ − β·g·(S·k)·kᵀ,  out = S'·q
//
// which is RWKV-7's S·diag(w) + v·k'ᵀ + (S·a)·bᵀ with w = g, k' = β·k,
// a = k and b = −β·g·k. fusedDeltaNet runs single-token steps that way and
// leaves prompts (several tokens) to Ollama's chunked code; the state in
// the cache keeps Ollama's layout, so the two interleave freely.

// deltaDims are the Gated DeltaNet sizes (Ollama keeps them unexported).
type deltaDims struct {
	headK, nK, nV, headV, conv int
	eps                        float32
	vHeadReordered             bool
}

// readDeltaDims reads them from the model's options, or fails when the
// fields are not where this code expects them (another Ollama version).
func readDeltaDims(opts *qwen3next.Options) (deltaDims, error) {
	if opts == nil {
		return deltaDims{}, errors.New("no options")
	}
	v := reflect.ValueOf(opts).Elem()
	num := func(name string) int {
		f := v.FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.Int {
			return -1
		}
		return int(f.Int())
	}
	eps, reord := v.FieldByName("eps"), v.FieldByName("vHeadReordered")
	if !eps.IsValid() || eps.Kind() != reflect.Float32 || !reord.IsValid() || reord.Kind() != reflect.Bool {
		return deltaDims{}, errors.New("unexpected options")
	}
	d := deltaDims{headK: num("ssmDState"), nK: num("ssmNGroup"), nV: num("ssmDtRank"), conv: num("convKernelSize"),
		eps: float32(eps.Float()), vHeadReordered: reord.Bool()}
	inner := num("ssmDInner")
	if d.headK <= 0 || d.nK <= 0 || d.nV <= 0 || d.conv <= 1 || inner <= 0 || inner%d.nV != 0 || d.nV%d.nK != 0 {
		return deltaDims{}, errors.New("unexpected sizes")
	}
	d.headV = inner / d.nV
	if d.headV != d.headK {
		return deltaDims{}, errors.New("key and value heads differ in size")
	}
	// The kernel's SIMD loops walk a head in steps of 64 floats (AVX-512;
	// 32 on AVX2) with no tail: Qwen3.5's heads are 128.
	if d.headK%64 != 0 {
		return deltaDims{}, errors.New("head size not a multiple of 64")
	}
	return d, nil
}

// installFusedDeltaNet puts fusedDeltaNet in front of each Gated DeltaNet
// layer of a qwen35/qwen35moe model and reports how many it took.
func installFusedDeltaNet(m any) int {
	qm, ok := m.(*qwen3next.Model)
	if !ok {
		return 0
	}
	d, err := readDeltaDims(qm.Options)
	if err != nil || qm.TokenEmbedding == nil || !ggmlReachable(qm.Backend(), qm.TokenEmbedding.Weight) {
		return 0
	}
	n := 0
	for i := range qm.Layers {
		if g, ok := qm.Layers[i].Operator.(*qwen3next.GatedDeltaNet); ok && g.SSMQKV != nil && g.SSMQKVGate != nil &&
			g.SSMBeta != nil && g.SSMAlpha != nil && g.SSMConv1D != nil && g.SSMNorm != nil && g.SSMOut != nil {
			qm.Layers[i].Operator = &fusedDeltaNet{GatedDeltaNet: g, d: d}
			n++
		}
	}
	return n
}

type fusedDeltaNet struct {
	*qwen3next.GatedDeltaNet
	d deltaDims
}

func (f *fusedDeltaNet) Forward(ctx ml.Context, h, positions ml.Tensor, cache *qwen3next.HybridCache, opts *qwen3next.Options) (ml.Tensor, error) {
	if h.Dim(1) != 1 || h.Dim(2) > 1 || cache == nil || (cache.IsSupportedForBatch() && cache.NumSeqs() != 1) {
		return f.GatedDeltaNet.Forward(ctx, h, positions, cache, opts)
	}
	d := f.d
	qkvDim := 2*d.headK*d.nK + d.headV*d.nV

	qkv := f.SSMQKV.Forward(ctx, h).Reshape(ctx, qkvDim, 1, 1)
	z := f.SSMQKVGate.Forward(ctx, h)
	beta := f.SSMBeta.Forward(ctx, h).Reshape(ctx, 1, d.nV, 1).Sigmoid(ctx)
	alpha := f.SSMAlpha.Forward(ctx, h).Reshape(ctx, d.nV, 1, 1)
	// The decay: g = exp(−softplus(α + dt)·exp(A_log)), ssm_a holding −exp(A_log).
	g := alpha.Add(ctx, f.SSMDT).Softplus(ctx).Mul(ctx, f.SSMA).Reshape(ctx, 1, d.nV, 1).Exp(ctx)

	// The short convolution over the last conv tokens, its window kept in
	// the cache.
	convState, err := cache.ConvState(ctx, f.Layer)
	if err != nil {
		return nil, err
	}
	window := convState.Reshape(ctx, d.conv-1, qkvDim, 1).Concat(ctx, qkv.Permute(ctx, 1, 0, 2, 3), 0)
	cache.UpdateConvState(ctx, f.Layer, window.Slice(ctx, 0, 1, d.conv, 1))
	mixed := window.SSMConv(ctx, f.SSMConv1D.Weight).SILU(ctx).Contiguous(ctx, qkvDim, 1)

	q := mixed.Slice(ctx, 0, 0, d.headK*d.nK, 1).Contiguous(ctx, d.headK, d.nK, 1)
	k := mixed.Slice(ctx, 0, d.headK*d.nK, 2*d.headK*d.nK, 1).Contiguous(ctx, d.headK, d.nK, 1)
	v := mixed.Slice(ctx, 0, 2*d.headK*d.nK, qkvDim, 1).Contiguous(ctx, d.headV, d.nV, 1)
	if d.nK != d.nV {
		q, k = f.perValueHead(ctx, q), f.perValueHead(ctx, k)
	}
	q = q.L2Norm(ctx, d.eps).Scale(ctx, 1/math.Sqrt(float64(d.headV)))
	k = k.L2Norm(ctx, d.eps)

	state, err := cache.DeltaState(ctx, f.Layer, d.headV, d.nV)
	if err != nil {
		return nil, err
	}
	n := d.headV
	// Ollama keeps S with v fastest; RWKV-7 wants each row (one v) whole.
	rows := state.Reshape(ctx, n, n, d.nV).Permute(ctx, 1, 0, 2, 3).Contiguous(ctx).Reshape(ctx, n*n*d.nV, 1)
	w := g.Repeat4D(ctx, n, d.nV, 1, 1)
	kb := k.Mul(ctx, beta)
	b := kb.Mul(ctx, g).Scale(ctx, -1)
	res, err := wkv7(ctx, q, w, kb, v, k, b, rows)
	if err != nil {
		return nil, err
	}
	out := res.View(ctx, 0, n*d.nV).Contiguous(ctx, n, d.nV)
	newRows := res.View(ctx, n*d.nV*4, n*n*d.nV).Reshape(ctx, n, n, d.nV)
	cache.UpdateDeltaState(ctx, f.Layer, newRows.Permute(ctx, 1, 0, 2, 3).Contiguous(ctx, n, n*d.nV, 1))

	gated := f.SSMNorm.Forward(ctx, out, d.eps).Mul(ctx, z.Contiguous(ctx, n, d.nV).SILU(ctx))
	o := f.SSMOut.Forward(ctx, gated.Reshape(ctx, n*d.nV, 1, 1))
	return o.Reshape(ctx, o.Dim(0), 1), nil
}

// perValueHead repeats key-head vectors ([headK, nK, 1]) over the value
// heads, in the file's order (tiled when reordered, else each key head's
// value heads next to each other).
func (f *fusedDeltaNet) perValueHead(ctx ml.Context, t ml.Tensor) ml.Tensor {
	d := f.d
	if d.vHeadReordered {
		return t.Repeat4D(ctx, d.headK, d.nV, 1, 1)
	}
	rep := d.nV / d.nK
	return t.Reshape(ctx, d.headK, 1, d.nK).Repeat4D(ctx, d.headK, rep, d.nK, 1).Reshape(ctx, d.headK, d.nV, 1)
}

// wkv7 adds ggml_rwkv_wkv7 to the graph. Ollama's ml API has no such op, so
// it goes in through the C pointers of its context and tensors, and comes
// back as a tensor of the same backend.
func wkv7(ctx ml.Context, r, w, k, v, a, b, state ml.Tensor) (ml.Tensor, error) {
	c := ctxPointer(ctx)
	ptrs := make([]unsafe.Pointer, 7)
	for i, t := range []ml.Tensor{r, w, k, v, a, b, state} {
		if ptrs[i] = cTensor(reflect.ValueOf(t)); ptrs[i] == nil {
			return nil, errors.New("the Go engine: not a ggml tensor")
		}
	}
	if c == nil {
		return nil, errors.New("the Go engine: not a ggml context")
	}
	res := ggmlops.WKV7(c, ptrs[0], ptrs[1], ptrs[2], ptrs[3], ptrs[4], ptrs[5], ptrs[6])
	if res == nil {
		return nil, errors.New("the Go engine: the delta-rule inputs are not contiguous F32")
	}
	// A fresh tensor of the backend's own type, pointed at the result.
	out := r.Scale(ctx, 1)
	f := reflect.ValueOf(out).Elem().FieldByName("t")
	*(*unsafe.Pointer)(unsafe.Pointer(f.UnsafeAddr())) = res
	return out, nil
}

// ctxPointer is the ggml_context behind one of the ggml backend's contexts
// (its unexported field ctx), or nil.
func ctxPointer(ctx ml.Context) unsafe.Pointer {
	v := reflect.ValueOf(ctx)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("ctx")
	if !f.IsValid() || f.Kind() != reflect.Pointer {
		return nil
	}
	return unsafe.Pointer(f.Pointer())
}

// ggmlReachable checks, before any layer is swapped, that the backend's
// contexts and tensors still have the fields wkv7 reaches through.
func ggmlReachable(b ml.Backend, sample ml.Tensor) bool {
	c := b.NewContext()
	defer c.Close()
	return ctxPointer(c) != nil && cTensor(reflect.ValueOf(sample)) != nil
}
