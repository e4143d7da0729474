package sim

import (
	"container/heap"
	"runtime"
	"time"
)

// timerSlack is how far ahead of a deadline the loop stops sleeping and spins:
// Linux wakes a sleeping thread up to 50 us late by default, and the host cannot
// hold microsecond deadlines through Go timers.
const timerSlack = 60 * time.Microsecond

// lateSlack is how far past its deadline a completion may be posted before it
// counts as late: a few iterations of a busy loop. Later than that, the host
// (a computation, or the front end itself) set the completion's time, not the
// model, and the CQE says so.
const lateSlack = 20 * time.Microsecond

// loop is the device's front end: control requests, completions, fetches.
//
// While there is work it never sleeps. With none it polls for a while
// (Option WithSpin; a client that submits again within that time pays no
// wake-up), yielding its P now and then so that on a small host the
// goroutines it serves can run, and then sleeps on its poller unless a
// modelled completion is due within timerSlack.
func (d *Device) loop() {
	defer close(d.loopDone)
	idle := 0
	var idleSince time.Time
	for !d.exiting {
		t0 := d.clock.Now()
		if d.iterate(t0) {
			idle = 0
			d.busyTime += d.clock.Now() - t0
			continue
		}
		idle++
		if idle%64 != 0 {
			continue
		}
		// Every 64th empty round: yield, and see how long the loop has idled.
		runtime.Gosched()
		if idle == 64 {
			idleSince = time.Now()
			continue
		}
		if time.Since(idleSince) < d.cfg.spin {
			continue
		}
		if d.waiting.Len() > 0 && d.waiting[0].deadline-d.clock.Now() < timerSlack {
			continue
		}
		d.sleep()
		idle = 0
	}
}

// iterate does one round of work at time now and reports whether there was any.
func (d *Device) iterate(now time.Duration) bool {
	busy := false
	if d.inboxN.Load() > 0 {
		d.takeInbox(now)
		busy = true
	}
	for d.waiting.Len() > 0 && d.waiting[0].deadline <= now {
		d.complete(heap.Pop(&d.waiting).(*job), now)
		busy = true
	}
	if d.fetch(now) {
		busy = true
	}
	d.publish()
	return busy
}

// takeInbox runs the control requests and settles the computed jobs that
// arrived since the last round.
func (d *Device) takeInbox(now time.Duration) {
	d.inboxMu.Lock()
	done, ctl := d.inboxDone, d.inboxCtl
	d.inboxDone, d.inboxCtl = d.spareJob[:0], d.spareCtl[:0]
	d.inboxN.Store(0)
	d.inboxMu.Unlock()
	for i, f := range ctl {
		f()
		ctl[i] = nil
	}
	for i, j := range done {
		done[i] = nil
		d.settle(j, now)
	}
	d.spareJob, d.spareCtl = done[:0], ctl[:0]
}

// settle is the one place that decides a job's route to its CQE: complete now
// if it is due (or flushed, or its queue is closing), else wait on the
// deadline heap for the model's time.
func (d *Device) settle(j *job, now time.Duration) {
	if j.flushed || j.deadline <= now || j.q.state == queueClosing {
		d.complete(j, now)
		return
	}
	heap.Push(&d.waiting, j)
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
	if d.inboxN.Load() == 0 {
		timeout := d.cfg.maxSleep
		if d.waiting.Len() > 0 {
			timeout = min(timeout, max(d.waiting[0].deadline-d.clock.Now()-timerSlack, 0))
			if _, manual := d.clock.(*ManualClock); manual {
				// Model time does not pass while we sleep: poll for the test to move it.
				timeout = 100 * time.Microsecond
			}
		}
		if timeout > 0 {
			d.sleeps++
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
