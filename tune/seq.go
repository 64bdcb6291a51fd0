package tune

// Sequences cuts a token stream into training sequences of window+1
// tokens (inputs and their next tokens), overlapping by half a window as
// llama.cpp's finetune example does, the last one ending at the stream's
// end so every token is learnt. A stream shorter than one sequence is
// repeated to fill it: tiny data still trains.
func Sequences(stream []int32, window int) [][]int32 {
	if len(stream) == 0 || window <= 0 {
		return nil
	}
	n := window + 1
	if len(stream) < n {
		stream = append([]int32(nil), stream...) // the caller's slice stays as it was
	}
	for len(stream) < n {
		stream = append(stream, stream[:min(len(stream), n-len(stream))]...)
	}
	stride := max(window/2, 1)
	var out [][]int32
	start := 0
	for ; start+n <= len(stream); start += stride {
		out = append(out, stream[start:start+n])
	}
	if last := start - stride; last+n < len(stream) {
		out = append(out, stream[len(stream)-n:])
	}
	return out
}
