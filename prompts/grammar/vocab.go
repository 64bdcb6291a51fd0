package grammar

import "sort"

// Vocab is a model's token texts as a byte trie, so a Matcher can find every
// token allowed in a state by walking the trie once and pruning each subtree
// the grammar rules out, instead of matching 150,000 tokens one by one.
type Vocab struct {
	nodes []trieNode
	n     int // token ids are below n
}

type trieNode struct {
	bytes []byte  // child edge labels, sorted
	kids  []int32 // child node per label
	toks  []int32 // tokens whose text ends here
}

// NewVocab builds the trie. pieces[id] is token id's text as bytes; nil or
// empty pieces (control tokens, end of generation) are never allowed by it.
func NewVocab(pieces [][]byte) *Vocab {
	v := &Vocab{nodes: []trieNode{{}}, n: len(pieces)}
	// Inserting in sorted order keeps each node's labels sorted by appending.
	ids := make([]int, 0, len(pieces))
	for id, p := range pieces {
		if len(p) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(a, b int) bool { return string(pieces[ids[a]]) < string(pieces[ids[b]]) })
	for _, id := range ids {
		cur := int32(0)
		for _, b := range pieces[id] {
			nd := &v.nodes[cur]
			if k := len(nd.bytes); k > 0 && nd.bytes[k-1] == b {
				cur = nd.kids[k-1]
				continue
			}
			child := int32(len(v.nodes))
			nd.bytes = append(nd.bytes, b)
			nd.kids = append(nd.kids, child)
			v.nodes = append(v.nodes, trieNode{})
			cur = child
		}
		v.nodes[cur].toks = append(v.nodes[cur].toks, int32(id))
	}
	return v
}

// Size is the number of token ids the vocabulary was built for.
func (v *Vocab) Size() int { return v.n }

// Allowed sets allow[id] for every token whose text the grammar accepts
// from st (a prefix of a match, not necessarily a complete one) and clears
// the rest; it reports how many are allowed. End-of-generation tokens are the
// caller's: allow them when m.Accepting(st).
func (m *Matcher) Allowed(st State, v *Vocab, allow []bool) int {
	clear(allow)
	if st == Dead {
		return 0
	}
	count := 0
	var walk func(n int32, st State)
	walk = func(n int32, st State) {
		nd := &v.nodes[n]
		for _, t := range nd.toks {
			allow[t] = true
			count++
		}
		for i, b := range nd.bytes {
			if nx := m.Step(st, b); nx != Dead {
				walk(nd.kids[i], nx)
			}
		}
	}
	walk(0, st)
	return count
}
