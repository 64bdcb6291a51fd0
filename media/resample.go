package media

import (
	"math"
	"sync"
)

// The resampler is a polyphase windowed-sinc low-pass: each output sample
// is a dot product of the input around its position with a Kaiser-windowed
// sinc whose cutoff sits just under the lower of the two Nyquist
// frequencies. With these constants the pass band is flat to about 0.84 of
// that Nyquist (ripple well under 0.01 dB), the transition band ends at
// it, and everything above is down by at least 75 dB: a 48 kHz recording
// taken to 16 kHz keeps its speech band and folds nothing audible back
// below 8 kHz. The cost is about
// 2·rsZeroCrossings·max(1, in/out)/rsCutoff multiply-adds per output
// sample: 184 for 48 kHz → 16 kHz, some 3 million per second of audio.
const (
	rsZeroCrossings = 28   // sinc lobes on each side of the centre tap
	rsCutoff        = 0.92 // -6 dB point, as a fraction of the lower Nyquist
	rsBeta          = 7.3  // Kaiser β for ~75 dB stop-band attenuation
	// Rates whose ratio needs more exact phases than this (times out/in
	// when downsampling) round each output's position to the nearest of
	// that many. The timing error, at most 1/(2·phases) of an input
	// sample, is then -63 dB or less at the highest frequency the filter
	// passes, and the table stays near 125k coefficients for any rates.
	rsPhaseSteps = 2048
)

// rsKernel is the filter table for one pair of rates; it is read-only once
// made, so decodes at the same rates share it.
type rsKernel struct {
	up, down int64 // out/in rate ratio in lowest terms: up outputs per down inputs
	phases   int   // rows of coef: up, or fewer when positions are rounded
	taps     int   // columns of coef; the window of an output is taps inputs wide
	half     int   // the window starts half-1 inputs before the output's position
	coef     []float32
}

// A handful of tables cover real use (44.1 and 48 kHz to 16 kHz); the
// cache is emptied rather than grown past that, so odd rates in hostile
// files cannot fill memory.
var rsCache struct {
	sync.Mutex
	m map[[2]int]*rsKernel
}

func kernelFor(inRate, outRate int) *rsKernel {
	key := [2]int{inRate, outRate}
	rsCache.Lock()
	defer rsCache.Unlock()
	if k, ok := rsCache.m[key]; ok {
		return k
	}
	if rsCache.m == nil || len(rsCache.m) >= 8 {
		rsCache.m = map[[2]int]*rsKernel{}
	}
	k := newKernel(inRate, outRate)
	rsCache.m[key] = k
	return k
}

func newKernel(inRate, outRate int) *rsKernel {
	g := gcd(int64(inRate), int64(outRate))
	k := &rsKernel{up: int64(outRate) / g, down: int64(inRate) / g}
	k.phases = int(min(k.up, int64(math.Ceil(rsPhaseSteps*min(1, float64(outRate)/float64(inRate))))))
	k.phases = max(k.phases, int(min(k.up, 16)))

	// fc is in cycles per input sample; the sinc's zeros are 1/(2fc) apart,
	// so the window spans rsZeroCrossings of them on each side.
	fc := 0.5 * rsCutoff * min(1, float64(outRate)/float64(inRate))
	width := rsZeroCrossings / (2 * fc)
	k.half = int(math.Ceil(width))
	k.taps = 2 * k.half
	k.coef = make([]float32, k.phases*k.taps)
	i0beta := bessel0(rsBeta)
	for p := range k.phases {
		phi := float64(p) / float64(k.phases)
		row := k.coef[p*k.taps : (p+1)*k.taps]
		sum := 0.0
		for m := range row {
			// Distance from the output's position to input tap m.
			x := phi + float64(k.half-1-m)
			v := 0.0
			if q := x / width; q > -1 && q < 1 {
				v = 2 * fc * sinc(2*fc*x) * bessel0(rsBeta*math.Sqrt(1-q*q)) / i0beta
			}
			row[m] = float32(v)
			sum += v
		}
		// Unit gain at DC for every phase, so silence stays silent and a
		// constant stays constant (no ripple at the output rate).
		for m := range row {
			row[m] = float32(float64(row[m]) / sum)
		}
	}
	return k
}

// resampler converts a stream of mono samples from one rate to another. It
// keeps only the input that the next outputs still need, so memory is the
// output plus a few thousand samples whatever the input rate.
type resampler struct {
	*rsKernel
	buf  []float32 // pending input; buf[0] is input index base
	base int64
	in   int64 // input samples written
	n    int64 // next output index
	out  []float32
}

func newResampler(inRate, outRate int) *resampler {
	r := &resampler{rsKernel: kernelFor(inRate, outRate)}
	// The first window starts before input 0; those inputs are zeros.
	r.base = -int64(r.half - 1)
	r.buf = make([]float32, r.half-1, 4096)
	return r
}

// outputsFor is how many samples n inputs make: ceil(n·out/in).
func (r *resampler) outputsFor(n int64) int64 { return (n*r.up + r.down - 1) / r.down }

// write adds input samples and makes the outputs they complete.
func (r *resampler) write(x []float32) {
	r.buf = append(r.buf, x...)
	r.in += int64(len(x))
	r.produce(false)
}

// flush ends the input (zeros after it) and returns every output.
func (r *resampler) flush() []float32 {
	r.buf = append(r.buf, make([]float32, r.taps)...)
	r.produce(true)
	return r.out
}

func (r *resampler) produce(final bool) {
	limit := r.outputsFor(r.in)
	for r.n < limit {
		num := r.n * r.down
		i := num / r.up
		var p int
		if r.phases == int(r.up) {
			p = int(num % r.up)
		} else {
			p = int(math.Round(float64(num%r.up) / float64(r.up) * float64(r.phases)))
			if p == r.phases {
				i, p = i+1, 0
			}
		}
		start := int(i - int64(r.half-1) - r.base)
		if start+r.taps > len(r.buf) {
			if !final {
				break
			}
			// Only possible through phase rounding at the very end.
			r.buf = append(r.buf, make([]float32, start+r.taps-len(r.buf))...)
		}
		r.out = append(r.out, dot(r.buf[start:start+r.taps], r.coef[p*r.taps:(p+1)*r.taps]))
		r.n++
	}
	// Drop the input no later window needs, in large steps so that the
	// copying stays small against the work.
	next := (r.n*r.down)/r.up - int64(r.half-1) - r.base - 1
	if next > 1<<14 && next > int64(len(r.buf)/2) {
		k := copy(r.buf, r.buf[next:])
		r.buf = r.buf[:k]
		r.base += next
	}
}

func dot(x, c []float32) float32 {
	c = c[:len(x)]
	// Four accumulators break the dependency chain of one running sum.
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * c[i]
		s1 += x[i+1] * c[i+1]
		s2 += x[i+2] * c[i+2]
		s3 += x[i+3] * c[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * c[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// bessel0 is the modified Bessel function I₀, by its power series (which
// converges fast for the arguments a Kaiser window uses).
func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 200 && term > 1e-12*sum; k++ {
		term *= q / float64(k*k)
		sum += term
	}
	return sum
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
