package ring

// Shared test helpers: the hang detector used by every loop that waits on the
// other side of a ring.

import "time"

// hangTimeout bounds every wait in these tests. It is a hang detector, not a
// performance threshold: a healthy run finishes orders of magnitude sooner, even
// under the race detector on a loaded 2-core machine.
const hangTimeout = 60 * time.Second

// watchdog tells a spin loop when to give up. It reads the clock only every
// 1024 polls so that it does not slow the loop it guards.
type watchdog struct {
	deadline time.Time
	polls    uint
}

func newWatchdog(d time.Duration) *watchdog { return &watchdog{deadline: time.Now().Add(d)} }

func (w *watchdog) expired() bool {
	w.polls++
	return w.polls%1024 == 0 && time.Now().After(w.deadline)
}
