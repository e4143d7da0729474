package driver

import (
	"time"

	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// clientNotifier signals an eventfd a remote client gave to be woken for its
// completions, from a goroutine of its own rather than the device's loop.
//
// The client shares the eventfd's file description with the daemon, so it can
// clear O_NONBLOCK on it and write its counter up to the maximum; a write then
// blocks until someone reads. In the device's loop that would stall every
// queue; here it stalls this client's wake-ups and nothing else.
type clientNotifier struct {
	efd  *ring.EventNotifier
	kick chan struct{} // capacity 1: wake-ups asked for and not yet signalled
	stop chan struct{}
	done chan struct{}
}

func newClientNotifier(efd *ring.EventNotifier) *clientNotifier {
	n := &clientNotifier{efd: efd, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go n.run()
	return n
}

func (n *clientNotifier) run() {
	defer close(n.done)
	for {
		select {
		case <-n.kick:
			n.efd.Notify()
		case <-n.stop:
			return
		}
	}
}

// Notify asks for a wake-up and never blocks; wake-ups asked for while one is
// pending merge into it, as an eventfd's counter would merge them.
func (n *clientNotifier) Notify() error {
	select {
	case n.kick <- struct{}{}:
	default:
	}
	return nil
}

// Wait is the consumer's side, which the daemon never takes.
func (n *clientNotifier) Wait(flags *uint32, timeout time.Duration) error {
	return n.efd.Wait(flags, timeout)
}

// Close stops the goroutine and closes the daemon's descriptor. Call it only
// after the device has let go of the queue. If the goroutine is stuck in a
// write, Close makes the file non-blocking again and reads the counter down,
// which lets the write finish; a client that keeps undoing that holds up only
// its own session, and not past its own exit.
func (n *clientNotifier) Close() error {
	close(n.stop)
	for {
		select {
		case <-n.done:
			return n.efd.Close()
		case <-time.After(time.Millisecond):
		}
		unix.Unblock(n.efd.FD())
	}
}
