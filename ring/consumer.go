package ring

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/accelq/accelq/internal/spin"
)

// Consumer is the reading side of a ring. It is not safe for concurrent use.
type Consumer struct {
	mem      []byte
	entries  uint32
	mask     uint32
	esz      uint32
	head     uint32 // private: the next slot to read
	tail     uint32 // last producer index seen
	peeked   uint32 // entries copied out by Peek and not yet released
	tailp    *uint32
	headp    *uint32
	flagsp   *uint32
	wakeMinp *uint32
	notifier Notifier
}

// NewConsumer attaches a consumer to the ring in mem, validating its header. The
// consumer starts from the head in the header.
func NewConsumer(mem []byte) (*Consumer, error) {
	g, err := ReadGeometry(mem)
	if err != nil {
		return nil, err
	}
	c := &Consumer{
		mem:     mem[:g.Size():g.Size()],
		entries: uint32(g.Entries),
		mask:    uint32(g.Entries - 1),
		esz:     uint32(g.EntrySize),
	}
	c.tailp = word(c.mem, offTail)
	c.headp = word(c.mem, offHead)
	c.flagsp = word(c.mem, offFlags)
	c.wakeMinp = word(c.mem, offWakeMin)
	c.head = atomic.LoadUint32(c.headp)
	c.tail = atomic.LoadUint32(c.tailp)
	// ReadGeometry checked the indices in its copy of the header, but the peer
	// may have moved the tail since: check the values this side will use.
	if c.tail-c.head > c.entries {
		return nil, fmt.Errorf("%w: tail %d is more than %d entries past head %d at attach", ErrCorrupt, c.tail, c.entries, c.head)
	}
	c.notifier = futexNotifier{c.flagsp}
	return c, nil
}

// Geometry returns the ring's geometry as validated at attach time.
func (c *Consumer) Geometry() Geometry {
	return Geometry{Entries: int(c.entries), EntrySize: int(c.esz)}
}

// SetNotifier replaces the default futex notifier; it must match the producer's.
func (c *Consumer) SetNotifier(n Notifier) { c.notifier = n }

// Available returns how many entries are ready to read, loading the producer's
// tail with acquire ordering.
func (c *Consumer) Available() (int, error) {
	t := atomic.LoadUint32(c.tailp)
	// The producer may not run more than a ring ahead, nor move backwards.
	if avail := t - c.head; avail > c.entries || t-c.tail > c.entries-(c.tail-c.head) {
		atomic.AddUint64(dword(c.mem, offConsCorrupt), 1)
		return 0, fmt.Errorf("%w: producer tail %d with consumer head %d in a ring of %d", ErrCorrupt, t, c.head, c.entries)
	}
	c.tail = t
	return int(t - c.head), nil
}

// Pending reports whether the producer has published entries the consumer
// has not released, from the shared indices alone. Unlike the other methods
// it is safe to call from any goroutine, including while another one uses
// the consumer: a goroutine that polls for entries on behalf of the one that
// reads them, taking the consumer only once there is something to read. A
// corrupt index reads as pending, so that the reader finds it.
func (c *Consumer) Pending() bool {
	return atomic.LoadUint32(c.tailp) != atomic.LoadUint32(c.headp)
}

// Peek copies up to len(dst)/EntrySize ready entries into dst, in order, and
// returns how many it copied. Each entry is read from shared memory exactly once,
// here; decode the copy, never the ring. The entries stay in the ring until Advance.
func (c *Consumer) Peek(dst []byte) (int, error) {
	want := uint32(len(dst)) / c.esz
	avail := c.tail - c.head
	if avail < want {
		a, err := c.Available()
		if err != nil {
			c.peeked = 0
			return 0, err
		}
		avail = uint32(a)
	}
	n := min(want, avail)
	first := c.head & c.mask
	k := min(n, c.entries-first) // entries before the end of the array
	off := HeaderSize + int(first*c.esz)
	copy(dst, c.mem[off:off+int(k*c.esz)])
	if k < n {
		copy(dst[k*c.esz:], c.mem[HeaderSize:HeaderSize+int((n-k)*c.esz)])
	}
	c.peeked = n
	return int(n), nil
}

// Advance releases the first n entries returned by the last Peek to the producer,
// publishing the head with release ordering.
func (c *Consumer) Advance(n int) {
	if n < 0 || uint32(n) > c.peeked {
		panic("ring: Advance past what Peek returned")
	}
	c.head += uint32(n)
	c.peeked = 0
	atomic.StoreUint32(c.headp, c.head)
}

// Pop copies up to len(dst)/EntrySize entries into dst and releases them at once.
func (c *Consumer) Pop(dst []byte) (int, error) {
	n, err := c.Peek(dst)
	if n > 0 {
		c.Advance(n)
	}
	return n, err
}

// Arm sets FlagNeedWakeup and re-checks the ring. It returns true if the ring is
// still empty, in which case the caller may sleep on the notifier and the producer
// will wake it after its next publish. If entries arrived, it clears the flag and
// returns false.
func (c *Consumer) Arm() (bool, error) { return c.ArmFor(1) }

// ArmFor is Arm for a consumer that wants n entries before it is woken: it writes
// n as the ring's wake threshold, sets FlagNeedWakeup and re-checks the ring. It
// returns true if fewer than n entries are ready, in which case the caller may
// sleep and the producer wakes it only once n are. n is clamped to [1, entries].
func (c *Consumer) ArmFor(n int) (bool, error) {
	want := uint32(min(max(n, 1), int(c.entries)))
	atomic.StoreUint32(c.wakeMinp, want)
	atomic.OrUint32(c.flagsp, FlagNeedWakeup)
	// OrUint32 is a full barrier: the producer either sees the flag (and the
	// threshold stored before it) after its tail store, or we see its tail here.
	got, err := c.Available()
	if err != nil || uint32(got) >= want {
		c.Disarm()
		return false, err
	}
	return true, nil
}

// Disarm clears FlagNeedWakeup.
func (c *Consumer) Disarm() { atomic.AndUint32(c.flagsp, ^FlagNeedWakeup) }

// Interrupt wakes the consumer if it sleeps on this ring, as a producer would,
// for a consumer that must stop waiting (its queue is closing). Unlike the
// other methods it is safe to call from any goroutine. A consumer that has not
// armed yet is not woken: callers repeat it until the consumer has noticed.
func (c *Consumer) Interrupt() error {
	atomic.AndUint32(c.flagsp, ^FlagNeedWakeup)
	return c.notifier.Notify()
}

// Park sleeps on the ring's notifier, for a consumer that armed the ring with
// ArmFor and let go of it meanwhile, until the producer (or Interrupt) wakes
// it or timeout passes (forever if negative); if the flag is already clear,
// it was woken before it slept, and Park returns at once. It reads nothing of
// the consumer's own state, so it may run while another goroutine that holds
// the consumer reaps the ring. It may return early; callers re-check.
func (c *Consumer) Park(timeout time.Duration) error {
	atomic.AddUint64(dword(c.mem, offSleeps), 1)
	return c.notifier.Wait(c.flagsp, timeout)
}

// Sleep arms the ring and, if it is still empty, sleeps on the notifier for at
// most timeout (forever if negative). It may return early; callers re-check.
func (c *Consumer) Sleep(timeout time.Duration) error { return c.SleepFor(1, timeout) }

// SleepFor is Sleep until n entries are ready: the producer skips the wake-ups
// of the entries before the n-th, so a consumer that takes entries in batches
// pays one wake-up per batch. It may return early; callers re-check.
func (c *Consumer) SleepFor(n int, timeout time.Duration) error {
	_, err := c.sleepFor(n, timeout)
	return err
}

// sleepFor is SleepFor that also reports whether it was woken: whether the flag
// was cleared by someone else (a producer or Interrupt) rather than the sleep
// ending on its timeout, a signal, or not starting at all.
func (c *Consumer) sleepFor(n int, timeout time.Duration) (bool, error) {
	short, err := c.ArmFor(n)
	if err != nil || !short {
		return false, err
	}
	atomic.AddUint64(dword(c.mem, offSleeps), 1)
	err = c.notifier.Wait(c.flagsp, timeout)
	woken := atomic.LoadUint32(c.flagsp)&FlagNeedWakeup == 0
	c.Disarm()
	return woken, err
}

// Wait returns as soon as entries are ready, spinning up to spins polls before
// sleeping through the NEED_WAKEUP protocol, until timeout passes (forever if
// negative). It returns the number of ready entries, zero on timeout.
func (c *Consumer) Wait(spins int, timeout time.Duration) (int, error) {
	return c.WaitFor(1, spins, timeout)
}

// WaitFor is Wait for at least n ready entries (clamped to [1, entries]). On
// timeout it returns however many are ready, possibly fewer than n.
func (c *Consumer) WaitFor(n, spins int, timeout time.Duration) (int, error) {
	want := min(max(n, 1), int(c.entries))
	if got, err := c.Available(); got >= want || err != nil {
		return got, err // the common case on a busy ring: no clock read
	}
	for i := 0; i < spins; i++ {
		if got, err := c.Available(); got >= want || err != nil {
			return got, err
		}
		spin.Pause(1)
		if i%256 == 255 {
			// Let a goroutine waiting for this P run: in one process the
			// producer may be it, and a poller that never yields can keep it
			// off the CPU until the scheduler preempts the poller (10 ms).
			runtime.Gosched()
		}
	}
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		got, err := c.Available()
		if got >= want || err != nil {
			return got, err
		}
		left := time.Duration(-1)
		if timeout >= 0 {
			left = time.Until(deadline)
			if left <= 0 {
				return got, nil
			}
		}
		woken, err := c.sleepFor(want, left)
		if err != nil {
			return 0, err
		}
		if woken {
			// The flag was cleared for us: by the producer, so want entries are
			// there, or by Interrupt, and the caller must look at why.
			return c.Available()
		}
	}
}
