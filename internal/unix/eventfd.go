package unix

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// EventFD is a Linux eventfd used as a doorbell between processes. It is
// non-blocking; Wait parks the goroutine in the runtime's poller (see parker).
type EventFD struct {
	mu   sync.RWMutex // Signal against Close: a closed descriptor's number may be reused
	fd   int
	park *parker
}

// NewEventFD creates a non-blocking, close-on-exec eventfd.
func NewEventFD() (*EventFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &EventFD{fd: fd, park: newParker(fd)}, nil
}

// EventFDFrom wraps an eventfd received from another process. It takes ownership
// of fd and makes it non-blocking.
func EventFDFrom(fd int) (*EventFD, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("eventfd set non-blocking: %w", err)
	}
	return &EventFD{fd: fd, park: newParker(fd)}, nil
}

// FD returns the descriptor, for passing to another process.
func (e *EventFD) FD() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.fd
}

// Dup returns a second, close-on-exec descriptor for the same eventfd.
func (e *EventFD) Dup() (*EventFD, error) {
	e.mu.RLock()
	fd, err := unix.FcntlInt(uintptr(e.fd), unix.F_DUPFD_CLOEXEC, 0)
	e.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("eventfd dup: %w", err)
	}
	return &EventFD{fd: fd, park: newParker(fd)}, nil
}

// Signal adds one to the counter, waking a waiter. After Close it does
// nothing.
func (e *EventFD) Signal() error {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], 1)
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.fd < 0 {
		return nil
	}
	_, err := unix.Write(e.fd, b[:])
	if err != nil && err != unix.EAGAIN {
		return fmt.Errorf("eventfd write: %w", err)
	}
	return nil
}

// Wait sleeps until the counter is non-zero or timeout passes (forever if
// timeout < 0), then resets the counter. Spurious returns are allowed. The
// goroutine is parked in the runtime's poller and holds no P while it sleeps.
func (e *EventFD) Wait(timeout time.Duration) error {
	var rerr error
	err := e.park.wait(timeout, func(fd int) bool {
		var b [8]byte
		_, err := unix.Read(fd, b[:])
		if err == unix.EAGAIN {
			return false
		}
		rerr = err
		return true
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	return nil
}

// Close releases the descriptor, waking a goroutine in Wait; FD returns -1
// afterwards, and a second Close does nothing, so a stale descriptor number is
// never closed twice.
func (e *EventFD) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fd < 0 {
		return nil
	}
	e.park.close()
	err := unix.Close(e.fd)
	e.fd = -1
	return err
}

// Unwedge releases a writer blocked on the eventfd fd: if the counter is too
// full to take another write, it makes the file non-blocking again and reads
// the counter down to zero; otherwise it does nothing, and no wake-up is eaten.
// O_NONBLOCK belongs to the file description, which a process the eventfd was
// passed to can change.
func Unwedge(fd int) error {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	if n, err := unix.Poll(fds[:], 0); err != nil || n == 1 && fds[0].Revents&unix.POLLOUT != 0 {
		return err // room for a write: nothing is wedged
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return fmt.Errorf("eventfd set non-blocking: %w", err)
	}
	var b [8]byte
	if _, err := unix.Read(fd, b[:]); err != nil && err != unix.EAGAIN {
		return fmt.Errorf("eventfd read: %w", err)
	}
	return nil
}
