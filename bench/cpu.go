package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/accelq/accelq/ring"
)

// runCPU runs the workload in software on n goroutines, each computing one
// job after another inline, with the same code the simulated device runs
// (internal/op: the standard library, x/crypto, klauspost/compress). Every
// output is checked, as the software is the reference.
func runCPU(ctx context.Context, s *shape, n int, t Timing) (Row, error) {
	st := &cellState{hist: newHistogram()}
	var before counters
	var cw cpuWindow
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := &cellState{hist: newHistogram()}
			dst := make([]byte, s.dstLen)
			var k int64
			for !st.w.stopped() && ctx.Err() == nil {
				start := time.Now()
				res := s.run(dst)
				now := time.Now()
				if st.w.measuring() {
					local.hist.record(now.Sub(start))
					st.w.jobs.Add(1)
					local.in += int64(len(s.src))
					local.out += int64(res.N)
				}
				if res.Status != ring.StatusOK {
					st.fail(fmt.Errorf("software %v: %v", s.w, res.Status))
					break
				}
				if k++; k <= verifyFirst || k%verifyEvery == 0 {
					local.verified++
					if err := s.check(dst, res.N, res.Aux); err != nil {
						local.miscompares++
					}
				}
			}
			st.mu.Lock()
			st.merge(local)
			st.mu.Unlock()
		}()
	}
	st.w.run(t, func() { before.cpu = startCPU(0) }, func() { cw = before.cpu.stop() }, st.broken.Load)
	wg.Wait()
	if st.firstErr != nil {
		return Row{}, st.firstErr
	}
	row := baseRow(s)
	row.Mode, row.Depth, row.Batch, row.Clients = ModeCPU, 1, 1, n
	row.Jobs, row.Seconds = st.hist.count(), st.w.end.Sub(st.w.start).Seconds()
	st.fill(&row)
	row.Others = cw.Others
	if row.Jobs > 0 {
		row.CPUPerOp = cw.Self.Seconds() * 1e6 / float64(row.Jobs)
	}
	if s.w.Class() == ring.ClassCompression && st.out > 0 {
		row.Ratio = float64(st.in) / float64(st.out)
	}
	return row, nil
}
