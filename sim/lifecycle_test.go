package sim

// Destroy and reset against jobs that wait for their modelled deadline, an idle
// device's sleep, and a client that steals its doorbell's wake-ups.

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/internal/hostilefd"
	"github.com/accelq/accelq/ring"
)

// TestDestroyWithComputedJobsWaiting: completing the last waiting job during
// Destroy removes the queue once, not twice.
func TestDestroyWithComputedJobsWaiting(t *testing.T) {
	clk := &ManualClock{}
	d := startDevice(t, "qat-gen2", WithClock(clk))
	h := newHarness(t, d, 8, nil)
	in, _ := h.region(64, false)
	out, _ := h.region(32, true)
	h.submit(ring.SQE{Opcode: ring.OpSHA256, Src: ref(in, 0, 64), Dst: ref(out, 0, 32)})
	waitFor(t, func() bool { return h.q.Stats().Submitted == 1 })
	time.Sleep(20 * time.Millisecond) // computed, held until model time that never comes
	if err := h.q.Destroy(); err != nil {
		t.Fatal(err)
	}
	if c := h.reap(1)[0]; c.Status != ring.StatusOK {
		t.Fatalf("a computed job completed %v at Destroy, want its result", c.Status)
	}
	for i := 0; i < 100; i++ { // and with the real clock, many times
		h := newHarness(t, startDevice(t, "qat-gen2"), 8, nil)
		in, _ := h.region(64, false)
		out, _ := h.region(32*4, true)
		for k := 0; k < 4; k++ {
			h.submit(ring.SQE{Opcode: ring.OpSHA256, Src: ref(in, 0, 64), Dst: ref(out, uint64(32*k), 32)})
		}
		if err := h.q.Destroy(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestResetKeepsResultsOfJobsThatRan: a job computed in place before a reset
// completes with its result, not FLUSHED ("did not run"), which would invite a
// retry that transforms the data twice.
func TestResetKeepsResultsOfJobsThatRan(t *testing.T) {
	clk := &ManualClock{}
	d := startDevice(t, "qat-gen4", WithClock(clk))
	h := newHarness(t, d, 8, nil)
	mat := make([]byte, 64)
	for i := range mat {
		mat[i] = byte(i)
	}
	k := h.space.addKey(t, device.KeyAESXTS, mat)
	buf, mem := h.region(4096, true)
	auxr, _ := h.region(8, false)
	before := bytes.Clone(mem)
	h.submit(ring.SQE{Opcode: ring.OpAESXTSEncrypt, Flags: ring.SQEInPlace, Key: k,
		Src: ref(buf, 0, 4096), Dst: ref(buf, 0, 4096), Aux: ref(auxr, 0, 8)})
	waitFor(t, func() bool { return h.q.Stats().Submitted == 1 })
	time.Sleep(50 * time.Millisecond) // computed in place, held until model time that never comes
	if err := d.Reset(); err != nil {
		t.Fatal(err)
	}
	if c := h.reap(1)[0]; c.Status != ring.StatusOK || c.Result != 4096 || bytes.Equal(before, mem) {
		t.Fatalf("job that ran before the reset completed %v (%d bytes), want ok", c.Status, c.Result)
	}
	// The driver would rearm; here the test does.
	if err := h.q.Rearm(); err != nil {
		t.Fatal(err)
	}
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestIdleDeviceSleeps: an idle device sleeps on its doorbell. Over a second it
// uses a small fraction of a core (the bound is loose: it tells sleeping from
// spinning, which uses all of one).
func TestIdleDeviceSleeps(t *testing.T) {
	d := startDevice(t, "ideal")
	newHarness(t, d, 8, nil)
	time.Sleep(50 * time.Millisecond)
	c0 := processCPU()
	time.Sleep(time.Second)
	if used := processCPU() - c0; used > 300*time.Millisecond {
		t.Fatalf("an idle device used %v of CPU in a second", used)
	}
}

// withMaxSleep sets the loop's watchdog.
func withMaxSleep(d time.Duration) Option { return func(c *config) { c.maxSleep = d } }

// TestDoorbellThiefDelaysNoOne: a client that makes its doorbell blocking and
// reads it in a loop, the worst it can do to an eventfd it shares with the
// device, neither blocks the device nor steals another queue's wake-ups. The
// watchdog is an hour, so a stolen wake-up or a device blocked in a read would
// hang the well-behaved client until its hang detector fires.
func TestDoorbellThiefDelaysNoOne(t *testing.T) {
	d := startDevice(t, "ideal", WithSpin(0), withMaxSleep(time.Hour))
	thief := newHarness(t, d, 8, nil)
	good := newHarness(t, d, 8, nil)
	bell, err := thief.q.Doorbell().Dup()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bell.Close() })
	hostilefd.StealWakeups(t, bell.FD())
	for i := 0; i < 300; i++ {
		time.Sleep(200 * time.Microsecond) // long enough for the device to sleep
		thief.submit(ring.SQE{Opcode: ring.OpNop})
		time.Sleep(200 * time.Microsecond)
		if c := good.run(ring.SQE{Opcode: ring.OpNop, UserData: uint64(i)}); c.UserData != uint64(i) {
			t.Fatalf("completion %d for job %d", c.UserData, i)
		}
		// The thief's job waited for a wake-up the thief may have stolen; the
		// device found it when the other client woke it.
		thief.reap(1)
	}
}

// waitFor polls cond; the timeout is a hang detector.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached: hang detector fired")
		}
		time.Sleep(time.Millisecond)
	}
}
