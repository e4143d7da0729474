package driver

import (
	"fmt"
	"sync/atomic"

	"github.com/accelq/accelq/device"
)

// keySlot holds an imported key. Like a region it is its own device.Pin: each
// lookup by the device takes one reference, the slot's registration one more
// until DestroyKey. The last release zeroes the key.
type keySlot struct {
	handle    uint32
	key       *device.Key
	refs      atomic.Int64
	destroyed atomic.Bool
	onFree    func(*keySlot) // accounting, called once after the key is zeroed
}

func newKeySlot(k *device.Key) *keySlot {
	s := &keySlot{key: k}
	s.refs.Store(1)
	return s
}

func (s *keySlot) acquire() bool {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Unpin releases one reference; the last one zeroes the key.
func (s *keySlot) Unpin() {
	switch n := s.refs.Add(-1); {
	case n == 0:
		s.key.Destroy()
		s.destroyed.Store(true)
		if s.onFree != nil {
			s.onFree(s)
		}
	case n < 0:
		panic("driver: key unpinned more often than pinned")
	}
}

// ImportKey parses key material of the given kind (see device.ParseKey) into a
// new key slot and returns its handle. The material is copied; the caller should
// zero its own copy. No API reads a key back.
func (c *Context) ImportKey(kind device.KeyKind, material []byte) (uint32, error) {
	if err := c.lock("importing a key"); err != nil {
		return 0, err
	}
	defer c.mu.Unlock()
	if err := c.quota("max_keys", int64(c.rule.MaxKeys), c.nkeys.Load(), 1); err != nil {
		return 0, err
	}
	k, err := device.ParseKey(kind, material)
	if err != nil {
		return 0, fmt.Errorf("driver: importing %s key: %w", kind, err)
	}
	s := newKeySlot(k)
	c.nkeys.Add(1)
	s.onFree = func(*keySlot) { c.nkeys.Add(-1) }
	s.handle = c.newHandle()
	c.space.putKey(s)
	return s.handle, nil
}

// DestroyKey removes a key slot: SQEs naming it fail from now on, and the key is
// zeroed when the last job using it completes.
func (c *Context) DestroyKey(handle uint32) error {
	if err := c.lock("destroying a key"); err != nil {
		return err
	}
	defer c.mu.Unlock()
	s := c.space.lookupKey(handle)
	if s == nil {
		return fmt.Errorf("%w: key %#x is not held by this context", ErrBadHandle, handle)
	}
	c.space.deleteKey(handle)
	s.Unpin()
	return nil
}
