package units

import "testing"

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		-1: "0 B", 0: "0 B", 999: "999 B", 1000: "1.0 kB", 1500: "1.5 kB", 9949: "9.9 kB", 9950: "10 kB",
		120008: "120 kB", 999_499: "999 kB", 999_999: "1.0 MB", 2_100_000: "2.1 MB", 512 << 20: "537 MB",
		1_930_000_000: "1.9 GB", 3 << 40: "3.3 TB", 5e15: "5000 TB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
