package toolcall

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParse: no input makes Parse panic, every call it returns has a name
// and a JSON object as arguments, and a stream fed the input in pieces
// ends with the same result.
func FuzzParse(f *testing.F) {
	names := Names()
	for i, name := range names {
		for _, fx := range fixtures[name] {
			f.Add(fx.text, uint8(i), uint8(3))
		}
	}
	f.Add("<tool_call><tool_call>{", uint8(0), uint8(1))
	f.Add("[TOOL_CALLS][TOOL_CALLS]f[ARGS][ARGS]", uint8(3), uint8(2))
	f.Add(`<|tool_call>call:f{a:{b:[{c:<|"|>`, uint8(5), uint8(5))
	f.Add("<|tool_call_start|>[f(a=((((((]<|tool_call_end|>", uint8(6), uint8(4))
	f.Fuzz(func(t *testing.T, text string, which, chunk uint8) {
		fm, _ := ByName(names[int(which)%len(names)])
		content, calls, bad := fm.Parse(text)
		if content != strings.TrimSpace(content) {
			t.Errorf("content %q is not trimmed", content)
		}
		for _, c := range calls {
			if strings.TrimSpace(c.Name) == "" {
				t.Errorf("a call without a name: %+v", c)
			}
			if c.ID == "" {
				t.Errorf("a call without an id: %+v", c)
			}
			var obj map[string]any
			if !json.Valid([]byte(c.Arguments)) || json.Unmarshal([]byte(c.Arguments), &obj) != nil || obj == nil {
				t.Errorf("arguments are not a JSON object: %q", c.Arguments)
			}
		}
		for _, b := range bad {
			if b.Reason == "" {
				t.Errorf("a malformed call without a reason: %+v", b)
			}
		}
		n := 1 + int(chunk)%16
		s := fm.NewStream()
		for rest := text; rest != ""; {
			k := min(n, len(rest))
			s.Feed(rest[:k])
			rest = rest[k:]
		}
		c2, calls2, bad2 := s.Finish()
		if c2 != content || !reflect.DeepEqual(calls2, calls) || !reflect.DeepEqual(bad2, bad) {
			t.Errorf("Finish differs from Parse")
		}
	})
}

// Replies full of openers, or one huge unclosed call, must not make Parse
// or a Stream quadratic (a weak model can write such text).
func TestHostileRepliesAreLinear(t *testing.T) {
	const size = 1 << 18 // quadratic work would take minutes
	for _, name := range Names() {
		f, _ := ByName(name)
		var inputs []string
		for _, op := range append(f.Openers(), f.markers...) {
			inputs = append(inputs, strings.Repeat(op, size/len(op)), op+strings.Repeat(" ", size))
		}
		inputs = append(inputs, strings.Repeat("<|channel|>x", size/12), "{"+strings.Repeat(" ", size),
			strings.Repeat("<tool_call>\n<function=f>\n<parameter=a>\n", size/40))
		for _, in := range inputs {
			start := time.Now()
			f.Parse(in)
			s := f.NewStream()
			for rest := in; rest != ""; {
				k := min(3, len(rest))
				s.Feed(rest[:k])
				rest = rest[k:]
			}
			s.Finish()
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s: %d bytes starting %q took %v", name, len(in), in[:min(len(in), 30)], d)
			}
		}
	}
}
