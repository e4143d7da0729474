package sim

import (
	"sync"
	"time"
)

// Clock is the device's time source: the time elapsed since the device started.
// The timing model works in this time; a Clock only says where "now" is.
type Clock interface {
	Now() time.Duration
}

// RealClock returns a clock that reads the monotonic wall clock, starting at zero
// when RealClock is called.
func RealClock() Clock { return realClock{start: time.Now()} }

type realClock struct{ start time.Time }

// Now returns the time since the clock was created. time.Since uses the monotonic
// reading, so it never goes backwards when the wall clock is set.
func (c realClock) Now() time.Duration { return time.Since(c.start) }

// ManualClock is a clock that moves only when told to, for deterministic tests.
// The zero value reads zero. It is safe for concurrent use.
type ManualClock struct {
	mu  sync.Mutex
	now time.Duration
}

// NewManualClock returns a manual clock reading start.
func NewManualClock(start time.Duration) *ManualClock { return &ManualClock{now: start} }

// Now returns the clock's current reading.
func (c *ManualClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set sets the clock's reading. Setting it backwards is allowed (a test may want
// to), but the device assumes time does not go backwards.
func (c *ManualClock) Set(d time.Duration) {
	c.mu.Lock()
	c.now = d
	c.mu.Unlock()
}

// Advance moves the clock forward by d and returns the new reading.
func (c *ManualClock) Advance(d time.Duration) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now += d
	return c.now
}
