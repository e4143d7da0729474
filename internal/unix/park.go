package unix

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// parker sleeps a goroutine until a descriptor is readable, in the Go
// runtime's network poller rather than in a system call of its own.
//
// A goroutine blocked in a raw system call (poll, futex) keeps its P, the
// runtime's licence to run Go code, until sysmon notices and hands the P on,
// which takes from 20 us to 10 ms depending on how idle sysmon has become. On
// a two-core host two such sleepers hold every P, and the goroutine they are
// waiting for cannot run: a synchronous job then costs sysmon's delay, not a
// wake-up. A goroutine parked in the poller holds no P; the runtime finds it
// ready when it next polls, which an idle P's thread does at once (one
// wake-up) and a thread about to run out of work does for free.
//
// The poller watches a duplicate of the descriptor, so the owner keeps its
// own number (to pass to other processes, to close) while the runtime owns
// the duplicate.
type parker struct {
	mu sync.Mutex // guards the lazy set-up and close
	f  *os.File
	rc syscall.RawConn
	fd int // the descriptor parked on; -1 once closed
}

func newParker(fd int) *parker { return &parker{fd: fd} }

// conn returns the poller's handle on the descriptor, making it on first use.
func (p *parker) conn() (*os.File, syscall.RawConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fd < 0 {
		return nil, nil, os.ErrClosed
	}
	if p.f != nil {
		return p.f, p.rc, nil
	}
	dup, err := unix.FcntlInt(uintptr(p.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("dup: %w", err)
	}
	// The runtime registers only non-blocking descriptors with its poller.
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, nil, fmt.Errorf("set non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(dup), "accelq-wait")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	p.f, p.rc = f, rc
	return f, rc, nil
}

// wait calls try until it reports that it got what it waited for, parking
// between calls until the descriptor is readable, for at most timeout
// (forever if negative). try reads the descriptor it is given (the
// runtime's duplicate, valid for the call however the owner's is closed
// meanwhile) without blocking. A timeout returns nil, as a spurious wake-up would:
// callers re-check their condition.
func (p *parker) wait(timeout time.Duration, try func(fd int) bool) error {
	f, rc, err := p.conn()
	if err != nil {
		return err
	}
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	if err := f.SetReadDeadline(deadline); err != nil {
		return err
	}
	err = rc.Read(func(fd uintptr) bool { return try(int(fd)) })
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}

// close wakes any goroutine parked here (its wait returns an error) and
// releases the duplicate.
func (p *parker) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fd = -1
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f, p.rc = nil, nil
	return err
}
