package userdrv

// The client's cost per job: submit plus reap, on a timing-only device in an
// acceld process, so that the process measured holds the client alone.

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/accelq/accelq/ring"
)

// cpuTime is the process's CPU time, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// threadCPU is the calling thread's CPU time.
func threadCPU() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// BenchmarkClientCPU: the client's CPU per job at depth 1 and 64, with the
// device in another process. The queue reaps on the benchmark's own goroutine
// (ReapManual), so the process's CPU time is the client's.
//
// Two figures per run. client-cpu-ns/job is everything the process spent,
// waiting included. client-work-ns/job leaves out the time spent waiting for
// the device (a spin on Queue.Ready, bracketed by the thread's CPU clock, whose
// own cost is left out too): it
// is submit plus reap, encoding entries, publishing, decoding completions,
// callbacks, what an application that has other work to do while the device
// runs pays per job. The wait modes:
//
//   - spin: the benchmark spins on Ready until reap jobs are ready, then reaps.
//   - sleep: ReapAtLeast sleeps until reap jobs are ready (one futex wake-up per
//     batch, through the ring's wake_min): the whole cost of a client that has
//     nothing else to do.
func BenchmarkClientCPU(b *testing.B) {
	dm := startDaemon(b, "--profile", "ideal", "--timing-only")
	for _, bc := range []struct {
		depth, reap int
		sleep       bool
	}{{1, 1, false}, {64, 1, false}, {64, 32, false}, {1, 1, true}, {64, 32, true}} {
		wait := "spin"
		if bc.sleep {
			wait = "sleep"
		}
		b.Run(fmt.Sprintf("depth=%d/reap=%d/wait=%s", bc.depth, bc.reap, wait), func(b *testing.B) {
			benchClientCPU(b, dm.Socket, bc.depth, bc.reap, bc.sleep)
		})
	}
}

func benchClientCPU(b *testing.B, socket string, depth, reap int, sleep bool) {
	d, err := Open(WithSocket(socket))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	q, err := d.NewQueue(WithDepth(256), WithFallback(DeviceOnly), WithReap(ReapManual), WithSpin(0))
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	// Registered buffers, distinct per job, as a real pipeline has them.
	key, err := d.ImportKey(1, make([]byte, 16))
	if err != nil {
		b.Fatal(err)
	}
	ready := make([]*Job, 0, depth)
	jobs := make([]Job, depth)
	for i := range jobs {
		src, _ := d.Alloc(64)
		dst, _ := d.Alloc(64 + 16)
		aux, _ := d.Alloc(12)
		jobs[i] = Job{Op: ring.OpAESGCMSeal, Key: key, Src: All(src), Dst: All(dst), Aux: All(aux),
			Callback: func(j *Job) { ready = append(ready, j) }}
		ready = append(ready, &jobs[i])
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// Reading the thread's clock is a system call; about one call's worth of
	// each bracket falls outside it, and that is the benchmark's cost, not the
	// client's.
	const calls = 1000
	k0 := threadCPU()
	for range calls - 1 {
		threadCPU()
	}
	clockCost := (threadCPU() - k0) / calls
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	var waited time.Duration
	c0, t0 := cpuTime(), time.Now()
	submitted, completed, reaps := 0, 0, 0
	for completed < b.N {
		if n := min(len(ready), b.N-submitted); n > 0 {
			got, err := q.SubmitBatch(ready[:n])
			if err != nil {
				b.Fatal(err)
			}
			submitted += got
			ready = append(ready[:0], ready[got:]...)
		}
		want := min(reap, submitted-completed)
		timeout := time.Second
		if !sleep {
			if q.Ready() < want {
				w0 := threadCPU()
				for q.Ready() < want {
				}
				waited += threadCPU() - w0 + clockCost
			}
			timeout = 0
		}
		n, err := q.ReapAtLeast(want, timeout)
		if err != nil {
			b.Fatal(err)
		}
		completed += n
		reaps++
	}
	b.StopTimer()
	cpu, wall := cpuTime()-c0, time.Since(t0)
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "client-cpu-ns/job")
	if !sleep {
		b.ReportMetric(float64((cpu-waited).Nanoseconds())/float64(b.N), "client-work-ns/job")
	}
	b.ReportMetric(float64(b.N)/wall.Seconds(), "jobs/s")
	b.ReportMetric(float64(b.N)/float64(reaps), "jobs/reap")
}
