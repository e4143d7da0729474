package ring

import (
	"sync/atomic"
	"time"

	"github.com/accelq/accelq/internal/unix"
)

// Notifier carries wake-ups from a producer to a sleeping consumer. Both sides of
// a ring must use the same kind.
type Notifier interface {
	// Notify wakes the consumer. The producer calls it only after clearing
	// FlagNeedWakeup.
	Notify() error
	// Wait sleeps until notified or until timeout passes (forever if negative).
	// flags is the ring's flags word; a futex waits on it directly, other
	// notifiers may ignore it. Spurious returns are allowed.
	Wait(flags *uint32, timeout time.Duration) error
}

// futexNotifier sleeps on the ring's own flags word, so a ring needs no file
// descriptor to sleep. The word is shared, so the futex is not process-private.
type futexNotifier struct{ flags *uint32 }

func (f futexNotifier) Notify() error { return unix.FutexWake(f.flags, 1) }

func (f futexNotifier) Wait(flags *uint32, timeout time.Duration) error {
	v := atomic.LoadUint32(flags)
	if v&FlagNeedWakeup == 0 {
		return nil // already woken
	}
	// The kernel sleeps only while the word still holds v: a producer that
	// cleared the flag in between makes this return at once.
	return unix.FutexWait(flags, v, timeout)
}

// EventNotifier wakes through an eventfd, which poll(2) and epoll can watch: a
// device sleeps on the doorbells of all its queues at once.
type EventNotifier struct{ efd *unix.EventFD }

// NewEventNotifier creates an eventfd notifier.
func NewEventNotifier() (*EventNotifier, error) {
	e, err := unix.NewEventFD()
	if err != nil {
		return nil, err
	}
	return &EventNotifier{e}, nil
}

// EventNotifierFromFD wraps an eventfd received from another process, taking
// ownership of fd.
func EventNotifierFromFD(fd int) (*EventNotifier, error) {
	e, err := unix.EventFDFrom(fd)
	if err != nil {
		return nil, err
	}
	return &EventNotifier{e}, nil
}

// FD returns the eventfd, to pass to the other process.
func (e *EventNotifier) FD() int { return e.efd.FD() }

// Dup returns a notifier on a second descriptor for the same eventfd, which
// the caller owns and closes independently of e: how an in-process client holds
// a doorbell whose owner may close its own descriptor first.
func (e *EventNotifier) Dup() (*EventNotifier, error) {
	d, err := e.efd.Dup()
	if err != nil {
		return nil, err
	}
	return &EventNotifier{d}, nil
}

// Close releases the eventfd.
func (e *EventNotifier) Close() error { return e.efd.Close() }

// Notify signals the eventfd.
func (e *EventNotifier) Notify() error { return e.efd.Signal() }

// Wait sleeps on the eventfd; flags is not used.
func (e *EventNotifier) Wait(flags *uint32, timeout time.Duration) error {
	return e.efd.Wait(timeout)
}

// LocalNotifier wakes a consumer in the producer's own process through a Go
// channel: no system call, and when the waker is about to block (a device
// loop going idle), no thread wake-up either, since the runtime runs the
// woken goroutine on the waker's P. It is for rings whose two sides share a
// process, such as an embedded device's completion ring; across processes use
// the futex default or an EventNotifier.
type LocalNotifier struct {
	ch    chan struct{}
	timer *time.Timer // the consumer's, reused: a ring has one consumer
}

// NewLocalNotifier returns a notifier for a consumer in this process.
func NewLocalNotifier() *LocalNotifier { return &LocalNotifier{ch: make(chan struct{}, 1)} }

// Notify wakes the consumer, or the next Wait if none waits; wake-ups merge.
func (n *LocalNotifier) Notify() error {
	select {
	case n.ch <- struct{}{}:
	default:
	}
	return nil
}

// Wait sleeps until notified or until timeout passes (forever if negative);
// flags is not used. A timeout is kept by the runtime's timers, to about a
// millisecond. Like the consumer it serves, it is for one goroutine at a time.
func (n *LocalNotifier) Wait(flags *uint32, timeout time.Duration) error {
	if timeout < 0 {
		<-n.ch
		return nil
	}
	if n.timer == nil {
		n.timer = time.NewTimer(timeout)
	} else {
		n.timer.Reset(timeout)
	}
	select {
	case <-n.ch:
		n.timer.Stop()
	case <-n.timer.C:
	}
	return nil
}
