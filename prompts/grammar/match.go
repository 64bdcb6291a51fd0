package grammar

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A Matcher runs a Grammar over bytes as a lazily built automaton: each
// State is a set of parse stacks (plus a half-read UTF-8 sequence), and every
// transition is computed once and cached, so masking a vocabulary token by
// token costs map lookups after the first steps. A Matcher is not safe for
// concurrent use; make one per generation.
type Matcher struct {
	g     *Grammar
	flat  []elem  // every rule's body, one after another
	start []int32 // rule → offset in flat
	alts  [][]int32

	nodes  []node // interned stacks; node 0 is the empty stack
	nodeIx map[uint64]int32
	adv    map[int32][]int32

	states  []mstate
	stateIx map[string]State
	trans   map[uint64]State
}

// node is one stack cell: the element at pos, then the stack next.
type node struct{ pos, next int32 }

type mstate struct {
	stacks  []int32 // sorted node ids, each topped by a class element or empty
	partial [4]byte // a UTF-8 sequence begun but not finished
	plen    uint8
}

// State is a point in a Matcher's run. Dead is no valid continuation.
type State int32

const Dead State = -1

// NewMatcher prepares g for matching.
func NewMatcher(g *Grammar) *Matcher {
	m := &Matcher{g: g, nodeIx: map[uint64]int32{}, adv: map[int32][]int32{}, stateIx: map[string]State{}, trans: map[uint64]State{}}
	for _, body := range g.rules {
		m.start = append(m.start, int32(len(m.flat)))
		m.flat = append(m.flat, body...)
	}
	for r, body := range g.rules {
		a := []int32{m.start[r]}
		for i, e := range body {
			if e.kind == eAlt {
				a = append(a, m.start[r]+int32(i)+1)
			}
		}
		m.alts = append(m.alts, a)
	}
	m.nodes = []node{{-1, -1}}
	return m
}

func (m *Matcher) intern(pos, next int32) int32 {
	k := uint64(uint32(pos))<<32 | uint64(uint32(next))
	if id, ok := m.nodeIx[k]; ok {
		return id
	}
	id := int32(len(m.nodes))
	m.nodes = append(m.nodes, node{pos, next})
	m.nodeIx[k] = id
	return id
}

// after is the stack once the element at pos is done: the next element of
// its alternative, or (at the alternative's end) the caller's rest.
func (m *Matcher) after(pos, next int32) int32 {
	if k := m.flat[pos+1].kind; k == eEnd || k == eAlt {
		return next
	}
	return m.intern(pos+1, next)
}

// advance expands rule references on top of stack s until every stack is
// topped by a character class (or is empty, which means accepted).
func (m *Matcher) advance(s int32) []int32 {
	if out, ok := m.adv[s]; ok {
		return out
	}
	var out []int32
	if s == 0 {
		out = []int32{0}
	} else if n := m.nodes[s]; m.flat[n.pos].kind == eClass {
		out = []int32{s}
	} else {
		rest := m.after(n.pos, n.next)
		for _, a := range m.alts[m.flat[n.pos].v] {
			var sub []int32
			if k := m.flat[a].kind; k == eEnd || k == eAlt {
				sub = m.advance(rest)
			} else {
				sub = m.advance(m.intern(a, rest))
			}
			out = append(out, sub...)
		}
		slices.Sort(out)
		out = slices.Compact(out)
	}
	m.adv[s] = out
	return out
}

func (m *Matcher) state(stacks []int32, partial []byte) State {
	if len(stacks) == 0 {
		return Dead
	}
	var b strings.Builder
	b.Write(partial)
	b.WriteByte(0xff) // not a UTF-8 byte: ends the partial part
	for _, s := range stacks {
		b.WriteString(strconv.Itoa(int(s)))
		b.WriteByte(',')
	}
	k := b.String()
	if st, ok := m.stateIx[k]; ok {
		return st
	}
	st := State(len(m.states))
	ms := mstate{stacks: stacks, plen: uint8(len(partial))}
	copy(ms.partial[:], partial)
	m.states = append(m.states, ms)
	m.stateIx[k] = st
	return st
}

// Start is the state before any output.
func (m *Matcher) Start() State {
	var out []int32
	for _, a := range m.alts[m.g.root] {
		if k := m.flat[a].kind; k == eEnd || k == eAlt {
			out = append(out, 0)
		} else {
			out = append(out, m.advance(m.intern(a, 0))...)
		}
	}
	slices.Sort(out)
	return m.state(slices.Compact(out), nil)
}

// Accepting reports whether the output so far is a complete match.
func (m *Matcher) Accepting(st State) bool {
	if st == Dead {
		return false
	}
	s := &m.states[st]
	return s.plen == 0 && s.stacks[0] == 0 // sorted: the empty stack comes first
}

// Done reports whether the match is complete and nothing may follow.
func (m *Matcher) Done(st State) bool {
	return m.Accepting(st) && len(m.states[st].stacks) == 1
}

// Step feeds one byte.
func (m *Matcher) Step(st State, b byte) State {
	if st == Dead {
		return Dead
	}
	k := uint64(uint32(st))<<8 | uint64(b)
	if nx, ok := m.trans[k]; ok {
		return nx
	}
	nx := m.step(st, b)
	m.trans[k] = nx
	return nx
}

func (m *Matcher) step(st State, b byte) State {
	s := m.states[st]
	if s.plen == 0 {
		if b < utf8.RuneSelf {
			return m.acceptRune(s.stacks, rune(b))
		}
		if b < 0xC2 || b > 0xF4 { // a continuation byte first, or never valid
			return Dead
		}
		return m.partialState(s.stacks, []byte{b})
	}
	if b < 0x80 || b > 0xBF {
		return Dead
	}
	seq := append(s.partial[:s.plen:s.plen], b)
	if utf8.FullRune(seq) {
		r, n := utf8.DecodeRune(seq)
		if r == utf8.RuneError && n <= 1 {
			return Dead // overlong, a surrogate, or past U+10FFFF
		}
		return m.acceptRune(s.stacks, r)
	}
	return m.partialState(s.stacks, seq)
}

// partialState keeps a begun UTF-8 sequence when some stack could match a
// code point that starts with it.
func (m *Matcher) partialState(stacks []int32, seq []byte) State {
	lo, hi, ok := utf8Range(seq)
	if !ok {
		return Dead
	}
	for _, s := range stacks {
		if s != 0 && m.g.classes[m.flat[m.nodes[s].pos].v].matchAny(lo, hi) {
			return m.state(stacks, seq)
		}
	}
	return Dead
}

// utf8Range is the span of code points whose encoding starts with seq.
func utf8Range(seq []byte) (lo, hi rune, ok bool) {
	var n int
	switch b := seq[0]; {
	case b >= 0xC2 && b <= 0xDF:
		n = 2
	case b >= 0xE0 && b <= 0xEF:
		n = 3
	case b >= 0xF0 && b <= 0xF4:
		n = 4
	default:
		return 0, 0, false
	}
	loB, hiB := make([]byte, n), make([]byte, n)
	copy(loB, seq)
	copy(hiB, seq)
	for i := len(seq); i < n; i++ {
		loB[i], hiB[i] = 0x80, 0xBF
	}
	// Clamp where the second byte's valid range is narrower.
	switch seq[0] {
	case 0xE0:
		if len(seq) < 2 {
			loB[1] = 0xA0
		}
	case 0xED:
		if len(seq) < 2 {
			hiB[1] = 0x9F
		}
	case 0xF0:
		if len(seq) < 2 {
			loB[1] = 0x90
		}
	case 0xF4:
		if len(seq) < 2 {
			hiB[1] = 0x8F
		}
	}
	l, ln := utf8.DecodeRune(loB)
	h, hn := utf8.DecodeRune(hiB)
	if l == utf8.RuneError && ln <= 1 || h == utf8.RuneError && hn <= 1 {
		return 0, 0, false
	}
	return l, h, true
}

func (m *Matcher) acceptRune(stacks []int32, r rune) State {
	var out []int32
	for _, s := range stacks {
		if s == 0 {
			continue
		}
		n := m.nodes[s]
		if !m.g.classes[m.flat[n.pos].v].match(r) {
			continue
		}
		out = append(out, m.advance(m.after(n.pos, n.next))...)
	}
	slices.Sort(out)
	return m.state(slices.Compact(out), nil)
}

// Feed steps through b, stopping at the first byte that kills the match.
func (m *Matcher) Feed(st State, b []byte) State {
	for _, c := range b {
		if st = m.Step(st, c); st == Dead {
			return Dead
		}
	}
	return st
}

// MatchString reports whether the whole of s is in the grammar's language.
func (g *Grammar) MatchString(s string) bool {
	m := NewMatcher(g)
	return m.Accepting(m.Feed(m.Start(), []byte(s)))
}
