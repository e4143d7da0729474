package sim

import (
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

const numStatus = 16

// counters is the internal form of device.Counters.
type counters struct {
	submitted   uint64
	completed   uint64
	byStatus    [numStatus]uint64
	bytesIn     uint64
	bytesOut    uint64
	busy        time.Duration
	hostLimited time.Duration
	late        uint64
	flushed     uint64
}

func (c *counters) add(j *job) {
	c.completed++
	st := j.res.Status
	if int(st) < numStatus {
		c.byStatus[st]++
	}
	if st == ring.StatusFlushed {
		c.flushed++
	}
	c.bytesIn += uint64(len(j.src))
	c.bytesOut += uint64(j.res.N)
	c.busy += j.busy
	if j.cqeFlags&ring.CQEHostLimited != 0 {
		c.late++
		c.hostLimited += j.late
	}
}

func (c *counters) export() device.Counters {
	out := device.Counters{
		Submitted:   c.submitted,
		Completed:   c.completed,
		BytesIn:     c.bytesIn,
		BytesOut:    c.bytesOut,
		Busy:        c.busy,
		HostLimited: c.hostLimited,
		Late:        c.late,
		Flushed:     c.flushed,
		ByStatus:    map[ring.Status]uint64{},
	}
	for s, n := range c.byStatus {
		if n > 0 && ring.Status(s) != ring.StatusOK {
			out.ByStatus[ring.Status(s)] = n
		}
	}
	return out
}

// account records a completed job in its queue's counters for its class: one
// set of counters per job, summed by queue or by class when a snapshot is
// taken. The counters belong to the loop goroutine, so the data path takes no
// lock; snapshots are taken on the loop too.
func (d *Device) account(j *job) { j.q.stats[j.class].add(j) }

// merge adds o's counts to c.
func (c *counters) merge(o *counters) {
	c.submitted += o.submitted
	c.completed += o.completed
	for i := range c.byStatus {
		c.byStatus[i] += o.byStatus[i]
	}
	c.bytesIn += o.bytesIn
	c.bytesOut += o.bytesOut
	c.busy += o.busy
	c.hostLimited += o.hostLimited
	c.late += o.late
	c.flushed += o.flushed
}

// queueTotal is a queue's counters over every class.
func (q *queue) queueTotal() counters {
	var c counters
	for i := range q.stats {
		c.merge(&q.stats[i])
	}
	c.submitted = q.submitted
	return c
}

// Stats returns the device's per-class counters. After Close it returns the
// counters as they were when the device stopped.
func (d *Device) Stats() device.Stats {
	var s device.Stats
	snap := func() {
		for i := range d.classes {
			c := d.classes[i] // the queues removed so far
			for _, q := range d.queues {
				c.merge(&q.stats[i])
			}
			s.Classes[i] = c.export()
		}
		s.Resets = d.resets
		s.FrontEndBusy = d.busyTime
		s.Sleeps = d.sleeps
	}
	if d.do(snap) != nil {
		<-d.loopDone // closed: the loop has stopped writing
		snap()
	}
	return s
}
