// Package units formats sizes one way across natter, so a file's size reads
// the same in a chip, a history export, a model list and a download.
package units

import "fmt"

// Bytes formats n in decimal units, as download sites and file managers
// do: "999 B", "1.5 kB", "120 kB", "2.1 MB", "1.9 GB". Below ten units it
// keeps one decimal; a value that would round to 1000 moves up a unit.
func Bytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", max(n, 0))
	}
	v := float64(n)
	for _, unit := range []string{"kB", "MB", "GB", "TB"} {
		v /= 1000
		if v < 999.5 || unit == "TB" {
			if v < 9.95 {
				return fmt.Sprintf("%.1f %s", v, unit)
			}
			return fmt.Sprintf("%.0f %s", v, unit)
		}
	}
	return "" // not reached: TB takes every remaining value
}
