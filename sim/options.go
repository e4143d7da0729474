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
	spin       time.Duration
	maxSleep   time.Duration // the loop's watchdog: longest sleep with nothing due
	noLoop     bool          // tests: the caller drives the front end with iterate
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

// WithSpin sets how long the device's front end polls its queues with nothing
// to do before it sleeps (default DefaultSpin). A client that submits within
// that time finds the device awake and pays no wake-up; 0 sleeps at once.
func WithSpin(d time.Duration) Option { return func(c *config) { c.spin = d } }

// DefaultSpin is how long an idle device polls before it sleeps: longer than
// a wake-up costs on a virtual machine (13-20 us), so that a synchronous
// client's next job, or a job on a modelled device a few microseconds away,
// finds the front end awake.
const DefaultSpin = 50 * time.Microsecond

func defaultConfig(p *Profile) config {
	return config{
		name:    p.Name,
		workers: runtime.GOMAXPROCS(0),
		spin:    DefaultSpin,
		// Every wake-up is an eventfd edge of its own, so the watchdog is a
		// backstop, not a mechanism: a lost wake-up costs at most this much.
		maxSleep: time.Second,
	}
}
