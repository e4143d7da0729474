package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestDeadlineHeapOrder: whatever the order of pushes, pops come out earliest
// deadline first, interleaved with pushes, and after a filter and init.
func TestDeadlineHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		var h deadlineHeap
		var want []time.Duration
		for i := 0; i < rng.IntN(300); i++ {
			if len(want) > 0 && rng.IntN(3) == 0 {
				slices.Sort(want)
				got := h.pop().deadline
				if got != want[0] {
					t.Fatalf("round %d: popped %v, want %v", round, got, want[0])
				}
				want = want[1:]
				continue
			}
			d := time.Duration(rng.IntN(1000))
			h.push(&job{deadline: d})
			want = append(want, d)
		}
		// Drop the odd deadlines, as completeWaiting drops a queue's jobs.
		keep := h[:0]
		for _, j := range h {
			if j.deadline%2 == 0 {
				keep = append(keep, j)
			}
		}
		h = keep
		h.init()
		want = slices.DeleteFunc(want, func(d time.Duration) bool { return d%2 != 0 })
		slices.Sort(want)
		for i, w := range want {
			if h.Len() == 0 || h.next() != w {
				t.Fatalf("round %d: after init, pop %d: want %v", round, i, w)
			}
			h.pop()
		}
		if h.Len() != 0 {
			t.Fatalf("round %d: %d left", round, h.Len())
		}
	}
}
