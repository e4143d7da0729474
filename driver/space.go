package driver

import (
	"maps"
	"sync/atomic"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

// space is one context's address space as the device sees it: its regions, its
// key slots and its allowlist. The tables are copy-on-write: the control path
// (serialised by the context's mutex) builds a new map and publishes it with an
// atomic store; the device loads the current map without a lock. A region or key
// removed from the table may still be found by a lookup that loaded the old map;
// acquire then fails once its last reference is gone, so nothing released is
// ever handed out.
type space struct {
	regions atomic.Pointer[map[uint32]*region]
	keys    atomic.Pointer[map[uint32]*keySlot]
	ops     opSet // the context's allowlist, fixed at open
}

var _ device.AddressSpace = (*space)(nil)

func newSpace(rule *Rule) *space {
	s := &space{ops: rule.ops}
	s.regions.Store(&map[uint32]*region{})
	s.keys.Store(&map[uint32]*keySlot{})
	return s
}

// Translate returns the bytes ref names, pinned. See device.AddressSpace.
func (s *space) Translate(ref ring.BufRef, access device.Access) ([]byte, device.Pin, ring.Status) {
	if ref.Region == 0 {
		if ref.Off != 0 || ref.Len != 0 {
			return nil, nil, ring.StatusBadAddress
		}
		return nil, nil, ring.StatusOK
	}
	r := (*s.regions.Load())[ref.Region]
	if r == nil {
		return nil, nil, ring.StatusBadAddress
	}
	if access&device.AccessWrite != 0 && !r.writable {
		return nil, nil, ring.StatusBadAddress
	}
	size := uint64(len(r.mem))
	if ref.Off > size || uint64(ref.Len) > size-ref.Off {
		return nil, nil, ring.StatusBadAddress
	}
	if !r.acquire() {
		return nil, nil, ring.StatusBadAddress
	}
	end := ref.Off + uint64(ref.Len)
	return r.mem[ref.Off:end:end], r, ring.StatusOK
}

// Key returns the key in slot handle, pinned.
func (s *space) Key(handle uint32) (*device.Key, device.Pin, ring.Status) {
	k := (*s.keys.Load())[handle]
	if k == nil || !k.acquire() {
		return nil, nil, ring.StatusNotPermitted
	}
	return k.key, k, ring.StatusOK
}

// Allowed reports whether the context's policy allows op.
func (s *space) Allowed(op ring.Opcode) bool { return s.ops.has(op) }

// The mutators below are called with the owning context's mutex held.

func (s *space) lookupRegion(h uint32) *region { return (*s.regions.Load())[h] }
func (s *space) lookupKey(h uint32) *keySlot   { return (*s.keys.Load())[h] }

func (s *space) putRegion(r *region) { cowPut(&s.regions, r.handle, r) }
func (s *space) putKey(k *keySlot)   { cowPut(&s.keys, k.handle, k) }

func (s *space) deleteRegion(h uint32) { cowDelete(&s.regions, h) }
func (s *space) deleteKey(h uint32)    { cowDelete(&s.keys, h) }

func cowPut[V any](p *atomic.Pointer[map[uint32]V], h uint32, v V) {
	m := maps.Clone(*p.Load())
	m[h] = v
	p.Store(&m)
}

func cowDelete[V any](p *atomic.Pointer[map[uint32]V], h uint32) {
	m := maps.Clone(*p.Load())
	delete(m, h)
	p.Store(&m)
}
