package driver

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// Context is one client's view of the device: its regions, key slots, queue
// pairs and policy rule. Handles are valid only in the context that issued them.
// A Context is safe for concurrent use; its control operations are serialised.
type Context struct {
	drv    *Driver
	cred   Cred
	rule   Rule
	space  *space
	tenant *device.Tenant // its share of the device, against other contexts, and its jobs in flight

	// Counted until released, which may be after unregistration (pins).
	regBytes atomic.Int64
	nregions atomic.Int64
	nkeys    atomic.Int64

	mu     sync.Mutex
	closed bool
	queues map[uint32]*Queue
	seq    uint32 // handles issued
	salt   uint32 // makes handles differ between contexts
}

// Cred returns the credentials the context was opened with.
func (c *Context) Cred() Cred { return c.cred }

// Rule returns the policy rule governing the context.
func (c *Context) Rule() Rule { return c.rule }

// newHandle returns a handle not in use in this context. Handles are a counter
// scrambled by a bijection of the 32-bit integers, so none repeats until 2^32
// have been issued, and a per-context salt makes handles of different contexts
// differ (with high probability; nothing relies on it). Called with c.mu
// held.
func (c *Context) newHandle() uint32 {
	for {
		c.seq++
		h := c.seq*0x9e3779b1 ^ c.salt
		if h == 0 || c.space.lookupRegion(h) != nil || c.space.lookupKey(h) != nil || c.queues[h] != nil {
			continue
		}
		return h
	}
}

// lock locks the context, failing if it is closed.
func (c *Context) lock(what string) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("%w: %s on a closed context", ErrClosed, what)
	}
	return nil
}

func (c *Context) quota(limit string, max, have, want int64) error {
	if have+want > max || have+want < have {
		return &QuotaError{Limit: limit, Max: max, Have: have, Want: want, UID: c.cred.UID}
	}
	return nil
}

// Info is what a client learns about the device through its context.
type Info struct {
	Device device.Info   // the device's own description
	Ops    []ring.Opcode // operations the device implements and the policy allows this context
	Rule   Rule          // the context's limits
}

// Info describes the device and what this context may do with it.
func (c *Context) Info() Info {
	di := c.drv.dev.Info()
	var ops []ring.Opcode
	for _, o := range di.Ops {
		if c.rule.Allows(o) {
			ops = append(ops, o)
		}
	}
	slices.Sort(ops)
	ops = slices.Compact(ops)
	di.Ops = slices.Clone(di.Ops)
	return Info{Device: di, Ops: ops, Rule: c.rule}
}

// Close tears the context down: it destroys every queue (the device stops
// fetching, flushes what it has not started and waits for what it is computing),
// then unregisters all memory and destroys all keys. Regions and keys still
// pinned elsewhere are released at their last unpin. Close is idempotent.
func (c *Context) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	var errs []error
	for h, q := range c.queues {
		if err := q.destroy(); err != nil {
			errs = append(errs, fmt.Errorf("driver: destroying queue %#x: %w", h, err))
		}
		delete(c.queues, h)
	}
	// Empty the tables first, so no new translation succeeds, then drop the
	// registrations' references.
	regions := c.space.regions.Swap(&map[uint32]*region{})
	keys := c.space.keys.Swap(&map[uint32]*keySlot{})
	for _, r := range *regions {
		r.Unpin()
	}
	for _, k := range *keys {
		k.Unpin()
	}
	c.mu.Unlock()
	c.drv.forget(c)
	return errors.Join(errs...)
}
