package sim

import (
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/op"
	"github.com/accelq/accelq/ring"
)

// job is one accepted SQE on its way to a CQE. Jobs are recycled through the
// device's free list, so the steady-state data path does not allocate.
type job struct {
	q        *queue
	sqe      ring.SQE
	gen      uint64        // device generation at fetch; a reset bumps the device's
	class    ring.Class    // engine class
	key      *device.Key   // resolved key, pinned
	src      []byte        // what the engine reads
	aux      []byte        // what the engine reads
	dst      []byte        // what the engine writes
	copied   bool          // copy mode: compute on private copies (see runCopied)
	pins     [4]device.Pin // released before the CQE is posted
	npin     int
	fetched  time.Duration // when the descriptor was fetched
	deadline time.Duration // when the model lets the completion be seen
	computed time.Duration // when the host finished computing
	busy     time.Duration // modelled engine time
	res      op.Result
	cqeFlags ring.CQEFlag
	compute  bool // the job must run on a worker
	flushed  bool // completed without running
	index    int  // position in the deadline heap
}

func (j *job) pin(p device.Pin) {
	if p != nil {
		j.pins[j.npin] = p
		j.npin++
	}
}

func (j *job) unpin() {
	for i := 0; i < j.npin; i++ {
		j.pins[i].Unpin()
		j.pins[i] = nil
	}
	j.npin = 0
}

// prepare validates the job and resolves its key and buffers through the
// queue's address space. Anything but StatusOK completes the job without running
// it. The order of checks fixes which status a descriptor with several faults
// gets: opcode, device support, queue class, policy, key, buffers, overlap.
func (d *Device) prepare(j *job) ring.Status {
	q, s := j.q, &j.sqe
	class, ok := s.Opcode.Class()
	if !ok || !op.Implemented(s.Opcode) {
		return ring.StatusInvalid
	}
	j.class = class
	if !d.supported[s.Opcode] {
		return ring.StatusUnsupported
	}
	if class != ring.ClassNone && q.classes&(1<<class) == 0 {
		return ring.StatusNotPermitted
	}
	if !q.space.Allowed(s.Opcode) {
		return ring.StatusNotPermitted
	}
	if op.NeedsKey(s.Opcode) {
		if s.Key == 0 {
			return ring.StatusNotPermitted
		}
		k, p, st := q.space.Key(s.Key)
		if st != ring.StatusOK {
			return st
		}
		j.pin(p)
		if !k.Allows(s.Opcode) {
			return ring.StatusNotPermitted
		}
		j.key = k
	} else if s.Key != 0 {
		return ring.StatusInvalid
	}
	var st ring.Status
	var p device.Pin
	if j.src, p, st = q.space.Translate(s.Src, device.AccessRead); st != ring.StatusOK {
		return st
	}
	j.pin(p)
	if j.aux, p, st = q.space.Translate(s.Aux, device.AccessRead); st != ring.StatusOK {
		return st
	}
	j.pin(p)
	if j.dst, p, st = q.space.Translate(s.Dst, device.AccessWrite); st != ring.StatusOK {
		return st
	}
	j.pin(p)
	if op.BuffersAlias(s.Flags, j.src, j.aux, j.dst) {
		return ring.StatusBadAddress
	}
	j.copied = q.copyMode && class != ring.ClassNone
	return ring.StatusOK
}

// deadlineHeap orders jobs waiting for their modelled completion time.
type deadlineHeap []*job

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, k int) bool { return h[i].deadline < h[k].deadline }
func (h deadlineHeap) Swap(i, k int) {
	h[i], h[k] = h[k], h[i]
	h[i].index, h[k].index = i, k
}
func (h *deadlineHeap) Push(x any) {
	j := x.(*job)
	j.index = len(*h)
	*h = append(*h, j)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return j
}
