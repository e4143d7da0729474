package sim

import "time"

// deadlineHeap holds the jobs waiting for their modelled completion time, the
// earliest first: a 4-ary min-heap on the deadline, typed, since the front
// end pushes and pops one per job that the model delays. Jobs of one
// operation mostly arrive in deadline order, so a push rarely moves.
type deadlineHeap []*job

// Len returns the number of waiting jobs.
func (h deadlineHeap) Len() int { return len(h) }

// next returns the earliest deadline; the heap must not be empty.
func (h deadlineHeap) next() time.Duration { return h[0].deadline }

// push adds j.
func (h *deadlineHeap) push(j *job) {
	s := append(*h, j)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 4
		if s[p].deadline <= j.deadline {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = j
	*h = s
}

// pop removes and returns the job with the earliest deadline.
func (h *deadlineHeap) pop() *job {
	s := *h
	top := s[0]
	last := s[len(s)-1]
	s[len(s)-1] = nil
	s = s[:len(s)-1]
	*h = s
	if len(s) > 0 {
		h.siftDown(0, last)
	}
	return top
}

// siftDown puts j at position i or below, moving smaller children up.
func (h deadlineHeap) siftDown(i int, j *job) {
	n := len(h)
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < c+4 && k < n; k++ {
			if h[k].deadline < h[m].deadline {
				m = k
			}
		}
		if h[m].deadline >= j.deadline {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = j
}

// init restores the heap order after the slice was rearranged.
func (h deadlineHeap) init() {
	if len(h) < 2 {
		return
	}
	for i := (len(h) - 2) / 4; i >= 0; i-- {
		h.siftDown(i, h[i])
	}
}
