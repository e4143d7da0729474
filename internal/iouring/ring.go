package iouring

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrUnavailable is wrapped by New's error when the kernel refuses to create a
// ring at all, as opposed to failing one: the caller cannot measure io_uring
// here and should skip, and the wrapped errno says why.
var ErrUnavailable = errors.New("iouring: io_uring unavailable")

// Ring is one io_uring instance used only for NOPs.
//
// A Ring is not safe for concurrent use: it keeps the SQ tail and CQ head in
// plain fields, as a single submitter may, rather than paying for
// synchronisation a baseline measurement should not include.
type Ring struct {
	fd      int
	entries uint32 // SQ size granted by the kernel

	sqMap  []byte // SQ ring, and with IORING_FEAT_SINGLE_MMAP the CQ ring too
	cqMap  []byte // CQ ring; nil when it shares sqMap
	sqeMap []byte // SQE array

	sqHead *uint32 // written by the kernel
	sqTail *uint32 // written by us
	sqMask uint32
	sqes   []sqe
	sqTl   uint32 // our copy of *sqTail: only we write it

	cqHead *uint32 // written by us
	cqTail *uint32 // written by the kernel
	cqMask uint32
	cqes   []cqe
	cqHd   uint32 // our copy of *cqHead

	seq  uint64   // next user_data NopBatch hands out
	ud   []uint64 // scratch: user_data submitted in a batch
	got  []uint64 // scratch: user_data reaped, for the out-of-order check
	want []uint64 // scratch: sorted copy of ud, for the out-of-order check
}

// New creates a ring with at least entries submission slots; the kernel rounds
// the size up to a power of two, and Entries reports what it granted. It fails
// with an error wrapping ErrUnavailable when the kernel refuses io_uring.
func New(entries uint32) (*Ring, error) {
	if entries == 0 || entries > maxEntries {
		return nil, fmt.Errorf("iouring: %d entries, want 1 to %d", entries, maxEntries)
	}
	var p params
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, setupError(errno)
	}
	r := &Ring{fd: int(fd), entries: p.sqEntries}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// setupError says why io_uring_setup failed, separating a kernel that will not
// offer io_uring (wrapping ErrUnavailable) from a request it rejected.
func setupError(errno syscall.Errno) error {
	name := unix.ErrnoName(errno)
	var hint string
	switch errno {
	case unix.ENOSYS:
		hint = "kernel built without CONFIG_IO_URING, or a seccomp filter answers ENOSYS"
	case unix.EPERM:
		hint = "seccomp, or the io_uring_group sysctl excludes this process"
		if b, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled"); err == nil {
			if v := strings.TrimSpace(string(b)); v != "0" {
				hint = "kernel.io_uring_disabled=" + v
			}
		}
	case unix.EACCES:
		hint = "denied by a security module"
	case unix.ENOMEM:
		// Kernels before 5.12 charge ring memory to RLIMIT_MEMLOCK, which
		// is small by default in many containers.
		hint = "out of memory, or RLIMIT_MEMLOCK too small on kernels before 5.12"
	default:
		return fmt.Errorf("iouring: io_uring_setup: %s (%w)", name, errno)
	}
	return fmt.Errorf("%w: io_uring_setup: %s (%w): %s", ErrUnavailable, name, errno, hint)
}

// mapRings maps the kernel's regions and finds the fields in them at the
// offsets the kernel reported, checking each against the mapping's length so
// that a layout this code does not understand fails here rather than faulting
// later.
func (r *Ring) mapRings(p *params) error {
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*int(unsafe.Sizeof(cqe{}))
	single := p.features&featSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	if r.sqMap, err = mmap(r.fd, offSQRing, sqSize); err != nil {
		return fmt.Errorf("iouring: mmap SQ ring: %w", err)
	}
	cqMap := r.sqMap
	if !single {
		if r.cqMap, err = mmap(r.fd, offCQRing, cqSize); err != nil {
			return fmt.Errorf("iouring: mmap CQ ring: %w", err)
		}
		cqMap = r.cqMap
	}
	sqeSize := int(p.sqEntries) * int(unsafe.Sizeof(sqe{}))
	if r.sqeMap, err = mmap(r.fd, offSQEs, sqeSize); err != nil {
		return fmt.Errorf("iouring: mmap SQEs: %w", err)
	}

	if r.sqHead, err = word(r.sqMap, p.sqOff.head); err != nil {
		return err
	}
	if r.sqTail, err = word(r.sqMap, p.sqOff.tail); err != nil {
		return err
	}
	if r.cqHead, err = word(cqMap, p.cqOff.head); err != nil {
		return err
	}
	if r.cqTail, err = word(cqMap, p.cqOff.tail); err != nil {
		return err
	}
	sqMask, err := word(r.sqMap, p.sqOff.ringMask)
	if err != nil {
		return err
	}
	cqMask, err := word(cqMap, p.cqOff.ringMask)
	if err != nil {
		return err
	}
	r.sqMask, r.cqMask = *sqMask, *cqMask
	if r.sqMask != p.sqEntries-1 || r.cqMask != p.cqEntries-1 {
		return fmt.Errorf("iouring: ring masks %#x/%#x do not match %d/%d entries", r.sqMask, r.cqMask, p.sqEntries, p.cqEntries)
	}
	// A batch is reaped only after all of it completes, so the CQ ring must
	// hold a whole SQ ring's worth; the kernel's default of twice the SQ
	// size does.
	if p.cqEntries < p.sqEntries {
		return fmt.Errorf("iouring: CQ ring of %d smaller than SQ ring of %d", p.cqEntries, p.sqEntries)
	}

	array := unsafe.Slice((*uint32)(unsafe.Pointer(&r.sqMap[p.sqOff.array])), p.sqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMap[0])), p.sqEntries)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&cqMap[p.cqOff.cqes])), p.cqEntries)
	// SQEs are used in ring order, so the indirection through the index
	// array is fixed once as the identity rather than written per submission.
	for i := range array {
		array[i] = uint32(i)
	}
	r.sqTl = atomic.LoadUint32(r.sqTail)
	r.cqHd = atomic.LoadUint32(r.cqHead)

	r.seq = 0x9e3779b97f4a7c15 // user_data values with high bits set, so truncation would show
	r.ud = make([]uint64, p.sqEntries)
	r.got = make([]uint64, p.sqEntries)
	r.want = make([]uint64, p.sqEntries)
	return nil
}

// mmap maps a region of the ring shared with the kernel, prefaulted so that
// page faults do not land inside the first measured batches.
func mmap(fd int, off int64, size int) ([]byte, error) {
	return unix.Mmap(fd, off, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
}

// word returns the ring index at off, refusing an offset outside the mapping
// or one an atomic access could not use.
func word(m []byte, off uint32) (*uint32, error) {
	if int(off)+4 > len(m) || off%4 != 0 {
		return nil, fmt.Errorf("iouring: kernel ring offset %d outside %d-byte mapping", off, len(m))
	}
	return (*uint32)(unsafe.Pointer(&m[off])), nil
}

// Entries is the number of submission slots, the largest batch NopBatch takes.
func (r *Ring) Entries() uint32 { return r.entries }

// Close unmaps the rings and closes the ring descriptor. Calling it again does
// nothing, so a deferred Close may follow an explicit one.
func (r *Ring) Close() error {
	var errs []error
	for _, m := range []*[]byte{&r.sqeMap, &r.cqMap, &r.sqMap} {
		if *m != nil {
			if err := unix.Munmap(*m); err != nil {
				errs = append(errs, fmt.Errorf("iouring: munmap: %w", err))
			}
			*m = nil
		}
	}
	r.sqes, r.cqes = nil, nil
	r.sqHead, r.sqTail, r.cqHead, r.cqTail = nil, nil, nil, nil
	if r.fd >= 0 {
		if err := unix.Close(r.fd); err != nil {
			errs = append(errs, fmt.Errorf("iouring: close: %w", err))
		}
		r.fd = -1
	}
	return errors.Join(errs...)
}

// NopBatch submits k NOPs and waits for all k to complete, in a single
// io_uring_enter call. Each NOP carries a distinct user_data, and NopBatch
// fails unless every completion returns one of them, exactly once, with res 0:
// a baseline that miscounted completions would be measuring nothing. After an
// error from the kernel the ring's state is unknown and it should be closed.
func (r *Ring) NopBatch(k int) error {
	if k < 1 || k > int(r.entries) {
		return fmt.Errorf("iouring: batch of %d, want 1 to %d", k, r.entries)
	}
	ud := r.ud[:k]
	for i := range ud {
		ud[i] = r.seq
		r.seq++
	}
	return r.nops(ud)
}

// nops submits one NOP per element of ud, carrying it as user_data, waits for
// them all, and checks that the completions return exactly the values in ud.
func (r *Ring) nops(ud []uint64) error {
	if r.fd < 0 {
		return errors.New("iouring: ring is closed")
	}
	k := uint32(len(ud))
	if k == 0 || k > r.entries {
		return fmt.Errorf("iouring: batch of %d, want 1 to %d", k, r.entries)
	}
	if pending := r.sqTl - atomic.LoadUint32(r.sqHead); pending != 0 {
		return fmt.Errorf("iouring: %d SQEs left unconsumed by an earlier batch", pending)
	}
	for i, u := range ud {
		r.sqes[(r.sqTl+uint32(i))&r.sqMask] = sqe{opcode: opNop, userData: u}
	}
	r.sqTl += k
	// The kernel reads the SQEs only after it sees the new tail; the store
	// must come after the writes above, which sync/atomic guarantees.
	atomic.StoreUint32(r.sqTail, r.sqTl)

	for {
		toSubmit := r.sqTl - atomic.LoadUint32(r.sqHead)
		ready := atomic.LoadUint32(r.cqTail) - r.cqHd
		if toSubmit == 0 && ready >= k {
			break
		}
		// min_complete counts everything in the CQ ring, and the ring held
		// nothing before this batch, so k waits for exactly this batch. A
		// signal, or a short submission, returns early; the loop recomputes
		// both counts from the ring rather than trusting the return value,
		// which does not say what happened before an EINTR.
		_, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd),
			uintptr(toSubmit), uintptr(k), enterGetEvents, 0, 0)
		if errno != 0 && errno != unix.EINTR {
			return fmt.Errorf("iouring: io_uring_enter: %w", errno)
		}
	}
	return r.reap(ud)
}

// reap consumes len(ud) CQEs and checks them against ud. It consumes all of
// them before reporting a bad one so that the next batch starts on an empty
// CQ ring whatever happened to this one.
func (r *Ring) reap(ud []uint64) error {
	k := uint32(len(ud))
	var firstErr error
	inOrder := true
	for i := range k {
		c := r.cqes[(r.cqHd+i)&r.cqMask]
		if c.res != 0 && firstErr == nil {
			firstErr = fmt.Errorf("iouring: NOP user_data %#x completed with res %d (%v)", c.userData, c.res, syscall.Errno(-c.res))
		}
		r.got[i] = c.userData
		inOrder = inOrder && c.userData == ud[i]
	}
	r.cqHd += k
	// Releases the CQEs back to the kernel only after they are read.
	atomic.StoreUint32(r.cqHead, r.cqHd)
	if firstErr != nil {
		return firstErr
	}
	if inOrder {
		return nil
	}
	return sameSet(r.got[:k], ud, r.want[:k])
}

// sameSet reports whether got holds the values of ud in some order, sorting got
// and using want as scratch. NOPs complete in submission order in practice, but
// the ABI does not promise it, so only a different set of user_data is an
// error.
func sameSet(got, ud, want []uint64) error {
	copy(want, ud)
	slices.Sort(got)
	slices.Sort(want)
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("iouring: completions returned user_data %#x where %#x was submitted", got[i], want[i])
		}
	}
	return nil
}

// Run creates a ring with room for batch NOPs, runs total NOPs through it in
// batches of batch (the last batch may be smaller) and returns the wall time
// the NOPs took. Creating and closing the ring are excluded from the time:
// they happen once per ring, not once per operation.
func Run(batch, total int) (time.Duration, error) {
	if batch < 1 || batch > maxEntries {
		return 0, fmt.Errorf("iouring: batch of %d, want 1 to %d", batch, maxEntries)
	}
	if total < 0 {
		return 0, fmt.Errorf("iouring: negative total %d", total)
	}
	r, err := New(uint32(1) << bits.Len32(uint32(batch-1)))
	if err != nil {
		return 0, err
	}
	defer r.Close()
	start := time.Now()
	for done := 0; done < total; {
		k := min(batch, total-done)
		if err := r.NopBatch(k); err != nil {
			return 0, err
		}
		done += k
	}
	el := time.Since(start)
	return el, r.Close()
}
