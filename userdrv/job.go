package userdrv

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/accelq/accelq/ring"
)

// Span is a range of a registered Buffer named by a job.
type Span struct {
	Buf *Buffer
	Off int
	Len int
}

// All returns a span over the whole buffer.
func All(b *Buffer) Span { return Span{Buf: b, Len: b.Len()} }

// ref is the span's buffer reference; arm has checked it lies in the buffer.
func (s Span) ref() ring.BufRef {
	if s.Buf == nil {
		return ring.BufRef{}
	}
	return ring.BufRef{Region: s.Buf.region, Off: s.Buf.off + uint64(s.Off), Len: uint32(s.Len)}
}

func (s Span) bytes() []byte {
	if s.Buf == nil {
		return nil
	}
	return s.Buf.b[s.Off : s.Off+s.Len : s.Off+s.Len]
}

// Job is one operation: its request fields are set by the caller, its result
// fields by the library when it completes. A Job may be reused once it has
// completed; submitting it again while in flight fails with ErrInFlight.
//
// Completion is reported one of three ways: Callback, if set, runs when the
// job completes (it must not block); otherwise Wait returns when the job is
// done; Done gives a channel for select.
//
// A Callback runs on the goroutine that reaps the job's completion: the
// queue's reaper goroutine; or a goroutine inside Wait (or a typed call, or a
// face) on the same queue, which reaps while it waits; or, on a ReapManual
// queue, the caller of Reap. A job that runs in software completes on the
// goroutine that submitted it, or, when the device failed it and it ran
// again in software, on the goroutine that reaped the failure.
type Job struct {
	Op       ring.Opcode
	Flags    ring.SQEFlag // ring.SQEInPlace, ring.SQEFence
	Param    uint16
	Key      *Key
	Src      Span
	Dst      Span
	Aux      Span
	Callback func(*Job)
	Value    any // the caller's, untouched

	// Results, valid after completion.
	Status   ring.Status  // the completion status
	N        int          // bytes written to Dst
	Sum      uint64       // the CQE's auxiliary result: checksum, CRC32C
	CQEFlags ring.CQEFlag // ring.CQEFallback, ring.CQEHostLimited, ring.CQETimingOnly
	Err      error        // nil on success; a *JobError otherwise

	q     *Queue
	state atomic.Uint32
	done  chan struct{}
	raw   *ring.SQE // Queue.Raw: the entry as the caller gave it, buffer references and key handle included
}

const (
	jobIdle uint32 = iota
	jobInFlight
	jobDone
)

// Done returns a channel that receives once when the job completes (if it has
// no Callback).
func (j *Job) Done() <-chan struct{} {
	if j.done == nil {
		j.done = make(chan struct{}, 1)
	}
	return j.done
}

// Wait waits for the job to complete or ctx to end. If ctx ends first the job
// stays in flight and its buffers stay in use; Wait may be called again.
//
// Before it sleeps, Wait reaps the queue's completion ring itself for the
// queue's spin time (WithSpin), as liburing's wait looks at the ring before it
// enters the kernel: a job that completes within that time costs no wake-up.
func (j *Job) Wait(ctx context.Context) error {
	if j.state.Load() == jobIdle {
		return j.Err // never submitted, or already collected
	}
	q := j.q
	var polled bool
	var start time.Time
	if q != nil && j.state.Load() == jobInFlight && ctx.Err() == nil {
		polled, start = q.poll(ctx, j)
	}
	done := func() error {
		if polled {
			q.learn(j, time.Since(start))
		}
		j.state.Store(jobIdle)
		return j.Err
	}
	select {
	case <-j.Done(): // completed while this goroutine polled: no sleep
		return done()
	default:
	}
	if q != nil && ctx.Err() == nil {
		q.sleeps.Add(1) // the reaper (or another waiter) will wake this one
	}
	select {
	case <-j.Done():
		return done()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// encode writes the job's entry for slot into b, a submission ring entry. It
// cannot fail: arm checked the auxiliary length.
func (j *Job) encode(slot uint32, b []byte) {
	var s ring.SQE
	if j.raw != nil {
		s = *j.raw
	} else {
		s = ring.SQE{Opcode: j.Op, Flags: j.Flags, Param: j.Param,
			Src: j.Src.ref(), Dst: j.Dst.ref(), Aux: j.Aux.ref()}
		if j.Key != nil {
			s.Key = j.Key.handle
		}
	}
	s.UserData = uint64(slot)
	s.Encode(b)
}

// hold and release count the job as a user of each distinct buffer it names,
// so that a Buffer freed mid-flight is recycled only after the completion.
func (j *Job) hold() {
	s, d, a := j.Src.Buf, j.Dst.Buf, j.Aux.Buf
	if s != nil {
		s.hold()
	}
	if d != nil && d != s {
		d.hold()
	}
	if a != nil && a != s && a != d {
		a.hold()
	}
}

func (j *Job) release() {
	s, d, a := j.Src.Buf, j.Dst.Buf, j.Aux.Buf
	if s != nil {
		s.release()
	}
	if d != nil && d != s {
		d.release()
	}
	if a != nil && a != s && a != d {
		a.release()
	}
}

// complete records the result and tells whoever waits.
func (j *Job) complete(st ring.Status, n int, sum uint64, flags ring.CQEFlag, devErr uint32, err error) {
	j.Status, j.N, j.Sum, j.CQEFlags = st, n, sum, flags
	j.Err = nil
	if st != ring.StatusOK || err != nil {
		j.Err = &JobError{Op: j.Op, Status: st, DevErr: devErr, Fallback: flags&ring.CQEFallback != 0, Err: err}
	}
	j.release()
	if cb := j.Callback; cb != nil {
		j.state.Store(jobIdle)
		cb(j)
		return
	}
	j.state.Store(jobDone)
	select {
	case j.done <- struct{}{}:
	default:
	}
}

// arm makes j ready to be submitted.
func (j *Job) arm(q *Queue) error {
	if j.Aux.Len > ring.MaxAuxLen {
		return fmt.Errorf("%w: auxiliary buffer of %d bytes exceeds %d", ErrInvalid, j.Aux.Len, ring.MaxAuxLen)
	}
	for _, s := range [...]*Span{&j.Src, &j.Dst, &j.Aux} {
		if s.Buf != nil && (s.Off < 0 || s.Len < 0 || s.Off > len(s.Buf.b)-s.Len) {
			return fmt.Errorf("%w: span [%d, +%d) outside a %d-byte buffer", ErrInvalid, s.Off, s.Len, len(s.Buf.b))
		}
	}
	switch j.state.Load() {
	case jobInFlight:
		return ErrInFlight
	case jobDone:
		select { // a result nobody collected
		case <-j.done:
		default:
		}
	}
	if j.Callback == nil && j.done == nil {
		j.done = make(chan struct{}, 1)
	}
	j.q = q
	j.state.Store(jobInFlight)
	return nil
}
