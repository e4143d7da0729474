package userdrv

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/accelq/accelq/ring"
	"github.com/accelq/accelq/sim"
)

// openStopped opens an embedded qat-gen4 whose clock moves only when the test
// moves it: jobs stay in flight until then.
func openStopped(t *testing.T) (*Device, *sim.ManualClock) {
	t.Helper()
	clk := sim.NewManualClock(0)
	return openSim(t, "qat-gen4", sim.WithClock(clk)), clk
}

// runClock advances clk a millisecond every millisecond until the returned
// function is called.
func runClock(clk *sim.ManualClock) (stop func()) {
	quit, ticked := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ticked)
		for {
			select {
			case <-quit:
				return
			case <-time.After(time.Millisecond):
				clk.Advance(time.Millisecond)
			}
		}
	}()
	return func() { close(quit); <-ticked }
}

// TestReapAtLeast: a manual reaper waits for a batch, is not woken early, and
// asks for no more than the jobs in flight can give.
func TestReapAtLeast(t *testing.T) {
	d, clk := openStopped(t)
	q := newQueue(t, d, WithDepth(16), WithReap(ReapManual), WithSpin(0), WithFallback(DeviceOnly))
	const n = 6
	var jobs [n]Job
	done := 0
	for i := range jobs {
		src, dst := alloc(t, d, 64), alloc(t, d, 32)
		copy(src.Bytes(), fmt.Sprintf("job %d", i))
		jobs[i] = Job{Op: ring.OpSHA256, Src: All(src), Dst: All(dst), Callback: func(*Job) { done++ }}
		if err := q.Submit(&jobs[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Time stands still: nothing completes, and the wait ends at its timeout.
	if got, err := q.ReapAtLeast(n, 20*time.Millisecond); got != 0 || err != nil || done != 0 {
		t.Fatalf("ReapAtLeast with no completions: %d, %v, %d done", got, err, done)
	}
	if r := q.Ready(); r != 0 {
		t.Fatalf("Ready %d before any completion", r)
	}
	// Move time on from another goroutine while the reaper sleeps for all six.
	defer runClock(clk)()
	got, err := q.ReapAtLeast(100, 10*time.Second) // more than in flight: asks for the six
	if err != nil || got != n || done != n {
		t.Fatalf("ReapAtLeast(100) with %d in flight: %d, %v, %d done", n, got, err, done)
	}
	for i := range jobs {
		want := sha256.Sum256(jobs[i].Src.bytes())
		if jobs[i].Err != nil || string(jobs[i].Dst.bytes()) != string(want[:]) {
			t.Fatalf("job %d: %v", i, jobs[i].Err)
		}
	}
	if s := q.Stats(); s.Completed != n || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
	if r := q.Ready(); r != 0 {
		t.Fatalf("Ready %d after reaping everything", r)
	}
}

// TestReapOnReaperQueue: only a ReapManual queue may be reaped by hand.
func TestReapOnReaperQueue(t *testing.T) {
	d := openTest(t, "ideal")
	q := newQueue(t, d)
	if _, err := q.ReapAtLeast(1, 0); err == nil {
		t.Fatal("ReapAtLeast on a queue with a reaper goroutine succeeded")
	}
	if r := q.Ready(); r != 0 {
		t.Fatalf("Ready %d on a queue with a reaper goroutine", r)
	}
}

// TestReapAtLeastBeyondCQ: a threshold above what the completion ring can
// hold is met by a full ring, not waited for: the device fetches nothing more
// until the reaper makes room.
func TestReapAtLeastBeyondCQ(t *testing.T) {
	d := openTest(t, "ideal")
	const depth = 8
	q := newQueue(t, d, WithDepth(depth), WithReap(ReapManual), WithSpin(0), WithFallback(DeviceOnly))
	jobs := make([]Job, 2*depth)
	submit := func(js []Job) {
		for i := range js {
			js[i] = Job{Op: ring.OpSHA256, Src: All(alloc(t, d, 64)), Dst: All(alloc(t, d, 32))}
			if err := q.Submit(&js[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	submit(jobs[:depth])
	for q.Ready() < depth { // the device completes the first ring's worth
		time.Sleep(100 * time.Microsecond)
	}
	submit(jobs[depth:]) // these stay in the submission ring: the CQ is full
	done := make(chan struct{})
	var got int
	var err error
	go func() {
		defer close(done)
		got, err = q.ReapAtLeast(2*depth, time.Minute)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("ReapAtLeast waited for more completions than the ring can hold")
	}
	if err != nil || got != depth {
		t.Fatalf("ReapAtLeast(%d) with a full %d-entry ring: %d, %v", 2*depth, depth, got, err)
	}
	for n := depth; n < 2*depth; {
		k, err := q.ReapAtLeast(2*depth-n, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		n += k
	}
	for i := range jobs {
		if err := jobs[i].Wait(t.Context()); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}
}

// TestReadyDuringClose: Ready from one goroutine while another closes the
// queue reports nothing once the rings go, and never reads them unmapped.
func TestReadyDuringClose(t *testing.T) {
	d := openTest(t, "ideal")
	for range 20 {
		q, err := d.NewQueue(WithDepth(8), WithReap(ReapManual))
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		polled := make(chan struct{})
		go func() {
			defer close(polled)
			for {
				select {
				case <-stop:
					return
				default:
					q.Ready()
				}
			}
		}()
		time.Sleep(time.Millisecond)
		q.Close()
		if r := q.Ready(); r != 0 {
			t.Fatalf("Ready %d after Close", r)
		}
		close(stop)
		<-polled
	}
}
