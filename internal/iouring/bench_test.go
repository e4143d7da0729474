package iouring

import (
	"fmt"
	"testing"
)

// BenchmarkNop runs b.N NOPs, so ns/op is the cost of one NOP including its
// share of the io_uring_enter call; nops/s is the figure accelq's null-job
// rate is set against.
func BenchmarkNop(b *testing.B) {
	for _, batch := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			r := newRing(b, uint32(batch))
			b.ResetTimer()
			for done := 0; done < b.N; {
				k := min(batch, b.N-done)
				if err := r.NopBatch(k); err != nil {
					b.Fatal(err)
				}
				done += k
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "nops/s")
		})
	}
}
