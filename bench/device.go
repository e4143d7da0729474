package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accelq/accelq/ring"
	"github.com/accelq/accelq/userdrv"
)

// runSpec is one sync or pipelined cell on a target.
type runSpec struct {
	t            *target
	s            *shape
	mode         Mode
	variant      string
	depth, batch int
	clients      int
	buffers      string
	timing       Timing
}

func (r runSpec) label() string {
	l := fmt.Sprintf("%s %s %s", r.mode, r.t.profile, r.s.w)
	if r.variant != "" {
		l += " " + r.variant
	}
	if r.mode == ModePipelined {
		l += fmt.Sprintf(" depth=%d batch=%d", r.depth, r.batch)
	}
	return l + " " + r.t.timing + " " + r.buffers
}

// Verification samples: the first verifyFirst completions of a functional
// cell, then one in verifyEvery, so that checking (a signature verified, a
// block decompressed) does not take the cores the device computes on.
const (
	verifyFirst = 64
	verifyEvery = 16
)

// slot is one job of a cell with its own destination.
type slot struct {
	job    userdrv.Job
	dst    *userdrv.Buffer
	start  time.Time
	verify bool
}

// cellState is what a cell's clients share: the window, and the counts their
// callbacks and loops add to.
type cellState struct {
	w                     window
	mu                    sync.Mutex // hist, and the counters below when clients are many
	hist                  histogram
	verified, miscompares int64
	failed                int64
	in, out               int64 // compression: bytes in and out of measured jobs
	retries               uint64
	firstErr              error
	seq                   atomic.Int64 // completions, for the verification sample
	broken                atomic.Bool
	delta                 counterDelta
}

func (c *cellState) fail(err error) {
	c.mu.Lock()
	if c.firstErr == nil {
		c.firstErr = err
	}
	c.mu.Unlock()
	c.broken.Store(true)
}

// buffers allocates the cell's registered memory: the inputs, shared
// read-only by every job, and a destination per slot (one for all when the
// device computes nothing and so writes nothing).
type buffers struct {
	src, aux *userdrv.Buffer
	dsts     []*userdrv.Buffer
}

func (r runSpec) alloc(slots int) (*buffers, error) {
	b := &buffers{}
	var err error
	load := func(data []byte) *userdrv.Buffer {
		if len(data) == 0 || err != nil {
			return nil
		}
		var buf *userdrv.Buffer
		if buf, err = r.t.dev.Alloc(len(data)); err == nil {
			copy(buf.Bytes(), data)
		}
		return buf
	}
	b.src, b.aux = load(r.s.src), load(r.s.aux)
	if r.s.dstLen > 0 {
		n := slots
		if r.t.timing == "timing-only" {
			n = 1
		}
		for i := 0; i < n && err == nil; i++ {
			var d *userdrv.Buffer
			if d, err = r.t.dev.Alloc(r.s.dstLen); err == nil {
				b.dsts = append(b.dsts, d)
			}
		}
	}
	if err != nil {
		b.free()
		return nil, err
	}
	return b, nil
}

func (b *buffers) free() {
	for _, x := range append([]*userdrv.Buffer{b.src, b.aux}, b.dsts...) {
		if x != nil {
			x.Free()
		}
	}
}

// newSlots makes n jobs of the cell's shape over its buffers.
func (r runSpec) newSlots(n int, b *buffers, key *userdrv.Key) []*slot {
	out := make([]*slot, n)
	for i := range out {
		sl := &slot{}
		sl.job = userdrv.Job{Op: r.s.w.Op, Param: r.s.param, Key: key}
		if b.src != nil {
			sl.job.Src = userdrv.All(b.src)
		}
		if b.aux != nil {
			sl.job.Aux = userdrv.All(b.aux)
		}
		if len(b.dsts) > 0 {
			sl.dst = b.dsts[i%len(b.dsts)]
			sl.job.Dst = userdrv.All(sl.dst)
		}
		sl.job.Value = sl
		out[i] = sl
	}
	return out
}

// prepare readies a slot for submission: its start time, and for a job whose
// output will be checked a cleared destination, so that a device that wrote
// nothing cannot pass on the previous job's bytes. It reports whether it
// cleared one.
func (c *cellState) prepare(sl *slot, functional bool, now time.Time) bool {
	sl.start = now
	sl.verify = false
	if functional {
		if n := c.seq.Add(1); n <= verifyFirst || n%verifyEvery == 0 {
			sl.verify = true
			if sl.dst != nil {
				clear(sl.dst.Bytes())
				return true
			}
		}
	}
	return false
}

// complete accounts for one completed job in c, a client's own counts; w is
// the cell's window.
func (c *cellState) complete(r *runSpec, sl *slot, now time.Time, w *window) {
	j := &sl.job
	if w.measuring() {
		c.hist.record(now.Sub(sl.start))
		w.jobs.Add(1)
		c.in += int64(len(r.s.src))
		c.out += int64(j.N)
	}
	if j.Err != nil {
		c.failed++ // reported in the row, which a report flags
		return
	}
	if sl.verify {
		c.verified++
		var dst []byte
		if sl.dst != nil {
			dst = sl.dst.Bytes()
		}
		if err := r.s.check(dst, j.N, j.Sum); err != nil {
			c.miscompares++
		}
	}
}

// queueOptions are a cell's queue: device only, so that no job silently runs
// in software, and the cell's buffer mode.
func (r runSpec) queueOptions(depth int, reap userdrv.Reap) []userdrv.QueueOption {
	entries := 32
	for entries < depth {
		entries *= 2
	}
	if max := r.t.dev.Info().Device.MaxDepth; max > 0 {
		entries = min(entries, max)
	}
	opts := []userdrv.QueueOption{userdrv.WithDepth(entries), userdrv.WithFallback(userdrv.DeviceOnly), userdrv.WithReap(reap)}
	if r.buffers == Copy {
		opts = append(opts, userdrv.WithCopyMode())
	}
	return opts
}

// hang is how long a cell waits without any completion before it fails.
const hang = 10 * time.Second

func (r runSpec) run(ctx context.Context) ([]Row, error) {
	key, err := r.t.key(r.s)
	if err != nil {
		return nil, err
	}
	slots := r.depth * r.clients
	b, err := r.alloc(slots)
	if err != nil {
		return nil, err
	}
	defer b.free()
	st := &cellState{hist: newHistogram()}
	switch r.mode {
	case ModeSync:
		err = r.runSync(ctx, st, b, key)
	default:
		err = r.runPipelined(ctx, st, b, key)
	}
	if err != nil {
		return nil, err
	}
	return []Row{st.row(&r)}, nil
}

// counters are the queue and process counters read at the window's edges.
type counters struct {
	q    userdrv.QueueStats
	late uint64
	cpu  cpuMeter
	cpuW cpuWindow
}

func readQueues(qs []*userdrv.Queue) (userdrv.QueueStats, uint64) {
	var s userdrv.QueueStats
	var late uint64
	for _, q := range qs {
		x := q.Stats()
		s.Submitted += x.Submitted
		s.Completed += x.Completed
		s.Busy += x.Busy
		s.Fallbacks += x.Fallbacks
		s.Doorbells += x.Doorbells
		s.Sleeps += x.Sleeps
		if d, err := q.DeviceStats(); err == nil {
			late += d.Late
		}
	}
	return s, late
}

// edges opens and closes the window's counters over qs.
func (r runSpec) edges(qs []*userdrv.Queue, before, after *counters) (open, close func()) {
	open = func() {
		before.q, before.late = readQueues(qs)
		before.cpu = startCPU(r.t.daemon)
	}
	close = func() {
		after.cpuW = before.cpu.stop()
		after.q, after.late = readQueues(qs)
	}
	return open, close
}

// runSync runs the cell's clients, each with one job in flight on a queue of
// its own, waiting for each: polling on a default queue, sleeping on a
// ReapInterrupt one.
func (r runSpec) runSync(ctx context.Context, st *cellState, b *buffers, key *userdrv.Key) error {
	reap := userdrv.ReapAdaptive
	if r.variant == VariantSleep {
		reap = userdrv.ReapInterrupt
	}
	functional := r.t.timing == "functional"
	qs := make([]*userdrv.Queue, r.clients)
	for i := range qs {
		q, err := r.t.dev.NewQueue(r.queueOptions(1, reap)...)
		if err != nil {
			for _, q := range qs[:i] {
				q.Close()
			}
			return err
		}
		qs[i] = q
	}
	defer func() {
		for _, q := range qs {
			q.Close()
		}
	}()
	slots := r.newSlots(r.clients, b, key)
	var before, after counters
	openFn, closeFn := r.edges(qs, &before, &after)
	var wg sync.WaitGroup
	for i := range qs {
		wg.Add(1)
		go func(q *userdrv.Queue, sl *slot) {
			defer wg.Done()
			local := &cellState{hist: newHistogram()}
			defer func() {
				st.mu.Lock()
				st.merge(local)
				st.mu.Unlock()
			}()
			for !st.w.stopped() && !st.broken.Load() {
				if st.prepare(sl, functional, time.Now()) {
					sl.start = time.Now()
				}
				if err := q.Submit(&sl.job); err != nil {
					st.fail(err)
					return
				}
				wctx, cancel := context.WithTimeout(ctx, hang)
				err := sl.job.Wait(wctx)
				cancel()
				if err != nil && sl.job.Err == nil {
					st.fail(fmt.Errorf("waiting for a job: %w", err))
					return
				}
				local.complete(&r, sl, time.Now(), &st.w)
			}
		}(qs[i], slots[i])
	}
	st.w.run(r.timing, openFn, closeFn, st.broken.Load)
	wg.Wait()
	st.counters(&before, &after)
	return st.firstErr
}

// merge adds a client's counts to the cell's.
func (c *cellState) merge(o *cellState) {
	c.hist.merge(o.hist)
	c.verified += o.verified
	c.miscompares += o.miscompares
	c.failed += o.failed
	c.in += o.in
	c.out += o.out
}

// runPipelined keeps depth jobs in flight from one goroutine that submits
// batch jobs at a time, once a whole batch has room, and reaps on the same
// goroutine (a ReapManual queue), as an io_uring application does.
func (r runSpec) runPipelined(ctx context.Context, st *cellState, b *buffers, key *userdrv.Key) error {
	q, err := r.t.dev.NewQueue(r.queueOptions(r.depth, userdrv.ReapManual)...)
	if err != nil {
		return err
	}
	defer q.Close()
	functional := r.t.timing == "functional"
	slots := r.newSlots(r.depth, b, key)
	free := make([]*slot, 0, r.depth)
	reaped := make([]*slot, 0, r.depth)
	inflight := 0
	for _, sl := range slots {
		// The callback only collects: the loop reads the clock once per
		// reap for all it collected, as it does once per refill, since a
		// clock read costs about as much as the client's share of a null
		// job.
		sl.job.Callback = func(j *userdrv.Job) { reaped = append(reaped, j.Value.(*slot)) }
		free = append(free, sl)
	}
	var before, after counters
	openFn, closeFn := r.edges([]*userdrv.Queue{q}, &before, &after)
	done := make(chan struct{})
	go func() {
		st.w.run(r.timing, openFn, closeFn, st.broken.Load)
		close(done)
	}()
	batch := make([]*userdrv.Job, 0, r.batch)
	progress := time.Now()
	loopErr := func() error {
		for {
			stopped := st.w.stopped()
			if stopped && inflight == 0 {
				return nil
			}
			var now time.Time // one clock read per refill, for every batch in it
			if !stopped && len(free) >= r.batch {
				now = time.Now()
			}
			for !stopped && len(free) >= r.batch {
				batch = batch[:0]
				take := free[len(free)-r.batch:]
				cleared := false
				for _, sl := range take {
					cleared = st.prepare(sl, functional, now) || cleared
					batch = append(batch, &sl.job)
				}
				if cleared { // a cleared destination took time that is not the job's
					now = time.Now()
					for _, sl := range take {
						sl.start = now
					}
				}
				n, err := submit(q, batch)
				// The queue took a prefix of the batch: those slots are in
				// flight, the rest stay free.
				free = append(free[:len(free)-r.batch], take[n:]...)
				inflight += n
				if errors.Is(err, userdrv.ErrBusy) {
					break // counted by the queue (QueueStats.Busy), per job
				}
				if err != nil {
					return err
				}
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if inflight == 0 {
				if !stopped && time.Since(progress) > hang {
					return fmt.Errorf("the submission ring stayed full for %v with no job in flight", hang)
				}
				continue
			}
			got, err := q.ReapAtLeast(min(r.batch, inflight), 100*time.Millisecond)
			if len(reaped) > 0 {
				now := time.Now()
				for _, sl := range reaped {
					st.complete(&r, sl, now, &st.w)
				}
				free = append(free, reaped...)
				inflight -= len(reaped)
				reaped = reaped[:0]
			}
			if err != nil {
				return err
			}
			if got > 0 {
				progress = time.Now()
			} else if time.Since(progress) > hang {
				return fmt.Errorf("no completion for %v with %d jobs in flight", hang, inflight)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}()
	if loopErr != nil {
		st.fail(loopErr)
	}
	<-done
	// Drain what is left (after a failure) before the queue closes.
	for inflight > 0 {
		n, err := q.ReapAtLeast(inflight, time.Second)
		inflight -= len(reaped)
		reaped = reaped[:0]
		if err != nil || n == 0 {
			break
		}
	}
	st.counters(&before, &after)
	return st.firstErr
}

// submit hands the device one batch: Submit for a batch of one, the call an
// application makes for a single job, SubmitBatch otherwise.
func submit(q *userdrv.Queue, batch []*userdrv.Job) (int, error) {
	if len(batch) == 1 {
		if err := q.Submit(batch[0]); err != nil {
			return 0, err
		}
		return 1, nil
	}
	return q.SubmitBatch(batch)
}

// counters folds the window's counter deltas into the cell.
func (c *cellState) counters(before, after *counters) {
	c.delta = counterDelta{
		doorbells: after.q.Doorbells - before.q.Doorbells,
		sleeps:    after.q.Sleeps - before.q.Sleeps,
		busy:      after.q.Busy - before.q.Busy,
		fallbacks: after.q.Fallbacks - before.q.Fallbacks,
		late:      after.late - before.late,
		cpu:       after.cpuW,
	}
}

// counterDelta is what the queues and the process did in the window.
type counterDelta struct {
	doorbells, sleeps, busy, fallbacks, late uint64
	cpu                                      cpuWindow
}

// row is the cell's measurement as a report row.
func (c *cellState) row(r *runSpec) Row {
	row := baseRow(r.s)
	row.Mode, row.Variant, row.Profile, row.Target = r.mode, r.variant, r.t.profile, r.t.name
	row.Timing, row.Buffers = r.t.timing, r.buffers
	row.Depth, row.Batch, row.Clients = r.depth, r.batch, r.clients
	el := c.w.end.Sub(c.w.start)
	row.Jobs, row.Seconds = c.hist.count(), el.Seconds()
	c.fill(&row)
	row.Doorbells, row.Wakeups = c.delta.doorbells, c.delta.sleeps
	row.Retries = c.delta.busy
	row.Fallbacks = c.delta.fallbacks
	row.HostLimited = c.delta.late
	row.Others = c.delta.cpu.Others
	if row.Jobs > 0 {
		row.CPUPerOp = c.delta.cpu.Self.Seconds() * 1e6 / float64(row.Jobs)
	}
	if r.t.timing == "functional" && c.out > 0 && r.s.w.Class() == ring.ClassCompression {
		row.Ratio = float64(c.in) / float64(c.out)
	}
	if r.t.model != nil {
		// The model's rate for the same loop: depth in flight refilled
		// batch at a time; the sync mode's clients are a loop of depth
		// clients refilled one at a time.
		depth, batch := r.depth, r.batch
		if r.mode == ModeSync {
			depth, batch = r.clients, 1
		}
		if m := r.t.model.ClosedLoop(r.s.model(), depth, batch); m > 0 && !math.IsInf(m, 1) {
			row.ModelOpsPerSec = m
			row.Fidelity = row.OpsPerSec / m
		}
	}
	return row
}

// fill sets the rate, latency and verification columns.
func (c *cellState) fill(row *Row) {
	if row.Seconds > 0 {
		row.OpsPerSec = float64(row.Jobs) / row.Seconds
		row.GBPerSec = row.OpsPerSec * float64(row.payload()) / 1e9
	}
	row.Latency = c.hist.summary()
	row.Verified, row.Miscompares, row.Failed = c.verified, c.miscompares, c.failed
}
