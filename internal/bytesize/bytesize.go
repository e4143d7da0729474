// Package bytesize prints byte counts the way accelq's benchmarks and reports
// name sizes: 64B, 4KiB, 1MiB.
package bytesize

import "fmt"

// Name prints n in the largest binary unit that divides it.
func Name(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
