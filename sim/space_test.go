package sim

// An in-memory address space standing in for the driver's: regions, keys and an
// allowlist, with pin counts so tests can check that the device releases every
// reference it takes.

import (
	"maps"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/accelq/accelq/device"
	"github.com/accelq/accelq/ring"
)

type testRegion struct {
	mem      []byte
	writable bool
	pins     atomic.Int64
}

func (r *testRegion) Unpin() { r.pins.Add(-1) }

type testKey struct {
	key  *device.Key
	pins atomic.Int64
}

func (k *testKey) Unpin() { k.pins.Add(-1) }

type testSpace struct {
	mu      sync.Mutex
	regions atomic.Pointer[map[uint32]*testRegion] // copied on write: read without a lock, as the driver's are
	keys    atomic.Pointer[map[uint32]*testKey]
	deny    [256]atomic.Bool // read on the device's data path: no lock
	next    uint32
}

func newTestSpace() *testSpace {
	s := &testSpace{}
	s.regions.Store(&map[uint32]*testRegion{})
	s.keys.Store(&map[uint32]*testKey{})
	return s
}

func (s *testSpace) addRegion(mem []byte, writable bool) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	m := maps.Clone(*s.regions.Load())
	m[s.next] = &testRegion{mem: mem, writable: writable}
	s.regions.Store(&m)
	return s.next
}

func (s *testSpace) addKey(t testing.TB, kind device.KeyKind, material []byte) uint32 {
	t.Helper()
	k, err := device.ParseKey(kind, material)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	m := maps.Clone(*s.keys.Load())
	m[s.next] = &testKey{key: k}
	s.keys.Store(&m)
	return s.next
}

func (s *testSpace) Translate(ref ring.BufRef, access device.Access) ([]byte, device.Pin, ring.Status) {
	if ref.IsZero() {
		return nil, nil, ring.StatusOK
	}
	r := (*s.regions.Load())[ref.Region]
	if r == nil {
		return nil, nil, ring.StatusBadAddress
	}
	size := uint64(len(r.mem))
	if ref.Off > size || uint64(ref.Len) > size-ref.Off {
		return nil, nil, ring.StatusBadAddress
	}
	if access&device.AccessWrite != 0 && !r.writable {
		return nil, nil, ring.StatusBadAddress
	}
	r.pins.Add(1)
	end := ref.Off + uint64(ref.Len)
	return r.mem[ref.Off:end:end], r, ring.StatusOK
}

func (s *testSpace) Key(h uint32) (*device.Key, device.Pin, ring.Status) {
	k := (*s.keys.Load())[h]
	if k == nil {
		return nil, nil, ring.StatusNotPermitted
	}
	k.pins.Add(1)
	return k.key, k, ring.StatusOK
}

func (s *testSpace) Allowed(o ring.Opcode) bool { return !s.deny[o].Load() }

// pinned returns the number of references the device still holds.
func (s *testSpace) pinned() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, r := range *s.regions.Load() {
		n += r.pins.Load()
	}
	for _, k := range *s.keys.Load() {
		n += k.pins.Load()
	}
	return n
}
