package prompts

import (
	"strings"
	"testing"
)

func TestSplitterMarkersAcrossPieces(t *testing.T) {
	cases := []struct{ in, ans, think string }{
		{"<think>abc</think>answer", "answer", "abc"},
		{"plain < text with <thin and <b>", "plain < text with <thin and <b>", ""},
		{"[THINK]x[/THINK]y", "y", "x"},
		{"<|channel|>analysis<|message|>plan<|end|><|start|>assistant<|channel|>final<|message|>Hi", "Hi", "plan"},
		{"<think>unterminated", "", "unterminated"},
	}
	for _, c := range cases {
		for n := 1; n <= len(c.in); n++ {
			var s Splitter
			var a, r strings.Builder
			for i := 0; i < len(c.in); i += n {
				x, y := s.Feed(c.in[i:min(i+n, len(c.in))])
				a.WriteString(x)
				r.WriteString(y)
			}
			x, y := s.Flush()
			a.WriteString(x)
			r.WriteString(y)
			if a.String() != c.ans || r.String() != c.think {
				t.Fatalf("%q in pieces of %d: answer %q reasoning %q", c.in, n, a.String(), r.String())
			}
		}
	}
}

// The splitter never loses or invents text, whatever arrives.
func FuzzSplitter(f *testing.F) {
	for _, s := range []string{"<think>a</think>b", "<thi", "[THINK]x", "<|channel|>analysis<|message|>p<|end|>q", "\xff<think>"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, in string, n int) {
		n = n%7 + 1
		if n < 1 {
			n = 1
		}
		var s Splitter
		total := 0
		for i := 0; i < len(in); i += n {
			a, r := s.Feed(in[i:min(i+n, len(in))])
			total += len(a) + len(r)
		}
		a, r := s.Flush()
		total += len(a) + len(r)
		if total > len(in) {
			t.Fatalf("splitter produced %d bytes from %d", total, len(in))
		}
	})
}
