package driver

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// AllClasses is the class mask of a queue that may use every engine class.
const AllClasses = 1<<ring.ClassSymmetric | 1<<ring.ClassAsymmetric | 1<<ring.ClassCompression

// QueueOptions describe a queue pair to create.
type QueueOptions struct {
	Depth      int           // entries in each ring, a power of two
	Classes    uint8         // engine classes as bits 1<<ring.Class; 0 means AllClasses
	CopyMode   bool          // the device copies input in and output back (the hardened model)
	Weight     int           // arbitration weight; 0 means 1; at most the rule's weight
	CQNotifier ring.Notifier // wakes the client reaping the CQ; nil: futex on the CQ's flags word
}

// Queue is a queue pair: an SQ and a CQ, each in a memfd the driver allocated,
// sealed against resizing and mapped here, served by the device.
type Queue struct {
	handle     uint32
	opts       QueueOptions
	sqFD, cqFD int
	sq, cq     []byte
	bell       *ring.EventNotifier // the driver's own descriptor of the device queue's doorbell
	dq         device.Queue

	mu        sync.Mutex
	destroyed bool
	final     device.Counters // the counters when the queue was destroyed
}

// Handle returns the queue's handle in its context.
func (q *Queue) Handle() uint32 { return q.handle }

// Depth returns the number of entries in each ring.
func (q *Queue) Depth() int { return q.opts.Depth }

// Options returns the options the queue was created with, defaults filled in.
func (q *Queue) Options() QueueOptions { return q.opts }

// SQ returns the mapped submission ring, for an embedded client to attach a
// ring.Producer to. It is unmapped when the queue is destroyed: the client must
// stop using it first.
func (q *Queue) SQ() []byte { return q.sq }

// CQ returns the mapped completion ring, for an embedded client to attach a
// ring.Consumer to. It is unmapped when the queue is destroyed.
func (q *Queue) CQ() []byte { return q.cq }

// Doorbell returns a new descriptor of the queue's doorbell, the SQ producer's
// notifier: an eventfd of this queue alone, which the device watches and never
// reads. The caller owns it; ringing it after the queue is destroyed is
// harmless.
func (q *Queue) Doorbell() (*ring.EventNotifier, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.bell == nil {
		return nil, fmt.Errorf("%w: queue %d is destroyed", ErrClosed, q.handle)
	}
	return q.bell.Dup()
}

// LocalDoorbell returns the doorbell for a client in this process: one that
// wakes the device without a system call where the device can be woken so
// (device.Kicker), else a new descriptor of the eventfd as Doorbell returns.
// The second result releases it.
func (q *Queue) LocalDoorbell() (ring.Notifier, func(), error) {
	if k, ok := q.dq.(device.Kicker); ok {
		return kickNotifier{k}, func() {}, nil
	}
	bell, err := q.Doorbell()
	if err != nil {
		return nil, nil, err
	}
	return bell, func() { bell.Close() }, nil
}

// kickNotifier is an SQ producer's notifier that kicks an in-process device.
type kickNotifier struct{ k device.Kicker }

func (n kickNotifier) Notify() error { n.k.Kick(); return nil }

// Wait is the consumer's side, which a doorbell's device never takes.
func (n kickNotifier) Wait(*uint32, time.Duration) error {
	return fmt.Errorf("%w: a doorbell is not waited on", ErrInvalid)
}

// DoorbellFD returns the doorbell's descriptor, to pass to a remote client; see
// SQFD.
func (q *Queue) DoorbellFD() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.bell == nil {
		return -1
	}
	return q.bell.FD()
}

// SQFD returns the memfd holding the submission ring, to pass to a remote
// client. It stays owned by the queue and is closed when the queue is destroyed
// (-1 afterwards).
func (q *Queue) SQFD() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.sqFD
}

// CQFD returns the memfd holding the completion ring; see SQFD.
func (q *Queue) CQFD() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.cqFD
}

// Stats returns the device's counters for the queue; after the queue is
// destroyed, the counters as they were then.
func (q *Queue) Stats() device.Counters {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.destroyed {
		return q.final
	}
	return q.dq.Stats()
}

// CreateQueue allocates a queue pair and has the device serve it through the
// context's address space.
func (c *Context) CreateQueue(opts QueueOptions) (*Queue, error) {
	if err := c.lock("creating a queue"); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	if err := c.quota("max_queues", int64(c.rule.MaxQueues), int64(len(c.queues)), 1); err != nil {
		return nil, err
	}
	if opts.Depth < 1 || opts.Depth > ring.MaxEntries || bits.OnesCount(uint(opts.Depth)) != 1 {
		return nil, fmt.Errorf("%w: queue depth %d is not a power of two from 1 to %d", ErrInvalid, opts.Depth, ring.MaxEntries)
	}
	if max := c.drv.dev.Info().MaxDepth; max > 0 && opts.Depth > max {
		return nil, fmt.Errorf("%w: queue depth %d exceeds the device's maximum of %d", ErrInvalid, opts.Depth, max)
	}
	if opts.Classes == 0 {
		opts.Classes = AllClasses
	}
	if opts.Classes&^AllClasses != 0 {
		return nil, fmt.Errorf("%w: unknown engine class bits %#x", ErrInvalid, opts.Classes&^AllClasses)
	}
	if opts.Weight == 0 {
		opts.Weight = 1
	}
	if opts.Weight < 0 {
		return nil, fmt.Errorf("%w: queue weight %d is negative", ErrInvalid, opts.Weight)
	}
	if opts.Weight > c.rule.Weight {
		return nil, &QuotaError{Limit: "weight", Max: int64(c.rule.Weight), Want: int64(opts.Weight), UID: c.cred.UID}
	}
	q := &Queue{opts: opts, sqFD: -1, cqFD: -1}
	var err error
	if q.sqFD, q.sq, err = newRingMemory("accelq-sq", ring.Geometry{Entries: opts.Depth, EntrySize: ring.SQESize}); err != nil {
		return nil, err
	}
	if q.cqFD, q.cq, err = newRingMemory("accelq-cq", ring.Geometry{Entries: opts.Depth, EntrySize: ring.CQESize}); err != nil {
		q.release()
		return nil, err
	}
	q.dq, err = c.drv.dev.CreateQueue(device.QueueConfig{
		SQ:         q.sq,
		CQ:         q.cq,
		Space:      c.space,
		Tenant:     c.tenant,
		Classes:    opts.Classes,
		Weight:     opts.Weight,
		CopyMode:   opts.CopyMode,
		CQNotifier: opts.CQNotifier,
	})
	if err != nil {
		q.release()
		return nil, fmt.Errorf("driver: device refused the queue: %w", err)
	}
	// A descriptor of the driver's own: the device closes its own in Destroy,
	// and one handed out later must never be a closed (or reused) number.
	if q.bell, err = q.dq.Doorbell().Dup(); err != nil {
		q.dq.Destroy()
		q.release()
		return nil, fmt.Errorf("driver: queue doorbell: %w", err)
	}
	q.handle = c.newHandle()
	c.queues[q.handle] = q
	return q, nil
}

// DestroyQueue stops the device serving a queue, waits until every job it
// accepted has completed, then frees the rings.
func (c *Context) DestroyQueue(handle uint32) error {
	if err := c.lock("destroying a queue"); err != nil {
		return err
	}
	defer c.mu.Unlock()
	q := c.queues[handle]
	if q == nil {
		return fmt.Errorf("%w: queue %#x is not held by this context", ErrBadHandle, handle)
	}
	delete(c.queues, handle)
	return q.destroy()
}

// Queue returns the queue with the given handle.
func (c *Context) Queue(handle uint32) (*Queue, error) {
	if err := c.lock("looking up a queue"); err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	q := c.queues[handle]
	if q == nil {
		return nil, fmt.Errorf("%w: queue %#x is not held by this context", ErrBadHandle, handle)
	}
	return q, nil
}

// destroy has the device let go of the queue, then frees its memory.
func (q *Queue) destroy() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.destroyed {
		return nil
	}
	err := q.dq.Destroy()
	switch {
	case err == nil:
	case errors.Is(err, device.ErrClosed):
		err = nil // the device closed, destroying its queues first
	default:
		// The device may still reach the rings: keeping them mapped leaks
		// them, unmapping them could fault it.
		return fmt.Errorf("%w; the rings stay mapped", err)
	}
	q.final = q.dq.Stats()
	q.destroyed = true
	q.release()
	return nil
}

// release unmaps and closes whatever ring memory the queue holds. The slice
// headers are kept: SQ and CQ may be read concurrently.
func (q *Queue) release() {
	for _, m := range [][]byte{q.sq, q.cq} {
		if m != nil {
			unix.Unmap(m)
		}
	}
	for _, fd := range []*int{&q.sqFD, &q.cqFD} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	if q.bell != nil {
		q.bell.Close()
		q.bell = nil
	}
}

// newRingMemory allocates a memfd for a ring of geometry g, seals its size (and
// its seals, so a client it is passed to cannot add any), maps it and
// initialises the ring header.
func newRingMemory(name string, g ring.Geometry) (int, []byte, error) {
	fd, err := unix.Memfd(name, g.Size())
	if err != nil {
		return -1, nil, fmt.Errorf("driver: allocating a ring: %w", err)
	}
	if err := unix.AddSeals(fd, unix.SealShrink|unix.SealGrow|unix.SealSeal); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("driver: sealing a ring: %w", err)
	}
	mem, err := unix.MapShared(fd, g.Size())
	if err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("driver: mapping a ring: %w", err)
	}
	if err := ring.Init(mem, g); err != nil {
		unix.Unmap(mem)
		unix.Close(fd)
		return -1, nil, fmt.Errorf("driver: initialising a ring: %w", err)
	}
	return fd, mem, nil
}
