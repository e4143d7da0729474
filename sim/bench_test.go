package sim

// Benchmarks of the device's own path (fetch, validate, schedule, complete) with
// nothing to compute, and of a small real operation, at depth 1 and 64.

import (
	"encoding/binary"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/accelq/accelq/device"
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
	var enc [ring.SQESize]byte
	sqe.Encode(enc[:])
	buf := make([]byte, 64*ring.CQESize)
	sent := make([]time.Duration, 0, b.N)
	lat := make([]time.Duration, 0, b.N)
	start := time.Now()
	b.ResetTimer()
	submitted, reaped := 0, 0
	for reaped < b.N {
		for submitted < b.N && submitted-reaped < depth {
			n, err := h.sq.Reserve(1)
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				break
			}
			copy(h.sq.Entry(0), enc[:])
			binary.LittleEndian.PutUint64(h.sq.Entry(0)[8:], uint64(submitted))
			h.sq.Commit(1)
			sent = append(sent, time.Since(start))
			submitted++
		}
		h.sq.Wake()
		if _, err := h.cq.Wait(2000, time.Second); err != nil {
			b.Fatal(err)
		}
		n, err := h.cq.Pop(buf)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Since(start)
		for i := 0; i < n; i++ {
			id := binary.LittleEndian.Uint64(buf[i*ring.CQESize:])
			lat = append(lat, now-sent[id])
		}
		reaped += n
	}
	b.StopTimer()
	el := time.Since(start)
	sort.Slice(lat, func(i, k int) bool { return lat[i] < lat[k] })
	b.ReportMetric(float64(b.N)/el.Seconds(), "jobs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "median-ns")
}
