package sim

import (
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// A tenant's MaxInFlight bounds all its queues together: what is beyond it
// stays in the SQs, and each queue that was held back says so.
func TestTenantMaxInFlight(t *testing.T) {
	clk := NewManualClock(0) // nothing completes: the clock does not move
	d := startDevice(t, "qat-gen4", WithTimingOnly(), WithClock(clk))
	ten := &device.Tenant{Weight: 1, MaxInFlight: 100}
	var hs []*harness
	for range 3 {
		hs = append(hs, newHarness(t, d, 64, func(c *device.QueueConfig) { c.Tenant = ten }))
	}
	for _, h := range hs {
		src, _ := h.region(1<<20, false)
		dst, _ := h.region(64, true)
		for i := range 64 {
			h.submit(ring.SQE{Opcode: ring.OpSHA256, UserData: uint64(i),
				Src: ring.BufRef{Region: src, Len: 1 << 20}, Dst: ring.BufRef{Region: dst, Len: 32}})
		}
	}
	var sub, throttled uint64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		sub, throttled = 0, 0
		for _, h := range hs {
			c := h.q.Stats()
			sub += c.Submitted
			throttled += c.Throttled
		}
		if sub >= 100 && throttled > 0 {
			break
		}
	}
	if sub != 100 {
		t.Fatalf("the device took %d jobs of a tenant limited to 100 in flight", sub)
	}
	if throttled == 0 {
		t.Fatal("no queue counted being throttled")
	}
}

// Destroy flushes what waits for a worker at once, whoever else has queued:
// only jobs executing are waited for.
func TestDestroyFlushesWaitingJobs(t *testing.T) {
	d := startDevice(t, "ideal", WithWorkers(1))
	other := newHarness(t, d, 256, nil)
	h := newHarness(t, d, 256, nil)
	load := func(h *harness, n int) {
		src, _ := h.region(1<<20, false)
		dst, _ := h.region(64, true)
		for i := range n {
			h.submit(ring.SQE{Opcode: ring.OpSHA512, UserData: uint64(i),
				Src: ring.BufRef{Region: src, Len: 1 << 20}, Dst: ring.BufRef{Region: dst, Len: 64}})
		}
	}
	load(other, 200)
	load(h, 200)
	for h.q.Stats().Submitted < 200 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := h.q.Destroy(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// One worker, the other queue's 200 jobs fetched first: a Destroy that
	// waited behind them returns after they have run.
	if done := other.q.Stats().Completed; done > 100 {
		t.Errorf("Destroy returned after %d of the other queue's jobs had run", done)
	}
	flushed := 0
	for _, c := range h.reap(200) {
		if c.Status == ring.StatusFlushed {
			flushed++
		}
	}
	// The worker alternates between the two queues, about a millisecond a
	// job: only the few of this queue's jobs that ran before Destroy, and
	// the one on the worker, may have run.
	if flushed < 150 {
		t.Fatalf("%d of 200 jobs flushed; Destroy took %v", flushed, took)
	}
	t.Logf("Destroy took %v; %d of 200 flushed", took, flushed)
	other.q.Destroy()
}
