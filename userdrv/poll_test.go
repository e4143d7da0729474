package userdrv

// The waiter reaps: a goroutine in Job.Wait polls the completion ring for the
// queue's spin time, delivering whatever it meets; past that, the reaper
// goroutine, asleep on the armed ring, delivers.

import (
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accelq/accelq/ring"
)

// TestWaitersReapForEachOther: goroutines doing synchronous jobs on one queue
// reap each other's completions and those of callback jobs submitted beside
// them; every job completes once, with its own result.
func TestWaitersReapForEachOther(t *testing.T) {
	d := openTest(t, "ideal")
	q := newQueue(t, d, WithDepth(64))
	const waiters, each = 6, 300
	var wg sync.WaitGroup
	errs := make(chan error, waiters+1)
	for w := 0; w < waiters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				msg := []byte(fmt.Sprintf("waiter %d job %d", w, i))
				got, err := q.Digest(context.Background(), crypto.SHA256, msg)
				if want := sha256.Sum256(msg); err != nil || string(got) != string(want[:]) {
					errs <- fmt.Errorf("waiter %d job %d: %x, %v", w, i, got, err)
					return
				}
			}
		}()
	}
	// Callback jobs: nobody waits for them, so whoever reaps runs them.
	var called atomic.Int64
	const callbacks = 500
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		jobs := make([]Job, 16)
		bufs := make([][2]*Buffer, len(jobs))
		for i := range jobs {
			bufs[i] = [2]*Buffer{alloc(t, d, 64), alloc(t, d, 32)}
		}
		free := make(chan int, len(jobs))
		for i := range jobs {
			free <- i
		}
		for n := 0; n < callbacks; n++ {
			i := <-free
			jobs[i] = Job{Op: ring.OpSHA256, Src: All(bufs[i][0]), Dst: All(bufs[i][1]),
				Callback: func(j *Job) {
					if j.Err != nil {
						errs <- fmt.Errorf("callback job: %v", j.Err)
					}
					if called.Add(1) == callbacks {
						close(done)
					}
					free <- i
				}}
			if err := q.Submit(&jobs[i]); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of %d callbacks ran", called.Load(), callbacks)
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := q.Stats()
	if want := uint64(waiters*each + callbacks); s.Completed != want || s.Submitted != want || s.Failed != 0 {
		t.Fatalf("stats %+v, want %d submitted and completed", s, want)
	}
}

// TestReaperTakesOverFromWaiter: a job that completes long after its waiter
// stopped polling is delivered by the reaper goroutine, woken by the device.
// The device's clock stands still until the waiter's spin time is surely
// over.
func TestReaperTakesOverFromWaiter(t *testing.T) {
	d, clk := openStopped(t)
	q := newQueue(t, d, WithDepth(16), WithSpin(100*time.Microsecond), WithFallback(DeviceOnly))
	for round := 0; round < 20; round++ {
		src, dst := alloc(t, d, 64), alloc(t, d, 32)
		j := &Job{Op: ring.OpSHA256, Src: All(src), Dst: All(dst)}
		if err := q.Submit(j); err != nil {
			t.Fatal(err)
		}
		waited := make(chan error, 1)
		go func() { waited <- j.Wait(context.Background()) }()
		time.Sleep(5 * time.Millisecond) // the waiter polls for 100 us, then sleeps
		clk.Advance(time.Second)
		select {
		case err := <-waited:
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the completion of a job whose waiter stopped polling was never delivered", round)
		}
		src.Free()
		dst.Free()
	}
	// The device woke the reaper for them: the reaper sleeps with the ring
	// armed. Otherwise it would find each completion only when its sleep's
	// bound ran out.
	if w := q.cq.Counters().Wakeups; w < 10 {
		t.Fatalf("the device woke the reaper %d times for 20 completions that came after their waiters slept", w)
	}
}

// TestCloseWithWaiters: Close while goroutines poll and sleep in Wait ends
// every wait: a job the device computed completes with its result (destroying
// a queue completes jobs waiting for their modelled time at once), the rest
// are flushed.
func TestCloseWithWaiters(t *testing.T) {
	d, _ := openStopped(t) // nothing completes: time stands still
	q, err := d.NewQueue(WithDepth(16), WithFallback(DeviceOnly))
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	waited := make(chan error, n)
	for i := 0; i < n; i++ {
		j := &Job{Op: ring.OpSHA256, Src: All(alloc(t, d, 64)), Dst: All(alloc(t, d, 32))}
		if err := q.Submit(j); err != nil {
			t.Fatal(err)
		}
		go func() { waited <- j.Wait(context.Background()) }()
	}
	time.Sleep(time.Duration(1+len(waited)) * time.Millisecond) // some poll, some sleep
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		select {
		case err := <-waited:
			if err != nil && !errors.Is(err, ErrFlushed) && !errors.Is(err, ErrClosed) {
				t.Fatalf("a job of a closed queue ended with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d waits still running after Close", n-i, n)
		}
	}
}

// TestClosePollersUnmapped: Close does not unmap the rings while goroutines
// in Job.Wait still poll them (they read the CQ's indices without the reap
// lock): it waits for them to leave. Before, this faulted at once.
func TestClosePollersUnmapped(t *testing.T) {
	d, _ := openStopped(t) // nothing completes: the waiters poll until Close
	for round := 0; round < 30; round++ {
		q, err := d.NewQueue(WithDepth(64), WithSpin(time.Second), WithFallback(DeviceOnly))
		if err != nil {
			t.Fatal(err)
		}
		const n = 32
		waited := make(chan error, n)
		var bufs []*Buffer
		for i := 0; i < n; i++ {
			src, dst := alloc(t, d, 64), alloc(t, d, 32)
			bufs = append(bufs, src, dst)
			j := &Job{Op: ring.OpSHA256, Src: All(src), Dst: All(dst)}
			if err := q.Submit(j); err != nil {
				t.Fatal(err)
			}
			go func() { waited <- j.Wait(context.Background()) }()
		}
		time.Sleep(time.Millisecond) // every waiter polls
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			<-waited
		}
		for _, b := range bufs {
			b.Free()
		}
	}
}

// TestRemoteReaperWakeNotLost: through acceld, with a reaper that sleeps at
// once, every completion is delivered by a wake-up, none by the reaper's
// sleep running out. Each job is timed against that bound, which a test
// build raises to 5 s so that only a lost wake-up can reach it.
func TestRemoteReaperWakeNotLost(t *testing.T) {
	defer setReapBound(5 * time.Second)()
	dm := startDaemon(t, "--profile", "ideal")
	d, err := Open(WithSocket(dm.Socket))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	q, err := d.NewQueue(WithDepth(16), WithSpin(0), WithFallback(DeviceOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	src, dst := alloc(t, d, 64), alloc(t, d, 32)
	const jobs = 20000
	for i := 0; i < jobs; i++ {
		j := &Job{Op: ring.OpSHA256, Src: All(src), Dst: All(dst)}
		if err := q.Submit(j); err != nil {
			t.Fatal(err)
		}
		// Vary when the waiter parks against when the completion arrives.
		for t0, gap := time.Now(), time.Duration(i%1000)*10*time.Nanosecond; time.Since(t0) < gap; {
		}
		t0 := time.Now()
		if err := j.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(t0); el > 2*time.Second {
			t.Fatalf("job %d: delivered %v after it was waited for: a wake-up was lost", i, el)
		}
	}
}
