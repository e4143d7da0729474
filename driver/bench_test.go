package driver

// The null job's rate through the driver, with the device in this process and
// in an acceld process, in one run.

import (
	"fmt"
	"testing"
	"time"

	"github.com/accelq/accelq/internal/ringbench"
	"github.com/accelq/accelq/ring"
)

// BenchmarkNullJob: null jobs at depth 64 on an ideal device, refilled 32 at
// a time, through an embedded driver context and through acceld. The rings,
// the device and the client are the same code; acceld adds only the
// process boundary. jobs/s is the rate; each run is b.N jobs.
func BenchmarkNullJob(b *testing.B) {
	const depth = 64
	b.Run(fmt.Sprintf("embedded/depth=%d", depth), func(b *testing.B) {
		d := New(newIdealDevice(b), nil)
		defer d.Close()
		c := openCtx(b, d, 1000)
		q, err := c.CreateQueue(QueueOptions{Depth: 2 * depth})
		if err != nil {
			b.Fatal(err)
		}
		bell, closeBell, err := q.LocalDoorbell()
		if err != nil {
			b.Fatal(err)
		}
		defer closeBell()
		runNullJobs(b, q.SQ(), q.CQ(), bell, depth)
	})
	b.Run(fmt.Sprintf("acceld/depth=%d", depth), func(b *testing.B) {
		dm := startDaemon(b, "")
		cn, err := Dial(dm.sock)
		if err != nil {
			b.Fatal(err)
		}
		defer cn.Close()
		q, err := cn.CreateQueue(QueueOptions{Depth: 2 * depth}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer q.Close()
		runNullJobs(b, q.SQ, q.CQ, q.Doorbell, depth)
	})
}

func runNullJobs(b *testing.B, sqm, cqm []byte, bell ring.Notifier, depth int) {
	cl := newRingClient(b, sqm, cqm, bell, nil)
	c := ringbench.New(cl.sq, cl.cq, ring.SQE{Opcode: ring.OpNop})
	if err := c.Run(min(b.N, 10000), depth, depth/2); err != nil { // warm up
		b.Fatal(err)
	}
	b.ResetTimer()
	t0 := time.Now()
	if err := c.Run(b.N, depth, depth/2); err != nil {
		b.Fatal(err)
	}
	el := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "jobs/s")
	b.ReportMetric(float64(c.Median().Nanoseconds()), "median-ns")
}
