package tune

// Seq is one training sequence: window+1 tokens, and which of them are
// targets the loss counts (nil: all).
type Seq struct {
	Tokens  []int32
	Targets []bool
}

// Sequences cuts a token stream into training sequences of window+1
// tokens (inputs and their next tokens), overlapping by half a window as
// llama.cpp's finetune example does, the last one ending at the stream's
// end so every token is learnt. A stream shorter than one sequence is
// repeated to fill it: tiny data still trains. targets (nil: all) marks
// the tokens the loss counts; sequences with none are left out.
func Sequences(stream []int32, targets []bool, window int) []Seq {
	if len(stream) == 0 || window <= 0 || targets != nil && len(targets) != len(stream) {
		return nil
	}
	n := window + 1
	if len(stream) < n {
		// The caller's slices stay as they were.
		stream = append([]int32(nil), stream...)
		if targets != nil {
			targets = append([]bool(nil), targets...)
		}
	}
	for len(stream) < n {
		k := min(len(stream), n-len(stream))
		stream = append(stream, stream[:k]...)
		if targets != nil {
			targets = append(targets, targets[:k]...)
		}
	}
	stride := max(window/2, 1)
	var out []Seq
	add := func(start int) {
		s := Seq{Tokens: stream[start : start+n]}
		if targets != nil {
			s.Targets = targets[start : start+n]
			any := false
			for _, t := range s.Targets[1:] {
				any = any || t
			}
			if !any {
				return
			}
		}
		out = append(out, s)
	}
	start := 0
	for ; start+n <= len(stream); start += stride {
		add(start)
	}
	if last := start - stride; last+n < len(stream) {
		add(len(stream) - n)
	}
	return out
}
