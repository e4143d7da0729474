package userdrv

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/accelq/accelq/internal/unix"
	"github.com/accelq/accelq/ring"
)

// Buffer is a piece of registered memory: a job whose buffers are Buffers runs
// with no copy on the client side (and none on the device side in zero-copy
// mode). Buffers come from a slab allocator over sealed memfd regions that are
// registered with the driver once.
//
// A Buffer in use by a job in flight must not be written (for a source) or read
// (for a destination) until the job completes; Free is safe at any time, since a
// Buffer returns to the pool only after the last job using it completed.
type Buffer struct {
	b      []byte
	region uint32
	off    uint64
	class  int // size class, or -1 for a dedicated region
	slab   *slab
	a      *allocator
	users  atomic.Int32 // jobs in flight plus one for the owner until Free
}

// Bytes returns the buffer's memory. Its length is the size asked of Alloc.
func (b *Buffer) Bytes() []byte { return b.b }

// Len returns the buffer's length.
func (b *Buffer) Len() int { return len(b.b) }

// Ref returns a reference to n bytes at off, for a job.
func (b *Buffer) Ref(off, n int) ring.BufRef {
	if off < 0 || n < 0 || off+n > len(b.b) {
		panic(fmt.Sprintf("userdrv: range [%d, %d) outside a %d-byte buffer", off, off+n, len(b.b)))
	}
	return ring.BufRef{Region: b.region, Off: b.off + uint64(off), Len: uint32(n)}
}

// Free gives the buffer back. If jobs using it are still in flight, it goes back
// to the pool when the last one completes.
func (b *Buffer) Free() { b.release() }

func (b *Buffer) hold() { b.users.Add(1) }
func (b *Buffer) release() {
	if n := b.users.Add(-1); n == 0 {
		b.a.put(b)
	} else if n < 0 {
		panic("userdrv: Buffer freed twice")
	}
}

// slab is one registered memfd region.
type slab struct {
	mem    []byte
	region uint32
}

const (
	minClassShift = 6  // 64 bytes
	maxClassShift = 20 // 1 MiB: larger buffers get a region of their own
	slabSize      = 4 << 20
	numClasses    = maxClassShift - minClassShift + 1
)

// allocator hands out Buffers from registered slabs, one free list per
// power-of-two size class.
type allocator struct {
	be    backend
	mu    sync.Mutex
	free  [numClasses][]*Buffer
	slabs []*slab
	bytes int64 // registered bytes
}

func classOf(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	c := bits.Len(uint(n-1)) - minClassShift
	if c >= numClasses {
		return -1
	}
	return c
}

// alloc returns a buffer of n bytes.
func (a *allocator) alloc(n int) (*Buffer, error) {
	if n <= 0 {
		return nil, fmt.Errorf("userdrv: buffer of %d bytes", n)
	}
	c := classOf(n)
	if c < 0 {
		return a.dedicated(n)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.free[c]) == 0 {
		if err := a.grow(c); err != nil {
			return nil, err
		}
	}
	l := a.free[c]
	b := l[len(l)-1]
	a.free[c] = l[:len(l)-1]
	b.b = b.b[:n]
	b.users.Store(1)
	return b, nil
}

// grow registers a slab and carves it into buffers of class c. Called with mu held.
func (a *allocator) grow(c int) error {
	s, err := a.newSlab(slabSize)
	if err != nil {
		return err
	}
	size := 1 << (c + minClassShift)
	for off := 0; off+size <= len(s.mem); off += size {
		a.free[c] = append(a.free[c], &Buffer{
			b: s.mem[off : off+size : off+size], region: s.region, off: uint64(off), class: c, slab: s, a: a,
		})
	}
	return nil
}

func (a *allocator) newSlab(size int) (*slab, error) {
	fd, err := unix.Memfd("accelq-buffers", size)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd) // the mapping and the driver's duplicate keep the memory
	if err := unix.AddSeals(fd, unix.SealShrink|unix.SealGrow); err != nil {
		return nil, err
	}
	mem, err := unix.MapShared(fd, size)
	if err != nil {
		return nil, err
	}
	h, err := a.be.register(fd, true)
	if err != nil {
		unix.Unmap(mem)
		return nil, fmt.Errorf("userdrv: register %d bytes: %w", size, err)
	}
	s := &slab{mem: mem, region: h}
	a.slabs = append(a.slabs, s)
	a.bytes += int64(size)
	return s, nil
}

// dedicated registers a region for one large buffer; it is unregistered on Free.
func (a *allocator) dedicated(n int) (*Buffer, error) {
	size := (n + 4095) &^ 4095
	a.mu.Lock()
	s, err := a.newSlab(size)
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	b := &Buffer{b: s.mem[:n:n], region: s.region, class: -1, slab: s, a: a}
	b.users.Store(1)
	return b, nil
}

func (a *allocator) put(b *Buffer) {
	if b.class == -2 {
		return // ordinary memory of an absent device
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if b.class < 0 {
		a.be.unregister(b.slab.region)
		unix.Unmap(b.slab.mem)
		a.bytes -= int64(len(b.slab.mem))
		for i, s := range a.slabs {
			if s == b.slab {
				a.slabs = append(a.slabs[:i], a.slabs[i+1:]...)
				break
			}
		}
		return
	}
	b.b = b.b[:cap(b.b)]
	a.free[b.class] = append(a.free[b.class], b)
}

// close unmaps every slab. The backend is being closed, which unregisters them.
func (a *allocator) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.slabs {
		unix.Unmap(s.mem)
	}
	a.slabs = nil
	a.free = [numClasses][]*Buffer{}
}
