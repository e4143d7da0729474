package userdrv

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/accelq/accelq/internal/spin"
	"github.com/accelq/accelq/ring"
)

// Reaping.
//
// One goroutine at a time reaps a queue's completion ring: whoever holds
// reapMu. That is the queue's reaper goroutine, or a goroutine waiting for a
// job of the queue in Job.Wait (a typed call, a face), or, on a ReapManual
// queue, the caller of Reap.
//
// A goroutine that waits for one job reaps for itself before it sleeps, as
// liburing's wait looks at the CQ before it enters the kernel: a job that
// completes within the queue's spin time is seen by the goroutine that wants
// it, on its own CPU, with no wake-up and no hop through another goroutine.
// The reaper goroutine does not spin while such pollers are there; it sleeps
// with the ring armed all the same, so that a completion nobody polls for
// (a waiter that gave up, a callback job) wakes it. Whoever reaps runs the
// callbacks it meets, with the queue's reap lock held: a callback must not
// wait for another job of its queue.
//
// The reaper goroutine spins for the spin time after its last completion (an
// adaptive one) and then sleeps on the ring's notifier: a channel the device
// sends on when it is in this process (the goroutine holds no P while it
// waits), the ring's futex when the device is acceld's (its wake reaches the
// sleeping thread directly).

// DefaultSpin is how long a goroutine waiting for a job, and an adaptive
// reaper, poll the completion ring before they sleep: longer than a wake-up
// costs on a virtual machine (13-20 us), so that a job a few microseconds
// away is reaped by polling.
const DefaultSpin = 50 * time.Microsecond

// reaper is the scratch state of whoever holds reapMu.
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

// drain completes every job whose CQE is in the ring, and reports how many
// completions it consumed. The caller holds reapMu.
//
// The slots are read under mu, the lock the submitter held when it filled them:
// that is the edge from a submission to its completion that the race detector
// sees (the ring's own ordering lives in shared memory, which it cannot track),
// and it costs one lock per batch, not an atomic per job.
func (q *Queue) drain() (int, error) {
	r := q.scratch
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

// spinner tells a polling loop when its spin time is up, reading the clock
// only every 64 polls, and yields the P every 256 so that a goroutine it is
// waiting for (an in-process device's loop) is not kept off the CPU. Each
// poll ends with the CPU's spin-wait hint, which leaves a hyperthread sibling
// (perhaps the device's worker) the core.
type spinner struct {
	n     int
	spin  time.Duration
	until time.Time
	ctx   context.Context // if set, its end stops the spin
}

// more reports whether the loop may poll once more.
func (s *spinner) more() bool {
	spin.Pause(1)
	s.n++
	if s.n%64 != 0 {
		return true
	}
	if s.n%256 == 0 {
		runtime.Gosched()
	}
	if s.ctx != nil && s.ctx.Err() != nil {
		return false
	}
	now := time.Now()
	if s.until.IsZero() {
		s.until = now.Add(s.spin)
	}
	return now.Before(s.until)
}

// poll reaps on the calling goroutine while j is in flight, for up to the
// time its class's waiters poll (learn adapts it), and reports whether it
// polled, and when it started. Callbacks and waiters of other jobs whose
// completions it meets run or are woken here.
func (q *Queue) poll(ctx context.Context, j *Job) (polled bool, start time.Time) {
	if q.cfg.spin <= 0 || q.cq == nil || q.cfg.reap == ReapManual || q.cfg.reap == ReapInterrupt {
		return false, time.Time{} // the caller reaps, or the queue sleeps at once
	}
	class, _ := j.Op.Class()
	start = time.Now()
	budget := time.Duration(q.waitSpin[class].Load())
	sp := spinner{spin: budget, until: start.Add(budget), ctx: ctx}
	if q.cfg.reap == ReapPoll {
		// The reaper never sleeps and reaps as fast as this goroutine could:
		// watch the job instead of contending for the ring.
		for j.state.Load() == jobInFlight && sp.more() {
		}
		return true, start
	}
	q.reapMu.Lock()
	if q.stopping.Load() {
		q.reapMu.Unlock()
		return false, time.Time{}
	}
	q.pollers++
	q.reapMu.Unlock()
	var err error
	for err == nil && j.state.Load() == jobInFlight && !q.stopping.Load() && sp.more() {
		if !q.cq.Pending() || !q.reapMu.TryLock() {
			continue // nothing yet, or someone is reaping it: our completion may be in their batch
		}
		if !q.stopping.Load() {
			_, err = q.drain()
		}
		q.reapMu.Unlock()
	}
	q.reapMu.Lock()
	q.pollers--
	if q.pollers == 0 {
		q.pollersGone.Broadcast()
	}
	q.reapMu.Unlock()
	if err != nil {
		q.lose(err)
	}
	return true, start
}

// learn adapts how long waiters poll for jobs of j's class to how long j
// took to complete once its waiter began to wait, as an adaptive mutex
// adapts its spinning: a job done within twice the queue's spin time keeps
// the full time for the next (had it been polled a little longer it would
// have cost no wake-up); one that took more than four times halves it, down
// to a sixteenth, so that waiting for jobs far longer than the spin time (an
// RSA signature computed in software, a large compression) does not burn a
// core that a computation on a hyperthread sibling could use, while every
// wait still polls a little and notices when jobs get quick again.
func (q *Queue) learn(j *Job, waited time.Duration) {
	class, _ := j.Op.Class()
	budget := &q.waitSpin[class]
	full := q.cfg.spin
	switch {
	case waited <= 2*full:
		budget.Store(int64(full))
	case waited > 4*full:
		if b := time.Duration(budget.Load()); b > full/16 {
			budget.Store(int64(max(b/2, full/16)))
		}
	}
}

// reap is the reaper goroutine: it delivers completions until the queue is
// closed and drained.
func (q *Queue) reap() {
	defer close(q.reaped)
	full := q.cfg.spin
	if q.cfg.reap == ReapInterrupt {
		full = 0
	}
	// The reaper's spin time adapts as a waiter's does (learn): a spin that
	// ends in a completion keeps the full time, one that ends in sleep halves
	// the next.
	spin := full
	sp := spinner{spin: spin}
	delivered := false
	// Whether the driver is still there is a system call to ask (a remote
	// one's socket), so it is asked after a sleep that brought nothing, not
	// on every poll.
	checkAlive := false
	polls := 0
	for {
		q.reapMu.Lock()
		n, err := q.drain()
		if err != nil {
			q.reapMu.Unlock()
			q.lose(err)
			return
		}
		if n > 0 {
			q.reapMu.Unlock()
			if sp.n > 0 {
				spin = full // the spin found completions
			}
			sp = spinner{spin: spin}
			delivered = true
			continue
		}
		if q.stopping.Load() && (q.released.Load() || q.inflight.Load() == 0) {
			// Once the device has let go of the queue, every completion it will
			// ever post is in the ring, and the drain above took it. Jobs left
			// in slots were never fetched; Close flushes them.
			q.reapMu.Unlock()
			return
		}
		if checkAlive && !q.dev.be.alive() {
			q.reapMu.Unlock()
			q.lose(ErrDeviceLost)
			return
		}
		checkAlive = false
		if q.cfg.reap == ReapPoll || (q.pollers == 0 && spin > 0 && sp.more()) {
			q.reapMu.Unlock()
			if q.cfg.reap == ReapPoll {
				runtime.Gosched()
				polls++
				checkAlive = polls%4096 == 0 // a reaper that never sleeps asks now and then
			}
			continue
		}
		if delivered {
			// Let the goroutines just woken run before this one sleeps: a
			// sleep on the ring's futex is a system call that keeps the P,
			// and the woken goroutines queued behind it would wait for
			// sysmon to take the P back.
			q.reapMu.Unlock()
			delivered = false
			runtime.Gosched()
			continue
		}
		// Sleep, armed: the device wakes the reaper for the next completion,
		// also while goroutines waiting for jobs poll (it finds their
		// completions taken, and sleeps again), so that nothing a poller
		// leaves behind waits for anyone.
		short, err := q.cq.ArmFor(1)
		if err != nil {
			q.reapMu.Unlock()
			q.lose(fmt.Errorf("%w: completion ring: %v", ErrDeviceLost, err))
			return
		}
		if !short {
			q.reapMu.Unlock()
			continue
		}
		q.reapMu.Unlock()
		q.sleeps.Add(1)
		err = q.cq.Park(time.Duration(reapBound.Load())) // a bound, to notice a lost device
		q.cq.Disarm()
		if err != nil && !q.stopping.Load() {
			q.lose(fmt.Errorf("%w: completion wake-up: %v", ErrDeviceLost, err))
			return
		}
		if sp.n > 0 {
			spin = max(spin/2, full/16) // the spin ended in sleep
		}
		sp = spinner{spin: spin}
		checkAlive = true
	}
}

// reapBound is the longest a reaper sleeps before it looks whether the device
// is still there.
var reapBound atomic.Int64

func init() { reapBound.Store(int64(50 * time.Millisecond)) }

// waitManual waits for want completions for Reap, in slices so that Close,
// which must take reapMu, never waits on a Reap that sleeps forever.
func (q *Queue) waitManual(want int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		slice := 50 * time.Millisecond
		if timeout >= 0 {
			slice = min(slice, time.Until(deadline))
		}
		before := q.cq.Counters().Sleeps
		n, err := q.cq.WaitFor(want, q.spinPolls(), max(slice, 0))
		q.sleeps.Add(q.cq.Counters().Sleeps - before)
		if n >= want || err != nil || q.stopping.Load() || (timeout >= 0 && !time.Now().Before(deadline)) {
			return n, err
		}
		if !q.dev.be.alive() {
			return n, nil // deliver what came; the next Reap finds the device gone
		}
	}
}

// spinPolls converts the spin time into polls of the ring for WaitFor, at
// about 10 ns a poll.
func (q *Queue) spinPolls() int { return int(q.cfg.spin / (10 * time.Nanosecond)) }

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
		got, err = q.drain()
	}
	if err == nil && got == 0 && !q.dev.be.alive() {
		err = ErrDeviceLost
	}
	if err != nil {
		q.lose(err)
	}
	return got, err
}
