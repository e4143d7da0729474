package bench

import (
	"sync/atomic"
	"time"
)

// The phases of a cell: its clients run jobs throughout, and count and time
// only those that complete while the window is open.
const (
	phaseWarm int32 = iota
	phaseMeasure
	phaseStop
)

// window is one cell's measurement window, shared by its client goroutines
// and the goroutine that opens and closes it.
type window struct {
	phase atomic.Int32
	jobs  atomic.Int64 // completions while measuring, for the minimum count
	start time.Time
	end   time.Time
}

// measuring reports whether a completion now falls in the window.
func (w *window) measuring() bool { return w.phase.Load() == phaseMeasure }

// stopped reports whether clients should stop submitting.
func (w *window) stopped() bool { return w.phase.Load() == phaseStop }

// run opens the window after the warm-up, keeps it open for at least the
// configured time and until minJobs completed (but no longer than the
// maximum), and closes it. open and close run at the boundaries to snapshot
// counters; failed, polled meanwhile, ends the window early.
func (w *window) run(t Timing, open, close func(), failed func() bool) {
	sleepUnless(t.Warmup, failed)
	open()
	w.start = time.Now()
	w.phase.Store(phaseMeasure)
	for {
		el := time.Since(w.start)
		if failed() || el >= t.MaxWindow || (el >= t.Window && w.jobs.Load() >= int64(t.MinJobs)) {
			break
		}
		step := t.Window - el
		if step <= 0 {
			step = time.Millisecond
		}
		sleepUnless(min(step, 10*time.Millisecond), failed)
	}
	w.end = time.Now()
	w.phase.Store(phaseStop)
	close()
}

// sleepUnless sleeps for d in short steps, returning early once stop reports true.
func sleepUnless(d time.Duration, stop func() bool) {
	end := time.Now().Add(d)
	for !stop() {
		left := time.Until(end)
		if left <= 0 {
			return
		}
		time.Sleep(min(left, 5*time.Millisecond))
	}
}

// Timing is how long each cell runs.
type Timing struct {
	Warmup    time.Duration // run and discard first
	Window    time.Duration // measure at least this long
	MinJobs   int           // and at least this many completions
	MaxWindow time.Duration // but never longer than this
}

// DefaultTiming suits the main job's matrix: long enough for steady state on
// a noisy two-core host, short enough for hundreds of cells in two minutes.
var DefaultTiming = Timing{Warmup: 15 * time.Millisecond, Window: 80 * time.Millisecond, MinJobs: 200, MaxWindow: 400 * time.Millisecond}
