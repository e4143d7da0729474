package driver

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/accelq/accelq/internal/unix"
)

// region is a registered memfd, mapped shared. It is its own device.Pin: each
// successful translation takes one reference, and the registration holds one
// more until Unregister. The last release unmaps the memory and closes the
// driver's descriptor.
type region struct {
	handle   uint32
	mem      []byte // the mapping; never changed after registration
	fd       int    // the driver's own duplicate of the client's memfd
	writable bool
	refs     atomic.Int64
	released atomic.Bool
	onFree   func(*region) // accounting, called once after the unmap
}

// mapRegion checks that fd is a memfd sealed against shrinking, duplicates it and
// maps it. The returned region holds one reference, the registration's.
// check vets the size before anything is mapped.
func mapRegion(fd int, writable bool, check func(size int64) error) (*region, error) {
	if fd < 0 {
		return nil, fmt.Errorf("%w: descriptor %d", ErrInvalid, fd)
	}
	seals, err := unix.Seals(fd)
	if err != nil {
		return nil, fmt.Errorf("%w: descriptor %d is not a sealable memfd: %v", ErrInvalid, fd, err)
	}
	if seals&unix.SealShrink == 0 {
		return nil, fmt.Errorf("%w: memfd %d has seals %#x; add F_SEAL_SHRINK (fcntl F_ADD_SEALS) before registering it", ErrUnsealed, fd, seals)
	}
	size, err := unix.FileSize(fd)
	if err != nil {
		return nil, fmt.Errorf("%w: memfd %d: %v", ErrInvalid, fd, err)
	}
	if size <= 0 || size > int64(maxInt) {
		return nil, fmt.Errorf("%w: memfd %d of %d bytes; a region must have at least one byte", ErrInvalid, fd, size)
	}
	if writable && seals&(unix.SealWrite|unix.SealFutureWrite) != 0 {
		return nil, fmt.Errorf("%w: memfd %d is sealed against writing; register it read-only", ErrInvalid, fd)
	}
	if err := check(size); err != nil {
		return nil, err
	}
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, fmt.Errorf("driver: duplicating memfd %d: %w", fd, err)
	}
	var mem []byte
	if writable {
		mem, err = unix.MapShared(dup, int(size))
	} else {
		mem, err = unix.MapSharedReadOnly(dup, int(size))
	}
	if err != nil {
		unix.Close(dup)
		if writable {
			return nil, fmt.Errorf("%w: mapping memfd %d of %d bytes read-write (is it opened read-only?): %v", ErrInvalid, fd, size, err)
		}
		return nil, fmt.Errorf("driver: mapping memfd %d of %d bytes read-only: %w", fd, size, err)
	}
	r := &region{mem: mem, fd: dup, writable: writable}
	r.refs.Store(1)
	return r, nil
}

const maxInt = int(^uint(0) >> 1)

// size returns the region's length in bytes.
func (r *region) size() int { return len(r.mem) }

// acquire takes a reference unless the region is already being released.
func (r *region) acquire() bool {
	for {
		n := r.refs.Load()
		if n <= 0 {
			return false
		}
		if r.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Unpin releases one reference; the last one unmaps the region.
func (r *region) Unpin() {
	switch n := r.refs.Add(-1); {
	case n == 0:
		r.free()
	case n < 0:
		panic("driver: region unpinned more often than pinned")
	}
}

func (r *region) free() {
	err := unix.Unmap(r.mem)
	err = errors.Join(err, unix.Close(r.fd))
	if err != nil {
		// Neither can fail for a mapping and a descriptor this region owns;
		// continuing would hide a double free.
		panic(fmt.Sprintf("driver: releasing region %#x: %v", r.handle, err))
	}
	r.released.Store(true)
	if r.onFree != nil {
		r.onFree(r)
	}
}

// RegisterMemory registers a memfd the client sealed with F_SEAL_SHRINK, for the
// device to read (and, if writable, write) through buffer references naming the
// returned handle. The driver duplicates fd; the caller keeps its own descriptor
// and may close it. It returns the handle and the region's size, fixed at
// registration (the memfd may grow later; the region does not).
func (c *Context) RegisterMemory(fd int, writable bool) (handle uint32, size int, err error) {
	if err := c.lock("registering memory"); err != nil {
		return 0, 0, err
	}
	defer c.mu.Unlock()
	if err := c.quota("max_regions", int64(c.rule.MaxRegions), c.nregions.Load(), 1); err != nil {
		return 0, 0, err
	}
	r, err := mapRegion(fd, writable, func(size int64) error {
		return c.quota("max_registered_bytes", c.rule.MaxRegisteredBytes, c.regBytes.Load(), size)
	})
	if err != nil {
		return 0, 0, err
	}
	c.regBytes.Add(int64(r.size()))
	c.nregions.Add(1)
	r.onFree = func(r *region) {
		c.regBytes.Add(-int64(r.size()))
		c.nregions.Add(-1)
	}
	r.handle = c.newHandle()
	c.space.putRegion(r)
	return r.handle, r.size(), nil
}

// UnregisterMemory removes a region: translations naming it fail from now on.
// The memory stays mapped, and counted against the quota, until every job that
// translated it has completed.
func (c *Context) UnregisterMemory(handle uint32) error {
	if err := c.lock("unregistering memory"); err != nil {
		return err
	}
	defer c.mu.Unlock()
	r := c.space.lookupRegion(handle)
	if r == nil {
		return fmt.Errorf("%w: region %#x is not registered in this context", ErrBadHandle, handle)
	}
	c.space.deleteRegion(handle)
	r.Unpin()
	return nil
}
