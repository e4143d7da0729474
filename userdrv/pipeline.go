package userdrv

import (
	"context"
	"errors"
	"io"
	"iter"
	"sync/atomic"
)

// Pipeline keeps up to a fixed number of jobs in flight on a queue and hands
// them back in the order they were submitted, whatever order the device
// completes them in: the building block of the streaming compressor and of the
// benchmark's pipelined mode.
//
// A job belongs to the pipeline from Submit until Next returns it; at most
// Cap() jobs belong to it at a time, so at most Cap() are in flight on the
// device. Submit blocks while the pipeline is full, until Next hands back the
// oldest job. A caller that submits and collects on one goroutine therefore
// calls Next first when Len() == Cap():
//
//	for each input {
//		if p.Len() == p.Cap() {
//			j, err := p.Next(ctx) // the oldest job, completed
//			... use j, then refill it with the next input ...
//		}
//		p.Submit(ctx, j)
//	}
//	for p.Len() > 0 { j, err := p.Next(ctx); ... }
//
// Or one goroutine submits and then calls Close, and another collects with
// Next (or ranges over Results) until io.EOF.
//
// The pipeline completes jobs by their Callback: Submit installs its own and
// Next puts the caller's back. A caller's Callback still runs, first, on the
// queue's reaper goroutine. Each job's error is reported by Next in order, with
// the job, so one failed job does not hide the jobs around it.
//
// Submit (and Close) may be called by one goroutine at a time, and Next by one
// goroutine at a time, the same or another. The steady path allocates nothing:
// slots are a ring, and a completion wakes a waiting Next through one
// preallocated channel rather than a channel per job.
type Pipeline struct {
	q      *Queue
	slots  []pipeSlot
	head   atomic.Uint64 // next job Next returns; written by Next only
	tail   atomic.Uint64 // next slot Submit fills; written by Submit only
	ready  chan struct{} // a job completed or was submitted, or the pipeline was closed
	space  chan struct{} // Next freed a slot
	closed atomic.Bool
}

// pipeSlot is one place in the ring.
type pipeSlot struct {
	p    *Pipeline
	job  *Job
	user func(*Job) // the caller's Callback, run first
	done atomic.Bool
	cb   func(*Job) // p.complete bound to this slot, made once
}

// ErrPipelineClosed is returned by Submit after Close.
var ErrPipelineClosed = errors.New("userdrv: pipeline closed")

// NewPipeline returns a pipeline keeping up to depth jobs in flight on q. The
// queue should hold depth jobs (WithDepth) or wait or fall back when full;
// otherwise Submit can fail with ErrBusy.
func NewPipeline(q *Queue, depth int) *Pipeline {
	if depth < 1 {
		depth = 1
	}
	p := &Pipeline{q: q, slots: make([]pipeSlot, depth),
		ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
	for i := range p.slots {
		s := &p.slots[i]
		s.p = p
		s.cb = s.complete
	}
	return p
}

// complete runs on the reaper goroutine (or on the submitting goroutine when
// the job ran in software).
func (s *pipeSlot) complete(j *Job) {
	if s.user != nil {
		s.user(j)
	}
	s.done.Store(true)
	s.p.signal(s.p.ready)
}

func (p *Pipeline) signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Cap returns the most jobs the pipeline holds at a time.
func (p *Pipeline) Cap() int { return len(p.slots) }

// Len returns how many jobs the pipeline holds: submitted and not yet returned
// by Next, whether completed or not.
func (p *Pipeline) Len() int { return int(p.tail.Load() - p.head.Load()) }

// Submit submits j to the queue, first waiting, if the pipeline is full, until
// Next has returned the oldest job or ctx ends. An error means j was not taken:
// it is not in the pipeline and will not be returned by Next (a job that fails
// on submission, ErrDeviceLost say, reports its error here).
func (p *Pipeline) Submit(ctx context.Context, j *Job) error {
	if p.closed.Load() {
		return ErrPipelineClosed
	}
	if j.state.Load() == jobInFlight {
		return ErrInFlight
	}
	for p.Len() >= len(p.slots) {
		select {
		case <-p.space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t := p.tail.Load()
	s := &p.slots[t%uint64(len(p.slots))]
	s.job, s.user = j, j.Callback
	s.done.Store(false)
	j.Callback = s.cb
	if err := p.q.Submit(j); err != nil {
		// Refused, or completed with an error before reaching the ring:
		// either way the job is the caller's again.
		j.Callback = s.user
		s.job, s.user = nil, nil
		return err
	}
	p.tail.Store(t + 1)
	p.signal(p.ready)
	return nil
}

// Next waits for the oldest job in the pipeline to complete and returns it with
// its error (j.Err). If ctx ends first, it returns nil and ctx.Err(), and the
// job stays in the pipeline for the next call. After Close, once every job has
// been returned, Next returns nil and io.EOF; on an empty pipeline that is not
// closed it waits for a Submit.
func (p *Pipeline) Next(ctx context.Context) (*Job, error) {
	for {
		h := p.head.Load()
		if h != p.tail.Load() {
			s := &p.slots[h%uint64(len(p.slots))]
			if s.done.Load() {
				j := s.job
				j.Callback = s.user
				s.job, s.user = nil, nil
				p.head.Store(h + 1)
				p.signal(p.space)
				return j, j.Err
			}
		} else if p.closed.Load() && h == p.tail.Load() {
			return nil, io.EOF
		}
		select {
		case <-p.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close ends submission: Submit fails afterwards, and Next returns io.EOF once
// it has returned every job submitted. It does not wait for the jobs; it must
// not be called concurrently with Submit.
func (p *Pipeline) Close() {
	p.closed.Store(true)
	p.signal(p.ready)
}

// Results returns an iterator over the jobs Next returns, with their errors,
// until io.EOF (after Close) or until ctx ends, which it yields as a last
// (nil, ctx.Err()) pair.
func (p *Pipeline) Results(ctx context.Context) iter.Seq2[*Job, error] {
	return func(yield func(*Job, error) bool) {
		for {
			j, err := p.Next(ctx)
			if err == io.EOF && j == nil {
				return
			}
			if !yield(j, err) || j == nil {
				return
			}
		}
	}
}
