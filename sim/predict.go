package sim

import (
	"math"
	"slices"
	"time"

	"github.com/accelq/accelq/ring"
)

// Throughput returns the jobs per second the model predicts for a closed loop
// that keeps depth jobs like j in flight on an otherwise idle device, each
// completion at once replaced by the next job:
//
//	min(E/S, B/n, B/m, depth/L)
//
// where E is the number of engines of j's class, S the job's engine time, B the
// link's bandwidth each way, n and m the job's input and output bytes, and L its
// unloaded latency, Costs(j).Latency() (see the model's comment). A term whose
// resource the job does not use, or that has no cap (a link of zero bandwidth),
// drops out. The terms are the per-job durations Schedule books, rounded to the
// nanosecond as it rounds them, so that the prediction is what the model itself
// would deliver, not what the unrounded profile figures imply.
//
// It is the yardstick of the device's fidelity: a benchmark driving the device
// the same way prints measured/Throughput, which falls below 1 wherever the
// host, not the model, sets the pace (BenchmarkFidelity).
//
// Special cases: a host-speed profile (ideal) puts no limit on anything and
// gives +Inf; an operation the model does not know gives 0, as the device
// refuses it; so does a depth below 1. A nop occupies no engine and no link,
// so only depth/L bounds it, and a job that costs nothing at all is +Inf.
func (m *Model) Throughput(j Job, depth int) float64 {
	if m.host {
		return math.Inf(1)
	}
	o := &m.ops[j.Op]
	if !o.ok || depth < 1 {
		return 0
	}
	c := m.Costs(j)
	x := math.Inf(1)
	if l := c.Latency(); l > 0 {
		x = float64(depth) / l.Seconds()
	}
	if o.class == ring.ClassNone {
		return x
	}
	if c.Service > 0 {
		e := m.engines[o.class].limit
		if e < 1 {
			return 0 // a class without engines never serves the job
		}
		x = math.Min(x, float64(e)/c.Service.Seconds())
	}
	// With no bandwidth cap the link times are zero and drop out here.
	if c.InLink > 0 {
		x = math.Min(x, 1/c.InLink.Seconds())
	}
	if c.OutLink > 0 {
		x = math.Min(x, 1/c.OutLink.Seconds())
	}
	return x
}

// ClosedLoop returns the jobs per second the model delivers to a client that
// keeps depth jobs like j in flight and refills them batch at a time: once
// batch of its jobs have completed it submits batch new ones together, at the
// moment the last of them completed, as a client of io_uring that submits
// batch entries per system call does. With batch 1 it is the loop Throughput
// solves, here replayed on Schedule; with a larger batch the in-flight count
// dips while the client waits for a whole batch, which no closed form
// captures.
//
// It replays the loop on the model itself and resets the model before and
// after: call it on a Model of its own, never on one that schedules a
// device's jobs. The special cases are Throughput's, and a batch outside 1 to
// depth gives 0.
func (m *Model) ClosedLoop(j Job, depth, batch int) float64 {
	if m.host {
		return math.Inf(1)
	}
	if !m.ops[j.Op].ok || depth < 1 || batch < 1 || batch > depth {
		return 0
	}
	m.Reset()
	defer m.Reset()
	// Enough jobs for the loop to settle (a fifth is discarded) at every depth.
	n := max(2000, 20*depth)
	warm := n / 5
	pending := make([]time.Duration, 0, depth) // completion times, ascending
	submit := func(t time.Duration) {
		done, _ := m.Schedule(t, j)
		i, _ := slices.BinarySearch(pending, done)
		pending = slices.Insert(pending, i, done)
	}
	for range depth {
		submit(0)
	}
	var first, last time.Duration
	freed := 0
	for completed := 1; completed <= n; completed++ {
		t := pending[0]
		pending = pending[1:]
		if completed == warm {
			first = t
		}
		last = t
		if freed++; freed == batch {
			freed = 0
			for range batch {
				submit(t)
			}
		}
	}
	if last <= first {
		return math.Inf(1) // jobs that take no time at all
	}
	return float64(n-warm) / (last - first).Seconds()
}
