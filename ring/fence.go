//go:build !race

package ring

// fence orders the producer's tail store before its load of the flags word.
// Without the race detector nothing is needed: Go's atomic store is
// sequentially consistent (XCHG on amd64, STLR against LDAR on arm64).
func fence() {}
