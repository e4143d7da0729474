package userdrv

// The client's cost per job: submit plus reap, on a timing-only device in an
// acceld process, so that the process measured holds the client alone.

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/accelq/accelq/ring"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkClientCPU: the client's CPU per job (submit plus reap) at depth 1
// and 64, with the device in another process. The queue reaps on the
// benchmark's own goroutine (ReapManual), so the process's CPU time is the
// client's: encoding SQEs, publishing, waiting, decoding CQEs, callbacks.
func BenchmarkClientCPU(b *testing.B) {
	dm := startDaemon(b, "--profile", "ideal", "--timing-only")
	for _, bc := range []struct{ depth, spin int }{{1, 2000}, {64, 2000}, {64, 0}} {
		depth := bc.depth
		b.Run(fmt.Sprintf("depth=%d/spin=%d", depth, bc.spin), func(b *testing.B) {
			d, err := Open(WithSocket(dm.socket))
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			q, err := d.NewQueue(WithDepth(256), WithFallback(DeviceOnly), WithReap(ReapManual), WithSpin(bc.spin))
			if err != nil {
				b.Fatal(err)
			}
			src, _ := d.Alloc(64)
			dst, _ := d.Alloc(64 + 16)
			aux, _ := d.Alloc(12)
			key, err := d.ImportKey(1, make([]byte, 16))
			if err != nil {
				b.Fatal(err)
			}
			ready := make([]*Job, 0, depth)
			jobs := make([]Job, depth)
			for i := range jobs {
				jobs[i] = Job{Op: ring.OpAESGCMSeal, Key: key, Src: All(src), Dst: All(dst), Aux: All(aux),
					Callback: func(j *Job) { ready = append(ready, j) }}
				ready = append(ready, &jobs[i])
			}
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			c0, t0 := cpuTime(), time.Now()
			submitted, completed := 0, 0
			for completed < b.N {
				if n := min(len(ready), b.N-submitted); n > 0 {
					got, err := q.SubmitBatch(ready[:n])
					if err != nil {
						b.Fatal(err)
					}
					submitted += got
					ready = append(ready[:0], ready[got:]...)
				}
				n, err := q.Reap(time.Second)
				if err != nil {
					b.Fatal(err)
				}
				completed += n
			}
			b.StopTimer()
			cpu, wall := cpuTime()-c0, time.Since(t0)
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "client-cpu-ns/job")
			b.ReportMetric(float64(b.N)/wall.Seconds(), "jobs/s")
			q.Close()
		})
	}
}
