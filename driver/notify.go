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
	writing atomic.Bool // run is in (or about to make) a write

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
	n.writing.Store(true)
	n.efd.Notify()
	n.writing.Store(false)
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
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
		}
		n.mu.Lock()
		if !n.closed && n.writing.Load() {
			unix.Unwedge(n.efd.FD()) // reads nothing unless the counter is full
		}
		n.mu.Unlock()
	}
}
