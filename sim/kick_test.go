package sim

import (
	"testing"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// kickBell is an embedded client's doorbell: it kicks the device through
// device.Kicker instead of writing an eventfd.
type kickBell struct{ k device.Kicker }

func (b kickBell) Notify() error                     { b.k.Kick(); return nil }
func (b kickBell) Wait(*uint32, time.Duration) error { return nil }

// TestKickBetweenArmAndSleep: a kick that lands after the device armed its
// SQs and before it sleeps is not lost. The window is widened by a pause,
// and the watchdog is an hour, so a lost kick hangs the job.
func TestKickBetweenArmAndSleep(t *testing.T) {
	// Set before the device starts and cleared after it has stopped: cleanups
	// run last registered first, and startDevice registers the device's Close.
	testHookArmed = func() { time.Sleep(20 * time.Microsecond) }
	t.Cleanup(func() { testHookArmed = nil })
	d := startDevice(t, "ideal", WithSpin(0), withMaxSleep(time.Hour))
	h := newHarness(t, d, 16, nil)
	h.sq.SetNotifier(kickBell{h.q.(device.Kicker)})
	for i := 0; i < 200; i++ {
		time.Sleep(time.Duration(i%40) * time.Microsecond) // land at every point of the window
		done := make(chan ring.CQE, 1)
		go func() { done <- h.run(ring.SQE{Opcode: ring.OpNop, UserData: uint64(i)}) }()
		select {
		case c := <-done:
			if c.Status != ring.StatusOK {
				t.Fatalf("job %d: %v", i, c.Status)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("job %d: a kick between arming and sleeping was lost", i)
		}
	}
}
