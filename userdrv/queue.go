package userdrv

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accelq/accelq/driver"
	"github.com/accelq/accelq/internal/op"
	"github.com/accelq/accelq/ring"
)

// Reap is how a queue's reaper waits for completions.
type Reap int

const (
	// ReapAdaptive spins on the completion ring for a while, then sleeps until the
	// device wakes it: low latency while busy, no CPU burnt while idle. The default.
	ReapAdaptive Reap = iota
	// ReapPoll never sleeps: lowest latency, one core busy for as long as the queue
	// is open. For benchmarks and dedicated cores.
	ReapPoll
	// ReapInterrupt sleeps at once, and so do goroutines waiting for its jobs:
	// the least CPU, a wake-up (about 10 us in process here) more latency per
	// job.
	ReapInterrupt
	// ReapManual starts no reaper goroutine: the caller reaps with Queue.Reap on
	// its own goroutine, run to completion, as an io_uring application does.
	ReapManual
)

// Fallback says when a queue runs jobs in software instead of on the device.
type Fallback int

const (
	// FallbackAuto runs a job in software when the device cannot: the operation is
	// not offered (or not allowed), the submission ring is full, or the device
	// failed the job. The default.
	FallbackAuto Fallback = iota
	// DeviceOnly never runs software: such jobs fail with the device's status, and
	// a full ring returns ErrBusy (or waits, WithBlockWhenFull).
	DeviceOnly
	// SoftwareOnly runs every job in software: the baseline.
	SoftwareOnly
)

type queueConfig struct {
	depth    int
	reap     Reap
	spin     time.Duration
	fallback Fallback
	block    bool
	copyMode bool
	classes  uint8
	weight   int
}

// QueueOption configures a queue.
type QueueOption func(*queueConfig)

// WithDepth sets the ring size, a power of two (default 256).
func WithDepth(n int) QueueOption { return func(c *queueConfig) { c.depth = n } }

// WithReap sets how the reaper waits for completions.
func WithReap(r Reap) QueueOption { return func(c *queueConfig) { c.reap = r } }

// WithSpin sets how long a goroutine waiting for a job (Job.Wait, the typed
// calls, the faces), an adaptive reaper and Reap poll the completion ring
// before they sleep (default DefaultSpin; 0 sleeps at once).
func WithSpin(d time.Duration) QueueOption { return func(c *queueConfig) { c.spin = d } }

// WithFallback sets when jobs run in software.
func WithFallback(f Fallback) QueueOption { return func(c *queueConfig) { c.fallback = f } }

// WithBlockWhenFull makes Submit wait for room instead of failing with ErrBusy
// (or falling back) when the submission ring is full.
func WithBlockWhenFull() QueueOption { return func(c *queueConfig) { c.block = true } }

// WithCopyMode asks the device to copy inputs in and outputs back rather than
// work in place on this process's memory.
func WithCopyMode() QueueOption { return func(c *queueConfig) { c.copyMode = true } }

// WithClasses limits the queue to engine classes, as bits 1<<ring.Class.
func WithClasses(mask uint8) QueueOption { return func(c *queueConfig) { c.classes = mask } }

// WithWeight sets the queue's arbitration weight on the device.
func WithWeight(w int) QueueOption { return func(c *queueConfig) { c.weight = w } }

// QueueStats are a queue's client-side counters.
type QueueStats struct {
	Submitted   uint64 // jobs handed to the device
	Completed   uint64 // jobs completed, by the device or in software
	Failed      uint64 // jobs completed with an error
	Busy        uint64 // submissions that found the ring full
	Fallbacks   uint64 // jobs run in software, for any reason
	FallbackWhy [numFallbackReasons]uint64
	Doorbells   uint64 // submissions that found the device asleep and woke it: one system call each across processes
	Sleeps      uint64 // times a goroutine went to sleep for the queue's completions (the reaper, Reap, a waiter): each costs a wake-up
}

// Reasons a job ran in software, indexes of QueueStats.FallbackWhy.
const (
	FallbackPolicy      = iota // the queue is SoftwareOnly or the device absent
	FallbackUnsupported        // the device does not offer or allow the operation
	FallbackBusy               // the submission ring was full
	FallbackFaulted            // the device failed the job
	numFallbackReasons
)

// Queue is a queue pair with its reaper. Submit and SubmitBatch are safe for
// concurrent use. Completions are delivered by whoever reaps the ring: the
// reaper goroutine, or a goroutine waiting for a job of the queue, which reaps
// while it waits (see Job.Callback).
type Queue struct {
	dev *Device
	cfg queueConfig
	r   rings
	sq  *ring.Producer
	cq  *ring.Consumer // the device wakes its reaper through a channel (embedded) or the ring's futex (acceld)

	mu     sync.Mutex // sq, free, slots
	free   []uint32
	slots  []*Job // the jobs in flight, by user data
	closed atomic.Bool

	inflight    atomic.Int64
	stopping    atomic.Bool
	released    atomic.Bool // destroyQueue succeeded: the device posted its last CQE and fetches no more
	lost        atomic.Bool // the device went away and the reaper stopped: nothing reaps the rings any more
	reaped      chan struct{}
	reapMu      sync.Mutex // held by whoever reaps: cq's consumer side, scratch, pollers
	scratch     *reaper
	pollers     int                           // goroutines reaping while they wait for a job, under reapMu
	pollersGone *sync.Cond                    // on reapMu: signalled when pollers falls to zero
	waitSpin    [ring.NumClasses]atomic.Int64 // how long a waiter polls for a job of each class (learn)
	batchMu     sync.Mutex
	batch       []*Job // scratch for SubmitBatch

	submitted, completed, failed, busy atomic.Uint64
	doorbells, sleeps                  atomic.Uint64
	fallbacks                          [numFallbackReasons]atomic.Uint64
}

// NewQueue creates a queue pair on the device and starts its reaper.
func (d *Device) NewQueue(opts ...QueueOption) (*Queue, error) {
	cfg := queueConfig{depth: 256, spin: DefaultSpin}
	for _, o := range opts {
		o(&cfg)
	}
	q := &Queue{dev: d, cfg: cfg, reaped: make(chan struct{})}
	for i := range q.waitSpin {
		q.waitSpin[i].Store(int64(cfg.spin))
	}
	q.pollersGone = sync.NewCond(&q.reapMu)
	if d.be == nil {
		q.cfg.fallback = SoftwareOnly // no device: nothing else is possible
		close(q.reaped)
		return q, nil
	}
	// How the device wakes a goroutine asleep on the completion ring. In
	// this process, through a channel: no system call, and a goroutine in the
	// runtime's scheduler rather than in a futex system call, which would
	// keep its P from the device's own goroutines until sysmon took it back
	// (20 us to 10 ms). Across processes, the ring's futex: the daemon's
	// device wakes the sleeping thread directly, one wake-up and no hop.
	var bell ring.Notifier
	if _, local := d.be.(*embedded); local {
		bell = ring.NewLocalNotifier()
	}
	var err error
	q.r, err = d.be.createQueue(driver.QueueOptions{Depth: cfg.depth, Classes: cfg.classes,
		CopyMode: cfg.copyMode, Weight: cfg.weight, CQNotifier: bell})
	if err != nil {
		return nil, err
	}
	if q.sq, err = ring.NewProducer(q.r.sq); err == nil {
		q.cq, err = ring.NewConsumer(q.r.cq)
	}
	if err != nil {
		d.be.destroyQueue(q.r.handle)
		q.r.release()
		return nil, err
	}
	q.sq.SetNotifier(q.r.doorbell)
	if bell != nil {
		q.cq.SetNotifier(bell)
	}
	q.scratch = newReaper()
	// The device holds at most a CQ's worth of jobs and the SQ another ring's worth.
	n := 2 * cfg.depth
	q.slots = make([]*Job, n)
	q.free = make([]uint32, n)
	for i := range q.free {
		q.free[i] = uint32(n - 1 - i)
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.be.destroyQueue(q.r.handle)
		q.r.release()
		return nil, ErrClosed
	}
	d.queues[q] = struct{}{}
	d.mu.Unlock()
	if cfg.reap == ReapManual {
		close(q.reaped)
	} else {
		go q.reap()
	}
	return q, nil
}

// Stats returns the queue's counters.
func (q *Queue) Stats() QueueStats {
	s := QueueStats{Submitted: q.submitted.Load(), Completed: q.completed.Load(),
		Failed: q.failed.Load(), Busy: q.busy.Load(), Doorbells: q.doorbells.Load(), Sleeps: q.sleeps.Load()}
	for i := range q.fallbacks {
		s.FallbackWhy[i] = q.fallbacks[i].Load()
		s.Fallbacks += s.FallbackWhy[i]
	}
	return s
}

// DeviceStats returns the driver's counters for this queue.
func (q *Queue) DeviceStats() (QueueDeviceStats, error) {
	if q.dev.be == nil {
		return QueueDeviceStats{}, nil
	}
	return q.dev.be.queueStats(q.r.handle)
}

// ring rings the doorbell if the device sleeps, after a commit, under mu.
func (q *Queue) ring() {
	if rang, _ := q.sq.Wake(); rang {
		q.doorbells.Add(1)
	}
}

// Submit hands one job to the device without waiting for it. A job the device
// cannot take may run in software on this goroutine, per the queue's Fallback.
func (q *Queue) Submit(j *Job) error {
	if q.closed.Load() {
		return ErrClosed
	}
	if err := j.arm(q); err != nil {
		return err
	}
	j.hold()
	if why, soft := q.route(j); soft {
		q.software(j, why)
		return nil
	}
	q.mu.Lock()
	for {
		if q.closed.Load() { // checked under mu, which Close takes to set it: no job reaches a slot after Close began
			q.mu.Unlock()
			j.release()
			j.state.Store(jobIdle)
			return ErrClosed
		}
		if q.lost.Load() { // checked under mu: see lose
			q.mu.Unlock()
			if q.cfg.fallback == FallbackAuto && q.softOK(j) {
				q.software(j, FallbackPolicy)
				return nil
			}
			q.abort(j, ErrDeviceLost)
			return j.Err
		}
		if len(q.free) > 0 {
			if n, err := q.sq.Reserve(1); err != nil {
				q.mu.Unlock()
				q.abort(j, fmt.Errorf("%w: %v", ErrDeviceLost, err))
				return j.Err
			} else if n == 1 {
				break
			}
		}
		q.busy.Add(1)
		if q.cfg.fallback == FallbackAuto && q.softOK(j) {
			q.mu.Unlock()
			q.software(j, FallbackBusy)
			return nil
		}
		if !q.cfg.block {
			q.mu.Unlock()
			j.release()
			j.state.Store(jobIdle)
			return ErrBusy
		}
		q.mu.Unlock()
		runtime.Gosched()
		if q.closed.Load() {
			j.release()
			j.state.Store(jobIdle)
			return ErrClosed
		}
		q.mu.Lock()
	}
	slot := q.free[len(q.free)-1]
	q.free = q.free[:len(q.free)-1]
	j.encode(slot, q.sq.Entry(0))
	q.slots[slot] = j
	q.inflight.Add(1)
	q.sq.Commit(1)
	q.ring()
	q.mu.Unlock()
	q.submitted.Add(1)
	return nil
}

// abort completes a job that never reached the device.
func (q *Queue) abort(j *Job, err error) {
	q.completed.Add(1)
	q.failed.Add(1)
	j.complete(ring.StatusInvalid, 0, 0, 0, 0, err)
}

// route decides whether a job goes to software before it reaches the ring.
func (q *Queue) route(j *Job) (int, bool) {
	switch {
	case q.cfg.fallback == SoftwareOnly:
		return FallbackPolicy, true
	case q.cfg.fallback == FallbackAuto && !q.dev.Supports(j.Op) && q.softOK(j):
		return FallbackUnsupported, true
	case q.cfg.fallback == FallbackAuto && q.lost.Load() && q.softOK(j):
		return FallbackPolicy, true // the device is gone
	}
	return 0, false
}

// softOK reports whether j can run in software: its key, if any, has a copy
// here, and it is not a raw entry (whose buffers and key are handles only the
// device resolves).
func (q *Queue) softOK(j *Job) bool { return j.raw == nil && (j.Key == nil || j.Key.soft != nil) }

// software runs j on this goroutine and completes it, flagged as a fallback.
func (q *Queue) software(j *Job, why int) {
	q.fallbacks[why].Add(1)
	st, n, sum := runSoftware(j)
	q.completed.Add(1)
	if st != ring.StatusOK {
		q.failed.Add(1)
	}
	j.complete(st, n, sum, ring.CQEFallback, 0, nil)
}

// runSoftware computes j with the same code the simulated device runs, after the
// same buffer checks the device makes.
func runSoftware(j *Job) (ring.Status, int, uint64) {
	if j.Key != nil && j.Key.soft == nil {
		return ring.StatusNotPermitted, 0, 0
	}
	src, aux, dst := j.Src.bytes(), j.Aux.bytes(), j.Dst.bytes()
	if op.BuffersAlias(j.Flags, src, aux, dst) {
		return ring.StatusBadAddress, 0, 0
	}
	var key *deviceKey
	if j.Key != nil {
		key = j.Key.soft
	}
	r := op.Run(j.Op, j.Param, key, src, aux, dst)
	return r.Status, r.N, r.Aux
}

// lose marks the device lost and completes every job in flight with err. The
// mark is set under mu, which submitters hold from their check of it until
// their job is in its slot: a job is either in a slot before the mark, and
// failAll completes it, or sees the mark and never reaches the ring.
func (q *Queue) lose(err error) {
	q.mu.Lock()
	q.lost.Store(true)
	q.mu.Unlock()
	q.failAll(err)
}

// failAll completes every job in flight with err.
func (q *Queue) failAll(err error) {
	for _, j := range q.takeAll() {
		q.completed.Add(1)
		q.failed.Add(1)
		j.complete(ring.StatusFlushed, 0, 0, 0, 0, err)
	}
}

// takeAll empties the slots and returns their jobs.
func (q *Queue) takeAll() []*Job {
	var jobs []*Job
	q.mu.Lock()
	for i, j := range q.slots {
		if j != nil {
			jobs = append(jobs, j)
			q.slots[i] = nil
			q.free = append(q.free, uint32(i))
		}
	}
	q.mu.Unlock()
	if len(jobs) > 0 {
		q.inflight.Add(-int64(len(jobs)))
	}
	return jobs
}

// flushUnfetched completes the jobs still in slots after the device let go of
// the queue: they stayed in the submission ring, never fetched, so no
// completion will come. Like the jobs the device flushed, they complete with
// StatusFlushed, or run in software under FallbackAuto.
func (q *Queue) flushUnfetched() {
	for _, j := range q.takeAll() {
		if q.cfg.fallback == FallbackAuto && q.softOK(j) {
			q.software(j, FallbackFaulted)
			continue
		}
		q.completed.Add(1)
		q.failed.Add(1)
		j.complete(ring.StatusFlushed, 0, 0, 0, 0, nil)
	}
}

// interruptUntil wakes whoever sleeps on the completion ring until done. The
// pause between wake-ups grows: a reaper that has seen stopping but still
// waits for jobs in flight needs no wake-up every 50 µs.
func (q *Queue) interruptUntil(done func() bool) {
	for pause := 50 * time.Microsecond; !done(); pause = min(2*pause, 5*time.Millisecond) {
		q.cq.Interrupt()
		time.Sleep(pause)
	}
}

// Close destroys the queue: jobs the device has not started complete with
// ErrFlushed (or in software, under FallbackAuto), the rest complete normally,
// and Close returns when every job has completed.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed.Swap(true) {
		q.mu.Unlock()
		return ErrClosed
	}
	q.mu.Unlock()
	if q.dev.be == nil {
		return nil
	}
	err := q.dev.be.destroyQueue(q.r.handle)
	q.released.Store(err == nil)
	q.stopping.Store(true)
	// Wake the reaper until it has seen stopping: a sleeping reaper returns
	// when woken; one that had not armed yet misses the wake-up, hence the
	// repeats.
	q.interruptUntil(func() bool {
		select {
		case <-q.reaped:
			return true
		default:
			return false
		}
	})
	if q.cfg.reap == ReapManual {
		// Held until the rings are unmapped: a Reap after this sees stopping.
		// A Reap asleep is woken and sees stopping; TryLock fails while others
		// queue for the lock, so after a while Close queues too.
		start, locked := time.Now(), false
		q.interruptUntil(func() bool {
			locked = q.reapMu.TryLock()
			return locked || time.Since(start) > 10*time.Millisecond
		})
		if !locked {
			q.reapMu.Lock()
		}
		q.drain()
	} else {
		// A goroutine reaping while it waits may be in a drain: it sees
		// stopping once it has the lock and touches the ring no more.
		q.reapMu.Lock()
	}
	// Pollers read the ring's indices without reapMu (Pending): they must
	// all have seen stopping and left before the rings are unmapped. None
	// registers any more: poll checks stopping under reapMu.
	for q.pollers > 0 {
		q.pollersGone.Wait()
	}
	if err == nil {
		q.flushUnfetched()
	}
	q.failAll(ErrClosed) // only if the driver could not post their completions
	q.r.release()
	q.reapMu.Unlock()
	q.dev.forget(q)
	return err
}
