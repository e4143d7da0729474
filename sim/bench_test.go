package sim

// Benchmarks of the device's own path (fetch, validate, schedule, complete) with
// nothing to compute, and of a small real operation, at depth 1 and 64; and the
// null job beside the kernel's io_uring NOP at the same batch sizes.

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/iouring"
	"github.com/accelq/accelq/internal/ringbench"
	"github.com/accelq/accelq/ring"
)

func BenchmarkDeviceNop(b *testing.B) {
	for _, depth := range []int{1, 64} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			benchDepth(b, "ideal", depth, ring.SQE{Opcode: ring.OpNop}, nil)
		})
	}
}

func BenchmarkDeviceSHA256_64B(b *testing.B) {
	for _, depth := range []int{1, 64} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			benchDepth(b, "ideal", depth, ring.SQE{Opcode: ring.OpSHA256}, func(h *harness, s *ring.SQE) {
				in, _ := h.region(64, false)
				out, _ := h.region(32, true)
				s.Src, s.Dst = ref(in, 0, 64), ref(out, 0, 32)
			})
		})
	}
}

// benchDepth keeps depth jobs in flight and reports jobs/s and the median
// submit-to-reap latency.
func benchDepth(b *testing.B, profile string, depth int, sqe ring.SQE, setup func(*harness, *ring.SQE)) {
	d := startDevice(b, profile)
	h := newHarness(b, d, max(depth, 2)*2, func(c *device.QueueConfig) {})
	if setup != nil {
		setup(h, &sqe)
	}
	c := ringbench.New(h.sq, h.cq, sqe)
	b.ResetTimer()
	busy0 := d.Stats().FrontEndBusy
	cpu0 := processCPU()
	start := time.Now()
	// Refill half the depth at a time, so the device has work while the
	// client refills.
	if err := c.Run(b.N, depth, max(depth/2, 1)); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(cpu.Seconds()/el.Seconds(), "cores")
	b.ReportMetric((d.Stats().FrontEndBusy-busy0).Seconds()/el.Seconds(), "front-end-busy")
	b.ReportMetric(float64(b.N)/el.Seconds(), "jobs/s")
	b.ReportMetric(float64(c.Median().Nanoseconds()), "median-ns")
	b.ReportMetric(float64(d.Stats().Sleeps), "device-sleeps")

	b.ReportMetric(float64(h.cq.Counters().Sleeps), "client-sleeps")
}

// BenchmarkNopVsIOURing: accelq's null job on an in-process ideal device
// beside the kernel's io_uring NOP, at the same batch sizes, in one run. The
// kernel's client submits batch NOPs and waits for them in one
// io_uring_enter; the kernel runs them on the caller's core, so its batches
// cannot overlap. accelq's client publishes batch entries at a time too and
// reaps them batch at a time, but its device runs on another core, so it
// keeps two batches in flight: the device works on one while the client
// refills the other. b.N jobs of each; the metrics are both rates and
// accelq's rate as a multiple of the kernel's.
func BenchmarkNopVsIOURing(b *testing.B) {
	for _, batch := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			d := startDevice(b, "ideal")
			h := newHarness(b, d, 64, nil)
			c := ringbench.New(h.sq, h.cq, ring.SQE{Opcode: ring.OpNop})
			if err := c.Run(min(b.N, 1000), 2*batch, batch); err != nil { // warm up
				b.Fatal(err)
			}
			b.ResetTimer()
			t0 := time.Now()
			if err := c.Run(b.N, 2*batch, batch); err != nil {
				b.Fatal(err)
			}
			accel := time.Since(t0)
			uring, err := iouring.Run(batch, b.N)
			b.StopTimer()
			if errors.Is(err, iouring.ErrUnavailable) {
				b.Skipf("no io_uring baseline: %v", err)
			}
			if err != nil {
				b.Fatal(err)
			}
			ar, ur := float64(b.N)/accel.Seconds(), float64(b.N)/uring.Seconds()
			b.ReportMetric(ar, "accelq-jobs/s")
			b.ReportMetric(ur, "iouring-nops/s")
			b.ReportMetric(ar/ur, "accelq/iouring")
		})
	}
}

// BenchmarkFrontEndCPU: the front end's own cost per null job, with the
// client on the same goroutine driving the loop one round at a time, so that
// no cache line crosses cores: what the fetch, validate, schedule and post
// path costs in instructions, apart from the transport.
func BenchmarkFrontEndCPU(b *testing.B) {
	p, err := LoadProfile("ideal")
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(p, func(c *config) { c.noLoop = true })
	if err != nil {
		b.Fatal(err)
	}
	cfg := queueConfig(b, 64)
	if _, err := d.CreateQueue(cfg); err != nil {
		b.Fatal(err)
	}
	sq, _ := ring.NewProducer(cfg.SQ)
	cq, _ := ring.NewConsumer(cfg.CQ)
	var enc [ring.SQESize]byte
	(&ring.SQE{Opcode: ring.OpNop}).Encode(enc[:])
	buf := make([]byte, 64*ring.CQESize)
	b.ResetTimer()
	for done := 0; done < b.N; {
		n, _ := sq.Reserve(32)
		for i := 0; i < n; i++ {
			copy(sq.Entry(i), enc[:])
		}
		sq.Commit(n)
		d.iterate(d.clock.Now())
		got, _ := cq.Pop(buf)
		done += got
	}
}
