package userdrv

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/driver"
	"github.com/accelq/accelq/ring"
	"github.com/accelq/accelq/sim"
)

// QueueDeviceStats are the driver's counters for a queue.
type QueueDeviceStats = device.Counters

type deviceKey = device.Key

// SocketEnv names the environment variable Open reads the daemon's socket from.
const SocketEnv = "ACCELQ_SOCKET"

// DefaultProfile is the device profile of an embedded device when none is given.
const DefaultProfile = "qat-gen4"

type openConfig struct {
	socket       string
	embedded     bool
	profile      string
	simProfile   *sim.Profile
	simOpts      []sim.Option
	policy       *driver.Policy
	softIfAbsent bool
	dialOpts     []driver.DialOption
}

// Option configures Open.
type Option func(*openConfig)

// WithSocket connects to the daemon at path.
func WithSocket(path string) Option { return func(c *openConfig) { c.socket = path } }

// WithControlTimeout bounds each control request to the daemon (opening a
// queue, registering memory, importing a key; default
// [driver.DefaultCallTimeout]). A daemon that does not answer in time makes the
// request fail with [driver.ErrTimeout] and closes the device's connection.
func WithControlTimeout(d time.Duration) Option {
	return func(c *openConfig) { c.dialOpts = append(c.dialOpts, driver.WithCallTimeout(d)) }
}

// WithEmbedded runs the driver and a simulated device with the named profile in
// this process, whatever ACCELQ_SOCKET says.
func WithEmbedded(profile string) Option {
	return func(c *openConfig) { c.embedded, c.profile = true, profile }
}

// WithSimProfile runs an embedded simulated device with a loaded profile.
func WithSimProfile(p *sim.Profile, opts ...sim.Option) Option {
	return func(c *openConfig) { c.embedded, c.simProfile, c.simOpts = true, p, opts }
}

// WithSimOptions passes options to the embedded simulated device.
func WithSimOptions(opts ...sim.Option) Option {
	return func(c *openConfig) { c.simOpts = append(c.simOpts, opts...) }
}

// WithPolicy sets the embedded driver's policy (default: everything allowed).
func WithPolicy(p *driver.Policy) Option { return func(c *openConfig) { c.policy = p } }

// WithSoftwareIfAbsent makes Open succeed without a device when the daemon
// cannot be reached: every job then runs in software, flagged as a fallback.
func WithSoftwareIfAbsent() Option { return func(c *openConfig) { c.softIfAbsent = true } }

// Device is an open accelerator: the client side of a driver context, embedded
// or remote. It is safe for concurrent use.
type Device struct {
	be        backend // nil when the device is absent and jobs run in software
	info      driver.Info
	supported [256]bool
	alloc     *allocator

	mu     sync.Mutex
	queues map[*Queue]struct{}
	closed bool
}

// Open opens a device: the daemon at WithSocket's path or $ACCELQ_SOCKET if
// either is given, else an embedded simulated device (DefaultProfile unless
// WithEmbedded or WithSimProfile says otherwise).
func Open(opts ...Option) (*Device, error) {
	cfg := openConfig{profile: DefaultProfile}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.socket == "" && !cfg.embedded {
		cfg.socket = os.Getenv(SocketEnv)
	}
	d := &Device{queues: map[*Queue]struct{}{}}
	var err error
	if cfg.socket != "" && !cfg.embedded {
		var cn *driver.Conn
		if cn, err = driver.Dial(cfg.socket, cfg.dialOpts...); err == nil {
			d.be = &remote{cn: cn}
		} else if !cfg.softIfAbsent {
			return nil, err
		}
	} else {
		if d.be, err = openEmbedded(&cfg); err != nil {
			return nil, err
		}
	}
	d.alloc = &allocator{be: d.be}
	if d.be != nil {
		if d.info, err = d.be.info(); err != nil {
			d.be.close()
			return nil, err
		}
		for _, o := range d.info.Ops {
			d.supported[o] = true
		}
	}
	return d, nil
}

func openEmbedded(cfg *openConfig) (backend, error) {
	p := cfg.simProfile
	if p == nil {
		var err error
		if p, err = sim.LoadProfile(cfg.profile); err != nil {
			return nil, err
		}
	}
	dev, err := sim.New(p, cfg.simOpts...)
	if err != nil {
		return nil, err
	}
	drv := driver.New(dev, cfg.policy)
	ctx, err := drv.Open(driver.Cred{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), PID: int32(os.Getpid())})
	if err != nil {
		drv.Close()
		dev.Close()
		return nil, err
	}
	return &embedded{dev: dev, drv: drv, ctx: ctx}, nil
}

// Info describes the device and what this client may run on it. It is the zero
// Info for an absent device.
func (d *Device) Info() driver.Info { return d.info }

// Present reports whether a device is there (false when Open fell back to
// software because the daemon was absent).
func (d *Device) Present() bool { return d.be != nil }

// Supports reports whether the device offers op to this client.
func (d *Device) Supports(op ring.Opcode) bool { return d.supported[op] }

// Alloc returns n bytes of registered memory.
func (d *Device) Alloc(n int) (*Buffer, error) {
	if d.be == nil {
		b := &Buffer{b: make([]byte, n), class: -2, a: d.alloc}
		b.users.Store(1)
		return b, nil
	}
	return d.alloc.alloc(n)
}

func (d *Device) forget(q *Queue) {
	d.mu.Lock()
	delete(d.queues, q)
	d.mu.Unlock()
}

// Close closes every queue, then the device. Buffers are invalid afterwards.
func (d *Device) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.closed = true
	qs := make([]*Queue, 0, len(d.queues))
	for q := range d.queues {
		qs = append(qs, q)
	}
	d.mu.Unlock()
	var errs []error
	for _, q := range qs {
		if err := q.Close(); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	if d.be == nil {
		return errors.Join(errs...)
	}
	d.alloc.close()
	if err := d.be.close(); err != nil {
		errs = append(errs, fmt.Errorf("userdrv: close: %w", err))
	}
	return errors.Join(errs...)
}
