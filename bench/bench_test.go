package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/accelq/accelq/ring"
)

// BenchmarkPipelinedNop is the harness's own cost: null jobs on the
// host-speed device through the client library, as the pipelined mode and
// the accelq row of iouring-nop run them. Metrics: jobs/s, and the client's
// share of it as CPU per job.
func BenchmarkPipelinedNop(b *testing.B) {
	t, err := openEmbedded("ideal", true, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer t.close()
	s, err := newShape(Workload{Op: ring.OpNop})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ depth, batch int }{{1, 1}, {64, 1}, {64, 32}} {
		b.Run(fmt.Sprintf("depth=%d/batch=%d", c.depth, c.batch), func(b *testing.B) {
			spec := runSpec{t: t, s: s, mode: ModePipelined, depth: c.depth, batch: c.batch, clients: 1, buffers: ZeroCopy,
				timing: Timing{Warmup: 10 * time.Millisecond, Window: 200 * time.Millisecond, MaxWindow: time.Second}}
			var jobs, cpu float64
			for range b.N {
				rows, err := spec.run(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				jobs += rows[0].OpsPerSec
				cpu += rows[0].CPUPerOp
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(jobs/float64(b.N), "jobs/s")
			b.ReportMetric(1e3*cpu/float64(b.N), "cpu-ns/job")
		})
	}
}
