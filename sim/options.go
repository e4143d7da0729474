package sim

import (
	"runtime"
	"time"
)

type config struct {
	name       string
	clock      Clock
	timingOnly bool
	faults     *Faults
	workers    int
	spin       int
	maxSleep   time.Duration // the loop's watchdog: longest sleep with nothing due
}

// Option configures a Device.
type Option func(*config)

// WithName names the device instance.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithClock sets the device's clock; tests use a ManualClock.
func WithClock(clk Clock) Option { return func(c *config) { c.clock = clk } }

// WithTimingOnly makes the device skip computation: completions follow the
// timing model alone and carry ring.CQETimingOnly.
func WithTimingOnly() Option { return func(c *config) { c.timingOnly = true } }

// WithFaults overrides the profile's fault injection.
func WithFaults(f Faults) Option { return func(c *config) { c.faults = &f } }

// WithWorkers sets the number of host compute workers (default GOMAXPROCS).
func WithWorkers(n int) Option { return func(c *config) { c.workers = n } }

// WithSpin sets how many empty polls the device makes before it sleeps.
func WithSpin(n int) Option { return func(c *config) { c.spin = n } }

func defaultConfig(p *Profile) config {
	return config{
		name:    p.Name,
		workers: runtime.GOMAXPROCS(0),
		spin:    2000,
		// Every wake-up is an eventfd edge of its own, so the watchdog is a
		// backstop, not a mechanism: a lost wake-up costs at most this much.
		maxSleep: time.Second,
	}
}
