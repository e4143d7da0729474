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
	d.inflight--
	*j = job{}
	d.free = append(d.free, j)
	if q.state == queueClosing && q.inflight == 0 {
		d.remove(q)
	}
}

// post writes cqe into q's completion ring, unpublished until publish.
func (d *Device) post(q *queue, cqe *ring.CQE) {
	if q.state == queueBroken {
		return
	}
	if q.cqUsed == q.cqRes {
		// Out of reserved entries: publish what is written, then reserve all
		// the free room, so that the rest of the round's completions go out
		// with one tail update. Fetch made sure there is a slot for this one.
		if q.cqUsed > 0 {
			q.cq.Commit(q.cqUsed)
			q.cqUsed, q.cqRes = 0, 0
		}
		free, err := q.cq.Free()
		if err == nil {
			q.cqRes, err = q.cq.Reserve(free)
		}
		if err != nil {
			q.broken(err)
			return
		}
		if q.cqRes == 0 {
			q.lost++ // the client moved its CQ head to make the ring look full
			return
		}
	}
	cqe.Encode(q.cq.Entry(q.cqUsed))
	q.cqUsed++
	if !q.touched {
		q.touched = true
		d.touched = append(d.touched, q)
	}
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
	if q.cqRes > 0 || q.cqUsed > 0 {
		q.cq.Commit(q.cqUsed)
		q.cqUsed, q.cqRes = 0, 0
	}
	if q.touched {
		q.touched = false
		q.cq.Wake()
	}
}
