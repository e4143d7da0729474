package sim

import (
	"container/heap"
	"runtime"
	"time"

	"github.com/accelq/accelq/internal/op"
	"github.com/accelq/accelq/ring"
)

// timerSlack is how far ahead of a deadline the loop stops sleeping and spins:
// Linux wakes a sleeping thread up to 50 us late by default, and the host cannot
// hold microsecond deadlines through Go timers.
const timerSlack = 60 * time.Microsecond

// loop is the device's front end: control requests, completions, fetches.
func (d *Device) loop() {
	defer close(d.loopDone)
	idle := 0
	for !d.exiting {
		if d.iterate() {
			idle = 0
			continue
		}
		idle++
		if idle%16 == 0 {
			runtime.Gosched()
		}
		if idle < d.cfg.spin {
			continue
		}
		if d.waiting.Len() > 0 && d.waiting[0].deadline-d.clock.Now() < timerSlack {
			continue
		}
		d.sleep()
		idle = 0
	}
}

// iterate does one round of work and reports whether there was any.
func (d *Device) iterate() bool {
	d.inboxMu.Lock()
	done, ctl := d.inboxDone, d.inboxCtl
	d.inboxDone, d.inboxCtl = d.spareJob[:0], d.spareCtl[:0]
	d.inboxMu.Unlock()
	busy := len(done) > 0 || len(ctl) > 0
	for i, f := range ctl {
		f()
		ctl[i] = nil
	}
	now := d.clock.Now()
	for i, j := range done {
		done[i] = nil
		if j.flushed || j.deadline <= now || j.q.state == queueClosing {
			d.complete(j)
		} else {
			heap.Push(&d.waiting, j)
		}
	}
	d.spareJob, d.spareCtl = done[:0], ctl[:0]
	for d.waiting.Len() > 0 && d.waiting[0].deadline <= now {
		d.complete(heap.Pop(&d.waiting).(*job))
		busy = true
	}
	if d.fetch(now) {
		busy = true
	}
	for i, q := range d.touched {
		q.cq.Wake()
		q.touched = false
		d.touched[i] = nil
	}
	d.touched = d.touched[:0]
	return busy
}

// fetch gives each active queue up to its weight in fetches, starting from a
// rotating position so no queue is always first.
func (d *Device) fetch(now time.Duration) bool {
	n := len(d.queues)
	any := false
	for i := 0; i < n; i++ {
		q := d.queues[(d.rr+i)%n]
		for k := 0; k < q.weight && q.state == queueActive; k++ {
			if !d.fetchOne(q, now) {
				break
			}
			any = true
		}
	}
	if n > 0 {
		d.rr = (d.rr + 1) % n
	}
	return any
}

// fetchOne takes one SQE from q if q has room for its completion.
func (d *Device) fetchOne(q *queue, now time.Duration) bool {
	if q.inflight >= q.limit || d.inflight >= maxInFlight {
		return false
	}
	// Every job in flight owns a CQ slot, so a completion never finds the CQ full.
	free, err := q.cq.Free()
	if err != nil {
		q.broken(err)
		return false
	}
	if free <= q.inflight {
		return false
	}
	n, err := q.sq.Peek(q.sqeBuf[:])
	if err != nil {
		q.broken(err)
		return false
	}
	if n == 0 {
		return false
	}
	j := d.newJob(q)
	decodeErr := j.sqe.Decode(q.sqeBuf[:])
	if decodeErr == nil && j.sqe.Flags&ring.SQEFence != 0 && q.inflight > 0 {
		d.free = append(d.free, j)
		return false // not consumed: fetched again once the queue drains
	}
	q.sq.Advance(1)
	q.inflight++
	d.inflight++
	j.fetched = now
	j.deadline = now
	q.stats.submitted++
	if decodeErr != nil {
		d.finish(j, ring.StatusInvalid)
		return true
	}
	if st := d.prepare(j); st != ring.StatusOK {
		d.finish(j, st)
		return true
	}
	if f := &d.faults; f.StallRate > 0 && d.rng.Float64() < f.StallRate {
		d.model.Stall(now, j.class, f.Stall)
	}
	done, busy := d.model.Schedule(now, Job{Op: j.sqe.Opcode, KeyBits: keyBits(j), Bytes: len(j.src)})
	j.deadline, j.busy = done, busy
	if d.injectFault(j) {
		return true
	}
	if d.cfg.timingOnly || j.sqe.Opcode == ring.OpNop {
		if d.cfg.timingOnly {
			j.cqeFlags |= ring.CQETimingOnly
		}
		d.pushWaiting(j)
		return true
	}
	j.compute = true
	if j.class == ring.ClassSymmetric && len(j.src) <= inlineBytes {
		// A small symmetric job costs less to compute than to hand to a worker
		// (a channel send and a goroutine wake-up, about a microsecond here).
		d.run(j)
		if j.computed <= j.deadline {
			d.pushWaiting(j)
		} else {
			d.complete(j)
		}
		return true
	}
	d.work <- j
	return true
}

// inlineBytes is the largest symmetric job the loop computes itself.
const inlineBytes = 4096

func keyBits(j *job) int {
	if j.key == nil || j.class != ring.ClassAsymmetric {
		return 0
	}
	return j.key.Bits()
}

// finish completes a job that will not run, at the next completion pass.
func (d *Device) finish(j *job, st ring.Status) {
	j.res = op.Result{Status: st}
	d.pushWaiting(j)
}

func (d *Device) pushWaiting(j *job) { heap.Push(&d.waiting, j) }

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

// complete posts j's CQE and recycles j.
func (d *Device) complete(j *job) {
	q := j.q
	if j.compute && !j.flushed && j.computed > j.deadline {
		j.cqeFlags |= ring.CQEHostLimited
	}
	var cqe ring.CQE
	cqe.UserData = j.sqe.UserData
	cqe.Status = j.res.Status
	cqe.Flags = j.cqeFlags
	if j.res.Status == ring.StatusOK {
		cqe.Result = uint32(j.res.N)
		cqe.Aux = j.res.Aux
	}
	if j.res.Status == ring.StatusDeviceError {
		cqe.DevErr = devErrEngine
	}
	// Release the job's memory and key before the CQE is visible: a client that
	// has seen its completion may unregister the buffer or destroy the key at
	// once and must find them free, and their quota given back.
	d.account(j)
	j.unpin()
	if q.state != queueBroken {
		if n, err := q.cq.Reserve(1); err != nil {
			q.broken(err)
		} else if n == 1 {
			cqe.Encode(q.cq.Entry(0))
			q.cq.Commit(1)
			if !q.touched {
				q.touched = true
				d.touched = append(d.touched, q)
			}
		} else {
			q.lost++ // the client moved its CQ head to make the ring look full
		}
	}
	q.inflight--
	d.inflight--
	*j = job{}
	d.free = append(d.free, j)
	if q.state == queueClosing && q.inflight == 0 {
		d.remove(q)
	}
}

// sleep arms every queue's NEED_WAKEUP flag and sleeps on the poller until a
// client rings its queue's doorbell, a worker finishes, a control request
// arrives or the next deadline nears.
func (d *Device) sleep() {
	for _, q := range d.queues {
		if q.state != queueActive {
			continue
		}
		empty, err := q.sq.Arm()
		if err != nil {
			q.broken(err)
			continue
		}
		if !empty {
			d.disarm()
			return
		}
	}
	d.sleeping.Store(true)
	d.inboxMu.Lock()
	pending := len(d.inboxDone) + len(d.inboxCtl)
	d.inboxMu.Unlock()
	if pending == 0 {
		timeout := d.cfg.maxSleep
		if d.waiting.Len() > 0 {
			timeout = min(timeout, max(d.waiting[0].deadline-d.clock.Now()-timerSlack, 0))
			if _, manual := d.clock.(*ManualClock); manual {
				// Model time does not pass while we sleep: poll for the test to move it.
				timeout = 100 * time.Microsecond
			}
		}
		if timeout > 0 {
			d.poll.Wait(timeout)
		}
	}
	d.sleeping.Store(false)
	d.disarm()
}

func (d *Device) disarm() {
	for _, q := range d.queues {
		if q.state == queueActive {
			q.sq.Disarm()
		}
	}
}
