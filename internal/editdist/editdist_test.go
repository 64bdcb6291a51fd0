package editdist

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"temp", "temp", 0}, {"", "abc", 3}, {"tmep", "temp", 1},
		{"contian", "contains", 2}, {"kitten", "sitting", 3}, {"ab", "ba", 1},
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	long := string(make([]byte, 65))
	if Distance(long, "a") < 1000 {
		t.Error("a long input is compared")
	}
}
