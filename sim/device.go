package sim

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/op"
	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// maxInFlight bounds the jobs a device holds at once, across all queues; it is
// the capacity of the hand-off to the compute workers.
const maxInFlight = 1 << 16

// Device is a simulated accelerator. It implements device.Device.
type Device struct {
	cfg       config
	prof      *Profile
	info      device.Info
	supported [256]bool
	ops       [256]opInfo // validation's view of each opcode
	clock     Clock
	bell      *ring.EventNotifier // wakes the loop from a precise sleep: control requests, computed jobs, local doorbells
	poll      *unix.Poller        // bell and every queue's doorbell: the precise sleep's
	watch     *unix.Poller        // every queue's doorbell: the watcher's
	wake      *ring.LocalNotifier // wakes the loop from a long sleep
	watching  sync.WaitGroup      // the doorbell watcher
	work      chan *job           // to the compute workers
	workers   sync.WaitGroup
	sleeping  atomic.Int32  // how the loop sleeps, if it does: awake, sleepPrecise or sleepLong
	gen       atomic.Uint64 // bumped by every reset
	closed    atomic.Bool
	closing   atomic.Bool // Close has begun
	onReset   atomic.Pointer[func()]
	loopDone  chan struct{}

	inboxMu   sync.Mutex
	inboxDone []*job       // computed jobs from the workers
	inboxCtl  []func()     // control requests, run by the loop
	inboxN    atomic.Int32 // entries in the inbox, so the loop takes inboxMu only when there are any

	// Owned by the loop goroutine.
	model     *Model
	queues    []*queue
	rr        int
	waiting   deadlineHeap
	free      []*job
	inflight  int
	faults    Faults
	faulty    bool // faults has a non-zero rate: the data path asks the dice
	rng       *rand.Rand
	touched   []*queue
	tenants   map[*device.Tenant]*tenant
	fq        [numStages][ring.NumClasses]fairQueue // jobs waiting for an engine, and for a worker
	admitAt   [ring.NumClasses]time.Duration        // when each class's next waiting job can have an engine
	running   [ring.NumClasses]int                  // jobs on the workers, by class
	hostSeen  [ring.NumClasses]time.Duration        // when each class last had work for the workers
	hostRR    int                                   // the class the workers look at first on a tie
	spareJob  []*job
	spareCtl  []func()
	exiting   bool
	realTime  bool          // the clock is the host's: a completion posted late is the host's doing
	busyTime  time.Duration // the front end's time in rounds that found work
	computing int           // jobs handed to the workers and not yet back
	spare     int           // jobs computing at which no P is left for the loop to poll on
	sleeps    uint64        // times the front end slept

	classes   [ring.NumClasses]counters // of the queues removed; live queues' are summed in at a snapshot
	resets    uint64
	nextQueue int
}

// New starts a device with profile p.
func New(p *Profile, opts ...Option) (*Device, error) {
	if p == nil {
		return nil, fmt.Errorf("sim: nil profile")
	}
	cfg := defaultConfig(p)
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.clock == nil {
		cfg.clock = RealClock()
	}
	if cfg.workers < 1 {
		cfg.workers = 1
	}
	d := &Device{
		cfg:      cfg,
		prof:     p,
		clock:    cfg.clock,
		wake:     ring.NewLocalNotifier(),
		work:     make(chan *job, cfg.workers),
		tenants:  map[*device.Tenant]*tenant{},
		loopDone: make(chan struct{}),
		model:    NewModel(p),
		faults:   p.Faults,
	}
	if cfg.faults != nil {
		d.faults = *cfg.faults
	}
	d.faulty = d.faults.injects()
	if err := d.openWakeups(); err != nil {
		return nil, err
	}
	d.rng = newRand(d.faults.Seed)
	_, d.realTime = cfg.clock.(realClock)
	d.info = device.Info{
		Name:       cfg.name,
		Profile:    p.Name,
		Engines:    p.Engines,
		TimingOnly: cfg.timingOnly,
		MaxDepth:   p.MaxDepth,
	}
	for _, o := range p.Ops {
		if op.Implemented(o) {
			d.supported[o] = true
			d.info.Ops = append(d.info.Ops, o)
		}
	}
	if !d.supported[ring.OpNop] {
		d.supported[ring.OpNop] = true
		d.info.Ops = append([]ring.Opcode{ring.OpNop}, d.info.Ops...)
	}
	for o := range d.ops {
		c, ok := ring.Opcode(o).Class()
		d.ops[o] = opInfo{known: ok && op.Implemented(ring.Opcode(o)), supported: d.supported[o],
			needsKey: op.NeedsKey(ring.Opcode(o)), class: c}
	}
	d.spare = max(min(cfg.workers, runtime.GOMAXPROCS(0)-1), 1)
	for i := 0; i < cfg.workers; i++ {
		d.workers.Add(1)
		go d.worker()
	}
	if cfg.noLoop {
		return d, nil
	}
	go d.loop()
	return d, nil
}

func newRand(seed int64) *rand.Rand {
	if seed == 0 {
		seed = 0x61636365 // "acce": runs are reproducible unless a seed is given
	}
	return rand.New(rand.NewPCG(uint64(seed), uint64(seed)^0x9e3779b97f4a7c15))
}

// Info describes the device.
func (d *Device) Info() device.Info { return d.info }

// Profile returns the profile the device was started with.
func (d *Device) Profile() *Profile { return d.prof }

// do runs f on the loop goroutine and waits for it.
func (d *Device) do(f func()) error {
	if d.cfg.noLoop {
		f() // tests that drive the front end themselves, on this goroutine
		return nil
	}
	done := make(chan struct{})
	d.inboxMu.Lock()
	if d.closed.Load() {
		d.inboxMu.Unlock()
		return device.ErrClosed
	}
	d.inboxCtl = append(d.inboxCtl, func() { f(); close(done) })
	d.inboxN.Add(1)
	d.inboxMu.Unlock()
	d.kick()
	<-done
	return nil
}

// SetFaults changes fault injection at run time.
func (d *Device) SetFaults(f Faults) error {
	return d.do(func() { d.faults, d.faulty = f, f.injects(); d.rng = newRand(f.Seed) })
}

// Reset flushes every job not yet completed and stops every queue until Rearm.
func (d *Device) Reset() error { return d.do(d.reset) }

func (d *Device) reset() {
	d.gen.Add(1)
	d.model.Reset()
	d.resets++
	now := d.clock.Now()
	for _, q := range d.queues {
		if q.state == queueActive {
			q.state = queueStopped
		}
		d.flushLanes(q, now) // never ran
	}
	// Jobs waiting for their deadline complete now: those that ran (their output
	// may be in client memory already) with their results, the rest flushed.
	// Jobs on a worker come back with the old generation and are flushed then.
	d.completeWaiting(now, func(j *job) bool {
		if !j.compute && j.res.Status == ring.StatusOK {
			d.flush(j)
		}
		return true
	})
	if f := d.onReset.Load(); f != nil {
		go (*f)()
	}
}

// OnReset registers f to run, on its own goroutine, after every reset.
func (d *Device) OnReset(f func()) { d.onReset.Store(&f) }

// completeWaiting completes, at once, every job waiting for its deadline that
// pick selects, and keeps the others in order.
func (d *Device) completeWaiting(now time.Duration, pick func(*job) bool) {
	var done []*job
	keep := d.waiting[:0]
	for _, j := range d.waiting {
		if pick(j) {
			done = append(done, j)
		} else {
			keep = append(keep, j)
		}
	}
	clear(d.waiting[len(keep):])
	d.waiting = keep
	d.waiting.init()
	for _, j := range done {
		d.complete(j, now)
	}
}

func (d *Device) flush(j *job) {
	j.res = op.Result{Status: ring.StatusFlushed}
	j.flushed = true
}

// Close stops the device. Queues still open are destroyed first.
func (d *Device) Close() error {
	if d.closing.Swap(true) {
		<-d.loopDone
		return device.ErrClosed
	}
	var qs []*queue
	if err := d.do(func() { qs = append(qs, d.queues...) }); err != nil {
		return err
	}
	for _, q := range qs {
		q.Destroy()
	}
	d.inboxMu.Lock()
	d.closed.Store(true) // from here on, do refuses new requests
	d.inboxCtl = append(d.inboxCtl, func() { d.exiting = true })
	d.inboxN.Add(1)
	d.inboxMu.Unlock()
	d.kick()
	<-d.loopDone
	close(d.work)
	d.workers.Wait()
	return d.closeWakeups()
}

// run computes a job, or flushes it if its queue is closing or the device was
// reset since it was fetched.
func (d *Device) run(j *job) {
	if j.q.closing.Load() || j.gen != d.gen.Load() {
		d.flush(j)
	} else if j.copied {
		d.runCopied(j)
	} else {
		j.res = op.Run(j.sqe.Opcode, j.sqe.Param, j.key, j.src, j.aux, j.dst)
	}
	j.computed = d.clock.Now()
}

// worker computes jobs. Jobs whose queue is closing, or fetched before a
// reset, are flushed instead of run.
func (d *Device) worker() {
	defer d.workers.Done()
	for j := range d.work {
		start := time.Now()
		d.run(j)
		j.hostTime = time.Since(start)
		d.inboxMu.Lock()
		d.inboxDone = append(d.inboxDone, j)
		d.inboxN.Add(1)
		d.inboxMu.Unlock()
		d.kick()
	}
}
