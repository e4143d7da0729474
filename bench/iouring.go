package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/accelq/accelq/internal/iouring"
	"github.com/accelq/accelq/ring"
)

// iouringCells lists the iouring-nop cells: per batch size, the kernel's
// io_uring doing NOPs and accelq's null job through the client library on the
// host-speed device, one after the other, so that the two rates and their
// ratio come from the same minute.
func iouringCells(targets []*target, cfg Config, rep *Report) []cell {
	var nop *target
	for _, t := range targets {
		if t.nopOnly || (cfg.Socket != "" && t.name == "acceld") {
			nop = t
		}
	}
	if nop == nil {
		return nil
	}
	s, err := newShape(Workload{Op: ring.OpNop})
	if err != nil {
		rep.Skipped = append(rep.Skipped, Skip{Mode: ModeIOUringNop, Reason: err.Error()})
		return nil
	}
	var cells []cell
	for _, b := range cfg.IOUringBatches {
		cells = append(cells, cell{label: fmt.Sprintf("iouring-nop batch=%d", b), run: func(ctx context.Context) ([]Row, error) {
			// accelq keeps two batches in flight: its device runs on another
			// core and works on one while the client refills the other; the
			// kernel runs a batch of NOPs inside the io_uring_enter that
			// submitted it, so its batches cannot overlap.
			spec := runSpec{t: nop, s: s, mode: ModeIOUringNop, variant: VariantAccelq, depth: 2 * b, batch: b,
				clients: 1, buffers: ZeroCopy, timing: cfg.Timing}
			rows, err := spec.run(ctx)
			if err != nil {
				return nil, err
			}
			accel := rows[0]
			uring, err := runIOUring(b, accel.OpsPerSec, cfg.Timing)
			if errors.Is(err, iouring.ErrUnavailable) {
				rep.Skipped = append(rep.Skipped, Skip{Mode: ModeIOUringNop, What: "io_uring", Reason: err.Error()})
				return rows, nil
			}
			if err != nil {
				return nil, err
			}
			if uring.OpsPerSec > 0 {
				rows[0].Speedup = accel.OpsPerSec / uring.OpsPerSec
			}
			return []Row{uring, rows[0]}, nil
		}})
	}
	return cells
}

// runIOUring times the kernel's NOPs at a batch size, for about the cell's
// window at the rate accelq just reached (the kernel's is of the same order).
func runIOUring(batch int, hint float64, t Timing) (Row, error) {
	n := int(hint * t.Window.Seconds())
	n = max(n, t.MinJobs, 10000)
	n -= n % batch
	if _, err := iouring.Run(batch, min(n, 10000)); err != nil { // warm up, and learn whether it works
		return Row{}, err
	}
	m := startCPU(0)
	el, err := iouring.Run(batch, n)
	cw := m.stop()
	if err != nil {
		return Row{}, err
	}
	row := Row{Mode: ModeIOUringNop, Variant: VariantIOUring, Workload: "nop", Op: "nop", Class: ring.ClassNone.String(),
		Depth: batch, Batch: batch, Clients: 1, Jobs: int64(n), Seconds: el.Seconds(), Others: cw.Others,
		Doorbells: uint64(n / batch)}
	row.OpsPerSec = float64(n) / el.Seconds()
	row.CPUPerOp = cw.Self.Seconds() * 1e6 / float64(n)
	// Each io_uring_enter submits a batch and waits for it: one call per
	// batch, its latency the call's.
	per := el / time.Duration(n/batch)
	us := float64(per) / 1e3
	row.Latency = Latency{Avg: us}
	return row, nil
}
