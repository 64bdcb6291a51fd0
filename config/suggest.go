package config

import "strings"

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

// distance is the Levenshtein edit distance between a and b, in bytes
// (keys are ASCII). Long inputs are not worth comparing and could be slow.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
