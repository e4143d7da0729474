package sim

import (
	"time"

	"github.com/accelq/accelq/ring"
)

// complete writes j's CQE and recycles j. The CQE becomes visible when the
// round ends (publish), with those of every other job the round completed on
// the same queue: one tail update and at most one wake-up per queue per round.
func (d *Device) complete(j *job, now time.Duration) {
	q := j.q
	if !j.flushed {
		// Late: the host, not the model, set when this completion was seen,
		// because the computation ran past the deadline or the front end
		// reached the job after it. A manual clock's time is the test's, not
		// the host's, so only a computation can make a job late there.
		end := j.deadline
		if j.compute && j.computed > end {
			end = j.computed
		}
		if d.realTime && now-j.deadline > lateSlack {
			end = max(end, now)
		}
		if end > j.deadline {
			j.cqeFlags |= ring.CQEHostLimited
		}
		j.late = end - j.deadline
	}
	var cqe ring.CQE
	cqe.UserData = j.sqe.UserData
	cqe.Status = j.res.Status
	cqe.Flags = j.cqeFlags
	if j.res.Status == ring.StatusOK {
		cqe.Result = uint32(j.res.N)
		cqe.Aux = j.res.Aux
	}
	if j.res.Status == ring.StatusDeviceError {
		cqe.DevErr = devErrEngine
	}
	// Release the job's memory and key before the CQE is visible: a client that
	// has seen its completion may unregister the buffer or destroy the key at
	// once and must find them free, and their quota given back.
	d.account(j)
	j.unpin()
	d.post(q, &cqe)
	q.inflight--
	q.tenant.inflight--
	d.inflight--
	*j = job{}
	d.free = append(d.free, j)
	if q.state == queueClosing && q.inflight == 0 {
		d.remove(q)
	}
}

// post stages cqe for q's completion ring, where publish writes the round's
// completions with one copy and one tail update: the ring's lines are in the
// client's cache, and a burst of stores to them overlaps the waits for the
// lines that stores scattered between the rest of the round's work do not.
func (d *Device) post(q *queue, cqe *ring.CQE) {
	if q.state == queueBroken {
		return
	}
	if q.staged == stageEntries {
		d.flushStage(q)
	}
	cqe.Encode(q.cqStage[q.staged*ring.CQESize:])
	q.staged++
	if !q.touched {
		q.touched = true
		d.touched = append(d.touched, q)
	}
}

// stageEntries is how many completions a queue stages before it writes them.
const stageEntries = 64

// flushStage writes q's staged completions into its ring and publishes them.
// Fetch made sure the ring has room for every one.
func (d *Device) flushStage(q *queue) {
	if q.staged == 0 {
		return
	}
	n, err := q.cq.PushN(q.cqStage[:q.staged*ring.CQESize])
	if err != nil {
		q.broken(err)
	} else if n < q.staged {
		q.lost += uint64(q.staged - n) // the client moved its CQ head to make the ring look full
	}
	q.staged = 0
}

// publish makes the round's completions visible, queue by queue, and wakes
// the clients that asked for it.
func (d *Device) publish() {
	for i, q := range d.touched {
		d.publishQueue(q)
		d.touched[i] = nil
	}
	d.touched = d.touched[:0]
}

func (d *Device) publishQueue(q *queue) {
	if q.state != queueBroken {
		d.flushStage(q)
	}
	q.staged = 0
	if q.touched {
		q.touched = false
		if q.state != queueBroken {
			q.cq.Wake()
		}
	}
}
