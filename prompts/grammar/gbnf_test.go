package grammar

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// The grammars and strings of llama.cpp's test-grammar-integration.cpp
// (data only; see the fixture's "source").
func TestGrammarVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/grammar_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Cases []struct {
			Desc, Grammar string
			Pass, Fail    []string
			// Error: natter refuses this grammar; the reason is the value.
			Error string
		}
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Cases) < 10 {
		t.Fatalf("only %d vectors", len(fx.Cases))
	}
	for _, c := range fx.Cases {
		g, err := Parse(c.Grammar)
		if c.Error != "" {
			if err == nil {
				t.Errorf("%s: parsed, want an error (%s)", c.Desc, c.Error)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.Desc, err)
			continue
		}
		for _, s := range c.Pass {
			if !g.MatchString(s) {
				t.Errorf("%s: rejected %q", c.Desc, s)
			}
		}
		for _, s := range c.Fail {
			if g.MatchString(s) {
				t.Errorf("%s: accepted %q", c.Desc, s)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{``, "empty"},
		{`rot ::= "a"`, `no "root" rule`},
		{`root ::= expr`, `rule "expr" is used but never defined`},
		{`root ::= "a" | root "a"`, "left-recursive"},
		{"root ::= asdf\nasdf ::= \"a\" | asdf \"a\"", "left-recursive"},
		{"root ::= asdf\nasdf ::= \"a\" | foo \"b\"\nfoo ::= \"c\" | asdf \"d\" | \"e\"", "left-recursive"},
		{"root ::= asdf\nasdf ::= \"a\" | foo \"b\"\nfoo ::= \"c\" | empty asdf \"d\" | \"e\"\nempty ::= \"blah\" | ", "left-recursive"},
		// Nullable through two rules: llama.cpp's own check misses this one.
		{"root ::= e root \"a\" | \"b\"\ne ::= f\nf ::= \"x\" | ", "left-recursive"},
		{`root ::= "abc`, "unterminated literal"},
		{`root ::= [a-z`, "unterminated character class"},
		{`root ::= [z-a]`, "backwards"},
		{`root ::= "\q"`, `unknown escape \q`},
		// llama.cpp (as linked) refuses these, so natter does too.
		{`root ::= [\-a]`, `unknown escape \-`},
		{`root ::= [\^a]`, `unknown escape \^`},
		{`root ::= "\."`, `unknown escape \.`},
		{`root ::= "\x4"`, "hex digits"},
		{`root ::= ("a"`, "unclosed parenthesis"},
		{`root ::= *`, "nothing before it"},
		{`root ::= "a"{3,1}`, "maximum below its minimum"},
		{`root ::= "a"{99999}`, "above 10000"},
		{`root ::= "a"{,3}`, "expected a number"},
		{`root ::= <[12]>`, "token references"},
		{`root = "a"`, "expected ::="},
		{"root ::= \"a\"\nroot ::= \"b\"", "defined twice"},
		{`root ::= "a" )`, "unexpected"},
		{"root ::= \"\xff\"", "UTF-8"},
		{`root ::= "` + strings.Repeat("a", 200) + `"{10000}`, "size limit"},
	} {
		_, err := Parse(c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", c.src, err, c.want)
		}
	}
	// Positions point at the problem.
	_, err := Parse("root ::= \"a\"\n  x ::= [b")
	if e, ok := err.(*Error); !ok || e.Line != 2 {
		t.Errorf("error %v, want one on line 2", err)
	}
}

func TestParseSyntax(t *testing.T) {
	for _, c := range []struct {
		src        string
		pass, fail []string
	}{
		{`root ::= "\x41\u00e9\U0001F600\t\n\\\""`, []string{"Aé😀\t\n\\\""}, []string{"A"}},
		{`root ::= [^"\\] [\]\[] [a\x2Dz]`, []string{"x]-", "é[a"}, []string{"\"]a", "xxa"}},
		{"root ::= ( \"a\" # comment\n | \"b\" )\n# trailing", []string{"a", "b"}, []string{"ab"}},
		{"root ::= \"x\" |\n  \"y\"", []string{"x", "y"}, []string{""}},
		{`root ::= "a"{2,3} "b"{0} "c"{1,}`, []string{"aac", "aaaccc"}, []string{"ac", "aaaac", "aab"}},
		{`root ::= . "€"? [α-ω]+`, []string{"xβ", "€€αω"}, []string{"x", "xa"}},
		{`root ::= "" "a"`, []string{"a"}, []string{""}},
	} {
		g, err := Parse(c.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.src, err)
			continue
		}
		for _, s := range c.pass {
			if !g.MatchString(s) {
				t.Errorf("%q rejected %q", c.src, s)
			}
		}
		for _, s := range c.fail {
			if g.MatchString(s) {
				t.Errorf("%q accepted %q", c.src, s)
			}
		}
	}
}

// UTF-8 arrives split across tokens: a half sequence survives only when a
// code point starting with it could match.
func TestPartialUTF8(t *testing.T) {
	g, err := Parse(`root ::= [α-ω] "!"`)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatcher(g)
	a := []byte("β") // CE B2
	st := m.Step(m.Start(), a[0])
	if st == Dead || m.Accepting(st) {
		t.Fatalf("after the lead byte of β: dead=%v", st == Dead)
	}
	if m.Step(m.Start(), "é"[0]) != Dead { // C3: no Greek letter starts with it
		t.Error("a lead byte no code point in the class starts with was kept")
	}
	if m.Step(m.Start(), 0x80) != Dead || m.Step(m.Start(), 0xC0) != Dead {
		t.Error("invalid UTF-8 bytes were kept")
	}
	st = m.Feed(st, a[1:])
	if st == Dead || m.Accepting(st) {
		t.Fatal("β did not match")
	}
	if st = m.Step(st, '!'); !m.Done(st) {
		t.Error("β! is not a finished match")
	}
	// Negated classes: "[^a]" accepts any multi-byte character.
	g2, _ := Parse(`root ::= [^a]`)
	if !g2.MatchString("𝄞") || g2.MatchString("a") {
		t.Error("[^a] is wrong on a 4-byte character")
	}
	// Surrogates and overlong forms never match, even through ".".
	g3, _ := Parse(`root ::= .`)
	for _, bad := range []string{"\xed\xa0\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xf4\x90\x80\x80"} {
		if g3.MatchString(bad) {
			t.Errorf(". accepted invalid UTF-8 %q", bad)
		}
	}
}

func TestDoneAndAccepting(t *testing.T) {
	g, _ := Parse(`root ::= "a" "b"?`)
	m := NewMatcher(g)
	st := m.Feed(m.Start(), []byte("a"))
	if !m.Accepting(st) || m.Done(st) {
		t.Error(`"a" should be complete with "b" still possible`)
	}
	st = m.Step(st, 'b')
	if !m.Done(st) {
		t.Error(`"ab" should leave nothing to add`)
	}
	if m.Step(st, 'b') != Dead {
		t.Error("a byte past the end was accepted")
	}
}

// Allowed agrees with feeding each token on its own, on a random vocabulary.
func TestAllowedMatchesBruteForce(t *testing.T) {
	g, err := Parse(`root ::= "{" ws "\"" [a-zé]* "\"" ws ":" ws [0-9]+ ws "}"
ws ::= [ ]?`)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"{", "}", "\"", ":", " ", "a", "b", "z", "é", "1", "0", "x", "\xc3", "\xa9"}
	pieces := make([][]byte, 3000)
	for i := range pieces {
		if i%97 == 0 {
			continue // a control token: no text
		}
		var b strings.Builder
		for range 1 + r.IntN(4) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		pieces[i] = []byte(b.String())
	}
	v := NewVocab(pieces)
	m := NewMatcher(g)
	allow := make([]bool, len(pieces))
	for _, prefix := range []string{"", "{", "{ \"", "{\"ab", "{\"a\xc3", "{\"a\":", "{\"a\": 12", "{\"a\":1}"} {
		st := m.Feed(m.Start(), []byte(prefix))
		if st == Dead {
			t.Fatalf("prefix %q is dead", prefix)
		}
		n := m.Allowed(st, v, allow)
		want := 0
		for id, p := range pieces {
			ok := len(p) > 0 && m.Feed(st, p) != Dead
			if ok {
				want++
			}
			if allow[id] != ok {
				t.Errorf("prefix %q token %q: allowed=%v, feeding says %v", prefix, p, allow[id], ok)
			}
		}
		if n != want {
			t.Errorf("prefix %q: Allowed counted %d, want %d", prefix, n, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	raw, _ := os.ReadFile("testdata/grammar_vectors.json")
	var fx struct{ Cases []struct{ Grammar string } }
	_ = json.Unmarshal(raw, &fx)
	for _, c := range fx.Cases {
		f.Add(c.Grammar, "abc")
	}
	f.Add(`root ::= ("a" | [b-d]+ x)* x ::= "\u00e9"`, "ab")
	f.Add(`root ::= [^\x00-\x7f]{2,5}`, "éé")
	f.Add("root ::= a\na ::= b | \"\"\nb ::= a \"c\"", "c")
	f.Fuzz(func(t *testing.T, src, input string) {
		g, err := Parse(src)
		if err != nil {
			if g != nil {
				t.Fatal("a grammar came with an error")
			}
			return
		}
		m := NewMatcher(g)
		st := m.Start()
		for i := 0; i < len(input) && st != Dead; i++ {
			st = m.Step(st, input[i])
		}
		if m.Accepting(st) && !utf8.ValidString(input) {
			t.Fatalf("accepted invalid UTF-8 %q", input)
		}
		if m.Accepting(st) != g.MatchString(input) {
			t.Fatal("Step and MatchString disagree")
		}
	})
}

// BenchmarkAllowed is the full vocabulary mask the Go engine runs when a
// drawn token misses: a 150,000-token vocabulary (Qwen-sized) inside a JSON
// string (most tokens allowed) and at a number (few allowed), warm caches.
func BenchmarkAllowed(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	const letters = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJ0123456789.,:\"{}[]-_'é日本"
	runes := []rune(letters)
	pieces := make([][]byte, 150000)
	for i := range pieces {
		var sb strings.Builder
		for range 1 + r.IntN(7) {
			sb.WriteRune(runes[r.IntN(len(runes))])
		}
		pieces[i] = []byte(sb.String())
	}
	v := NewVocab(pieces)
	g, err := Parse(`root ::= "{\"s\": \"" [^"\\]* "\", \"n\": " [0-9]+ "}"`)
	if err != nil {
		b.Fatal(err)
	}
	allow := make([]bool, len(pieces))
	for _, c := range []struct{ name, prefix string }{{"string", `{"s": "ab`}, {"number", `{"s": "x", "n": 1`}} {
		b.Run(c.name, func(b *testing.B) {
			m := NewMatcher(g)
			st := m.Feed(m.Start(), []byte(c.prefix))
			n := m.Allowed(st, v, allow) // warm the transition cache
			for b.Loop() {
				m.Allowed(st, v, allow)
			}
			b.ReportMetric(float64(n), "allowed")
		})
	}
}
