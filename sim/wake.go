package sim

import (
	"fmt"
	"time"

	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// How the front end sleeps, and how it is woken.
//
// Two kinds of waker reach a sleeping device. Goroutines of this process (a
// worker with a computed job, a control request, an embedded client's
// doorbell through Kick) and clients in other processes, which ring their
// queue's doorbell eventfd. A goroutine woken through a channel by another
// goroutine of the process runs on the waker's P as soon as the waker blocks,
// with no system call and no thread woken; one woken through a descriptor is
// found by the runtime's poller, which takes a thread's wake-up. So the loop
// sleeps two ways:
//
//   - A long sleep, with nothing due within preciseBelow: the loop waits on
//     the wake channel, which in-process wakers send on, and a watcher
//     goroutine parked in the runtime's poller on every doorbell sends on it
//     too. Neither holds a P while it waits.
//   - A precise sleep, until a modelled completion falls due less than
//     preciseBelow from now: the runtime's timers and poller keep time in
//     milliseconds, so the loop sleeps in ppoll on an epoll set of every
//     doorbell and the bell eventfd, which in-process wakers then write.
//
// Wakers look at sleeping after publishing their work (inboxN, a ring's
// tail), and the loop sets it before its last look at that work, so one of
// the two always sees the other.

const (
	awake        int32 = iota
	sleepPrecise       // in ppoll: ring the bell
	sleepLong          // on the wake channel: send on it
)

// preciseBelow is the longest sleep timed by the kernel rather than by the
// runtime, which rounds anything under a millisecond up to one.
const preciseBelow = 2 * time.Millisecond

func (d *Device) openWakeups() error {
	var err error
	if d.bell, err = ring.NewEventNotifier(); err != nil {
		return fmt.Errorf("sim: wake-up eventfd: %w", err)
	}
	if d.poll, err = unix.NewPoller(); err == nil {
		err = d.poll.Add(d.bell.FD())
	}
	if err == nil {
		d.watch, err = unix.NewPoller()
	}
	if err != nil {
		d.closeWakeups()
		return fmt.Errorf("sim: %w", err)
	}
	d.watching.Add(1)
	go d.watchDoorbells()
	return nil
}

func (d *Device) closeWakeups() error {
	if d.watch != nil {
		d.watch.Close() // wakes the watcher, which then exits
		d.watching.Wait()
	}
	if d.poll != nil {
		d.poll.Close()
	}
	if d.bell != nil {
		return d.bell.Close()
	}
	return nil
}

// watchDoorbells turns doorbell rings into sends on the wake channel, parked
// in the runtime's poller between them. A ring while the loop is awake leaves
// a send pending, and the loop's next long sleep ends at once: a spurious
// wake-up, never a lost one.
func (d *Device) watchDoorbells() {
	defer d.watching.Done()
	for {
		if err := d.watch.Wait(-1); err != nil {
			return // closed
		}
		d.wake.Notify()
	}
}

// addDoorbell and removeDoorbell add a queue's doorbell to both sleeps' sets,
// and take it out of both before the queue closes it.
func (d *Device) addDoorbell(fd int) error {
	if err := d.poll.Add(fd); err != nil {
		return err
	}
	if err := d.watch.Add(fd); err != nil {
		d.poll.Remove(fd)
		return err
	}
	return nil
}

func (d *Device) removeDoorbell(fd int) {
	d.poll.Remove(fd)
	d.watch.Remove(fd)
}

// kick wakes the loop if it is asleep.
func (d *Device) kick() {
	switch d.sleeping.Load() {
	case sleepPrecise:
		d.bell.Notify()
	case sleepLong:
		d.wake.Notify()
	}
}

// Kick wakes the device's front end if it sleeps, without a system call when
// the front end sleeps long: the doorbell of a client in this process. It
// implements device.Kicker.
func (q *queue) Kick() { q.dev.kick() }

// sleep arms every queue's NEED_WAKEUP flag and sleeps until a client rings
// its queue's doorbell, a worker finishes, a control request arrives or the
// next deadline nears.
func (d *Device) sleep() {
	timeout := d.cfg.maxSleep
	if at, ok := d.nextEvent(); ok {
		timeout = min(timeout, max(at-d.clock.Now()-timerSlack, 0))
		if _, manual := d.clock.(*ManualClock); manual {
			// Model time does not pass while we sleep: poll for the test to move it.
			timeout = 100 * time.Microsecond
		}
	}
	mode := sleepLong
	if timeout < preciseBelow {
		mode = sleepPrecise
	}
	// Published before the SQs are armed: a client that sees NEED_WAKEUP
	// kicks, and its kick must find the loop's mode, not awake, or it does
	// nothing. A kick that lands before the loop sleeps leaves a token on
	// the wake channel or an edge on the bell, and the sleep ends at once.
	d.sleeping.Store(mode)
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
			d.sleeping.Store(awake)
			d.disarm()
			return
		}
	}
	if testHookArmed != nil {
		testHookArmed()
	}
	if d.inboxN.Load() == 0 && timeout > 0 {
		d.sleeps++
		if mode == sleepPrecise {
			d.poll.Wait(timeout)
		} else {
			d.wake.Wait(nil, timeout)
		}
	}
	d.sleeping.Store(awake)
	d.disarm()
}

// testHookArmed, if set, runs between arming the SQs and sleeping: tests
// widen that window.
var testHookArmed func()

func (d *Device) disarm() {
	for _, q := range d.queues {
		if q.state == queueActive {
			q.sq.Disarm()
		}
	}
}
