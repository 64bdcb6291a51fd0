package config

import (
	"strings"

	"natter/internal/editdist"
)

// suggestKey names the known key nearest to an unknown one, as
// ` (did you mean "sampling.temp"?)`, or "" when nothing is close. A right
// leaf in the wrong place (top-level `temp`, `[model] temp`) counts as one
// edit, so those find their key too.
func suggestKey(name string) string {
	leaf := name
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		leaf = name[i+1:]
	}
	best, bestD := "", -1
	for i := range Keys {
		k := &Keys[i]
		d := min(distance(name, k.Name), distance(leaf, k.Leaf())+1)
		if bestD < 0 || d < bestD {
			best, bestD = k.Name, d
		}
	}
	return hint(best, bestD, leaf)
}

func suggestSection(name string) string {
	best, bestD := "", -1
	for _, s := range Sections() {
		if d := distance(name, s); bestD < 0 || d < bestD {
			best, bestD = s, d
		}
	}
	return hint(best, bestD, name)
}

// hint allows about one edit per three characters, at most three: close
// enough to be a typo, not so loose that every short word matches.
func hint(best string, d int, typed string) string {
	limit := min(3, max(1, len(typed)/3+1))
	if best == "" || d < 0 || d > limit {
		return ""
	}
	return ` (did you mean "` + best + `"?)`
}

// distance is the edit distance of a typo (a swap of two letters is one
// edit).
func distance(a, b string) int { return editdist.Distance(a, b) }
