package goengine

import (
	"errors"
	"math"
	"math/cmplx"
)

// Gemma 4's audio features, as upstream llama.cpp v0.5.0 computes them for
// gemma4a (after Hugging Face's Gemma 4 feature extractor): 16 kHz mono,
// 20 ms periodic Hann windows (320 samples) zero-padded to a 512-point FFT,
// a 10 ms hop, the magnitude spectrum through an HTK mel filterbank
// (0–8 kHz, no area normalisation), floored at 0.001 and natural-log
// scaled. The clip is cut into 30-second chunks, each read on its own; a
// chunk is padded on the left by half a window ("semicausal") and gives
// (n+160-321)/160+1 frames.
const (
	melRate   = 16000
	melFFT    = 512
	melWindow = 320
	melHop    = 160
	melFloor  = 0.001
	melChunk  = 30 * melRate // samples per chunk
)

// melBank holds the filterbank and window for one mel size.
type melBank struct {
	nMel    int
	window  [melWindow]float64
	filters [][]float64 // per mel bin, weights of FFT bins lo[m]..
	lo      []int
	twiddle [melFFT / 2]complex128
}

func newMelBank(nMel int) *melBank {
	b := &melBank{nMel: nMel, filters: make([][]float64, nMel), lo: make([]int, nMel)}
	for i := range b.window {
		b.window[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/melWindow)
	}
	for k := range b.twiddle {
		b.twiddle[k] = cmplx.Rect(1, -2*math.Pi*float64(k)/melFFT)
	}
	toMel := func(hz float64) float64 { return 2595 * math.Log10(1+hz/700) }
	toHz := func(m float64) float64 { return 700 * (math.Pow(10, m/2595) - 1) }
	top := toMel(melRate / 2)
	edge := make([]float64, nMel+2)
	for i := range edge {
		edge[i] = toHz(top * float64(i) / float64(nMel+1))
	}
	const bins = melFFT/2 + 1
	for m := 0; m < nMel; m++ {
		left, centre, right := edge[m], edge[m+1], edge[m+2]
		dl, dr := math.Max(centre-left, 1e-30), math.Max(right-centre, 1e-30)
		var w []float64
		lo := -1
		for k := 0; k < bins; k++ {
			f := float64(k) * melRate / melFFT
			v := 0.0
			switch {
			case f >= left && f <= centre:
				v = (f - left) / dl
			case f > centre && f <= right:
				v = (right - f) / dr
			}
			if v == 0 && lo < 0 {
				continue
			}
			if lo < 0 {
				lo = k
			}
			w = append(w, float64(float32(v))) // the float32 table upstream keeps
		}
		for len(w) > 0 && w[len(w)-1] == 0 {
			w = w[:len(w)-1]
		}
		b.filters[m], b.lo[m] = w, max(lo, 0)
	}
	return b
}

// melFrames is the number of feature frames of a chunk of n samples.
func melFrames(n int) int {
	if n+melHop < melWindow+1 {
		return 0
	}
	return (n+melHop-(melWindow+1))/melHop + 1
}

// features returns the log-mel features of one chunk, frame-major
// (frames rows of nMel values), and the frame count.
func (b *melBank) features(samples []float32) ([]float32, int, error) {
	frames := melFrames(len(samples))
	if frames < 1 {
		return nil, 0, errors.New("the audio is too short (under 10 ms)")
	}
	out := make([]float32, frames*b.nMel)
	var buf [melFFT]complex128
	var mag [melFFT/2 + 1]float64
	for t := 0; t < frames; t++ {
		// Frame t starts at sample t*hop-160 of the chunk (the left pad).
		start := t*melHop - melWindow/2
		for j := range buf {
			v := 0.0
			if j < melWindow {
				if s := start + j; s >= 0 && s < len(samples) {
					v = b.window[j] * float64(samples[s])
				}
			}
			buf[j] = complex(v, 0)
		}
		fft(buf[:], b.twiddle[:])
		for k := range mag {
			mag[k] = cmplx.Abs(buf[k])
		}
		row := out[t*b.nMel : (t+1)*b.nMel]
		for m := range row {
			sum := 0.0
			for i, w := range b.filters[m] {
				sum += w * mag[b.lo[m]+i]
			}
			row[m] = float32(math.Log(math.Max(sum, melFloor)))
		}
	}
	return out, frames, nil
}

// fft transforms x in place (len a power of two, twiddle the len/2 roots
// e^{-2πik/len}).
func fft(x []complex128, twiddle []complex128) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		half, step := size/2, n/size
		for s := 0; s < n; s += size {
			for k := 0; k < half; k++ {
				t := twiddle[k*step] * x[s+k+half]
				x[s+k+half] = x[s+k] - t
				x[s+k] += t
			}
		}
	}
}
