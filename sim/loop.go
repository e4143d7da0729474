package sim

import (
	"runtime"
	"time"

	"github.com/accelq/accelq/internal/spin"
)

// timerSlack is how far ahead of a deadline the loop stops sleeping and spins:
// Linux wakes a sleeping thread up to 50 us late by default (its timer slack),
// a virtual CPU that halted takes tens of microseconds more to run again, and
// Go timers cannot hold microsecond deadlines at all. At 60 us a quarter of
// the completions of a device modelled at 200-300 us per job were posted late
// (BenchmarkFidelity, kunpeng920 and qat-gen2 asymmetric cells, at 0.6-0.9 of
// the model); at 150 us they reach 0.97-0.99.
const timerSlack = 150 * time.Microsecond

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
// modelled completion is due within timerSlack. While jobs compute on the
// workers and no P is left over for polling, it sleeps at once instead: the
// CPU is the computation's, and the worker that finishes wakes the loop.
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
		if d.computing >= d.spare && !d.deadlineNear() {
			d.sleep()
			idle = 0
			continue
		}
		if idle%64 != 0 {
			spin.Pause(1) // leave a hyperthread sibling the core
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
		if d.deadlineNear() {
			continue
		}
		d.sleep()
		idle = 0
	}
}

// deadlineNear reports whether a modelled completion, or an engine for a
// waiting job, is due too soon to sleep.
func (d *Device) deadlineNear() bool {
	at, ok := d.nextEvent()
	return ok && at-d.clock.Now() < timerSlack
}

// nextEvent returns when the loop next has work that time alone brings: a
// modelled completion falling due, or an engine coming free for a job that
// waits for one.
func (d *Device) nextEvent() (time.Duration, bool) {
	at, ok := d.nextAdmit()
	if d.waiting.Len() > 0 && (!ok || d.waiting.next() < at) {
		at, ok = d.waiting.next(), true
	}
	return at, ok
}

// iterate does one round of work at time now and reports whether there was any.
func (d *Device) iterate(now time.Duration) bool {
	busy := false
	if d.inboxN.Load() > 0 {
		d.takeInbox(now)
		busy = true
	}
	for d.waiting.Len() > 0 && d.waiting.next() <= now {
		d.complete(d.waiting.pop(), now)
		busy = true
	}
	if d.fetch(now) {
		busy = true
	}
	if d.admitWaiting(now) {
		busy = true
	}
	if d.computing < d.cfg.workers {
		d.dispatchWaiting(now)
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
		d.computed(j)
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
	d.waiting.push(j)
}
