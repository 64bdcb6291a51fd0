package tune

import (
	"fmt"
	"strconv"
	"strings"
)

// LayersHelp describes --train-layers.
const LayersHelp = `which tensors train, comma-separated: all (default); attn, ffn, norm, output or embd for only those kinds; last:N, first:N or blocks:A-B (0-based) for only those blocks (with the output layer and embeddings), e.g. "last:2,attn"`

// Layers selects the tensors to train by name.
type Layers struct {
	lo, hi int             // blocks lo..hi train; hi < 0: all
	kinds  map[string]bool // nil: every kind
}

// ParseLayers reads a --train-layers spec for a model of nLayer blocks.
func ParseLayers(spec string, nLayer int) (Layers, error) {
	l := Layers{lo: 0, hi: -1}
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "all" {
		return l, nil
	}
	blocks := false
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(strings.ToLower(item))
		key, val, hasVal := strings.Cut(item, ":")
		bad := func(why string) error {
			return fmt.Errorf("--train-layers %q: %s; %s", item, why, LayersHelp)
		}
		switch key {
		case "all":
		case "attn", "ffn", "norm", "output", "embd":
			if hasVal {
				return l, bad("takes no value")
			}
			if l.kinds == nil {
				l.kinds = map[string]bool{}
			}
			l.kinds[key] = true
		case "last", "first", "blocks":
			if blocks {
				return l, bad("give one block range")
			}
			blocks = true
			var err error
			if l.lo, l.hi, err = blockRange(key, val, nLayer); err != nil {
				return l, bad(err.Error())
			}
		default:
			return l, bad("unknown")
		}
	}
	return l, nil
}

func blockRange(key, val string, nLayer int) (lo, hi int, err error) {
	if key == "blocks" {
		a, b, ok := strings.Cut(val, "-")
		if !ok {
			b = a
		}
		lo, err1 := strconv.Atoi(a)
		hi, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || lo < 0 || hi < lo || hi >= nLayer {
			return 0, 0, fmt.Errorf("want blocks:A-B with 0 <= A <= B < %d", nLayer)
		}
		return lo, hi, nil
	}
	n, err := strconv.Atoi(val)
	if err != nil || n < 1 || n > nLayer {
		return 0, 0, fmt.Errorf("want %s:N with N from 1 to %d (the model has %d blocks)", key, nLayer, nLayer)
	}
	if key == "last" {
		return nLayer - n, nLayer - 1, nil
	}
	return 0, n - 1, nil
}

// All reports whether every tensor is selected (the default).
func (l Layers) All() bool { return l.hi < 0 && l.kinds == nil }

// Keep reports whether the tensor called name trains.
func (l Layers) Keep(name string) bool {
	block, kind := classify(name)
	if block >= 0 && l.hi >= 0 && (block < l.lo || block > l.hi) {
		return false
	}
	return l.kinds == nil || l.kinds[kind]
}

// classify names a tensor's block (-1 outside the blocks) and kind.
func classify(name string) (block int, kind string) {
	block = -1
	rest := name
	if s, ok := strings.CutPrefix(name, "blk."); ok {
		num, tail, _ := strings.Cut(s, ".")
		if n, err := strconv.Atoi(num); err == nil {
			block, rest = n, tail
		}
	}
	switch {
	case strings.Contains(rest, "norm"):
		return block, "norm"
	case strings.HasPrefix(rest, "attn"):
		return block, "attn"
	case strings.HasPrefix(rest, "ffn"):
		return block, "ffn"
	case strings.HasPrefix(rest, "output"):
		return block, "output"
	case strings.HasPrefix(rest, "token_embd"):
		return block, "embd"
	}
	return block, "other"
}
