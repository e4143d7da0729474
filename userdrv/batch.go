package userdrv

import "runtime"

// SubmitBatch submits jobs in order with one publication of the ring's tail and
// at most one doorbell, which is where rings beat a system call per operation.
// It returns how many jobs it accepted: all of them, unless the ring fills on a
// queue that neither waits nor falls back, in which case the accepted jobs are a
// prefix and the error is ErrBusy. A job that cannot be submitted at all (in
// flight already, an oversized auxiliary buffer) fails the batch before any of
// its jobs reaches the ring; the jobs before it that ran in software count as
// accepted.
func (q *Queue) SubmitBatch(jobs []*Job) (int, error) {
	if q.closed.Load() {
		return 0, ErrClosed
	}
	buf := q.batchBuf()
	defer q.putBatch(buf)
	pending := buf // device-bound jobs not yet on the ring
	accepted := 0
	for i, j := range jobs {
		if err := j.arm(q); err != nil {
			// The jobs armed so far go back to the caller unsubmitted.
			for _, p := range pending {
				p.release()
				p.state.Store(jobIdle)
			}
			return accepted, err
		}
		j.hold()
		if why, soft := q.route(j); soft {
			q.software(j, why)
			accepted++
			continue
		}
		pending = append(pending, jobs[i])
	}
	for len(pending) > 0 {
		n, err := q.publish(pending)
		accepted += n
		pending = pending[n:]
		if err != nil || len(pending) == 0 {
			for _, j := range pending {
				q.abort(j, err)
			}
			return accepted, err
		}
		q.busy.Add(uint64(len(pending)))
		switch {
		case q.cfg.fallback == FallbackAuto:
			for _, j := range pending {
				if q.softOK(j) {
					q.software(j, FallbackBusy)
					accepted++
					continue
				}
				j.release()
				j.state.Store(jobIdle)
			}
			return accepted, nil
		case !q.cfg.block:
			for _, j := range pending {
				j.release()
				j.state.Store(jobIdle)
			}
			return accepted, ErrBusy
		}
		runtime.Gosched()
		if q.closed.Load() {
			for _, j := range pending {
				j.release()
				j.state.Store(jobIdle)
			}
			return accepted, ErrClosed
		}
	}
	return accepted, nil
}

// publish puts as many of jobs on the ring as fit, in one commit.
func (q *Queue) publish(jobs []*Job) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch { // under mu: see Queue.Submit
	case q.closed.Load():
		return 0, ErrClosed
	case q.lost.Load():
		return 0, ErrDeviceLost
	}
	want := min(len(jobs), len(q.free))
	got, err := q.sq.Reserve(want)
	if err != nil {
		return 0, err
	}
	for i := 0; i < got; i++ {
		slot := q.free[len(q.free)-1]
		q.free = q.free[:len(q.free)-1]
		jobs[i].encode(slot, q.sq.Entry(i))
		q.slots[slot] = jobs[i]
	}
	q.inflight.Add(int64(got))
	q.sq.Commit(got)
	q.ring()
	q.submitted.Add(uint64(got))
	return got, nil
}

func (q *Queue) batchBuf() []*Job {
	q.batchMu.Lock()
	b := q.batch[:0]
	q.batch = nil
	q.batchMu.Unlock()
	if b == nil {
		b = make([]*Job, 0, 64)
	}
	return b
}

func (q *Queue) putBatch(b []*Job) {
	b = b[:cap(b)]
	clear(b)
	q.batchMu.Lock()
	q.batch = b[:0]
	q.batchMu.Unlock()
}
