package driver

import (
	"sync"
	"sync/atomic"
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
	efd     *ring.EventNotifier
	kick    chan struct{} // capacity 1: a wake-up asked for and not yet signalled
	stop    chan struct{}
	done    chan struct{}
	writing atomic.Uint64 // the number of the write run is in, 0 between writes
	writes  uint64        // owned by run

	mu     sync.Mutex // orders run's close of efd against unwedge's reads
	closed bool
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
			n.signal()
		case <-n.stop:
			// A wake-up asked for before Close, for the queue's last
			// completions, is still owed: select picks among ready cases at
			// random.
			select {
			case <-n.kick:
				n.signal()
			default:
			}
			n.mu.Lock()
			n.closed = true
			n.efd.Close()
			n.mu.Unlock()
			return
		}
	}
}

func (n *clientNotifier) signal() {
	n.writes++
	n.writing.Store(n.writes)
	n.efd.Notify()
	n.writing.Store(0)
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

// Close stops the notifier once the device has let go of the queue; the
// goroutine closes the daemon's descriptor when it exits. Close does not wait:
// if the goroutine is stuck in a write, a helper makes the file non-blocking
// again and reads the counter down until the write finishes, so a client that
// keeps undoing that holds up only its own notifier, and not past its exit.
func (n *clientNotifier) Close() error {
	close(n.stop)
	go n.unwedge()
	return nil
}

func (n *clientNotifier) unwedge() {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		// Only a write still going on from one tick to the next is stuck: a
		// write to a non-blocking eventfd takes microseconds, and reading the
		// counter of a client that plays fair would eat its wake-up.
		n.mu.Lock()
		if w := n.writing.Load(); w != 0 && w == last && !n.closed {
			unix.Unblock(n.efd.FD())
		} else {
			last = w
		}
		n.mu.Unlock()
	}
}
