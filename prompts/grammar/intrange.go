package grammar

import (
	"math/big"
	"strconv"
	"strings"
)

// Digit-range rules: GBNF has no arithmetic, so numeric bounds are enforced by
// spelling out, digit by digit, which decimal strings lie inside a range.

// intDigitsCap is how many digits an integer may have on a side the schema
// leaves unbounded (llama.cpp uses 16 too). Without a cap a model could keep
// emitting digits forever; 16 digits is already past float64's exact range.
const intDigitsCap = 16

// maxBoundDigits clamps absurd bounds such as 1e300 so that rules stay small.
const maxBoundDigits = 40

// fracDigitsCap is the most digits allowed after a decimal point.
const fracDigitsCap = 16

// intRange returns GBNF alternatives (joined by " | ", not parenthesized)
// matching exactly the canonical decimal spellings of the integers in
// [lo, hi]: no leading zeros, no "-0". It returns "" when the range is empty.
func intRange(lo, hi *big.Int) string {
	return strings.Join(intRangeAlts(lo, hi), " | ")
}

func intRangeAlts(lo, hi *big.Int) []string {
	if lo.Cmp(hi) > 0 {
		return nil
	}
	var alts []string
	one := big.NewInt(1)
	if lo.Sign() < 0 {
		// Negative part: "-" followed by a magnitude in [max(1,-hi), -lo].
		a := new(big.Int).Neg(hi)
		if a.Cmp(one) < 0 {
			a.Set(one)
		}
		b := new(big.Int).Neg(lo)
		alts = append(alts, `"-" `+group(posRange(a.String(), b.String())))
	}
	if lo.Sign() <= 0 && hi.Sign() >= 0 {
		alts = append(alts, `"0"`)
	}
	if hi.Sign() > 0 {
		a := new(big.Int).Set(lo)
		if a.Cmp(one) < 0 {
			a.Set(one)
		}
		alts = append(alts, posRange(a.String(), hi.String())...)
	}
	return alts
}

// posRange handles 1 <= a <= b given as decimal strings, splitting by digit
// count; lengths that are covered completely collapse into one alternative.
func posRange(a, b string) []string {
	la, lb := len(a), len(b)
	full := func(l int) bool {
		return (l > la || a == "1"+strings.Repeat("0", la-1)) &&
			(l < lb || b == strings.Repeat("9", lb))
	}
	var alts []string
	fullFrom, fullTo := 0, -1
	for l := la; l <= lb; l++ {
		if full(l) {
			if fullFrom == 0 {
				fullFrom = l
			}
			fullTo = l
			continue
		}
		if fullTo >= fullFrom && fullFrom > 0 {
			alts = append(alts, fullLengths(fullFrom, fullTo))
			fullFrom, fullTo = 0, -1
		}
		s, t := a, b
		if l > la {
			s = "1" + strings.Repeat("0", l-1)
		}
		if l < lb {
			t = strings.Repeat("9", l)
		}
		alts = append(alts, spans(s, t)...)
	}
	if fullFrom > 0 {
		alts = append(alts, fullLengths(fullFrom, fullTo))
	}
	return alts
}

// fullLengths matches every number with from..to digits.
func fullLengths(from, to int) string {
	return seq(`[1-9]`, digits(from-1, to-1))
}

// spans matches the digit strings between s and t, which have equal length.
func spans(s, t string) []string {
	if s == t {
		return []string{quoteLit(s)}
	}
	i := 0
	for s[i] == t[i] {
		i++
	}
	prefix := ""
	if i > 0 {
		prefix = quoteLit(s[:i])
	}
	x, y := s[i], t[i]
	ss, ts := s[i+1:], t[i+1:]
	n := len(ss)
	lowFull := ss == strings.Repeat("0", n)
	highFull := ts == strings.Repeat("9", n)
	var alts []string
	start, end := x, y
	if !lowFull {
		alts = append(alts, seq(quoteLit(string(x)), group(spans(ss, strings.Repeat("9", n)))))
		start = x + 1
	}
	if !highFull {
		end = y - 1
	}
	if start <= end {
		alts = append(alts, seq(digitClass(start, end), digits(n, n)))
	}
	if !highFull {
		alts = append(alts, seq(quoteLit(string(y)), group(spans(strings.Repeat("0", n), ts))))
	}
	if prefix == "" {
		return alts
	}
	return []string{seq(prefix, group(alts))}
}

func digitClass(from, to byte) string {
	if from == to {
		return quoteLit(string(from))
	}
	if to == from+1 {
		return "[" + string(from) + string(to) + "]"
	}
	return "[" + string(from) + "-" + string(to) + "]"
}

// digits matches between min and max arbitrary digits ("" when max is 0).
func digits(min, max int) string {
	return repeat("[0-9]", min, max)
}

// repeat applies the shortest GBNF quantifier for {min,max}; max < 0 means
// unbounded.
func repeat(item string, min, max int) string {
	switch {
	case max == 0:
		return ""
	case min == 1 && max == 1:
		return item
	case min == 0 && max == 1:
		return item + "?"
	case min == 0 && max < 0:
		return item + "*"
	case min == 1 && max < 0:
		return item + "+"
	case max < 0:
		return item + "{" + strconv.Itoa(min) + ",}"
	case min == max:
		return item + "{" + strconv.Itoa(min) + "}"
	}
	return item + "{" + strconv.Itoa(min) + "," + strconv.Itoa(max) + "}"
}

// seq joins non-empty sequence elements.
func seq(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " ")
}

// group turns alternatives into something that can stand in a sequence
// (parenthesized when there are several); an empty alternative becomes "?".
func group(alts []string) string {
	var nonEmpty []string
	optional := false
	for _, a := range alts {
		if a == "" {
			optional = true
		} else {
			nonEmpty = append(nonEmpty, a)
		}
	}
	switch {
	case len(nonEmpty) == 0:
		return ""
	case len(nonEmpty) == 1 && !optional:
		return nonEmpty[0]
	case len(nonEmpty) == 1:
		return prim(nonEmpty[0]) + "?"
	case optional:
		return "(" + strings.Join(nonEmpty, " | ") + ")?"
	}
	return "(" + strings.Join(nonEmpty, " | ") + ")"
}

// ---- numbers with bounds ----

// bound is one side of a numeric range.
type bound struct {
	v    *big.Rat
	incl bool
}

// integerRange enforces integer bounds (nil = unbounded).
func integerRange(lo, hi *bound) (string, bool) {
	loI, hiI := intBounds(lo, hi)
	body := intRange(loI, hiI)
	return body, body != ""
}

// digitCap is the digit budget for unbounded sides: intDigitsCap, or more
// when an explicit bound needs it, never beyond maxBoundDigits.
func digitCap(lo, hi *bound) int {
	d := intDigitsCap
	for _, b := range []*bound{lo, hi} {
		if b == nil {
			continue
		}
		n := len(new(big.Int).Abs(ratFloor(b.v)).String())
		if n > d {
			d = n
		}
	}
	if d > maxBoundDigits {
		d = maxBoundDigits
	}
	return d
}

func intBounds(lo, hi *bound) (*big.Int, *big.Int) {
	d := digitCap(lo, hi)
	limit := new(big.Int).Sub(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil), big.NewInt(1))
	hiI := new(big.Int).Set(limit)
	loI := new(big.Int).Neg(limit)
	if lo != nil {
		v := ratCeil(lo.v)
		if !lo.incl && lo.v.IsInt() {
			v.Add(v, big.NewInt(1))
		}
		if v.Cmp(loI) > 0 {
			loI = v
		}
	}
	if hi != nil {
		v := ratFloor(hi.v)
		if !hi.incl && hi.v.IsInt() {
			v.Sub(v, big.NewInt(1))
		}
		if v.Cmp(hiI) < 0 {
			hiI = v
		}
	}
	return loI, hiI
}

// numberRange enforces bounds on a JSON number: whole numbers in range, plus
// decimals I.ddd (at most fracDigitsCap fraction digits), no exponent. The
// fraction digits are constrained digit by digit at the boundary integer
// parts, so the only tightening is the digit caps.
func numberRange(lo, hi *bound) (string, bool) {
	d := digitCap(lo, hi)
	capV := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil))
	if lo == nil {
		lo = &bound{v: new(big.Rat).Neg(capV)}
	}
	if hi == nil {
		hi = &bound{v: capV}
	}
	var alts []string
	loI, hiI := intBounds(lo, hi)
	if w := intRange(loI, hiI); w != "" {
		alts = append(alts, w)
	}
	zero := new(big.Rat)
	// Non-negative spellings "I.ddd".
	if c := hi.v.Cmp(zero); c > 0 || (c == 0 && hi.incl) {
		a := &bound{v: zero, incl: true}
		if lo.v.Sign() >= 0 {
			a = lo
		}
		alts = append(alts, decimals(a, hi)...)
	}
	// Negative spellings "-I.ddd": magnitudes between max(-hi,0) and -lo.
	if c := lo.v.Cmp(zero); c < 0 || (c == 0 && lo.incl) {
		a := &bound{v: zero, incl: true}
		if hi.v.Sign() <= 0 {
			a = &bound{v: new(big.Rat).Neg(hi.v), incl: hi.incl}
		}
		b := &bound{v: new(big.Rat).Neg(lo.v), incl: lo.incl}
		if neg := decimals(a, b); len(neg) > 0 {
			alts = append(alts, `"-" `+group(neg))
		}
	}
	if len(alts) == 0 {
		return "", false
	}
	return strings.Join(alts, " | "), true
}

// decimals matches "I.ddd" with 0 <= a <= I.ddd <= b (bounds inclusive or
// not). The integer part I has no leading zeros.
func decimals(a, b *bound) []string {
	if c := a.v.Cmp(b.v); c > 0 || (c == 0 && !(a.incl && b.incl)) {
		return nil
	}
	a0, b0 := ratFloor(a.v), ratFloor(b.v)
	fa, ka := fracBound(a, true)
	fb, kb := fracBound(b, false)
	point := func(i string, f []string) string {
		if len(f) == 0 {
			return ""
		}
		return seq(quoteLit(i+"."), group(f))
	}
	var alts []string
	if a0.Cmp(b0) == 0 {
		if s := point(a0.String(), fracGen(fa, ka, fb, kb, 1, fracDigitsCap)); s != "" {
			alts = append(alts, s)
		}
		return alts
	}
	if s := point(a0.String(), fracGen(fa, ka, "", kNone, 1, fracDigitsCap)); s != "" {
		alts = append(alts, s)
	}
	mid := intRangeAlts(new(big.Int).Add(a0, big.NewInt(1)), new(big.Int).Sub(b0, big.NewInt(1)))
	if len(mid) > 0 {
		alts = append(alts, seq(group(mid), `"."`, digits(1, fracDigitsCap)))
	}
	if s := point(b0.String(), fracGen("", kNone, fb, kb, 1, fracDigitsCap)); s != "" {
		alts = append(alts, s)
	}
	return alts
}

type boundKind int

const (
	kNone boundKind = iota
	kIncl
	kExcl
)

// fracBound gives the fraction digits of a bound (trailing zeros removed),
// truncated to fracDigitsCap digits. Truncating is exact because candidates
// never have more digits: for a lower bound, d >= 0.x with x longer than the
// cap is d > trunc(x); for an upper bound, d <= trunc(x).
func fracBound(b *bound, lower bool) (string, boundKind) {
	r := new(big.Rat).Sub(b.v, new(big.Rat).SetInt(ratFloor(b.v)))
	var sb strings.Builder
	ten := big.NewRat(10, 1)
	for i := 0; i < fracDigitsCap && r.Sign() != 0; i++ {
		r.Mul(r, ten)
		dg := ratFloor(r)
		sb.WriteByte(byte('0' + dg.Int64()))
		r.Sub(r, new(big.Rat).SetInt(dg))
	}
	s := strings.TrimRight(sb.String(), "0")
	kind := kExcl
	if b.incl {
		kind = kIncl
	}
	if r.Sign() != 0 {
		if lower {
			kind = kExcl
		} else {
			kind = kIncl
		}
	}
	return s, kind
}

// fracGen matches digit strings d, minLen <= len(d) <= maxLen, whose value
// 0.d lies between 0.lo and 0.hi (each bound inclusive, exclusive or
// absent). It returns alternatives; "" stands for the empty string, and no
// alternatives means nothing matches.
func fracGen(lo string, lk boundKind, hi string, hk boundKind, minLen, maxLen int) []string {
	if lk == kIncl && lo == "" {
		lk = kNone // 0.d >= 0 always holds
	}
	if hk == kExcl && hi == "" {
		return nil // 0.d < 0 never holds
	}
	if lk == kNone && hk == kNone {
		return []string{digits(minLen, maxLen)}
	}
	if lk == kNone && hk == kIncl && hi == "" {
		return []string{repeat(`"0"`, minLen, maxLen)} // 0.d <= 0: zeros only
	}
	var alts []string
	// The empty remainder means value 0: fine unless a lower bound is left
	// (kIncl with lo=="" was normalized away above).
	if minLen == 0 && lk == kNone {
		alts = append(alts, "")
	}
	if maxLen == 0 {
		return alts
	}
	l1, h1 := byte('0'), byte('9')
	if lk != kNone && lo != "" {
		l1 = lo[0]
	}
	if hk != kNone {
		h1 = '0'
		if hi != "" {
			h1 = hi[0]
		}
	}
	if l1 > h1 {
		return alts
	}
	nm, xm := max(minLen-1, 0), maxLen-1
	rest := func(s string) string {
		if s == "" {
			return ""
		}
		return s[1:]
	}
	digitThen := func(dg byte, sub []string) {
		if len(sub) == 0 {
			return
		}
		alts = append(alts, seq(quoteLit(string(dg)), group(sub)))
	}
	if l1 == h1 {
		nlo, nlk := "", kNone
		if lk != kNone {
			nlo, nlk = rest(lo), lk
		}
		nhi, nhk := "", kNone
		if hk != kNone {
			nhi, nhk = rest(hi), hk
		}
		digitThen(l1, fracGen(nlo, nlk, nhi, nhk, nm, xm))
		return alts
	}
	start, end := l1, h1
	if lk != kNone {
		digitThen(l1, fracGen(rest(lo), lk, "", kNone, nm, xm))
		start++
	}
	if hk != kNone {
		end--
	}
	if start <= end {
		alts = append(alts, seq(digitClass(start, end), digits(nm, xm)))
	}
	if hk != kNone {
		digitThen(h1, fracGen("", kNone, rest(hi), hk, nm, xm))
	}
	return alts
}

func ratFloor(r *big.Rat) *big.Int {
	q, m := new(big.Int).DivMod(r.Num(), r.Denom(), new(big.Int))
	_ = m // DivMod is Euclidean: with a positive denominator q is the floor
	return q
}

func ratCeil(r *big.Rat) *big.Int {
	q := ratFloor(r)
	if !r.IsInt() {
		q.Add(q, big.NewInt(1))
	}
	return q
}
