package ring

// Benchmarks: ring throughput between two goroutines and between two processes,
// polled and sleeping round trips between two processes, and the same transfers
// over a Unix SOCK_SEQPACKET socket pair between the same two processes, so the
// ring's advantage can be stated as a ratio measured in one run. Entries are 64
// bytes, the SQE size; every entry is fully written by the producer and copied
// out by the consumer. The child processes come from process_test.go.

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	benchEntries = 4096
	benchESZ     = 64
	readyMagic   = 0x7265_6164_7921
	goMagic      = 0x676f_2121
)

var batches = []int{1, 8, 32}

// inProcessYieldEvery is how many empty polls an in-process side makes before
// runtime.Gosched. Both goroutines are locked to their threads and hold both Ps
// of a 2-core machine. Pure spinning collapses as soon as anything else wants a
// core (the two spinners then share one and each burns its time slice waiting
// for the other): measured on the 2-vCPU VM with other test runs going, batch
// 1 / 8 / 32, M entries/s: never yield 0.5-5 / 2-21 / 25-28; Gosched every 1024
// empty polls 25-35 / 36-82 / 29-89; every 64: 29-37 / 42-74 / 58-88;
// sched_yield(2) instead of Gosched, every 256-4096: erratic, 2-78. Gosched on
// a locked thread parks it on a futex until its P comes back, which is what
// lets the peer run. So: every 64. (Round trips want the opposite; see
// the back-off in process_test.go.)
const inProcessYieldEvery = 64

func fillBenchEntry(e []byte, seq uint64) {
	binary.LittleEndian.PutUint64(e, seq)
	for k := 8; k < benchESZ; k += 8 {
		binary.LittleEndian.PutUint64(e[k:], seq^uint64(k))
	}
}

// reportRate reports entries/s and ns/entry for n entries moved in the timed part.
func reportRate(b *testing.B, n int) {
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(n)/s, "entries/s")
	b.ReportMetric(s*1e9/float64(n), "ns/entry")
}

// reportLatency reports the median and mean of per-iteration latencies.
func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "median-ns")
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(lat)), "mean-ns")
}

func BenchmarkInProcess(b *testing.B) {
	for _, batch := range batches {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchInProcess(b, batch) })
	}
}

func benchInProcess(b *testing.B, batch int) {
	p, c, _ := newPair(b, benchEntries, benchESZ)
	n := b.N
	var wg sync.WaitGroup
	// stop ends either side's spin if the other gave up, so a failure cannot
	// leave a goroutine spinning on a core for the rest of the run.
	var stop atomic.Bool
	defer func() { stop.Store(true); wg.Wait() }()
	wg.Add(1)
	b.ResetTimer()
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		empty := 0
		for seq := 0; seq < n; {
			k, err := p.Reserve(min(batch, n-seq))
			if err != nil {
				b.Error(err)
				stop.Store(true)
				return
			}
			if k == 0 {
				if empty++; empty%inProcessYieldEvery == 0 {
					if stop.Load() {
						return
					}
					runtime.Gosched()
				}
				continue
			}
			for i := range k {
				fillBenchEntry(p.Entry(i), uint64(seq+i))
			}
			p.Commit(k)
			seq += k
		}
	}()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dst := make([]byte, batch*benchESZ)
	var check uint64
	empty := 0
	for got := 0; got < n; {
		k, err := c.Peek(dst)
		if err != nil {
			b.Fatal(err)
		}
		if k == 0 {
			if empty++; empty%inProcessYieldEvery == 0 {
				if stop.Load() {
					b.Fatal("producer gave up")
				}
				runtime.Gosched()
			}
			continue
		}
		for i := range k {
			check += binary.LittleEndian.Uint64(dst[i*benchESZ:])
		}
		c.Advance(k)
		got += k
	}
	wg.Wait()
	b.StopTimer()
	if want := uint64(n) * uint64(n-1) / 2; check != want {
		b.Fatalf("sequence numbers sum to %d, want %d", check, want)
	}
	reportRate(b, n)
}

func BenchmarkCrossProcess(b *testing.B) {
	for _, batch := range batches {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchCrossProcess(b, batch) })
	}
}

// childBenchStream announces itself, waits for the go entry, then produces h.n
// entries in batches of h.arg, polling.
func childBenchStream(h helperArgs) error {
	r, err := attachRegion()
	if err != nil {
		return err
	}
	p, c, err := r.childEnds()
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	s := newSpinner()
	e := make([]byte, benchESZ)
	putWords(e, readyMagic)
	if err := pushSpin(p, e, s); err != nil {
		return err
	}
	if err := popSpin(c, e, s); err != nil {
		return err
	}
	for seq := 0; seq < h.n; {
		k, err := p.Reserve(min(h.arg, h.n-seq))
		if err != nil {
			return err
		}
		if k == 0 {
			if err := s.idle("space in the ring"); err != nil {
				return err
			}
			continue
		}
		for i := range k {
			fillBenchEntry(p.Entry(i), uint64(seq+i))
		}
		p.Commit(k)
		// One load of the flags word when nobody sleeps; kept because a real
		// producer must make it.
		if _, err := p.Wake(); err != nil {
			return err
		}
		seq += k
	}
	return nil
}

func benchCrossProcess(b *testing.B, batch int) {
	r, f := newRegion(b, Geometry{Entries: benchEntries, EntrySize: benchESZ})
	c, p := r.parentEnds(b)
	h := startHelper(b, "bench-stream", helperArgs{n: b.N, arg: batch}, f)
	s := newSpinner()
	e := make([]byte, benchESZ)
	if err := popSpin(c, e, s); err != nil || getWord64(e, 0) != readyMagic {
		b.Fatalf("no ready entry from the child: %v; %s", err, h.failure())
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	dst := make([]byte, batch*benchESZ)
	var check uint64
	b.ResetTimer()
	putWords(e, goMagic)
	if err := pushSpin(p, e, s); err != nil {
		b.Fatal(err)
	}
	for got := 0; got < b.N; {
		k, err := c.Peek(dst)
		if err != nil {
			b.Fatal(err)
		}
		if k == 0 {
			if err := s.idle("entries from the child"); err != nil {
				b.Fatalf("%v; %s", err, h.failure())
			}
			continue
		}
		for i := range k {
			check += binary.LittleEndian.Uint64(dst[i*benchESZ:])
		}
		c.Advance(k)
		got += k
	}
	b.StopTimer()
	h.finish(b)
	if want := uint64(b.N) * uint64(b.N-1) / 2; check != want {
		b.Fatalf("sequence numbers sum to %d, want %d", check, want)
	}
	reportRate(b, b.N)
}

// childBenchEcho returns every entry it receives on down through up, h.n times.
// With h.arg = 1 it sleeps for each entry (Wait with no spinning); otherwise it
// polls.
func childBenchEcho(h helperArgs) error {
	r, err := attachRegion()
	if err != nil {
		return err
	}
	p, c, err := r.childEnds()
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	s := newSpinner()
	e := make([]byte, benchESZ)
	putWords(e, readyMagic)
	if err := pushSpin(p, e, s); err != nil {
		return err
	}
	for range h.n {
		if h.arg == 1 {
			if n, err := c.Wait(0, hangTimeout); n == 0 || err != nil {
				return fmt.Errorf("wait: %d, %v", n, err)
			}
		}
		if err := popSpin(c, e, s); err != nil {
			return err
		}
		if err := pushSpin(p, e, s); err != nil {
			return err
		}
	}
	return nil
}

func BenchmarkRoundTripPolled(b *testing.B) { benchRoundTrip(b, false) }

// BenchmarkRoundTripSleep makes the child sleep in the kernel before every
// entry: the parent waits until the child has armed NEED_WAKEUP and then a
// little longer (untimed) so the futex wait has really begun, and the timed
// part is the wake-up plus the echo.
func BenchmarkRoundTripSleep(b *testing.B) { benchRoundTrip(b, true) }

func benchRoundTrip(b *testing.B, sleep bool) {
	r, f := newRegion(b, Geometry{Entries: benchEntries, EntrySize: benchESZ})
	c, p := r.parentEnds(b)
	arg := 0
	if sleep {
		arg = 1
	}
	h := startHelper(b, "bench-echo", helperArgs{n: b.N, arg: arg}, f)
	s := newSpinner()
	e := make([]byte, benchESZ)
	if err := popSpin(c, e, s); err != nil || getWord64(e, 0) != readyMagic {
		b.Fatalf("no ready entry from the child: %v; %s", err, h.failure())
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		if sleep {
			b.StopTimer()
			for !p.NeedsWakeup() {
				if err := s.idle("the child to arm NEED_WAKEUP"); err != nil {
					b.Fatalf("%v; %s", err, h.failure())
				}
			}
			for t := time.Now(); time.Since(t) < 50*time.Microsecond; {
			}
			b.StartTimer()
		}
		t0 := time.Now()
		fillBenchEntry(e, uint64(i))
		if err := pushSpin(p, e, s); err != nil {
			b.Fatal(err)
		}
		if err := popSpin(c, e, s); err != nil {
			b.Fatalf("%v; %s", err, h.failure())
		}
		lat[i] = time.Since(t0)
		if getWord64(e, 0) != uint64(i) {
			b.Fatalf("echo %d came back as %d", i, getWord64(e, 0))
		}
	}
	b.StopTimer()
	h.finish(b)
	reportLatency(b, lat)
	if sleep {
		b.ReportMetric(float64(p.Counters().Sleeps)/float64(b.N), "sleeps/op")
	}
}

// socketPair returns the parent's end and, as a file for ExtraFiles, the
// child's end of a blocking SOCK_SEQPACKET pair.
func socketPair(b *testing.B) (int, *os.File) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(fds[0]) })
	f := os.NewFile(uintptr(fds[1]), "socket")
	b.Cleanup(func() { f.Close() })
	return fds[0], f
}

func readFull(fd int, buf []byte) (int, error) {
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err == nil && n == 0 {
			return 0, fmt.Errorf("peer closed the socket")
		}
		return n, err
	}
}

func writeAll(fd int, buf []byte) error {
	for {
		_, err := unix.Write(fd, buf)
		if err == unix.EINTR {
			continue
		}
		return err
	}
}

func BenchmarkSocketBaseline(b *testing.B) {
	for _, batch := range batches {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchSocket(b, batch) })
	}
}

// childSockStream sends h.n entries, h.arg per message, after the handshake.
func childSockStream(h helperArgs) error {
	buf := make([]byte, h.arg*benchESZ)
	putWords(buf, readyMagic)
	if err := writeAll(helperFD, buf[:benchESZ]); err != nil {
		return err
	}
	if _, err := readFull(helperFD, buf); err != nil {
		return err
	}
	for seq := 0; seq < h.n; {
		k := min(h.arg, h.n-seq)
		for i := range k {
			fillBenchEntry(buf[i*benchESZ:], uint64(seq+i))
		}
		if err := writeAll(helperFD, buf[:k*benchESZ]); err != nil {
			return err
		}
		seq += k
	}
	return nil
}

func benchSocket(b *testing.B, batch int) {
	fd, f := socketPair(b)
	h := startHelper(b, "sock-stream", helperArgs{n: b.N, arg: batch}, f)
	buf := make([]byte, batch*benchESZ)
	if _, err := readFull(fd, buf); err != nil || getWord64(buf, 0) != readyMagic {
		b.Fatalf("no ready message from the child: %v; %s", err, h.failure())
	}
	var check uint64
	b.ResetTimer()
	putWords(buf, goMagic)
	if err := writeAll(fd, buf[:benchESZ]); err != nil {
		b.Fatal(err)
	}
	for got := 0; got < b.N; {
		n, err := readFull(fd, buf)
		if err != nil {
			b.Fatalf("%v; %s", err, h.failure())
		}
		for i := 0; i+benchESZ <= n; i += benchESZ {
			check += binary.LittleEndian.Uint64(buf[i:])
		}
		got += n / benchESZ
	}
	b.StopTimer()
	h.finish(b)
	if want := uint64(b.N) * uint64(b.N-1) / 2; check != want {
		b.Fatalf("sequence numbers sum to %d, want %d", check, want)
	}
	reportRate(b, b.N)
}

// childSockEcho returns every message it receives, h.n times.
func childSockEcho(h helperArgs) error {
	buf := make([]byte, benchESZ)
	putWords(buf, readyMagic)
	if err := writeAll(helperFD, buf); err != nil {
		return err
	}
	for range h.n {
		n, err := readFull(helperFD, buf)
		if err != nil {
			return err
		}
		if err := writeAll(helperFD, buf[:n]); err != nil {
			return err
		}
	}
	return nil
}

func BenchmarkSocketRoundTrip(b *testing.B) {
	fd, f := socketPair(b)
	h := startHelper(b, "sock-echo", helperArgs{n: b.N}, f)
	buf := make([]byte, benchESZ)
	if _, err := readFull(fd, buf); err != nil || getWord64(buf, 0) != readyMagic {
		b.Fatalf("no ready message from the child: %v; %s", err, h.failure())
	}
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		fillBenchEntry(buf, uint64(i))
		if err := writeAll(fd, buf); err != nil {
			b.Fatal(err)
		}
		if _, err := readFull(fd, buf); err != nil {
			b.Fatalf("%v; %s", err, h.failure())
		}
		lat[i] = time.Since(t0)
		if getWord64(buf, 0) != uint64(i) {
			b.Fatalf("echo %d came back as %d", i, getWord64(buf, 0))
		}
	}
	b.StopTimer()
	h.finish(b)
	reportLatency(b, lat)
}
