package goengine

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/ollama/ollama/ml"
)

// Audio on the Go engine: Gemma 4's audio encoder (gemma4a), read from the
// projector file as upstream llama.cpp v0.5.0's converter writes it. Ollama's
// gemma4 package has an audio encoder too, but it names the tensors
// differently, expects a projector layer (mm.a.fc) these files lack and
// builds its attention chunk by chunk; natter runs its own graph, after
// upstream's clip_graph_gemma4a, on the projector's backend:
//
//   - two conv2d (3×3, stride 2, padding 1) over the [mel, frame] plane,
//     each with a layer norm over channels and ReLU, then a.input_projection;
//   - conformer blocks: a half-step FFN, chunked local self-attention
//     (chunks of 12 positions attending to themselves and the 12 before,
//     causal, with sinusoidal relative positions through attn_k_rel and a
//     tanh soft cap of 50), a gated depthwise causal conv, another
//     half-step FFN and an output norm;
//   - a.pre_encode.out, a weightless RMS norm (times mm.a.soft_emb_norm when
//     present) and mm.a.input_projection to the text model's width.
//
// Linear layers carry Gemma 4's optional clamp scalars (name.input_min and
// so on), applied around the matrix product as upstream does. One
// divergence from Ollama's encoder: a position sees 11 past positions, not
// 12 (upstream's mask: gq-gk < 12). Audio positions are read causally by
// the text model (upstream's rule for gemma4a).

const (
	audioChunk  = 12 // query positions per attention chunk
	audioPast   = 12 // past positions a chunk's keys reach back
	audioCap    = 50 // attention logit soft cap
	audioResid  = 0.5
	audioEps    = 1e-6 // upstream fixes it (the converter wrote a wrong one)
	audioStride = 4    // mel frames per embedding (two stride-2 convs)
)

// audioPlan is what planProjector read of the audio encoder.
type audioPlan struct {
	nEmbd, nHead, nLayer, nMel int
}

// linear is a matrix with its optional bias and clamps.
type linear struct {
	w, b              ml.Tensor
	inMin, inMax      float32
	outMin, outMax    float32
	clampIn, clampOut bool
}

func (l *linear) forward(ctx ml.Context, x ml.Tensor) ml.Tensor {
	if l.clampIn {
		x = x.Clamp(ctx, l.inMin, l.inMax)
	}
	x = l.w.Mulmat(ctx, x)
	if l.clampOut {
		x = x.Clamp(ctx, l.outMin, l.outMax)
	}
	if l.b != nil {
		x = x.Add(ctx, l.b)
	}
	return x
}

// conformer is one block's weights; nil tensors and linears are absent.
type conformer struct {
	ffnNorm, ffnPost, attnNorm, attnPost, convNorm, normConv, ffn1Norm, ffn1Post, outNorm ml.Tensor
	ffnUp, ffnDown, q, k, v, o, pw1, pw2, ffn1Up, ffn1Down                                *linear
	kRel, qScale, kScale, dw, dwBias                                                      ml.Tensor
}

// audioState is the loaded audio encoder of an Engine.
type audioState struct {
	plan     *audioPlan
	textEmbd int
	b        ml.Backend
	sched    schedHandle
	mel      *melBank

	conv     [2]struct{ w, b, norm ml.Tensor }
	inProj   *linear
	layers   []conformer
	outProj  *linear // nil when absent
	softNorm ml.Tensor
	mmProj   *linear
}

// setupAudio gathers the audio encoder's tensors from the projector's
// backend (gguf.CheckProjector has checked their shapes).
func (e *Engine) setupAudio(lb *layoutBackend, sched schedHandle) error {
	plan, b := lb.projPlan.audio, lb.proj
	var missing []string
	get := func(name string, need bool) ml.Tensor {
		t := b.Get(name)
		if t == nil && need {
			missing = append(missing, name)
		}
		return t
	}
	scalar := func(name string) (float32, bool) {
		t := b.Get(name)
		if t == nil {
			return 0, false
		}
		v := t.BackendGet()
		if len(v) == 0 {
			return 0, false
		}
		return v[0], true
	}
	lin := func(name string, need bool) *linear {
		w := get(name+".weight", need)
		if w == nil {
			return nil
		}
		l := &linear{w: w, b: get(name+".bias", false)}
		lo, okLo := scalar(name + ".input_min")
		hi, okHi := scalar(name + ".input_max")
		if okLo || okHi {
			l.clampIn, l.inMin, l.inMax = true, orF(lo, okLo, -math.MaxFloat32), orF(hi, okHi, math.MaxFloat32)
		}
		lo, okLo = scalar(name + ".output_min")
		hi, okHi = scalar(name + ".output_max")
		if okLo || okHi {
			l.clampOut, l.outMin, l.outMax = true, orF(lo, okLo, -math.MaxFloat32), orF(hi, okHi, math.MaxFloat32)
		}
		return l
	}
	a := &audioState{plan: plan, textEmbd: lb.projPlan.textEmbd, b: b, sched: sched, mel: newMelBank(plan.nMel)}
	for i := range a.conv {
		p := fmt.Sprintf("a.conv1d.%d.", i)
		a.conv[i].w, a.conv[i].b, a.conv[i].norm = get(p+"weight", true), get(p+"bias", false), get(p+"norm.weight", false)
	}
	a.inProj = lin("a.input_projection", true)
	a.layers = make([]conformer, plan.nLayer)
	for il := range a.layers {
		p := fmt.Sprintf("a.blk.%d.", il)
		w := func(s string) ml.Tensor { return get(p+s+".weight", false) }
		l := &a.layers[il]
		l.ffnNorm, l.ffnPost = w("ffn_norm"), w("ffn_post_norm")
		l.ffnUp, l.ffnDown = lin(p+"ffn_up", true), lin(p+"ffn_down", true)
		if l.attnNorm = w("attn_pre_norm"); l.attnNorm == nil {
			l.attnNorm = w("ln1")
		}
		l.q, l.k, l.v, l.o = lin(p+"attn_q", true), lin(p+"attn_k", true), lin(p+"attn_v", true), lin(p+"attn_out", true)
		l.attnPost, l.kRel = w("attn_post_norm"), w("attn_k_rel")
		l.qScale, l.kScale = w("per_dim_scale"), w("per_dim_k_scale")
		// The file's conv_norm is the norm before the module, norm_conv the
		// one after the depthwise conv.
		l.convNorm, l.normConv = w("conv_norm"), w("norm_conv")
		l.pw1, l.pw2 = lin(p+"conv_pw1", true), lin(p+"conv_pw2", true)
		l.dw, l.dwBias = get(p+"conv_dw.weight", true), get(p+"conv_dw.bias", false)
		l.ffn1Norm, l.ffn1Post = w("ffn_norm_1"), w("ffn_post_norm_1")
		l.ffn1Up, l.ffn1Down = lin(p+"ffn_up_1", true), lin(p+"ffn_down_1", true)
		l.outNorm = w("ln2")
	}
	a.outProj = lin("a.pre_encode.out", false)
	a.softNorm = get("mm.a.soft_emb_norm.weight", false)
	a.mmProj = lin("mm.a.input_projection", true)
	if len(missing) > 0 {
		return fmt.Errorf("%s: the audio encoder lacks %s", lb.projPlan.path, missing[0])
	}
	e.audio = a
	return nil
}

func orF(v float32, ok bool, def float32) float32 {
	if ok {
		return v
	}
	return def
}

// Audio reports whether an audio encoder is loaded.
func (e *Engine) Audio() bool { return e.audio != nil }

// AudioRate is the sample rate the audio encoder takes.
func (e *Engine) AudioRate() int { return melRate }

// AudioClip is a clip's features, ready for the encoder.
type AudioClip struct {
	chunks [][]float32 // log-mel features per 30-second chunk, frame-major
	frames []int
	tokens int
}

// Tokens is the number of embeddings (positions) the clip becomes.
func (c *AudioClip) Tokens() int { return c.tokens }

// audioTokens is the number of embeddings of a chunk of frames mel frames.
func audioTokens(frames int) int {
	for i := 0; i < 2; i++ {
		frames = (frames-1)/2 + 1
	}
	return frames
}

// PrepareAudio computes the features of 16 kHz mono samples. It does not
// touch the model's graphs, so it may run beside a generation.
func (e *Engine) PrepareAudio(samples []float32) (*AudioClip, error) {
	a := e.audio
	if a == nil {
		return nil, errors.New("no audio projector is loaded")
	}
	c := &AudioClip{}
	for off := 0; off < len(samples); off += melChunk {
		part := samples[off:min(off+melChunk, len(samples))]
		if off > 0 && melFrames(len(part)) < 1 {
			break // a last sliver under 10 ms adds nothing
		}
		feat, frames, err := a.mel.features(part)
		if err != nil {
			return nil, err
		}
		c.chunks = append(c.chunks, feat)
		c.frames = append(c.frames, frames)
		c.tokens += audioTokens(frames)
	}
	if len(c.chunks) == 0 {
		return nil, errors.New("the audio is empty")
	}
	return c, nil
}

// EncodeAudio runs the audio encoder on each chunk of c and returns the
// embeddings, Tokens() rows of EmbedWidth() floats. Like EncodeImage it must
// not run beside Prefill or Decode, and it stops when ctx ends.
func (e *Engine) EncodeAudio(ctx context.Context, c *AudioClip) (rows []float32, err error) {
	a := e.audio
	if a == nil {
		return nil, errors.New("no audio projector is loaded")
	}
	if e.closed {
		return nil, errors.New("the engine is closed")
	}
	defer e.watch(ctx)()
	defer func() {
		if r := recover(); r != nil {
			resetSched(a.sched)
			err = fmt.Errorf("the Go engine could not encode the audio: %v", r)
		}
	}()
	rows = make([]float32, 0, c.tokens*a.textEmbd)
	for i, feat := range c.chunks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out, err := e.encodeChunk(ctx, a, feat, c.frames[i])
		if err != nil {
			return nil, err
		}
		rows = append(rows, out...)
	}
	return rows, nil
}

func (e *Engine) encodeChunk(ctx context.Context, a *audioState, feat []float32, frames int) ([]float32, error) {
	mctx := a.b.NewContext()
	defer mctx.Close()
	out := a.graph(mctx, feat, frames)
	mctx.Forward(out)
	if err := e.computeOn(a.sched, mctx, out, true); err != nil {
		if errors.Is(err, errStopped) && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if want := audioTokens(frames); out.Dim(0) != a.textEmbd || out.Dim(1) != want {
		return nil, fmt.Errorf("the audio encoder made %d×%d embeddings, want %d×%d", out.Dim(0), out.Dim(1), a.textEmbd, want)
	}
	return append([]float32(nil), out.Floats()...), nil
}

// graph builds the encoder for one chunk of features.
func (a *audioState) graph(ctx ml.Context, feat []float32, frames int) ml.Tensor {
	p := a.plan
	x := ctx.Input().FromFloats(feat, p.nMel, frames).Reshape(ctx, p.nMel, frames, 1, 1)
	for _, c := range a.conv {
		x = c.w.Conv2D(ctx, x, 2, 2, 1, 1, 1, 1) // [freq, time, channels]
		if c.b != nil {
			x = x.Add(ctx, c.b.Reshape(ctx, 1, 1, c.b.Dim(0)))
		}
		if c.norm != nil {
			x = x.Permute(ctx, 1, 2, 0, 3).Contiguous(ctx) // channels first
			x = x.LayerNorm(ctx, c.norm, nil, audioEps)
			x = x.Permute(ctx, 2, 0, 1, 3).Contiguous(ctx)
		}
		x = x.RELU(ctx)
	}
	freq, n, ch := x.Dim(0), x.Dim(1), x.Dim(2)
	x = x.Permute(ctx, 1, 2, 0, 3).Contiguous(ctx).Reshape(ctx, ch*freq, n)
	x = a.inProj.forward(ctx, x)

	e, h := p.nEmbd, p.nHead
	d := e / h
	const c, past = audioChunk, audioPast
	const s, r = c + past, past + 1 // keys per chunk, relative positions
	blocks := (n + c - 1) / c
	mask := make([]float32, s*c*blocks)
	for b := 0; b < blocks; b++ {
		for q := 0; q < c; q++ {
			gq := b*c + q
			for k := 0; k < s; k++ {
				gk := b*c - past + k
				v := float32(-1e9)
				if gq < n && gk >= 0 && gk <= gq && gq-gk < past {
					v = 0
				}
				mask[k+q*s+b*s*c] = v
			}
		}
	}
	maskT := ctx.Input().FromFloats(mask, s, c, blocks)
	pos := make([]float32, e*r)
	half := e / 2
	inc := math.Log(10000) / math.Max(float64(half-1), 1)
	for i := 0; i < r; i++ {
		at := float64(past - i)
		for j := 0; j < half; j++ {
			pos[i*e+j] = float32(math.Sin(at * math.Exp(-float64(j)*inc)))
			pos[i*e+j+half] = float32(math.Cos(at * math.Exp(-float64(j)*inc)))
		}
	}
	posT := ctx.Input().FromFloats(pos, e, r)

	norm := func(x, w ml.Tensor) ml.Tensor {
		if w == nil {
			return x
		}
		return x.RMSNorm(ctx, w, audioEps)
	}
	ffn := func(res, pre, post ml.Tensor, up, down *linear) ml.Tensor {
		y := down.forward(ctx, up.forward(ctx, norm(res, pre)).SILU(ctx))
		return res.Add(ctx, norm(y, post).Scale(ctx, audioResid))
	}
	qScale := 1 / math.Sqrt(float64(d)) / math.Ln2
	kScale := math.Log(1+math.E) / math.Ln2
	for i := range a.layers {
		l := &a.layers[i]
		res := ffn(x, l.ffnNorm, l.ffnPost, l.ffnUp, l.ffnDown)

		// Chunked local attention.
		cur := norm(res, l.attnNorm)
		q := l.q.forward(ctx, cur).Reshape(ctx, d, h, n).Scale(ctx, qScale)
		if l.qScale != nil {
			q = q.Mul(ctx, l.qScale.Reshape(ctx, d, 1, 1))
		}
		k := l.k.forward(ctx, cur).Reshape(ctx, d, h, n).Scale(ctx, kScale)
		if l.kScale != nil {
			k = k.Mul(ctx, l.kScale.Reshape(ctx, d, 1, 1))
		}
		v := l.v.forward(ctx, cur).Reshape(ctx, d, h, n)
		q = q.Pad(ctx, 0, 0, blocks*c-n, 0).Reshape(ctx, d, h, c, blocks)
		q = q.Permute(ctx, 0, 3, 1, 2).Contiguous(ctx) // [d, c, blocks, h]
		// Each chunk's keys: the past positions and its own, as
		// overlapping windows of the sequence padded on the left.
		windows := func(t ml.Tensor) ml.Tensor {
			t = t.PadExt(ctx, 0, 0, 0, 0, past, s*blocks-n-past, 0, 0) // [d, h, s*blocks]
			return t.View(ctx, 0, d, t.Stride(1), h, t.Stride(2), s, c*t.Stride(2), blocks).Contiguous(ctx)
		}
		kb := windows(k).Permute(ctx, 0, 3, 1, 2).Contiguous(ctx) // [d, s, blocks, h]
		vb := windows(v).Permute(ctx, 1, 3, 0, 2).Contiguous(ctx) // [s, d, blocks, h]
		scores := kb.Mulmat(ctx, q)                               // [s, c, blocks, h]
		if l.kRel != nil {
			rel := l.kRel.Mulmat(ctx, posT).Reshape(ctx, d, h, r)
			rel = rel.Permute(ctx, 0, 2, 1, 3).Contiguous(ctx) // [d, r, h]
			bd := rel.Mulmat(ctx, q.Reshape(ctx, d, c*blocks, h)).Reshape(ctx, r, c, blocks, h)
			// The relative shift: pad each row to s+1, read the rows
			// back s wide, so query i's distance 0 lands on its key.
			bd = bd.Pad(ctx, s+1-r, 0, 0, 0).Reshape(ctx, (s+1)*c, blocks, h)
			bd = bd.View(ctx, 0, c*s, bd.Stride(1), blocks, bd.Stride(2), h).Contiguous(ctx)
			scores = scores.Add(ctx, bd.Reshape(ctx, s, c, blocks, h))
		}
		scores = scores.Scale(ctx, 1.0/audioCap).Tanh(ctx).Scale(ctx, audioCap).Add(ctx, maskT)
		att := vb.Mulmat(ctx, scores.Softmax(ctx)) // [d, c, blocks, h]
		att = att.Permute(ctx, 0, 2, 3, 1).Contiguous(ctx).Reshape(ctx, e, c*blocks)
		if blocks*c > n {
			att = att.View(ctx, 0, e, att.Stride(1), n).Contiguous(ctx)
		}
		res = res.Add(ctx, norm(l.o.forward(ctx, att), l.attnPost))

		// The gated depthwise causal conv.
		y := l.pw1.forward(ctx, norm(res, l.convNorm)) // [2e, n]
		gate := y.View(ctx, e*y.Stride(0), e, y.Stride(1), n).Contiguous(ctx).Sigmoid(ctx)
		y = y.View(ctx, 0, e, y.Stride(1), n).Mul(ctx, gate)
		y = y.Permute(ctx, 1, 0, 2, 3).Contiguous(ctx) // [n, e]
		y = y.PadExt(ctx, l.dw.Dim(0)-1, 0, 0, 0, 0, 0, 0, 0)
		y = y.SSMConv(ctx, l.dw) // [e, n]
		if l.dwBias != nil {
			y = y.Add(ctx, l.dwBias)
		}
		y = l.pw2.forward(ctx, norm(y, l.normConv).SILU(ctx))
		res = res.Add(ctx, y)

		res = ffn(res, l.ffn1Norm, l.ffn1Post, l.ffn1Up, l.ffn1Down)
		x = norm(res, l.outNorm)
	}
	if a.outProj != nil {
		x = a.outProj.forward(ctx, x)
	}
	x = x.RMSNorm(ctx, a.softNorm, audioEps)
	return a.mmProj.forward(ctx, x)
}
