package spin

import "testing"

func TestPause(t *testing.T) {
	for _, n := range []int{-1, 0, 1, 30} {
		Pause(n) // returns, whatever n
	}
}

func BenchmarkPause(b *testing.B) {
	for range b.N {
		Pause(1)
	}
}
