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
	late     time.Duration // how much later than deadline the host let the completion be seen
	res      op.Result
	cqeFlags ring.CQEFlag
	hostTime time.Duration // how long a worker took to compute it
	est      time.Duration // the host time its queue was charged when it went to a worker
	next     *job          // the next job in its lane, while it waits at a stage
	compute  bool          // the job must run on a worker
	flushed  bool          // completed without running
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
	oi := &d.ops[s.Opcode]
	if !oi.known {
		return ring.StatusInvalid
	}
	j.class = oi.class
	if !oi.supported {
		return ring.StatusUnsupported
	}
	if oi.class != ring.ClassNone && q.classes&(1<<oi.class) == 0 {
		return ring.StatusNotPermitted
	}
	if !q.space.Allowed(s.Opcode) {
		return ring.StatusNotPermitted
	}
	if oi.needsKey {
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
	if s.Src == (ring.BufRef{}) && s.Aux == (ring.BufRef{}) && s.Dst == (ring.BufRef{}) {
		return ring.StatusOK // no buffers (a nop): nothing to translate or overlap
	}
	var st ring.Status
	if j.src, st = j.translate(q.space, s.Src, device.AccessRead); st != ring.StatusOK {
		return st
	}
	if j.aux, st = j.translate(q.space, s.Aux, device.AccessRead); st != ring.StatusOK {
		return st
	}
	if j.dst, st = j.translate(q.space, s.Dst, device.AccessWrite); st != ring.StatusOK {
		return st
	}
	if op.BuffersAlias(s.Flags, j.src, j.aux, j.dst) {
		return ring.StatusBadAddress
	}
	j.copied = q.copyMode && oi.class != ring.ClassNone
	return ring.StatusOK
}

// opInfo is what validation needs to know of an opcode, looked up once per
// job rather than asked of three packages.
type opInfo struct {
	known     bool       // a defined opcode that accelq implements
	supported bool       // this device offers it
	needsKey  bool       // it takes a key handle
	class     ring.Class // its engine class
}

// translate resolves one buffer reference through the address space and pins
// it. An absent buffer (region 0) is decided here, without a call through the
// interface: the driver would refuse region 0 with a non-zero offset or length
// the same way.
func (j *job) translate(sp device.AddressSpace, ref ring.BufRef, a device.Access) ([]byte, ring.Status) {
	if ref.Region == 0 {
		if ref.Off != 0 || ref.Len != 0 {
			return nil, ring.StatusBadAddress
		}
		return nil, ring.StatusOK
	}
	b, p, st := sp.Translate(ref, a)
	if st == ring.StatusOK {
		j.pin(p)
	}
	return b, st
}
