package testutil

import "fmt"

// SizeName names a byte count the way benchmark names show sizes: 64B, 4KiB,
// 1MiB, the largest binary unit that divides it.
func SizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
