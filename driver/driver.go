package driver

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/accelq/accelq/device"
)

// Cred identifies a client: for a remote client, the peer credentials of its
// socket (SO_PEERCRED); for an embedded one, whatever the caller vouches for.
type Cred struct {
	UID uint32
	GID uint32
	PID int32
}

// Driver is the isolation layer in front of one device. It keeps the contexts
// open on it and counts them per uid.
type Driver struct {
	dev    device.Device
	policy *Policy

	mu       sync.Mutex
	perUID   map[uint32]int
	contexts map[*Context]struct{}
	closed   bool
}

// New returns a driver for dev governed by policy; a nil policy means
// DefaultPolicy. The driver does not own the device: closing the driver closes
// its contexts, not the device.
func New(dev device.Device, policy *Policy) *Driver {
	if policy == nil {
		policy = DefaultPolicy()
	}
	d := &Driver{dev: dev, policy: policy, perUID: map[uint32]int{}, contexts: map[*Context]struct{}{}}
	dev.OnReset(d.rearm)
	return d
}

// rearm restarts every queue after a device reset. The jobs the reset caught
// have completed flushed; clients go on submitting to the same rings.
func (d *Driver) rearm() {
	d.mu.Lock()
	ctxs := make([]*Context, 0, len(d.contexts))
	for c := range d.contexts {
		ctxs = append(ctxs, c)
	}
	d.mu.Unlock()
	for _, c := range ctxs {
		c.mu.Lock()
		for _, q := range c.queues {
			q.mu.Lock()
			if !q.destroyed {
				q.dq.Rearm() // a queue the client broke stays broken
			}
			q.mu.Unlock()
		}
		c.mu.Unlock()
	}
}

// Device returns the device the driver serves.
func (d *Driver) Device() device.Device { return d.dev }

// Policy returns the driver's policy.
func (d *Driver) Policy() *Policy { return d.policy }

// Open opens a context for a client, within the max_contexts limit of its uid.
func (d *Driver) Open(cred Cred) (*Context, error) {
	rule := d.policy.Rule(cred)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("%w: opening a context on a closed driver", ErrClosed)
	}
	if n := d.perUID[cred.UID]; n >= rule.MaxContexts {
		return nil, &QuotaError{Limit: "max_contexts", Max: int64(rule.MaxContexts), Have: int64(n), Want: 1, UID: cred.UID}
	}
	c := &Context{
		drv:    d,
		cred:   cred,
		rule:   rule,
		space:  newSpace(&rule),
		tenant: &device.Tenant{Weight: rule.Weight, MaxInFlight: rule.MaxInFlight},
		queues: map[uint32]*Queue{},
		salt:   rand.Uint32(),
	}
	d.perUID[cred.UID]++
	d.contexts[c] = struct{}{}
	return c, nil
}

// forget drops a closed context from the driver's counts.
func (d *Driver) forget(c *Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.contexts[c]; !ok {
		return
	}
	delete(d.contexts, c)
	if d.perUID[c.cred.UID]--; d.perUID[c.cred.UID] == 0 {
		delete(d.perUID, c.cred.UID)
	}
}

// Contexts returns the number of open contexts.
func (d *Driver) Contexts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.contexts)
}

// Close closes every open context and refuses new ones. It does not close the
// device.
func (d *Driver) Close() error {
	d.mu.Lock()
	d.closed = true
	cs := make([]*Context, 0, len(d.contexts))
	for c := range d.contexts {
		cs = append(cs, c)
	}
	d.mu.Unlock()
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
