package jinja

import (
	"math"
	"math/big"
)

// Integers are exact, as in Python: a result outside int64 becomes a
// *big.Int (and goes back to int64 when it fits again). MaxIntDigits bounds
// them: Python itself refuses to print an int of more than 4300 digits by
// default, and a bound keeps 10**(10**10) from eating the machine; a
// result past it is an error, computed or not.
const MaxIntDigits = 4300

// maxIntBits is MaxIntDigits in bits (log2(10) ≈ 3.3219 bits a digit).
const maxIntBits = MaxIntDigits * 33219 / 10000

// isInt reports whether v is a Python int (bool counts, as in Python).
func isInt(v Value) bool {
	switch v.(type) {
	case int64, bool, *big.Int:
		return true
	}
	return false
}

// toBig converts an int value to a new big.Int.
func toBig(v Value) *big.Int {
	switch x := v.(type) {
	case *big.Int:
		return new(big.Int).Set(x)
	case int64:
		return big.NewInt(x)
	case bool:
		if x {
			return big.NewInt(1)
		}
		return big.NewInt(0)
	}
	return nil
}

// normInt returns x as int64 when it fits.
func normInt(x *big.Int) Value {
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}

// bigFloat converts x to float64; ok is false when it is too large, where
// Python raises OverflowError.
func bigFloat(x *big.Int) (float64, bool) {
	f, _ := new(big.Float).SetInt(x).Float64()
	return f, !math.IsInf(f, 0)
}

func (r *renderer) tooBig() error {
	return r.errf("integer result over %d digits (natter's bound, as Python's for printing)", MaxIntDigits)
}

// intArith is op on two ints, exact; handled is false for operators it
// leaves to float arithmetic (/, negative powers).
func (r *renderer) intArith(op string, l, rv Value) (v Value, handled bool, err error) {
	a, b := toBig(l), toBig(rv)
	z := new(big.Int)
	switch op {
	case "+":
		z.Add(a, b)
	case "-":
		z.Sub(a, b)
	case "*":
		if a.BitLen()+b.BitLen() > maxIntBits+1 {
			return nil, true, r.tooBig()
		}
		z.Mul(a, b)
	case "//", "%":
		if b.Sign() == 0 {
			return nil, true, r.errf("integer division or modulo by zero")
		}
		// Python floors; big.Int's DivMod is Euclidean, QuoRem truncates.
		q, m := new(big.Int).QuoRem(a, b, new(big.Int))
		if m.Sign() != 0 && (m.Sign() < 0) != (b.Sign() < 0) {
			q.Sub(q, big.NewInt(1))
			m.Add(m, b)
		}
		if op == "//" {
			z = q
		} else {
			z = m
		}
	case "**":
		if b.Sign() < 0 {
			if a.Sign() == 0 {
				return nil, true, r.errf("0.0 cannot be raised to a negative power")
			}
			return nil, false, nil
		}
		abs := new(big.Int).Abs(a)
		switch {
		case abs.Cmp(big.NewInt(1)) <= 0: // 0, 1, -1: no growth, whatever the exponent
			if a.Sign() < 0 && b.Bit(0) == 0 {
				z.SetInt64(1)
			} else if b.Sign() == 0 {
				z.SetInt64(1)
			} else {
				z.Set(a)
			}
		case !b.IsInt64() || int64(abs.BitLen()-1)*b.Int64() > maxIntBits:
			return nil, true, r.tooBig()
		default:
			z.Exp(a, b, nil)
		}
	default:
		return nil, false, nil
	}
	if z.BitLen() > maxIntBits {
		return nil, true, r.tooBig()
	}
	return normInt(z), true, nil
}

func isBig(v Value) bool { _, ok := v.(*big.Int); return ok }
