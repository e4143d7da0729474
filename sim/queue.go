package sim

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

type queueState uint8

const (
	queueActive  queueState = iota // fetching
	queueStopped                   // stopped by a device reset until Rearm
	queueBroken                    // the client corrupted a ring; no more fetches or completions
	queueClosing                   // Destroy called; waiting for in-flight jobs
)

// queue is a queue pair served by the device. Fields below the mutex line are
// owned by the loop goroutine.
type queue struct {
	dev       *Device
	id        int
	sq        *ring.Consumer
	cq        *ring.Producer
	bell      *ring.EventNotifier // the client rings it; the device's poller watches it
	sqMem     []byte
	space     device.AddressSpace
	classes   uint8
	weight    int
	limit     int
	copyMode  bool
	closing   atomic.Bool // read by workers
	destroyed chan struct{}
	err       error

	state     queueState
	tenant    *tenant
	lanes     [numStages][ring.NumClasses]lane // its jobs waiting for an engine and for a worker
	hostCost  [ring.NumClasses]time.Duration   // running estimate of a job's host time, by class
	throttled bool                             // fetching stopped at the tenant's limit with SQEs waiting
	throttles uint64                           // times throttled became true
	removed   bool                             // remove has run
	inflight  int
	touched   bool // has completions this round, to publish and maybe wake for
	staged    int  // completions in cqStage, to be written at the round's end
	cqStage   [stageEntries * ring.CQESize]byte
	lost      uint64 // CQEs the client made impossible to post
	sqeBuf    [fetchBatch * ring.SQESize]byte
	submitted uint64                    // SQEs fetched
	stats     [ring.NumClasses]counters // completions, by engine class; owned by the loop
}

// CreateQueue starts serving a queue pair.
func (d *Device) CreateQueue(cfg device.QueueConfig) (device.Queue, error) {
	if cfg.Space == nil {
		return nil, fmt.Errorf("sim: queue needs an address space")
	}
	sq, err := ring.NewConsumer(cfg.SQ)
	if err != nil {
		return nil, fmt.Errorf("sim: submission ring: %w", err)
	}
	cq, err := ring.NewProducer(cfg.CQ)
	if err != nil {
		return nil, fmt.Errorf("sim: completion ring: %w", err)
	}
	if g := sq.Geometry(); g.EntrySize != ring.SQESize || g.Entries > d.prof.MaxDepth {
		return nil, fmt.Errorf("sim: submission ring of %d entries of %d bytes; want %d-byte entries, at most %d",
			g.Entries, g.EntrySize, ring.SQESize, d.prof.MaxDepth)
	}
	if g := cq.Geometry(); g.EntrySize != ring.CQESize || g.Entries > d.prof.MaxDepth {
		return nil, fmt.Errorf("sim: completion ring of %d entries of %d bytes; want %d-byte entries, at most %d",
			g.Entries, g.EntrySize, ring.CQESize, d.prof.MaxDepth)
	}
	if cfg.CQNotifier != nil {
		cq.SetNotifier(cfg.CQNotifier)
	}
	bell, err := ring.NewEventNotifier()
	if err != nil {
		return nil, fmt.Errorf("sim: doorbell: %w", err)
	}
	q := &queue{
		dev:       d,
		sq:        sq,
		cq:        cq,
		bell:      bell,
		sqMem:     cfg.SQ,
		space:     cfg.Space,
		classes:   cfg.Classes,
		weight:    max(cfg.Weight, 1),
		limit:     cq.Geometry().Entries,
		copyMode:  cfg.CopyMode,
		destroyed: make(chan struct{}),
	}
	if cfg.MaxInFlight > 0 {
		q.limit = min(q.limit, cfg.MaxInFlight)
	}
	var refused error
	err = d.do(func() {
		if len(d.queues) >= d.prof.MaxQueues {
			refused = fmt.Errorf("sim: device %s already serves %d queues", d.info.Name, len(d.queues))
			return
		}
		if err := d.addDoorbell(bell.FD()); err != nil {
			refused = fmt.Errorf("sim: doorbell: %w", err)
			return
		}
		d.nextQueue++
		q.id = d.nextQueue
		q.tenant = d.tenantFor(cfg.Tenant)
		d.queues = append(d.queues, q)
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		bell.Close()
		return nil, err
	}
	return q, nil
}

// Doorbell returns the eventfd the queue's client rings when the device sleeps.
func (q *queue) Doorbell() *ring.EventNotifier { return q.bell }

// ID returns the queue's number on its device.
func (q *queue) ID() int { return q.id }

// Err returns why the device stopped serving the queue, if it did.
func (q *queue) Err() error {
	var err error
	q.dev.do(func() { err = q.err })
	return err
}

func (q *queue) broken(err error) {
	if q.state == queueActive || q.state == queueStopped {
		q.state = queueBroken
		q.err = err
	}
}

// Rearm lets a queue stopped by a reset fetch again.
func (q *queue) Rearm() error {
	var err error
	if e := q.dev.do(func() {
		switch q.state {
		case queueStopped:
			q.state = queueActive
		case queueActive:
		default:
			err = fmt.Errorf("sim: queue %d cannot be rearmed: %v", q.id, q.errOrClosed())
		}
	}); e != nil {
		return e
	}
	return err
}

func (q *queue) errOrClosed() error {
	if q.err != nil {
		return q.err
	}
	return device.ErrClosed
}

// Destroy stops the queue; see device.Queue.
func (q *queue) Destroy() error {
	err := q.dev.do(func() {
		if q.state == queueClosing {
			return
		}
		q.state = queueClosing
		q.closing.Store(true)
		// Jobs waiting for their deadline complete now with their results.
		// Jobs waiting for an engine or a worker complete flushed: they never
		// ran, and the time they would have taken is other tenants' now.
		d := q.dev
		now := d.clock.Now()
		d.flushLanes(q, now)
		d.completeWaiting(now, func(j *job) bool { return j.q == q })
		if q.inflight == 0 {
			d.remove(q) // completing the last job may have done it already
		}
	})
	if err != nil {
		return err
	}
	<-q.destroyed
	return nil
}

// remove drops a closing queue that has no job left. It runs once per queue.
func (d *Device) remove(q *queue) {
	if q.removed {
		return
	}
	q.removed = true
	for i := range q.stats { // the device's class counters outlive the queue
		d.classes[i].merge(&q.stats[i])
	}
	for i, x := range d.queues {
		if x == q {
			d.queues = append(d.queues[:i], d.queues[i+1:]...)
			break
		}
	}
	if d.rr >= len(d.queues) {
		d.rr = 0
	}
	d.dropTenant(q.tenant)
	d.removeDoorbell(q.bell.FD()) // before closing: a remote client holds the same file
	q.bell.Close()
	// Publish the last completions and wake the client for them now: once
	// destroyed is closed the driver may unmap the CQ, and the end of the
	// round must not touch it.
	if q.touched {
		d.publishQueue(q)
		for i, x := range d.touched {
			if x == q {
				d.touched = append(d.touched[:i], d.touched[i+1:]...)
				break
			}
		}
	}
	close(q.destroyed)
}

// Stats returns the queue's counters. After Destroy they stay as they were
// when the queue's last job completed.
func (q *queue) Stats() device.Counters {
	var c device.Counters
	snap := func() { t := q.queueTotal(); c = t.export(); c.Throttled = q.throttles }
	if q.dev.do(snap) != nil {
		<-q.dev.loopDone
		snap()
	}
	c.QueueFull = q.sq.Counters().Refused
	return c
}
