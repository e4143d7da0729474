//go:build race

package ring

// raceEnabled lets heavy tests shrink their counts under the race detector,
// which slows every memory access several times.
const raceEnabled = true
