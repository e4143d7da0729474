package sim

import (
	"time"

	"github.com/accelq/accelq/ring"
)

// fetchBatch is how many SQEs the front end takes from a queue of weight 1 in
// one round: one copy out of the ring and one head update for all of them, as
// hardware fetches a burst of descriptors with one DMA read.
const fetchBatch = 32

// inlineBytes is the largest symmetric job the loop computes itself: a small
// job costs less to compute than to hand to a worker (a channel send and a
// goroutine wake-up, about a microsecond here).
const inlineBytes = 4096

// fetch gives each active queue up to its weight in bursts of fetches,
// starting from a rotating position so no queue is always first.
func (d *Device) fetch(now time.Duration) bool {
	n := len(d.queues)
	any := false
	for i := 0; i < n; i++ {
		q := d.queues[(d.rr+i)%n]
		if q.state == queueActive && d.fetchQueue(q, now, q.weight*fetchBatch) {
			any = true
		}
	}
	if n > 0 {
		d.rr = (d.rr + 1) % n
	}
	return any
}

// fetchQueue takes up to budget SQEs from q, as many as q has room for, and
// reports whether it took any.
func (d *Device) fetchQueue(q *queue, now time.Duration, budget int) bool {
	any := false
	for budget > 0 {
		n := d.fetchBurst(q, now, min(budget, fetchBatch))
		if n == 0 {
			break
		}
		any = true
		budget -= n
	}
	return any
}

// fetchBurst takes up to max SQEs from q with one copy out of the ring, as
// many as q has room for: every job in flight owns a CQ slot, so a completion
// never finds the CQ full.
func (d *Device) fetchBurst(q *queue, now time.Duration, max int) int {
	room := min(max, q.limit-q.inflight, maxInFlight-d.inflight)
	if room <= 0 || q.state != queueActive {
		return 0
	}
	if tr := q.tenant.room(); tr < room {
		if room = tr; room <= 0 {
			// The tenant's other queues hold its every job in flight: what
			// waits in this SQ stays there, and the client can see why.
			if !q.throttled && q.sq.Pending() {
				q.throttled = true
				q.throttles++
			}
			return 0
		}
	}
	free, err := q.cq.Free()
	if err != nil {
		q.broken(err)
		return 0
	}
	// Completions staged this round but not yet written hold slots too.
	if room = min(room, free-q.inflight-q.staged); room <= 0 {
		return 0
	}
	n, err := q.sq.Peek(q.sqeBuf[:room*ring.SQESize])
	if err != nil {
		q.broken(err)
		return 0
	}
	if n == 0 {
		return 0
	}
	// The rings' indices keep two promises to a client that compares them:
	// no more jobs accepted and not completed than the queue's limit, so the
	// completions of earlier jobs are written before the entries they made
	// room for are consumed (here); and a completion means its entry's slot
	// is free again, so this burst's own completions are written only after
	// the head moves past its entries (at the next burst, or the round's end).
	d.flushStage(q)
	if q.state != queueActive {
		return 0 // writing the completions found the CQ corrupt
	}
	taken := 0
	for ; taken < n; taken++ {
		j := d.newJob(q)
		decodeErr := j.sqe.Decode(q.sqeBuf[taken*ring.SQESize:])
		if decodeErr == nil && j.sqe.Flags&ring.SQEFence != 0 && q.inflight > 0 {
			d.free = append(d.free, j)
			break // not consumed: fetched again once the queue drains
		}
		q.inflight++
		q.tenant.inflight++
		d.inflight++
		q.submitted++
		d.start(j, now, decodeErr)
	}
	if taken > 0 {
		q.sq.Advance(taken)
		q.throttled = false
	}
	if taken < n {
		return 0 // a fence: nothing more from this queue this round
	}
	return taken
}

// start validates a fetched job and sends it on its way: to its CQE at once
// if it is refused, else to the model, through the engine stage when its class
// has engines.
func (d *Device) start(j *job, now time.Duration, decodeErr error) {
	j.fetched, j.deadline = now, now
	if decodeErr != nil {
		d.fail(j, ring.StatusInvalid, now)
		return
	}
	if st := d.prepare(j); st != ring.StatusOK {
		d.fail(j, st, now)
		return
	}
	if d.gated(j.class) {
		d.toEngine(j, now)
		return
	}
	d.admit(j, now)
}

// admit schedules j on the model and sends it on: to its CQE at once, to the
// deadline heap, or to be computed, inline or by a worker.
func (d *Device) admit(j *job, now time.Duration) {
	if f := &d.faults; d.faulty && f.StallRate > 0 && d.rng.Float64() < f.StallRate {
		d.model.Stall(now, j.class, f.Stall)
	}
	j.deadline, j.busy = d.model.Schedule(now, modelJob(j))
	if d.injectFault(j, now) {
		return
	}
	if d.cfg.timingOnly || j.sqe.Opcode == ring.OpNop {
		if d.cfg.timingOnly {
			j.cqeFlags |= ring.CQETimingOnly
		}
		d.settle(j, now)
		return
	}
	j.compute = true
	if j.class == ring.ClassSymmetric && len(j.src) <= inlineBytes {
		d.run(j)
		d.settle(j, now)
		return
	}
	d.toHost(j, now)
}

func keyBits(j *job) int {
	if j.key == nil || j.class != ring.ClassAsymmetric {
		return 0
	}
	return j.key.Bits()
}

// fail completes a job that will not run, with status st, at once.
func (d *Device) fail(j *job, st ring.Status, now time.Duration) {
	j.res.Status = st
	d.settle(j, now)
}

func (d *Device) newJob(q *queue) *job {
	var j *job
	if n := len(d.free); n > 0 {
		j = d.free[n-1]
		d.free = d.free[:n-1]
	} else {
		j = new(job)
	}
	j.q = q
	j.gen = d.gen.Load()
	return j
}
