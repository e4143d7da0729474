package unix

import (
	"errors"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations without FUTEX_PRIVATE_FLAG: the word lives in a shared mapping
// and the waker may be another process.
const (
	futexWait = 0
	futexWake = 1
)

// FutexWait sleeps while *addr == val, for at most timeout (forever if timeout < 0).
// It returns nil when woken, when *addr != val on entry, on a signal, or when the
// timeout expires: callers re-check their condition in every case.
func FutexWait(addr *uint32, val uint32, timeout time.Duration) error {
	var tsp unsafe.Pointer
	var ts unix.Timespec
	if timeout >= 0 {
		ts = unix.NsecToTimespec(int64(timeout))
		tsp = unsafe.Pointer(&ts)
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait,
		uintptr(val), uintptr(tsp), 0, 0)
	switch e {
	case 0, unix.EAGAIN, unix.EINTR, unix.ETIMEDOUT:
		return nil
	}
	return errors.Join(errors.New("futex wait"), e)
}

// FutexWake wakes up to n waiters sleeping on addr.
func FutexWake(addr *uint32, n int) error {
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake,
		uintptr(n), 0, 0, 0)
	if e != 0 {
		return errors.Join(errors.New("futex wake"), e)
	}
	return nil
}
