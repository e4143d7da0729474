// Package ringbench is a client of a queue pair that costs itself as little
// as it can, for the benchmarks that measure what is on the other side of the
// rings: the device's front end in process, the same through acceld, against
// the kernel's io_uring.
//
// It refills the submission ring a batch at a time with one commit, keeps up
// to a depth in flight, waits for a batch of completions at a time (polling,
// with the CPU's spin-wait hint) and pops every completion that has arrived
// in one go, reading the clock once per refill and once per reap.
package ringbench

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/accelq/accelq/ring"
)

// Client drives one queue pair with copies of one SQE.
type Client struct {
	sq   *ring.Producer
	cq   *ring.Consumer
	enc  [ring.SQESize]byte
	buf  []byte
	sent []time.Duration // by job number: when its refill was published
	lat  []time.Duration
	t0   time.Time
}

// New returns a client of the rings sq and cq (whose producer's doorbell the
// caller has set) that submits copies of sqe, numbered in UserData.
func New(sq *ring.Producer, cq *ring.Consumer, sqe ring.SQE) *Client {
	c := &Client{sq: sq, cq: cq, buf: make([]byte, cq.Geometry().Entries*ring.CQESize), t0: time.Now()}
	sqe.Encode(c.enc[:])
	return c
}

// Run completes n jobs, publishing up to batch at a time and keeping at most
// depth in flight; it refills only once a whole batch has room, as a client
// of io_uring submitting batch entries per system call does. It fails on a
// corrupt ring or a completion that names no job, not on a job's status.
func (c *Client) Run(n, depth, batch int) error {
	if cap(c.sent) < n {
		c.sent = make([]time.Duration, n)
		c.lat = make([]time.Duration, 0, n)
	}
	c.sent, c.lat = c.sent[:n], c.lat[:0]
	submitted, reaped := 0, 0
	for reaped < n {
		for k := min(batch, n-submitted); k > 0 && depth-(submitted-reaped) >= k; k = min(batch, n-submitted) {
			got, err := c.sq.Reserve(k)
			if err != nil {
				return err
			}
			for i := 0; i < got; i++ {
				e := c.sq.Entry(i)
				copy(e, c.enc[:])
				binary.LittleEndian.PutUint64(e[8:], uint64(submitted+i))
			}
			c.sq.Commit(got)
			if _, err := c.sq.Wake(); err != nil {
				return err
			}
			now := time.Since(c.t0)
			for i := 0; i < got; i++ {
				c.sent[submitted+i] = now
			}
			submitted += got
			if got < k {
				break // the ring is full: reap first
			}
		}
		want := min(batch, submitted-reaped)
		if _, err := c.cq.WaitFor(want, 1<<20, time.Second); err != nil {
			return err
		}
		got, err := c.cq.Pop(c.buf)
		if err != nil {
			return err
		}
		now := time.Since(c.t0)
		for i := 0; i < got; i++ {
			id := binary.LittleEndian.Uint64(c.buf[i*ring.CQESize:])
			if id >= uint64(n) {
				return fmt.Errorf("ringbench: completion for job %d of %d", id, n)
			}
			c.lat = append(c.lat, now-c.sent[id])
		}
		reaped += got
	}
	return nil
}

// Median returns the median submit-to-reap latency of the last Run.
func (c *Client) Median() time.Duration {
	if len(c.lat) == 0 {
		return 0
	}
	slices.Sort(c.lat)
	return c.lat[len(c.lat)/2]
}
