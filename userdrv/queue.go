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
	// ReapInterrupt sleeps at once and is woken by the device through a futex:
	// the least CPU, about 15 us more latency per wake-up.
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
	spins    int
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

// WithSpin sets how many empty polls of the completion ring an adaptive or
// manual reaper makes before it sleeps (default 2000; 0 sleeps at once).
func WithSpin(n int) QueueOption { return func(c *queueConfig) { c.spins = n } }

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
// concurrent use; completions are delivered on the reaper goroutine.
type Queue struct {
	dev *Device
	cfg queueConfig
	r   rings
	sq  *ring.Producer
	cq  *ring.Consumer // the device wakes its reaper through a futex on the CQ's flags word

	mu     sync.Mutex // sq, free, slots
	free   []uint32
	slots  []*Job // the jobs in flight, by user data
	closed atomic.Bool

	inflight atomic.Int64
	stopping atomic.Bool
	released atomic.Bool // destroyQueue succeeded: the device posted its last CQE and fetches no more
	lost     atomic.Bool // the device went away and the reaper stopped: nothing reaps the rings any more
	reaped   chan struct{}
	reapMu   sync.Mutex // ReapManual: one reaping goroutine at a time
	manual   *reaper
	batchMu  sync.Mutex
	batch    []*Job // scratch for SubmitBatch

	submitted, completed, failed, busy atomic.Uint64
	fallbacks                          [numFallbackReasons]atomic.Uint64
}

// NewQueue creates a queue pair on the device and starts its reaper.
func (d *Device) NewQueue(opts ...QueueOption) (*Queue, error) {
	cfg := queueConfig{depth: 256, spins: 2000}
	for _, o := range opts {
		o(&cfg)
	}
	q := &Queue{dev: d, cfg: cfg, reaped: make(chan struct{})}
	if d.be == nil {
		q.cfg.fallback = SoftwareOnly // no device: nothing else is possible
		close(q.reaped)
		return q, nil
	}
	// No CQ eventfd: a futex on the ring's own flags word costs the reaper one
	// system call per sleep, where an eventfd costs a poll and a read.
	var err error
	q.r, err = d.be.createQueue(driver.QueueOptions{Depth: cfg.depth, Classes: cfg.classes,
		CopyMode: cfg.copyMode, Weight: cfg.weight})
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
		Failed: q.failed.Load(), Busy: q.busy.Load()}
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
	q.sq.Wake()
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

// reaper is the state one reaping goroutine needs.
type reaper struct {
	buf   []byte     // completions as popped from the ring
	cqes  []ring.CQE // decoded, of jobs still in their slots
	jobs  []*Job     // cqes[i] completes jobs[i]
	retry []bool     // jobs[i] runs again in software
}

func newReaper() *reaper {
	const batch = 64
	return &reaper{buf: make([]byte, batch*ring.CQESize), cqes: make([]ring.CQE, 0, batch),
		jobs: make([]*Job, 0, batch), retry: make([]bool, 0, batch)}
}

// wait waits for want completions per the queue's Reap mode, for at most
// timeout. It returns how many are ready, fewer than want on timeout.
func (q *Queue) wait(want, spins int, timeout time.Duration) (int, error) {
	if q.cfg.reap == ReapPoll {
		deadline := time.Now().Add(timeout)
		for !q.stopping.Load() {
			if n, err := q.cq.Available(); n >= want || err != nil {
				return n, err
			}
			runtime.Gosched()
			if time.Now().After(deadline) {
				break
			}
		}
		return 0, nil
	}
	return q.cq.WaitFor(want, spins, timeout)
}

// drain completes every job whose CQE is in the ring, and reports how many
// completions it consumed.
//
// The slots are read under mu, the lock the submitter held when it filled them:
// that is the edge from a submission to its completion that the race detector
// sees (the ring's own ordering lives in shared memory, which it cannot track),
// and it costs one lock per batch, not an atomic per job.
func (q *Queue) drain(r *reaper) (int, error) {
	total := 0
	for {
		got, err := q.cq.Pop(r.buf)
		if got > 0 {
			q.claim(r, got)
			q.deliver(r)
		}
		total += got
		if err != nil {
			return total, fmt.Errorf("%w: completion ring: %v", ErrDeviceLost, err)
		}
		if got < len(r.buf)/ring.CQESize {
			return total, nil
		}
	}
}

// claim decodes n popped completions and takes their jobs out of the slots.
func (q *Queue) claim(r *reaper, n int) {
	r.cqes, r.jobs = r.cqes[:0], r.jobs[:0]
	q.mu.Lock()
	for i := 0; i < n; i++ {
		var c ring.CQE
		if c.Decode(r.buf[i*ring.CQESize:]) != nil || c.UserData >= uint64(len(q.slots)) {
			continue // not ours: a corrupt completion names no job
		}
		j := q.slots[c.UserData]
		if j == nil {
			continue // a duplicate, or a job already failed
		}
		q.slots[c.UserData] = nil
		q.free = append(q.free, uint32(c.UserData))
		r.cqes = append(r.cqes, c)
		r.jobs = append(r.jobs, j)
	}
	q.mu.Unlock()
	if len(r.jobs) > 0 {
		q.inflight.Add(-int64(len(r.jobs)))
	}
}

// deliver completes the claimed jobs, retrying in software those the device
// failed when the queue falls back. The counters move once per batch, before any
// job of it completes, so that whoever waits for a job finds it counted.
func (q *Queue) deliver(r *reaper) {
	// Decided once per job, before any callback runs: a callback may destroy a
	// key another job of the batch uses.
	var completed, failed uint64
	r.retry = r.retry[:0]
	for i := range r.jobs {
		retry := q.retries(r.jobs[i], &r.cqes[i])
		r.retry = append(r.retry, retry)
		if !retry {
			completed++
			if r.cqes[i].Status != ring.StatusOK {
				failed++
			}
		}
	}
	if completed > 0 {
		q.completed.Add(completed)
	}
	if failed > 0 {
		q.failed.Add(failed)
	}
	for i, j := range r.jobs {
		c := &r.cqes[i]
		r.jobs[i] = nil // the reaper keeps no job alive
		if r.retry[i] {
			q.software(j, FallbackFaulted)
			continue
		}
		j.complete(c.Status, int(c.Result), c.Aux, c.Flags, c.DevErr, nil)
	}
}

// retries reports whether a job the device completed with c runs again in
// software.
func (q *Queue) retries(j *Job, c *ring.CQE) bool {
	return q.cfg.fallback == FallbackAuto && q.softOK(j) &&
		(c.Status == ring.StatusDeviceError || c.Status == ring.StatusUnsupported || c.Status == ring.StatusFlushed)
}

// reap delivers completions until the queue is closed and drained.
func (q *Queue) reap() {
	defer close(q.reaped)
	r := newReaper()
	spins := q.cfg.spins
	if q.cfg.reap == ReapInterrupt {
		spins = 0
	}
	for {
		n, err := q.wait(1, spins, 50*time.Millisecond)
		if err == nil && n > 0 {
			_, err = q.drain(r)
		}
		if err != nil {
			q.lose(fmt.Errorf("%w: %v", ErrDeviceLost, err))
			return
		}
		if n == 0 {
			if q.stopping.Load() && (q.released.Load() || q.inflight.Load() == 0) {
				// Once the device has let go of the queue, every completion it will
				// ever post is in the ring: drain it and go. Jobs left in slots
				// were never fetched; Close flushes them.
				if _, err := q.drain(r); err != nil {
					q.lose(err)
				}
				return
			}
			if !q.dev.be.alive() {
				q.lose(ErrDeviceLost)
				return
			}
		}
	}
}

// waitManual waits for want completions for Reap, in slices so that Close,
// which must take reapMu, never waits on a Reap that sleeps forever.
func (q *Queue) waitManual(want int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		slice := 50 * time.Millisecond
		if timeout >= 0 {
			slice = min(slice, time.Until(deadline))
		}
		n, err := q.wait(want, q.cfg.spins, max(slice, 0))
		if n >= want || err != nil || q.stopping.Load() || (timeout >= 0 && !time.Now().Before(deadline)) {
			return n, err
		}
		if !q.dev.be.alive() {
			return n, nil // deliver what came; the next Reap finds the device gone
		}
	}
}

// Ready reports how many completions wait in a ReapManual queue's ring, without
// reaping them: one atomic load, for an event loop that reaps when enough have
// arrived and does other work meanwhile. Like Reap, it is for the reaping
// goroutine.
func (q *Queue) Ready() int {
	if q.cfg.reap != ReapManual || q.dev.be == nil {
		return 0
	}
	// The consumer's state belongs to whoever holds reapMu, and Close holds it
	// while it unmaps the ring: a Ready that cannot have it reports nothing.
	if !q.reapMu.TryLock() {
		return 0
	}
	defer q.reapMu.Unlock()
	if q.stopping.Load() {
		return 0
	}
	n, _ := q.cq.Available() // a corrupt ring is reported by the next Reap
	return n
}

// Reap completes the jobs whose completions have arrived, waiting up to timeout
// for the first (spinning, then sleeping). It is how a ReapManual queue reaps;
// on other queues the reaper goroutine does it. It reports how many jobs it
// completed.
func (q *Queue) Reap(timeout time.Duration) (int, error) { return q.ReapAtLeast(1, timeout) }

// ReapAtLeast is Reap waiting for n completions, or for every job in flight if
// fewer are: the io_uring_wait_cqe_nr of a queue. Asleep, it is woken once when
// the n-th completion arrives rather than at each, so a caller that keeps a deep
// queue and reaps half of it at a time pays one wake-up per half. On timeout it
// completes what has arrived, possibly fewer than n jobs.
func (q *Queue) ReapAtLeast(n int, timeout time.Duration) (int, error) {
	if q.cfg.reap != ReapManual {
		return 0, fmt.Errorf("userdrv: Reap on a queue with a reaper goroutine")
	}
	if q.dev.be == nil {
		return 0, nil
	}
	q.reapMu.Lock()
	defer q.reapMu.Unlock()
	if q.stopping.Load() {
		return 0, ErrClosed // Close holds reapMu until the rings are unmapped
	}
	if q.manual == nil {
		q.manual = newReaper()
	}
	// Every job in a slot has a completion coming, so a threshold up to that
	// many can be met, as long as the completion ring can hold them all: the
	// device fetches nothing while it is full.
	want := max(min(n, int(q.inflight.Load()), q.cq.Geometry().Entries), 1)
	// A busy ring has completions already: no clock read, no wait.
	got, err := q.cq.Available()
	if got < want && err == nil {
		got, err = q.waitManual(want, timeout)
	}
	if err == nil && got > 0 {
		got, err = q.drain(q.manual)
	}
	if err == nil && got == 0 && !q.dev.be.alive() {
		err = ErrDeviceLost
	}
	if err != nil {
		q.lose(err)
	}
	return got, err
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
		defer q.reapMu.Unlock()
		q.drain(newReaper())
	}
	if err == nil {
		q.flushUnfetched()
	}
	q.failAll(ErrClosed) // only if the driver could not post their completions
	q.r.release()
	q.dev.forget(q)
	return err
}
